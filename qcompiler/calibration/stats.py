"""Per-tensor calibration statistics: one mergeable record per tensor serves every method.

:class:`TensorStats` keeps count, min, max, moving-average min/max and (unless made without
a histogram, for the min/max methods) sum, sum of squares, zero count and a histogram over
``[-R, R]``, where ``R`` is a power of two that doubles when a
value falls outside it (adjacent bins merge exactly, so the histogram after any split of the
data into parts and :meth:`TensorStats.merge` is identical to one pass over all of it).
Memory is ``O(num_bins)`` per tensor, whatever the number of samples.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from qcompiler.errors import DataError

__all__ = ["TensorStats", "CalibrationStats", "cache_key"]

FORMAT_VERSION = 1


class TensorStats:
    """Statistics of one tensor over the calibration set."""

    __slots__ = ("num_bins", "count", "min", "max", "sum", "sumsq", "zeros", "ema_min", "ema_max",
                 "samples", "range_exp", "hist", "averaging_constant", "with_hist")  # fmt: skip

    def __init__(self, num_bins: int = 8192, averaging_constant: float = 0.01, with_hist: bool = True):
        if num_bins % 4:
            raise ValueError("num_bins must be a multiple of 4")
        self.num_bins = num_bins
        self.averaging_constant = averaging_constant
        #: Without a histogram only MAX_MIN and MOVING_AVERAGE_MIN_MAX can use these statistics.
        self.with_hist = with_hist
        self.count = 0
        self.samples = 0
        self.min = math.inf
        self.max = -math.inf
        self.sum = 0.0
        self.sumsq = 0.0
        self.zeros = 0
        self.ema_min = 0.0
        self.ema_max = 0.0
        #: The histogram covers [-2**range_exp, 2**range_exp].
        self.range_exp: int | None = None
        self.hist = np.zeros(num_bins, dtype=np.int64)

    # -- accumulation -----------------------------------------------------------------------
    @property
    def R(self) -> float:
        return 0.0 if self.range_exp is None else float(2.0**self.range_exp)

    def _grow_to(self, exp: int) -> None:
        if self.range_exp is None:
            self.range_exp = exp
            return
        while self.range_exp < exp:
            n = self.num_bins
            pairs = self.hist.reshape(n // 2, 2).sum(axis=1)
            new = np.zeros(n, dtype=np.int64)
            new[n // 4 : n // 4 + n // 2] = pairs
            self.hist = new
            self.range_exp += 1

    def update(self, x: np.ndarray) -> None:
        """Add one sample's values."""
        self.update_many([x])

    def add_range(self, lo: float, hi: float, size: int) -> None:
        """Add one sample known by its min and max only (what the min/max methods need)."""
        self.add_ranges([lo], [hi], size)

    def add_ranges(self, los: list[float], his: list[float], size: int) -> None:
        """Add samples of ``size`` values each, known by their mins and maxes only."""
        if size == 0 or not los:
            return
        c = self.averaging_constant
        for lo, hi in zip(los, his):
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise DataError("tensor holds NaN or Inf values")
            if self.samples == 0:
                self.ema_min, self.ema_max = lo, hi
            else:
                self.ema_min += c * (lo - self.ema_min)
                self.ema_max += c * (hi - self.ema_max)
            self.samples += 1
        self.min, self.max = min(self.min, *los), max(self.max, *his)
        self.count += size * len(los)
        amax = max(abs(self.min), abs(self.max))
        self._grow_to(max(math.ceil(math.log2(amax)) if amax > 0 else -30, -30))

    def update_many(self, xs: list[np.ndarray] | np.ndarray, ranges: list[tuple[float, float]] | None = None) -> None:
        """Add several samples' values at once (same result as one :meth:`update` each):
        a list of arrays, or a 2-D array of one row per sample; ``ranges`` are their (min, max)
        when the caller has them already.

        Without a histogram only the range, count and moving averages are kept (sum, sum of
        squares and zeros, which only the debug report reads, come with the histogram)."""
        if isinstance(xs, np.ndarray) and xs.ndim == 2 and xs.dtype in (np.float32, np.float64):
            if xs.size == 0:
                return
            los, his = zip(*ranges) if ranges is not None else (xs.min(axis=1).tolist(), xs.max(axis=1).tolist())
            self.add_ranges(list(los), list(his), xs.shape[1])
            x = xs.reshape(-1)  # a view: one pass over all the samples
        else:
            parts = []
            for i, x in enumerate(xs):
                x = np.asarray(x).reshape(-1)
                if x.size == 0:
                    continue
                if x.dtype not in (np.float32, np.float64):
                    x = x.astype(np.float32)
                lo_i, hi_i = ranges[i] if ranges is not None else (float(x.min()), float(x.max()))
                self.add_range(lo_i, hi_i, x.size)
                parts.append(x)
            if not parts:
                return
            x = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if not self.with_hist:
            return
        self.sum += float(x.sum(dtype=np.float64))
        self.sumsq += float(np.dot(x, x))
        self.zeros += x.size - int(np.count_nonzero(x))
        r = self.R
        # Bin index: (x + R) * n / 2R, truncated; values are within [-R, R] by construction.
        idx = ((x + np.float32(r)) * np.float32(self.num_bins / (2 * r))).astype(np.int32)
        np.minimum(idx, self.num_bins - 1, out=idx)
        np.maximum(idx, 0, out=idx)
        self.hist += np.bincount(idx, minlength=self.num_bins)

    def merge(self, other: TensorStats) -> None:
        """Combine with statistics of a disjoint part of the data (order of parts matters only
        for the moving averages, which follow ``self`` then ``other``)."""
        if other.count == 0:
            return
        if self.num_bins != other.num_bins:
            raise ValueError("cannot merge statistics with different bin counts")
        self.with_hist = self.with_hist and other.with_hist
        if self.count == 0:
            self.__setstate__(other.__getstate__())
            return
        if other.range_exp is not None:
            self._grow_to(other.range_exp)
            h = other.hist
            for _ in range(other.range_exp, self.range_exp):  # type: ignore[arg-type]
                n = self.num_bins
                new = np.zeros(n, dtype=np.int64)
                new[n // 4 : n // 4 + n // 2] = h.reshape(n // 2, 2).sum(axis=1)
                h = new
            self.hist = self.hist + h
        c = self.averaging_constant
        for _ in range(other.samples):
            self.ema_min += c * (other.ema_min - self.ema_min)
            self.ema_max += c * (other.ema_max - self.ema_max)
        self.samples += other.samples
        self.count += other.count
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        self.sum += other.sum
        self.sumsq += other.sumsq
        self.zeros += other.zeros

    # -- derived ----------------------------------------------------------------------------
    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else 0.0

    @property
    def var(self) -> float:
        return max(self.sumsq / self.count - self.mean**2, 0.0) if self.count else 0.0

    @property
    def sparsity(self) -> float:
        return self.zeros / self.count if self.count else 0.0

    def bin_edges(self) -> np.ndarray:
        r = self.R
        return np.linspace(-r, r, self.num_bins + 1)

    def quantile(self, q: float) -> float:
        """Approximate quantile (within one bin width), clamped to [min, max]."""
        if self.count == 0:
            return 0.0
        cdf = np.cumsum(self.hist)
        k = int(np.searchsorted(cdf, q * cdf[-1], side="left"))
        edges = self.bin_edges()
        lo_count = cdf[k - 1] if k > 0 else 0
        inside = self.hist[k]
        frac = (q * cdf[-1] - lo_count) / inside if inside else 0.0
        v = edges[k] + frac * (edges[k + 1] - edges[k])
        return float(min(max(v, self.min), self.max))

    # -- serialization ----------------------------------------------------------------------
    def __getstate__(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v.copy() if isinstance(v, np.ndarray) else v)


class CalibrationStats:
    """Tensor name -> :class:`TensorStats`, mergeable and savable (deterministic bytes)."""

    def __init__(self, tensors: dict[str, TensorStats] | None = None, num_samples: int = 0):
        self.tensors: dict[str, TensorStats] = dict(tensors or {})
        self.num_samples = num_samples

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def __getitem__(self, name: str) -> TensorStats:
        return self.tensors[name]

    def merge(self, other: CalibrationStats) -> None:
        for name, st in other.tensors.items():
            if name in self.tensors:
                self.tensors[name].merge(st)
            else:
                self.tensors[name] = st
        self.num_samples += other.num_samples

    def save(self, path: str | os.PathLike) -> None:
        names = sorted(self.tensors)
        scalars = {n: {k: v for k, v in self.tensors[n].__getstate__().items() if k != "hist"} for n in names}
        meta = json.dumps({"version": FORMAT_VERSION, "num_samples": self.num_samples, "names": names,
                           "scalars": scalars}, sort_keys=True)  # fmt: skip
        hist = np.stack([self.tensors[n].hist for n in names]) if names else np.zeros((0, 0), np.int64)
        if hist.size and hist.max() < 2**31:
            hist = hist.astype(np.int32)  # half the file; loaded back as int64
        buf = io.BytesIO()
        np.save(buf, hist, allow_pickle=False)
        data = meta.encode() + b"\n" + buf.getvalue()
        tmp = Path(str(path) + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CalibrationStats:
        data = Path(path).read_bytes()
        head, _, rest = data.partition(b"\n")
        meta = json.loads(head)
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError("statistics cache of another format version")
        hist = np.load(io.BytesIO(rest), allow_pickle=False)
        tensors = {}
        for i, name in enumerate(meta["names"]):
            st = TensorStats.__new__(TensorStats)
            state = dict(meta["scalars"][name])
            state["hist"] = hist[i].astype(np.int64)
            st.__setstate__(state)
            tensors[name] = st
        return cls(tensors, meta["num_samples"])


def cache_key(model_bytes: bytes, sample_digests: list[str], options: dict) -> str:
    """A sha256 over the model, the samples and the options that change the statistics."""
    h = hashlib.sha256()
    h.update(f"qcompiler-calibration-v{FORMAT_VERSION}".encode())
    h.update(hashlib.sha256(model_bytes).digest())
    for d in sample_digests:
        h.update(d.encode())
    h.update(json.dumps(options, sort_keys=True).encode())
    return h.hexdigest()
