"""fw_resnet8.py — the PyTorch script of issue 16's framework-mode acceptance
(bench/fw_resnet8_fmnist.sh): a ResNet-8 (the layout of scripts/torch_resnet.py,
inlined: the enclave runs one script's bytes) trained on Fashion-MNIST.

The same bytes run two ways:
  * in the framework mode of `secureai run` (the enclave's interpreter, its
    sandbox, the sealed dataset decrypted by the enclave and handed over
    through secureai.pipeline; the model sealed by the enclave);
  * as a plain `python3 fw_resnet8.py --plain SPEC.json DIR` on the plaintext
    IDX files in DIR through secureai.pipeline.plaintext (same tensors, same
    seed, so the same batches and the same arithmetic).
It reports test accuracy and each epoch's training time (sp.progress), and
in plain mode prints them as one JSON line.
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

import secureai.pipeline as sp
import secureai.torch as st

if not sp.active():
    if len(sys.argv) != 4 or sys.argv[1] != "--plain":
        raise SystemExit("usage: fw_resnet8.py --plain SPEC.json DIR (or run by secureai run)")
    spec = json.load(open(sys.argv[2]))
    def f(name):   # the IDX file, or its .gz
        p = os.path.join(sys.argv[3], name)
        return p if os.path.exists(p) else p + ".gz"
    sp.plaintext(spec, {"train": (f("train-images-idx3-ubyte"), f("train-labels-idx1-ubyte")),
                        "test": (f("t10k-images-idx3-ubyte"), f("t10k-labels-idx1-ubyte"))},
                 limits={"train": spec["hyper"].get("train_limit", 0), "test": spec["hyper"].get("test_limit", 0)},
                 threads=int(spec.get("threads", 2)))


class Basic(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet8(nn.Module):
    """conv 16, three stages of one basic block (16, 32, 64), avg pool, fc."""

    def __init__(self, cin=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = nn.Sequential(Basic(16, 16, 1))
        self.layer2 = nn.Sequential(Basic(16, 32, 2))
        self.layer3 = nn.Sequential(Basic(32, 64, 2))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


h = sp.spec()["hyper"]
torch.manual_seed(int(h["seed"]))
train, test = sp.dataset("train"), sp.dataset("test")
model = ResNet8()
opt = torch.optim.SGD(model.parameters(), lr=float(h["lr"]), momentum=0.9, weight_decay=5e-4)
g = torch.Generator().manual_seed(int(h["seed"]) + 1)
steps, loss, epoch_s = 0, torch.tensor(0.0), []
for epoch in range(int(h["epochs"])):
    model.train()
    t0 = time.perf_counter()
    for x, y in DataLoader(train, batch_size=int(h["batch"]), shuffle=True, generator=g, num_workers=0):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        steps += 1
    epoch_s.append(time.perf_counter() - t0)
    sp.progress(epoch=epoch + 1, loss=float(loss), epoch_s=epoch_s[-1])
model.eval()
correct, tl = 0, 0.0
with torch.no_grad():
    for x, y in DataLoader(test, batch_size=500):
        out = model(x)
        tl += float(F.cross_entropy(out, y, reduction="sum"))
        correct += int((out.argmax(1) == y).sum())
sp.report(test_accuracy=correct / len(test), test_loss=tl / len(test), train_loss=float(loss), steps=steps)
if sp.active():
    st.save(model.state_dict())
else:
    print(json.dumps({"test_accuracy": correct / len(test), "epoch_s": epoch_s, "steps": steps,
                      "train_records": len(train), "test_records": len(test)}))
