#!/usr/bin/env bash
# setup.sh — install the pinned npm packages (package-lock.json) that
# validate.mjs needs into ./node_modules. Called by
# tests/sched/test_k8s_schema.sh.
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../../helpers/npm_ci.sh" "$here"
