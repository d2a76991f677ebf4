"""The quantization configuration: MindSpore Lite's INI file, the same keys in TOML, or kwargs.

One declarative table (:data:`SCHEMA`) lists every key: its section, type, default, allowed
values and help.  Loading validates each key against it; an unknown key or section, or a value
out of range, is a :class:`~qcompiler.errors.ConfigError` naming the file, section, key, value
and what is allowed.  Plugins add keys with :func:`register_config_key`.

Sections (MindSpore Lite's, plus qcompiler's extensions marked *ext*):

* ``[common_quant_param]``: quant_type, bit_num, min_quant_weight_size,
  min_quant_weight_channel, skip_quant_node, debug_info_save_path; *ext*: weight_bit_num,
  activation_bit_num (so W4A8 is expressible).
* ``[mixed_bit_weight_quant_param]``: init_scale, auto_tune.
* ``[full_quant_param]``: activation_quant_method, bias_correction; *ext*: per_channel,
  activation_symmetric, weight_symmetric, activation_signed, narrow_range, is_full_quantize,
  quantizable_op_type, skip_op_type, skip_quant_scope, percentile, num_bins.
* ``[data_preprocess_param]``: calibrate_path, calibrate_size, input_type, image_to_format,
  normalize_mean, normalize_std, resize_width, resize_height, resize_method,
  center_crop_width, center_crop_height.
"""

from __future__ import annotations

import configparser
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qcompiler.errors import ConfigError

__all__ = ["ConfigKey", "SCHEMA", "QuantConfig", "load_config", "resolve_config", "register_config_key",
           "SECTIONS"]  # fmt: skip

SECTIONS = ("common_quant_param", "mixed_bit_weight_quant_param", "full_quant_param",
            "data_preprocess_param")  # fmt: skip

ACTIVATION_METHODS = ("MAX_MIN", "KL", "REMOVAL_OUTLIER", "MOVING_AVERAGE_MIN_MAX", "PERCENTILE", "MSE")


