"""qcompiler's built-in passes.

This module is a plugin like any other: qcompiler's ``pyproject.toml`` declares it in the
``qcompiler`` entry-point group, and it registers its passes through the same hooks a
third-party plugin uses.
"""

from __future__ import annotations

from qcompiler.hookspecs import hookimpl
from qcompiler.passes.eliminate_dead_code import EliminateDeadCodePass
from qcompiler.passes.fold_constants import FoldConstantsPass
from qcompiler.passes.fuse_conv_bn_act import FuseConvBnActPass
from qcompiler.passes.type_analysis import TypesAnalysis
from qcompiler.passes.weight_quant import WeightQuantPass

BUILTIN_PASSES = [FoldConstantsPass, EliminateDeadCodePass, WeightQuantPass, FuseConvBnActPass]

#: Default pipeline per compile mode (``qcompiler compile`` without ``--pipeline``).
DEFAULT_PIPELINES = {
    "float": "fold-constants,eliminate-dead-code",
}


@hookimpl
def qcompiler_register_passes():
    return list(BUILTIN_PASSES)


@hookimpl
def qcompiler_register_analyses():
    return [TypesAnalysis]


@hookimpl
def qcompiler_register_pipelines():
    return dict(DEFAULT_PIPELINES)
