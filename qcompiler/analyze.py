"""Per-layer sensitivity analysis and automatic selection of the layers to keep float.

:func:`analyze` compiles the model once with everything quantized (the *baseline*), then once
per layer, either keeping that one layer float (mode ``skip``: how much the output gains) or
quantizing only that layer (mode ``only``: how much it alone costs), and measures the model
output against the float model on calibration samples: SQNR (dB), cosine similarity and top-1
agreement (how often the quantized model's arg-max equals the float model's; the calibration set
has no labels, so this stands in for accuracy).  Trials run in parallel processes; calibration
statistics come from the on-disk cache the baseline filled, so a trial costs one compile and
one onnxruntime pass.

:func:`select_float_layers` meets a target (``target_cosine`` and/or ``target_sqnr``) with the
smallest set of layers kept float it finds: layers ranked by the ``skip`` gain, the shortest
prefix of the ranking meeting the target (doubling, then bisection), then every chosen layer
dropped again if the target still holds without it.  The choice is the config's
``skip_quant_node`` (what ``honor-skip-nodes`` reads), written back as an INI file::

    from qcompiler.analyze import analyze, select_float_layers

    sens = analyze("m.onnx", "q.ini", jobs=2)
    print(sens.format_table())
    sel = select_float_layers("m.onnx", "q.ini", target_cosine=0.995)
    sel.write_config("q.selected.ini")     # qcompiler compile m.onnx --config q.selected.ini
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np

from qcompiler.errors import ConfigError, QCompilerError
from qcompiler.frontend.big_weights import ort_session

__all__ = ["Metrics", "Trial", "Sensitivity", "Selection", "analyze", "select_float_layers",
           "quantized_layers", "MODES", "RUNTIMES"]  # fmt: skip

MODES = ("skip", "only")
#: How trial models are run: ``reference`` runs the QDQ model as written (onnxruntime with graph
#: optimizations off: the arithmetic the debug report measures and the C backend implements);
#: ``onnxruntime`` with its default optimizations (its integer kernels, as deployed).
RUNTIMES = ("reference", "onnxruntime")


# -- measurements ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Metrics:
    """The model output against the float model's over the evaluation samples."""

    sqnr: float  #: dB over all outputs of all samples
    cosine: float  #: cosine similarity of all outputs of all samples, concatenated
    agreement: float | None = None  #: top-1 agreement with the float model (classifiers)

    def meets(self, target_cosine: float | None, target_sqnr: float | None) -> bool:
        return ((target_cosine is None or self.cosine >= target_cosine)
                and (target_sqnr is None or self.sqnr >= target_sqnr))  # fmt: skip

    def describe(self) -> str:
        sq = "inf" if math.isinf(self.sqnr) else f"{self.sqnr:.2f}"
        text = f"SQNR {sq} dB, cosine {self.cosine:.5f}"
        return text + (f", top-1 agreement {self.agreement:.1%}" if self.agreement is not None else "")

    def as_dict(self) -> dict[str, Any]:
        return {"sqnr_db": _json_num(self.sqnr), "cosine": self.cosine, "top1_agreement": self.agreement}


def _json_num(v: float | None) -> float | str | None:
    return v if v is None or math.isfinite(v) else ("inf" if v > 0 else "-inf")


def measure(reference: list[list[np.ndarray]], outputs: list[list[np.ndarray]]) -> Metrics:
    """Metrics of ``outputs`` against ``reference`` (per sample, per model output)."""
    ref = np.concatenate([np.asarray(o, np.float64).ravel() for s in reference for o in s])
    got = np.concatenate([np.asarray(o, np.float64).ravel() for s in outputs for o in s])
    noise = float(np.sum((got - ref) ** 2))
    signal = float(np.sum(ref**2))
    sqnr = math.inf if noise == 0 else (10 * math.log10(signal / noise) if signal > 0 else -math.inf)
    d = float(np.linalg.norm(ref) * np.linalg.norm(got))
    cosine = float(ref @ got / d) if d > 0 else 1.0
    agreement = None
    first = np.asarray(reference[0][0]) if reference and reference[0] else None
    if first is not None and first.ndim >= 1 and first.shape[-1] > 1:
        same = [np.array_equal(np.asarray(r[0]).argmax(-1), np.asarray(o[0]).argmax(-1))
                for r, o in zip(reference, outputs)]  # fmt: skip
        agreement = float(np.mean(same))
    return Metrics(sqnr, cosine, agreement)