@dataclass(frozen=True)
class ConfigKey:
    """One configuration key: ``kind`` is int, float, bool, str, choice, list, floats or path."""

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
    aliases: Mapping[str, str] = field(default_factory=dict)

    def allowed(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind in ("int", "float") and (self.low is not None or self.high is not None):
            lb = "(" if self.open_low else "["
            hb = ")" if self.open_high else "]"
            kind = "an integer" if self.kind == "int" else "a number"
            return f"{kind} in {lb}{self.low}, {self.high}{hb}"
        return {"int": "an integer", "float": "a number", "bool": "true or false",
                "list": "a comma-separated list", "floats": "a list of numbers like [1.0, 2.0]",
                "str": "text", "path": "a path"}.get(self.kind, self.kind)  # fmt: skip


def _k(section, name, kind, default=None, **kw) -> ConfigKey:
    return ConfigKey(section, name, kind, default, **kw)


_C, _M, _F, _D = SECTIONS
SCHEMA: list[ConfigKey] = [
    _k(_C, "quant_type", "choice", "FULL_QUANT", choices=("WEIGHT_QUANT", "FULL_QUANT"),
       aliases={"WEIGHT_QUAN": "WEIGHT_QUANT"}, help="weight-only or full quantization"),
    _k(_C, "bit_num", "int", 8, low=0, high=16, help="bits; WEIGHT_QUANT 0-16 (0 = mixed), FULL_QUANT 1-8"),
    _k(_C, "weight_bit_num", "int", None, low=0, high=16, help="weight bits (overrides bit_num)"),
    _k(_C, "activation_bit_num", "int", None, low=1, high=16, help="activation bits (overrides bit_num)"),
    _k(_C, "min_quant_weight_size", "int", 0, low=0, high=65535, help="quantize weights with more elements"),
    _k(_C, "min_quant_weight_channel", "int", 16, low=0, high=65535, help="quantize weights with more channels"),
    _k(_C, "skip_quant_node", "list", (), help="node names (or globs) kept float"),
    _k(_C, "debug_info_save_path", "path", None, help="folder for the debug reports"),
    _k(_M, "init_scale", "float", 0.02, low=0, high=1, open_low=True, open_high=True,
       help="mixed bit: relative error allowed per layer"),
    _k(_M, "auto_tune", "bool", False, help="mixed bit: search init_scale for cosine ~0.995"),
    _k(_F, "activation_quant_method", "choice", "MAX_MIN", choices=ACTIVATION_METHODS,
       aliases={"REMOVALOUTLIER": "REMOVAL_OUTLIER"}, help="activation calibration method"),
    _k(_F, "bias_correction", "choice", "empirical", choices=("empirical", "analytic", "false"),
       aliases={"true": "empirical", "false": "false", "TRUE": "empirical", "FALSE": "false",
                "True": "empirical", "False": "false"}, help="correct the quantized layers' mean error"),
    _k(_F, "per_channel", "bool", True, help="per-output-channel weight scales"),
    _k(_F, "equalization", "bool", False, help="data-free cross-layer equalization before quantizing"),
    _k(_F, "activation_symmetric", "bool", False, help="symmetric activation ranges"),
    _k(_F, "weight_symmetric", "bool", True, help="symmetric weight ranges"),
    _k(_F, "activation_signed", "bool", False, help="int8 (true) or uint8 (false, onnxruntime's fast path) activations"),
    _k(_F, "narrow_range", "bool", False, help="weights in [-127, 127] instead of [-128, 127]"),
    _k(_F, "reduce_range", "bool", True,
       help="7-bit weights (onnxruntime's int16 accumulation on x86 without VNNI)"),
    _k(_F, "is_full_quantize", "bool", True, help="quantize every supported op type (Paddle)"),
    _k(_F, "quantizable_op_type", "list", (), help="op types to quantize when not is_full_quantize"),
    _k(_F, "skip_op_type", "list", (), help="op types kept float"),
    _k(_F, "skip_quant_scope", "list", (), help="node-name scopes kept float (Paddle skip_quant)"),
    _k(_F, "percentile", "float", 99.999, low=50, high=100, help="PERCENTILE method's percentile"),
    _k(_F, "num_bins", "int", 2048, low=128, high=65536, help="histogram bins of KL/PERCENTILE/MSE"),
    _k(_D, "calibrate_path", "str", None, help="name:dir,name2:dir2 (or one dir)"),
    _k(_D, "calibrate_size", "int", None, low=1, high=65535, help="number of calibration samples"),
    _k(_D, "input_type", "choice", "BIN", choices=("IMAGE", "BIN", "NPY"), help="calibration file format"),
    _k(_D, "image_to_format", "choice", None, choices=("RGB", "GRAY", "BGR"), help="image channel format"),
    _k(_D, "normalize_mean", "floats", None, help="(x - mean) / std"),
    _k(_D, "normalize_std", "floats", None, help="(x - mean) / std"),
    _k(_D, "resize_width", "int", None, low=1, high=65535),
    _k(_D, "resize_height", "int", None, low=1, high=65535),
    _k(_D, "resize_method", "choice", None, choices=("LINEAR", "NEAREST", "CUBIC")),
    _k(_D, "center_crop_width", "int", None, low=1, high=65535),
    _k(_D, "center_crop_height", "int", None, low=1, high=65535),
]  # fmt: skip

_EXTRA: list[ConfigKey] = []


def register_config_key(key: ConfigKey) -> None:
    """Add a key (used for keys plugins declare through ``qcompiler_register_config_keys``)."""
    if any(k.section == key.section and k.name == key.name for k in _schema()):
        return
    _EXTRA.append(key)


def _schema() -> list[ConfigKey]:
    return SCHEMA + _EXTRA


def _lookup(section: str, name: str) -> ConfigKey | None:
    for k in _schema():
        if k.section == section and k.name == name:
            return k
    return None


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _convert(key: ConfigKey, raw: Any, where: str) -> Any:
    def bad(extra: str = "") -> ConfigError:
        return ConfigError(f"{where}{key.name}={raw}: must be {key.allowed()}{extra}")

    if raw is None:
        return None
    text = raw.strip() if isinstance(raw, str) else raw
    if key.kind == "bool":
        if isinstance(text, bool):
            return text
        if str(text).lower() in _TRUE:
            return True
        if str(text).lower() in _FALSE:
            return False
        raise bad()
    if key.kind in ("int", "float"):
        if isinstance(text, bool):
            raise bad()
        try:
            value: float = int(text) if key.kind == "int" else float(text)
            if key.kind == "int" and isinstance(text, float) and not float(text).is_integer():
                raise ValueError
        except (TypeError, ValueError):
            raise bad() from None
        lo_bad = key.low is not None and (value < key.low or (key.open_low and value == key.low))
        hi_bad = key.high is not None and (value > key.high or (key.open_high and value == key.high))
        if lo_bad or hi_bad or value != value:
            raise bad()
        return value
    if key.kind == "choice":
        s = str(text)
        s = key.aliases.get(s, s)
        for c in key.choices:
            if c.lower() == s.lower():
                return c
        raise bad()
    if key.kind == "list":
        if isinstance(text, (list, tuple)):
            return tuple(str(t).strip() for t in text if str(t).strip())
        return tuple(t.strip() for t in str(text).strip("[]").split(",") if t.strip())
    if key.kind == "floats":
        items = text if isinstance(text, (list, tuple)) else str(text).strip().strip("[]").split(",")
        try:
            return tuple(float(t) for t in items if str(t).strip())
        except ValueError:
            raise bad() from None
    return str(text)


@dataclass(frozen=True)
class _Section:
    values: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


class QuantConfig:
    """A validated quantization config; sections are attributes with key attributes.

    Example::

        cfg = QuantConfig.from_kwargs(quant_type="FULL_QUANT", activation_quant_method="KL")
        cfg.full_quant_param.activation_quant_method  # 'KL'
        cfg.weight_bits, cfg.activation_bits           # 8, 8
    """

    def __init__(self, values: Mapping[tuple[str, str], Any] | None = None, *, source: str = "<kwargs>",
                 base_dir: str | None = None, given: frozenset[tuple[str, str]] = frozenset()):  # fmt: skip
        full = {(k.section, k.name): k.default for k in _schema()}
        full.update(values or {})
        self._values = full
        self.source = source
        self.base_dir = base_dir
        #: Keys the user set explicitly (as opposed to defaults).
        self.given = given
        self._check_cross_keys()

    # -- access -------------------------------------------------------------------------------
    def section(self, name: str) -> _Section:
        return _Section({k: v for (s, k), v in self._values.items() if s == name})

    common_quant_param = property(lambda self: self.section(_C))
    mixed_bit_weight_quant_param = property(lambda self: self.section(_M))
    full_quant_param = property(lambda self: self.section(_F))
    data_preprocess_param = property(lambda self: self.section(_D))

    def get(self, section: str, name: str) -> Any:
        return self._values[(section, name)]

    @property
    def is_full_quant(self) -> bool:
        return self.get(_C, "quant_type") == "FULL_QUANT"

    @property
    def is_weight_quant(self) -> bool:
        return self.get(_C, "quant_type") == "WEIGHT_QUANT"

    @property
    def weight_bits(self) -> int:
        w = self.get(_C, "weight_bit_num")
        return int(self.get(_C, "bit_num") if w is None else w)

    @property
    def activation_bits(self) -> int:
        a = self.get(_C, "activation_bit_num")
        return int(self.get(_C, "bit_num") if a is None else a)

    @property
    def is_mixed_bit(self) -> bool:
        return self.is_weight_quant and self.weight_bits == 0

    @property
    def bias_correction(self) -> str:
        return self.get(_F, "bias_correction")

    def _check_cross_keys(self) -> None:
        where = f"{self.source}: [common_quant_param] "
        qt = self.get(_C, "quant_type")
        for name in ("bit_num", "weight_bit_num", "activation_bit_num"):
            v = self.get(_C, name)
            if v is None:
                continue
            if qt == "FULL_QUANT" and not 1 <= v <= 8:
                raise ConfigError(f"{where}{name}={v}: must be an integer in [1, 8] for FULL_QUANT")
            if qt == "WEIGHT_QUANT" and not 0 <= v <= 16:
                raise ConfigError(f"{where}{name}={v}: must be an integer in [0, 16] for WEIGHT_QUANT")
        mean, std = self.get(_D, "normalize_mean"), self.get(_D, "normalize_std")
        dwhere = f"{self.source}: [data_preprocess_param] "
        for name, vec in (("normalize_mean", mean), ("normalize_std", std)):
            if vec is not None and len(vec) not in (1, 3):
                raise ConfigError(f"{dwhere}{name}: must have 1 or 3 values, got {len(vec)}")
        if std is not None and any(s <= 0 for s in std):
            raise ConfigError(f"{dwhere}normalize_std: every value must be > 0")
        if mean is not None and std is not None and len(mean) != len(std):
            raise ConfigError(f"{dwhere}normalize_mean has {len(mean)} values but normalize_std has {len(std)}")

    def require_calibration_data(self) -> None:
        if self.get(_D, "calibrate_path") is None:
            raise ConfigError(f"{self.source}: FULL_QUANT needs calibration data: set "
                              "[data_preprocess_param] calibrate_path (or pass --calib-data)")  # fmt: skip

    def calibrate_paths(self) -> dict[str, str]:
        """``calibrate_path`` as input name -> folder ("" for a bare folder), made absolute."""
        raw = self.get(_D, "calibrate_path")
        if not raw:
            return {}
        out: dict[str, str] = {}
        for part in str(raw).split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, folder = part.partition(":")
            if not sep or (len(name) == 1 and folder.startswith("\\")):
                name, folder = "", part
            folder = folder.strip()
            if self.base_dir and not os.path.isabs(folder):
                folder = os.path.join(self.base_dir, folder)
            out[name.strip()] = folder
        return out

    # -- building ---------------------------------------------------------------------------
    def replace(self, **kwargs: Any) -> QuantConfig:
        """A copy with keys changed (flat key names)."""
        values = dict(self._values)
        given = set(self.given)
        for name, raw in kwargs.items():
            key = _flat_key(name, "<override>")
            values[(key.section, key.name)] = _convert(key, raw, f"[{key.section}] ")
            given.add((key.section, key.name))
        return QuantConfig(values, source=self.source, base_dir=self.base_dir, given=frozenset(given))

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> QuantConfig:
        """Flat keyword names (``bit_num=8``) or section dicts (``full_quant_param={...}``)."""
        flat: dict[str, Any] = {}
        for name, value in kwargs.items():
            if name in SECTIONS and isinstance(value, Mapping):
                for k, v in value.items():
                    flat[f"{name}.{k}"] = v
            else:
                flat[name] = value
        values, given = {}, set()
        for name, raw in flat.items():
            key = _flat_key(name, "<kwargs>")
            values[(key.section, key.name)] = _convert(key, raw, f"<kwargs>: [{key.section}] ")
            given.add((key.section, key.name))
        return cls(values, given=frozenset(given))

    def to_ini(self) -> str:
        """The config as MindSpore Lite INI text (set keys only, schema order)."""
        lines: list[str] = []
        for section in SECTIONS:
            keys = [k for k in _schema() if k.section == section and (section, k.name) in self.given]
            if not keys:
                continue
            lines.append(f"[{section}]")
            for k in keys:
                lines.append(f"{k.name}={_format(self._values[(section, k.name)])}")
            lines.append("")
        return "\n".join(lines)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QuantConfig) and self._values == other._values

    def __repr__(self) -> str:
        return f"QuantConfig({self.source})"


