#!/usr/bin/env python3
"""big_request.py KIND MIB OUT — an ExtenderArgs body of about MIB MiB.

KIND realistic: Node objects shaped like a kubelet's (about 10.5 KB each:
~40 labels, annotations, conditions, addresses, ~30 images, nodeInfo),
the size that made the extender exceed its limit in issue 14.
KIND dense: one node whose labels hold a huge array of tiny numbers, the
shape that costs a JSON parser the most memory per byte of input."""
import json, sys

kind, mib, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pod = {"metadata": {"name": "p", "labels": {"secureai.io/confidentiality": "preferred"}},
       "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}

def node(i):
    labels = {f"feature.node.kubernetes.io/cpu-cpuid.FEATURE{k}": "true" for k in range(34)}
    labels.update({"kubernetes.io/hostname": f"node-{i}", "kubernetes.io/os": "linux",
                   "kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": f"zone-{i % 3}",
                   "node.kubernetes.io/instance-type": "n2d-standard-32",
                   "feature.node.kubernetes.io/cpu-security.sgx.enabled": "true" if i % 4 == 0 else "false"})
    ann = {f"example.com/annotation-{k}": "x" * 120 for k in range(8)}
    images = [{"names": [f"registry.example.com/team/image-{k}@sha256:{'%064x' % (i * 100 + k)}",
                         f"registry.example.com/team/image-{k}:v1.{k}"], "sizeBytes": 123456789 + k}
              for k in range(24)]
    alloc = {"cpu": "31850m", "memory": "127Gi", "pods": "110", "ephemeral-storage": "95Gi"}
    if i % 4 == 0:
        alloc["sgx.intel.com/epc"] = "256Mi"
    return {"metadata": {"name": f"node-{i}", "uid": "%032x" % i, "resourceVersion": str(1000 + i),
                         "labels": labels, "annotations": ann},
            "spec": {"podCIDR": "10.0.0.0/24", "providerID": f"gce://project/zone/node-{i}"},
            "status": {"capacity": alloc, "allocatable": alloc,
                       "conditions": [{"type": t, "status": "False", "reason": "KubeletHasSufficient" + t,
                                       "message": "kubelet has sufficient resources",
                                       "lastHeartbeatTime": "2026-12-07T00:00:00Z",
                                       "lastTransitionTime": "2026-12-01T00:00:00Z"}
                                      for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")],
                       "addresses": [{"type": "InternalIP", "address": f"10.0.{i // 250}.{i % 250}"},
                                     {"type": "Hostname", "address": f"node-{i}"}],
                       "images": images,
                       "nodeInfo": {"machineID": "%032x" % i, "systemUUID": "%032x" % i,
                                    "bootID": "%032x" % i, "kernelVersion": "6.1.0-28-cloud-amd64",
                                    "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "containerRuntimeVersion": "containerd://1.7.24",
                                    "kubeletVersion": "v1.31.4", "kubeProxyVersion": "v1.31.4",
                                    "operatingSystem": "linux", "architecture": "amd64"}}}

target = mib << 20
with open(out, "w") as f:
    if kind == "realistic":
        f.write('{"Pod":' + json.dumps(pod) + ',"Nodes":{"items":[')
        size, i = 0, 0
        while True:
            s = json.dumps(node(i), separators=(",", ":"))
            if size + len(s) + 64 > target:
                break
            f.write(("," if i else "") + s)
            size += len(s) + 1
            i += 1
        f.write("]}}")
        print(i, file=sys.stderr)
    else:
        head = '{"Pod":' + json.dumps(pod) + ',"Nodes":{"items":[{"metadata":{"name":"n","labels":{"x":['
        f.write(head)
        n = (target - len(head) - 16) // 2
        f.write(",".join(["0"] * n))
        f.write("]}}}]}}")
