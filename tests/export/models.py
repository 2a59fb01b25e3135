"""PyTorch models the exporter tests translate (tests/unit/test_export.c).

Each is written the way people write PyTorch, not the way the exporter
would like: functional ops, tensor methods, in-place variants, views.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class MnistNet(nn.Module):
    """The seed's MNIST example: one conv, ReLU, 2x2 max pool, one linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3, 1, 1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(16 * 14 * 14, 10)

    def forward(self, x):
        x = self.pool(self.relu(self.conv(x)))
        x = x.view(x.size(0), -1)
        return self.fc(x)


class Digits(nn.Module):
    """tools/train_digits.py's model, as written there (models/digits.net)."""

    def __init__(self):
        super().__init__()
        # No conv bias before batchnorm (PyTorch idiom): cnnc's fold makes one.
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16, eps=1e-5)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


class Block(nn.Module):
    """A residual block in functional style, with an even 'same' kernel."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, (4, 2), padding="same")

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.conv2(y)
        y += x
        return y.relu()


class Mixed(nn.Module):
    """Residual and concatenated branches, functional ops, three outputs."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding="same", padding_mode="reflect")
        self.bn = nn.BatchNorm2d(8, eps=1e-3)
        self.block = Block(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8, bias=False,
                            padding_mode="circular")
        self.branch = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU6(inplace=True))
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.act = nn.LeakyReLU(0.2)
        self.fc = nn.Linear(20 * 3 * 3, 16)
        self.bn1d = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.25)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        s = F.relu(self.bn(self.stem(x)))
        s = self.block(s)
        z = torch.cat([self.branch(s), torch.sigmoid(self.dw(s)), s.tanh()], dim=1)
        z = F.hardswish(z)
        a = self.act(torch.add(self.pool(z), self.avg(z)))
        b = F.avg_pool2d(a, 2, 1, 0, False, True, 1)
        c = F.adaptive_max_pool2d(b, 3)
        c = c.view(c.size(0), -1)
        h = F.hardtanh(self.bn1d(self.fc(c)), 0.0, 6.0)
        logits = self.head(self.drop(h))
        return logits, F.softmax(logits, dim=1), x.mean((2, 3))


class Pools(nn.Module):
    """Pooling in every form the language has, the flatten spellings, and a
    module called twice."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, (3, 5), stride=(2, 1), padding=(1, 2))
        self.p1 = nn.MaxPool2d((3, 2), stride=(1, 2), padding=(1, 0), dilation=(1, 2), ceil_mode=True)
        self.p2 = nn.AvgPool2d((3, 2), stride=1, padding=(1, 0), divisor_override=6)
        self.ada = nn.AdaptiveAvgPool2d((2, None))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.gmp = nn.AdaptiveMaxPool2d((1, 1))
        self.flat = nn.Flatten()
        self.fc = nn.Linear(24, 5)
        self.soft = nn.Softmax2d()

    def forward(self, x):
        y = torch.clamp(self.conv(x), min=0)
        y = self.p2(self.p1(y))
        m = F.max_pool2d(y, 2, 1, 1, 2, True)
        m = F.leaky_relu(m, 0.1)
        y = torch.cat((self.ada(y), self.ada(m)), 1)
        g = torch.cat([self.flat(self.gap(y)), torch.flatten(self.gmp(y), 1)], 1)
        r = self.gap(m).reshape(m.shape[0], -1)
        g = self.fc(g) + self.fc(torch.cat([r, r, r, r], 1))
        return self.soft(y), F.relu6(g)


class MyBlock(nn.Module):
    """A user's block calling an op the language lacks."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return F.softplus(self.conv(x))


class Unsupported(nn.Module):
    """Three things the exporter must refuse, each with its place."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Softplus())
        self.blocks = nn.Sequential(nn.Identity(), MyBlock())
        self.rnn = nn.LSTM(4 * 6 * 6, 8)

    def forward(self, x):
        x = self.blocks(self.body(x))
        return self.rnn(torch.flatten(x, 1))[0]


class KeywordSpotter(nn.Module):
    """A 1-D keyword spotter on 40 MFCC channels x L frames, as written for
    audio: Conv1d/BatchNorm1d blocks, a depthwise-separable block with
    'same' padding, pooling both ways, a squeeze-excitation gate."""

    def __init__(self, n_mfcc=40, classes=12):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(n_mfcc, 32, 5, stride=2, padding=2, bias=False),
                                  nn.BatchNorm1d(32), nn.ReLU(inplace=True))
        self.dw = nn.Conv1d(32, 32, 3, padding="same", dilation=2, groups=32, bias=False)
        self.pw = nn.Conv1d(32, 48, 1)
        self.bn = nn.BatchNorm1d(48)
        self.pool = nn.MaxPool1d(3, stride=2, padding=1)
        self.se = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Conv1d(48, 12, 1), nn.SiLU(),
                                nn.Conv1d(12, 48, 1), nn.Sigmoid())
        self.fc = nn.Linear(48, classes)

    def forward(self, x):
        x = self.stem(x)
        x = F.relu(self.bn(self.pw(self.dw(x))))
        x = self.pool(x)
        x = x * self.se(x)
        x = F.avg_pool1d(x, 2, ceil_mode=True)
        x = F.adaptive_avg_pool1d(x, 1).flatten(1)
        return self.fc(x)


class TinyUNet(nn.Module):
    """A small U-Net: two encoder stages, a transposed-conv and an upsampling
    decoder stage with skip concatenations, PReLU, zero padding, ELU, GELU."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.PReLU(16))
        self.mid = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ELU())
        self.up2 = nn.ConvTranspose2d(16, 16, 2, stride=2)
        self.dec2 = nn.Sequential(nn.Conv2d(32, 8, 3, padding=1), nn.GELU())
        self.up1 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.pad = nn.ZeroPad2d((1, 1, 1, 1))
        self.dec1 = nn.Conv2d(16, 8, 3)
        self.head = nn.Sequential(nn.Conv2d(8, 8, 1), nn.PixelShuffle(2), nn.Hardtanh(-2, 2))

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = self.mid(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))
        d1 = self.dec1(self.pad(torch.cat([self.up1(d2), e1], 1)))
        return self.head(F.relu(d1))
