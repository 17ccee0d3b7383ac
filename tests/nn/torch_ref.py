#!/usr/bin/python3
"""torch_ref.py DIR — the PyTorch side of test_nn_torch (run with Debian's
/usr/bin/python3 + python3-torch). Reads DIR/weights.bin (the C engine's
initial ResNet-8 tensors by name), DIR/batch.bin (x float32 [N,C,H,W], y
int32 [N]) and DIR/cfg.txt (N C H W classes lr momentum wd nesterov steps),
runs `steps` SGD steps in training mode on that batch and writes
DIR/torch.bin: per step the loss, the logits and every trainable
parameter's gradient (in the file's tensor order), then the final value of
every tensor. Nothing is stored in the repository: the C test writes the
inputs, this script produces the fixture at test time."""
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from torch_resnet import resnet8  # noqa: E402


def main():
    d = sys.argv[1]
    torch.set_num_threads(1)
    cfg = open(f"{d}/cfg.txt").read().split()
    n, c, h, w, classes = (int(v) for v in cfg[:5])
    lr, mom, wd = (float(v) for v in cfg[5:8])
    nesterov, steps = bool(int(cfg[8])), int(cfg[9])
    raw = open(f"{d}/weights.bin", "rb").read()
    (count,), off = struct.unpack_from("<I", raw, 0), 4
    names, tensors = [], {}
    for _ in range(count):
        (nl,) = struct.unpack_from("<H", raw, off); off += 2
        name = raw[off:off + nl].decode(); off += nl
        (numel,) = struct.unpack_from("<I", raw, off); off += 4
        tensors[name] = torch.frombuffer(bytearray(raw[off:off + 4 * numel]), dtype=torch.float32)
        off += 4 * numel
        names.append(name)
    model = resnet8(c, classes)
    sd = model.state_dict()
    for k in sd:
        if k.endswith("num_batches_tracked"):
            continue
        sd[k] = tensors[k].reshape(sd[k].shape).clone()
    model.load_state_dict(sd)
    model.train()
    b = open(f"{d}/batch.bin", "rb").read()
    x = torch.frombuffer(bytearray(b[:4 * n * c * h * w]), dtype=torch.float32).reshape(n, c, h, w)
    y = torch.frombuffer(bytearray(b[4 * n * c * h * w:]), dtype=torch.int32).long()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=mom, weight_decay=wd,
                          nesterov=nesterov)
    params = dict(model.named_parameters())
    bufs = dict(model.named_buffers())
    out = bytearray()
    for _ in range(steps):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        out += struct.pack("<f", loss.item())
        out += logits.detach().contiguous().numpy().tobytes()
        for name in names:
            if name in params:
                out += params[name].grad.contiguous().numpy().tobytes()
        opt.step()
    with torch.no_grad():
        for name in names:
            t = params[name] if name in params else bufs[name]
            out += t.contiguous().numpy().tobytes()
    open(f"{d}/torch.bin", "wb").write(bytes(out))


if __name__ == "__main__":
    main()
