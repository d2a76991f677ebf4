"""onnxruntime's contrib ops (what its transformer optimizer writes) become standard ONNX ops on
import and compute what onnxruntime computes with them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import run_ort
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from qcompiler.codegen.onnx_backend import ir_to_proto
from qcompiler.frontend.contrib import lower_contrib_ops
from qcompiler.frontend.onnx_frontend import load_onnx
from qcompiler.pass_base import PassContext
from qcompiler.passes.fuse_conv_bn_act import FuseConvBnActPass, FuseOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "codegen"))
import cbuild  # noqa: E402

B, S, H = 2, 5, 8
R = np.random.default_rng(0)


def f32(*shape) -> np.ndarray:
    return R.standard_normal(shape).astype(np.float32)


def model(nodes, inputs: dict, outputs: list[str] | dict, inits: dict, opset: int = 17) -> onnx.ModelProto:
    """A graph of ``nodes`` with float inputs and outputs ``{name: shape}`` (int32 when the name
    ends in ``ids``, ``mask`` or ``mask_index``; outputs listed by name are ``(B, S, H)``) and
    ``inits`` as initializers."""
    if not isinstance(outputs, dict):
        outputs = {o: [B, S, H] for o in outputs}

    def vi(name, shape):
        dtype = T.INT32 if name.endswith(("ids", "mask", "mask_index")) else T.FLOAT
        return h.make_tensor_value_info(name, dtype, shape)

    g = h.make_graph(nodes, "g", [vi(n, s) for n, s in inputs.items()], [vi(n, s) for n, s in outputs.items()],
                     [nh.from_array(v, k) for k, v in inits.items()])  # fmt: skip
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset), h.make_opsetid("com.microsoft", 1)])


def check(m: onnx.ModelProto, feeds: dict, gone: str, atol: float = 1e-5) -> onnx.ModelProto:
    """Load ``m``, check no ``gone`` node is left and onnxruntime gives the same outputs."""
    lowered = lower_contrib_ops(m)
    assert lowered is not m and gone not in {n.op_type for n in lowered.graph.node}
    assert all(o.domain != "com.microsoft" for o in lowered.opset_import)
    written = ir_to_proto(load_onnx(m))
    onnx.checker.check_model(written, full_check=True)
    got = run_ort(written, feeds, optimize=False)
    want = run_ort(m, feeds, optimize=False)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=atol)
    return lowered


@pytest.mark.parametrize("opset", [14, 17, 18])
@pytest.mark.parametrize("form", ["plain", "bias_sum", "all_outputs"])
def test_skip_layer_normalization(opset, form):
    ins = ["x", "skip", "gamma", "beta"] + (["bias"] if form != "plain" else [])
    outs = {"plain": ["y"], "bias_sum": ["y", "", "", "sum"], "all_outputs": ["y", "mean", "inv_std", "sum"]}[form]
    node = h.make_node("SkipLayerNormalization", ins, outs, domain="com.microsoft", epsilon=1e-6)
    inits = {"gamma": f32(H), "beta": f32(H), "bias": f32(H)}
    shapes = {o: [B, S, 1] if o in ("mean", "inv_std") else [B, S, H] for o in outs if o}
    m = model([node], {"x": [B, S, H], "skip": [B, S, H]}, shapes, inits, opset)
    lowered = check(m, {"x": f32(B, S, H), "skip": f32(B, S, H)}, "SkipLayerNormalization")
    assert ("LayerNormalization" in {n.op_type for n in lowered.graph.node}) == (opset >= 17)


@pytest.mark.parametrize("opset", [14, 18])
def test_skip_simplified_layer_normalization(opset):
    node = h.make_node("SkipSimplifiedLayerNormalization", ["x", "skip", "gamma", "bias"], ["y", "", "inv", "sum"],
                       domain="com.microsoft", epsilon=1e-5)  # fmt: skip
    outs = {"y": [B, S, H], "inv": [B, S, 1], "sum": [B, S, H]}
    m = model([node], {"x": [B, S, H], "skip": [1, S, H]}, outs, {"gamma": f32(H), "bias": f32(H)}, opset)
    check(m, {"x": f32(B, S, H), "skip": f32(1, S, H)}, "SkipSimplifiedLayerNormalization")


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_simplified_layer_normalization_in_the_default_domain(opset):
    """onnxruntime registers RMSNorm in the default domain: onnx's checker would reject it."""
    node = h.make_node("SimplifiedLayerNormalization", ["x", "gamma"], ["y"], epsilon=1e-6, axis=-1)
    m = model([node], {"x": [B, S, H]}, ["y"], {"gamma": f32(H)}, opset)
    check(m, {"x": f32(B, S, H)}, "SimplifiedLayerNormalization")


