#!/usr/bin/env bash
# test_format_oracle.sh — the C sealer against an independent Python
# implementation of docs/format.md (format_oracle.py, python3-cryptography):
# each side must open what the other wrote, for many sizes, chunk sizes and
# key ids, and the oracle recomputes a dataset's MAC, identity and hashes.
set -euo pipefail
CLI=$(realpath "${SAI_CLI:?SAI_CLI not set}")
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
oracle="$here/format_oracle.py"
$PY -c 'import cryptography' || { echo "python3-cryptography missing (scripts/install-deps.sh check)"; exit 1; }
t=$(mktemp -d /tmp/sai-oracle-XXXXXX)
trap 'rm -rf "$t"' EXIT
cd "$t"
"$CLI" keygen --out key 2>/dev/null
n=0
for spec in "0 16 a" "1 16 a" "15 16 kid-1" "16 16 x" "17 16 x" "1000 17 tenant/a:b" \
            "65535 65536 default" "65536 65536 default" "65537 65536 default" "300001 4097 k.z@v+1"; do
  set -- $spec
  head -c "$1" /dev/urandom >p
  rm -f c.sealed py.sealed back py.out
  "$CLI" seal --key key --chunk-size "$2" --key-id "$3" p c.sealed
  $PY "$oracle" unseal key c.sealed py.out
  cmp -s p py.out || { echo "FAIL: oracle cannot read C output ($spec)"; exit 1; }
  $PY "$oracle" seal key "$3" "$2" p py.sealed
  "$CLI" unseal --key key py.sealed back
  cmp -s p back || { echo "FAIL: C cannot read oracle output ($spec)"; exit 1; }
  n=$((n + 1))
done
echo "ok - $n size/chunk/key-id cases agree in both directions"
mkdir -p in/sub
head -c 5000 /dev/urandom >in/a; head -c 70000 /dev/urandom >in/sub/b; : >in/empty
id=$("$CLI" seal --key key --key-id ds in ds | sed -n 's/^dataset id: sha256://p')
[ "$($PY "$oracle" dataset key ds)" = "$id" ] || { echo "FAIL: dataset identity differs"; exit 1; }
echo "ok - dataset MAC, canonical form, shard hashes and identity agree"
