#!/usr/bin/env bash
# test_rt_4_kbs_downgrade.sh — issue 11, attack 4: "Swap the KBS".
#
# (a) Downgrade / key substitution. The spec pins the genuine KBS's TLS
#     certificate (kbs.pin, measured). The attacker launches the run but
#     hands the enclave `--kbs http://127.0.0.1:P`, a proxy it runs: the
#     first attestation flow (dataset key) is relayed to the genuine KBS,
#     the second (model key) goes to a KBS of the attacker's own holding the
#     attacker's model key under the same name. If the enclave took the
#     http:// URL, the model would be sealed under a key the attacker holds.
#     Shipped binary: the enclave refuses the URL (the spec does not say
#     kbs.insecure_http), no model, and the attacker's key opens nothing.
#     Weak build, SAI_WEAKEN=kbs_downgrade: the attacker unseals the model.
# (b) Passive capture of a generated key's registration. A spec that does
#     say kbs.insecure_http: true (a test KBS) and model.generate_key: the
#     attacker's proxy only records and relays. Shipped binary: the
#     registration carries the key wrapped to the KBS's pinned wrap key; the
#     attacker recovers no key from the capture, though the run succeeds.
#     Weak build, SAI_WEAKEN=kbs_wrap: the capture holds the key in clear
#     and it opens the model.
#
# Every run is launched by the unprivileged attacker (sai-rt-attacker)
# through a platform service, as on a real machine: the shipped one
# ($SAI_CLI platform serve) and, for the weak halves, the weakened build
# started with SAI_WEAKEN=kbs_downgrade resp. SAI_WEAKEN=kbs_wrap in the
# *service's* environment (the only way the enclave gets it; the
# launcher's environment does not reach the enclave). Needs root
# (rt_common.sh); skipped with the reason otherwise.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/rt_common.sh"
rt_require_root_or_skip
CLI=${SAI_CLI:?SAI_CLI must name the shipped secureai}
FM=/usr/share/datasets/fashion-mnist
[ -f "$FM/train-images-idx3-ubyte.gz" ] || { echo "SKIP: $FM missing"; exit 77; }
# The sanitizer build has no weakened twin; the plain build runs this test.
rt_weak_available || { echo "SKIP: no weakened build (secureai-weak) in this configuration"; exit 77; }

T=$(mktemp -d /tmp/rt4-XXXXXX)
chmod 755 "$T"
PIDS=()
# A background job started through a shell function is a subshell: stop the
# process it runs (its child) as well as the subshell itself; a platform
# service's children (monitors, enclaves) go with it.
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill $(pgrep -P "$p") "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1
A=$T/attacker                       # everything the attacker owns
mkdir -p "$A" && chown "$RT_USER": "$A" && chmod 700 "$A"
as_attacker() { rt_attacker env HOME="$A" OPENBLAS_NUM_THREADS=1 "$@"; }

# ---- the machine (root): platform services --------------------------------------
for u in secureai-platform secureai-enclave; do
    id "$u" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$u" ||
        { echo "FAIL - cannot create $u"; exit 1; }
done
start_platform() { # start_platform NAME CLI [SAI_WEAKEN value]: socket $T/NAME/run/platform.sock; sets ARK
    local name=$1 cli=$2 weaken=${3:-}
    mkdir -p "$T/$name"
    env ${weaken:+SAI_WEAKEN=$weaken} "$cli" platform serve --dir "$T/$name/platform" \
        --socket "$T/$name/run/platform.sock" >"$T/$name.log" 2>&1 &
    PIDS+=($!)
    ARK=
    for _ in $(seq 100); do
        ARK=$("$cli" platform info --socket "$T/$name/run/platform.sock" 2>/dev/null |
              awk '/^sim_ark_sha256/ {print $2}')
        [ -n "$ARK" ] && return 0
        sleep 0.1
    done
    echo "FAIL - platform service $name did not start"; cat "$T/$name.log"; exit 1
}
start_platform shipped "$CLI";                          ARKS=$ARK
start_platform weak-dg "$SAI_CLI_WEAK" kbs_downgrade;   ARKS="$ARKS, $ARK"
start_platform weak-wrap "$SAI_CLI_WEAK" kbs_wrap;      ARKS="$ARKS, $ARK"
sock() { echo "$T/$1/run/platform.sock"; }

