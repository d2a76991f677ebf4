"""qcompiler's built-in passes.

This module is a plugin like any other: qcompiler's ``pyproject.toml`` declares it in the
``qcompiler`` entry-point group, and it registers its passes through the same hooks a
third-party plugin uses.
"""

from __future__ import annotations

from qcompiler.hookspecs import hookimpl
from qcompiler.passes.absorb_high_bias import AbsorbHighBiasPass
from qcompiler.passes.adaround import AdaRoundPass
from qcompiler.passes.choose_layer_bits import ChooseLayerBitsPass
from qcompiler.passes.collect_calibration import CollectCalibrationPass
from qcompiler.passes.eliminate_dead_code import EliminateDeadCodePass
from qcompiler.passes.equalize_cross_layer import EqualizeCrossLayerPass
from qcompiler.passes.fold_constants import FoldConstantsPass
from qcompiler.passes.float32_compute import Float32ComputePass
from qcompiler.passes.fold_quant_params import FoldQuantParamsPass
from qcompiler.passes.fuse_conv_bn_act import FuseConvBnActPass
from qcompiler.passes.honor_skip_nodes import HonorSkipNodesPass
from qcompiler.passes.insert_fake_quant import InsertFakeQuantPass
from qcompiler.passes.prune_qdq import PruneQdqPass
from qcompiler.passes.record_bn_stats import RecordBnStatisticsPass
from qcompiler.passes.type_analysis import TypesAnalysis
from qcompiler.passes.upgrade_opset import UpgradeOpsetPass
from qcompiler.passes.weight_quant import WeightQuantPass
from qcompiler.quant_rules import BUILTIN_RULES

BUILTIN_PASSES = [FoldConstantsPass, EliminateDeadCodePass, WeightQuantPass, FuseConvBnActPass,
                  UpgradeOpsetPass, HonorSkipNodesPass, InsertFakeQuantPass, CollectCalibrationPass,
                  FoldQuantParamsPass, EqualizeCrossLayerPass, RecordBnStatisticsPass,
                  AbsorbHighBiasPass, AdaRoundPass, ChooseLayerBitsPass, PruneQdqPass, Float32ComputePass]

#: Default pipeline per compile mode (``qcompiler compile`` without ``--pipeline``).
DEFAULT_PIPELINES = {
    "float": "fold-constants,eliminate-dead-code",
    # onnxruntime fuses Relu and Clip into its integer convolutions; other activations stay
    # separate ops so the convolution before them still runs as QLinearConv.
    "full-quant": "upgrade-opset,float32-compute,fold-constants,record-bn-statistics,fuse-conv-bn-act{activations=[Relu,Clip]},"
                  "equalize-cross-layer{when=config},absorb-high-bias{when=config},honor-skip-nodes,"
                  "insert-fake-quant,collect-calibration,choose-layer-bits{when=config},adaround{when=config},fold-quant-params,"
                  "prune-qdq,eliminate-dead-code",
    "weight-quant": "upgrade-opset,float32-compute,fold-constants,fuse-conv-bn-act{activations=[]},honor-skip-nodes,"
                    "weight-quant,eliminate-dead-code",
}


@hookimpl
def qcompiler_register_passes():
    return list(BUILTIN_PASSES)


@hookimpl
def qcompiler_register_analyses():
    return [TypesAnalysis]


@hookimpl
def qcompiler_register_quant_rules():
    return list(BUILTIN_RULES)


@hookimpl
def qcompiler_register_pipelines():
    return dict(DEFAULT_PIPELINES)
