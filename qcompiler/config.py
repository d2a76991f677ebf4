"""The quantization configuration: MindSpore Lite's INI file, the same keys in TOML, or kwargs.

One declarative table (:data:`SCHEMA`) lists every key: section, type, default, allowed values
and a one-line help.  Loading validates each key against it; an unknown key or section, or a
value out of range, is a :class:`~qcompiler.errors.ConfigError` naming the file, section, key,
value and what is allowed, e.g.::

    q.ini: [common_quant_param] bit_num=12: must be an integer in [1, 8] for FULL_QUANT

Plugins add keys (to a built-in section or a section of their own) with
:func:`register_config_key`.

Sections (MindSpore Lite's keys, plus qcompiler's extensions marked *ext*):

* ``[common_quant_param]``: quant_type, bit_num, min_quant_weight_size,
  min_quant_weight_channel, skip_quant_node, debug_info_save_path; *ext*: weight_bit_num,
  activation_bit_num (so W4A8 is expressible), weight_block_size (weight-only: blocked
  MatMul/Gemm scales, onnxruntime's MatMulNBits).
* ``[mixed_bit_weight_quant_param]``: init_scale, auto_tune.
* ``[full_quant_param]``: activation_quant_method, bias_correction (empirical, analytic or
  false; true = empirical); *ext*: per_channel, equalization, bias_absorption, adaround,
  adaround_iterations, activation_symmetric, weight_symmetric, activation_signed, weight_signed,
  narrow_range, reduce_range, is_full_quantize, quantizable_op_type, skip_op_type,
  skip_quant_scope, percentile, num_bins.
* ``[data_preprocess_param]``: calibrate_path, calibrate_size, input_type, image_to_format,
  normalize_mean, normalize_std, resize_width, resize_height, resize_method,
  center_crop_width, center_crop_height.

Example::

    cfg = QuantConfig.from_kwargs(quant_type="FULL_QUANT", activation_quant_method="KL")
    cfg.full_quant_param.activation_quant_method   # 'KL'
    cfg.weight_bits, cfg.activation_bits            # (8, 8)
    cfg.replace(calibrate_path="calib/").to_ini()   # INI text of the keys that were set
"""

from __future__ import annotations

import configparser
import dataclasses
import difflib
import fnmatch
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qcompiler.errors import ConfigError

__all__ = ["ConfigKey", "SCHEMA", "SECTIONS", "QuantConfig", "CommonQuantParam",
           "MixedBitWeightQuantParam", "FullQuantParam", "DataPreprocessParam", "load_config",
           "resolve_config", "register_config_key", "unregister_config_key", "format_schema",
           "split_calibrate_path"]  # fmt: skip

SECTIONS = ("common_quant_param", "mixed_bit_weight_quant_param", "full_quant_param",
            "data_preprocess_param")  # fmt: skip
_C, _M, _F, _D = SECTIONS

ACTIVATION_METHODS = ("MAX_MIN", "KL", "REMOVAL_OUTLIER", "MOVING_AVERAGE_MIN_MAX", "PERCENTILE", "MSE")
KINDS = ("int", "float", "bool", "str", "path", "choice", "list", "floats")


