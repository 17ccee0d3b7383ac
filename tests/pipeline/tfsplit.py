#!/usr/bin/python3
"""tfsplit.py SRC OUT_DIR N_TRAIN N_TEST PREFIX — copy the first N_TRAIN
records of a TFRecord file to OUT_DIR/train-PREFIX.tfrecord and the next
N_TEST to OUT_DIR/test-PREFIX.tfrecord (frames copied byte for byte, CRCs
included)."""
import os, struct, sys

src, out, ntr, nte, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
data = open(src, "rb").read()
frames, off = [], 0
while off < len(data):
    (n,) = struct.unpack_from("<Q", data, off)
    frames.append(data[off:off + 16 + n])
    off += 16 + n
assert len(frames) >= ntr + nte, "not enough records"
os.makedirs(out, exist_ok=True)
for split, part in (("train", frames[:ntr]), ("test", frames[ntr:ntr + nte])):
    with open(os.path.join(out, "%s-%s.tfrecord" % (split, prefix)), "wb") as f:
        f.write(b"".join(part))
