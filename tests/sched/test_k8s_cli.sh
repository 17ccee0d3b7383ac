#!/usr/bin/env bash
# test_k8s_cli.sh — every command line in the `secureai deploy k8s`
# manifests is accepted by the real binary's option parser, so the
# manifests cannot drift from the CLI again: each container's args are run
# with --dry-run (parse and check the options, start nothing). The KBS's
# kbs.yaml is taken from the generated ConfigMap and loaded by the real
# config parser (`kbs serve --config ... --dry-run`).
set -euo pipefail
: "${SAI_CLI:?}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0; n=0
"$SAI_CLI" deploy k8s --out "$tmp/m" --namespace ml --policy epc-aware >/dev/null
# one line per container: the args as a NUL-free, tab-separated list
/usr/bin/python3 - "$tmp/m" "$tmp" >"$tmp/cmds" <<'PY'
import glob, sys, yaml
d, tmp = sys.argv[1], sys.argv[2]
seen = 0
for f in sorted(glob.glob(d + "/*.yaml")):
    for doc in yaml.safe_load_all(open(f)):
        if not doc:
            continue
        if doc.get("kind") == "ConfigMap" and "kbs.yaml" in doc.get("data", {}):
            open(tmp + "/kbs.yaml", "w").write(doc["data"]["kbs.yaml"])
        if doc.get("kind") == "ConfigMap":
            for key in ("pipeline.yaml", "pipeline-mpi.yaml"):
                if key in doc.get("data", {}):
                    name = doc["metadata"]["name"] + ("-mpi" if "mpi" in key else "")
                    open(tmp + "/" + name + ".yaml", "w").write(doc["data"][key])
        templates = [doc.get("spec", {}).get("template", {})]
        if doc.get("kind") == "MPIJob":
            templates = [r["template"] for r in doc["spec"]["mpiReplicaSpecs"].values()]
        for t in templates:
            for c in t.get("spec", {}).get("containers", []):
                if c.get("name") == "kube-scheduler":   # not our binary: its config is checked
                    continue                            # by test_k8s_sched_rules.sh
                args = c.get("args", [])
                if doc.get("kind") == "MPIJob" and c.get("command") == ["/usr/sbin/sshd"]:
                    continue                            # an MPI worker: mpirun starts secureai in it
                if doc.get("kind") == "MPIJob" and c.get("command") == ["mpirun"]:
                    # the launcher: mpirun's options, then our command line on every rank
                    if "secureai" not in args or "-np" not in args:
                        print("%s\tcommand\tmpirun without secureai or -np" % f)
                    args = args[args.index("secureai") + 1:] if "secureai" in args else args
                elif "command" in c:
                    print("%s\tcommand\t%s" % (f, c["command"]))
                print(f.split("/")[-1] + "\t" + "\t".join(args))
                seen += 1
sys.stderr.write("%d containers\n" % seen)
PY
[ -s "$tmp/kbs.yaml" ] || { echo "FAIL: no kbs.yaml ConfigMap"; fail=1; }
while IFS=$'\t' read -r -a line; do
    file=${line[0]}; args=("${line[@]:1}")
    if [ "${args[0]:-}" = command ]; then echo "FAIL: $file overrides the image command"; fail=1; continue; fi
    for i in "${!args[@]}"; do   # the ConfigMap's file, as mounted in the pod
        [ "${args[$i]}" = /etc/secureai/kbs/kbs.yaml ] && args[$i]=$tmp/kbs.yaml
        # the kubelet expands $(VAR) from the container's env: a Job index
        [ "${args[$i]}" = '$(SAI_WORKER_INDEX)' ] && args[$i]=1
    done
    n=$((n + 1))
    if out=$("$SAI_CLI" "${args[@]}" --dry-run 2>&1) && grep -q 'options ok' <<<"$out"; then
        echo "ok   - $file: secureai ${args[*]}"
    else
        echo "FAIL - $file: secureai ${args[*]}: $out"; fail=1
    fi
done <"$tmp/cmds"
[ "$n" -ge 5 ] || { echo "FAIL: only $n command lines found"; fail=1; }
# the pipeline specs the Jobs mount are accepted by the real spec parser:
# `run --measure` parses the spec before it looks for the TEE's launch
# tooling, so a spec error names the file and line, anything else is past
# the parser
np=0
for f in "$tmp"/secureai-pipeline-*.yaml; do
    [ -e "$f" ] || continue
    np=$((np + 1))
    out=$("$SAI_CLI" run "$f" --measure 2>&1 || true)
    if grep -q "$f:[0-9]" <<<"$out"; then echo "FAIL - $(basename "$f"): $out"; fail=1
    else echo "ok   - $(basename "$f") parses ($(tail -c 80 <<<"$out"))"; fi
done
[ "$np" = 6 ] || { echo "FAIL: $np pipeline specs, want 6 (TCP and MPI per TEE kind)"; fail=1; }
sed 's/^version: 1/version: 1\nbogus: 1/' "$tmp/secureai-pipeline-sgx.yaml" >"$tmp/bad-spec.yaml"
grep -q "bad-spec.yaml:[0-9]" <<<"$("$SAI_CLI" run "$tmp/bad-spec.yaml" --measure 2>&1)" ||
    { echo "FAIL: a bad pipeline spec was not refused by the parser"; fail=1; }
# the check itself bites: a flag the CLI does not have is refused
if "$SAI_CLI" kbs serve --db x --dry-run >/dev/null 2>&1; then echo "FAIL: --db accepted"; fail=1; fi
if "$SAI_CLI" pipeline run --spec x --dry-run >/dev/null 2>&1; then echo "FAIL: pipeline run accepted"; fail=1; fi
echo "# $n command lines checked"
exit $fail
