"""Generate test models defined in PyTorch (needs ``pip install torch==2.13.0``).

    python tests/models/gen_torch_models.py [NAME ...]

Writes ``onnx/pt_*.onnx`` and ``manifest_torch.json`` (with names: only those models, the
other manifest entries kept, so adding a model does not re-export the rest with another torch).  Weights are random (seeded) but
BatchNorm layers get non-trivial running statistics, and the export keeps BatchNormalization
nodes (``do_constant_folding=False``, eval mode), so BN folding is exercised.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent


def _bn(c: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.3, 0.3)
    return bn


def conv_bn(cin, cout, k=3, s=1, groups=1, act=nn.ReLU):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), _bn(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.c1 = conv_bn(cin, cout, 3, stride)
        self.c2 = conv_bn(cout, cout, 3, 1, act=None)
        self.short = conv_bn(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return torch.relu(self.c2(self.c1(x)) + self.short(x))


class ResNetTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 16)
        self.b1 = BasicBlock(16, 16)
        self.b2 = BasicBlock(16, 32, 2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.b2(self.b1(self.stem(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand, act=nn.ReLU6, se=False):
        super().__init__()
        hid = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = [conv_bn(cin, hid, 1, act=act), conv_bn(hid, hid, 3, stride, groups=hid, act=act)]
        if se:
            layers.append(SqueezeExcite(hid))
        layers.append(conv_bn(hid, cout, 1, act=None))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_res else y


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Conv2d(c, max(c // 4, 8), 1)
        self.fc2 = nn.Conv2d(max(c // 4, 8), c, 1)

    def forward(self, x):
        s = nn.functional.adaptive_avg_pool2d(x, 1)
        return x * nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(s))))


class MobileNetV2Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 16, 3, 2, act=nn.ReLU6)
        self.blocks = nn.Sequential(InvertedResidual(16, 16, 1, 4), InvertedResidual(16, 24, 2, 4),
                                    InvertedResidual(24, 24, 1, 4))
        self.head = conv_bn(24, 64, 1, act=nn.ReLU6)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class MobileNetV3Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 16, 3, 2, act=nn.Hardswish)
        self.blocks = nn.Sequential(InvertedResidual(16, 16, 1, 3, act=nn.ReLU, se=True),
                                    InvertedResidual(16, 24, 2, 3, act=nn.Hardswish, se=True))
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(nn.functional.hardswish(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)))


class Fire(nn.Module):
    def __init__(self, cin, sq, ex):
        super().__init__()
        self.sq = nn.Conv2d(cin, sq, 1)
        self.e1 = nn.Conv2d(sq, ex, 1)
        self.e3 = nn.Conv2d(sq, ex, 3, padding=1)

    def forward(self, x):
        s = torch.relu(self.sq(x))
        return torch.cat([torch.relu(self.e1(s)), torch.relu(self.e3(s))], 1)


class SqueezeNetTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, 2)
        self.f1, self.f2 = Fire(32, 8, 16), Fire(32, 8, 16)
        self.cls = nn.Conv2d(32, 10, 1)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.stem(x)), 3, 2, ceil_mode=True)
        x = self.f2(self.f1(x))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(torch.relu(self.cls(x)), 1), 1)


class ShuffleBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c // 2
        self.branch = nn.Sequential(conv_bn(h, h, 1), conv_bn(h, h, 3, groups=h, act=None), conv_bn(h, h, 1))

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        y = torch.cat([a, self.branch(b)], 1)
        n, c, hh, ww = y.shape
        return y.view(n, 2, c // 2, hh, ww).transpose(1, 2).reshape(n, c, hh, ww)


class ShuffleNetTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 24, 3, 2)
        self.blocks = nn.Sequential(ShuffleBlock(24), ShuffleBlock(24))
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(x.mean((2, 3)))


class TinyDetector(nn.Module):
    """Two FPN levels: upsample (Resize), a ConvTranspose, concat, a head."""

    def __init__(self):
        super().__init__()
        self.c1 = conv_bn(3, 16, 3, 2)
        self.c2 = conv_bn(16, 32, 3, 2)
        self.lat = nn.Conv2d(32, 16, 1)
        self.up = nn.ConvTranspose2d(32, 16, 2, 2)
        self.head = nn.Conv2d(48, 6 * 3, 3, padding=1)

    def forward(self, x):
        p1 = self.c1(x)
        p2 = self.c2(p1)
        up_near = nn.functional.interpolate(self.lat(p2), scale_factor=2.0, mode="nearest")
        fused = torch.cat([p1, up_near, self.up(p2)], 1)
        return torch.sigmoid(self.head(fused))


class LayerNormDecomposed(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.g = nn.Parameter(torch.ones(d) + 0.1 * torch.randn(d))
        self.b = nn.Parameter(0.1 * torch.randn(d))

    def forward(self, x):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.g + self.b


class TransformerBlock(nn.Module):
    def __init__(self, d=32, heads=4):
        super().__init__()
        self.h, self.dh = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln1, self.ln2 = LayerNormDecomposed(d), LayerNormDecomposed(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, -1)
        q = q.view(b, t, self.h, self.dh).transpose(1, 2)
        k = k.view(b, t, self.h, self.dh).transpose(1, 2)
        v = v.view(b, t, self.h, self.dh).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / self.dh**0.5, -1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.mlp(self.ln2(x))


class KeywordSpotter(nn.Module):
    """A keyword-spotting shape: Conv1d over 10 MFCC-like channels, then an LSTM or a
    bidirectional GRU (batch first), the last step to a classifier."""

    def __init__(self, cell: str):
        super().__init__()
        self.conv = nn.Conv1d(10, 16, 3, padding=1)
        self.bn = nn.BatchNorm1d(16)
        if cell == "lstm":
            self.rnn = nn.LSTM(16, 24, batch_first=True)
        else:
            self.rnn = nn.GRU(16, 12, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(24, 12)
        with torch.no_grad():
            self.bn.running_mean.normal_(0, 0.2)
            self.bn.running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x))).transpose(1, 2)
        o, _ = self.rnn(h)
        return self.fc(o[:, -1])


class MaskedAttention(nn.Module):
    """Token ids in, an attention block whose padding keys (id 0) are masked with -inf
    (masked_fill, as nn.MultiheadAttention's key_padding_mask does), LayerNorm, GELU MLP, the
    first token to a classifier."""

    def __init__(self, d=32, vocab=16):
        super().__init__()
        self.d = d
        self.emb = nn.Embedding(vocab, d)
        self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 64), nn.GELU(), nn.Linear(64, d))
        self.cls = nn.Linear(d, 3)

    def forward(self, ids):
        x = self.emb(ids)
        q, k, v = self.qkv(x).chunk(3, -1)
        att = (q @ k.transpose(1, 2)) / self.d**0.5
        att = att.masked_fill((ids == 0)[:, None, :], float("-inf")).softmax(-1)
        x = self.ln1(x + self.o(att @ v))
        x = self.ln2(x + self.ff(x))
        return self.cls(x[:, 0])


def export(model: nn.Module, x: torch.Tensor, path: Path, opset: int, dynamic_batch: bool = False) -> None:
    model.eval()
    kwargs = {}
    if dynamic_batch:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    buf = io.BytesIO()
    torch.onnx.export(model, (x,), buf, input_names=["input"], output_names=["output"], opset_version=opset,
                      do_constant_folding=False, dynamo=False, **kwargs)
    path.write_bytes(buf.getvalue())


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    out = HERE / "onnx"
    out.mkdir(exist_ok=True)
    specs = [
        ("pt_resnet_tiny", ResNetTiny(), (1, 3, 32, 32), 13, False),
        ("pt_mobilenetv2_tiny", MobileNetV2Tiny(), (1, 3, 32, 32), 13, False),
        ("pt_mobilenetv3_tiny", MobileNetV3Tiny(), (1, 3, 32, 32), 17, False),
        ("pt_squeezenet_tiny", SqueezeNetTiny(), (1, 3, 32, 32), 11, False),
        ("pt_shufflenet_tiny", ShuffleNetTiny(), (1, 3, 32, 32), 13, False),
        ("pt_detector_tiny", TinyDetector(), (1, 3, 32, 32), 17, False),
        ("pt_transformer_block", TransformerBlock(), (1, 16, 32), 17, False),
        ("pt_resnet_dynamic_batch", ResNetTiny(), (1, 3, 32, 32), 17, True),
        ("pt_kws_lstm", KeywordSpotter("lstm"), (1, 10, 20), 17, False),
        ("pt_kws_gru", KeywordSpotter("gru"), (1, 10, 20), 17, False),
        ("pt_masked_attention", MaskedAttention(), (1, 12), 17, False),
    ]
    only = set(sys.argv[1:])
    unknown = only - {s[0] for s in specs}
    if unknown:
        sys.exit(f"unknown model names: {', '.join(sorted(unknown))}")
    manifest = HERE / "manifest_torch.json"
    kept = {e["name"]: e for e in json.loads(manifest.read_text())} if only and manifest.exists() else {}
    entries = []
    for name, model, shape, opset, dyn in specs:
        if only and name not in only:
            if name in kept:
                entries.append(kept[name])
            continue
        torch.manual_seed(len(name))
        x = torch.randint(1, 4, shape) if name == "pt_masked_attention" else torch.randn(shape)
        export(model, x, out / f"{name}.onnx", opset, dyn)
        e = {"name": name, "file": f"onnx/{name}.onnx", "source": "pytorch", "opset": opset,
             "tags": ["pytorch"] + (["dynamic"] if dyn else [])}
        if dyn:
            e["input_shapes"] = {"input": [2, *shape[1:]]}
        entries.append(e)
    manifest.write_text(json.dumps(entries, indent=1) + "\n")


if __name__ == "__main__":
    main()
