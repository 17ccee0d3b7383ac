#!/usr/bin/python3
"""torch_ref.py DIR — the PyTorch side of test_nn_torch (run with Debian's
/usr/bin/python3 + python3-torch).

The C test runs the engine first and leaves in DIR: cfg.txt (N C H W classes
lr momentum wd nesterov steps), batch.bin (x float32 [N,C,H,W], y int32 [N]),
and per step s: state<s>.bin, the engine's every tensor and momentum buffer
before step s, and masks<s>.bin, the engine's ReLU masks of step s (u32
count then one byte per unit, per ReLU in op order).

Every step is recomputed from the engine's own state before it, twice: in
float64 (the reference) and in float32 (whose distance from float64 is
PyTorch's own float32 rounding error on this data, from which the C test
derives its tolerances). Steps are independent, so one step's rounding
cannot carry into the next one's comparison.

A ReLU whose float64 input lies within tau of zero is at its kink: float32
rounding may put it on either side, and which side it lands on changes the
gradient by that unit's whole contribution (the engine's Winograd
convolutions and PyTorch's float32 both do this a few times in 10^6 units).
There both runs take the engine's side, so the comparison measures rounding
and not the coin toss. tau is TAU_K times float32 PyTorch's largest error at
that ReLU on this data (about 3e-6 of the input's standard deviation, so tau
~1e-4 of it: every float32 error measured, Winograd's included, is below a
third of tau). Everywhere else the float64 sign decides, for both runs.

Writes DIR/ref32.bin (float32) and DIR/ref64.bin (float64), per step: the
loss, the logits, every trainable parameter's gradient (in the file's tensor
order), then every tensor after the SGD step. Nothing is stored in the
repository: the C test writes the inputs, this script produces the fixture
at test time."""
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from torch_resnet import resnet8  # noqa: E402

TAU_K = 32
MAX_SETTLED = 1000    # ReLUs settled per step: a handful is expected, not thousands


class MaskedRelu(torch.autograd.Function):
    """relu(x) forward; backward passes the gradient where holder["mask"]
    (set after the forward pass, before backward) is true."""

    @staticmethod
    def forward(ctx, x, holder):
        ctx.holder = holder
        return F.relu(x)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.holder["mask"].to(g.dtype), None


class Sites:
    """The network's ReLUs in call order: their inputs and mask holders."""

    def __init__(self):
        self.pre, self.holders = [], []

    def act(self, x):
        holder = {}
        self.pre.append(x.detach())
        self.holders.append(holder)
        return MaskedRelu.apply(x, holder)


def read_tensors(path):
    raw = open(path, "rb").read()
    (count,), off = struct.unpack_from("<I", raw, 0), 4
    names, data, mom = [], {}, {}
    for _ in range(count):
        (nl,) = struct.unpack_from("<H", raw, off); off += 2
        name = raw[off:off + nl].decode(); off += nl
        (numel, has_mom) = struct.unpack_from("<IB", raw, off); off += 5
        data[name] = torch.frombuffer(bytearray(raw[off:off + 4 * numel]), dtype=torch.float32)
        off += 4 * numel
        if has_mom:
            mom[name] = torch.frombuffer(bytearray(raw[off:off + 4 * numel]), dtype=torch.float32)
            off += 4 * numel
        names.append(name)
    return names, data, mom


def read_masks(path):
    raw = open(path, "rb").read()
    off, out = 0, []
    while off < len(raw):
        (n,) = struct.unpack_from("<I", raw, off); off += 4
        out.append(torch.frombuffer(bytearray(raw[off:off + n]), dtype=torch.uint8).bool())
        off += n
    return out


def setup(dtype, names, data, mom, c, classes, lr, m, wd, nesterov):
    sites = Sites()
    model = resnet8(c, classes, act=sites.act).to(dtype)
    sd = model.state_dict()
    for k in sd:
        if not k.endswith("num_batches_tracked"):
            sd[k] = data[k].reshape(sd[k].shape).to(dtype).clone()
    model.load_state_dict(sd)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=m, weight_decay=wd,
                          nesterov=nesterov)
    params = dict(model.named_parameters())
    for name, p in params.items():
        # the engine's buffer (zero before the first step: torch's first
        # step sets buf = grad, the engine's buf = 0.9 * 0 + grad)
        opt.state[p]["momentum_buffer"] = mom[name].reshape(p.shape).to(dtype).clone()
    return model, opt, sites, params, dict(model.named_buffers())


def main():
    d = sys.argv[1]
    torch.set_num_threads(1)
    cfg = open(f"{d}/cfg.txt").read().split()
    n, c, h, w, classes = (int(v) for v in cfg[:5])
    lr, m, wd = (float(v) for v in cfg[5:8])
    nesterov, steps = bool(int(cfg[8])), int(cfg[9])
    b = open(f"{d}/batch.bin", "rb").read()
    x = torch.frombuffer(bytearray(b[:4 * n * c * h * w]), dtype=torch.float32).reshape(n, c, h, w)
    y = torch.frombuffer(bytearray(b[4 * n * c * h * w:]), dtype=torch.int32).long()
    out = {torch.float32: [], torch.float64: []}
    for s in range(steps):
        names, data, mom = read_tensors(f"{d}/state{s}.bin")
        emask = read_masks(f"{d}/masks{s}.bin")
        runs = {}
        for dt in (torch.float32, torch.float64):
            model, opt, sites, params, bufs = setup(dt, names, data, mom, c, classes, lr, m, wd,
                                                    nesterov)
            opt.zero_grad()
            logits = model(x.to(dt))
            loss = F.cross_entropy(logits, y)
            runs[dt] = (model, opt, sites, params, bufs, logits, loss)
        s32, s64 = runs[torch.float32][2], runs[torch.float64][2]
        assert len(s64.pre) == len(emask), f"{len(s64.pre)} ReLUs here, {len(emask)} in the engine"
        settled = 0
        for i, (p32, p64) in enumerate(zip(s32.pre, s64.pre)):
            flat = p64.reshape(-1)
            assert flat.numel() == emask[i].numel()
            tau = TAU_K * (p32.double() - p64).abs().max().item()
            amb = flat.abs() < tau
            settled += int(amb.sum())
            mask = torch.where(amb, emask[i], flat > 0).reshape(p64.shape)
            s32.holders[i]["mask"] = mask
            s64.holders[i]["mask"] = mask
        print(f"step {s}: {settled} ReLU(s) at the kink settled to the engine's side")
        assert settled <= MAX_SETTLED
        for dt in (torch.float32, torch.float64):
            model, opt, sites, params, bufs, logits, loss = runs[dt]
            loss.backward()
            parts = [loss.detach().reshape(1), logits.detach().reshape(-1)]
            for name in names:
                if name in params:
                    parts.append(params[name].grad.detach().reshape(-1).clone())
            opt.step()
            with torch.no_grad():
                for name in names:
                    t = params[name] if name in params else bufs[name]
                    parts.append(t.detach().reshape(-1).clone())
            out[dt].append(torch.cat(parts))
    for dt, fname in ((torch.float32, "ref32.bin"), (torch.float64, "ref64.bin")):
        open(f"{d}/{fname}", "wb").write(torch.cat(out[dt]).contiguous().numpy().tobytes())


if __name__ == "__main__":
    main()
