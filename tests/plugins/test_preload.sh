#!/usr/bin/env bash
# test_preload.sh — libsecureai-preload.so with unmodified programs: cat,
# sha256sum (stdio through fopencookie), cp out of and into the prefix,
# python3's open(), os.path.getsize, numpy.fromfile and torch.load read sealed
# files as their plaintext; files written under the prefix (cp, python3) are
# sealed, unseal with `secureai unseal` to the same bytes, and no plaintext
# byte is on disk even while the writer still has the file open. A flipped
# byte is EBADMSG naming the chunk, no key is EACCES, mmap is refused, and
# files outside the prefix are untouched. A self-check shows that without
# the preload the same cat sees ciphertext. About 7 s of CPU (two python3
# starts with torch).
set -euo pipefail
: "${SAI_BINARY_DIR:?}" "${SAI_CLI:?}"
LIB=$SAI_BINARY_DIR/libsecureai-preload.so
[ -f "$LIB" ] || { echo "FAIL: $LIB not built"; exit 1; }
# An ASan build's library cannot be preloaded into uninstrumented programs
# (the sanitizer runtime must come first): tested in the normal build only.
if nm -D "$LIB" 2>/dev/null | grep ' __asan_init' >/dev/null; then
    echo "SKIP: $LIB is an AddressSanitizer build"; exit 77
fi
PY=/usr/bin/python3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
sum() { sha256sum | cut -d' ' -f1; }
mkdir -p vault plain
"$SAI_CLI" keygen --out data.key >/dev/null
head -c 300001 /dev/urandom >plain/blob.bin          # 5 chunks, a partial last one
printf 'MARKER-%s\n' $(seq 1 20000) >plain/text.txt   # a string to look for on disk
"$SAI_CLI" seal --key data.key plain/blob.bin vault/blob.bin >/dev/null
want=$(sum <plain/blob.bin)
[ "$(sum <vault/blob.bin)" != "$want" ] || fail "the sealed file is the plaintext"
export SAI_PRELOAD_PREFIX=$tmp/vault SAI_PRELOAD_KEY_FILE=$tmp/data.key
run() { LD_PRELOAD=$LIB timeout 60 "$@"; }