def _format(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        if v and isinstance(v[0], float):
            return "[" + ", ".join(f"{x:g}" for x in v) + "]"
        return ",".join(map(str, v))
    return "" if v is None else str(v)


def _flat_key(name: str, where: str) -> ConfigKey:
    if "." in name:
        section, _, key_name = name.partition(".")
        key = _lookup(section, key_name)
        if key is None:
            raise ConfigError(f"{where}: unknown key [{section}] {key_name}{_suggest(key_name, section)}")
        return key
    matches = [k for k in _schema() if k.name == name]
    if not matches:
        names = sorted({k.name for k in _schema()})
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{where}: unknown quantization option {name!r}{hint}")
    return matches[0]


def _suggest(name: str, section: str) -> str:
    names = [k.name for k in _schema() if k.section == section]
    close = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {close[0]!r}?" if close else f" (keys: {', '.join(names)})"


def _parse_sections(path: Path, text: str) -> dict[str, dict[str, str]]:
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        out: dict[str, dict[str, Any]] = {}
        for section, body in data.items():
            if not isinstance(body, dict):
                raise ConfigError(f"{path}: {section!r} must be a table like [{section}]")
            out[section] = dict(body)
        return out
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"),
                                       inline_comment_prefixes=None, strict=True)  # fmt: skip
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=str(path))
    except configparser.MissingSectionHeaderError:
        raise ConfigError(f"{path}: keys must follow a section header like [common_quant_param]") from None
    except configparser.Error as e:
        raise ConfigError(f"{path}: {str(e).splitlines()[0]}") from None
    return {s: dict(parser.items(s)) for s in parser.sections()}


