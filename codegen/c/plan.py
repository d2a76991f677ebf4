"""The static memory plan: every activation and scratch buffer gets a constant offset in one
arena, from liveness over the schedule.

1. Lifetimes: a buffer lives from the first step that touches it to the last.
2. In place: an elementwise step whose input dies there writes over it (the two buffers
   become one group), when sizes match; where both inputs could (a residual Add), the one
   whose group began first.
3. Greedy by size (TFLite Micro's GreedyMemoryPlanner, best fit): groups in decreasing size,
   each at the lowest-waste gap among the groups already placed whose lifetimes overlap; three
   other orders too, and when the best is above the lower bound, a local search that moves a
   few groups of the order elsewhere and keeps orders that place no larger (seeded: the same
   plan every run).

Reported beside the arena: the lower bound (the largest sum of live group sizes at any step)
and a naive plan (every buffer its own region).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .program import Buf, Program

__all__ = ["plan_arena", "ArenaPlan", "ALIGN"]

ALIGN = 16
#: Local-search tries after the greedy orders, at most, and the work bound (tries x groups^2)
#: that keeps a plan of a thousand buffers within about a second.
SEARCH_TRIES = 400
SEARCH_WORK = 40_000_000


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class ArenaPlan:
    size: int
    lower_bound: int
    naive: int
    groups: int
    inplace: int


def _place(groups) -> tuple[int, dict[int, int]]:
    """Place groups in the given order, each in the best-fitting gap; (arena, root id -> offset)."""
    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    offsets: dict[int, int] = {}
    arena = 0
    for size, first, last, ms in groups:
        asz = _align(size)
        busy = sorted((o, s) for o, s, f, end in placed if not (end < first or f > last))
        best, best_waste, prev_end = None, None, 0
        for o, s in busy:
            gap = o - prev_end
            if gap >= asz and (best_waste is None or gap - asz < best_waste):
                best, best_waste = prev_end, gap - asz
            prev_end = max(prev_end, _align(o + s))
        offset = best if best is not None else prev_end
        placed.append((offset, asz, first, last))
        offsets[ms[0].id] = offset
        arena = max(arena, offset + asz)
    return arena, offsets


def _elide_copies(prog: Program) -> dict[int, tuple[Buf, int]]:
    """Drop copies of a whole buffer into a block of another (Concat): the source buffer is
    placed inside the destination, so its producer writes there directly. Returns child id ->
    (parent, byte offset)."""
    writes: dict[int, int] = {}
    for st in prog.steps:
        for b in st.writes:
            writes[b.id] = writes.get(b.id, 0) + 1
    parent: dict[int, tuple[Buf, int]] = {}

    def root(b: Buf) -> Buf:
        while b.id in parent:
            b = parent[b.id][0]
        return b

    keep = []
    for st in prog.steps:
        a = st.alias
        if a is not None:
            src, dst, off = a
            if (src.kind == dst.kind == "arena" and src.id not in parent and src.id != dst.id
                    and root(dst) is not src and writes.get(src.id) == 1
                    and off + src.nbytes <= dst.nbytes):  # fmt: skip
                parent[src.id] = (dst, off)
                continue
        keep.append(st)
    prog.steps[:] = keep
    return parent


def plan_arena(prog: Program, *, inplace: bool = True, elide: bool = True) -> ArenaPlan:
    inside = _elide_copies(prog) if elide else {}  # child id -> (parent, byte offset)
    bufs = [b for b in prog.bufs if b.kind in ("arena", "scratch")]
    for b in bufs:
        b.first = b.last = -1
    for i, st in enumerate(prog.steps):
        for b in st.reads + st.writes:
            if b.kind in ("arena", "scratch"):
                if b.first < 0:
                    b.first = i
                b.last = i

    def resolve(b: Buf) -> tuple[Buf, int]:
        off = 0
        while b.id in inside:
            b, o = inside[b.id]
            off += o
        return b, off

    children = [(b, *resolve(b)) for b in bufs if b.id in inside]
    for child, top, _ in children:  # a parent lives as long as anything inside it
        if child.first >= 0:
            top.first = child.first if top.first < 0 else min(top.first, child.first)
            top.last = max(top.last, child.last)
    live = [b for b in bufs if b.first >= 0 and b.id not in inside]
    parent: dict[int, Buf] = {b.id: b for b in live}

    def find(b: Buf) -> Buf:
        while parent[b.id] is not b:
            parent[b.id] = parent[parent[b.id].id]
            b = parent[b.id]
        return b

    members: dict[int, list[Buf]] = {b.id: [b] for b in live}
    merged = 0
    if inplace:
        for i, st in enumerate(prog.steps):
            if st.inplace is None:
                continue
            choice = None
            for a, o in st.inplace:
                if a.kind != "arena" or o.kind != "arena" or a.id not in parent or o.id not in parent:
                    continue  # buffers placed inside others are not in the union-find
                ra, ro = find(a), find(o)
                if ra is ro or len(members[ro.id]) != 1 or o.first != i:
                    continue
                if max(m.last for m in members[ra.id]) != i:
                    continue  # the input is read later
                if max(m.nbytes for m in members[ra.id]) < o.nbytes:
                    continue
                # of two inputs that may take the output (a residual Add), the one whose group
                # began first: the residual stream stays in one place instead of alternating
                # between two slots, which leaves a hole beside every block's wide tensors
                first = min(m.first for m in members[ra.id])
                if choice is None or first < choice[0]:
                    choice = (first, ra, ro)
            if choice is None:
                continue
            _, ra, ro = choice
            parent[ro.id] = ra
            members[ra.id] += members.pop(ro.id)
            merged += 1
    groups = []
    members_by_id = {}
    for rid, ms in members.items():
        members_by_id[rid] = ms
        groups.append((max(m.nbytes for m in ms), min(m.first for m in ms), max(m.last for m in ms), ms))
    orders = {
        "size": lambda g: (-g[0], g[1], g[3][0].id),
        "size*lifetime": lambda g: (-g[0] * (g[2] - g[1] + 1), g[1], g[3][0].id),
        "lifetime": lambda g: (-(g[2] - g[1]), -g[0], g[3][0].id),
        "first use": lambda g: (g[1], -g[0], g[3][0].id),
    }
    best_arena, best_offsets, best_order = None, None, None
    for key in orders.values():
        order = sorted(groups, key=key)
        arena, offsets = _place(order)
        if best_arena is None or arena < best_arena:
            best_arena, best_offsets, best_order = arena, offsets, order
    # Above the bound, a local search: move a few groups of the current order elsewhere in it,
    # keep the result when it places no larger (sideways moves cross the wide plateaus of equal
    # arenas) and remember the smallest (a fixed seed and a bounded number of tries: the same
    # plan every run).
    floor = max((sum(_align(size) for size, f, end, _ in groups if f <= i <= end)
                 for i in range(len(prog.steps))), default=0)  # fmt: skip
    rnd = random.Random(0)
    tries = min(SEARCH_TRIES, SEARCH_WORK // max(len(groups) ** 2, 1)) if groups else 0
    cur, cur_arena = best_order, best_arena
    for _ in range(tries):
        if best_arena <= floor:
            break
        order = list(cur)
        for _ in range(rnd.randint(1, 4)):
            order.insert(rnd.randrange(len(order)), order.pop(rnd.randrange(len(order))))
        arena, offsets = _place(order)
        if arena <= cur_arena:
            cur, cur_arena = order, arena
            if arena < best_arena:
                best_arena, best_offsets, best_order = arena, offsets, order
    for ms_id, offset in best_offsets.items():
        for m in members_by_id[ms_id]:
            m.offset = offset
    arena = best_arena
    bound = 0
    for i in range(len(prog.steps)):
        bound = max(bound, sum(size for size, f, end, _ in groups if f <= i <= end))
    for child, top, off in children:
        child.offset = top.offset + off
    naive = sum(_align(b.nbytes) for b in bufs if b.first >= 0)
    return ArenaPlan(arena, bound, naive, len(groups), merged)
