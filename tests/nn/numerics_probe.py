"""numerics_probe.py DIR — see numerics_probe.c: per step and ReLU, the
engine's and float32 PyTorch's error on the ReLU inputs against float64
PyTorch (relative to the inputs' standard deviation), the units each puts on
the wrong side of zero, and gradient errors for a few tensors."""
import os, sys, struct, numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from torch_resnet import resnet8
d = sys.argv[1]
torch.set_num_threads(1)
cfg = open(f"{d}/cfg.txt").read().split()
n, c, h, w, classes = (int(v) for v in cfg[:5])
lr, mom, wd = (float(v) for v in cfg[5:8]); nesterov, steps = bool(int(cfg[8])), int(cfg[9])
raw = open(f"{d}/weights.bin", "rb").read()
(count,), off = struct.unpack_from("<I", raw, 0), 4
names, tensors = [], {}
for _ in range(count):
    (nl,) = struct.unpack_from("<H", raw, off); off += 2
    name = raw[off:off + nl].decode(); off += nl
    (numel,) = struct.unpack_from("<I", raw, off); off += 4
    tensors[name] = torch.frombuffer(bytearray(raw[off:off + 4 * numel]), dtype=torch.float32); off += 4 * numel
    names.append(name)
b = open(f"{d}/batch.bin", "rb").read()
x0 = torch.frombuffer(bytearray(b[:4*n*c*h*w]), dtype=torch.float32).reshape(n, c, h, w)
y = torch.frombuffer(bytearray(b[4*n*c*h*w:]), dtype=torch.int32).long()

def run(dtype):
    model = resnet8(c, classes).to(dtype)
    sd = model.state_dict()
    for k in sd:
        if not k.endswith("num_batches_tracked"):
            sd[k] = tensors[k].reshape(sd[k].shape).to(dtype).clone()
    model.load_state_dict(sd); model.train()
    cap = {}
    def hook(name):
        def f(mod, inp, out): cap[name] = out.detach().clone()
        return f
    for nm, mod in model.named_modules():
        if isinstance(mod, torch.nn.BatchNorm2d): mod.register_forward_hook(hook(nm))
        if nm in ("layer1.0", "layer2.0", "layer3.0"):
            mod.register_forward_pre_hook(lambda mod, inp, nm=nm: cap.__setitem__(nm + ".in", inp[0].detach().clone()))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=mom, weight_decay=wd, nesterov=nesterov)
    params = dict(model.named_parameters())
    pres, grads = [], []
    for s in range(steps):
        opt.zero_grad()
        logits = model(x0.to(dtype))
        loss = F.cross_entropy(logits, y); loss.backward()
        sites = [cap["bn1"]]
        for L in ("layer1.0", "layer2.0", "layer3.0"):
            sites.append(cap[L + ".bn1"])
            sc = cap[L + ".downsample.1"] if (L + ".downsample.1") in cap else cap[L + ".in"]
            sites.append(cap[L + ".bn2"] + sc)
        pres.append([t.double().numpy().ravel() for t in sites])
        grads.append({nm: params[nm].grad.double().numpy().ravel().copy() for nm in names if nm in params})
        opt.step()
    return pres, grads

p32, g32 = run(torch.float32); p64, g64 = run(torch.float64)
eng = np.fromfile(f"{d}/engine_pre.bin", dtype=np.float32).astype(np.float64)
eg = np.fromfile(f"{d}/engine_grad.bin", dtype=np.float32).astype(np.float64)
sitenames = ["bn1", "l1.bn1", "l1.add", "l2.bn1", "l2.add", "l3.bn1", "l3.add"]
pos = 0; gpos = 0
for s in range(steps):
    for i, nm in enumerate(sitenames):
        r = p64[s][i]; t = p32[s][i]; e = eng[pos:pos + r.size]; pos += r.size
        sd = r.std()
        fe = np.sign(e) != np.sign(r); ft = np.sign(t) != np.sign(r)
        fe &= (e != 0) | (r != 0)
        print(f"step {s} {nm:7s} n={r.size:6d} std={sd:.3f} err eng rms {np.sqrt(np.mean((e-r)**2))/sd:.2e} max {np.abs(e-r).max()/sd:.2e} | t32 rms {np.sqrt(np.mean((t-r)**2))/sd:.2e} max {np.abs(t-r).max()/sd:.2e} | flips eng {int(((e>0)!=(r>0)).sum())} t32 {int(((t>0)!=(r>0)).sum())} minmargin {np.abs(r).min()/sd:.1e}")
        for j in np.nonzero((e > 0) != (r > 0))[0][:3]:
            print(f"     eng flip at {j}: exact {r[j]:.3e} eng {e[j]:.3e} t32 {t[j]:.3e}")
    for nm in names:
        if nm not in g64[s]: continue
        r = g64[s][nm]; e = eg[gpos:gpos + r.size]; gpos += r.size
        t = g32[s][nm]
        ee = np.linalg.norm(e - r) / np.linalg.norm(r); et = np.linalg.norm(t - r) / np.linalg.norm(r)
        if nm in ("conv1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer2.0.conv1.weight", "fc.weight") or ee > 20 * et:
            print(f"  grad step {s} {nm:30s} eng {ee:.2e} t32 {et:.2e} ratio {ee/et:.1f}")
    # grads not printed
