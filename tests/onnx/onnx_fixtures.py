#!/usr/bin/python3
"""onnx_fixtures.py DIR [N] — the PyTorch side of tests/onnx/test_onnx_torch.c
(Debian's /usr/bin/python3 + python3-torch; nothing is stored in the
repository, the test runs this at test time).

Writes into DIR:
  fused.onnx     ResNet-8 (scripts/torch_resnet.py, 1x28x28 input, 10 classes)
                 from torch.onnx.export in eval mode: BatchNorm folded into
                 the convolutions (Conv with bias), Identity-shared weights
  bn.onnx        the same model exported with TrainingMode.PRESERVE (model in
                 eval mode): BatchNormalization nodes kept, each after a Conv
                 with a bias (every conv here has one)
  x.bin          N Fashion-MNIST test images (the Debian dataset package),
                 normalised as the engine does, float32 [N,1,28,28]
  torch.bin      PyTorch's logits for them, float32 [N,10]
  sigmoid.onnx   a small CNN with a Sigmoid: the importer must name it
  other.onnx     Conv-Relu-GAP-Gemm: supported operators, no engine architecture
The weights are random but not trivial: BN statistics and affine parameters
are drawn so that every BatchNorm changes its input."""
import gzip
import os
import struct
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from torch_resnet import resnet8  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530   # the engine's fashion-mnist normalisation (src/nn/dataset.c)


def images(n):
    with gzip.open(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    magic, count, h, w = struct.unpack(">IIII", raw[:16])
    assert magic == 0x803 and count >= n
    x = torch.frombuffer(bytearray(raw[16:16 + n * h * w]), dtype=torch.uint8)
    return ((x.float() / 255.0 - MEAN) / STD).reshape(n, 1, h, w)


def main():
    out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300
    torch.manual_seed(17)
    m = resnet8(cin=1, classes=10)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                # a bias on every convolution: bn.onnx then has Conv(bias) +
                # BatchNormalization, which the importer folds into the mean
                mod.bias = nn.Parameter(0.1 * torch.randn(mod.out_channels))
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.3, 0.3)
    x = images(n)
    m.eval()
    with torch.no_grad():
        logits = m(x)
    open(os.path.join(out, "x.bin"), "wb").write(x.contiguous().numpy().tobytes())
    open(os.path.join(out, "torch.bin"), "wb").write(logits.contiguous().numpy().tobytes())
    dummy = x[:1]
    kw = dict(input_names=["input"], output_names=["logits"], opset_version=13,
              dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    torch.onnx.export(m, dummy, os.path.join(out, "fused.onnx"), **kw)
    torch.onnx.export(m, dummy, os.path.join(out, "bn.onnx"),
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False, **kw)

    sig = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    torch.onnx.export(sig.eval(), dummy, os.path.join(out, "sigmoid.onnx"), **kw)
    other = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 10))
    torch.onnx.export(other.eval(), dummy, os.path.join(out, "other.onnx"), **kw)


if __name__ == "__main__":
    main()
