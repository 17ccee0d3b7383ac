#!/usr/bin/python3
"""format_oracle.py — an independent implementation of docs/format.md in
Python (python3-cryptography), used by test_format_oracle.sh as a golden
oracle: it must open what the C sealer writes, and the C unsealer must open
what it writes.

  format_oracle.py unseal KEYFILE SEALED OUT
  format_oracle.py seal KEYFILE KEYID CHUNK IN OUT
  format_oracle.py dataset KEYFILE DIR        (checks MAC, identity, shard hashes)
"""
import hashlib, hmac, json, os, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes

def hkdf(key, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)

def nonce(i, last):
    return i.to_bytes(11, "big") + (b"\x01" if last else b"\x00")

def unseal(key, blob):
    assert blob[:8] == b"SAI-SEAL", "magic"
    version, klen, reserved, chunk, length = struct.unpack(">HBBIQ", blob[8:24])
    assert version == 1 and reserved == 0 and 1 <= klen <= 64
    salt = blob[24:56]
    kid = blob[56:56 + klen]
    hdr = blob[:56 + klen]
    n = max(1, -(-length // chunk))
    assert len(blob) == len(hdr) + length + 16 * n, "size"
    aead = AESGCM(hkdf(key, salt, b"secureai/v1/file" + kid))
    out, pos = [], len(hdr)
    for i in range(n):
        clen = chunk if i < n - 1 else length - (n - 1) * chunk
        out.append(aead.decrypt(nonce(i, i == n - 1), blob[pos:pos + clen + 16], hdr))
        pos += clen + 16
    return b"".join(out)

def seal(key, kid, chunk, data):
    salt = os.urandom(32)
    hdr = b"SAI-SEAL" + struct.pack(">HBBIQ", 1, len(kid), 0, chunk, len(data)) + salt + kid
    aead = AESGCM(hkdf(key, salt, b"secureai/v1/file" + kid))
    n = max(1, -(-len(data) // chunk))
    parts = [hdr]
    for i in range(n):
        parts.append(aead.encrypt(nonce(i, i == n - 1), data[i * chunk:(i + 1) * chunk], hdr))
    return b"".join(parts)

def dataset(key, d):
    man = open(os.path.join(d, "manifest.json"), "rb").read()
    mac = bytes.fromhex(open(os.path.join(d, "manifest.mac")).read().strip())
    mk = hkdf(key, None, b"secureai/v1/manifest")
    assert hmac.compare_digest(hmac.new(mk, man, hashlib.sha256).digest(), mac), "manifest MAC"
    m = json.loads(man)
    canon = json.dumps(m, separators=(",", ":"), ensure_ascii=False).encode()
    assert canon == man, "manifest is not canonical"
    assert list(m) == ["type", "version", "key_id", "chunk_size", "shards"]
    for s in m["shards"]:
        assert list(s) == ["name", "size", "sha256", "format", "records"]
        blob = open(os.path.join(d, s["name"] + ".sealed"), "rb").read()
        assert hashlib.sha256(blob).hexdigest() == s["sha256"], "shard hash " + s["name"]
        assert len(unseal(key, blob)) == s["size"]
    print(hashlib.sha256(man).hexdigest())

if __name__ == "__main__":
    cmd, keyfile = sys.argv[1], sys.argv[2]
    key = open(keyfile, "rb").read()
    if cmd == "unseal":
        open(sys.argv[4], "wb").write(unseal(key, open(sys.argv[3], "rb").read()))
    elif cmd == "seal":
        data = open(sys.argv[5], "rb").read()
        open(sys.argv[6], "wb").write(seal(key, sys.argv[3].encode(), int(sys.argv[4]), data))
    elif cmd == "dataset":
        dataset(key, sys.argv[3])
    else:
        sys.exit("unknown command")