@pytest.mark.parametrize("axis", [-1, -2, 1])
def test_layer_normalization_below_opset_17_is_decomposed(axis):
    node = h.make_node("LayerNormalization", ["x", "gamma", "beta"], ["y"], epsilon=1e-5, axis=axis)
    norm_shape = [S, H] if axis in (-2, 1) else [H]
    m = model([node], {"x": [B, S, H]}, ["y"], {"gamma": f32(*norm_shape), "beta": f32(*norm_shape)}, 14)
    lowered = check(m, {"x": f32(B, S, H)}, "LayerNormalization")
    assert "ReduceMean" in {n.op_type for n in lowered.graph.node}


@pytest.mark.parametrize("opset", [14, 20])
@pytest.mark.parametrize("bias", [False, True])
def test_fast_gelu(opset, bias):
    node = h.make_node("FastGelu", ["x", "bias"] if bias else ["x"], ["y"], domain="com.microsoft")
    m = model([node], {"x": [B, S, H]}, ["y"], {"bias": f32(H)} if bias else {}, opset)
    lowered = check(m, {"x": 3 * f32(B, S, H)}, "FastGelu")
    assert ("Gelu" in {n.op_type for n in lowered.graph.node}) == (opset >= 20)


@pytest.mark.parametrize("opset", [14, 20])
def test_bias_gelu(opset):
    node = h.make_node("BiasGelu", ["x", "bias"], ["y"], domain="com.microsoft")
    m = model([node], {"x": [B, S, H]}, ["y"], {"bias": f32(H)}, opset)
    check(m, {"x": 3 * f32(B, S, H)}, "BiasGelu")


def test_bias_gelu_below_opset_20_is_the_exported_form_the_quantizer_fuses():
    node = h.make_node("BiasGelu", ["x", "bias"], ["y"], domain="com.microsoft")
    ir = load_onnx(model([node], {"x": [B, S, H]}, ["y"], {"bias": f32(H)}, 14))
    FuseConvBnActPass(FuseOptions())(ir, PassContext())
    assert [op.qualified_type for op in ir.graph] == ["Add", "qcompiler.Gelu"]


@pytest.mark.parametrize("alpha", [None, 1.0])
def test_quick_gelu(alpha):
    node = h.make_node("QuickGelu", ["x"], ["y"], domain="com.microsoft", **({"alpha": alpha} if alpha else {}))
    check(model([node], {"x": [B, S, H]}, ["y"], {}), {"x": 3 * f32(B, S, H)}, "QuickGelu")


def test_bias_add():
    """onnxruntime runs BiasAdd on CUDA only: compared with its definition."""
    node = h.make_node("BiasAdd", ["x", "bias", "skip"], ["y"], domain="com.microsoft")
    bias = f32(H)
    m = model([node], {"x": [B, S, H], "skip": [B, S, H]}, ["y"], {"bias": bias})
    x, skip = f32(B, S, H), f32(B, S, H)
    got = run_ort(ir_to_proto(load_onnx(m)), {"x": x, "skip": skip})[0]
    np.testing.assert_allclose(got, x + bias + skip, rtol=1e-6, atol=1e-6)


