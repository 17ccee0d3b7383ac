#!/usr/bin/env bash
# dist_env.sh — sourced by the shell tests that run distributed jobs
# (test_dist_run.sh, test_dist_fault.sh): a tiny Fashion-MNIST slice sealed,
# a platform service and a KBS on loopback of the test's own, the keys.
# Skips (exit 0 / 77) without the dataset or root.
#
#   dist_env_start NAME      set up under a fresh $T (cd'ed into), or exit
#                            (DIST_ENV_NTRAIN / _NTEST records: default 256 / 128;
#                            DIST_ENV_TLS=1: the KBS speaks TLS and specs pin its
#                            certificate, instead of plain HTTP on loopback)
#   spec FILE NAME OUTDIR [TRANSPORT [EPOCHS [TRAIN_LIMIT [EXTRA_HYPER]]]]
#                            a 2-worker spec (smallcnn, batch 32)
#   put RESOURCE FILE        put a secret on the KBS under release.json
#   run_peers SPEC OUTDIR    a 2-worker job as two programs (--rank 0/1 --peers on
#                            127.0.0.10/.11); 0 if both finish; PEER_W0/1 = their weight hashes, PEER_PORT the port
#   expect CODE DESC cmd...  / has FILE PATTERN DESC / ok DESC / bad DESC
set -u
CLI=${SAI_CLI:?}
SRC=${SAI_SOURCE_DIR:?}
FM=/usr/share/datasets/fashion-mnist
T=
KBS_PID=
# plain HTTP on loopback unless DIST_ENV_TLS=1 (then set by dist_env_start)
KBS_HTTP_FLAG=--insecure-http
[ "${DIST_ENV_TLS:-0}" = 1 ] && KBS_HTTP_FLAG=
KBS_TRUST=--insecure-http
KBS_SPEC=
. "$SRC/tests/helpers/platform.sh"
fails=0
ok()  { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }
expect() { # expect CODE DESC cmd...
    local want=$1 desc=$2; shift 2
    "$@" >"$T/.o" 2>"$T/.e"; local got=$?
    if [ "$got" = "$want" ]; then ok "$desc"; else bad "$desc (exit $got, want $want)"; tail -8 "$T/.e"; fi
}
has() { grep -q -- "$2" "$1" && ok "$3" || { bad "$3"; echo "  no '$2' in:"; head -5 "$1"; }; }
dist_env_cleanup() {
    sai_platform_stop
    if [ -n "$KBS_PID" ]; then kill "$KBS_PID" 2>/dev/null; wait "$KBS_PID" 2>/dev/null; fi
    [ -n "$T" ] && rm -rf "$T"
}
dist_env_done() {
    [ "$fails" -eq 0 ] && echo "all ok" || echo "$fails failure(s)"
    [ "$fails" -eq 0 ]
}

dist_env_start() {
    if [ ! -f "$FM/train-images-idx3-ubyte.gz" ]; then echo "skip: $FM missing"; exit 0; fi
    if ! sai_platform_can_run; then echo "SKIP: enclaves are launched by the platform service, which needs root"; exit 77; fi
    T=$(mktemp -d "/tmp/sai-$1.XXXXXX")
    trap dist_env_cleanup EXIT
    chmod 755 "$T"
    export OMP_NUM_THREADS=1
    cd "$T" || exit 1
    /usr/bin/python3 "$SRC/tests/pipeline/mkidx.py" "$FM" plain "${DIST_ENV_NTRAIN:-256}" "${DIST_ENV_NTEST:-128}" >/dev/null || { bad "mkidx"; exit 1; }
    sai_platform_start "$CLI" "$T/plat" || { bad "platform service"; exit 1; }
    for k in data model group; do "$CLI" keygen --out $k.key >/dev/null 2>&1 || { bad "keygen"; exit 1; }; done
    "$CLI" seal --key data.key plain sealed >seal.out 2>&1 || { bad "seal"; cat seal.out; exit 1; }
    DSID=$(sed -n 's/^dataset id: sha256:\([0-9a-f]\{64\}\)$/\1/p' seal.out)
    printf 'allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s]\n' "$SAI_PLATFORM_FP" > att.yaml
    "$CLI" kbs serve --data-dir kbsd ${KBS_HTTP_FLAG} --port 0 --port-file port \
        --attestation-policy att.yaml --quiet >kbs.log 2>&1 &
    KBS_PID=$!
    for _ in $(seq 50); do [ -s port ] && break; sleep 0.1; done
    [ -s port ] || { bad "KBS did not start"; cat kbs.log; exit 1; }
    if [ -n "$KBS_HTTP_FLAG" ]; then
        KBS=http://127.0.0.1:$(cat port)
    else
        KBS=https://127.0.0.1:$(cat port)
        KBS_PIN=$(sed -n 's/^kbs: certificate sha256 \([0-9a-f]\{64\}\)$/\1/p' kbs.log)
        [ ${#KBS_PIN} = 64 ] || { bad "no KBS certificate fingerprint"; cat kbs.log; exit 1; }
        KBS_TRUST="--pin $KBS_PIN"
        KBS_SPEC="kbs: {url: \"$KBS\", pin: \"sha256:$KBS_PIN\", retries: 2}"
    fi
}

spec() { # spec FILE NAME OUTDIR [TRANSPORT [EPOCHS [TRAIN_LIMIT [EXTRA_HYPER]]]]
    local kl=$KBS_SPEC
    [ -n "$kl" ] || kl="kbs: {url: \"$KBS\", insecure_http: true, retries: 2}"
    cat > "$1" <<EOS
version: 1
name: $2
stages: [ingest, preprocess, train, evaluate, infer]
dataset:
  sealed: $T/sealed
  resource: {repo: e2e, type: dataset, tag: fm}
model:
  arch: smallcnn
  key: {repo: e2e, type: model, tag: fm}
hyper:
  epochs: ${5:-2}
  batch: 32
  train_limit: ${6:-64}
  test_limit: 64
  lr: 0.05
${7:+  $7}
dist: {workers: 2, transport: ${4:-tcp}}
$kl
outputs: {dir: $3}
EOS
}

put() { "$CLI" kbs put-resource $KBS_TRUST --kbs "$KBS" --admin-token-file kbsd/admin.token --resource "$1" \
            --secret-file "$2" --policy release.json >/dev/null 2>&1 || { bad "put-resource $1"; exit 1; }; }

run_peers() { # run_peers SPEC OUTDIR
    local r rc0 rc1 p0 p1
    PEER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    for r in 0 1; do
        "$CLI" run --threads 1 --rank $r --peers "127.0.0.1{rank}:$PEER_PORT" --listen 127.0.0.1$r \
            --out "$2" "$1" >peer$r.out 2>peer$r.err &
        eval "p$r=\$!"
    done
    wait "$p0"; rc0=$?
    wait "$p1"; rc1=$?
    PEER_W0=$(sed -n 's/.*done: weights sha256 \([0-9a-f]\{64\}\).*/\1/p' peer0.err | head -1)
    PEER_W1=$(sed -n 's/.*done: weights sha256 \([0-9a-f]\{64\}\).*/\1/p' peer1.err | head -1)
    [ "$rc0" = 0 ] && [ "$rc1" = 0 ] || { echo "  peers exit $rc0/$rc1"; tail -5 peer0.err peer1.err; return 1; }
}
