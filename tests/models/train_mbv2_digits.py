"""Train a MobileNetV2-style CNN on scikit-learn's digits and export it (needs torch).

    python tests/models/train_mbv2_digits.py

The accuracy tests of cross-layer equalization, bias correction/absorption and AdaRound use
it: a depthwise-heavy network (a stem convolution, five inverted-residual blocks of
1x1 expand / 3x3 depthwise / 1x1 linear projection with residual adds, a 1x1 head, global
average pooling and a linear classifier), every convolution followed by BatchNormalization,
exported with the BatchNormalization ops kept (so data-free methods can read their
statistics).  As in Nagel et al. (2019), ReLU stands where MobileNetV2 has ReLU6.

Depthwise layers of published MobileNets have per-channel weight ranges that differ by two
orders of magnitude after BatchNormalization is folded (channels whose batch variance is
tiny get huge folded weights); a model trained from scratch for a few epochs on 16x16 digits
does not develop that on its own.  The BatchNormalization scales (gamma) of the depthwise and
expand layers are therefore initialised log-uniformly over [1/16, 4] (``--spread``), which is
the spread the published models show; training proceeds from there as usual.

Uses the split of ``train_digits.py`` (same test set, ``tests/data/digits_test_{x,y}.npy``).
Writes ``tests/models/onnx/digits_mbv2.onnx`` (input ``input`` [1, 1, 16, 16], output
``logits``) and its float test accuracy in ``tests/data/digits_mbv2_meta.json``.
Deterministic: fixed seeds, one thread.
"""

from __future__ import annotations

import argparse
import io
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from train_digits import load_data

ROOT = Path(__file__).resolve().parents[2]


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.expand = conv_bn(cin, hidden, 1) if expand != 1 else None
        self.dw = conv_bn(hidden, hidden, 3, stride, groups=hidden)
        self.project = conv_bn(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = torch.relu(self.expand(x)) if self.expand is not None else x
        h = self.project(torch.relu(self.dw(h)))
        return x + h if self.residual else h


class MobileNetV2Digits(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 16, 3)
        self.blocks = nn.Sequential(
            InvertedResidual(16, 16, 1, 1),
            InvertedResidual(16, 24, 2, 4),
            InvertedResidual(24, 24, 1, 4),
            InvertedResidual(24, 32, 2, 4),
            InvertedResidual(32, 32, 1, 4),
        )
        self.head = conv_bn(32, 96, 1)
        self.fc = nn.Linear(96, 10)

    def forward(self, x):
        x = self.blocks(torch.relu(self.stem(x)))
        x = torch.relu(self.head(x))
        return self.fc(nn.functional.adaptive_avg_pool2d(x, 1).flatten(1))


def spread_bn_scales(model: MobileNetV2Digits, spread: float, gen: torch.Generator) -> None:
    """Log-uniform BatchNormalization scales in [1/spread, spread/4] on expand and depthwise layers."""
    lo, hi = math.log(1.0 / spread), math.log(spread / 4.0)
    for block in model.blocks:
        for seq in (block.expand, block.dw):
            if seq is None:
                continue
            bn = seq[1]
            u = torch.rand(bn.weight.shape, generator=gen)
            with torch.no_grad():
                bn.weight.copy_(torch.exp(lo + (hi - lo) * u))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--spread", type=float, default=16.0)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x_tr, x_te, y_tr, y_te = load_data()
    model = MobileNetV2Digits()
    gen = torch.Generator().manual_seed(0)
    spread_bn_scales(model, args.spread, gen)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    xt, yt = torch.tensor(x_tr), torch.tensor(y_tr)
    for _epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.tensor(x_te)).argmax(1).numpy() == y_te).mean())
    print(f"float test accuracy: {acc:.4f}")
    buf = io.BytesIO()
    torch.onnx.export(model, (torch.tensor(x_te[:1]),), buf, input_names=["input"], output_names=["logits"],
                      opset_version=13, do_constant_folding=False, dynamo=False, training=torch.onnx.TrainingMode.EVAL)
    (ROOT / "tests" / "models" / "onnx" / "digits_mbv2.onnx").write_bytes(buf.getvalue())
    meta = {"float_accuracy": acc, "epochs": args.epochs, "spread": args.spread}
    (ROOT / "tests" / "data" / "digits_mbv2_meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    np.testing.assert_array_equal(np.load(ROOT / "tests" / "data" / "digits_test_y.npy"), y_te)


if __name__ == "__main__":
    main()