@dataclass
class Trial:
    """One layer's measurement: kept float (``skip``) or quantized alone (``only``)."""

    layer: str
    op_type: str
    mode: str
    sqnr: float
    cosine: float
    agreement: float | None
    gain: float | None = None  #: ``skip``: output SQNR gained over the baseline (dB)
    top: bool = False  #: among the most sensitive layers

    def as_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "op_type": self.op_type, "mode": self.mode, "sqnr_db": _json_num(self.sqnr),
                "cosine": self.cosine, "top1_agreement": self.agreement, "gain_db": _json_num(self.gain)}  # fmt: skip


@dataclass
class _Row:
    layer: str
    op_type: str
    skip: Trial | None
    only: Trial | None
    top: bool


@dataclass
class Sensitivity:
    """The result of :func:`analyze`."""

    baseline: Metrics
    layers: list[tuple[str, str]]  #: (layer, op type) in graph order
    trials: list[Trial]
    samples: int

    def has(self, mode: str) -> bool:
        return any(t.mode == mode for t in self.trials)

    def ranking(self, mode: str = "skip") -> list[Trial]:
        """Most sensitive first: ``skip`` by gain, ``only`` by the lowest output SQNR."""
        order = {name: i for i, (name, _) in enumerate(self.layers)}
        trials = [t for t in self.trials if t.mode == mode]
        if mode == "skip":
            return sorted(trials, key=lambda t: (-_finite(t.gain), order.get(t.layer, 0)))
        return sorted(trials, key=lambda t: (_finite(t.sqnr), order.get(t.layer, 0)))

    def rows(self) -> list[_Row]:
        """One row per layer, most sensitive first (by ``skip`` when measured)."""
        mode = "skip" if self.has("skip") else "only"
        by = {m: {t.layer: t for t in self.trials if t.mode == m} for m in MODES}
        types = dict(self.layers)
        return [_Row(t.layer, types.get(t.layer, t.op_type), by["skip"].get(t.layer), by["only"].get(t.layer), t.top)
                for t in self.ranking(mode)]  # fmt: skip

    def format_table(self, top: int | None = None) -> str:
        """The ranking as text for a terminal."""
        rows = self.rows()[:top] if top else self.rows()
        w = max([len(r.layer) for r in rows] + [5])
        head = f"{'rank':>4}  {'layer':<{w}}  {'type':<18}"
        if self.has("skip"):
            head += f"  {'float: SQNR dB':>14}  {'gain dB':>8}  {'cosine':>8}  {'top-1':>6}"
        if self.has("only"):
            head += f"  {'alone: SQNR dB':>14}  {'cosine':>8}"
        lines = [f"baseline (everything quantized, {self.samples} samples): {self.baseline.describe()}", head]
        for i, r in enumerate(rows, 1):
            line = f"{i:>4}  {r.layer:<{w}}  {r.op_type:<18}"
            if self.has("skip"):
                s = r.skip
                line += (f"  {s.sqnr:>14.2f}  {s.gain:>8.2f}  {s.cosine:>8.5f}  "
                         f"{_pct(s.agreement):>6}") if s else f"  {'':>14}  {'':>8}  {'':>8}  {'':>6}"  # fmt: skip
            if self.has("only"):
                o = r.only
                line += f"  {o.sqnr:>14.2f}  {o.cosine:>8.5f}" if o else ""
            lines.append(line.rstrip())
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline.as_dict(), "samples": self.samples,
                "layers": [{"layer": n, "op_type": t} for n, t in self.layers],
                "ranking": {m: [t.as_dict() for t in self.ranking(m)] for m in MODES if self.has(m)}}  # fmt: skip


def _finite(v: float | None) -> float:
    if v is None or math.isnan(v):
        return -1e9
    return max(min(v, 1e9), -1e9)


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:.1%}"