# ---- the data owner (root): keys, a small sealed dataset ----------------------
/usr/bin/python3 "$SAI_SOURCE_DIR/tests/pipeline/mkidx.py" "$FM" plain 256 64 >/dev/null || exit 1
(umask 077; "$CLI" keygen --out data.key && "$CLI" keygen --out model.key) >/dev/null 2>&1
"$CLI" seal --key data.key plain sealed >/dev/null 2>&1 || { echo "FAIL - seal"; exit 1; }
chmod -R a+rX sealed
printf 'allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s]\n' "$ARKS" > att.yaml
chmod 644 att.yaml

start_kbs() { # start_kbs "RUNNER CLI" DIR PORTFILE LOG ARGS...
    local runner=$1 dir=$2 pf=$3 log=$4; shift 4
    $runner kbs serve --data-dir "$dir" --port 0 --port-file "$pf" --quiet "$@" >"$log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do [ -s "$pf" ] && return 0; sleep 0.1; done
    echo "FAIL - KBS $dir did not start"; cat "$log"; exit 1
}
wait_port() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "FAIL - no $1"; exit 1; }

# The genuine KBS: TLS, root's, with the owner's keys.
start_kbs "$CLI" "$T/kbs" kbs.port kbs.log --attestation-policy att.yaml --enclave-writable gen
KBS=https://127.0.0.1:$(cat kbs.port)
PIN=$("$CLI" kbs info --data-dir "$T/kbs" | awk '/^certificate_sha256/ {print $2}')
WRAP=$("$CLI" kbs info --data-dir "$T/kbs" | awk '/^wrap_key_sha256/ {print $2}')
ADMIN=(--kbs "$KBS" --pin "$PIN" --admin-token-file "$T/kbs/admin.token")
# For (b) against the weak build, the genuine KBS is the weak build too
# (SAI_WEAKEN=kbs_wrap: it also takes a clear secret), on its own data dir.
start_kbs "env SAI_WEAKEN=kbs_wrap $SAI_CLI_WEAK" "$T/kbs-w" kbs-w.port kbs-w.log \
    --attestation-policy att.yaml --enclave-writable gen
KBSW=https://127.0.0.1:$(cat kbs-w.port)
PINW=$("$CLI" kbs info --data-dir "$T/kbs-w" | awk '/^certificate_sha256/ {print $2}')
WRAPW=$("$CLI" kbs info --data-dir "$T/kbs-w" | awk '/^wrap_key_sha256/ {print $2}')