# -- the schema ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigKey:
    """One configuration key.

    ``kind`` is one of :data:`KINDS`: ``int``/``float`` (with an optional range ``low``..``high``,
    open at either end), ``bool``, ``str``, ``path``, ``choice`` (one of ``choices``,
    case-insensitive, plus ``aliases``), ``list`` (comma-separated names) or ``floats``
    (``[1.0, 2.0]``).  ``default`` is the value when the key is not set (``None``: unset).
    """

    section: str
    name: str
    kind: str
    default: Any = None
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    help: str = ""
    aliases: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"config key [{self.section}] {self.name}: unknown type {self.kind!r} "
                              f"(types: {', '.join(KINDS)})")  # fmt: skip
        if self.kind == "choice" and not self.choices:
            raise ConfigError(f"config key [{self.section}] {self.name}: a choice key needs choices")

    def allowed(self) -> str:
        """What the key accepts, in words (used in error messages)."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind in ("int", "float") and (self.low is not None or self.high is not None):
            kind = "an integer" if self.kind == "int" else "a number"
            if self.high is None:
                return f"{kind} {'>' if self.open_low else '>='} {_num(self.low)}"
            if self.low is None:
                return f"{kind} {'<' if self.open_high else '<='} {_num(self.high)}"
            lb, hb = "(" if self.open_low else "[", ")" if self.open_high else "]"
            return f"{kind} in {lb}{_num(self.low)}, {_num(self.high)}{hb}"
        return {"int": "an integer", "float": "a number", "bool": "true or false",
                "list": "a comma-separated list of names", "floats": "a list of numbers like [1.0, 2.0]",
                "str": "text", "path": "a path"}[self.kind]  # fmt: skip


def _num(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else str(x)


def _k(section: str, name: str, kind: str, default: Any = None, **kw: Any) -> ConfigKey:
    return ConfigKey(section, name, kind, default, **kw)


_BOOL_ALIASES = {"true": "empirical", "false": "false", "1": "empirical", "0": "false",
                 "yes": "empirical", "no": "false", "on": "empirical", "off": "false"}  # fmt: skip

#: Every built-in key, in the order ``to_ini`` writes them.
SCHEMA: tuple[ConfigKey, ...] = (
    _k(_C, "quant_type", "choice", "FULL_QUANT", choices=("WEIGHT_QUANT", "FULL_QUANT"),
       aliases={"WEIGHT_QUAN": "WEIGHT_QUANT"}, help="WEIGHT_QUANT (weights only) or FULL_QUANT (weights and activations)"),
    _k(_C, "bit_num", "int", 8, low=0, high=16, help="bits; WEIGHT_QUANT [0, 16] (0 = mixed bit), FULL_QUANT [1, 8]"),
    _k(_C, "weight_bit_num", "int", None, low=0, high=16, help="weight bits, overriding bit_num (ranges as bit_num)"),
    _k(_C, "activation_bit_num", "int", None, low=1, high=16, help="activation bits, overriding bit_num (ranges as bit_num)"),
    _k(_C, "weight_block_size", "int", 0, low=0, high=4096,
       help="MatMul/Gemm weights: one scale per this many weights along K (0: per channel; a power of two >= 16)"),
    _k(_C, "min_quant_weight_size", "int", 0, low=0, high=65535, help="weight-quant: quantize weights with more elements"),
    _k(_C, "min_quant_weight_channel", "int", 16, low=0, high=65535, help="weight-quant: quantize weights with more channels"),
    _k(_C, "skip_quant_node", "list", (), help="node names or globs kept float"),
    _k(_C, "debug_info_save_path", "path", None, help="folder for the debug reports"),
    _k(_M, "init_scale", "float", 0.02, low=0, high=1, open_low=True, open_high=True,
       help="mixed bit: relative weight error allowed per layer"),
    _k(_M, "auto_tune", "bool", False, help="mixed bit: search init_scale for an output cosine of about 0.995"),
    _k(_F, "activation_quant_method", "choice", "MAX_MIN", choices=ACTIVATION_METHODS,
       aliases={"REMOVALOUTLIER": "REMOVAL_OUTLIER"}, help="activation calibration method"),
    _k(_F, "bias_correction", "choice", "empirical", choices=("empirical", "analytic", "false"),
       aliases=_BOOL_ALIASES, help="correct the quantized layers' mean output error (true = empirical)"),
    _k(_F, "per_channel", "bool", True, help="per-output-channel weight scales"),
    _k(_F, "equalization", "bool", False, help="data-free cross-layer equalization before quantizing"),
    _k(_F, "bias_absorption", "bool", False, help="move bias a ReLU never clips into the next layer (calibration data)"),
    _k(_F, "adaround", "bool", False, help="learn each weight's rounding on the calibration data (AdaRound)"),
    _k(_F, "adaround_iterations", "int", 1000, low=1, high=1000000, help="AdaRound optimizer steps per layer"),
    _k(_F, "layer_bits_search", "bool", False, help="upgrade the most sensitive layers to 8 bits (or float weights) within size_budget"),
    _k(_F, "size_budget", "float", 1.25, low=1, high=8, help="layer_bits_search: weight bytes allowed relative to the configured bits"),
    _k(_F, "activation_symmetric", "bool", False, help="symmetric activation ranges"),
    _k(_F, "weight_symmetric", "bool", True, help="symmetric weight ranges"),
    # uint8 activations by default: onnxruntime fuses QLinearConv only for uint8 activations.
    _k(_F, "activation_signed", "bool", False, help="int8 (true) or uint8 (false) activations"),
    _k(_F, "weight_signed", "bool", True, help="int8 (true) or uint8 (false) weights"),
    _k(_F, "narrow_range", "bool", False, help="signed weights in [-127, 127] instead of [-128, 127]"),
    _k(_F, "reduce_range", "bool", True, help="8-bit weights within [-64, 64], as onnxruntime's reduce_range (its int16 accumulation on x86 without VNNI)"),
    _k(_F, "is_full_quantize", "bool", True, help="quantize every supported op type (Paddle)"),
    _k(_F, "quantizable_op_type", "list", (), help="op types quantized when is_full_quantize=false (empty: all supported)"),
    _k(_F, "skip_op_type", "list", (), help="op types kept float"),
    _k(_F, "skip_quant_scope", "list", (), help="node-name prefixes kept float (Paddle's skip_quant scope)"),
    _k(_F, "percentile", "float", 99.999, low=50, high=100, help="PERCENTILE method's percentile"),
    _k(_F, "num_bins", "int", 8192, low=128, high=65536, help="calibration histogram bins over [-R, R], R the power of two above max |x| (KL, PERCENTILE, MSE)"),
    _k(_D, "calibrate_path", "str", None, help="name:dir,name2:dir2 (or one dir for a single-input model)"),
    _k(_D, "calibrate_size", "int", None, low=1, high=65535, help="number of calibration samples (default: all files)"),
    _k(_D, "input_type", "choice", None, choices=("IMAGE", "BIN", "NPY"), help="calibration file format (default: from the files)"),
    _k(_D, "image_to_format", "choice", None, choices=("RGB", "GRAY", "BGR"), help="image channels (default: from the input's channels)"),
    _k(_D, "normalize_mean", "floats", None, help="dst = (src - mean) / std; 1 or 3 values"),
    _k(_D, "normalize_std", "floats", None, help="dst = (src - mean) / std; 1 or 3 values, each > 0"),
    _k(_D, "resize_width", "int", None, low=1, high=65535, help="image resize width"),
    _k(_D, "resize_height", "int", None, low=1, high=65535, help="image resize height"),
    _k(_D, "resize_method", "choice", None, choices=("LINEAR", "NEAREST", "CUBIC"), help="resize interpolation (default LINEAR)"),
    _k(_D, "center_crop_width", "int", None, low=1, high=65535, help="image center crop width"),
    _k(_D, "center_crop_height", "int", None, low=1, high=65535, help="image center crop height"),
)  # fmt: skip

_EXTRA: list[ConfigKey] = []


def register_config_key(key: ConfigKey | Any = None, *args: Any, **kwargs: Any) -> ConfigKey:
    """Add a key, e.g. one a plugin declares through ``qcompiler_register_config_keys``.

    Takes a :class:`ConfigKey`, a mapping of its fields, or its fields
    (``register_config_key("my_section", "alpha", "float", 0.5, low=0, high=1, help="...")``).
    Registering the same key twice is allowed; a different definition of an existing key is a
    :class:`ConfigError`.  Returns the key.
    """
    if isinstance(key, ConfigKey):
        k = key
    elif isinstance(key, Mapping):
        k = ConfigKey(**key)
    elif isinstance(key, (tuple, list)) and not args and not kwargs:
        k = ConfigKey(*key)
    else:
        k = ConfigKey(key, *args, **kwargs)
    old = _lookup(k.section, k.name)
    if old is not None:
        if old == k:
            return old
        raise ConfigError(f"config key [{k.section}] {k.name} is already defined differently")
    if k.default is not None:
        _convert(k, k.default, f"plugin key [{k.section}] default ")
    _EXTRA.append(k)
    return k


def unregister_config_key(section: str, name: str) -> None:
    """Remove a key added with :func:`register_config_key` (built-in keys stay)."""
    _EXTRA[:] = [k for k in _EXTRA if (k.section, k.name) != (section, name)]


def _schema() -> tuple[ConfigKey, ...]:
    return SCHEMA + tuple(_EXTRA)


def _sections() -> tuple[str, ...]:
    return SECTIONS + tuple(dict.fromkeys(k.section for k in _EXTRA if k.section not in SECTIONS))


def _lookup(section: str, name: str) -> ConfigKey | None:
    for k in _schema():
        if k.section == section and k.name == name:
            return k
    return None


def format_schema() -> str:
    """The schema as a text table (section, key, type, default, allowed, help)."""
    rows = []
    for k in _schema():
        default = "-" if k.default is None else _format(k.default) or "(empty)"
        rows.append(f"[{k.section}] {k.name} ({k.kind}, default {default}): {k.allowed()}; {k.help}")
    return "\n".join(rows) + "\n"


# -- value conversion ------------------------------------------------------------------------
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _convert(key: ConfigKey, raw: Any, where: str) -> Any:
    """``raw`` (text from INI, a TOML/Python value) as the key's type; ``where`` prefixes errors."""

    def bad(extra: str = "") -> ConfigError:
        shown = _format(raw) if isinstance(raw, (list, tuple, bool)) else raw
        return ConfigError(f"{where}{key.name}={shown}: must be {key.allowed()}{extra}")

    if raw is None:
        return None
    text = raw.strip() if isinstance(raw, str) else raw
    if text == "" and key.kind in ("str", "path", "list"):
        return () if key.kind == "list" else None
    if key.kind == "bool":
        if isinstance(text, bool):
            return text
        if isinstance(text, (str, int)) and str(text).lower() in _TRUE | _FALSE:
            return str(text).lower() in _TRUE
        raise bad()
    if key.kind in ("int", "float"):
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise bad()
        try:
            value: float = float(text)
            if key.kind == "int":
                if isinstance(text, str):
                    value = int(text)
                elif not value.is_integer():
                    raise ValueError
                else:
                    value = int(value)
        except (ValueError, OverflowError):
            raise bad() from None
        lo_bad = key.low is not None and (value < key.low or (key.open_low and value == key.low))
        hi_bad = key.high is not None and (value > key.high or (key.open_high and value == key.high))
        if lo_bad or hi_bad or not math.isfinite(value):
            raise bad()
        return value
    if key.kind == "choice":
        if not isinstance(text, (str, bool)):
            raise bad()
        s = str(text)
        s = {a.lower(): v for a, v in key.aliases.items()}.get(s.lower(), s)
        for c in key.choices:
            if c.lower() == s.lower():
                return c
        raise bad()
    if key.kind == "list":
        if not isinstance(text, (str, list, tuple)):
            raise bad()
        items = text if isinstance(text, (list, tuple)) else text.strip().strip("[]").split(",")
        if not all(isinstance(t, str) for t in items):
            raise bad()
        return tuple(t.strip().strip("'\"").strip() for t in items if t.strip())
    if key.kind == "floats":
        if isinstance(text, (list, tuple)):
            items = list(text)
        elif isinstance(text, (int, float)) and not isinstance(text, bool):
            items = [text]
        else:  # "[127.5, 127.5, 127.5]", or without the brackets
            items = [t for t in str(text).strip().strip("[]").split(",") if t.strip()]
        try:
            values = tuple(float(t) for t in items if not isinstance(t, bool))
        except (TypeError, ValueError):
            raise bad() from None
        if len(values) != len(items) or not all(math.isfinite(v) for v in values):
            raise bad()
        return values
    if not isinstance(text, (str, os.PathLike)):
        raise bad()
    return os.fspath(text)


