#!/usr/bin/env bash
# test_k8s_schema.sh — `secureai deploy k8s` output checked against the
# Kubernetes API types and, for Kubeflow's MPIJob, the openAPIV3Schema of the
# MPI Operator's published CRD (k8s-schema/mpijob-v2beta1.schema.json) (tests/sched/k8s-schema/validate.mjs: kubernetes-types
# 1.30, generated from the Kubernetes OpenAPI document, type-checked by the
# TypeScript compiler in strict mode; the KubeSchedulerConfiguration type is
# transcribed from k8s.io/kube-scheduler/config/v1). Negative cases prove
# that a mistyped field, a wrong type and a missing required field fail.
set -euo pipefail
: "${SAI_CLI:?}" "${SAI_SOURCE_DIR:?}"
schema="$SAI_SOURCE_DIR/tests/sched/k8s-schema"
bash "$schema/setup.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
ok()  { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

"$SAI_CLI" deploy k8s --out "$tmp/good" >/dev/null
"$SAI_CLI" deploy k8s --out "$tmp/good2" --namespace ml --workers 8 --epc 128 \
  --image registry.local/secureai@sha256:0123 --policy epc-aware >/dev/null

# what the manifests must say, not just that they parse
grep -q 'sgx.intel.com/epc: 128Mi' "$tmp/good2/50-train-sgx.yaml" && ok || bad "SGX job lacks its EPC limit"
grep -q 'sgx.intel.com/enclave: "1"' "$tmp/good2/50-train-sgx.yaml" && ok || bad "SGX job lacks the enclave device"
grep -q 'sgx.intel.com/quote-provider: aesmd' "$tmp/good2/50-train-sgx.yaml" && ok || bad "SGX job lacks the quote-provider annotation"
grep -q 'name: secureai-pipeline-sgx' "$tmp/good/45-pipeline-sgx.yaml" && ok || bad "no pipeline ConfigMap for the SGX Job"
grep -q 'tee: sev-snp' "$tmp/good/45-pipeline-sev-snp.yaml" && ok || bad "the SNP pipeline spec is not for sev-snp"
if ls "$tmp/good" | grep -q runtimeclass; then bad "writes RuntimeClasses that collide with CoCo's"; else ok; fi
grep -q 'runtimeClassName: kata-qemu-snp' "$tmp/good/51-train-sev-snp.yaml" && ok || bad "SNP job lacks kata-qemu-snp"
grep -q 'runtimeClassName: kata-qemu-tdx' "$tmp/good/52-train-tdx.yaml" && ok || bad "TDX job lacks kata-qemu-tdx"
grep -q 'cpu-security.tdx.enabled: "true"' "$tmp/good/52-train-tdx.yaml" && ok || bad "TDX job lacks its NFD node selector"
grep -q 'urlPrefix: "http://secureai-extender.ml.svc:8888"' "$tmp/good2/40-scheduler.yaml" && ok || bad "extender URL"
grep -q 'schedulerName: secureai-scheduler' "$tmp/good/50-train-sgx.yaml" && ok || bad "jobs do not use the extender profile"
grep -q 'nodeCacheCapable: true' "$tmp/good/40-scheduler.yaml" && ok || bad "the scheduler sends Node objects (nodeCacheCapable is not true)"
grep -q '"--kube-api", "in-cluster"' "$tmp/good/30-extender.yaml" && ok || bad "the extender does not list nodes from the API server"
grep -q 'kind: ClusterRole$' "$tmp/good/30-extender.yaml" && ok || bad "no ClusterRole for the extender's node list"
grep -q 'secretName: secureai-kbs-tls' "$tmp/good/10-kbs.yaml" && ok || bad "KBS does not reference its TLS Secret"
if grep -rqi -- '-----BEGIN' "$tmp/good"; then bad "a manifest embeds key material"; else ok; fi
"$SAI_CLI" deploy k8s --out "$tmp/x" --policy unsafe 2>/dev/null && bad "deployed the unsafe policy" || ok
# distributed training: the TCP variant (indexed Job + headless Service) and
# the MPI variant (Kubeflow MPIJob), each with its own measured spec
grep -q 'clusterIP: None' "$tmp/good2/50-train-sgx.yaml" && ok || bad "no headless Service for the TCP ring"
grep -q 'subdomain: secureai-train-sgx$' "$tmp/good2/50-train-sgx.yaml" && ok || bad "Job pods have no DNS names under the Service"
grep -q '"--peers", "secureai-train-sgx-{rank}.secureai-train-sgx.ml.svc:7070"' "$tmp/good2/50-train-sgx.yaml" \
  && ok || bad "the TCP Job does not name its ring peers"
grep -q 'kind: MPIJob' "$tmp/good2/55-train-mpi-sgx.yaml" && ok || bad "no MPIJob"
grep -q 'args: \["-np", "8",' "$tmp/good2/56-train-mpi-sev-snp.yaml" && ok || bad "mpirun -np is not the worker count"
/usr/bin/python3 - "$tmp/good2" <<'PY' && ok || bad "MPIJob replicas, slots, runPolicy or specs are wrong"
import sys, yaml
d = sys.argv[1]
for i, tee in enumerate(["sgx", "sev-snp", "tdx"]):
    j = yaml.safe_load(open("%s/5%d-train-mpi-%s.yaml" % (d, i + 5, tee)))
    w = j["spec"]["mpiReplicaSpecs"]["Worker"]; l = j["spec"]["mpiReplicaSpecs"]["Launcher"]
    assert w["replicas"] == 8 and l["replicas"] == 1 and j["spec"]["slotsPerWorker"] == 1, tee
    assert j["spec"]["runPolicy"]["backoffLimit"] == 0, tee
    assert w["template"]["metadata"]["labels"]["secureai.io/confidentiality"] == "required", tee
    assert "secureai.io/confidentiality" not in l["template"]["metadata"]["labels"], tee
    cm = yaml.safe_load(open("%s/45-pipeline-%s.yaml" % (d, tee)))["data"]
    for key, tr in (("pipeline.yaml", "tcp"), ("pipeline-mpi.yaml", "mpi")):
        spec = yaml.safe_load(cm[key])
        assert spec["dist"] == {"workers": 8, "transport": tr}, (tee, key)
PY
"$SAI_CLI" deploy k8s --out "$tmp/one" --workers 1 >/dev/null
if ls "$tmp/one" | grep -q mpi || grep -q -- '--peers' "$tmp/one/50-train-sgx.yaml" || grep -q 'dist:' "$tmp/one/45-pipeline-sgx.yaml"
then bad "one worker still gets a ring, a dist section or an MPIJob"; else ok; fi

# negative cases: each edit must make its copy fail; all copies are checked
# in one compiler run together with the two good directories
negs=()
neg() {
  local name=$1 file=$2 expr=$3
  rm -rf "$tmp/neg-$name"; cp -r "$tmp/good" "$tmp/neg-$name"
  sed -i "$expr" "$tmp/neg-$name/$file"
  if cmp -s "$tmp/good/$file" "$tmp/neg-$name/$file"; then bad "negative case $name did not change $file"; fi
  negs+=("$tmp/neg-$name")
}
neg typo-nodeSelector   50-train-sgx.yaml          's/nodeSelector:/nodeSelecter:/'
neg typo-containerPort  10-kbs.yaml                's/containerPort: 8443/containerPrt: 8443/'
neg typo-filterVerb     40-scheduler.yaml   's/filterVerb:/filterVerbs:/'
neg typo-runtimeClass   51-train-sev-snp.yaml      's/runtimeClassName:/runtimeClass:/'
neg typo-secretName     10-kbs.yaml                's/secretName: secureai-kbs-admin/secretNme: secureai-kbs-admin/'
neg wrong-type          52-train-tdx.yaml          's/completions: 2/completions: "two"/'
neg missing-required    10-kbs.yaml                '/key: token/d'
neg typo-matchCond      20-admission-policy.yaml   's/matchConditions:/matchCondition:/'
neg typo-leaderElect    40-scheduler.yaml          's/leaderElect: true/leaderElekt: true/'
neg typo-scoring        40-scheduler.yaml          's/scoringStrategy:/scoringStrategie:/'
neg typo-roleRef        40-scheduler.yaml          '0,/roleRef:/s//roleref:/'
neg typo-vap-resources  20-admission-policy.yaml   's/resources: \["pods"\]/resource: ["pods"]/'
neg typo-rule-verbs     30-extender.yaml           's/verbs: \["get"/verb: ["get"/'
neg mpi-typo-slots      55-train-mpi-sgx.yaml      's/slotsPerWorker:/slotPerWorker:/'
neg mpi-wrong-type      56-train-mpi-sev-snp.yaml  's/replicas: 2/replicas: "two"/'
neg mpi-bad-enum        57-train-mpi-tdx.yaml      's/mpiImplementation: OpenMPI/mpiImplementation: MVAPICH/'
neg mpi-typo-runPolicy  55-train-mpi-sgx.yaml      's/cleanPodPolicy:/cleanupPodPolicy:/'
neg mpi-typo-podfield   56-train-mpi-sev-snp.yaml  's/runtimeClassName:/runtimeClass:/'
neg mpi-typo-container  57-train-mpi-tdx.yaml      's/volumeMounts:/volumeMount:/'
neg svc-typo-clusterIP  50-train-sgx.yaml          's/clusterIP: None/clusterIp: None/'
node "$SAI_SOURCE_DIR/tests/sched/k8s-schema/validate.mjs" "$tmp/good" "$tmp/good2" "${negs[@]}" \
  >"$tmp/results" 2>"$tmp/diag" || true
cat "$tmp/results"
for d in "$tmp/good" "$tmp/good2"; do
  grep -q "^RESULT $d valid" "$tmp/results" && ok || { bad "$d does not validate"; grep "^$d/" "$tmp/diag" || true; }
done
for d in "${negs[@]}"; do
  if grep -q "^RESULT $d invalid" "$tmp/results"; then
    ok; grep -m1 "^$d/" "$tmp/diag" | sed "s|^$tmp/||" || true
  else
    bad "negative case $(basename "$d") validated"
  fi
done
echo "k8s schema checks: $pass passed, $fail failed"
[ "$fail" = 0 ]
