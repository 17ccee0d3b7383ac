#!/usr/bin/python3
"""torch_sealed_fmnist.py [EPOCHS] — the acceptance run of issue 16's PyTorch
path: a ResNet-8 (scripts/torch_resnet.py) trained with the same seed on the
real Fashion-MNIST (Debian dataset-fashion-mnist) twice, once from the
plaintext IDX files and once from the sealed dataset through
secureai.torch.SealedDataset, both through DataLoader(num_workers=2); reports
both test accuracies (target: within 0.3 points; same seed, same order, so
they should be identical) and the epoch-time ratio (target <= 3% overhead).
Too slow for the test suite (minutes per epoch on 2 cores): `make bench`
or run it directly with SAI_CLI and SECUREAI_LIB set.
"""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import secureai.torch as st  # noqa: E402
import torch_resnet  # noqa: E402

SRC = os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist")
CLI = os.environ.get("SAI_CLI", os.path.join(HERE, "..", "build", "secureai"))
NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


class PlainIdx(torch.utils.data.Dataset):
    """The same samples as secureai.torch.SealedDataset, from plaintext files
    read the same way (pread of one record per item)."""

    def __init__(self, images, labels):
        self.fi, self.fl = open(images, "rb"), open(labels, "rb")
        self.n = os.fstat(self.fl.fileno()).st_size - 8

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        x = os.pread(self.fi.fileno(), 784, 16 + 784 * i)
        y = os.pread(self.fl.fileno(), 1, 8 + i)[0]
        return torch.frombuffer(bytearray(x), dtype=torch.uint8).float().div_(255.0) \
            .reshape(1, 28, 28), y


def run(train, test, epochs):
    torch.manual_seed(1)
    m = torch_resnet.resnet8(cin=1, classes=10)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(2)
    dl = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True, generator=g,
                                     num_workers=2, multiprocessing_context="fork")
    times = []
    for _ in range(epochs):
        m.train()
        t0 = time.perf_counter()
        for x, y in dl:
            opt.zero_grad()
            F.cross_entropy(m(x), y).backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    m.eval()
    correct = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(test, batch_size=500):
            correct += int((m(x).argmax(1) == y).sum())
    return correct / len(test), times


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    tmp = tempfile.mkdtemp(prefix="sai-fmnist-")
    try:
        plain = os.path.join(tmp, "plain")
        os.mkdir(plain)
        for n in NAMES:
            with gzip.open(os.path.join(SRC, n + ".gz")) as f, \
                    open(os.path.join(plain, n), "wb") as o:
                shutil.copyfileobj(f, o)
        key = os.path.join(tmp, "k")
        subprocess.run([CLI, "keygen", "--out", key], check=True, stdout=subprocess.DEVNULL)
        sealed = os.path.join(tmp, "sealed")
        subprocess.run([CLI, "seal", "--key", key, plain, sealed], check=True,
                       stdout=subprocess.DEVNULL)
        p = lambda n: os.path.join(plain, n)  # noqa: E731
        acc_p, t_p = run(PlainIdx(p(NAMES[0]), p(NAMES[1])), PlainIdx(p(NAMES[2]), p(NAMES[3])),
                         epochs)
        sd = lambda i, l: st.SealedDataset(sealed, key, images=i, labels=l)  # noqa: E731
        acc_s, t_s = run(sd(NAMES[0], NAMES[1]), sd(NAMES[2], NAMES[3]), epochs)
        res = {"epochs": epochs, "acc_plain": acc_p, "acc_sealed": acc_s,
               "acc_diff_points": 100 * (acc_s - acc_p), "epoch_s_plain": t_p,
               "epoch_s_sealed": t_s, "overhead": sum(t_s) / sum(t_p) - 1}
        print(json.dumps(res))
        print("resnet8 fashion-mnist, %d epoch(s): test accuracy plain %.2f%%, sealed %.2f%% "
              "(diff %.2f points, target <= 0.3: %s); epoch time sealed/plain %.3f "
              "(overhead %.1f%%, target <= 3%%: %s)" % (
                  epochs, 100 * acc_p, 100 * acc_s, res["acc_diff_points"],
                  "MET" if abs(res["acc_diff_points"]) <= 0.3 else "NOT MET",
                  1 + res["overhead"], 100 * res["overhead"],
                  "MET" if res["overhead"] <= 0.03 else "NOT MET"))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
