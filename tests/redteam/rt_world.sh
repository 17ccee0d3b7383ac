#!/usr/bin/env bash
# rt_world.sh — sourced by red-team tests that attack a pipeline run: a
# machine set up like `make demo`, in miniature, owned by root:
#   - two platform services, one from the shipped binary ($SAI_CLI) and
#     one from the test-only weakened build ($SAI_CLI_WEAK, with
#     SAI_WEAKEN=$RT_WEAKEN), each with its own platform and socket;
#   - a TLS key broker on loopback whose attestation policy trusts both
#     platforms' sim ARKs;
#   - a tiny sealed Fashion-MNIST slice, its key and a model key, owned by
#     the data owner (root, 0700), registered with a release policy that
#     admits exactly the measurement of $RT/spec.yaml under each platform;
#   - $RT/atk, the attacker's own writable directory.
# The attacker ($RT_USER) can read the spec, the sealed data and the KBS
# CA, and connect to both sockets, as any local user can.
#
#   rt_world_start   set it up (needs rt_require_root_or_skip first)
#   rt_world_stop    tear it down (also from an EXIT trap)
#   rt_run_as_attacker normal|weak OUTDIR [run options...]
#                    `secureai run` of $RT/spec.yaml by the attacker against
#                    that platform, with the matching binary
# Variables: RT (the directory), RT_DATA_KEY (hex of the dataset key),
# RT_M_NORMAL / RT_M_WEAK (the measurements), RT_KBS (URL).
: "${SAI_SOURCE_DIR:?}" "${SAI_CLI:?}"
RT_FM=/usr/share/datasets/fashion-mnist
RT_PIDS=()
RT_STEPS=${RT_STEPS:-4}

rt_world_stop() {
    local p
    for p in "${RT_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${RT_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    RT_PIDS=()
    [ -n "${RT:-}" ] && rm -rf "$RT"
}

rt_platform_start() { # rt_platform_start normal|weak CLI
    local mode=$1 cli=$2
    mkdir -p "$RT/$mode"
    env ${RT_WEAKEN:+SAI_WEAKEN=$RT_WEAKEN} "$cli" platform serve --dir "$RT/$mode/platform" \
        --socket "$RT/$mode/run/platform.sock" ${RT_IMAGE:+--enclave-image "$RT_IMAGE"} \
        >"$RT/$mode/platform.log" 2>&1 &
    RT_PIDS+=($!)
    local fp=
    for _ in $(seq 100); do
        fp=$("$cli" platform info --socket "$RT/$mode/run/platform.sock" 2>/dev/null |
             awk '/^sim_ark_sha256/ {print $2}')
        [ -n "$fp" ] && break
        sleep 0.1
    done
    [ -n "$fp" ] || { echo "platform ($mode) did not start:" >&2; cat "$RT/$mode/platform.log" >&2; return 1; }
    echo "$fp"
}

