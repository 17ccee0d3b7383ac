#!/usr/bin/env bash
# test_cli.sh — `secureai sched` end to end: simulate (JSON, CSV, same output
# for the same seed), compare (table, SVG, the unsafe baseline's violations),
# errors that name the line and field, the Vaucher scenario's qualitative
# findings on a small slice of the real Alibaba trace.
set -euo pipefail
: "${SAI_CLI:?}" "${SAI_SOURCE_DIR:?}"
ex="$SAI_SOURCE_DIR/examples/scheduling"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
py() { /usr/bin/python3 -c "$@"; }

"$SAI_CLI" sched --help | grep -q 'usage: secureai sched simulate' && ok || bad "sched --help"
"$SAI_CLI" sched simulate --help | grep -q -- '--confidential' && ok || bad "simulate --help"
"$SAI_CLI" deploy --help | grep -q 'deploy k8s' && ok || bad "deploy --help"
[ "$("$SAI_CLI" sched policies | wc -l)" -eq 11 ] && ok || bad "policies list"

# simulate: synthetic workload, JSON + CSV, deterministic per seed
sim() { "$SAI_CLI" sched simulate --cluster "$ex/mixed-cluster.yaml" --workload synthetic --jobs 2000 \
          --rate 0.2 --confidential 0.3 --seed "$1" --policy security-first "${@:2}"; }
sim 5 --json "$tmp/a.json" --csv "$tmp/a.csv" --sample 600
sim 5 --json "$tmp/b.json"
sim 6 --json "$tmp/c.json"
cmp -s "$tmp/a.json" "$tmp/b.json" && ok || bad "same seed, different metrics"
cmp -s "$tmp/a.json" "$tmp/c.json" && bad "different seeds, same metrics" || ok
py 'import json,sys; m=json.load(open(sys.argv[1])); assert m["violations"]==0 and m["invariant_failures"]==0 and m["completed"]+m["unschedulable"]==2000 and len(m["pools"])==4, m' "$tmp/a.json" && ok || bad "simulate JSON"
head -1 "$tmp/a.csv" | grep -q '^time_s,queued,running,cpu_util_standard,cpu_util_sgx,cpu_util_snp,cpu_util_tdx$' && ok || bad "CSV header"
[ "$(wc -l <"$tmp/a.csv")" -gt 10 ] && ok || bad "CSV rows"

# compare: all policies on a real-trace slice; table, JSON array, SVG
"$SAI_CLI" sched compare --cluster "$ex/alibaba-scenario.yaml" --jobs 400 --json "$tmp/cmp.json" \
  --svg "$tmp/cmp.svg" >"$tmp/table"
[ "$(wc -l <"$tmp/table")" -eq 9 ] && ok || bad "compare table rows"
py 'import json,sys
ms=json.load(open(sys.argv[1]))
by={m["policy"]:m for m in ms}
assert len(ms)==8
for n,m in by.items():
    assert m["invariant_failures"]==0, n
    if n!="unsafe": assert m["violations"]==0, n
assert by["unsafe"]["violations"]>0
' "$tmp/cmp.json" && ok || bad "compare JSON: violations / invariants"
py 'import sys,xml.etree.ElementTree as E; r=E.parse(sys.argv[1]).getroot(); assert r.tag.endswith("svg"); assert len([e for e in r.iter() if e.tag.endswith("rect")])>=16' "$tmp/cmp.svg" && ok || bad "SVG"

# errors name the line and the field; exit codes
printf 'pools:\n  - name: a\n    count: 2\n    cpu_mili: 1000\n    memory_mib: 1\n' >"$tmp/bad.yaml"
if "$SAI_CLI" sched simulate --cluster "$tmp/bad.yaml" 2>"$tmp/err"; then bad "bad YAML accepted"; else ok; fi
grep -q "^secureai: sched simulate: cluster: .*bad.yaml: line 4: pools\[0\].cpu_mili: unknown field" "$tmp/err" && ok || { bad "error text"; cat "$tmp/err"; }
set +e
"$SAI_CLI" sched simulate --cluster "$ex/mixed-cluster.yaml" --policy nope 2>/dev/null; rc=$?
set -e
[ "$rc" = 2 ] && ok || bad "unknown policy exit $rc"

# Vaucher scenario: waits stay near the all-standard case up to 50% SGX
# jobs and grow beyond; a smaller EPC lengthens the batch.
w() { "$SAI_CLI" sched simulate --cluster "$ex/vaucher-icdcs18.yaml" --policy vaucher-binpack "$@" |
      py 'import json,sys; m=json.load(sys.stdin); print(m["wait_mean_s"], m["makespan_s"])'; }
read -r w0 m0 < <(w --confidential 0:sgx)
read -r w50 m50 < <(w --confidential 0.5:sgx)
read -r w100 m100 < <(w --confidential 1:sgx)
read -r _ e32 < <(w --confidential 1:sgx --epc 32)
read -r _ e256 < <(w --confidential 1:sgx --epc 256)
py "import sys; w0,w50,w100,e32,e256=map(float,sys.argv[1:]); assert w50 < 300 and w100 > 5*max(w50,1) and e32 > 2*e256, sys.argv" \
  "$w0" "$w50" "$w100" "$e32" "$e256" && ok || bad "Vaucher findings: w0=$w0 w50=$w50 w100=$w100 epc32=$e32 epc256=$e256"
echo "sched cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
