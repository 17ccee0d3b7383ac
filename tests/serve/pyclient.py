#!/usr/bin/python3
"""pyclient.py ENDPOINT POLICY IMAGES.idx.gz WANT.jsonl|refused — the Python
client (python/secureai/serve.py, over libsecureai.so's own verifying
client) against a running `secureai serve` (tests/serve/test_serve.sh).

With WANT.jsonl: secureai.serve.infer on the first 8 images must give what
`secureai infer` gave (same top-3 classes, p within 2e-6), and the
handshake must say sim evidence. With "refused": connecting must raise
PolicyError (the policy mismatches; nothing is sent)."""
import gzip, json, os, struct, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import secureai  # noqa: E402
import secureai.serve  # noqa: E402

ep, pol, idx, want = sys.argv[1:5]
with gzip.open(idx, "rb") as f:
    magic, count, h, w = struct.unpack(">IIII", f.read(16))
    imgs = [f.read(h * w) for _ in range(8)]
if want == "refused":
    try:
        secureai.serve.infer(ep, pol, imgs, top=3)
    except secureai.serve.PolicyError as e:
        assert "refused before sending anything" in str(e), str(e)
        print("refused:", e)
        sys.exit(0)
    sys.exit("FAIL: a mismatching policy was not refused")
with secureai.serve.Client(ep, pol) as c:
    assert c.verified["tee"] == "sim" and c.verified["simulated"], c.verified
    got = c.predict(imgs, top=3)
ref = [json.loads(l) for l in open(want)][:8]
assert len(got) == 8, len(got)
for a, b in zip(ref, got):
    assert a["image"] == b["image"], (a, b)
    assert [t["class"] for t in a["top"]] == [t["class"] for t in b["top"]], (a, b)
    assert all(abs(x["p"] - y["p"]) <= 2e-6 for x, y in zip(a["top"], b["top"])), (a, b)
print("same 8")
