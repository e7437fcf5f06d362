"""Explicit, seedable random numbers for jitted code.

Numba's ``np.random`` keeps hidden per-thread state; the engine instead passes a small
state array (``uint64[2]``, xorshift128+) into every jitted function that draws, so a
seed fully determines a playout, a search or a test.
"""
import numpy as np
from numba import njit


def new_rng(seed):
    """State array for ``seed`` (any int); two different seeds give unrelated streams."""
    s = np.random.SeedSequence(int(seed) & 0xFFFFFFFFFFFFFFFF).generate_state(2, dtype=np.uint64)
    if s[0] == 0 and s[1] == 0:
        s[0] = 1
    return s


@njit(cache=True, inline="always")
def next_u64(st):
    s1 = st[0]
    s0 = st[1]
    st[0] = s0
    s1 ^= s1 << np.uint64(23)
    st[1] = s1 ^ s0 ^ (s1 >> np.uint64(17)) ^ (s0 >> np.uint64(26))
    return st[1] + s0


@njit(cache=True, inline="always")
def rand_below(st, n):
    """Uniform int in [0, n) (n > 0); multiply-shift, no division."""
    return np.int64(((next_u64(st) >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


@njit(cache=True, inline="always")
def rand_float(st):
    """Uniform float in [0, 1)."""
    return (next_u64(st) >> np.uint64(11)) * (1.0 / 9007199254740992.0)
