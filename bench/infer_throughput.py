#!/usr/bin/python3
"""infer_throughput.py THREADS MODEL B64_RUNS LAT_RUNS — the PyTorch half of
bench/infer_throughput: the same ResNet (CIFAR variant, 32x32 input) in
eval mode under torch.no_grad(), batch-norm statistics set away from the
identity as the engine's side does, batch-64 images/s from the median of
B64_RUNS timed forwards (and from the fastest one) and the median (p50)
batch-1 latency of LAT_RUNS forwards, each after a warm-up. Prints one JSON line. Run with Debian's
/usr/bin/python3 (python3-torch); bench/infer_throughput.c starts it once
per model and round, alternating with the engine."""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from torch_resnet import Basic, Bottleneck, ResNet  # noqa: E402

MODELS = {
    "resnet8": lambda: ResNet(Basic, [1, 1, 1], [16, 32, 64]),
    "resnet18": lambda: ResNet(Basic, [2, 2, 2, 2], [64, 128, 256, 512]),
    "resnet50": lambda: ResNet(Bottleneck, [3, 4, 6, 3], [64, 128, 256, 512]),
}


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def main():
    threads, name = int(sys.argv[1]), sys.argv[2]
    b64_runs, lat_runs = int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = MODELS[name]()
    # One training-mode forward and backward first: with Debian's torch 1.13
    # here, a model whose first convolutions ran in eval mode under no_grad
    # stays on a path ~6x slower (ResNet-8 batch 64: ~1,300 against ~8,000
    # images/s) for the whole process; a model that has been trained, as any
    # served model has, takes the fast one. Measuring the slow path would
    # flatter the engine.
    m.train()
    torch.nn.functional.cross_entropy(m(torch.randn(64, 3, 32, 32)), torch.randint(0, 10, (64,))).backward()
    m.zero_grad(set_to_none=True)
    m.eval()
    # Batch-norm statistics and affine parameters away from the identity, as
    # the engine's side sets them (var, gamma in [0.5, 1.5), mean, beta in
    # [-0.1, 0.1)).
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                n = mod.num_features
                mod.running_var.copy_(0.5 + torch.rand(n, generator=g))
                mod.weight.copy_(0.5 + torch.rand(n, generator=g))
                mod.running_mean.copy_(0.2 * (torch.rand(n, generator=g) - 0.5))
                mod.bias.copy_(0.2 * (torch.rand(n, generator=g) - 0.5))
    with torch.no_grad():
        x64 = torch.randn(64, 3, 32, 32)
        m(x64)
        t64 = []
        for _ in range(b64_runs):
            t = time.perf_counter()
            m(x64)
            t64.append(time.perf_counter() - t)
        x1 = torch.randn(1, 3, 32, 32)
        for _ in range(3):
            m(x1)
        lat = []
        for _ in range(lat_runs):
            t = time.perf_counter()
            m(x1)
            lat.append(time.perf_counter() - t)
    print(json.dumps({"model": name, "infer_images_per_s": 64 / median(t64),
                      "infer_images_per_s_best": 64 / min(t64),
                      "latency_ms": 1000 * median(lat)}), flush=True)


if __name__ == "__main__":
    main()
