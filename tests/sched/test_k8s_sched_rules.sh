#!/usr/bin/env bash
# test_k8s_sched_rules.sh — the generated scheduler configuration read with
# kube-scheduler's own rules (k8s.io/kubernetes pkg/scheduler, as
# documented and as the code reads):
#   * a pod is scheduled by the profile whose schedulerName equals
#     pod.spec.schedulerName ("default-scheduler" when empty); a scheduler
#     ignores pods of names it has no profile for;
#   * extenders are global to a scheduler; for each pod it calls only the
#     extenders that are IsInterested: no managedResources => every pod,
#     else only pods whose containers or init containers request or limit a
#     managed resource (extender.go);
#   * filterVerb set => it filters; ignorable false => an error fails the
#     attempt; v1 defaults: leaderElect true, NodeResourcesFit
#     LeastAllocated when no scoringStrategy is given.
# Every pod of the profile (the generated Jobs, and SNP, TDX, label-only,
# preferred and ordinary pods) must reach the extender; the default
# profile must not be taken over; the config must be the one the
# Deployment mounts. nodeCacheCapable is true and the extender can list
# nodes itself (in-cluster, a ServiceAccount bound to get/list/watch on
# nodes and nothing more). The old config (managedResources:
# sgx.intel.com/epc), nodeCacheCapable false, a role without list and a pod
# without its token are shown to fail the same check.
set -euo pipefail
: "${SAI_CLI:?}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$SAI_CLI" deploy k8s --out "$tmp/m" --policy binpack >/dev/null
"$SAI_CLI" deploy k8s --out "$tmp/s" --policy spread >/dev/null
check() {
/usr/bin/python3 - "$@" <<'PY'
import glob, sys, yaml
d = sys.argv[1]
want_strategy = sys.argv[2]
mutate = sys.argv[3] if len(sys.argv) > 3 else ""
docs = [x for f in sorted(glob.glob(d + "/*.yaml")) for x in yaml.safe_load_all(open(f)) if x]
fails = []
def bad(m): fails.append(m)
cm = [x for x in docs if x["kind"] == "ConfigMap" and x["metadata"]["name"] == "secureai-scheduler-config"]
if len(cm) != 1: print("FAIL: no scheduler ConfigMap"); sys.exit(1)
cfg = yaml.safe_load(cm[0]["data"]["config.yaml"])
if mutate == "old-managed":
    cfg["extenders"][0]["managedResources"] = [{"name": "sgx.intel.com/epc", "ignoredByScheduler": False}]
if mutate == "default-profile":
    cfg["profiles"].append({"schedulerName": "default-scheduler"})
if mutate == "no-node-cache":
    cfg["extenders"][0]["nodeCacheCapable"] = False
if mutate == "no-list":
    for x in docs:
        if x["kind"] == "ClusterRole":
            for r in x["rules"]: r["verbs"] = [v for v in r["verbs"] if v != "list"]
if mutate == "no-token":
    for x in docs:
        if x["kind"] == "Deployment" and x["metadata"]["name"] == "secureai-extender":
            x["spec"]["template"]["spec"]["automountServiceAccountToken"] = False
# the Deployment runs kube-scheduler with this file
dep = [x for x in docs if x["kind"] == "Deployment" and x["metadata"]["name"] == "secureai-scheduler"][0]
ps = dep["spec"]["template"]["spec"]
cont = ps["containers"][0]
mount = [m for m in cont["volumeMounts"] if m["name"] == "config"][0]["mountPath"]
vol = [v for v in ps["volumes"] if v["name"] == "config"][0]
if vol["configMap"]["name"] != cm[0]["metadata"]["name"]: bad("the Deployment mounts another ConfigMap")
if "--config=%s/config.yaml" % mount not in cont.get("command", []) + cont.get("args", []): bad("kube-scheduler is not started with the mounted config")
if ps.get("serviceAccountName") != "secureai-scheduler": bad("the scheduler does not run as its ServiceAccount")
roles = {x["roleRef"]["name"] for x in docs if x["kind"] in ("ClusterRoleBinding", "RoleBinding")
         and any(s["name"] == "secureai-scheduler" for s in x["subjects"])}
for r in ("system:kube-scheduler", "system:volume-scheduler", "extension-apiserver-authentication-reader"):
    if r not in roles: bad("ServiceAccount not bound to " + r)
le = cfg.get("leaderElection", {})
if le.get("leaderElect", True) is not True: bad("leader election off")
if le.get("resourceName", "kube-scheduler") == "kube-scheduler": bad("leader election would contend for the default scheduler's lease")
if dep["spec"].get("replicas", 1) < 2: bad("one replica: leader election has nothing to elect")
profiles = {p.get("schedulerName", "default-scheduler"): p for p in cfg.get("profiles", [{}])}
if "default-scheduler" in profiles: bad("takes over the default-scheduler profile (the cluster's own scheduler serves it)")
prof = profiles.get("secureai-scheduler")
if prof is None: bad("no secureai-scheduler profile"); prof = {}
# NodeResourcesFit scoring strategy (v1 default LeastAllocated)
st = "LeastAllocated"
for pc in prof.get("pluginConfig", []):
    if pc["name"] == "NodeResourcesFit":
        st = pc.get("args", {}).get("scoringStrategy", {}).get("type", "LeastAllocated")
if st != want_strategy: bad("NodeResourcesFit scoring %s, want %s" % (st, want_strategy))
exts = cfg.get("extenders", [])
if len(exts) != 1: bad("want one extender")
ext = exts[0] if exts else {}
if not ext.get("filterVerb"): bad("the extender does not filter")
if ext.get("ignorable", False): bad("the extender is ignorable: a failure would let pods through")
# nodeCacheCapable: kube-scheduler then sends NodeNames only (extender.go
# convertToVictims / Filter: "if h.nodeCacheCapable { args.NodeNames = ...}"),
# so the extender must know every node itself: it lists them from the API
# server in-cluster, as a ServiceAccount bound to a role that may list nodes.
if ext.get("nodeCacheCapable", False) is not True: bad("nodeCacheCapable is not true: every request carries full Node objects")
xd = [x for x in docs if x["kind"] == "Deployment" and x["metadata"]["name"] == "secureai-extender"][0]
xs = xd["spec"]["template"]["spec"]
xargs = xs["containers"][0].get("args", [])
if "--kube-api" not in xargs or xargs[xargs.index("--kube-api") + 1] != "in-cluster": bad("the extender does not list nodes in-cluster")
xsa = xs.get("serviceAccountName", "default")
if xs.get("automountServiceAccountToken", True) is False: bad("the extender's pod has no ServiceAccount token to list nodes with")
def grants(rule, verb):
    return ("" in rule.get("apiGroups", []) and ("nodes" in rule.get("resources", []) or "*" in rule.get("resources", []))
            and (verb in rule.get("verbs", []) or "*" in rule.get("verbs", [])))
croles = {x["metadata"]["name"]: x for x in docs if x["kind"] == "ClusterRole"}
bound = [croles[b["roleRef"]["name"]] for b in docs if b["kind"] == "ClusterRoleBinding"
         and b["roleRef"]["kind"] == "ClusterRole" and b["roleRef"]["name"] in croles
         and any(sj["kind"] == "ServiceAccount" and sj["name"] == xsa
                 and sj.get("namespace") == xd["metadata"]["namespace"] for sj in b["subjects"])]
for verb in ("get", "list", "watch"):
    if not any(grants(r, verb) for cr in bound for r in cr.get("rules", [])): bad("the extender's ServiceAccount may not %s nodes" % verb)
for cr in bound:
    for r in cr.get("rules", []):
        if set(r.get("verbs", [])) - {"get", "list", "watch"} or set(r.get("resources", [])) != {"nodes"}:
            bad("the extender's role grants more than reading nodes: %s" % r)
managed = {m["name"] for m in ext.get("managedResources", []) or []}
def interested(pod):
    if not managed: return True
    for c in pod["spec"].get("containers", []) + pod["spec"].get("initContainers", []):
        r = c.get("resources", {})
        if managed & (set(r.get("requests", {})) | set(r.get("limits", {}))): return True
    return False
def profile_of(pod):
    return pod["spec"].get("schedulerName") or "default-scheduler"
pods = [("Job " + x["metadata"]["name"], x["spec"]["template"]) for x in docs if x["kind"] == "Job"]
pods += [("MPIJob worker " + x["metadata"]["name"], x["spec"]["mpiReplicaSpecs"]["Worker"]["template"])
         for x in docs if x["kind"] == "MPIJob"]
if not any(x["kind"] == "MPIJob" for x in docs): bad("no MPIJob in the manifests")
def mk(labels, spec):
    spec = dict(spec, schedulerName="secureai-scheduler")
    return {"metadata": {"labels": labels}, "spec": spec}
c = lambda res=None: {"name": "m", "image": "x", "resources": res or {}}
pods += [
    ("SNP pod", mk({}, {"runtimeClassName": "kata-qemu-snp", "containers": [c()]})),
    ("TDX pod", mk({}, {"runtimeClassName": "kata-qemu-tdx", "containers": [c()]})),
    ("label-only required pod", mk({"secureai.io/confidentiality": "required"}, {"containers": [c({"requests": {"cpu": "1"}})]})),
    ("preferred pod", mk({"secureai.io/confidentiality": "preferred"}, {"containers": [c()]})),
    ("ordinary pod", mk({}, {"containers": [c({"requests": {"cpu": "1", "memory": "1Gi"}})]})),
    ("SGX pod", mk({}, {"containers": [c({"limits": {"sgx.intel.com/epc": "8Mi"}})]})),
]
n = 0
for name, p in pods:
    if profile_of(p) not in profiles: bad("%s: no profile schedules it (would stay Pending)" % name); continue
    if not interested(p): bad("%s never reaches the extender" % name); continue
    n += 1
print("%d of %d pods of the profile reach the extender" % (n, len(pods)))
for f in fails: print("FAIL:", f)
sys.exit(1 if fails else 0)
PY
}
fail=0
check "$tmp/m" MostAllocated && echo "ok: binpack config" || fail=1
check "$tmp/s" LeastAllocated && echo "ok: spread config" || fail=1
# the check bites: the old extender stanza and a takeover of the default profile fail
if check "$tmp/m" MostAllocated old-managed >"$tmp/o1"; then echo "FAIL: managedResources config passed"; fail=1
else echo "ok: the old managedResources config fails: $(grep -c 'never reaches' "$tmp/o1") pods skip the extender"; fi
if check "$tmp/m" MostAllocated default-profile >/dev/null; then echo "FAIL: default-profile takeover passed"; fail=1
else echo "ok: a config taking over default-scheduler fails"; fi
# ... and so do a scheduler sending full Nodes, and an extender that cannot list them
for m in no-node-cache no-list no-token; do
  if check "$tmp/m" MostAllocated $m >"$tmp/o-$m"; then echo "FAIL: $m passed"; fail=1
  else echo "ok: $m fails: $(grep -m1 FAIL "$tmp/o-$m" | cut -c7-)"; fi
done
echo "scheduler rules: $([ $fail = 0 ] && echo '7 passed, 0 failed' || echo 'failed')"
exit $fail