@dataclass
class Selection:
    """The result of :func:`select_float_layers`."""

    target_cosine: float | None
    target_sqnr: float | None
    baseline: Metrics
    final: Metrics
    skipped: list[str]  #: layers chosen to stay float, most sensitive first
    config: Any  #: the config with them added to ``skip_quant_node``
    config_skip: list[str]  #: the ``skip_quant_node`` list written (the user's own included)
    met: bool
    steps: list[tuple[list[str], Metrics]] = field(default_factory=list)  #: every set measured
    sensitivity: Sensitivity | None = None
    config_path: str | None = None
    onnxruntime: Metrics | None = None  #: the choice measured in onnxruntime (reference runs)
    warnings: list[str] = field(default_factory=list)

    def target_text(self) -> str:
        parts = []
        if self.target_cosine is not None:
            parts.append(f"cosine >= {self.target_cosine:g}")
        if self.target_sqnr is not None:
            parts.append(f"SQNR >= {self.target_sqnr:g} dB")
        return " and ".join(parts)

    def config_text(self) -> str:
        """The INI text of the chosen config, with a comment saying how it was chosen."""
        head = [f"# Chosen by qcompiler to meet {self.target_text()} on the calibration samples:",
                f"# everything quantized gave {self.baseline.describe()};",
                f"# with {', '.join(self.skipped) if self.skipped else 'no layer'} kept float: {self.final.describe()}."
                + ("" if self.met else " TARGET NOT MET."),
                "# Edit it and re-run: qcompiler compile MODEL --config THIS_FILE -o OUT"]  # fmt: skip
        return "\n".join(head) + "\n" + self.config.to_ini()

    def write_config(self, path: str | os.PathLike) -> str:
        """Write the chosen config to ``path`` (relative calibration folders re-based onto the
        new file's folder, so it runs from there)."""
        from qcompiler.report.render import write_html

        path = os.fspath(path)
        cfg = _rebase_calibrate_path(self.config, os.path.dirname(os.path.abspath(path)))
        text = self.config_text().replace(self.config.to_ini(), cfg.to_ini())
        write_html(text, path, what="--save-config")
        self.config_path = path
        return path


def _rebase_calibrate_path(cfg: Any, folder: str) -> Any:
    if ("data_preprocess_param", "calibrate_path") not in cfg.given or not cfg.base_dir:
        return cfg
    paths = cfg.calibrate_paths()
    parts = []
    for name, p in paths.items():
        rel = os.path.relpath(p, folder)
        where = p if rel.startswith("..") else rel  # relative only below the new file's folder
        parts.append(f"{name}:{where}" if name else where)
    return cfg.replace(calibrate_path=",".join(parts))


# -- layers ----------------------------------------------------------------------------------
def _layer_name(op: Any) -> str:
    return op.name or op.outputs[0].name


def quantized_layers(model: Any) -> list[tuple[str, str]]:
    """(name, op type) of the ops of a quantized IR model that read a dequantized tensor, in
    graph order: the layers ``skip_quant_node`` can keep float."""
    out = []
    seen = set()
    for op in model.graph:
        if op.op_type in ("QuantizeLinear", "DequantizeLinear") or not op.outputs:
            continue
        reads = any(v is not None and v.producer() is not None and v.producer().op_type == "DequantizeLinear"
                    for v in op.inputs)  # fmt: skip
        name = _layer_name(op)
        if reads and name not in seen:
            seen.add(name)
            out.append((name, op.qualified_type))
    return out


