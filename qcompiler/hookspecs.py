"""The hook specifications of qcompiler: everything a plugin can contribute.

A plugin is a module (or object) with functions named like the hooks below, marked with
:data:`hookimpl`, exposed through the ``qcompiler`` entry-point group::

    # pyproject.toml of a plugin package
    [project.entry-points.qcompiler]
    my-plugin = "my_package.plugin"

    # my_package/plugin.py
    from qcompiler.hookspecs import hookimpl

    @hookimpl
    def qcompiler_register_passes():
        return [MyPass]

qcompiler's own passes, frontend and backends register through these same hooks and the same
entry-point group.  Registration hooks return lists and every implementation is called; the
order of passes in a compile comes from the pipeline text, never from hook ordering.  Hooks
only ever gain arguments, and pluggy lets an implementation accept fewer, so plugins written
against an older qcompiler keep working.  See ``specs/plugin-api.md``.
"""

from __future__ import annotations

import pluggy

PROJECT = "qcompiler"
ENTRY_POINT_GROUP = "qcompiler"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def qcompiler_register_passes():
    """Return a list of :class:`qcompiler.pass_base.Pass` subclasses.

    Each class has a unique ``name`` (the text used in pipelines); two plugins registering the
    same name is an error naming both.
    """


@hookspec
def qcompiler_register_analyses():
    """Return a list of :class:`qcompiler.pass_base.Analysis` subclasses.

    Passes list the analyses they need in ``requires``; the pass manager computes them on demand,
    caches them, and drops them after a pass that changed the model unless it ``preserves`` them.
    """


@hookspec
def qcompiler_register_pipelines():
    """Return a dict mapping a compile mode (``float``, ``full-quant``, ``weight-quant``...) to
    its default pipeline text.  A later plugin may not silently override a mode: duplicates are
    an error.
    """


@hookspec
def qcompiler_register_frontends():
    """Return a list of frontend objects with ``name``, ``can_load(path) -> bool`` and
    ``load(source, *, input_shapes=None, **options) -> qcompiler.ir.Model``.
    The first frontend (in plugin registration order) whose ``can_load`` accepts a path wins.
    """


@hookspec
def qcompiler_register_backends():
    """Return a list of backend objects with ``name``, ``description`` and
    ``emit(model, output, *, ctx) -> qcompiler.backend.BackendResult``.
    """


@hookspec
def qcompiler_register_quant_rules():
    """Return a list of per-op quantization rules (see ``specs/plugin-api.md``): objects with
    ``op_types`` (a tuple of ``(domain, op_type)``) and the methods the quantization passes call
    to decide which inputs and outputs of an op get quantized and how.  A plugin rule for an
    op type replaces the built-in one; two plugins claiming the same op type is an error.
    """


@hookspec
def qcompiler_register_observers():
    """Return a dict mapping a calibration method name (``KL``, ``MAX_MIN``...) to an observer
    class implementing the interface of ``qcompiler.calibration.observers.Observer``.
    """


@hookspec
def qcompiler_register_c_kernels():
    """Return a list of C kernel descriptions for the C backend: which op (and dtype, target)
    a kernel implements, its source files, and the Python function that lowers an op to a call.
    """


@hookspec
def qcompiler_register_config_keys():
    """Return a list of extra configuration keys (section, key, type, default, allowed values,
    help) a plugin's passes read from the quantization config.
    """
