"""Slow, obviously-correct reference for the fast board.

``check_consistency(b)`` recomputes chains, liberties, stone counts, the Zobrist hash and
the empty-point list from nothing but the colour array, and raises ``AssertionError`` on
any difference with the incremental state. Tests call it after every move of random games.
``check_superko_screen(state)`` recounts a ``GameState``'s superko screen from its positions.
"""
import numpy as np

from engine.board import (EMPTY, OFF, ZOBRIST, M_HASH, M_NEMPTY, M_W, M_N)


def chains(color, w):
    """Flood-fill chains: returns {point: frozenset(chain)} for every stone."""
    seen = {}
    for p in range(color.shape[0]):
        c = color[p]
        if c in (EMPTY, OFF) or p in seen:
            continue
        chain = set()
        stack = [p]
        while stack:
            s = stack.pop()
            if s in chain:
                continue
            chain.add(s)
            for q in (s - w, s - 1, s + 1, s + w):
                if color[q] == c and q not in chain:
                    stack.append(q)
        fz = frozenset(chain)
        for s in chain:
            seen[s] = fz
    return seen


def liberties(color, chain, w):
    return {q for s in chain for q in (s - w, s - 1, s + 1, s + w) if color[q] == EMPTY}


def check_consistency(b):
    color, nxt, head, libs, csize, empt, eidx, _mark, meta = b
    w = int(meta[M_W])
    n = int(meta[M_N])
    assert w == n + 2
    ch = chains(color, w)
    h = 0
    done = set()
    for p, chain in ch.items():
        h ^= int(ZOBRIST[color[p], p])
        if chain in done:
            continue
        done.add(chain)
        hd = head[p]
        assert hd in chain, f"head of {p} is {hd}, outside its chain"
        assert all(head[s] == hd for s in chain), f"chain at {p} has several heads"
        assert csize[hd] == len(chain), f"size at {hd}: {csize[hd]} != {len(chain)}"
        nl = len(liberties(color, chain, w))
        assert nl > 0, f"chain at {p} has no liberty"
        assert libs[hd] == nl, f"liberties at {hd}: {libs[hd]} != {nl}"
        # the ring visits exactly the chain
        ring = set()
        s = p
        for _ in range(len(chain) + 1):
            ring.add(s)
            s = nxt[s]
            if s == p:
                break
        assert s == p and ring == set(chain), f"ring at {p} does not match its chain"
    hh = np.int64(h if h < 2**63 else h - 2**64)
    assert np.int64(meta[M_HASH]) == hh, "hash differs from recomputation"
    ne = int(meta[M_NEMPTY])
    listed = set(int(x) for x in empt[:ne])
    actual = {p for p in range(color.shape[0]) if color[p] == EMPTY}
    assert len(listed) == ne and listed == actual, "empty list differs"
    for p in actual:
        assert empt[eidx[p]] == p


def check_superko_screen(state):
    """A GameState's superko screen (positions so far counted by stone-hash bucket) against a
    recount of its superko keys."""
    buckets = state._buckets
    want = np.zeros(len(buckets), dtype=np.int64)
    for key in state._seen:
        h = key[0] if isinstance(key, tuple) else key
        want[h & (len(buckets) - 1)] += 1
    assert np.array_equal(buckets, want), "superko screen differs from its positions"
