#!/usr/bin/env bash
# test_k8s_apply.sh — `kubectl apply --dry-run=client -f DIR/` of the whole
# `secureai deploy k8s` directory, with Debian's kubectl (k8s-apply/
# setup.sh), against an API discovery stub (k8s-apply/discovery_stub.py) on
# loopback: every object must map to a served resource and be "created
# (dry run)", exit 0. The kubeconfig points only at the stub. Then the check
# bites: a bare KubeSchedulerConfiguration document (what deploy k8s used to
# write) fails, because no API server serves that kind.
set -euo pipefail
: "${SAI_CLI:?}" "${SAI_SOURCE_DIR:?}"
here="$SAI_SOURCE_DIR/tests/sched/k8s-apply"
kubectl=$(bash "$here/setup.sh")
"$kubectl" version --client 2>/dev/null | grep -q 'Minor:"20"' || { echo "FAIL: not Debian's kubectl 1.20: $kubectl"; exit 1; }
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
/usr/bin/python3 "$here/discovery_stub.py" "$tmp/requests.log" >"$tmp/port" &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(head -1 "$tmp/port"); [ -n "$port" ] || { echo "FAIL: stub did not start"; exit 1; }
cat >"$tmp/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: stub, cluster: {server: "http://127.0.0.1:$port"}}]
users: [{name: u, user: {}}]
contexts: [{name: c, context: {cluster: stub, user: u}}]
current-context: c
KC
export KUBECONFIG="$tmp/kubeconfig" HOME="$tmp"
"$SAI_CLI" deploy k8s --out "$tmp/m" >/dev/null
want=$(/usr/bin/python3 -c 'import glob,sys,yaml; print(sum(1 for f in glob.glob(sys.argv[1]+"/*.yaml") for d in yaml.safe_load_all(open(f)) if d))' "$tmp/m")
fail=0
# --validate=false: the stub serves no OpenAPI document (the schema check is
# test_k8s_schema.sh's job)
if "$kubectl" apply --dry-run=client --validate=false -f "$tmp/m/" >"$tmp/out" 2>&1; then
  got=$(grep -c 'created (dry run)$' "$tmp/out" || true)
  if [ "$got" = "$want" ]; then echo "ok: $got of $want objects created (dry run), exit 0"
  else echo "FAIL: $got of $want objects mapped"; cat "$tmp/out"; fail=1; fi
else
  echo "FAIL: kubectl apply exited non-zero"; cat "$tmp/out"; fail=1
fi
grep -q '^GET /apis/admissionregistration.k8s.io/v1' "$tmp/requests.log" || { echo "FAIL: kubectl never asked the stub"; fail=1; }
grep -q '^clusterrole.rbac.authorization.k8s.io/secureai-extender-nodes created (dry run)$' "$tmp/out" \
  || { echo "FAIL: the extender's ClusterRole was not mapped"; fail=1; }
mkdir "$tmp/old"
cat >"$tmp/old/40-scheduler-config.yaml" <<'Y'
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
  - schedulerName: secureai-scheduler
Y
if "$kubectl" apply --dry-run=client --validate=false -f "$tmp/old/" >"$tmp/out2" 2>&1; then
  echo "FAIL: a bare KubeSchedulerConfiguration applied"; fail=1
else
  echo "ok: a bare KubeSchedulerConfiguration is refused: $(head -1 "$tmp/out2" | cut -c1-120)"
fi
echo "kubectl apply checks: $([ $fail = 0 ] && echo 2 || echo 0) passed, $fail failed"
exit $fail
