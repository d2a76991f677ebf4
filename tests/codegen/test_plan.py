"""The static memory plan on hand-made lifetimes (no compiler needed)."""

from __future__ import annotations

import pytest

import qcompiler.codegen.c.plan as plan
from qcompiler.codegen.c.program import Program


def _program(spec):
    """One step per time; buffer (bytes, first, last) is written at first and read at last."""
    p = Program()
    bufs = [p.new_buf("arena", size) for size, _, _ in spec]
    for t in range(max(last for _, _, last in spec) + 1):
        p.add(f"step{t};", [b for b, (_, f, last) in zip(bufs, spec) if last == t and f != t],
              [b for b, (_, f, _) in zip(bufs, spec) if f == t], ())
    return p, bufs


# Found by a random search: every greedy order places this 25% above the bound.
HARD = [(128, 6, 6), (80, 2, 5), (128, 3, 3), (64, 3, 4), (96, 7, 9), (32, 0, 0), (96, 0, 1), (96, 4, 6), (96, 5, 6)]

# torchvision MNASNet 0.5 at 96x96, int8: its buffer groups (bytes, first, last step) after in-place
# merging; the swap search of 2026-11 stopped at 78336 bytes, 5.5% above the bound.
MNASNET = [
    (512, 4, 4), (864, 46, 59), (864, 47, 47), (864, 49, 50), (864, 51, 51), (864, 53, 54),
    (864, 55, 55), (864, 57, 58), (864, 59, 59), (1000, 64, 65), (1024, 3, 3), (1024, 7, 7),
    (1024, 11, 11), (1024, 15, 15), (1280, 63, 64), (1440, 28, 37), (1440, 29, 29), (1440, 31, 32),
    (1440, 33, 33), (1440, 35, 36), (1440, 37, 37), (1440, 61, 62), (1440, 62, 62), (1536, 6, 6),
    (1536, 18, 18), (1536, 22, 22), (1536, 26, 26), (1728, 1, 1), (1728, 39, 44), (1728, 40, 40),
    (1728, 42, 43), (1728, 44, 44), (2592, 45, 46), (2592, 46, 46), (3072, 9, 9), (3072, 13, 13),
    (3072, 17, 17), (3456, 17, 26), (3456, 20, 21), (3456, 24, 25), (4608, 20, 20), (4608, 24, 24),
    (5184, 27, 28), (5184, 28, 28), (5184, 47, 48), (5184, 48, 49), (5184, 49, 49), (5184, 51, 52),
    (5184, 52, 53), (5184, 53, 53), (5184, 55, 56), (5184, 56, 57), (5184, 57, 57), (5184, 59, 60),
    (5184, 60, 61), (5184, 61, 61), (6912, 16, 17), (8640, 29, 30), (8640, 30, 31), (8640, 31, 31),
    (8640, 33, 34), (8640, 34, 35), (8640, 35, 35), (8640, 37, 38), (8640, 38, 39), (8640, 39, 39),
    (9216, 6, 15), (9216, 9, 10), (9216, 13, 14), (10368, 18, 19), (10368, 19, 20), (10368, 22, 23),
    (10368, 23, 24), (10368, 40, 41), (10368, 41, 42), (10368, 42, 42), (10368, 44, 45),
    (11520, 62, 63), (13824, 5, 6), (18432, 3, 4), (20736, 26, 27), (27648, 0, 1), (27648, 7, 8),
    (27648, 8, 9), (27648, 11, 12), (27648, 12, 13), (27648, 15, 16), (36864, 1, 2), (36864, 2, 3),
    (55296, 4, 5)
]  # fmt: skip


def _valid(spec, bufs, size):
    for i, (sa, fa, la) in enumerate(spec):
        a = bufs[i]
        assert 0 <= a.offset and a.offset + sa <= size
        for j in range(i):
            sb, fb, lb = spec[j]
            b = bufs[j]
            if not (la < fb or lb < fa):  # alive together: disjoint bytes
                assert a.offset + sa <= b.offset or b.offset + sb <= a.offset


def test_local_search_reaches_the_bound_where_greedy_orders_do_not(monkeypatch):
    monkeypatch.setattr(plan, "SEARCH_TRIES", 0)
    p, bufs = _program(HARD)
    greedy = plan.plan_arena(p)
    assert greedy.size == 400 and greedy.lower_bound == 320
    monkeypatch.undo()
    p, bufs = _program(HARD)
    searched = plan.plan_arena(p)
    assert searched.size == searched.lower_bound == 320
    _valid(HARD, bufs, searched.size)
    again, bufs2 = _program(HARD)
    plan.plan_arena(again)
    assert [b.offset for b in bufs] == [b.offset for b in bufs2]  # seeded: the same plan


@pytest.mark.parametrize("seed", range(5))
def test_plans_never_overlap_live_buffers(seed):
    import random

    rnd = random.Random(seed)
    spec = []
    for _ in range(40):
        f = rnd.randint(0, 30)
        spec.append((16 * rnd.randint(1, 20), f, f + rnd.randint(0, 6)))
    p, bufs = _program(spec)
    res = plan.plan_arena(p)
    assert res.lower_bound <= res.size <= 1.25 * res.lower_bound
    _valid(spec, bufs, res.size)


def _residual_blocks(blocks: int, choices):
    """x -> wide h1 -> wide h2 -> p; x + p -> next x, as a transformer MLP or an inverted
    bottleneck: the Add may write over p or over x (``choices`` orders the candidates)."""
    u = 1024
    p = Program()
    x = p.new_buf("arena", u)
    p.add("x = in;", [], [x], ())
    for _ in range(blocks):
        h1, h2, q, y = p.new_buf("arena", 4 * u), p.new_buf("arena", 4 * u), p.new_buf("arena", u), p.new_buf("arena", u)
        p.add("h1 = f(x);", [x], [h1], ())
        p.add("h2 = g(h1);", [h1], [h2], ())
        p.add("q = k(h2);", [h2], [q], ())
        pairs = {"q": (q, y), "x": (x, y)}
        st = p.add("y = x + q;", [x, q], [y], ())
        st.inplace = [pairs[c] for c in choices]
        x = y
    p.add("out = x;", [x], [], ())
    return p


def test_a_residual_add_keeps_the_stream_in_place(monkeypatch):
    """With the Add writing over its newest input, the stream alternates between two slots and
    leaves a hole beside the next block's wide tensors (10 units where 9 are live: ViT-Tiny,
    ConvNeXt-T and EfficientNetV2-S were 1.11x their bound); offered both inputs, the plan takes
    the one whose group began first and meets the bound (greedy orders alone, no search)."""
    monkeypatch.setattr(plan, "SEARCH_TRIES", 0)
    old = plan.plan_arena(_residual_blocks(6, ["q"]))
    assert old.size == 10 * 1024 and old.lower_bound == 9 * 1024
    both = plan.plan_arena(_residual_blocks(6, ["q", "x"]))
    assert both.size == both.lower_bound == 9 * 1024


def test_search_reaches_the_bound_on_a_real_network():
    """Moving groups anywhere in the order and accepting sideways moves reaches the bound where
    swapping nearby groups and keeping only improvements did not (MNASNet was 1.055x)."""
    p, bufs = _program(MNASNET)
    res = plan.plan_arena(p)
    assert res.size == res.lower_bound == 74240
    _valid(MNASNET, bufs, res.size)
