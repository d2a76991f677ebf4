"""Concrete advice drawn from the report's data: which layers to keep float, where another
calibration method or per-channel scales would help.

Each rule reads :class:`~qcompiler.report.collect.ReportData` and returns :class:`Advice` with
the config lines that act on it, so a user can paste them into the INI file.  Thresholds are
module constants, named for what they mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Advice", "make_advice", "LONG_TAIL", "CLIP_FRACTION", "LAYER_DROP_DB", "LOW_SQNR_DB"]

#: A tensor whose max |x| is this many times its 99.99th percentile is long-tailed.
LONG_TAIL = 4.0
#: A clipping method that clips more than this fraction of values clips too much.
CLIP_FRACTION = 0.01
#: A layer that loses this many dB of SQNR on its own is a candidate to keep float...
LAYER_DROP_DB = 6.0
#: ...when its SQNR is below this.
LOW_SQNR_DB = 30.0
#: Output quality that needs no action.
GOOD_COSINE = 0.999
#: One scale per tensor costs a channel this many bits (log2 of the range ratio) or more.
BITS_LOST = 2.0


@dataclass
class Advice:
    level: str  #: "action" (do this), "info" (good to know) or "ok" (nothing to fix)
    title: str
    detail: str
    config: str = ""  #: INI lines that apply the advice
    items: list[str] = field(default_factory=list)  #: the layers or tensors concerned


def _names(xs: list[str]) -> str:
    return ", ".join(xs[:6]) + (f" and {len(xs) - 6} more" if len(xs) > 6 else "")


def _fmt_db(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f} dB"


def _keep_float(data: Any) -> Advice | None:
    sel = data.selection
    if sel is not None and sel.skipped:
        return Advice("action", f"Keep {len(sel.skipped)} layer(s) float (chosen automatically)",
                      f"Automatic selection kept {_names(sel.skipped)} float to meet {sel.target_text()}; "
                      f"the output reaches {sel.final.describe()}.",
                      f"[common_quant_param]\nskip_quant_node={','.join(sel.config_skip)}", list(sel.skipped))  # fmt: skip
    sens = data.sensitivity
    if sens is not None and sens.has("skip"):
        ranked = [t for t in sens.ranking("skip") if t.gain is not None and t.gain >= 3.0]
        if ranked:
            top = ranked[0].gain
            chosen = [t for t in ranked if t.gain >= 0.25 * top][:3]
            names = [t.layer for t in chosen]
            detail = "; ".join(f"keeping {t.layer} float raises the output SQNR by {t.gain:.1f} dB "
                               f"(to {t.sqnr:.1f} dB, cosine {t.cosine:.5f})" for t in chosen)  # fmt: skip
            return Advice("action", f"Keep {len(names)} layer(s) float", detail[0].upper() + detail[1:] + ".",
                          f"[common_quant_param]\nskip_quant_node={','.join(names)}", names)  # fmt: skip
    cands = [t for t in data.layers if t.drop is not None and t.sqnr is not None
             and t.drop >= LAYER_DROP_DB and t.sqnr < LOW_SQNR_DB]  # fmt: skip
    cands.sort(key=lambda t: (-t.drop, t.index))
    out = _output_quality(data)
    if not cands and out is not None and out[1] is not None and out[1] < GOOD_COSINE:
        worst = [t for t in data.layers if t.worst]
        cands = sorted(worst, key=lambda t: (t.sqnr, t.index))[:1]
    if not cands:
        return None
    chosen = cands[:3]
    names = [t.node for t in chosen]
    detail = "; ".join(f"{t.node} ({t.op_type}) is at {_fmt_db(t.sqnr)}"
                       + (f", {t.drop:.1f} dB below its input" if t.drop is not None else "") for t in chosen)  # fmt: skip
    return Advice("action", f"Consider keeping {len(names)} layer(s) float",
                  f"{detail}. Run 'qcompiler analyze' to measure what keeping each one float gains, or "
                  "'qcompiler compile --target-cosine 0.995' to choose automatically.",
                  f"[common_quant_param]\nskip_quant_node={','.join(names)}", names)  # fmt: skip


def _calibration(data: Any) -> list[Advice]:
    out = []
    method = data.method
    tails = sorted((t for t in data.layers + data.outputs if t.tail is not None and t.tail >= LONG_TAIL),
                   key=lambda t: (-t.tail, t.index))  # fmt: skip
    if method in ("MAX_MIN", "MOVING_AVERAGE_MIN_MAX") and tails:
        names = [t.tensor for t in tails]
        worst = tails[0]
        out.append(Advice("action", "Long-tailed activations: a clipping calibration method would help",
                          f"{len(tails)} tensor(s) have rare outliers far beyond the bulk of their values "
                          f"({worst.tensor}: max |x| is {worst.tail:.1f}x its 99.99th percentile). "
                          f"{method} stretches the 8-bit range over the outliers and leaves few levels for "
                          "everything else; PERCENTILE, KL or MSE clip them.",
                          "[full_quant_param]\nactivation_quant_method=PERCENTILE", names))  # fmt: skip
    clipped = sorted((t for t in data.layers + data.outputs if t.clip is not None and t.clip > CLIP_FRACTION),
                     key=lambda t: (-t.clip, t.index))  # fmt: skip
    if method not in (None, "MAX_MIN", "MOVING_AVERAGE_MIN_MAX") and clipped:
        names = [t.tensor for t in clipped]
        out.append(Advice("action", f"{method} clips many values",
                          f"{len(clipped)} tensor(s) lose more than {CLIP_FRACTION:.0%} of their values to "
                          f"clipping ({clipped[0].tensor}: {clipped[0].clip:.1%}). MAX_MIN (or a higher "
                          "percentile) keeps them.", "[full_quant_param]\nactivation_quant_method=MAX_MIN",
                          names))  # fmt: skip
    return out


def _per_channel(data: Any) -> Advice | None:
    hurt = sorted((w for w in data.weights if w.is_conv and w.bits_lost_max >= BITS_LOST),
                  key=lambda w: (-w.bits_lost_max, w.layer))  # fmt: skip
    if not hurt:
        return None
    names = [w.layer for w in hurt]
    top = hurt[0]
    if not any(w.per_channel for w in hurt):
        return Advice("action", "Per-channel weight scales would help",
                      f"{len(hurt)} convolution(s) have channels with much smaller ranges than others "
                      f"({top.layer}: one channel gets {top.bits_lost_max:.1f} fewer bits with one scale for "
                      "the whole tensor). per_channel=true gives every output channel its own scale.",
                      "[full_quant_param]\nper_channel=true", names)  # fmt: skip
    return Advice("info", "Per-channel weight scales matter for this model",
                  f"With one scale per tensor, {len(hurt)} convolution(s) would lose up to "
                  f"{top.bits_lost_max:.1f} bits on their narrowest channels ({top.layer}); keep "
                  "per_channel=true.", "", names)  # fmt: skip


def _output_quality(data: Any) -> tuple[float | None, float | None] | None:
    outs = [t for t in data.outputs if t.sqnr is not None]
    if not outs:
        return None
    sq = min(t.sqnr for t in outs)
    cos = min(t.cosine for t in outs if t.cosine is not None) if any(t.cosine is not None for t in outs) else None
    return sq, cos


def make_advice(data: Any) -> list[Advice]:
    """The advice for a report, most useful first."""
    if not data.quantized:
        return [Advice("info", "The model is not quantized",
                       "Compile with a quantization config (--config q.ini) to see per-layer errors, "
                       "histograms and advice.")]  # fmt: skip
    out: list[Advice] = []
    keep = _keep_float(data)
    if keep is not None:
        out.append(keep)
    out.extend(_calibration(data))
    pc = _per_channel(data)
    if pc is not None:
        out.append(pc)
    quality = _output_quality(data)
    if not any(a.level == "action" for a in out):
        if quality is not None and quality[1] is not None and quality[1] >= GOOD_COSINE:
            sq = "inf" if math.isinf(quality[0]) else f"{quality[0]:.1f}"
            out.insert(0, Advice("ok", "Nothing to fix",
                                 f"The quantized model tracks the float model closely (output SQNR {sq} dB, "
                                 f"cosine similarity {quality[1]:.5f}).")  # fmt: skip
                       )
    return out
