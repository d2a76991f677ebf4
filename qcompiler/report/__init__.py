"""The quantization report: one self-contained HTML page about a compile.

It shows the model summary (ops, parameters, MACs, size float vs quantized; arena and flash
when the C backend reports them), each layer's SQNR and cosine similarity against the float
model with the worst layers highlighted, every quantized tensor's histogram with its clipping
range and clip ratio, per-channel weight ranges of convolutions, the quantization debug tables
(sortable), and advice drawn from the data.  Sensitivity analysis and automatic selection
(:mod:`qcompiler.analyze`) add their own sections when given.

::

    import qcompiler
    from qcompiler.report import write_report

    result = qcompiler.compile("m.onnx", "q.onnx", config="q.ini")
    write_report(result, "report.html", source="m.onnx")

or ``qcompiler compile m.onnx --config q.ini -o q.onnx --report report.html`` and
``qcompiler report m.onnx --config q.ini -o report.html``.  The same inputs give the same bytes
(no timestamps); the page loads nothing from the network.
"""

from __future__ import annotations

import os
from typing import Any

from qcompiler.report.collect import ReportData, collect_report_data
from qcompiler.report.render import render_report, write_html

__all__ = ["ReportData", "collect_report_data", "render_report", "write_report"]


def write_report(result: Any, path: str | os.PathLike, *, source: Any = None, title: str | None = None,
                 sensitivity: Any = None, selection: Any = None) -> ReportData:  # fmt: skip
    """Build the report of ``result`` (a :class:`qcompiler.driver.CompileResult`) and write it
    to ``path``; returns the data it shows."""
    data = collect_report_data(result, source=source, title=title, sensitivity=sensitivity, selection=selection)
    write_html(render_report(data), path)
    return data
