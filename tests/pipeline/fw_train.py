"""fw_train.py — the framework-mode test's PyTorch script (run by the
enclave's interpreter, `secureai run`): a tiny CNN, a few batches of the
run's Fashion-MNIST slice, the sealed model saved through the package.

First it tries what a script must not be able to do inside the enclave and
stops the run (an exception) if any of it works: open the plaintext dataset
or the sealed shard by path, create a plaintext model file, list a
directory, make a socket, fork. argv[1]: a plaintext dataset file, argv[2]:
a sealed shard, argv[3]: where a plaintext model would go.
"""
import os
import socket
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

import secureai.pipeline as sp
import secureai.torch as st

denied = []
attempts = [
    ("read the plaintext dataset", lambda: open(sys.argv[1], "rb").read(16)),
    ("read the sealed shard", lambda: open(sys.argv[2], "rb").read(16)),
    ("write a plaintext model", lambda: open(sys.argv[3], "wb").write(b"x")),
    ("torch.save to a path", lambda: torch.save({"w": torch.zeros(1)}, sys.argv[3])),
    ("list /", lambda: os.listdir("/")),
    ("make an AF_INET socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
    ("make an AF_UNIX socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)),
    ("fork", lambda: os.fork()),
]
for what, fn in attempts:
    try:
        fn()
    except (OSError, RuntimeError) as e:   # EACCES / EPERM from the sandbox (torch.save wraps it)
        denied.append(what)
        sp.progress(denied=what, error=type(e).__name__, errno=getattr(e, "errno", None))
        continue
    raise SystemExit("the sandbox allowed: " + what)

torch.manual_seed(int(sp.spec()["hyper"]["seed"]))
train, test = sp.dataset("train"), sp.dataset("test")
assert len(train) == 512 and len(test) == 256 and train.shape == (1, 28, 28), (len(train), len(test), train.shape)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 14 * 14, 10)

    def forward(self, x):
        return self.fc(torch.flatten(F.max_pool2d(F.relu(self.c1(x)), 2), 1))


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=float(sp.spec()["hyper"]["lr"]), momentum=0.9)
steps, loss = 0, torch.tensor(0.0)
for epoch in range(int(sp.spec()["hyper"]["epochs"])):
    for x, y in DataLoader(train, batch_size=int(sp.spec()["hyper"]["batch"]), shuffle=True, num_workers=0):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        steps += 1
    sp.progress(epoch=epoch + 1, loss=float(loss))
model.eval()
correct, tl = 0, 0.0
with torch.no_grad():
    for x, y in DataLoader(test, batch_size=128):
        out = model(x)
        tl += float(F.cross_entropy(out, y, reduction="sum"))
        correct += int((out.argmax(1) == y).sum())
sp.report(test_accuracy=correct / len(test), test_loss=tl / len(test), train_loss=float(loss), steps=steps)
st.save(model.state_dict())
