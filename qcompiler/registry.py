"""Plugin discovery: what every installed plugin registered, and who registered it.

:func:`load_registry` builds a pluggy ``PluginManager`` for the hook specs, loads every plugin
of the ``qcompiler`` entry-point group (qcompiler's own built-ins included: they are declared
in qcompiler's ``pyproject.toml`` like any third-party plugin), and collects the registrations
of each hook implementation separately, so every pass, backend or rule knows its plugin.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

from qcompiler import hookspecs
from qcompiler.errors import PipelineError, QCompilerError
from qcompiler.pass_base import Analysis, Pass

__all__ = ["Registry", "load_registry", "plugin_manager"]


def plugin_manager(extra_plugins: Iterable[Any] = (), *, entry_points: bool = True) -> pluggy.PluginManager:  # noqa: E501
    """A plugin manager with qcompiler's hook specs and the installed plugins loaded."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if entry_points:
        pm.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
    for plugin in extra_plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__qualname__
        pm.register(plugin, name=name if pm.get_plugin(name) is None else None)
    return pm


def _plugin_label(pm: pluggy.PluginManager, plugin: Any, name: str) -> str:
    for p, dist in pm.list_plugin_distinfo():
        if p is plugin:
            project = getattr(dist, "project_name", None) or dist.metadata["name"]
            return name if project == name else f"{project}:{name}"
    return name


class Registry:
    """Everything the loaded plugins registered, keyed by name, with the plugin's label."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.passes: dict[str, tuple[type[Pass], str]] = {}
        self.analyses: dict[str, tuple[type[Analysis], str]] = {}
        self.pipelines: dict[str, tuple[str, str]] = {}
        self.frontends: list[tuple[Any, str]] = []
        self.backends: dict[str, tuple[Any, str]] = {}
        self.quant_rules: list[tuple[Any, str]] = []
        self.observers: dict[str, tuple[Any, str]] = {}
        self.c_kernels: list[tuple[Any, str]] = []
        self.config_keys: list[tuple[Any, str]] = []
        self._collect()

    def _results(self, hook_name: str):
        """Yield ``(result, plugin_label)`` for each implementation, in registration order."""
        hook = getattr(self.pm.hook, hook_name)
        # get_hookimpls() is in registration order (pluggy *calls* them in reverse): entry-point
        # plugins first, in discovery order, then extra plugins in the order given.
        for impl in hook.get_hookimpls():
            label = _plugin_label(self.pm, impl.plugin, impl.plugin_name)
            try:
                result = impl.function()
            except Exception as e:  # noqa: BLE001 - a broken plugin is named, not a traceback
                raise QCompilerError(f"plugin {label!r} failed in {hook_name}: "
                                     f"{type(e).__name__}: {e}") from e  # fmt: skip
            if result is not None:
                yield result, label

    def _named(self, table: dict, kind: str, name: str, item: Any, label: str) -> None:
        if not name:
            raise QCompilerError(f"plugin {label!r} registered a {kind} without a name")
        if name in table and table[name][0] is not item:
            raise QCompilerError(f"{kind} {name!r} is registered twice, by plugins "
                                 f"{table[name][1]!r} and {label!r}")  # fmt: skip
        table[name] = (item, label)

    def _collect(self) -> None:
        for result, label in self._results("qcompiler_register_passes"):
            for cls in result:
                if not (isinstance(cls, type) and issubclass(cls, Pass)):
                    raise QCompilerError(f"plugin {label!r} registered {cls!r}, not a Pass subclass")
                self._named(self.passes, "pass", cls.name, cls, label)
        for result, label in self._results("qcompiler_register_analyses"):
            for cls in result:
                self._named(self.analyses, "analysis", cls.name, cls, label)
        for result, label in self._results("qcompiler_register_pipelines"):
            for mode, text in result.items():
                self._named(self.pipelines, "pipeline mode", mode, text, label)
        for result, label in self._results("qcompiler_register_frontends"):
            self.frontends.extend((f, label) for f in result)
        for result, label in self._results("qcompiler_register_backends"):
            for b in result:
                self._named(self.backends, "backend", b.name, b, label)
        for result, label in self._results("qcompiler_register_quant_rules"):
            self.quant_rules.extend((r, label) for r in result)
        for result, label in self._results("qcompiler_register_observers"):
            for name, cls in result.items():
                self._named(self.observers, "observer", name, cls, label)
        for result, label in self._results("qcompiler_register_c_kernels"):
            self.c_kernels.extend((k, label) for k in result)
        for result, label in self._results("qcompiler_register_config_keys"):
            self.config_keys.extend((k, label) for k in result)

    # -- lookups ----------------------------------------------------------------------------
    def analysis(self, name: str) -> type[Analysis]:
        try:
            return self.analyses[name][0]
        except KeyError:
            raise PipelineError(f"analysis {name!r} is not registered by any plugin") from None

    def pipeline_text(self, mode: str) -> str:
        try:
            return self.pipelines[mode][0]
        except KeyError:
            known = ", ".join(sorted(self.pipelines)) or "none"
            raise PipelineError(f"no default pipeline for mode {mode!r} (modes: {known})") from None

    def backend(self, name: str) -> Any:
        try:
            return self.backends[name][0]
        except KeyError:
            known = ", ".join(sorted(self.backends)) or "none"
            raise QCompilerError(f"unknown backend {name!r} (backends: {known})") from None

    def frontend_for(self, path: str) -> Any:
        for frontend, _ in self.frontends:
            if frontend.can_load(path):
                return frontend
        return None

    def plugin_of(self, pass_name: str) -> str:
        return self.passes[pass_name][1]


def load_registry(extra_plugins: Iterable[Any] = (), *, entry_points: bool = True) -> Registry:
    """Discover the installed plugins (plus ``extra_plugins``) and collect their registrations."""
    return Registry(plugin_manager(extra_plugins, entry_points=entry_points))
