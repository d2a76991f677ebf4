"""Calibration methods: from a tensor's :class:`TensorStats` to the range it is quantized with.

Every method reads the same mergeable statistics, so a calibration run serves them all (and a
re-compile with another method reuses the cached statistics).  Ranges always contain 0, so
zero is exactly representable; a constant tensor still gets a non-empty range.

| method | range |
| --- | --- |
| ``MAX_MIN`` | global min and max (MindSpore MAX_MIN, onnxruntime MinMax) |
| ``MOVING_AVERAGE_MIN_MAX`` | exponential moving average of per-sample min and max |
| ``KL`` | TensorRT-style entropy calibration: the clip threshold minimizing KL(P‖Q) |
| ``PERCENTILE`` | the ``percentile`` and ``100 - percentile`` quantiles (default 99.999) |
| ``REMOVAL_OUTLIER`` | MindSpore: drop a proportion (default 1e-4) of the extreme values each side |
| ``MSE`` | the clipped range minimizing expected quantization MSE (clipping + rounding) |
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from qcompiler.calibration.stats import TensorStats
from qcompiler.errors import ConfigError

__all__ = ["Observer", "BUILTIN_OBSERVERS", "get_observer", "finalize_range"]

_EPS = 1e-8


def finalize_range(lo: float, hi: float) -> tuple[float, float]:
    """Make a range contain 0 and be non-empty."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < _EPS:
        hi = lo + max(_EPS, abs(lo) * 1e-6) if lo < 0 else _EPS
    return lo, hi


class Observer:
    """A calibration method; subclasses implement :meth:`range_of`."""

    method: ClassVar[str] = ""
    #: Whether the method reads the histogram (MAX_MIN and the moving average do not).
    needs_histogram: ClassVar[bool] = True

    def __init__(self, **options: Any):
        self.options = options

    def range_of(self, st: TensorStats, bits: int, symmetric: bool) -> tuple[float, float]:
        raise NotImplementedError

    def compute_range(self, st: TensorStats, bits: int = 8, symmetric: bool = False) -> tuple[float, float]:
        if st.count == 0:
            return finalize_range(0.0, 0.0)
        lo, hi = self.range_of(st, bits, symmetric)
        lo, hi = max(lo, st.min), min(hi, st.max)  # never wider than the data
        if symmetric:
            a = max(abs(lo), abs(hi))
            lo, hi = -a, a
        return finalize_range(lo, hi)


class MaxMin(Observer):
    method = "MAX_MIN"
    needs_histogram = False

    def range_of(self, st, bits, symmetric):
        return st.min, st.max


class MovingAverageMinMax(Observer):
    method = "MOVING_AVERAGE_MIN_MAX"
    needs_histogram = False

    def range_of(self, st, bits, symmetric):
        return st.ema_min, st.ema_max


class Percentile(Observer):
    method = "PERCENTILE"
    default = 99.999

    def range_of(self, st, bits, symmetric):
        p = float(self.options.get("percentile", self.default)) / 100.0
        return st.quantile(1.0 - p), st.quantile(p)


class RemovalOutlier(Percentile):
    method = "REMOVAL_OUTLIER"

    def range_of(self, st, bits, symmetric):
        ratio = float(self.options.get("outlier_ratio", 1e-4))
        return st.quantile(ratio), st.quantile(1.0 - ratio)


#: KL's histogram: TensorRT's and MindSpore Lite's 2048 bins over [0, max |x|].
KL_BINS = 2048