def attention_model(mask: str | None, opset: int = 17, qkv: list[int] | None = None, bias: bool = True,
                    attn_bias: bool = False, **attrs) -> tuple[onnx.ModelProto, dict]:  # fmt: skip
    sizes = qkv or [H, H, H]
    inits = {"w": f32(H, sum(sizes)) / 2}
    if bias:
        inits["b"] = f32(sum(sizes))
    ins = ["x", "w", "b" if bias else "", "mask" if mask else "", "", "attn_bias" if attn_bias else ""]
    while not ins[-1]:
        ins.pop()
    if qkv:
        attrs["qkv_hidden_sizes"] = qkv
    node = h.make_node("Attention", ins, ["y"], domain="com.microsoft", num_heads=2, **attrs)
    inputs, feeds = {"x": [B, S, H]}, {"x": f32(B, S, H)}
    if mask == "raw2d":
        inputs["mask"], feeds["mask"] = [B, S], np.array([[1] * S, [1] * (S - 2) + [0] * 2], np.int32)
    elif mask == "raw3d":
        inputs["mask"], feeds["mask"] = [B, S, S], (R.random((B, S, S)) > 0.3).astype(np.int32)
    elif mask == "lengths":
        inputs["mask"], feeds["mask"] = [B], np.array([S, 2], np.int32)
    elif mask == "ends_starts":
        inputs["mask"], feeds["mask"] = [2 * B], np.array([S, 4, 0, 1], np.int32)
    elif mask == "dummy":
        inputs["mask"], feeds["mask"] = [B, 1], np.ones((B, 1), np.int32)
    if attn_bias:
        inputs["attn_bias"], feeds["attn_bias"] = [1, 2, S, S], f32(1, 2, S, S)
    return model([node], inputs, {"y": [B, S, sizes[2]]}, inits, opset), feeds


@pytest.mark.parametrize("mask", [None, "raw2d", "raw3d", "lengths", "ends_starts", "dummy"])
@pytest.mark.parametrize("unidirectional", [0, 1])
def test_attention_masks(mask, unidirectional):
    m, feeds = attention_model(mask, unidirectional=unidirectional)
    lowered = check(m, feeds, "Attention")
    kinds = {n.op_type for n in lowered.graph.node}
    assert {"MatMul", "Softmax", "Transpose", "Reshape"} <= kinds


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_attention_mask_computed_in_the_graph(opset):
    """A raw mask made from the int64 model input by a Cast (as the BERT optimizer writes it):
    its rank comes from onnx shape inference; the (2B) form's Split differs at opset 18."""
    m, feeds = attention_model("raw2d", opset)
    m.graph.input[1].type.tensor_type.elem_type = T.INT64
    m.graph.node[0].input[3] = "mask32"
    m.graph.node.insert(0, h.make_node("Cast", ["mask"], ["mask32"], to=T.INT32))
    check(m, feeds | {"mask": feeds["mask"].astype(np.int64)}, "Attention")
    m, feeds = attention_model("ends_starts", opset)
    check(m, feeds, "Attention")


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_attention_opsets_scale_sizes_and_bias(opset):
    m, feeds = attention_model("raw2d", opset, qkv=[H, H, 4], scale=0.3, mask_filter_value=-1000.0, attn_bias=True)
    check(m, feeds, "Attention")
    m, feeds = attention_model(None, opset, bias=False)
    check(m, feeds, "Attention")


