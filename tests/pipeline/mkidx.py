#!/usr/bin/python3
"""mkidx.py SRC_DIR OUT_DIR N_TRAIN N_TEST — cut the first N records of the
Fashion-MNIST IDX files (gzip'ed) into a small dataset for fast tests."""
import gzip, os, struct, sys

src, out, ntr, nte = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(out, exist_ok=True)
for split, n in (("train", ntr), ("t10k", nte)):
    for kind, dims in (("images-idx3-ubyte", 3), ("labels-idx1-ubyte", 1)):
        with gzip.open(os.path.join(src, f"{split}-{kind}.gz"), "rb") as f:
            data = f.read()
        magic = struct.unpack(">I", data[:4])[0]
        shape = list(struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims]))
        rec = 1
        for d in shape[1:]:
            rec *= d
        body = data[4 + 4 * dims:4 + 4 * dims + n * rec]
        shape[0] = n
        hdr = struct.pack(">I", magic) + struct.pack(">" + "I" * dims, *shape)
        with gzip.open(os.path.join(out, f"{split}-{kind}.gz"), "wb") as g:
            g.write(hdr + body)
