"""Small helpers shared across qcompiler."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["paused_gc"]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector.

    Building or walking a large IR allocates many small objects; each allocation burst
    triggers a full collection that walks every live object, which makes large graphs
    superlinear.  The IR creates no garbage cycles, so pausing is safe.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
