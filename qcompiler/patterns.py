"""Matchers for op patterns real exporters emit, shared by rewrite passes and plugins.

Each matcher takes the op where a pattern starts and returns a match object, or a string
saying why the pattern does not apply (so a rewrite can report why it did not fire).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qcompiler.ir import Op, Value

__all__ = ["scalar", "single_user", "other_input", "ActivationMatch", "match_relu6",
           "match_decomposed_hardswish", "match_mul_hardsigmoid", "match_silu", "match_gelu",
           "match_activation_at"]  # fmt: skip


def scalar(v: Value | None) -> float | None:
    """The value of a one-element constant, else ``None``."""
    if v is None or not v.is_constant or np.asarray(v.const).size != 1:
        return None
    return float(np.asarray(v.const).reshape(-1)[0])


def single_user(v: Value) -> Op | None:
    """The only op reading ``v`` (``None`` if several ops read it or it is a graph output)."""
    users = v.users()
    if len(users) != 1 or v.is_graph_output:
        return None
    return users[0]


def other_input(op: Op, v: Value) -> Value | None:
    """For a binary op reading ``v``, its other operand."""
    a, b = op.input(0), op.input(1)
    if a is v:
        return b
    if b is v:
        return a
    return None


def _is(op: Op | None, op_type: str) -> bool:
    return op is not None and op.op_type == op_type and op.domain in ("", "ai.onnx")


def _clip_bounds(op: Op) -> tuple[float | None, float | None]:
    if op.input(1) is not None or op.input(2) is not None or not op.attrs:
        return scalar(op.input(1)), scalar(op.input(2))
    return op.attr("min"), op.attr("max")


def _close(a: float | None, b: float, tol: float = 1e-5) -> bool:
    return a is not None and abs(a - b) <= tol * max(1.0, abs(b))


@dataclass
class ActivationMatch:
    """``x`` feeds an activation computed by ``ops`` (in order) whose result is ``output``."""

    activation: str
    x: Value
    ops: list[Op]
    output: Value


def _div_or_mul_by_six(op: Op | None, operand: Value) -> bool:
    if _is(op, "Div"):
        return op.input(0) is operand and _close(scalar(op.input(1)), 6.0)
    if _is(op, "Mul"):
        return _close(scalar(other_input(op, operand)), 1.0 / 6.0, 1e-4)
    return False


def _binary_with_constant(op: Op | None, op_type: str, operand: Value, value: float) -> bool:
    """``op`` is ``op_type(operand, value)`` (either order) with exactly two inputs."""
    return (_is(op, op_type) and len(op.inputs) == 2 and other_input(op, operand) is not None
            and _close(scalar(other_input(op, operand)), value))  # fmt: skip


def match_relu6(v: Value) -> tuple[list[Op], Value] | str:
    """``clip(v, 0, 6)`` as its single reader computes it: the ops and the clipped value.

    Accepts ``Clip(v, 0, 6)`` (bounds as attributes before opset 11, constant inputs from 11),
    and the Relu6 forms ``Min(Relu(v), 6)``, ``Min(Max(v, 0), 6)`` and ``Max(Min(v, 6), 0)``.
    """
    first = single_user(v)
    if _is(first, "Clip"):
        lo, hi = _clip_bounds(first)
        if _close(lo, 0.0) and _close(hi, 6.0):
            return [first], first.output
        return f"Clip bounds are ({lo}, {hi}), not (0, 6)"
    if _is(first, "Relu") or _binary_with_constant(first, "Max", v, 0.0):
        second = single_user(first.output)
        if _binary_with_constant(second, "Min", first.output, 6.0):
            return [first, second], second.output
        return f"{first.op_type} is not followed by Min(., 6)"
    if _binary_with_constant(first, "Min", v, 6.0):
        second = single_user(first.output)
        if _binary_with_constant(second, "Max", first.output, 0.0):
            return [first, second], second.output
        return "Min(., 6) is not followed by Max(., 0)"
    return "not clipped to (0, 6) by one Clip or a Relu6 form"


def match_decomposed_hardswish(add: Op) -> ActivationMatch | str:
    """``x * clip(x + 3, 0, 6) / 6`` starting at its ``Add``.

    Accepts ``Mul(x, k)`` then ``Div(., 6)`` or ``Mul(., 1/6)``, and ``Div(k, 6)`` or
    ``Mul(k, 1/6)`` then ``Mul(x, .)``, with operands in either order; the clip may be any
    form :func:`match_relu6` accepts.
    """
    if not _is(add, "Add"):
        return "not an Add"
    x = None
    for cand, other in ((add.input(0), add.input(1)), (add.input(1), add.input(0))):
        if _close(scalar(other), 3.0) and cand is not None and not cand.is_constant:
            x = cand
    if x is None:
        return "Add is not x + 3"
    if add.output.is_graph_output:
        return "x + 3 is a graph output"
    clipped = match_relu6(add.output)
    if isinstance(clipped, str):
        return f"x + 3: {clipped}"
    clip_ops, k = clipped
    ops = [add, *clip_ops]
    nxt = single_user(k)
    if _is(nxt, "Mul") and other_input(nxt, k) is x:
        last = single_user(nxt.output)
        if _div_or_mul_by_six(last, nxt.output):
            return ActivationMatch("HardSwish", x, [*ops, nxt, last], last.output)
        return "x * clip(x + 3, 0, 6) is not divided by 6"
    if _div_or_mul_by_six(nxt, k):
        last = single_user(nxt.output)
        if _is(last, "Mul") and other_input(last, nxt.output) is x:
            return ActivationMatch("HardSwish", x, [*ops, nxt, last], last.output)
        return "clip(x + 3, 0, 6) / 6 is not multiplied by x"
    return "clip(x + 3, 0, 6) is neither multiplied by x nor divided by 6"


def match_mul_hardsigmoid(hs: Op) -> ActivationMatch | str:
    """``x * HardSigmoid(x)`` with alpha 1/6 and beta 1/2 (hard-swish) starting at HardSigmoid."""
    if not _is(hs, "HardSigmoid"):
        return "not a HardSigmoid"
    if not (_close(hs.attr("alpha", 0.2), 1 / 6, 1e-4) and _close(hs.attr("beta", 0.5), 0.5)):
        return "HardSigmoid is not the hard-swish one (alpha 1/6, beta 1/2)"
    x = hs.input(0)
    mul = single_user(hs.output)
    if _is(mul, "Mul") and other_input(mul, hs.output) is x:
        return ActivationMatch("HardSwish", x, [hs, mul], mul.output)
    return "HardSigmoid(x) is not multiplied by x"


def match_silu(sig: Op) -> ActivationMatch | str:
    """``x * Sigmoid(x)`` starting at the Sigmoid."""
    if not _is(sig, "Sigmoid"):
        return "not a Sigmoid"
    x = sig.input(0)
    mul = single_user(sig.output)
    if _is(mul, "Mul") and other_input(mul, sig.output) is x:
        return ActivationMatch("Silu", x, [sig, mul], mul.output)
    return "Sigmoid(x) is not multiplied by x"


def match_gelu(op: Op) -> ActivationMatch | str:
    """The exact GELU ``x * 0.5 * (1 + erf(x / sqrt(2)))`` as exporters write it, starting at
    the ``Div(x, sqrt 2)`` (or ``Mul(x, 1/sqrt 2)``): then ``Erf``, ``Add(., 1)`` and either
    ``Mul(x, .)`` and ``Mul(., 0.5)``, ``Mul(., 0.5)`` and ``Mul(x, .)``, or ``Mul(x * 0.5, .)``
    with ``x * 0.5`` read by nothing else (operands of Add and Mul in either order)."""
    x = None
    if _is(op, "Div") and _close(scalar(op.input(1)), math.sqrt(2.0), 1e-4):
        x = op.input(0)
    elif _is(op, "Mul"):
        for cand, other in ((op.input(0), op.input(1)), (op.input(1), op.input(0))):
            if _close(scalar(other), 1 / math.sqrt(2.0), 1e-4):
                x = cand
    if x is None or x.is_constant:
        return "not x / sqrt(2)"
    erf = single_user(op.output)
    if not _is(erf, "Erf"):
        return "x / sqrt(2) is not followed by Erf"
    add = single_user(erf.output)
    if not (_is(add, "Add") and _close(scalar(other_input(add, erf.output)), 1.0)):
        return "erf(x / sqrt(2)) is not followed by Add(., 1)"
    nxt = single_user(add.output)
    if not _is(nxt, "Mul"):
        return "1 + erf(x / sqrt(2)) is not multiplied"
    k = other_input(nxt, add.output)
    half = k.producer() if k is not None else None
    if k is x or _close(scalar(k), 0.5):
        last = single_user(nxt.output)
        o = other_input(last, nxt.output) if _is(last, "Mul") else None
        if (_close(scalar(o), 0.5) if k is x else o is x):  # the other factor of the two
            return ActivationMatch("Gelu", x, [op, erf, add, nxt, last], last.output)
        return "x * (1 + erf(x / sqrt(2))) is not halved"
    if (_is(half, "Mul") and other_input(half, x) is not None and _close(scalar(other_input(half, x)), 0.5)
            and single_user(k) is nxt):  # fmt: skip
        return ActivationMatch("Gelu", x, [half, op, erf, add, nxt], nxt.output)
    return "1 + erf(x / sqrt(2)) is multiplied by neither x, 0.5 nor x * 0.5"


def match_activation_at(op: Op) -> ActivationMatch | str:
    """Any of the decomposed activations above, starting at ``op``."""
    for matcher in (match_decomposed_hardswish, match_mul_hardsigmoid, match_silu, match_gelu):
        m = matcher(op)
        if isinstance(m, ActivationMatch):
            return m
    return f"{op.op_type} starts no decomposed activation"
