#!/usr/bin/env bash
# test_k8s_admission.sh — the admission policy `secureai deploy k8s` writes
# (20-admission-policy.yaml), its CEL evaluated by a CEL implementation
# (@bufbuild/cel from npm, pinned in k8s-schema/package-lock.json) on
# allowed and refused pods (k8s-schema/admission.mjs). Then the check is
# shown to bite: a policy whose validation is weakened to `true` must fail
# the same cases.
set -euo pipefail
: "${SAI_CLI:?}" "${SAI_SOURCE_DIR:?}"
schema="$SAI_SOURCE_DIR/tests/sched/k8s-schema"
bash "$schema/setup.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$SAI_CLI" deploy k8s --out "$tmp/m" >/dev/null
node "$schema/admission.mjs" "$tmp/m/20-admission-policy.yaml"
sed 's/^    - expression: variables.confidentialRuntimeClass || variables.sgxEnclave$/    - expression: "true"/' \
  "$tmp/m/20-admission-policy.yaml" >"$tmp/weak.yaml"
cmp -s "$tmp/weak.yaml" "$tmp/m/20-admission-policy.yaml" && { echo "FAIL: could not weaken the policy"; exit 1; }
if node "$schema/admission.mjs" "$tmp/weak.yaml" >"$tmp/weak.out"; then
  echo "FAIL: a policy that allows everything passed the cases"; exit 1
fi
echo "ok: the weakened policy fails $(grep -c '^FAIL' "$tmp/weak.out") cases"
