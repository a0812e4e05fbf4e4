"""Keep freed heap pages between vectorised batches (glibc only).

A search evaluates batches of thousands of candidates; every call allocates and frees a
few MiB of temporaries. By default glibc hands freed memory at the top of the heap back
to the system (trimming) and the next call page-faults it in again, which costs about a
quarter of the core's time (measured at 8,192 candidates per batch: 0.86e6 -> 1.12e6
evaluations/s, benchmarks/mapping_speed.py prints both). Setting malloc's M_TOP_PAD to
16 MiB keeps that much on the heap instead. It is process-wide and costs at most 16 MiB of resident
memory; it is applied once, the first time a batch is evaluated, only where glibc's
``mallopt`` exists. ``SEDSE_MALLOC_TOP_PAD=0`` leaves the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_TOP_PAD = -2          # glibc malloc.h
_DEFAULT_PAD_BYTES = 16 << 20
_done = False            # tried once in this process
_applied = False         # and it took effect


def keep_heap_pages() -> bool:
    """Apply M_TOP_PAD once; return whether it is in effect."""
    global _done
    if not _done:
        _done = True
        _apply()
    return _applied


def _apply() -> bool:
    global _applied
    try:
        pad = int(os.environ.get("SEDSE_MALLOC_TOP_PAD", _DEFAULT_PAD_BYTES))
    except ValueError:
        pad = _DEFAULT_PAD_BYTES
    if pad <= 0:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = getattr(libc, "mallopt", None)
    except OSError:
        mallopt = None
    if mallopt is None:
        return False
    _applied = bool(mallopt(_M_TOP_PAD, pad))
    return _applied