# ---- reads --------------------------------------------------------------------
[ "$(run cat vault/blob.bin | sum)" = "$want" ] || fail "cat through the preload differs from the plaintext"
[ "$(run sha256sum vault/blob.bin | cut -d' ' -f1)" = "$want" ] || fail "sha256sum (stdio) differs"
run cp vault/blob.bin plain/copy.bin
[ "$(sum <plain/copy.bin)" = "$want" ] || fail "cp out of the prefix differs"
[ "$(run cat "$tmp/vault/../vault//blob.bin" | sum)" = "$want" ] || fail "a non-normal path was not recognised"
[ "$(run cat plain/blob.bin | sum)" = "$want" ] || fail "a file outside the prefix changed"
[ "$(cat vault/blob.bin | sum)" != "$want" ] || fail "self-check: plain cat must see ciphertext"

# The key through a descriptor instead of a file.
[ "$(SAI_PRELOAD_KEY_FILE= SAI_PRELOAD_KEY_FD=7 LD_PRELOAD=$LIB cat vault/blob.bin 7<data.key | sum)" = "$want" ] \
    || fail "key from SAI_PRELOAD_KEY_FD"

# ---- writes: sealed, never plaintext on disk ------------------------------------
run cp plain/text.txt vault/text.txt
head -c 8 vault/text.txt | grep -q '^SAI-SEAL' || fail "cp into the prefix did not seal"
! grep -q MARKER vault/text.txt || fail "plaintext in the file cp wrote"
[ "$("$SAI_CLI" unseal --key data.key vault/text.txt - | sum)" = "$(sum <plain/text.txt)" ] \
    || fail "the file cp sealed does not unseal to the original"

run "$PY" - "$tmp" <<'PYEOF'
import hashlib, os, subprocess, sys
tmp = sys.argv[1]
v = os.path.join(tmp, "vault")
plain = open(os.path.join(tmp, "plain/blob.bin"), "rb").read()
data = open(os.path.join(v, "blob.bin"), "rb").read()
assert data == plain, "python open().read() differs from the plaintext"
assert os.path.getsize(os.path.join(v, "blob.bin")) == len(plain), "stat size is not the plaintext size"
with open(os.path.join(v, "blob.bin"), "rb") as f:
    f.seek(131070); assert f.read(10) == plain[131070:131080], "seek + read across a chunk boundary"
    f.seek(-5, 2); assert f.read() == plain[-5:], "seek from the end"
    assert os.fstat(f.fileno()).st_size == len(plain)
    import mmap
    try:
        mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        raise AssertionError("mmap of a sealed file was not refused")
    except OSError:
        pass
import numpy
a = numpy.fromfile(os.path.join(v, "blob.bin"), dtype=numpy.uint8)
assert a.tobytes() == plain, "numpy.fromfile differs"
# Write with the file still open: nothing on disk holds the text yet.
env = {k: val for k, val in os.environ.items() if k != "LD_PRELOAD"}
f = open(os.path.join(v, "written.txt"), "w")
f.write("SECRET-LINE\n" * 50000); f.flush(); os.fsync(f.fileno())
f.write("SECRET-TAIL\n"); f.flush()
g = subprocess.run(["grep", "-rl", "SECRET-", tmp], env=env, capture_output=True, text=True)
assert g.stdout == "", "plaintext on disk while open: " + g.stdout
f.close()
g = subprocess.run(["grep", "-rl", "SECRET-", tmp], env=env, capture_output=True, text=True)
assert g.stdout == "", "plaintext on disk after close: " + g.stdout
assert open(os.path.join(v, "written.txt")).read() == "SECRET-LINE\n" * 50000 + "SECRET-TAIL\n"
# Append, read-modify-write through O_RDWR.
with open(os.path.join(v, "written.txt"), "a") as f:
    f.write("MORE\n")
with open(os.path.join(v, "written.txt"), "r+b") as f:
    f.seek(0); f.write(b"XECRET")
assert open(os.path.join(v, "written.txt")).read() == "XECRET-LINE\n" + "SECRET-LINE\n" * 49999 + "SECRET-TAIL\nMORE\n"
print("python: reads, writes, numpy ok")
PYEOF
head -c 8 vault/written.txt | grep -q '^SAI-SEAL' || fail "python's file is not sealed"
! grep -rq 'SECRET-' . || fail "plaintext on disk"
"$SAI_CLI" unseal --key data.key vault/written.txt - | tail -c 5 | grep -q MORE || fail "python's file does not unseal"

# torch.load reads a sealed checkpoint by path (written plain, sealed by cp).
if "$PY" -c 'import torch' 2>/dev/null; then
    "$PY" -c 'import torch; torch.save({"w": torch.arange(1000.0)}, "plain/m.pt")'
    run cp plain/m.pt vault/m.pt
    ! cmp -s plain/m.pt vault/m.pt || fail "the checkpoint was not sealed"
    run "$PY" -c 'import torch; m = torch.load("vault/m.pt"); assert float(m["w"].sum()) == 499500.0; print("torch.load ok")'
else
    fail "python3-torch missing (scripts/install-deps.sh check)"
fi

# ---- refusals ----------------------------------------------------------------------
cp vault/blob.bin vault/bad.bin
printf '\xff' | dd of=vault/bad.bin bs=1 seek=100000 conv=notrunc 2>/dev/null
if out=$(run cat vault/bad.bin 2>&1 >/dev/null); then fail "a flipped byte was read"; fi
grep -q 'chunk 1 of 5' <<<"$out" || fail "the error does not name the chunk: $out"
grep -q 'Bad message' <<<"$out" || fail "not EBADMSG: $out"
if out=$(SAI_PRELOAD_KEY_FILE= LD_PRELOAD=$LIB cat vault/blob.bin 2>&1 >/dev/null); then fail "read without a key"; fi
grep -q 'Permission denied' <<<"$out" || fail "no key is not EACCES: $out"
echo "preload: all checks passed"
