#!/usr/bin/env bash
# Red-team attack 5 (issue 11): the launcher has the platform measure the
# spec the KBS admits and then hands the enclave another one. Countermeasure:
# the platform records HOST_DATA = SHA-256 of the spec it measured and the
# enclave refuses a spec whose SHA-256 differs from its own report's
# HOST_DATA. Switch: spec_host_data (the enclave skips that check).
. "$(dirname "$0")/rt_common.sh"
rt_require_root_or_skip
RT_WEAKEN=spec_host_data
. "$(dirname "$0")/rt_world.sh"
trap rt_world_stop EXIT
rt_world_start || { echo "FAIL - set-up"; exit 1; }
# The attacker's other spec: same pipeline, other training (a seed the
# data owner never approved).
sed 's/^  lr: 0.05$/  lr: 0.05\n  seed: 666/' "$RT/spec.yaml" > "$RT/atk/other.yaml"
chown "$RT_USER:" "$RT/atk/other.yaml"
for s in spec other; do
    f=$RT/spec.yaml; [ $s = other ] && f=$RT/atk/other.yaml
    rt_attacker "$SAI_CLI" run --measure --platform-socket "$RT/normal/run/platform.sock" \
        --canonical-out "$RT/atk/$s.canon" "$f" >/dev/null || { echo "FAIL - canonical $s"; exit 1; }
done
cmp -s "$RT/atk/spec.canon" "$RT/atk/other.canon" && { echo "FAIL - the two specs are the same"; exit 1; }

attack() { # attack normal|weak
    rt_attacker /usr/bin/python3 "$SAI_SOURCE_DIR/tests/redteam/swap_spec_host.py" "$RT/$1/run/platform.sock" \
        "$RT/atk/spec.canon" "$RT/atk/other.canon" "$RT_KBS" "$RT/kbs-ca.crt"
}

rt_expect_fail "shipped: the enclave refuses a spec other than the measured one" attack normal
rt_expect_ok "weakened (spec_host_data): the enclave runs a spec other than the measured one" attack weak
rt_done
