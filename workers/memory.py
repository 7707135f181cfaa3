"""Keep freed render buffers in the process heap instead of returning them to the OS.

A 1200×630 render allocates ~10 MB of short-lived buffers (cairo surface, pixels, rows,
zlib output). glibc hands allocations that large to mmap and unmaps them on free, so the
next render page-faults all of it back in: measured, ~40% of a render's time. Raising
the mmap and trim thresholds makes them reusable heap memory. RSS then settles at the
peak of one render per process instead of breathing (bounded, see docs/PERFORMANCE.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def keep_render_buffers(*, mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """mallopt() the thresholds; False where the C library is not glibc."""
    path = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(path)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    ok = mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1 and ok
    if not ok:
        logger.warning("mallopt refused the render buffer thresholds")
    return ok