spec() { # spec FILE TAG KBSLINE [MODEL KEY LINES]
    cat > "$1" <<SPEC
version: 1
name: rt4
stages: [ingest, preprocess, train]
dataset: {sealed: $T/sealed, resource: {repo: rt, type: dataset, tag: $2}}
model:
  arch: smallcnn
${4:-  key: {repo: rt, type: model, tag: $2\}}
hyper: {epochs: 1, batch: 32, max_steps: 2, lr: 0.05}
$3
outputs: {dir: $T/unused}
SPEC
    chmod 644 "$1"
}
measure() { # measure PLATFORM SPEC: the measurement, asked of that platform service
    "$CLI" run --measure --platform-socket "$(sock "$1")" "$2" | awk '/^measurement/ {print $2}'
}
register() { # register TAG SPEC [ADMIN...]: the owner's keys for the spec's measurement under both builds
    local tag=$1 s=$2 m mw; shift 2
    local admin=("${ADMIN[@]}"); [ $# -gt 0 ] && admin=("$@")
    m=$(measure shipped "$s"); mw=$(measure weak-dg "$s")
    [ ${#m} = 96 ] && [ ${#mw} = 96 ] && [ "$m" != "$mw" ] || { echo "FAIL - measurements of $s"; exit 1; }
    [ "$(measure weak-wrap "$s")" = "$mw" ] || { echo "FAIL - SAI_WEAKEN changed the measurement"; exit 1; }
    printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s","%s"]}\n' "$m" "$mw" > "rel-$tag.json"
    "$CLI" kbs put-resource "${admin[@]}" --resource "rt/dataset/$tag" --secret-file data.key \
        --policy "rel-$tag.json" >/dev/null &&
    "$CLI" kbs put-resource "${admin[@]}" --resource "rt/model/$tag" --secret-file model.key \
        --policy "rel-$tag.json" >/dev/null || { echo "FAIL - put-resource $tag"; exit 1; }
}
run_as_attacker() { # run_as_attacker PLATFORM SPEC OUT URL: the attacker launches SPEC on that platform
    local plat=$1 s=$2 out=$3 url=$4 cli=$CLI
    [ "$plat" != shipped ] && cli=$SAI_CLI_WEAK
    mkdir -p "$out" && chown "$RT_USER": "$out"
    as_attacker "$cli" run --quiet --threads 1 --platform-socket "$(sock "$plat")" --dataset "$T/sealed" \
        --out "$out" --kbs "$url" "$s" >"$out.log" 2>&1
}
attacker_opens() { # attacker_opens KEYFILE MODEL: the attacker decrypts the model with its key
    rm -f "$A/plain.bin"
    [ -s "$2" ] && as_attacker "$CLI" unseal --key "$1" "$2" "$A/plain.bin" >/dev/null 2>&1 &&
        head -c 8 "$A/plain.bin" | grep -q SAINNCK
}

# ======== (a) downgrade: an http:// URL to the attacker's proxy + KBS ========
spec pinned.yaml sub "kbs: {url: \"$KBS\", pin: \"sha256:$PIN\", retries: 1}"
register sub pinned.yaml
# The attacker's own KBS (plain HTTP; it trusts the same public sim root)
# holding the attacker's model key under the genuine name, released to any
# sim TEE.
(umask 077; as_attacker "$CLI" keygen --out "$A/evil.key") >/dev/null 2>&1
start_kbs "as_attacker $CLI" "$A/kbs" "$A/kbs.port" "$A/kbs.log" --insecure-http --attestation-policy "$T/att.yaml"
EVIL=http://127.0.0.1:$(cat "$A/kbs.port")
as_attacker "$CLI" kbs put-resource --insecure-http --kbs "$EVIL" --admin-token-file "$A/kbs/admin.token" \
    --resource rt/model/sub --secret-file "$A/evil.key" --policy '{"tee":["sim"],"allow_simulated":true}' \
    >/dev/null || { echo "FAIL - the attacker's KBS"; exit 1; }
as_attacker /usr/bin/python3 "$here/rt_kbs_proxy.py" "$A/proxy.port" "$A/capture-a" "$KBS" "$EVIL" \
    >"$T/proxy-a.log" 2>&1 &
PIDS+=($!)
wait_port "$A/proxy.port"
PROXY=http://127.0.0.1:$(cat "$A/proxy.port")

rt_expect_fail "(a) the shipped enclave refuses the attacker's http:// KBS URL" \
    run_as_attacker shipped pinned.yaml "$T/out-a" "$PROXY"
grep -q "kbs.insecure_http" "$T/out-a.log" && rt_ok "(a) the refusal names the measured kbs.insecure_http" ||
    { rt_bad "(a) refusal reason"; cat "$T/out-a.log"; }
rt_expect_fail "(a) no model sealed under the attacker's key" attacker_opens "$A/evil.key" "$T/out-a/model.sealed"
rt_expect_fail "(a) the proxy saw no request (nothing left the enclave)" test -s "$A/capture-a"
rm -f "$A/capture-a"
rt_expect_ok "(a) weak build, SAI_WEAKEN=kbs_downgrade: the run completes through the attacker's KBS" \
    run_as_attacker weak-dg pinned.yaml "$T/out-aw" "$PROXY"
rt_expect_ok "(a) weak build: the attacker's key opens the model (key substituted)" \
    attacker_opens "$A/evil.key" "$T/out-aw/model.sealed"

# ======== (b) a passive proxy on an insecure_http channel captures a registration ========
GENKEY="  key: {repo: gen, type: model, tag: TAG}
  generate_key: true
  key_policy: '{\"tee\": [\"sev-snp\"]}'"
kline() { echo "kbs: {url: \"$1\", insecure_http: true, pin: \"sha256:$2\", wrap_key_sha256: \"sha256:$3\", retries: 1}"; }
spec gen-s.yaml gen-s "$(kline "$KBS" "$PIN" "$WRAP")" "${GENKEY/TAG/rt4-shipped}"
spec gen-w.yaml gen-w "$(kline "$KBSW" "$PINW" "$WRAPW")" "${GENKEY/TAG/rt4-weak}"
register gen-s gen-s.yaml
register gen-w gen-w.yaml --kbs "$KBSW" --pin "$PINW" --admin-token-file "$T/kbs-w/admin.token"
as_attacker /usr/bin/python3 "$here/rt_kbs_proxy.py" "$A/pproxy.port" "$A/capture-b" "$KBS" >"$T/proxy-b.log" 2>&1 &
PIDS+=($!)
as_attacker /usr/bin/python3 "$here/rt_kbs_proxy.py" "$A/wproxy.port" "$A/capture-b" "$KBSW" >"$T/proxy-w.log" 2>&1 &
PIDS+=($!)
wait_port "$A/pproxy.port"
wait_port "$A/wproxy.port"
PPROXY=http://127.0.0.1:$(cat "$A/pproxy.port")
WPROXY=http://127.0.0.1:$(cat "$A/wproxy.port")
# What the attacker extracts from a capture: a base64url 32-byte "secret".
extract_key() { # extract_key CAPTURE OUTFILE
    as_attacker /usr/bin/python3 - "$1" "$2" <<'PY'
import base64, json, os, sys
for line in open(sys.argv[1], "rb"):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    s = j.get("secret") if isinstance(j, dict) else None
    if isinstance(s, str):
        k = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
        if len(k) == 32:
            fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, k)
            sys.exit(0)
sys.exit(1)
PY
}
rt_expect_ok "(b) the shipped enclave registers its generated key over the spec's insecure_http channel" \
    run_as_attacker shipped gen-s.yaml "$T/out-b" "$PPROXY"
grep -q '"jwe"' "$A/capture-b" && rt_ok "(b) the captured registration carries a wrapped key" ||
    rt_bad "(b) no wrapped registration in the capture"
rt_expect_fail "(b) no key in the capture" extract_key "$A/capture-b" "$A/stolen-s.key"
rt_expect_fail "(b) nothing from the capture opens the model" attacker_opens "$A/stolen-s.key" "$T/out-b/model.sealed"
rm -f "$A/capture-b"
rt_expect_ok "(b) weak build, SAI_WEAKEN=kbs_wrap: the run registers its key" \
    run_as_attacker weak-wrap gen-w.yaml "$T/out-bw" "$WPROXY"
rt_expect_ok "(b) weak build: the key is in the capture" extract_key "$A/capture-b" "$A/stolen-w.key"
rt_expect_ok "(b) weak build: the captured key opens the model (a key only sev-snp was to receive)" \
    attacker_opens "$A/stolen-w.key" "$T/out-bw/model.sealed"
rt_done
