"""Train the digits CNN on scikit-learn's bundled digits and export it (needs torch).

    python tests/models/train_digits.py

The network has what quantizers meet in real models: Conv+BN+ReLU, a depthwise conv,
hard-swish written the way exporters decompose it (``x * relu6(x + 3) / 6``), a residual Add,
a Concat and a Linear classifier.  Writes ``examples/digits/digits_cnn.onnx`` (input ``input``
[1, 1, 16, 16]), the test split as ``tests/data/digits_test_{x,y}.npy``, and 100 training
samples as calibration data (``examples/digits/calib/*.bin`` and ``tests/data/digits_calib_x.npy``).
Deterministic: fixed seeds, one thread.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

ROOT = Path(__file__).resolve().parents[2]


def load_data():
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = nn.functional.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False).numpy()
    y = d.target.astype(np.int64)
    return train_test_split(x, y, test_size=500, random_state=0, stratify=y)


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.bn_dw = nn.BatchNorm2d(16)
        self.pw = nn.Conv2d(16, 16, 1, bias=False)
        self.bn_pw = nn.BatchNorm2d(16)
        self.branch_a = nn.Conv2d(16, 16, 3, stride=2, padding=1)
        self.branch_b = nn.Conv2d(16, 16, 1, stride=2)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        h = self.bn_dw(self.dw(x))
        h = h * nn.functional.relu6(h + 3.0) / 6.0  # decomposed hard-swish
        h = self.bn_pw(self.pw(h))
        x = torch.relu(x + h)  # residual
        x = torch.cat([torch.relu(self.branch_a(x)), torch.relu(self.branch_b(x))], 1)
        x = torch.relu(self.bn3(self.conv3(x)))
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x_tr, x_te, y_tr, y_te = load_data()
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.tensor(x_tr), torch.tensor(y_tr)
    gen = torch.Generator().manual_seed(0)
    for _epoch in range(40):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.tensor(x_te)).argmax(1).numpy() == y_te).mean())
    print(f"float test accuracy: {acc:.4f}")

    out_dir = ROOT / "examples" / "digits"
    calib_dir = out_dir / "calib"
    data_dir = ROOT / "tests" / "data"
    calib_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.onnx.export(model, (torch.tensor(x_te[:1]),), buf, input_names=["input"], output_names=["logits"],
                      opset_version=13, do_constant_folding=False, dynamo=False)
    (out_dir / "digits_cnn.onnx").write_bytes(buf.getvalue())
    np.save(data_dir / "digits_test_x.npy", x_te.astype(np.float32))
    np.save(data_dir / "digits_test_y.npy", y_te.astype(np.int64))
    calib = x_tr[:100].astype(np.float32)
    np.save(data_dir / "digits_calib_x.npy", calib)
    for i, sample in enumerate(calib):
        (calib_dir / f"calib_{i:03d}.bin").write_bytes(sample[None].tobytes())
    (data_dir / "digits_meta.json").write_text(json.dumps({"float_accuracy": acc}, indent=1) + "\n")
    entry = {"name": "digits_cnn", "file": "examples/digits/digits_cnn.onnx", "source": "trained",
             "opset": 13, "tags": ["trained"], "float_accuracy": acc}
    (Path(__file__).parent / "manifest_trained.json").write_text(json.dumps([entry], indent=1) + "\n")


if __name__ == "__main__":
    main()
