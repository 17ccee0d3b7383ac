# discovery_stub.py LOG — an API server that only does discovery: /api, /apis
# and the APIResourceList of each group/version the manifests use (legacy
# discovery, as kubectl 1.20 reads it); every object GET is 404, so
# `kubectl apply --dry-run=client` maps each object to its resource and
# reports it "created (dry run)". Listens on 127.0.0.1, a port the kernel
# picks (printed on the first line); logs each request path to LOG.
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
R = {  # group/version -> [(resource, kind, namespaced)]
 "v1": [("namespaces","Namespace",False),("configmaps","ConfigMap",True),("services","Service",True),
        ("persistentvolumeclaims","PersistentVolumeClaim",True),("serviceaccounts","ServiceAccount",True),("pods","Pod",True)],
 "apps/v1": [("deployments","Deployment",True)],
 "batch/v1": [("jobs","Job",True)],
 "rbac.authorization.k8s.io/v1": [("roles","Role",True),("rolebindings","RoleBinding",True),("clusterroles","ClusterRole",False),("clusterrolebindings","ClusterRoleBinding",False)],
 "admissionregistration.k8s.io/v1": [("validatingadmissionpolicies","ValidatingAdmissionPolicy",False),("validatingadmissionpolicybindings","ValidatingAdmissionPolicyBinding",False)],
 "node.k8s.io/v1": [("runtimeclasses","RuntimeClass",False)],
 "kubeflow.org/v2beta1": [("mpijobs","MPIJob",True)],   # the MPI Operator's CRD
}
log = open(sys.argv[1], "a")
class H(BaseHTTPRequestHandler):
    def send(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code); self.send_header("Content-Type","application/json"); self.send_header("Content-Length",str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        p = self.path.split("?")[0]
        log.write("GET %s\n" % self.path); log.flush()
        if p == "/api": return self.send(200, {"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]})
        if p == "/apis":
            gs = [{"name":gv.split("/")[0],"versions":[{"groupVersion":gv,"version":gv.split("/")[1]}],"preferredVersion":{"groupVersion":gv,"version":gv.split("/")[1]}} for gv in R if "/" in gv]
            return self.send(200, {"kind":"APIGroupList","apiVersion":"v1","groups":gs})
        for gv, rs in R.items():
            base = "/api/v1" if gv == "v1" else "/apis/" + gv
            if p == base:
                return self.send(200, {"kind":"APIResourceList","apiVersion":"v1","groupVersion":gv,"resources":[{"name":n,"singularName":"","namespaced":ns,"kind":k,"verbs":["create","delete","get","list","patch","update","watch"]} for n,k,ns in rs]})
        return self.send(404, {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"not found"})
    def log_message(self, *a): pass
srv = HTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
