#!/usr/bin/env bash
# setup.sh — install the pinned onnxruntime-node (package-lock.json) into
# ./node_modules with its install script skipped: the script only fetches
# GPU execution providers (which cannot download here); the CPU runtime
# (bin/napi-v6/linux/x64/libonnxruntime.so.1) ships in the npm tarball.
# Exits 77 (skip) when npm is missing or the registry cannot be reached.
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/../../helpers/npm_ci.sh" "$here" --ignore-scripts || exit 77
