"""Quantization entry points, thin over :func:`qcompiler.compile`.

* :func:`quantize` — keyword arguments with MindSpore's key names.
* :func:`quantize_static` — onnxruntime's ``quantize_static`` signature.
* :class:`PostTrainingQuantization` — Paddle's class (``sample_generator``, ``algo``,
  ``quantizable_op_type``, ``is_full_quantize``, ``weight_bits``, ``activation_bits``,
  ``skip_quant`` scopes via ``skip_quant_scope``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from qcompiler.config import QuantConfig, load_config, resolve_config
from qcompiler.errors import ConfigError

__all__ = ["quantize", "quantize_static", "PostTrainingQuantization", "config_from_cli"]


def config_from_cli(config_path: str | None, calib_data: str | None) -> QuantConfig:
    """The config of ``--config`` (FULL_QUANT when only ``--calib-data`` is given), with
    ``--calib-data`` overriding ``calibrate_path``."""
    cfg = load_config(config_path) if config_path else QuantConfig.from_kwargs(quant_type="FULL_QUANT")
    if calib_data:
        if not os.path.isdir(calib_data):
            raise ConfigError(f"--calib-data {calib_data}: no such folder")
        changes: dict[str, Any] = {"calibrate_path": os.path.abspath(calib_data)}
        if ("data_preprocess_param", "input_type") not in cfg.given:
            from pathlib import Path

            from qcompiler.data import _guess_type

            changes["input_type"] = _guess_type(Path(calib_data))
        cfg = cfg.replace(**changes)
    return cfg


def quantize(model: Any, output: str | os.PathLike | None = None, *, calib_data: Any = None,
             config: Any = None, **options: Any):  # fmt: skip
    """Quantize with MindSpore-style keys, e.g.
    ``quantize("m.onnx", "q.onnx", calib_data=samples, quant_type="FULL_QUANT", bit_num=8)``."""
    from qcompiler.driver import compile as run_compile

    driver_keys = {k: options.pop(k) for k in list(options) if k in _DRIVER_KEYS}
    if config is None and "quant_type" not in options:
        options["quant_type"] = "FULL_QUANT"
    cfg = resolve_config(config, **options)
    return run_compile(model, output, config=cfg, calib_data=calib_data, **driver_keys)


_DRIVER_KEYS = {"pipeline", "input_shapes", "backend", "target", "time_passes", "print_ir_after", "dump_dir",
                "verify_each", "registry", "progress", "options"}  # fmt: skip
_ORT_METHODS = {"MinMax": "MAX_MIN", "Entropy": "KL", "Percentile": "PERCENTILE", "Distribution": "MSE"}


def quantize_static(model_input: Any, model_output: str | os.PathLike, calibration_data_reader: Any, *,
                    quant_format: Any = None, op_types_to_quantize: Sequence[str] | None = None,
                    per_channel: bool = False, reduce_range: bool = False, activation_type: Any = None,
                    weight_type: Any = None, nodes_to_quantize: Sequence[str] | None = None,
                    nodes_to_exclude: Sequence[str] | None = None, calibrate_method: Any = "MinMax",
                    extra_options: dict | None = None, **kwargs: Any):  # fmt: skip
    """onnxruntime's ``quantize_static`` arguments, run by qcompiler (QDQ format)."""
    method = getattr(calibrate_method, "name", str(calibrate_method))
    extra = extra_options or {}
    act_signed = "UInt8" not in str(getattr(activation_type, "name", activation_type or "QInt8"))
    options: dict[str, Any] = {
        "quant_type": "FULL_QUANT",
        "activation_quant_method": _ORT_METHODS.get(method, method),
        "per_channel": per_channel,
        "activation_signed": act_signed,
        "activation_symmetric": bool(extra.get("ActivationSymmetric", False)),
        "weight_symmetric": bool(extra.get("WeightSymmetric", True)),
        "bias_correction": "false",
    }
    if op_types_to_quantize:
        options.update(is_full_quantize=False, quantizable_op_type=list(op_types_to_quantize))
    if nodes_to_exclude:
        options["skip_quant_node"] = list(nodes_to_exclude)
    return quantize(model_input, model_output, calib_data=calibration_data_reader, **options, **kwargs)


class PostTrainingQuantization:
    """Paddle's post-training quantization class over qcompiler.

    ``sample_generator`` is a callable returning an iterable of samples (Paddle style);
    ``algo`` is ``KL``, ``direct``/``abs_max`` (MAX_MIN), ``avg`` (moving average), ``hist``
    (percentile) or ``mse``.
    """

    _ALGOS = {"KL": "KL", "direct": "MAX_MIN", "abs_max": "MAX_MIN", "min_max": "MAX_MIN",
              "avg": "MOVING_AVERAGE_MIN_MAX", "hist": "PERCENTILE", "mse": "MSE"}  # fmt: skip

    def __init__(self, model_dir: Any = None, *, model_filename: str | None = None, sample_generator: Any = None,
                 batch_size: int = 10, batch_nums: int | None = None, algo: str = "KL",
                 quantizable_op_type: Sequence[str] = ("conv2d", "depthwise_conv2d", "mul"),
                 is_full_quantize: bool = False, weight_bits: int = 8, activation_bits: int = 8,
                 skip_quant_scope: Sequence[str] = (), bias_correction: bool = False,
                 weight_quantize_type: str = "channel_wise_abs_max", **unused: Any):  # fmt: skip
        if algo not in self._ALGOS:
            raise ConfigError(f"algo={algo!r}: must be one of {', '.join(self._ALGOS)}")
        self.model = os.path.join(model_dir, model_filename) if model_dir and model_filename else model_dir
        self.sample_generator = sample_generator
        self.limit = batch_nums * batch_size if batch_nums else None
        self.options = {
            "quant_type": "FULL_QUANT", "activation_quant_method": self._ALGOS[algo],
            "is_full_quantize": is_full_quantize, "quantizable_op_type": list(quantizable_op_type),
            "weight_bit_num": weight_bits, "activation_bit_num": activation_bits,
            "skip_quant_scope": list(skip_quant_scope), "bias_correction": "true" if bias_correction else "false",
            "per_channel": weight_quantize_type == "channel_wise_abs_max",
        }  # fmt: skip
        if self.limit:
            self.options["calibrate_size"] = self.limit
        self.result = None

    def quantize(self):
        """Run the quantization; returns the quantized IR model."""
        self.result = quantize(self.model, None, calib_data=self.sample_generator, **self.options)
        return self.result.model

    def save_quantized_model(self, path: str | os.PathLike) -> None:
        from qcompiler.codegen.onnx_backend import save_onnx

        if self.result is None:
            self.quantize()
        save_onnx(self.result.model, path)
