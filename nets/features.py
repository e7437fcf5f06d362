"""AlphaGo Zero input planes and the 8 board symmetries, in Numba.

Planes
------
The network sees 17 planes float32[17, N, N] (row 0 = top row, as on the fast board):

    0 .. 7   stones of the side to move at t, t-1, ..., t-7 (1 where it has a stone)
    8 .. 15  stones of its opponent at the same times
    16       all ones if black is to move, all zeros if white is (the paper's convention)

They are built from a *history stack*: int8[8, (N+2)^2], the colour arrays (``board[0]``, padded
layout of ``engine.board``) of the current position and the 7 before it, most recent first, zero
rows where the game is shorter. ``history_stack(state)`` reads one from a ``GameState``.

Inside the tree a leaf's history is the boards along the path from the root (replayed from the
root board, ``leaf_stacks``) followed by the root's own history stack: the evaluator computes the
root stack once per search and every leaf stack from it, in one jitted call per batch. The
batched loops get the same stacks from the selection itself (``engine.mcts.select_many``
records the colours of the positions its descent plays).

Symmetries
----------
Symmetry k (0..7) maps the point (row, col) by: transpose if ``k & 4``, then flip the rows if
``k & 1``, then flip the columns if ``k & 2``; k = 0 is the identity. ``INVERSE[k]`` undoes k.
Planes [C, N, N] and policy vectors [N*N+1] (action = row * N + col, N*N = pass, which never
moves) transform with the same point map, so a stone at a point and the policy entry of that
point land on the same point. The batched planes builders take a symmetry per row and write
the transformed planes directly; ``unsymmetrize_policy_rows`` maps the network's answers back.

Cache keys
----------
``stack_keys`` hashes what the planes depend on: ``engine.board.situation_hash`` of the current
position (stones, side to move, ko point) mixed with the Zobrist stone hashes of the 7 earlier
boards of the stack. Equal keys mean equal planes (up to 64-bit hash collisions); a missing
history row hashes like an empty board, which gives the same planes too.
"""
import numpy as np
from numba import njit

from engine.board import (BLACK, M_HASH, M_KO, M_TOMOVE, M_W, PASS, WHITE, ZOBRIST, ZOBRIST_KO,
                          ZOBRIST_SIDE, _copy_arrays, _pass, _play, copy_board, copy_into,
                          play)

HISTORY = 8  # positions per stack (t .. t-7)
PLANES = 2 * HISTORY + 1  # 17 input planes
INVERSE = np.array([0, 1, 2, 3, 4, 6, 5, 7], dtype=np.int64)  # INVERSE[k] undoes symmetry k


# ---------------------------------------------------------------------------------------------
# Symmetries

@njit(cache=True, inline="always")
def sym_rowcol(k, n, r, c):
    """(row, col) under symmetry k on an n x n board."""
    if k & 4:
        r, c = c, r
    if k & 1:
        r = n - 1 - r
    if k & 2:
        c = n - 1 - c
    return r, c


