#!/usr/bin/python3
"""train_throughput.py THREADS — the PyTorch half of bench/train_throughput:
the same ResNet-8 / ResNet-18 / ResNet-50 (CIFAR variants) trained with SGD
(momentum 0.9, weight decay 5e-4) on random 32x32 batches, plus batch-1
latency and batch-64 inference throughput. Prints one JSON object per line.
Run with Debian's /usr/bin/python3 (python3-torch)."""
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from torch_resnet import Basic, Bottleneck, ResNet  # noqa: E402


MODELS = {
    "resnet8": lambda: ResNet(Basic, [1, 1, 1], [16, 32, 64]),
    "resnet18": lambda: ResNet(Basic, [2, 2, 2, 2], [64, 128, 256, 512]),
    "resnet50": lambda: ResNet(Bottleneck, [3, 4, 6, 3], [64, 128, 256, 512]),
}


def bench(name, batch, steps, lat_runs, inf_runs):
    torch.manual_seed(0)
    m = MODELS[name]()
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    m.train()

    def step():
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()

    step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    times.sort()
    train = batch / times[len(times) // 2]   # the median step: robust to a busy neighbour
    m.eval()
    with torch.no_grad():
        x1 = torch.randn(1, 3, 32, 32)
        m(x1)
        lat = []
        for _ in range(lat_runs):
            t = time.perf_counter()
            m(x1)
            lat.append(time.perf_counter() - t)
        lat.sort()
        x64 = torch.randn(64, 3, 32, 32)
        m(x64)
        t = time.perf_counter()
        for _ in range(inf_runs):
            m(x64)
        inf = 64 * inf_runs / (time.perf_counter() - t)
    return {"model": name, "batch": batch, "train_images_per_s": train,
            "latency_ms": 1000 * lat[len(lat) // 2], "infer_images_per_s": inf,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    only = sys.argv[2].split(",") if len(sys.argv) > 2 else None
    torch.set_num_threads(threads)
    for name, batch, steps, lat, inf in (("resnet8", 128, 9, 20, 4), ("resnet18", 64, 5, 5, 2),
                                         ("resnet50", 32, 5, 5, 2)):
        if only and name not in only:
            continue
        print(json.dumps(bench(name, batch, steps, lat, inf)), flush=True)


if __name__ == "__main__":
    main()