rt_world_start() {
    [ -f "$RT_FM/train-images-idx3-ubyte.gz" ] || { echo "SKIP: $RT_FM missing"; exit 77; }
    # The sanitizer build has no weakened twin; the plain build runs these.
    rt_weak_available || { echo "SKIP: no weakened build (secureai-weak) in this configuration"; exit 77; }
    local u
    for u in secureai-platform secureai-enclave; do
        id "$u" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$u" || return 1
    done
    RT=$(mktemp -d /tmp/sai-redteam.XXXXXX) && chmod 755 "$RT" || return 1
    mkdir -p "$RT/owner" "$RT/atk" && chmod 700 "$RT/owner" && chown "$RT_USER:" "$RT/atk" || return 1
    if [ -n "${RT_ATTACKER_OWNS_IMAGE:-}" ]; then
        # The enclave image sits where the launching user can write it.
        mkdir -p "$RT/atk/img" && cp "$SAI_CLI" "$RT/atk/img/secureai" && cp "$SAI_CLI_WEAK" "$RT/atk/img/secureai-weak" &&
            chown -R "$RT_USER:" "$RT/atk/img" || return 1
        RT_IMAGE=$RT/atk/img/secureai
        RT_IMAGE_WEAK=$RT/atk/img/secureai-weak
    fi
    local fpn fpw
    fpn=$(rt_platform_start normal "$SAI_CLI") || return 1
    fpw=$(RT_IMAGE=${RT_IMAGE_WEAK:-} rt_platform_start weak "$SAI_CLI_WEAK") || return 1
    # data owner
    /usr/bin/python3 "$SAI_SOURCE_DIR/tests/pipeline/mkidx.py" "$RT_FM" "$RT/owner/plain" 256 128 || return 1
    "$SAI_CLI" keygen --out "$RT/owner/data.key" >/dev/null && "$SAI_CLI" keygen --out "$RT/owner/model.key" >/dev/null &&
        "$SAI_CLI" seal --key "$RT/owner/data.key" "$RT/owner/plain" "$RT/sealed" >/dev/null || return 1
    chmod -R a+rX "$RT/sealed"
    RT_DATA_KEY=$(od -An -tx1 -v "$RT/owner/data.key" | tr -d ' \n')
    # key broker (TLS, self-signed; the spec measures its certificate)
    printf 'allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s, %s]\n' "$fpn" "$fpw" > "$RT/owner/att.yaml"
    "$SAI_CLI" kbs serve --data-dir "$RT/owner/kbs" --port 0 --port-file "$RT/owner/kbs.port" \
        --attestation-policy "$RT/owner/att.yaml" --quiet >"$RT/owner/kbs.log" 2>&1 &
    RT_PIDS+=($!)
    for _ in $(seq 100); do [ -s "$RT/owner/kbs.port" ] && [ -s "$RT/owner/kbs/tls.crt" ] && break; sleep 0.1; done
    [ -s "$RT/owner/kbs.port" ] || { cat "$RT/owner/kbs.log" >&2; return 1; }
    cp "$RT/owner/kbs/tls.crt" "$RT/kbs-ca.crt"
    RT_KBS=https://127.0.0.1:$(cat "$RT/owner/kbs.port")
    cat > "$RT/spec.yaml" <<EOF
version: 1
name: redteam
stages: [ingest, preprocess, train, evaluate]
dataset:
  sealed: $RT/sealed
  resource: {repo: rt, type: dataset, tag: fm}
model:
  arch: smallcnn
  key: {repo: rt, type: model, tag: fm}
hyper:
  epochs: ${RT_EPOCHS:-1}
  batch: 32
  max_steps: $RT_STEPS
  lr: 0.05
kbs: {url: "$RT_KBS", ca: $RT/kbs-ca.crt, retries: 2}
outputs: {dir: $RT/atk/out}
EOF
    RT_M_NORMAL=$("$SAI_CLI" run --measure --platform-socket "$RT/normal/run/platform.sock" "$RT/spec.yaml" |
                  awk '/^measurement/ {print $2}')
    RT_M_WEAK=$(SAI_WEAKEN=${RT_WEAKEN:-} "$SAI_CLI_WEAK" run --measure --platform-socket "$RT/weak/run/platform.sock" \
                "$RT/spec.yaml" | awk '/^measurement/ {print $2}')
    [ ${#RT_M_NORMAL} = 96 ] && [ ${#RT_M_WEAK} = 96 ] || { echo "no measurement" >&2; return 1; }
    printf '{"tee":["sim"],"allow_simulated":true,"measurements":["%s","%s"]}\n' "$RT_M_NORMAL" "$RT_M_WEAK" \
        > "$RT/owner/release.json"
    local r k
    for r in dataset model; do
        k=$RT/owner/data.key; [ $r = model ] && k=$RT/owner/model.key
        "$SAI_CLI" kbs put-resource --kbs "$RT_KBS" --ca "$RT/kbs-ca.crt" --admin-token-file "$RT/owner/kbs/admin.token" \
            --resource rt/$r/fm --secret-file "$k" --policy "$RT/owner/release.json" >/dev/null || return 1
    done
}

rt_run_as_attacker() { # rt_run_as_attacker normal|weak OUTDIR [options...]
    local mode=$1 out=$2 cli=$SAI_CLI
    shift 2
    [ "$mode" = weak ] && cli=$SAI_CLI_WEAK
    rt_attacker env ${RT_WEAKEN:+SAI_WEAKEN=$RT_WEAKEN} "$@" "$cli" run --quiet --threads 1 \
        --platform-socket "$RT/$mode/run/platform.sock" --out "$out" "$RT/spec.yaml"
}
