"""Two-operand Einsum that is a batched matrix product becomes Transpose/MatMul nodes on import.

Attention blocks are often exported as ``Einsum("bhid,bhjd->bhij", q, k)`` (MaxViT, many
Hugging Face exports). As MatMul they quantize like onnxruntime's quantizer quantizes a
MatMul, and every backend runs them (the C backend has int8 and float matrix products, no
Einsum). The rewrite applies when, with batch letters in all three terms, exactly one letter
is contracted (in both operands, not in the result), one letter is only in the first operand
and one only in the second (both in the result), and no letter repeats within a term and there
is no ellipsis. The operands are transposed to ``batch.. i k`` and ``batch.. k j`` (batch
letters in the result's order), and the product to the result's order, only where the order
differs. Other equations stay Einsum.
"""

from __future__ import annotations

import onnx
from onnx import helper

__all__ = ["lower_einsum", "einsum_as_matmul"]


def einsum_as_matmul(equation: str) -> tuple[list[int] | None, list[int] | None, list[int] | None] | None:
    """``(perm_a, perm_b, perm_out)`` (None: no Transpose) for an equation this rewrite takes."""
    eq = equation.replace(" ", "")
    if "..." in eq or eq.count("->") != 1:  # implicit output or not an equation: left to onnxruntime
        return None
    lhs, out = eq.split("->")
    terms = lhs.split(",")
    if len(terms) != 2:
        return None
    a, b = terms
    if any(len(set(t)) != len(t) or not t.isalpha() for t in (a, b, out)):
        return None
    batch = [c for c in out if c in a and c in b]
    k = [c for c in a if c in b and c not in out]
    i = [c for c in a if c not in b]
    j = [c for c in b if c not in a]
    if len(k) != 1 or len(i) != 1 or len(j) != 1 or i[0] not in out or j[0] not in out:
        return None
    if len(out) != len(batch) + 2 or len(a) != len(batch) + 2 or len(b) != len(batch) + 2:
        return None
    want_a, want_b, got = batch + [i[0], k[0]], batch + [k[0], j[0]], batch + [i[0], j[0]]

    def perm(src, dst) -> list[int] | None:
        """Transpose's perm taking letters ``src`` to ``dst`` (None: already in order)."""
        p = [src.index(c) for c in dst]
        return None if p == list(range(len(p))) else p

    return perm(a, want_a), perm(b, want_b), perm(got, out)


def lower_einsum(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with the main graph's matrix-product Einsums rewritten (a new proto), or
    ``model`` itself when there is none."""
    plans = {}
    for n, node in enumerate(model.graph.node):
        if node.op_type == "Einsum" and node.domain in ("", "ai.onnx") and len(node.input) == 2:
            eq = next((a.s.decode() for a in node.attribute if a.name == "equation"), None)
            plan = einsum_as_matmul(eq) if eq is not None else None
            if plan is not None:
                plans[n] = plan
    if not plans:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    for n, node in enumerate(model.graph.node):
        if n not in plans:
            out.graph.node.append(node)
            continue
        perm_a, perm_b, perm_out = plans[n]
        base = node.name or node.output[0]
        ins = list(node.input)
        for slot, perm in ((0, perm_a), (1, perm_b)):
            if perm is not None:
                t = f"{node.output[0]}__einsum_in{slot}"
                out.graph.node.append(helper.make_node("Transpose", [ins[slot]], [t], perm=perm, name=f"{base}/in{slot}_T"))
                ins[slot] = t
        if perm_out is None:
            out.graph.node.append(helper.make_node("MatMul", ins, [node.output[0]], name=base))
        else:
            t = f"{node.output[0]}__einsum_mm"
            out.graph.node.append(helper.make_node("MatMul", ins, [t], name=base))
            out.graph.node.append(helper.make_node("Transpose", [t], [node.output[0]], perm=perm_out, name=f"{base}/out_T"))
    return out