def _format(v: Any) -> str:
    """A value as INI text (the inverse of :func:`_convert`)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, tuple):
        if v and all(isinstance(x, float) for x in v):
            return "[" + ", ".join(repr(x) for x in v) + "]"
        return ",".join(map(str, v))
    return "" if v is None else str(v)


# -- sections --------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class _Section:
    """Base of the section dataclasses; keys plugins registered are in ``extra`` and read as
    attributes too."""

    extra: tuple[tuple[str, Any], ...] = ()

    def __getattr__(self, name: str) -> Any:
        for k, v in self.__dict__.get("extra", ()):
            if k == name:
                return v
        raise AttributeError(f"{type(self).__name__} has no key {name!r}")

    @classmethod
    def defaults(cls) -> Any:
        """The section with every key at its default."""
        return _make_section(_SECTION_OF[cls], {})

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out.update(self.extra)
        return out


@dataclass(frozen=True, kw_only=True)
class CommonQuantParam(_Section):
    """``[common_quant_param]``."""

    quant_type: str
    bit_num: int
    weight_bit_num: int | None
    activation_bit_num: int | None
    weight_block_size: int
    min_quant_weight_size: int
    min_quant_weight_channel: int
    skip_quant_node: tuple[str, ...]
    debug_info_save_path: str | None


@dataclass(frozen=True, kw_only=True)
class MixedBitWeightQuantParam(_Section):
    """``[mixed_bit_weight_quant_param]``."""

    init_scale: float
    auto_tune: bool


@dataclass(frozen=True, kw_only=True)
class FullQuantParam(_Section):
    """``[full_quant_param]``."""

    activation_quant_method: str
    bias_correction: str
    per_channel: bool
    equalization: bool
    bias_absorption: bool
    adaround: bool
    adaround_iterations: int
    layer_bits_search: bool
    size_budget: float
    activation_symmetric: bool
    weight_symmetric: bool
    activation_signed: bool
    weight_signed: bool
    narrow_range: bool
    reduce_range: bool
    is_full_quantize: bool
    quantizable_op_type: tuple[str, ...]
    skip_op_type: tuple[str, ...]
    skip_quant_scope: tuple[str, ...]
    percentile: float
    num_bins: int


@dataclass(frozen=True, kw_only=True)
class DataPreprocessParam(_Section):
    """``[data_preprocess_param]``; ``calibrate_path`` is kept as written (see
    :meth:`QuantConfig.calibrate_paths` for the resolved folders)."""

    calibrate_path: str | None
    calibrate_size: int | None
    input_type: str | None
    image_to_format: str | None
    normalize_mean: tuple[float, ...] | None
    normalize_std: tuple[float, ...] | None
    resize_width: int | None
    resize_height: int | None
    resize_method: str | None
    center_crop_width: int | None
    center_crop_height: int | None


_SECTION_CLASSES: dict[str, type[_Section]] = {
    _C: CommonQuantParam, _M: MixedBitWeightQuantParam, _F: FullQuantParam, _D: DataPreprocessParam,
}  # fmt: skip
_SECTION_OF = {cls: name for name, cls in _SECTION_CLASSES.items()}


def _make_section(section: str, values: Mapping[tuple[str, str], Any]) -> Any:
    """A section object from ``{(section, key): value}`` (missing keys take their defaults)."""
    keys = [k for k in _schema() if k.section == section]
    vals = {k.name: values.get((section, k.name), k.default) for k in keys}
    cls = _SECTION_CLASSES.get(section)
    if cls is None:
        return _PluginSection(extra=tuple(vals.items()))
    own = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    return cls(**{n: v for n, v in vals.items() if n in own},
               extra=tuple((n, v) for n, v in vals.items() if n not in own))  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class _PluginSection(_Section):
    """A section only plugins define."""


def _default_section(section: str) -> Any:
    return field(default_factory=lambda: _make_section(section, {}))


# -- the config ------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantConfig:
    """A validated quantization config: one frozen dataclass per section.

    Two configs are equal when every key's value is equal (where they came from and which keys
    were written explicitly do not count).  ``given`` holds the ``(section, key)`` pairs the user
    set; ``base_dir`` is the config file's folder (relative ``calibrate_path`` folders resolve
    against it).
    """

    common_quant_param: CommonQuantParam = _default_section(_C)
    mixed_bit_weight_quant_param: MixedBitWeightQuantParam = _default_section(_M)
    full_quant_param: FullQuantParam = _default_section(_F)
    data_preprocess_param: DataPreprocessParam = _default_section(_D)
    plugin_sections: tuple[tuple[str, _Section], ...] = ()
    source: str = field(default="<kwargs>", compare=False)
    base_dir: str | None = field(default=None, compare=False)
    given: frozenset[tuple[str, str]] = field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        self._check_cross_keys()

    @classmethod
    def _build(cls, values: Mapping[tuple[str, str], Any], *, source: str = "<kwargs>",
               base_dir: str | None = None, given: frozenset[tuple[str, str]] | None = None) -> QuantConfig:  # fmt: skip
        plugin = tuple((s, _make_section(s, values)) for s in _sections() if s not in SECTIONS)
        return cls(*(_make_section(s, values) for s in SECTIONS), plugin, source=source,
                   base_dir=base_dir, given=frozenset(values) if given is None else frozenset(given))  # fmt: skip

    # -- access ---------------------------------------------------------------------------
    def section(self, name: str) -> Any:
        """The section object called ``name`` (built-in or a plugin's)."""
        if name in SECTIONS:
            return getattr(self, name)
        for s, obj in self.plugin_sections:
            if s == name:
                return obj
        if name in _sections():  # registered after this config was made: defaults
            return _make_section(name, {})
        raise ConfigError(f"unknown config section [{name}]{_suggest_section(name)}")

    def get(self, section: str, name: str) -> Any:
        """The value of ``[section] name``."""
        if _lookup(section, name) is None:
            raise ConfigError(f"{self.source}: [{section}] unknown key {name!r}{_suggest(name, section)}")
        try:
            return getattr(self.section(section), name)
        except AttributeError:  # a key registered after this config was made
            return _lookup(section, name).default  # type: ignore[union-attr]

    def values(self) -> dict[tuple[str, str], Any]:
        """Every key's value as ``{(section, key): value}``, in schema order."""
        return {(k.section, k.name): self.get(k.section, k.name) for k in _schema()}

    @property
    def is_full_quant(self) -> bool:
        return self.common_quant_param.quant_type == "FULL_QUANT"

    @property
    def is_weight_quant(self) -> bool:
        return self.common_quant_param.quant_type == "WEIGHT_QUANT"

    @property
    def weight_bits(self) -> int:
        """``weight_bit_num`` if set, else ``bit_num`` (0 means mixed bit)."""
        c = self.common_quant_param
        return int(c.bit_num if c.weight_bit_num is None else c.weight_bit_num)

    @property
    def activation_bits(self) -> int:
        """``activation_bit_num`` if set, else ``bit_num``."""
        c = self.common_quant_param
        return int(c.bit_num if c.activation_bit_num is None else c.activation_bit_num)

    @property
    def is_mixed_bit(self) -> bool:
        return self.is_weight_quant and self.weight_bits == 0

    @property
    def bias_correction(self) -> str:
        """``"empirical"``, ``"analytic"`` or ``"false"``."""
        return self.full_quant_param.bias_correction

    def skip_reason(self, node_name: str, op_type: str | None = None) -> str | None:
        """Why the config keeps a node float (``skip_quant_node`` name or glob,
        ``skip_quant_scope`` prefix, ``skip_op_type``), or ``None`` if it does not."""
        for pattern in self.common_quant_param.skip_quant_node:
            if node_name == pattern or fnmatch.fnmatchcase(node_name, pattern):
                return f"skip_quant_node {pattern}"
        for scope in self.full_quant_param.skip_quant_scope:
            if node_name.startswith(scope):
                return f"skip_quant_scope {scope}"
        if op_type is not None and op_type in self.full_quant_param.skip_op_type:
            return f"skip_op_type {op_type}"
        return None

    # -- checks ---------------------------------------------------------------------------
    def _check_cross_keys(self) -> None:
        c, d = self.common_quant_param, self.data_preprocess_param
        where = f"{self.source}: [common_quant_param] "
        qt = c.quant_type
        lo, hi = (1, 8) if qt == "FULL_QUANT" else (0, 16)
        for name in ("bit_num", "weight_bit_num", "activation_bit_num"):
            v = getattr(c, name)
            if v is not None and not lo <= v <= hi:
                raise ConfigError(f"{where}{name}={v}: must be an integer in [{lo}, {hi}] for {qt}")
        bs = c.weight_block_size
        if bs and (bs < 16 or bs & (bs - 1)):
            raise ConfigError(f"{where}weight_block_size={bs}: must be 0 or a power of two >= 16 (32, 64, 128...)")
        dwhere = f"{self.source}: [data_preprocess_param] "
        mean, std = d.normalize_mean, d.normalize_std
        for name, vec in (("normalize_mean", mean), ("normalize_std", std)):
            if vec is not None and len(vec) not in (1, 3):
                raise ConfigError(f"{dwhere}{name}={_format(vec)}: must have 1 or 3 values, not {len(vec)}")
        if std is not None and any(s <= 0 for s in std):
            raise ConfigError(f"{dwhere}normalize_std={_format(std)}: every value must be > 0")
        if mean is not None and std is not None and len(mean) != len(std):
            raise ConfigError(f"{dwhere}normalize_mean={_format(mean)} has {len(mean)} values but "
                              f"normalize_std={_format(std)} has {len(std)}: give both with 1 or both with 3")  # fmt: skip
        for a, b in (("resize_width", "resize_height"), ("center_crop_width", "center_crop_height")):
            if (getattr(d, a) is None) != (getattr(d, b) is None):
                have, miss = (a, b) if getattr(d, a) is not None else (b, a)
                raise ConfigError(f"{dwhere}{have}={getattr(d, have)}: {miss} must be set too")

    def require_calibration_data(self) -> None:
        """Raise a ConfigError unless ``calibrate_path`` says where calibration data is.

        Called by whoever needs calibration data and has none from elsewhere (``--calib-data``,
        an iterable): a FULL_QUANT config without ``calibrate_path`` loads fine.
        """
        if not self.data_preprocess_param.calibrate_path:
            what = "FULL_QUANT needs" if self.is_full_quant else "this compile needs"
            raise ConfigError(f"{self.source}: {what} calibration data: set [data_preprocess_param] "
                              "calibrate_path and calibrate_size (or pass --calib-data DIR)")  # fmt: skip

    def calibrate_paths(self, input_names: list[str] | None = None) -> dict[str, str]:
        """``calibrate_path`` as ``{input name: folder}`` (``""`` for a bare folder), relative
        folders resolved against the config file's folder; see :func:`split_calibrate_path`."""
        return split_calibrate_path(self.data_preprocess_param.calibrate_path or "", self.base_dir,
                                    input_names, where=f"{self.source}: [data_preprocess_param] ")  # fmt: skip

    # -- building -------------------------------------------------------------------------
    def replace(self, **kwargs: Any) -> QuantConfig:
        """A copy with keys changed; flat names (``bit_num=4``), ``"section.key"`` names or
        section dicts as in :meth:`from_kwargs`.  ``None`` unsets a key (back to its default)."""
        values = {key: v for key, v in self.values().items() if key in self.given}
        given = set(self.given)
        for (section, name), v in _kwargs_values(kwargs, f"{self.source} (override)").items():
            if v is None:
                values.pop((section, name), None)
                given.discard((section, name))
            else:
                values[(section, name)] = v
                given.add((section, name))
        return QuantConfig._build(values, source=self.source, base_dir=self.base_dir, given=frozenset(given))

    def merge(self, other: QuantConfig) -> QuantConfig:
        """A copy where the keys ``other`` set explicitly override this config's.

        Relative ``calibrate_path`` folders of ``other`` stay relative to ``other``'s folder.
        """
        values = {key: v for key, v in self.values().items() if key in self.given}
        for key, v in other.values().items():
            if key in other.given:
                values[key] = v
        base_dir = self.base_dir
        if (_D, "calibrate_path") in other.given:
            base_dir = other.base_dir
        return QuantConfig._build(values, source=f"{self.source}+{other.source}", base_dir=base_dir,
                                  given=self.given | other.given)  # fmt: skip

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> QuantConfig:
        """From flat keyword names (``bit_num=8``), ``"section.key"`` names or section dicts
        (``full_quant_param={"per_channel": False}``).  Relative paths resolve against the
        current folder."""
        values = _kwargs_values(kwargs, "<kwargs>")
        values = {k: v for k, v in values.items() if v is not None}
        return cls._build(values, source="<kwargs>", base_dir=None)

    def to_ini(self, include_defaults: bool = False) -> str:
        """The config as MindSpore Lite INI text: the keys set explicitly (every key with a
        value if ``include_defaults``), sections and keys in schema order.  Deterministic;
        ``load_config`` of the text gives an equal config."""
        lines: list[str] = []
        for section in _sections():
            keys = [k for k in _schema() if k.section == section]
            keys = [k for k in keys if (section, k.name) in self.given
                    or (include_defaults and self.get(section, k.name) is not None)]  # fmt: skip
            if not keys:
                continue
            if lines:
                lines.append("")
            lines.append(f"[{section}]")
            for k in keys:
                text = _format(self.get(section, k.name))
                lines.append(f"{k.name}={_INI_SPELLING.get((section, k.name, text), text)}")
        return "\n".join(lines) + "\n" if lines else ""

    def __repr__(self) -> str:
        set_keys = ", ".join(f"{n}={self.get(s, n)!r}" for (s, n) in self.values() if (s, n) in self.given)
        return f"QuantConfig({self.source}: {set_keys})"


#: Values written in MindSpore's spelling by ``to_ini`` (they load back to the same value).
_INI_SPELLING = {(_F, "bias_correction", "empirical"): "true"}


def _kwargs_values(kwargs: Mapping[str, Any], where: str) -> dict[tuple[str, str], Any]:
    flat: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in _sections() and isinstance(value, Mapping):
            for k, v in value.items():
                flat[f"{name}.{k}"] = v
        else:
            flat[name] = value
    out: dict[tuple[str, str], Any] = {}
    for name, raw in flat.items():
        key = _flat_key(name, where)
        out[(key.section, key.name)] = _convert(key, raw, f"{where}: [{key.section}] ")
    return out


def _flat_key(name: str, where: str) -> ConfigKey:
    if "." in name:
        section, _, key_name = name.partition(".")
        if section not in _sections():
            raise ConfigError(f"{where}: unknown section [{section}]{_suggest_section(section)}")
        key = _lookup(section, key_name)
        if key is None:
            raise ConfigError(f"{where}: [{section}] unknown key {key_name!r}{_suggest(key_name, section)}")
        return key
    matches = [k for k in _schema() if k.name == name]
    if len(matches) > 1:
        raise ConfigError(f"{where}: {name!r} is a key of several sections "
                          f"({', '.join(k.section for k in matches)}); write section.{name}")  # fmt: skip
    if not matches:
        names = sorted({k.name for k in _schema()})
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{where}: unknown quantization option {name!r}{hint}")
    return matches[0]


def _suggest(name: str, section: str) -> str:
    elsewhere = [k.section for k in _schema() if k.name == name]
    if elsewhere:
        return f"; it belongs in [{elsewhere[0]}]"
    names = [k.name for k in _schema() if k.section == section]
    close = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {close[0]!r}?" if close else f" (keys: {', '.join(names)})"


def _suggest_section(section: str) -> str:
    close = difflib.get_close_matches(section, _sections(), n=1)
    return f"; did you mean [{close[0]}]?" if close else f" (sections: {', '.join(_sections())})"


def split_calibrate_path(text: str, base_dir: str | None = None, input_names: list[str] | None = None,
                         *, where: str = "") -> dict[str, str]:  # fmt: skip
    """``"name:dir,name2:dir2"`` (or one bare folder) as ``{input name: folder}``.

    A bare folder maps to ``""``.  With ``input_names``, a part is split after the longest input
    name followed by ``:`` (so names holding ``:`` or ``/`` work); without, at the first ``:``
    unless what precedes it looks like a path or drive letter.  Relative folders resolve against
    ``base_dir`` (when given).
    """
    out: dict[str, str] = {}
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        name, folder = "", part
        if input_names is not None:
            for n in sorted(input_names, key=len, reverse=True):
                if part.startswith(n + ":"):
                    name, folder = n, part[len(n) + 1 :]
                    break
            else:
                head, sep, tail = part.partition(":")
                if sep and not _looks_like_path(head) and not os.path.isdir(part):
                    name, folder = head, tail  # an unknown name: data.py reports it
        else:
            head, sep, tail = part.partition(":")
            if sep and not _looks_like_path(head):
                name, folder = head, tail
        name, folder = name.strip(), folder.strip()
        if not folder:
            raise ConfigError(f"{where}calibrate_path={text}: no folder after {name!r}: write name:dir")
        if base_dir and not os.path.isabs(folder):
            folder = os.path.normpath(os.path.join(base_dir, folder))
        if name in out:
            raise ConfigError(f"{where}calibrate_path={text}: input {name or '(bare folder)'!r} given twice")
        out[name] = folder
    return out


def _looks_like_path(head: str) -> bool:
    drive = os.name == "nt" and len(head) == 1 and head.isalpha()
    return "/" in head or "\\" in head or drive or head in (".", "..", "~")


# -- loading ---------------------------------------------------------------------------------
def _parse_sections(path: Path, text: str) -> dict[str, dict[str, Any]]:
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {str(e).splitlines()[0]}") from None
        out: dict[str, dict[str, Any]] = {}
        for section, body in data.items():
            if not isinstance(body, dict):
                raise ConfigError(f"{path}: {section}={_format(body)}: top-level keys must be in a "
                                  f"table like [common_quant_param]")  # fmt: skip
            out[section] = dict(body)
        return out
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"),
                                       inline_comment_prefixes=None, strict=True,
                                       default_section="\x00")  # fmt: skip
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    # No multi-line values: an indented key is a key, not a continuation of the previous value.
    text = "\n".join(line.strip() for line in text.splitlines())
    try:
        parser.read_string(text, source=str(path))
    except configparser.MissingSectionHeaderError:
        raise ConfigError(f"{path}: keys must follow a section header like [common_quant_param]") from None
    except configparser.Error as e:
        raise ConfigError(f"{path}: {' '.join(str(e).split())}") from None
    return {s: dict(parser.items(s)) for s in parser.sections()}


