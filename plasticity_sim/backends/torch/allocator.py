"""Keep freed memory in the heap on glibc, so that a step's tensors do not page-fault afresh.

glibc serves blocks above M_MMAP_THRESHOLD (128 KiB at start) with fresh mmap pages and
returns them to the OS when freed; a training step of a small network allocates and frees
tensors of a few MB each time, and on CPU the page faults cost more than the arithmetic
(measured: 2-3x on the ensemble step). Raising the thresholds keeps those blocks for reuse,
as jemalloc or tcmalloc would. Set PLASTICITY_SIM_MALLOPT=0 to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
_done = False


def keep_freed_memory() -> bool:
    """Tune glibc's malloc once per process; returns whether it was tuned."""
    global _done
    if _done or not sys.platform.startswith("linux") or os.environ.get("PLASTICITY_SIM_MALLOPT") == "0":
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # glibc's maximum on 64-bit
        ok &= libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
        ok &= libc.mallopt(M_TOP_PAD, 64 << 20)
    except (OSError, AttributeError):
        return False
    _done = bool(ok)
    return _done