def test_attention_with_past_state_is_kept(tmp_path, capsys):
    """Past/present state is not rewritten: the node stays as it was, the model still loads, and
    the C backend says in one line that it has no kernel for it."""
    from qcompiler.cli import main

    m, _ = attention_model(None)
    node = m.graph.node[0]
    node.name = "att"
    del node.output[:]
    node.output.extend(["y", "present"])
    m.graph.output.append(h.make_tensor_value_info("present", T.FLOAT, [2, B, 2, S, H // 2]))
    assert lower_contrib_ops(m) is m
    ir = load_onnx(m)
    assert [(op.domain, op.op_type) for op in ir.graph] == [("com.microsoft", "Attention")]
    onnx.save(m, str(tmp_path / "m.onnx"))
    assert main(["compile", str(tmp_path / "m.onnx"), "--backend", "c", "-o", str(tmp_path / "c")]) != 0
    err = capsys.readouterr().err.strip()
    assert "node 'att' (Attention): no C kernel for this op" in err and len(err.splitlines()) == 1


def test_attention_with_run_time_weights_is_kept_next_to_rewritten_nodes():
    m, feeds = attention_model(None)
    w = m.graph.initializer[0]
    m.graph.input.append(h.make_tensor_value_info("w", T.FLOAT, list(w.dims)))
    feeds["w"] = nh.to_array(w)
    del m.graph.initializer[0]
    m.graph.node.append(h.make_node("QuickGelu", ["y"], ["z"], domain="com.microsoft"))
    m.graph.output[0].name = "z"
    lowered = lower_contrib_ops(m)
    assert [n.op_type for n in lowered.graph.node][0] == "Attention"
    assert "QuickGelu" not in {n.op_type for n in lowered.graph.node}
    np.testing.assert_allclose(run_ort(lowered, feeds)[0], run_ort(m, feeds)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", ["full", "minimal"])
@pytest.mark.parametrize("opset", [13, 17])
def test_embed_layer_normalization(form, opset):
    full = form == "full"
    ins = ["ids", "seg_ids" if full else "", "word", "pos", "seg" if full else "", "gamma", "beta",
           "mask" if full else "", "pos_ids" if full else ""]  # fmt: skip
    outs = {"y": [B, S, H], "mask_index": [B]} | ({"sum": [B, S, H]} if full else {})
    node = h.make_node("EmbedLayerNormalization", ins, list(outs), domain="com.microsoft", epsilon=1e-5)
    inits = {"word": f32(30, H), "pos": f32(16, H), "seg": f32(2, H), "gamma": f32(H), "beta": f32(H)}
    inputs = {"ids": [B, S]}
    feeds = {"ids": R.integers(0, 30, (B, S)).astype(np.int32)}
    if full:
        inputs |= {"seg_ids": [B, S], "mask": [B, S], "pos_ids": [B, S]}
        feeds |= {"seg_ids": R.integers(0, 2, (B, S)).astype(np.int32),
                  "mask": np.array([[1] * S, [1] * 3 + [0] * (S - 3)], np.int32),
                  "pos_ids": R.integers(0, 16, (B, S)).astype(np.int32)}  # fmt: skip
    check(model([node], inputs, outs, inits, opset), feeds, "EmbedLayerNormalization")


def test_embed_layer_normalization_mask_index_feeds_attention():
    """The usual BERT pair: EmbedLayerNormalization's mask_index (valid lengths) into Attention."""
    emb = h.make_node("EmbedLayerNormalization", ["ids", "", "word", "pos", "", "gamma", "beta", "mask"],
                      ["e", "mask_index"], domain="com.microsoft")  # fmt: skip
    att = h.make_node("Attention", ["e", "w", "b", "mask_index"], ["y"], domain="com.microsoft", num_heads=2)
    inits = {"word": f32(30, H), "pos": f32(16, H), "gamma": f32(H), "beta": f32(H),
             "w": f32(H, 3 * H), "b": f32(3 * H)}  # fmt: skip
    m = model([emb, att], {"ids": [B, S], "mask": [B, S]}, ["y"], inits)
    feeds = {"ids": R.integers(0, 30, (B, S)).astype(np.int32), "mask": np.array([[1] * S, [1, 1, 0, 0, 0]], np.int32)}
    check(m, feeds, "Attention")


# ---- end to end: onnxruntime's BERT optimizer, then C ------------------------------------------
def hf_bert(opset: int, layers: int = 2, seq: int = 8, hidden: int = 16, heads: int = 2) -> onnx.ModelProto:
    """A tiny BERT encoder in the form Hugging Face's exporter writes (the form onnxruntime's BERT
    optimizer fuses): word + token-type + position embeddings, the ``(1 - mask) * -10000``
    extended mask, per-head Q/K/V, residual LayerNorms and an erf GELU feed-forward."""
    r = np.random.default_rng(7)
    hd, ffn = hidden // heads, 2 * hidden
    inits: dict[str, np.ndarray] = {}
    nodes: list[onnx.NodeProto] = []

    def const(name, arr):
        inits[name] = np.asarray(arr)
        return name

    def weight(name, *shape, scale=0.3):
        return const(name, (r.standard_normal(shape) * scale).astype(np.float32))

    def node(op, ins, out, **attrs):
        nodes.append(h.make_node(op, ins, [out], name=out, **attrs))
        return out

    def axes(op, x, out, ax):  # axes an input from opset 13 (Unsqueeze) or 18 (ReduceMean)
        if opset >= (18 if op == "ReduceMean" else 13):
            return node(op, [x, const(f"{out}_axes", np.array(ax, np.int64))], out)
        return node(op, [x], out, axes=ax)

    def layernorm(x, out):
        g, b = weight(f"{out}_g", hidden, scale=1.0), weight(f"{out}_b", hidden, scale=0.1)
        if opset >= 17:
            return node("LayerNormalization", [x, g, b], out, epsilon=1e-12)
        mean = axes("ReduceMean", x, f"{out}_mean", [-1])
        d = node("Sub", [x, mean], f"{out}_d")
        sq = node("Pow", [d, const(f"{out}_2", np.array(2, np.float32))], f"{out}_sq")
        var = axes("ReduceMean", sq, f"{out}_var", [-1])
        ve = node("Add", [var, const(f"{out}_eps", np.array(1e-12, np.float32))], f"{out}_ve")
        std = node("Sqrt", [ve], f"{out}_std")
        return node("Add", [node("Mul", [node("Div", [d, std], f"{out}_n"), g], f"{out}_gn"), b], out)

    def linear(x, out, n_in, n_out):
        return node("Add", [node("MatMul", [x, weight(f"{out}_w", n_in, n_out)], f"{out}_mm"),
                            weight(f"{out}_bias", n_out, scale=0.1)], out)  # fmt: skip

    # embeddings
    word = node("Gather", [weight("word_emb", 50, hidden, scale=1.0), "input_ids"], "word")
    seg = node("Gather", [weight("type_emb", 2, hidden, scale=1.0), "token_type_ids"], "seg")
    n = node("Gather", [node("Shape", ["input_ids"], "ids_shape"), const("one", np.array(1, np.int64))], "seq_len")
    start, one_ = const("zero1", np.array([0], np.int64)), const("one1", np.array([1], np.int64))
    pos_ids = node("Slice", [const("position_ids", np.arange(32, dtype=np.int64)[None]), start,
                             axes("Unsqueeze", n, "seq_end", [0]), one_, one_], "pos_ids")  # fmt: skip
    pos = node("Gather", [weight("pos_emb", 32, hidden, scale=1.0), pos_ids], "pos")
    x = layernorm(node("Add", [node("Add", [word, seg], "word_seg"), pos], "emb"), "emb_ln")
    # extended attention mask
    m = node("Cast", [axes("Unsqueeze", axes("Unsqueeze", "attention_mask", "m1", [1]), "m2", [2])], "mf", to=T.FLOAT)
    ext = node("Mul", [node("Sub", [const("one_f", np.array(1.0, np.float32)), m], "inv_mask"),
                       const("neg", np.array(-10000.0, np.float32))], "ext_mask")  # fmt: skip
    split_heads = const("split_heads", np.array([0, 0, heads, hd], np.int64))
    merge_heads = const("merge_heads", np.array([0, 0, hidden], np.int64))
    for i in range(layers):
        p = f"l{i}_"
        qkv = {}
        for part, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
            t = node("Reshape", [linear(x, f"{p}{part}", hidden, hidden), split_heads], f"{p}{part}_heads")
            qkv[part] = node("Transpose", [t], f"{p}{part}_t", perm=perm)
        qk = node("MatMul", [qkv["q"], qkv["k"]], f"{p}qk")
        s = node("Div", [qk, const(f"{p}sqrt", np.array(np.sqrt(hd), np.float32))], f"{p}scaled")
        probs = node("Softmax", [node("Add", [s, ext], f"{p}masked")], f"{p}probs", axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, qkv["v"]], f"{p}ctx_h")], f"{p}ctx_t", perm=[0, 2, 1, 3])
        attn = linear(node("Reshape", [ctx, merge_heads], f"{p}ctx"), f"{p}o", hidden, hidden)
        x = layernorm(node("Add", [attn, x], f"{p}res1"), f"{p}ln1")
        f = linear(x, f"{p}ff1", hidden, ffn)
        e = node("Erf", [node("Div", [f, const(f"{p}sqrt2", np.array(np.sqrt(2), np.float32))], f"{p}fd")], f"{p}erf")
        e1 = node("Add", [e, const(f"{p}one", np.array(1, np.float32))], f"{p}e1")
        g = node("Mul", [node("Mul", [f, e1], f"{p}fe"), const(f"{p}half", np.array(0.5, np.float32))], f"{p}gelu")
        x = layernorm(node("Add", [linear(g, f"{p}ff2", ffn, hidden), x], f"{p}res2"), f"{p}ln2")
    ids = [h.make_tensor_value_info(k, T.INT64, [2, seq]) for k in ("input_ids", "attention_mask", "token_type_ids")]
    graph = h.make_graph(nodes, "bert", ids, [h.make_tensor_value_info(x, T.FLOAT, [2, seq, hidden])],
                         [nh.from_array(v, k) for k, v in inits.items()])  # fmt: skip
    return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])


