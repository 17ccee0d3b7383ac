#!/usr/bin/env bash
# install-deps.sh — the one place that lists SecureAI's Debian packages.
#
#   scripts/install-deps.sh [demo|check|bench]
#
# demo:  what building and running the default pipeline needs (lean).
# check: demo + what the tests need (cmocka, clang/libFuzzer, PyTorch for the
#        engine cross-check, Node.js/npm for the Kubernetes schema check).
# bench: check + benchmark tools.
#
# Idempotent: does nothing when every package is present. As non-root it prints
# the exact command to run and exits non-zero.
set -euo pipefail

mode=${1:-demo}

DEMO_PKGS=(
  build-essential cmake pkg-config
  libssl-dev nettle-dev libopenblas-dev libsqlite3-dev zlib1g-dev
  libevent-dev libyaml-dev libcjson-dev libseccomp-dev
  libprotobuf-c-dev protobuf-c-compiler
  dataset-fashion-mnist openssl
  libprotobuf-c-dev protobuf-c-compiler
)
CHECK_PKGS=(
  libcmocka-dev clang libclang-rt-14-dev llvm
  python3 python3-torch python3-numpy python3-cryptography
  nodejs
  libopenmpi-dev openmpi-bin
)
BENCH_PKGS=(
  hyperfine time
)

case "$mode" in
  demo)  pkgs=("${DEMO_PKGS[@]}") ;;
  check) pkgs=("${DEMO_PKGS[@]}" "${CHECK_PKGS[@]}") ;;
  bench) pkgs=("${DEMO_PKGS[@]}" "${CHECK_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
  -h|--help)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install-deps.sh: unknown mode '$mode' (demo|check|bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  # a package counts as present only when dpkg says it is fully installed
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

# npm ships inside some nodejs builds (NodeSource) and as its own package in
# Debian: ask for the package only when no npm is on the PATH.
if [ "$mode" != demo ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: missing packages; run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps.sh: done"