def _glob_escape(name: str) -> str:
    """``skip_quant_node`` takes globs: a name holding ``*?[`` is matched literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


# -- running trials --------------------------------------------------------------------------
class _Evaluator:
    """Compiles the model with extra layers kept float and measures its output (one per process)."""

    def __init__(self, job: dict[str, Any]):
        self.job = job
        self.reference = job["reference"]
        self.samples = job["samples"]
        self._session_opts = None

    def compile(self, skip: Sequence[str]):
        from qcompiler.driver import compile as run_compile

        job = self.job
        cfg = job["config"]
        if skip:
            cfg = cfg.replace(skip_quant_node=list(job["user_skip"]) + [_glob_escape(s) for s in skip])
        return run_compile(job["model"], None, config=cfg, calib_data=job["calib_data"],
                           input_shapes=job["input_shapes"], options=job["options"],
                           registry=job.get("registry"))  # fmt: skip

    def metrics(self, skip: Sequence[str], runtime: str | None = None) -> Metrics:
        import onnxruntime as ort

        from qcompiler.codegen.onnx_backend import ir_to_proto

        result = self.compile(skip)
        level = {} if (runtime or self.job["runtime"]) != "reference" else {
            "graph_optimization_level": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
        sess = ort_session(ir_to_proto(result.model), intra_op_num_threads=1, inter_op_num_threads=1,
                           log_severity_level=3, **level)  # fmt: skip
        outputs = [sess.run(self.job["output_names"], s) for s in self.samples]
        return measure(self.reference, outputs)


_WORKER: _Evaluator | None = None


def _init_worker(job: dict[str, Any]) -> None:
    global _WORKER
    _WORKER = _Evaluator(job)


def _work(task: tuple[int, list[str]]) -> tuple[int, Metrics | str]:
    i, skip = task
    try:
        return i, _WORKER.metrics(skip)  # type: ignore[union-attr]
    except QCompilerError as e:
        return i, f"{type(e).__name__}: {e}"


def _picklable_calib(calib_data: Any) -> Any:
    if calib_data is None or isinstance(calib_data, (str, os.PathLike, np.ndarray, list, tuple, dict)):
        return calib_data
    return [dict(s) for s in calib_data]  # a generator or reader: materialized once


class _Runner:
    """The baseline compile, the evaluation samples and a process pool for the trials."""

    def __init__(self, model: Any, config: Any, *, calib_data: Any, input_shapes: Any, samples: int,
                 jobs: int | None, progress: bool, options: dict | None, registry: Any,
                 runtime: str = "reference"):  # fmt: skip
        from qcompiler.codegen.onnx_backend import ir_to_proto
        from qcompiler.config import resolve_config
        from qcompiler.driver import compile as run_compile
        from qcompiler.driver import load_model

        cfg = resolve_config(config)
        if cfg is None:
            raise ConfigError("analysis needs a quantization config (--config q.ini or --calib-data DIR)")
        if samples < 1:
            raise QCompilerError(f"--samples {samples}: must be at least 1")
        if runtime not in RUNTIMES:
            raise QCompilerError(f"--runtime {runtime!r}: must be one of {', '.join(RUNTIMES)}")
        self.runtime = runtime
        self.progress = progress
        self.jobs = max(1, jobs if jobs else min(4, os.cpu_count() or 1))
        calib_data = _picklable_calib(calib_data)
        model_arg = model
        if not isinstance(model, (str, os.PathLike)):
            import onnx

            if not isinstance(model, onnx.ModelProto):
                model_arg = ir_to_proto(load_model(model, input_shapes=input_shapes))
        base = run_compile(model_arg, None, config=cfg, calib_data=calib_data, input_shapes=input_shapes,
                           options=options, registry=registry)  # fmt: skip
        self.baseline_result = base
        self.layers = quantized_layers(base.model)
        data = base.context.calib_data if base.context is not None else None
        if data is None:
            raise ConfigError("analysis needs calibration data: set calibrate_path or pass --calib-data DIR")
        eval_samples = [dict(s) for s in islice(iter(data), samples)]
        float_ir = load_model(model_arg, input_shapes=input_shapes)
        sess = ort_session(ir_to_proto(float_ir), intra_op_num_threads=1, log_severity_level=3)
        names = [o.name for o in sess.get_outputs()]
        reference = [sess.run(names, s) for s in eval_samples]
        self.job = {"model": model_arg, "config": cfg, "user_skip": list(cfg.get("common_quant_param", "skip_quant_node")),
                    "calib_data": calib_data, "input_shapes": input_shapes, "options": options,
                    "reference": reference, "samples": eval_samples, "output_names": names,
                    "runtime": runtime}  # fmt: skip
        self.local = _Evaluator({**self.job, "registry": registry})
        # A registry given in Python cannot travel to other processes: run the trials here then.
        self.parallel = registry is None and self.jobs > 1
        self.config = cfg
        self.samples = len(eval_samples)
        self._pool = None

    def baseline(self) -> Metrics:
        return self.local.metrics([])

    def run(self, skips: list[list[str]], desc: str) -> list[Metrics]:
        """Metrics for each skip list, in order (in parallel when there are several)."""
        out: list[Metrics | str | None] = [None] * len(skips)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(skips), desc=desc, unit="trial", file=sys.stderr, leave=False)
        try:
            if not self.parallel or len(skips) < 2:
                for i, skip in enumerate(skips):
                    try:
                        out[i] = self.local.metrics(skip)
                    except QCompilerError as e:
                        out[i] = f"{type(e).__name__}: {e}"
                    if bar is not None:
                        bar.update(1)
            else:
                from concurrent.futures import as_completed

                pool = self._executor()
                futures = [pool.submit(_work, (i, s)) for i, s in enumerate(skips)]
                for f in as_completed(futures):
                    i, m = f.result()
                    out[i] = m
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        for skip, m in zip(skips, out):
            if isinstance(m, str):
                raise QCompilerError(f"trial keeping {', '.join(skip) or 'nothing'} float failed: {m}")
        return out  # type: ignore[return-value]

    def _executor(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: onnxruntime's thread pools do not survive fork.
            self._pool = ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(self.job,))  # fmt: skip
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _sensitivity(runner: _Runner, modes: Sequence[str], baseline: Metrics) -> Sensitivity:
    names = [n for n, _ in runner.layers]
    types = dict(runner.layers)
    tasks: list[tuple[str, str, list[str]]] = []
    for mode in modes:
        for n in names:
            tasks.append((mode, n, [n] if mode == "skip" else [m for m in names if m != n]))
    results = runner.run([t[2] for t in tasks], "analyzing")
    trials = []
    for (mode, n, _), m in zip(tasks, results):
        gain = m.sqnr - baseline.sqnr if mode == "skip" else None
        if gain is not None and not math.isfinite(gain):
            gain = 1e9 if gain > 0 else -1e9
        trials.append(Trial(n, types[n], mode, m.sqnr, m.cosine, m.agreement, gain))
    sens = Sensitivity(baseline, list(runner.layers), trials, runner.samples)
    for mode in modes:
        ranked = sens.ranking(mode)
        k = min(3, max(1, len(ranked) // 10)) if ranked else 0
        for t in ranked[:k]:
            t.top = True
    return sens


def _check_modes(modes: Sequence[str] | str) -> list[str]:
    modes = [modes] if isinstance(modes, str) else list(modes)
    if modes == ["both"]:
        modes = list(MODES)
    for m in modes:
        if m not in MODES:
            raise QCompilerError(f"--mode {m!r}: must be skip, only or both")
    return modes


def analyze(model: Any, config: Any, *, calib_data: Any = None, modes: Sequence[str] | str = ("skip",),
            samples: int = 32, jobs: int | None = None, progress: bool = False,
            input_shapes: Any = None, options: dict | None = None, registry: Any = None,
            runtime: str = "reference") -> Sensitivity:  # fmt: skip
    """Per-layer sensitivity of ``model`` quantized with ``config`` (see the module docstring).

    ``samples`` calibration samples are used for the measurement; ``jobs`` processes run the
    trials (default: up to 4, one per core); ``runtime`` is one of :data:`RUNTIMES`.
    """
    modes = _check_modes(modes)
    runner = _Runner(model, config, calib_data=calib_data, input_shapes=input_shapes, samples=samples,
                     jobs=jobs, progress=progress, options=options, registry=registry, runtime=runtime)  # fmt: skip
    try:
        return _sensitivity(runner, modes, runner.baseline())
    finally:
        runner.close()


def select_float_layers(model: Any, config: Any, *, target_cosine: float | None = None,
                        target_sqnr: float | None = None, calib_data: Any = None, samples: int = 32,
                        jobs: int | None = None, progress: bool = False, input_shapes: Any = None,
                        options: dict | None = None, registry: Any = None,
                        runtime: str = "reference") -> Selection:  # fmt: skip
    """The smallest set of layers to keep float found to meet the target (see the module
    docstring); the target is measured on ``samples`` calibration samples with ``runtime``.

    With the ``reference`` runtime the choice is also run in onnxruntime with its default
    optimizations; where that misses the target, ``Selection.warnings`` says so (onnxruntime
    quantizes the float weights of a layer whose input and output are quantized, with one
    scale per tensor: its WeightBiasQuantization optimization).
    """
    if target_cosine is None and target_sqnr is None:
        raise QCompilerError("give a target: --target-cosine X or --target-sqnr DB")
    if target_cosine is not None and not (0 < target_cosine <= 1):
        raise QCompilerError(f"--target-cosine {target_cosine:g}: must be in (0, 1]")
    if target_sqnr is not None and not math.isfinite(target_sqnr):
        raise QCompilerError(f"--target-sqnr {target_sqnr}: must be a finite number of dB")
    runner = _Runner(model, config, calib_data=calib_data, input_shapes=input_shapes, samples=samples,
                     jobs=jobs, progress=progress, options=options, registry=registry, runtime=runtime)  # fmt: skip
    if not runner.config.is_full_quant:
        raise ConfigError(f"{runner.config.source}: automatic selection keeps layers float in FULL_QUANT; "
                          "for WEIGHT_QUANT use bit_num=0 with [mixed_bit_weight_quant_param] auto_tune=true")  # fmt: skip
    try:
        sel = _select(runner, target_cosine, target_sqnr)
        if runtime == "reference" and sel.skipped:
            deployed = runner.local.metrics(sel.skipped, runtime="onnxruntime")
            sel.onnxruntime = deployed
            if not deployed.meets(target_cosine, target_sqnr):
                sel.warnings.append(
                    f"in onnxruntime (default optimizations) the chosen config gives {deployed.describe()}, "
                    f"missing {sel.target_text()}: onnxruntime quantizes the float weights of a layer whose "
                    "input and output are quantized (one scale per tensor); run with "
                    "disabled_optimizers=['WeightBiasQuantization'] or choose with --runtime onnxruntime")  # fmt: skip
        return sel
    finally:
        runner.close()


def _select(runner: _Runner, target_cosine: float | None, target_sqnr: float | None) -> Selection:
    baseline = runner.baseline()
    steps: list[tuple[list[str], Metrics]] = [([], baseline)]
    cache: dict[tuple[str, ...], Metrics] = {(): baseline}

    def measure_sets(sets: list[list[str]]) -> list[Metrics]:
        todo = [s for s in sets if tuple(s) not in cache]
        for s, m in zip(todo, runner.run(todo, "selecting") if todo else []):
            cache[tuple(s)] = m
            steps.append((list(s), m))
        return [cache[tuple(s)] for s in sets]

    def ok(m: Metrics) -> bool:
        return m.meets(target_cosine, target_sqnr)

    def done(chosen: list[str], met: bool, sens: Sensitivity | None) -> Selection:
        user = list(runner.config.get("common_quant_param", "skip_quant_node"))
        skip_list = user + [_glob_escape(s) for s in chosen]
        cfg = runner.config.replace(skip_quant_node=skip_list) if chosen else runner.config
        return Selection(target_cosine, target_sqnr, baseline, cache[tuple(chosen)], chosen, cfg, skip_list,
                         met, steps, sens)  # fmt: skip

    if ok(baseline):
        return done([], True, None)
    sens = _sensitivity(runner, ["skip"], baseline)
    for t in sens.trials:
        cache[(t.layer,)] = Metrics(t.sqnr, t.cosine, t.agreement)
    order = [t.layer for t in sens.ranking("skip")]
    # The shortest prefix of the ranking that meets the target: doubling, then bisection.
    lo, hi = 0, None  # lo: longest prefix known to fail
    k = 1
    while k <= len(order):
        (m,) = measure_sets([order[:k]])
        if ok(m):
            hi = k
            break
        lo = k
        if k == len(order):
            break
        k = min(2 * k, len(order))
    if hi is None:
        best = max((s for s in cache), key=lambda s: (cache[s].cosine, -len(s)))
        return done(list(best), False, sens)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        (m,) = measure_sets([order[:mid]])
        if ok(m):
            hi = mid
        else:
            lo = mid
    chosen = order[:hi]
    # Drop what the target does not need (least sensitive first).
    for name in reversed(list(chosen)):
        if len(chosen) == 1:
            break
        trial = [n for n in chosen if n != name]
        (m,) = measure_sets([trial])
        if ok(m):
            chosen = trial
    return done(chosen, True, sens)
