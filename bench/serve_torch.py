#!/usr/bin/python3
"""serve_torch.py — the PyTorch side of bench/serve.sh (Debian's
/usr/bin/python3 + python3-torch).

  serve_torch.py export DIR      ResNet-8 (scripts/torch_resnet.py, 1x28x28,
                                 10 classes, seeded random weights with
                                 non-trivial BN) -> DIR/r8.onnx (eval mode,
                                 torch.onnx.export) and DIR/r8.pt (the weights)
  serve_torch.py bench DIR IMAGES.raw REQUESTS THREADS
                                 PyTorch inference on the same weights, in
                                 process (no TLS, no HTTP: a lower bound for
                                 any PyTorch server): batch 1 one after
                                 another, and batch 16 (what the engine
                                 server gathers under load). Same line format
                                 as bench/serve_load.
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from torch_resnet import resnet8  # noqa: E402

MEAN, STD = 0.2860, 0.3530   # the engine's fashion-mnist normalisation


def model():
    torch.manual_seed(5)
    m = resnet8(cin=1, classes=10)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "export":
        m = model()
        torch.save(m.state_dict(), os.path.join(d, "r8.pt"))
        torch.onnx.export(m, torch.zeros(1, 1, 28, 28), os.path.join(d, "r8.onnx"), input_names=["input"],
                          output_names=["logits"], opset_version=13,
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        return
    raw, reqs, threads = open(sys.argv[3], "rb").read(), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    m = resnet8(cin=1, classes=10)
    m.load_state_dict(torch.load(os.path.join(d, "r8.pt")))
    m.eval()
    n = len(raw) // 784
    x = ((torch.frombuffer(bytearray(raw[:n * 784]), dtype=torch.uint8).float() / 255.0 - MEAN) / STD)
    x = x.reshape(n, 1, 28, 28)
    for b, label in ((1, "clients 1"), (16, "batch 16")):
        lat = []
        with torch.inference_mode():
            for i in range(3):
                m(x[:b])
            t0 = time.monotonic()
            for i in range(reqs):
                j = (i * b) % (n - b)
                s = time.monotonic()
                m(x[j:j + b]).softmax(1).topk(1)
                lat.append(time.monotonic() - s)
            wall = time.monotonic() - t0
        lat.sort()
        print("%s requests %d images/request %d rps %.1f p50_ms %.3f p99_ms %.3f failed 0"
              % (label, reqs, b, reqs / wall, lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3))


if __name__ == "__main__":
    main()
