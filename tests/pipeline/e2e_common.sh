# e2e_common.sh — sourced by shell tests that need a real pipeline run (a
# provenance statement made by the sim TEE): a tiny sealed Fashion-MNIST
# slice, a TLS KBS on loopback (self-signed; the spec anchors it with kbs.ca)
# that releases its keys to this spec's measurement, one `secureai run` of a
# few steps. Mirrors test_e2e.sh's set-up.
#
#   e2e_tiny_run DIR     -> DIR/out/{model.sealed,provenance.json,run.json},
#                           DIR/att.yaml (attestation policy pinning this sim
#                           platform's ARK), DIR/verify.json (verify policy,
#                           allow_simulated, attestation_policy att.yaml);
#                           E2E_M (measurement), E2E_DSID (dataset identity).
#                           Returns 77 (skip) when the dataset is missing.
#                        The enclave is launched by a platform service of
#                        the test's own (tests/helpers/platform.sh, root),
#                        whose platform directory is DIR/plat/platform.
#   e2e_cleanup          stops the KBS and the platform service.
# Needs SAI_CLI and SAI_SOURCE_DIR.
. "${SAI_SOURCE_DIR:?}/tests/helpers/platform.sh"
E2E_KBS_PID=
e2e_cleanup() {
    if [ -n "$E2E_KBS_PID" ]; then kill "$E2E_KBS_PID" 2>/dev/null; wait "$E2E_KBS_PID" 2>/dev/null; fi
    E2E_KBS_PID=
    sai_platform_stop
}

e2e_tiny_run() {
    local d=$1 cli=${SAI_CLI:?} src=${SAI_SOURCE_DIR:?} fm=/usr/share/datasets/fashion-mnist
    [ -f "$fm/train-images-idx3-ubyte.gz" ] || { echo "skip: $fm missing"; return 77; }
    sai_platform_can_run || { echo "SKIP: enclaves are launched by the platform service, which needs root"; return 77; }
    mkdir -p "$d" && chmod 755 "$d" && sai_platform_start "$cli" "$d/plat" || { echo "e2e_tiny_run: platform service"; return 1; }
    (
        cd "$d" || exit 1
        /usr/bin/python3 "$src/tests/pipeline/mkidx.py" "$fm" plain 256 128 >/dev/null || exit 1
        "$cli" keygen --out data.key >/dev/null 2>&1 && "$cli" keygen --out model.key >/dev/null 2>&1 || exit 1
        "$cli" seal --key data.key plain sealed >seal.out 2>&1 || exit 1
    ) || { echo "e2e_tiny_run: set-up failed"; return 1; }
    E2E_DSID=$(sed -n 's/^dataset id: sha256:\([0-9a-f]\{64\}\)$/\1/p' "$d/seal.out")
    local fp=$SAI_PLATFORM_FP
    printf 'allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s]\n' "$fp" > "$d/att.yaml"
    "$cli" kbs serve --data-dir "$d/kbsd" --port 0 --port-file "$d/port" \
        --attestation-policy "$d/att.yaml" --quiet >"$d/kbs.log" 2>&1 &
    E2E_KBS_PID=$!
    for _ in $(seq 100); do [ -s "$d/port" ] && [ -s "$d/kbsd/tls.crt" ] && break; sleep 0.1; done
    [ -s "$d/port" ] && [ -s "$d/kbsd/tls.crt" ] || { echo "e2e_tiny_run: KBS did not start"; cat "$d/kbs.log"; return 1; }
    cp "$d/kbsd/tls.crt" "$d/kbs-ca.crt"
    local kbs
    kbs=https://127.0.0.1:$(cat "$d/port")
    cat > "$d/spec.yaml" <<EOS
version: 1
name: tiny
stages: [ingest, preprocess, train, evaluate, infer]
dataset:
  sealed: $d/sealed
  resource: {repo: e2e, type: dataset, tag: fm}
model:
  arch: smallcnn
  key: {repo: e2e, type: model, tag: fm}
hyper:
  epochs: 2
  batch: 32
  train_limit: 64
  lr: 0.05
kbs: {url: "$kbs", ca: $d/kbs-ca.crt, retries: 2}
outputs: {dir: $d/out}
EOS
    E2E_M=$("$cli" run --measure "$d/spec.yaml" | awk '/^measurement/ {print $2}')
    printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s"]}\n' "$E2E_M" > "$d/release.json"
    local r k
    for r in dataset model; do
        k=$d/data.key; [ $r = model ] && k=$d/model.key
        "$cli" kbs put-resource --kbs "$kbs" --ca "$d/kbs-ca.crt" --admin-token-file "$d/kbsd/admin.token" --resource e2e/$r/fm \
            --secret-file "$k" --policy "$d/release.json" >/dev/null 2>&1 || { echo "e2e_tiny_run: put-resource"; return 1; }
    done
    "$cli" run --quiet --threads 1 "$d/spec.yaml" >"$d/run.log" 2>&1 || { echo "e2e_tiny_run: run failed"; cat "$d/run.log"; return 1; }
    printf '{"measurement":"%s","dataset_identity":"%s","allow_simulated":true,"attestation_policy":"att.yaml"}\n' \
        "$E2E_M" "$E2E_DSID" > "$d/verify.json"
    return 0
}
