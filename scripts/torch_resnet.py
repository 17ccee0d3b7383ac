"""torch_resnet.py — the PyTorch ResNet definitions (CIFAR variants) shared
by bench/train_throughput.py and tests/nn/torch_ref.py, so the benchmark
and the gradient reference train the very same network. Module and
parameter names (conv1, bn1, layer1.0.conv1, ..., fc) match the C engine's
tensor names (src/nn/model.c). `act` (default F.relu) is every ReLU of the
network, called in the C engine's op order (stem, then per block the inner
ReLU and the one after the residual add); tests/nn/torch_ref.py passes one
that settles ReLUs sitting at their kink. Import with Debian's
/usr/bin/python3."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Basic(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride, act=F.relu):
        super().__init__()
        self.act = act
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        y = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return self.act(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride, act=F.relu):
        super().__init__()
        self.act = act
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or cin != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        y = self.act(self.bn1(self.conv1(x)))
        y = self.act(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.act(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, block, blocks, widths, classes=10, cin=3, act=F.relu):
        super().__init__()
        self.act = act
        self.conv1 = nn.Conv2d(cin, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.stages, cin = [], widths[0]
        for s, (n, w) in enumerate(zip(blocks, widths)):
            seq = []
            for b in range(n):
                seq.append(block(cin, w, 2 if (s > 0 and b == 0) else 1, act))
                cin = w * block.expansion
            # layer1..layerN: the names the C engine's tensors carry
            self.add_module(f"layer{s + 1}", nn.Sequential(*seq))
            self.stages.append(f"layer{s + 1}")
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.act(self.bn1(self.conv1(x)))
        for name in self.stages:
            x = getattr(self, name)(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet8(cin=3, classes=10, act=F.relu):
    return ResNet(Basic, [1, 1, 1], [16, 32, 64], classes, cin, act)
