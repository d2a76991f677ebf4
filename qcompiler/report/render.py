"""Rendering the report data into one self-contained HTML file (jinja2, inline CSS/JS/SVG)."""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from qcompiler import __version__
from qcompiler.errors import QCompilerError
from qcompiler.report.charts import bar_chart, channel_ranges, cosine_chart, fmt, histogram
from qcompiler.report.collect import ReportData

__all__ = ["render_report", "write_html", "check_output_path"]


def _asset(name: str) -> str:
    return resources.files("qcompiler.report").joinpath("templates", name).read_text(encoding="utf-8")


def pct(v: float | None) -> str:
    """A fraction as a percentage (``0.0123`` -> ``1.23%``); ``n/a`` for None."""
    if v is None:
        return "n/a"
    return "0%" if v == 0 else f"{100 * v:.3g}%"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qcompiler.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.filters.update(fmt=fmt, pct=pct)
    env.globals.update(bar_chart=bar_chart, cosine_chart=cosine_chart, histogram=histogram,
                       channel_ranges=channel_ranges)  # fmt: skip
    return env


def render_report(data: ReportData) -> str:
    """The HTML text of the report (deterministic: the same data gives the same text)."""
    template = _environment().get_template("report.html.j2")
    # The stylesheet and script are inlined as they are (they hold no template syntax).
    return template.render(d=data, version=__version__, css=Markup(_asset("report.css")),
                           js=Markup(_asset("report.js")))  # fmt: skip


def check_output_path(path: str | os.PathLike, what: str) -> None:
    """Raise a one-line error now if ``path`` cannot be written later (a folder, no such folder)."""
    p = Path(path)
    if p.is_dir():
        raise QCompilerError(f"{what} {p}: is a folder, expected a file name")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise QCompilerError(f"{what} {p}: folder {folder} does not exist")


def write_html(text: str, path: str | os.PathLike, *, what: str = "--report") -> str:
    """Write ``text`` to ``path`` atomically (a temporary file renamed into place); errors
    name the file as ``what PATH``."""
    path = Path(path)
    check_output_path(path, what)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=".qcompiler-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a report is a normal file
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise QCompilerError(f"{what} {path}: cannot write: {e.strerror or e}") from None
    return str(path)