def _one_sided(st: TensorStats, bins: int = KL_BINS) -> tuple[np.ndarray, np.ndarray, bool]:
    """The histogram as magnitudes on [0, max |x|]: (counts, upper bin edges, data was one-signed).

    The statistics' histogram spans [-R, R] (R the power of two above max |x|), so the data
    fills between half and all of each side's bins.  Where it has at least ``bins`` of them
    over [0, max |x|], they are re-cut into exactly ``bins`` (TensorRT's histogram, on which the
    threshold search is defined: a coarser one moves the threshold); a part bin counts in
    proportion.  Fewer bins (a small ``num_bins``) are used as they are, up to max |x|."""
    n = st.num_bins
    pos, neg = st.hist[n // 2 :], st.hist[: n // 2][::-1]
    one_signed = st.min >= 0 or st.max <= 0
    counts = (pos + neg).astype(np.float64)
    edges = np.linspace(0, st.R, n // 2 + 1)
    amax = max(abs(st.min), abs(st.max))
    used = int(np.ceil(amax / st.R * (n // 2))) if st.R > 0 else 0
    if used < bins:
        return counts, edges[1:], one_signed
    cum = np.concatenate([[0.0], np.cumsum(counts)])
    new = np.linspace(0, amax, bins + 1)
    at = np.interp(new, edges, cum)
    at[-1] = cum[-1]  # max |x| lies inside its bin: the bin's whole mass is at or below it
    return np.diff(at), new[1:], one_signed


def _kl_threshold(counts: np.ndarray, edges: np.ndarray, levels: int) -> float:
    """TensorRT's entropy calibration over a magnitude histogram; returns the threshold.

    For a candidate of ``i`` bins, P is the first ``i`` bins with the tail's mass folded into
    the last, Q the same bins merged into ``levels`` groups and spread back evenly over each
    group's non-empty bins.  KL(P||Q) is computed group by group from prefix sums, so a
    candidate costs O(levels), not O(i): with t the counts, T their sum, r the tail,
    S_j and N_j a group's mass and non-empty bins,
    T * KL = sum(p log p) - sum_j S_j log(S_j / N_j) - r log q_last + T log((T - r) / T)."""
    nz = np.nonzero(counts)[0]
    if nz.size == 0:
        return float(edges[0])
    last = int(nz[-1]) + 1
    if last <= levels:
        return float(edges[last - 1])
    t = counts[:last].astype(np.float64)
    step = max(1, (last - levels) // 128)
    cands = np.arange(levels, last + 1, step)  # every candidate threshold at once, one row each
    T = t.sum()
    cum = np.concatenate([[0.0], np.cumsum(t)])  # cum[k] = t[:k].sum()
    cnt = np.concatenate([[0], np.cumsum(t > 0)])  # non-empty bins below k
    tlogt = np.concatenate([[0.0], np.cumsum(np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0))])
    # Group j of candidate i holds bins [ceil(j i / levels), ceil((j + 1) i / levels)).
    j = np.arange(levels + 1)
    bounds = (j[None, :] * cands[:, None] + levels - 1) // levels
    S = np.diff(cum[bounds], axis=1)
    N = np.diff(cnt[bounds], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        group = np.where(N > 0, S * np.log(np.where(N > 0, S, 1.0) / np.maximum(N, 1)), 0.0).sum(axis=1)
    tail = T - cum[cands]  # mass beyond the candidate, folded into its last bin
    t_last = t[cands - 1]
    p_last = t_last + tail
    # sum(p log p): every bin as it is, but the last, which also takes the tail
    plogp = tlogt[cands - 1] + np.where(p_last > 0, p_last * np.log(np.where(p_last > 0, p_last, 1.0)), 0.0)
    inside = T - tail
    ok = inside > 0
    q_last = np.where(t_last > 0, S[:, -1] / np.maximum(N[:, -1], 1), 1e-12 * inside)  # TensorRT's floor on Q
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = group + tail * np.log(np.where(q_last > 0, q_last, 1.0))
        # Q is normalized by the inside mass, P by T (an empty last bin that takes the tail
        # is scored against TensorRT's floor on the normalized Q, hence its 1e-12 * inside).
        norm = T * np.log(np.where(ok, inside, 1.0))
        kl = (plogp - cross + norm) / T - np.log(T)
    kl = np.where(ok, kl, np.inf)
    if not np.isfinite(kl).any():
        return float(edges[last - 1])
    # The first of the (rounding-level) ties: flat stretches of equal divergence are common.
    best = int(np.flatnonzero(kl <= kl.min() + 1e-12)[0])
    return float(edges[int(cands[best]) - 1])


class KL(Observer):
    method = "KL"

    def range_of(self, st, bits, symmetric):
        if st.samples and st.count / st.samples < 2 ** (bits + 1):
            # A few values per sample (pooled features, logits) make a sparse histogram whose
            # entropy minimum is noise; such tensors keep their full range.
            return st.min, st.max
        counts, edges, one_signed = _one_sided(st)
        # The zero bin holds every value a ReLU clamped; left as it is, its mass makes any
        # clipping of the tail look cheap.  Like NVIDIA's entropy calibrator, flatten it.
        if counts.size > 1:
            counts = counts.copy()
            counts[0] = counts[1]
        # The target bins are the quantization levels the range gets: all 2**bits of them for
        # one-signed data under an asymmetric scale, half for signed data (TensorRT's 128).
        levels = 2**bits if one_signed and not symmetric else 2 ** (bits - 1)
        t = _kl_threshold(counts, edges, levels)
        return (-t, t) if not one_signed else ((0.0, t) if st.max > 0 else (-t, 0.0))


class MSE(Observer):
    """Minimizes clipping error plus uniform rounding noise (step**2 / 12 per value)."""

    method = "MSE"

    def range_of(self, st, bits, symmetric):
        edges = st.bin_edges()
        centers = (edges[:-1] + edges[1:]) / 2
        counts = st.hist.astype(np.float64)
        lo0, hi0 = min(st.min, 0.0), max(st.max, 0.0)
        if symmetric:
            a = max(-lo0, hi0)
            lo0, hi0 = -a, a
        best, best_err = (lo0, hi0), np.inf
        for f in np.linspace(0.05, 1.0, 96):
            lo, hi = lo0 * f, hi0 * f
            step = (hi - lo) / (2**bits - 1)
            if step <= 0:
                continue
            clipped = np.clip(centers, lo, hi)
            err = np.sum(counts * ((centers - clipped) ** 2 + np.where(centers == clipped, step**2 / 12, 0)))
            if err < best_err:
                best, best_err = (lo, hi), err
        return best


BUILTIN_OBSERVERS: dict[str, type[Observer]] = {
    cls.method: cls for cls in (MaxMin, MovingAverageMinMax, KL, Percentile, RemovalOutlier, MSE)
}


def get_observer(method: str, registry: Any = None, **options: Any) -> Observer:
    """The observer for ``method`` (built-in, or registered by a plugin)."""
    table: dict[str, Any] = dict(BUILTIN_OBSERVERS)
    if registry is not None:
        table.update({name: cls for name, (cls, _) in registry.observers.items()})
    cls = table.get(method.upper())
    if cls is None:
        raise ConfigError(f"unknown calibration method {method!r} (methods: {', '.join(sorted(table))})")
    return cls(**options)
