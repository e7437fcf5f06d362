"""How the process's CPU memory is kept between forward and backward passes.

PyTorch's CPU tensors come from malloc. Under glibc's default, adaptive thresholds the
activation blocks of a pass (hundreds of KB to a few MB at the batch sizes used here) are given
back to the kernel whenever other code (the search's numpy and Numba work, a sampler's
arrays) allocated and freed between two passes, so the next pass writes fresh pages and takes a
page fault per 4 KB. ``keep_heap_mapped`` fixes the thresholds once per process; the
evaluators and training loops call it when they run on the CPU. Measured on the 2-core
development VM (docs/BENCHMARKS.md, "Search overhead of batched self-play"): a float32 pass
inside self-play went from about 890 page faults to a handful, and self-play as a whole
(``bench/bench_selfplay.py``, in alternation with the code before) from 8,900-12,400 to
10,300-14,100 evaluations/s in float32 (+13-15%) and by 5-12% in int8; an SGD step of b4c32
at batch 256 from about 4,700 faults to none, 2-3% faster.
"""
import ctypes
import os

_HEAP_KEPT = None  # whether keep_heap_mapped has set glibc's thresholds (None = not tried)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (glibc malloc.h)


def _glibc():
    """Whether this process runs on GNU libc."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


def keep_heap_mapped():
    """Keep the memory of freed CPU tensors mapped in this process (module docstring): blocks
    under 32 MB come from the heap and up to 64 MB of free heap stays mapped, at the cost of
    holding at most that much freed memory. Glibc only (elsewhere, macOS or musl, it does
    nothing); once per process. Returns whether the settings are in force."""
    global _HEAP_KEPT
    if _HEAP_KEPT is None:
        _HEAP_KEPT = False
        if _glibc():
            try:
                libc = ctypes.CDLL(None)
                # both: setting either one turns off glibc's adaptation, and the trim threshold
                # alone sends every block over 128 KB to mmap (2,800 faults a pass measured)
                _HEAP_KEPT = bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
                                  and libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20))
            except (OSError, AttributeError):
                pass
    return _HEAP_KEPT