@njit(cache=True)
def sym_action(k, n, a):
    """Action index a (N*N = pass) under symmetry k."""
    if a == n * n:
        return a
    r, c = sym_rowcol(k, n, a // n, a % n)
    return r * n + c


@njit(cache=True)
def apply_symmetry_planes(planes, k, out):
    """out[:, k(r, c)] = planes[:, r, c] for planes float32[C, N, N]; out must not be planes."""
    n = planes.shape[1]
    for r in range(n):
        for c in range(n):
            r2, c2 = sym_rowcol(k, n, r, c)
            for ch in range(planes.shape[0]):
                out[ch, r2, c2] = planes[ch, r, c]


@njit(cache=True)
def apply_symmetry_policy(policy, k, n, out):
    """out[k(a)] = policy[a] for policy[N*N+1] (pass unchanged); out must not be policy."""
    for a in range(n * n + 1):
        out[sym_action(k, n, a)] = policy[a]


def inverse_symmetry_planes(planes, k, out):
    """Undo ``apply_symmetry_planes(., k, .)``."""
    apply_symmetry_planes(planes, INVERSE[k], out)


def inverse_symmetry_policy(policy, k, n, out):
    """Undo ``apply_symmetry_policy(., k, n, .)``."""
    apply_symmetry_policy(policy, INVERSE[k], n, out)


@njit(cache=True)
def unsymmetrize_policy_rows(policy, syms, count, n, out):
    """out[i, a] = policy[i, syms[i](a)] for i < count: answers of a network that saw row i under
    symmetry syms[i], mapped back to the real board."""
    unsymmetrize_policy_to(policy, syms, np.arange(count), n, out)


@njit(cache=True)
def unsymmetrize_policy_to(policy, syms, rows, n, out):
    """``unsymmetrize_policy_rows`` into the rows of a batch: out[rows[i], a] =
    policy[i, syms[i](a)] for every i of ``rows``."""
    na = n * n + 1
    src = np.empty((8, na), dtype=np.int64)  # src[k, a] = sym_action(k, n, a): a table, once
    for k in range(8):
        for a in range(na):
            src[k, a] = sym_action(k, n, a)
    for i in range(rows.shape[0]):
        k = syms[i]
        r = rows[i]
        for a in range(na):
            out[r, a] = policy[i, src[k, a]]


# ---------------------------------------------------------------------------------------------
# Planes

@njit(cache=True)
def _fill(stack, to_move, n, k, out):
    """Planes of one stack under symmetry k into out float32[17, N, N]."""
    w = n + 2
    opp = 3 - to_move
    colour = np.float32(1.0 if to_move == BLACK else 0.0)
    for r in range(n):
        for c in range(n):
            r2, c2 = sym_rowcol(k, n, r, c)
            p = (r + 1) * w + c + 1
            for t in range(HISTORY):
                v = stack[t, p]
                out[t, r2, c2] = 1.0 if v == to_move else 0.0
                out[HISTORY + t, r2, c2] = 1.0 if v == opp else 0.0
            out[2 * HISTORY, r2, c2] = colour


@njit(cache=True)
def fill_planes(stack, to_move, n, out):
    """The 17 planes of stack int8[8, (N+2)^2] with ``to_move`` to play into out[17, N, N]."""
    _fill(stack, to_move, n, 0, out)


@njit(cache=True)
def fill_planes_batch(stacks, to_move, syms, count, n, out):
    """out[i] = planes of stacks[i] (to_move[i] to play) under symmetry syms[i], i < count."""
    for i in range(count):
        _fill(stacks[i], to_move[i], n, syms[i], out[i])


@njit(cache=True)
def fill_planes_rows(stacks, to_move, rows, syms, n, out):
    """out[j] = planes of stacks[rows[j]] under symmetry syms[j]: only the rows to evaluate.
    (``_fill``'s planes, written plane by plane through a table of the symmetries: the batched
    loops build every network input here.)"""
    nn = n * n
    w = n + 2
    # src[k, d]: the padded point symmetry k brings to action d, so each plane is written in
    # order (gathering from the row's stones, which stay in cache, rather than scattering)
    src = np.empty((8, nn), dtype=np.int64)
    for r in range(n):
        for c in range(n):
            for k in range(8):
                r2, c2 = sym_rowcol(k, n, r, c)
                src[k, r2 * n + c2] = (r + 1) * w + c + 1
    flat = out.reshape((out.shape[0], PLANES, nn))
    here = np.empty(nn, dtype=np.int8)  # one position's stones, in action order
    for j in range(rows.shape[0]):
        i = rows[j]
        me = to_move[i]
        opp = 3 - me
        k = syms[j]
        for t in range(HISTORY):
            for d in range(nn):
                here[d] = stacks[i, t, src[k, d]]
            for d in range(nn):  # (separate passes: each vectorizes)
                flat[j, t, d] = np.float32(here[d] == me)
            for d in range(nn):
                flat[j, HISTORY + t, d] = np.float32(here[d] == opp)
        colour = np.float32(1.0 if me == BLACK else 0.0)
        for a in range(nn):
            flat[j, 2 * HISTORY, a] = colour


def history_stack(state, before=None):
    """int8[8, (N+2)^2] history stack of a GameState (read-only use of its board snapshots):
    the current board, then the boards before the last move, the move before it, ...
    ``before``: the stack of the same game one move earlier, if the caller has it; the answer
    is then that one shifted down a row under the current board (the self-play loop's case,
    every move: two row copies instead of eight)."""
    if before is not None:
        out = np.empty_like(before)
        out[0] = state.board[0]
        out[1:] = before[:-1]
        return out
    ww = (state.size + 2) ** 2
    out = np.zeros((HISTORY, ww), dtype=np.int8)
    out[0] = state.board[0]
    snaps = state._snapshots
    for t in range(1, min(HISTORY, len(snaps) + 1)):
        out[t] = snaps[len(snaps) - t][0]
    return out


@njit(cache=True)
def _stack_after_path(root_board, root_stack, moves, scratch, out):
    """out = history stack after playing ``moves`` (root side first) from the root."""
    depth = moves.shape[0]
    copy_into(scratch, root_board)
    c = root_board[8][M_TOMOVE]
    for j in range(depth):
        play(scratch, moves[j], c)
        c = 3 - c
        d = depth - 1 - j  # the board after move j is d positions before the leaf
        if d < HISTORY:
            out[d, :] = scratch[0]
    for d in range(depth, HISTORY):
        out[d, :] = root_stack[d - depth]


def path_stack(root_board, root_stack, moves):
    """History stack of the position reached by ``moves`` (padded points / PASS, legal, root
    side to move first) from ``root_board`` whose own history stack is ``root_stack``."""
    out = np.zeros_like(root_stack)
    _stack_after_path(root_board, root_stack, np.asarray(moves, dtype=np.int32),
                      copy_board(root_board), out)
    return out


def leaf_planes(root_board, root_stack, moves, out=None):
    """float32[17, N, N] planes of the position reached by ``moves`` from the root."""
    n = int(root_board[8][M_W]) - 2
    stack = path_stack(root_board, root_stack, moves)
    if out is None:
        out = np.zeros((PLANES, n, n), dtype=np.float32)
    c = root_board[8][M_TOMOVE]
    if len(moves) % 2:
        c = 3 - c
    fill_planes(stack, c, n, out)
    return out


@njit(cache=True, nogil=True)
def leaf_stacks(parent, move, leaves, count, root_board, root_stack, scratch, out):
    """out[i] = history stack of tree node leaves[i], i < count: the path's moves are read from
    the tree arrays ``parent`` / ``move`` (``engine.mcts`` T_PARENT / T_MOVE, root = node 0) and
    replayed from ``root_board`` on ``scratch``; the root's history ``root_stack`` follows."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = scratch
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = root_board
    ww = color.shape[0]
    path = np.empty(64, dtype=np.int64)  # moves root to leaf, grown for deeper leaves
    c0 = r8[M_TOMOVE]
    for i in range(count):
        depth = 0
        x = leaves[i]
        while x > 0:
            depth += 1
            x = parent[x]
        if depth > path.shape[0]:
            path = np.empty(2 * depth, dtype=np.int64)
        x = leaves[i]
        for d in range(depth - 1, -1, -1):
            path[d] = move[x]
            x = parent[x]
        # the root position on the scratch board, element by element: calls that take the
        # board tuple, and row views of ``out``, cost reference counting on each array, more
        # than a ply's work
        _copy_arrays(color, nxt, head, libs, csize, empt, eidx, mark, meta,
                     r0, r1, r2, r3, r4, r5, r6, r7, r8)
        c = c0
        for j in range(depth):
            p = path[j]
            if p == PASS:
                _pass(meta, c)
            else:
                _play(color, nxt, head, libs, csize, empt, eidx, mark, meta, p, c)
            c = 3 - c
            d = depth - 1 - j  # the board after move j is d positions before the leaf
            if d < HISTORY:
                for q in range(ww):
                    out[i, d, q] = color[q]
        for d in range(depth, HISTORY):
            for q in range(ww):
                out[i, d, q] = root_stack[d - depth, q]


# ---------------------------------------------------------------------------------------------
# Cache keys

@njit(cache=True, inline="always")
def _stone_hash(row):
    h = np.int64(0)
    for p in range(row.shape[0]):
        v = row[p]
        if v == BLACK or v == WHITE:
            h ^= ZOBRIST[v, p]
    return h


@njit(cache=True)
def stack_keys(stacks, metas, count, out):
    """out[i] = cache key of row i: situation hash of the position (meta row ``metas[i]``: stone
    hash, side to move, ko point) mixed with the stone hashes of stacks[i, 1 .. 7]."""
    for i in range(count):
        m = metas[i]
        h = m[M_HASH]
        if m[M_TOMOVE] == WHITE:
            h ^= ZOBRIST_SIDE
        if m[M_KO] >= 0:
            h ^= ZOBRIST_KO[m[M_KO]]
        for t in range(1, HISTORY):
            # multiply by an odd constant before mixing, so the order of the boards matters
            h = h * np.int64(0x100000001B3) ^ _stone_hash(stacks[i, t])
        out[i] = h


__all__ = ["HISTORY", "PLANES", "INVERSE", "sym_rowcol", "sym_action",
           "apply_symmetry_planes", "apply_symmetry_policy", "inverse_symmetry_planes",
           "inverse_symmetry_policy", "unsymmetrize_policy_rows", "unsymmetrize_policy_to",
           "fill_planes",
           "fill_planes_batch", "fill_planes_rows", "history_stack", "path_stack", "leaf_planes",
           "leaf_stacks", "stack_keys"]
