"""Keep freed heap pages between vectorised batches (glibc only): an explicit,
process-wide switch that the library never flips by itself.

A search evaluates batches of thousands of candidates; every call allocates and frees a
few MiB of temporaries. By default glibc hands freed memory at the top of the heap back
to the system (trimming) and the next call page-faults it in again, which costs about a
quarter of the core's time (measured at 8,192 candidates per batch: 0.86e6 -> 1.12e6
evaluations/s; benchmarks/mapping_speed.py prints both). `keep_heap_pages` sets
malloc's M_TOP_PAD (16 MiB by default) so that much stays on the heap. It changes the
whole process's allocator and costs at most that much resident memory, so only the
program's owner calls it: `sedse`'s command line does, once per command that evaluates
mappings; a Python user may (``sedse.cost.keep_heap_pages()``); the library itself never
does. Where glibc's ``mallopt`` does not exist it does nothing and returns False.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TOP_PAD = -2          # glibc malloc.h
DEFAULT_TOP_PAD_BYTES = 16 << 20


def keep_heap_pages(top_pad_bytes: int = DEFAULT_TOP_PAD_BYTES) -> bool:
    """Set glibc's M_TOP_PAD to `top_pad_bytes` (> 0); return whether it took effect."""
    if top_pad_bytes <= 0:
        raise ValueError(f"top_pad_bytes must be > 0, got {top_pad_bytes}")
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        mallopt = None
    if mallopt is None:
        return False
    return bool(mallopt(_M_TOP_PAD, top_pad_bytes))
