"""Inline SVG charts for the HTML report, as template filters.

Every chart is one ``<svg>`` element built from numbers only (labels are escaped), with
coordinates rounded to two decimals, so the same data gives the same bytes.  Charts carry a
``data-chart`` attribute naming their kind (the browser test counts them).  Large charts draw
their bars as a single ``<path>`` and keep one ``<rect>`` per bar only where a tooltip is
useful, so a 500-layer model stays small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["bar_chart", "cosine_chart", "histogram", "channel_ranges", "fmt"]


def fmt(v: float | None, digits: int = 4) -> str:
    """A number for people: ``digits`` significant digits, ``n/a`` for None, ``inf`` kept."""
    if v is None:
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.{digits}g}"


def _c(x: float) -> str:
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def bar_chart(values: Sequence[float | None], labels: Sequence[str], highlight: Sequence[bool], *,
              unit: str = "dB", kind: str = "sqnr", height: int = 200) -> Markup:  # fmt: skip
    """One bar per layer (graph order); highlighted bars are the worst layers."""
    n = len(values)
    if n == 0:
        return Markup("")
    bw = max(3.0, min(28.0, 900.0 / n))
    left, right, top, bottom = 44.0, 8.0, 10.0, 22.0
    width = left + right + bw * n
    plot_h = height - top - bottom
    vals = [v for v in values if v is not None and math.isfinite(v)]
    vmax = max(vals + [1.0])
    vmin = min(vals + [0.0])
    ticks = _ticks(vmin, vmax)
    vmax = max(vmax, ticks[-1])
    vmin = min(vmin, ticks[0])

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - vmin) / (vmax - vmin or 1))

    parts = [f'<svg class="chart" data-chart="{kind}" role="img" viewBox="0 0 {_c(width)} {height}" '
             f'width="{_c(width)}" height="{height}" xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    for t in ticks:
        parts.append(f'<line class="grid" x1="{_c(left)}" x2="{_c(width - right)}" y1="{_c(y(t))}" y2="{_c(y(t))}"/>'
                     f'<text class="tick" x="{_c(left - 4)}" y="{_c(y(t) + 3)}" text-anchor="end">{fmt(t, 3)}</text>')  # noqa: E501
    zero = y(0.0) if vmin < 0 < vmax else y(vmin)
    for i, (v, label, hl) in enumerate(zip(values, labels, highlight)):
        x = left + i * bw
        tip = f"{escape(label)}: {fmt(v)} {unit}"
        if v is None or not math.isfinite(v):
            parts.append(f'<rect class="bar missing" x="{_c(x + bw * 0.1)}" y="{_c(top)}" width="{_c(bw * 0.8)}" '
                         f'height="{_c(plot_h)}"><title>{tip}</title></rect>')  # fmt: skip
            continue
        y0, y1 = sorted((zero, y(v)))
        cls = "bar worst" if hl else "bar"
        parts.append(f'<rect class="{cls}" data-i="{i}" x="{_c(x + bw * 0.1)}" y="{_c(y0)}" width="{_c(bw * 0.8)}" '
                     f'height="{_c(max(y1 - y0, 0.5))}"><title>{tip}</title></rect>')  # fmt: skip
    parts.append(f'<text class="axis" x="4" y="{_c(top + 8)}">{escape(unit)}</text>')
    parts.append(f'<text class="axis" x="{_c(left)}" y="{height - 6}">layers in graph order →</text></svg>')
    return Markup("".join(parts))


def cosine_chart(values: Sequence[float | None], labels: Sequence[str], highlight: Sequence[bool], *,
                 height: int = 160) -> Markup:  # fmt: skip
    """Cosine similarity per layer as ``1 - cos`` on a log scale (higher is worse)."""
    n = len(values)
    if n == 0:
        return Markup("")
    bw = max(3.0, min(28.0, 900.0 / n))
    left, right, top, bottom = 44.0, 8.0, 10.0, 22.0
    width = left + right + bw * n
    plot_h = height - top - bottom
    errs = [max(1 - v, 1e-9) if v is not None else None for v in values]
    logs = [math.log10(e) for e in errs if e is not None]
    lo = math.floor(min(logs + [-4]))
    hi = math.ceil(max(logs + [-2]))

    def y(e: float) -> float:
        return top + plot_h * (1 - (math.log10(e) - lo) / (hi - lo or 1))

    parts = [f'<svg class="chart" data-chart="cosine" role="img" viewBox="0 0 {_c(width)} {height}" '
             f'width="{_c(width)}" height="{height}" xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    for k in range(lo, hi + 1):
        parts.append(f'<line class="grid" x1="{_c(left)}" x2="{_c(width - right)}" y1="{_c(y(10.0**k))}" '
                     f'y2="{_c(y(10.0**k))}"/><text class="tick" x="{_c(left - 4)}" y="{_c(y(10.0**k) + 3)}" '
                     f'text-anchor="end">1e{k}</text>')  # fmt: skip
    pts = []
    dots = []
    for i, (e, v, label, hl) in enumerate(zip(errs, values, labels, highlight)):
        if e is None:
            continue
        x, yy = left + (i + 0.5) * bw, y(e)
        pts.append(f"{_c(x)},{_c(yy)}")
        dots.append(f'<circle class="{"dot worst" if hl else "dot"}" cx="{_c(x)}" cy="{_c(yy)}" r="{_c(min(3.0, bw / 2))}">'
                    f"<title>{escape(label)}: cosine {fmt(v, 6)}</title></circle>")  # fmt: skip
    if pts:
        parts.append(f'<polyline class="line" points="{" ".join(pts)}"/>')
    parts.extend(dots)
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(counts: Sequence[int], lo: float, hi: float, clip_lo: float | None, clip_hi: float | None, *,
              width: int = 260, height: int = 84, kind: str = "histogram") -> Markup:  # fmt: skip
    """A tensor's histogram (log-scaled counts) with its clipping range marked; values outside
    the range are shaded."""
    n = len(counts)
    if n == 0 or hi <= lo:
        return Markup("")
    top, bottom = 4.0, 14.0
    plot_h = height - top - bottom
    peak = math.log1p(max(counts) or 1)

    def x(v: float) -> float:
        return width * (v - lo) / (hi - lo)

    bw = width / n
    d = []
    for i, c in enumerate(counts):
        if c <= 0:
            continue
        h = plot_h * math.log1p(c) / peak
        d.append(f"M{_c(i * bw)} {_c(top + plot_h)}v-{_c(h)}h{_c(bw)}v{_c(h)}z")
    parts = [f'<svg class="chart hist" data-chart="{kind}" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    if clip_lo is not None and clip_hi is not None:
        a, b = max(0.0, x(clip_lo)), min(float(width), x(clip_hi))
        if a > 0:
            parts.append(f'<rect class="outside" x="0" y="{_c(top)}" width="{_c(a)}" height="{_c(plot_h)}"/>')
        if b < width:
            parts.append(f'<rect class="outside" x="{_c(b)}" y="{_c(top)}" width="{_c(width - b)}" height="{_c(plot_h)}"/>')  # noqa: E501
    parts.append(f'<path class="hbar" d="{"".join(d)}"/>')
    if clip_lo is not None and clip_hi is not None:
        for v in (clip_lo, clip_hi):
            if lo <= v <= hi:
                parts.append(f'<line class="clipline" x1="{_c(x(v))}" x2="{_c(x(v))}" y1="{_c(top)}" '
                             f'y2="{_c(top + plot_h)}"/>')  # fmt: skip
    parts.append(f'<text class="tick" x="1" y="{height - 3}">{fmt(lo, 3)}</text>'
                 f'<text class="tick" x="{width - 1}" y="{height - 3}" text-anchor="end">{fmt(hi, 3)}</text></svg>')
    return Markup("".join(parts))


def channel_ranges(mins: Sequence[float], maxs: Sequence[float], *, width: int = 260, height: int = 84) -> Markup:
    """Each output channel's [min, max] as a vertical segment; the dashed lines are the range a
    single per-tensor scale must cover."""
    n = len(mins)
    if n == 0:
        return Markup("")
    top, bottom = 4.0, 14.0
    plot_h = height - top - bottom
    amax = max(max(abs(v) for v in mins), max(abs(v) for v in maxs)) or 1.0

    def y(v: float) -> float:
        return top + plot_h * (1 - (v + amax) / (2 * amax))

    step = width / n
    d = []
    for i, (a, b) in enumerate(zip(mins, maxs)):
        cx = (i + 0.5) * step
        d.append(f"M{_c(cx)} {_c(y(b))}V{_c(y(a) if y(a) - y(b) >= 0.8 else y(b) + 0.8)}")
    sw = max(0.6, min(6.0, step * 0.7))
    parts = [f'<svg class="chart chan" data-chart="channels" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<line class="tensorrange" x1="0" x2="{width}" y1="{_c(y(amax))}" y2="{_c(y(amax))}"/>',
             f'<line class="tensorrange" x1="0" x2="{width}" y1="{_c(y(-amax))}" y2="{_c(y(-amax))}"/>',
             f'<line class="grid" x1="0" x2="{width}" y1="{_c(y(0))}" y2="{_c(y(0))}"/>',
             f'<path class="chanbar" stroke-width="{_c(sw)}" d="{"".join(d)}"/>',
             f'<text class="tick" x="1" y="{height - 3}">{n} channels, |max| {fmt(amax, 3)}</text></svg>']  # fmt: skip
    return Markup("".join(parts))
