#!/usr/bin/env bash
# test_cli.sh — the keygen / seal / unseal / inspect commands end to end:
# exit codes, `secureai: ...` messages naming file and chunk, no output left
# behind by a failed unseal, keygen's refusal to overwrite, mode 0600.
set -uo pipefail
CLI=$(realpath "${SAI_CLI:?SAI_CLI not set}")
t=$(mktemp -d /tmp/sai-cli-XXXXXX)
trap 'rm -rf "$t"' EXIT
fails=0
ok()   { echo "ok   - $*"; }
bad()  { echo "FAIL - $*"; fails=$((fails + 1)); }
expect_rc() {  # expect_rc WANT DESC cmd...
  local want=$1 desc=$2; shift 2
  "$@" >"$t/out" 2>"$t/err"; local rc=$?
  if [ "$rc" -eq "$want" ]; then ok "$desc (rc $rc)"; else bad "$desc: rc $rc, want $want; stderr: $(cat "$t/err")"; fi
}
err_has() {  # err_has DESC PATTERN
  if grep -qE -- "$2" "$t/err"; then ok "$1"; else bad "$1: stderr lacks /$2/: $(cat "$t/err")"; fi
}
cd "$t"

# --help on every sub-command
for c in keygen seal unseal inspect; do
  expect_rc 0 "$c --help" "$CLI" "$c" --help
  grep -q "^usage: secureai $c" out && ok "$c --help prints usage" || bad "$c --help text"
done

# keygen: mode 0600, 32 bytes, refuses to overwrite
expect_rc 0 "keygen" "$CLI" keygen --out key
[ "$(stat -c %a key)" = 600 ] && ok "key mode 0600" || bad "key mode $(stat -c %a key)"
[ "$(stat -c %s key)" = 32 ] && ok "key is 32 bytes" || bad "key size"
cp key key.orig
expect_rc 1 "keygen refuses to overwrite" "$CLI" keygen --out key
err_has "keygen overwrite message" '^secureai: keygen: .*key already exists'
cmp -s key key.orig && ok "key unchanged" || bad "key was changed"
expect_rc 0 "second key" "$CLI" keygen --out key2
expect_rc 2 "keygen without --out" "$CLI" keygen

# a key readable by others is refused
cp key loose; chmod 644 loose
head -c 200000 /dev/urandom >plain
expect_rc 1 "seal with a group/world-readable key" "$CLI" seal --key loose plain x.sealed
err_has "loose key message" '^secureai: seal: key file loose is accessible'

# seal / unseal round trip, odd chunk size, key id
expect_rc 0 "seal" "$CLI" seal --key key --key-id tenant-a --chunk-size 1000 plain plain.sealed
expect_rc 0 "unseal" "$CLI" unseal --key key plain.sealed plain.out
cmp -s plain plain.out && ok "round trip identical" || bad "round trip differs"
[ "$(stat -c %a plain.out)" = 600 ] && ok "unsealed output mode 0600" || bad "unsealed mode"
"$CLI" unseal --key key plain.sealed - >stdout.out 2>"$t/err" && cmp -s plain stdout.out \
  && ok "unseal to stdout" || bad "unseal to stdout"
expect_rc 1 "seal refuses to overwrite" "$CLI" seal --key key plain plain.sealed
expect_rc 1 "unseal refuses to overwrite" "$CLI" unseal --key key plain.sealed plain.out
expect_rc 2 "bad chunk size" "$CLI" seal --key key --chunk-size 8 plain y.sealed
expect_rc 2 "bad key id" "$CLI" seal --key key --key-id 'a b' plain y.sealed
expect_rc 0 "empty file" bash -c ": >empty && '$CLI' seal --key key empty empty.sealed && '$CLI' unseal --key key empty.sealed empty.out && cmp empty empty.out"

# inspect: header fields, never plaintext
printf 'TOP-SECRET-PLAINTEXT-%.0s' {1..100} >secret
expect_rc 0 "seal secret" "$CLI" seal --key key secret secret.sealed
expect_rc 0 "inspect" "$CLI" inspect secret.sealed
grep -q "key id       default" out && grep -q "length       2100 bytes" out && ok "inspect fields" || bad "inspect fields: $(cat out)"
grep -q TOP-SECRET out && bad "inspect printed plaintext" || ok "inspect prints no plaintext"
expect_rc 0 "inspect --json" "$CLI" inspect --json --key key secret.sealed
/usr/bin/python3 -c 'import json,sys; d=json.load(open("out")); assert d["length"]==2100 and d["verified"]' \
  && ok "inspect --json parses" || bad "inspect --json: $(cat out)"
grep -q TOP-SECRET out && bad "inspect --json printed plaintext" || ok "inspect --json prints no plaintext"