def load_config(path: str | os.PathLike) -> QuantConfig:
    """Load a MindSpore Lite INI file (or a ``.toml`` file with the same tables)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such config file")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, expected a config file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read: {e}") from None
    values: dict[tuple[str, str], Any] = {}
    for section, body in _parse_sections(p, text).items():
        if section not in SECTIONS and not any(k.section == section for k in _schema()):
            close = difflib.get_close_matches(section, SECTIONS, n=1)
            hint = f"; did you mean [{close[0]}]?" if close else f" (sections: {', '.join(SECTIONS)})"
            raise ConfigError(f"{p}: unknown section [{section}]{hint}")
        for name, raw in body.items():
            key = _lookup(section, name)
            if key is None:
                raise ConfigError(f"{p}: [{section}] unknown key {name!r}{_suggest(name, section)}")
            values[(section, name)] = _convert(key, raw, f"{p}: [{section}] ")
    return QuantConfig(values, source=str(p), base_dir=str(p.resolve().parent),
                       given=frozenset(values))  # fmt: skip


def resolve_config(config: Any = None, **kwargs: Any) -> QuantConfig | None:
    """A config from a path, a QuantConfig or kwargs (kwargs override); ``None`` if none given."""
    cfg: QuantConfig | None
    if config is None:
        cfg = QuantConfig.from_kwargs(**kwargs) if kwargs else None
        return cfg
    if isinstance(config, QuantConfig):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = QuantConfig.from_kwargs(**config)
    else:
        cfg = load_config(config)
    return cfg.replace(**kwargs) if kwargs else cfg