def bert_feeds(seed: int) -> dict:
    r = np.random.default_rng(seed)
    mask = np.ones((2, 8), np.int64)
    mask[1, 5:] = 0  # the second sequence is padded
    return {"input_ids": r.integers(0, 50, (2, 8)), "attention_mask": mask, "token_type_ids": r.integers(0, 2, (2, 8))}


@pytest.mark.skipif(not cbuild.have("host"), reason="no C compiler")
@pytest.mark.parametrize("opset, approximate, raw_mask", [(13, False, False), (17, True, True)])
def test_bert_optimizer_output_compiles_to_c(tmp_path, opset, approximate, raw_mask):
    """optimize_model(model_type="bert") fuses the whole encoder into contrib ops; qcompiler
    compiles the result to C, whose float outputs match onnxruntime's on the optimized model.
    The mask reaches Attention as EmbedLayerNormalization's lengths, or raw (a Cast of the input)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    from qcompiler.cli import main

    options = FusionOptions("bert")
    options.enable_gelu_approximation = approximate
    options.use_raw_attention_mask(raw_mask)
    src = hf_bert(opset)
    opt = optimize_model(src, model_type="bert", num_heads=2, hidden_size=16, opt_level=0, optimization_options=options)
    kinds = {n.op_type for n in opt.model.graph.node if n.domain == "com.microsoft"}
    assert kinds == {"EmbedLayerNormalization", "Attention", "SkipLayerNormalization",
                     "FastGelu" if approximate else "BiasGelu"}  # fmt: skip
    path = tmp_path / "bert_opt.onnx"
    opt.save_model_to_file(str(path))  # adds the com.microsoft opset import
    assert main(["compile", str(path), "--backend", "c", "-o", str(tmp_path / "c")]) == 0
    cbuild.build(tmp_path / "c", "host")
    for seed in (1, 2):
        feeds = bert_feeds(seed)
        want = run_ort(path, feeds)[0]
        np.testing.assert_allclose(want, run_ort(src, feeds)[0], rtol=1e-3, atol=1e-3 if approximate else 1e-4)
        got = cbuild.run(tmp_path / "c", feeds, "host", tag=f"s{seed}")
        np.testing.assert_allclose(got[opt.model.graph.output[0].name].reshape(want.shape), want, rtol=1e-4, atol=1e-4)