def load_config(path: str | os.PathLike) -> QuantConfig:
    """Load a MindSpore Lite INI file (or a ``.toml`` file with the same tables and keys)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such config file")
    if p.is_dir():
        raise ConfigError(f"{p}: is a folder, expected a config file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read: {' '.join(str(e).split())}") from None
    values: dict[tuple[str, str], Any] = {}
    for section, body in _parse_sections(p, text).items():
        if section not in _sections():
            raise ConfigError(f"{p}: unknown section [{section}]{_suggest_section(section)}")
        for name, raw in body.items():
            key = _lookup(section, name)
            if key is None:
                raise ConfigError(f"{p}: [{section}] unknown key {name!r}{_suggest(name, section)}")
            values[(section, name)] = _convert(key, raw, f"{p}: [{section}] ")
    values = {k: v for k, v in values.items() if v is not None}
    return QuantConfig._build(values, source=str(p), base_dir=str(p.resolve().parent))


def resolve_config(config: Any = None, **kwargs: Any) -> QuantConfig | None:
    """A config from a path, a QuantConfig or a mapping, with kwargs overriding;
    ``None`` when neither is given."""
    if config is None:
        return QuantConfig.from_kwargs(**kwargs) if kwargs else None
    if isinstance(config, QuantConfig):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = QuantConfig.from_kwargs(**config)
    elif isinstance(config, (str, os.PathLike)):
        cfg = load_config(config)
    else:
        raise ConfigError(f"config must be a file path, a QuantConfig or a dict, not {type(config).__name__}")
    return cfg.replace(**kwargs) if kwargs else cfg