# tampering: a flipped byte in chunk 150 of plain.sealed (chunk size 1000)
hl=$((56 + 8))
cp plain.sealed flip.sealed
off=$((hl + 150 * 1016 + 10))
/usr/bin/python3 "$SAI_SOURCE_DIR/tests/helpers/flip_byte.py" flip.sealed $off
expect_rc 1 "unseal of a modified file fails" "$CLI" unseal --key key flip.sealed flip.out
err_has "message names file and chunk" '^secureai: unseal: flip.sealed: chunk 150 of 200: authentication failed'
[ ! -e flip.out ] && ok "no output file after failed unseal" || bad "flip.out left behind"
ls | grep -q 'flip.out.tmp' && bad "temp file left behind" || ok "no temp file left behind"
"$CLI" unseal --key key flip.sealed - >flip.stdout 2>"$t/err"; rc=$?
[ "$rc" -eq 1 ] && [ ! -s flip.stdout ] && ok "stdout unseal writes nothing when a chunk fails" \
  || bad "stdout unseal rc=$rc, $(stat -c %s flip.stdout) bytes written"

# truncated, extended, wrong key, wrong key id in the header
head -c -100 plain.sealed >trunc.sealed
expect_rc 1 "truncated" "$CLI" unseal --key key trunc.sealed t.out
err_has "truncation names the chunk" 'trunc.sealed: truncated: chunk 199 of 200'
[ ! -e t.out ] && ok "no output after truncation" || bad "t.out left"
cp plain.sealed ext.sealed; printf 'x' >>ext.sealed
expect_rc 1 "extended" "$CLI" unseal --key key ext.sealed e.out
err_has "extension message" 'ext.sealed: 1 unexpected bytes after the last chunk'
expect_rc 1 "wrong key" "$CLI" unseal --key key2 plain.sealed w.out
err_has "wrong key message" 'plain.sealed: chunk 199 of 200: authentication failed'
[ ! -e w.out ] && ok "no output after wrong key" || bad "w.out left"
cp plain.sealed kid.sealed
printf 'tenant-b' | dd of=kid.sealed bs=1 seek=56 conv=notrunc status=none
expect_rc 1 "edited key id" "$CLI" unseal --key key kid.sealed k.out
expect_rc 1 "not a sealed file" "$CLI" unseal --key key plain n.out
err_has "bad magic message" 'plain: not a sealed file'
expect_rc 1 "missing input" "$CLI" unseal --key key nonexistent n.out

# datasets
mkdir -p in/sub
head -c 70000 /dev/urandom >in/a.raw; head -c 5 /dev/urandom >in/sub/b.raw
expect_rc 0 "seal a directory" "$CLI" seal --key key in ds
grep -q '^dataset id: sha256:[0-9a-f]\{64\}$' out && ok "prints the dataset id" || bad "dataset id line: $(cat out)"
id=$(sed -n 's/^dataset id: sha256://p' out)
[ "$(sha256sum ds/manifest.json | cut -d' ' -f1)" = "$id" ] && ok "id = sha256(manifest.json)" || bad "id mismatch"
expect_rc 0 "inspect dataset" "$CLI" inspect ds
grep -q "sub/b.raw" out && grep -q "$id" out && ok "inspect lists shards and id" || bad "inspect ds: $(cat out)"
expect_rc 0 "unseal dataset" "$CLI" unseal --key key ds dsout
diff -r in dsout >/dev/null && ok "dataset round trip" || bad "dataset differs"
expect_rc 0 "seal and unseal with trailing slashes" "$CLI" seal --key key in/ ds-slash/
expect_rc 0 "unseal to a path with a trailing slash" "$CLI" unseal --key key ds-slash/ dsout-slash/
diff -r in dsout-slash >/dev/null && ok "trailing-slash round trip" || bad "trailing-slash dataset differs"
expect_rc 0 "second dataset" "$CLI" seal --key key in ds2
cp ds2/a.raw.sealed ds/a.raw.sealed
expect_rc 1 "shard from another dataset" "$CLI" unseal --key key ds dsbad
err_has "shard swap message" 'a.raw.sealed: shard does not match the manifest'
[ ! -e dsbad ] && ok "no output dir after failed dataset unseal" || bad "dsbad left"
ls | grep -q 'dsbad.tmp' && bad "temp dir left" || ok "no temp dir left"
sed -i 's/"records":0/"records":1/' ds2/manifest.json
expect_rc 1 "edited manifest" "$CLI" unseal --key key ds2 dsbad2
err_has "manifest message" 'manifest MAC does not verify'
expect_rc 1 "inspect --key on edited manifest" "$CLI" inspect --key key ds2

echo "test_cli.sh: $fails failure(s)"
[ "$fails" -eq 0 ]
