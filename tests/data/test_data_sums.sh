#!/usr/bin/env bash
# test_data_sums.sh — tests/data is what the README files say it is: every
# data file is listed in SHA256SUMS with the hash of its bytes, nothing listed
# is missing, and the README of its directory states the same SHA-256.
set -euo pipefail
d="${SAI_TEST_DATA_DIR:?}"
cd "$d"
fail=0
bad() { echo "FAIL: $*"; fail=1; }

sha256sum --quiet --strict -c SHA256SUMS || bad "SHA256SUMS does not match the bytes"
listed=$(awk '{print $2}' SHA256SUMS | sort)
present=$(find . -type f ! -name README.md ! -name SHA256SUMS ! -name 'test_*.sh' | sed 's|^\./||' | sort)
[ "$listed" = "$present" ] || bad "files and SHA256SUMS differ: $(diff <(echo "$listed") <(echo "$present") | grep '^[<>]' | tr '\n' ' ')"
n=0
while read -r sum path; do
  readme="$(dirname "$path")/README.md"
  name=$(basename "$path")
  if [ ! -f "$readme" ]; then bad "$readme missing"; continue; fi
  grep -qF "| \`$name\` |" "$readme" || { bad "$readme has no row for $name"; continue; }
  grep -F "| \`$name\` |" "$readme" | grep -qF "\`$sum\`" || bad "$readme: wrong SHA-256 for $name"
  n=$((n + 1))
done < SHA256SUMS
[ "$n" -gt 0 ] || bad "no data files"
echo "test data: $n files checked"
exit "$fail"
