# run_common.sh — sourced by the shell tests of a `secureai run` on a dataset
# of their own (TFRecord, framework mode): a platform service of the test's
# own, a TLS KBS on loopback (self-signed; specs anchor it with kbs.ca), keys
# released to one spec's measurement, the verify policy for its statement.
#
#   rc_begin NAME           a fresh $T (cd'ed into, removed with the services
#                           on exit), ok/bad counting into $fails; skip 77
#                           without root
#   rc_start DIR            platform + KBS; sets RC_KBS (URL), RC_CA; writes
#                           DIR/att.yaml (pins this sim platform's ARK)
#   rc_release DIR SPEC RES measure SPEC; put DIR/data.key and DIR/model.key
#                           as RES/dataset/t and RES/model/t released to that
#                           measurement; sets RC_M
#   rc_verify_policy DIR DSID   write DIR/verify.json for RC_M and DSID
#   rc_stop                 stop the KBS and the platform service
# Needs SAI_CLI and SAI_SOURCE_DIR. Root (the platform service) or skip 77.
. "${SAI_SOURCE_DIR:?}/tests/helpers/platform.sh"
RC_KBS_PID=
fails=0
ok()  { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }

rc_begin() {
    T=$(mktemp -d "/tmp/sai-$1.XXXXXX")
    trap 'rc_stop; rm -rf "$T"' EXIT
    if ! sai_platform_can_run; then echo "SKIP: enclaves are launched by the platform service, which needs root"; exit 77; fi
    chmod 755 "$T"
    cd "$T" || exit 1
}

rc_stop() {
    if [ -n "$RC_KBS_PID" ]; then kill "$RC_KBS_PID" 2>/dev/null; wait "$RC_KBS_PID" 2>/dev/null; fi
    RC_KBS_PID=
    sai_platform_stop
}

rc_start() {
    local d=$1 cli=${SAI_CLI:?}
    mkdir -p "$d" && chmod 755 "$d" && sai_platform_start "$cli" "$d/plat" || { echo "rc_start: platform service"; return 1; }
    printf 'allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s]\n' "$SAI_PLATFORM_FP" > "$d/att.yaml"
    "$cli" kbs serve --data-dir "$d/kbsd" --port 0 --port-file "$d/port" \
        --attestation-policy "$d/att.yaml" --quiet >"$d/kbs.log" 2>&1 &
    RC_KBS_PID=$!
    for _ in $(seq 100); do [ -s "$d/port" ] && [ -s "$d/kbsd/tls.crt" ] && break; sleep 0.1; done
    [ -s "$d/port" ] && [ -s "$d/kbsd/tls.crt" ] || { echo "rc_start: KBS did not start"; cat "$d/kbs.log"; return 1; }
    cp "$d/kbsd/tls.crt" "$d/kbs-ca.crt"
    RC_CA=$d/kbs-ca.crt
    RC_KBS=https://127.0.0.1:$(cat "$d/port")
}

rc_release() {
    local d=$1 spec=$2 res=$3 cli=${SAI_CLI:?} r k
    RC_M=$("$cli" run --measure "$spec" | awk '/^measurement/ {print $2}')
    [ ${#RC_M} = 96 ] || { echo "rc_release: no measurement for $spec"; "$cli" run --measure "$spec"; return 1; }
    printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"]}\n' "$RC_M" > "$d/release.json"
    for r in dataset model; do
        k=$d/data.key; [ $r = model ] && k=$d/model.key
        "$cli" kbs put-resource --kbs "$RC_KBS" --ca "$RC_CA" --admin-token-file "$d/kbsd/admin.token" \
            --resource "$res/$r/t" --secret-file "$k" --policy "$d/release.json" >/dev/null 2>"$d/put.err" ||
            { echo "rc_release: put-resource $res/$r/t"; cat "$d/put.err"; return 1; }
    done
}

rc_verify_policy() {
    printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":true,"attestation_policy":"att.yaml"}\n' \
        "$RC_M" "$2" > "$1/verify.json"
}
