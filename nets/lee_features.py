"""AlphaGo (Lee, 2016) input planes in Numba: the 48 feature planes of the policy networks, the
value network's 49th, and the ladder reader they need.

Planes
------
Relative to the player to move ``c`` (``meta[M_TOMOVE]`` of the fast board), float32[48, N, N],
row 0 = top row as in ``nets.features``, in the order of Silver et al. 2016, Extended Data
Table 2. "Legal" means legal for ``c`` on the fast board (simple ko; superko is the caller's
business). One-hot groups are 0 everywhere outside the points they describe.

    0      own stone (player to move)
    1      opponent stone
    2      empty point
    3      ones
    4-11   turns since the stone on the point was played: 1, 2, ..., 7, >= 8 moves ago (passes
           count as moves; setup and handicap stones count as >= 8); stones only
    12-19  liberties of the chain through the point: 1, ..., 7, >= 8; stones only
    20-27  capture size: opponent stones the move at the point would capture: 0, 1, ..., 6, >= 7;
           legal empty points only (0 has a plane, so every legal point is hot in this group)
    28-35  self-atari size: stones of the player's chain (the new stone and the chains it joins)
           left with exactly one liberty by the move: 1, ..., 7, >= 8; legal points only
    36-43  liberties after the move of the chain holding the new stone (captures counted):
           1, ..., 7, >= 8; legal points only
    44     ladder capture: the move puts an opponent chain (2 liberties before) in atari and that
           chain cannot escape the ladder (see Ladders)
    45     ladder escape: the move extends a chain of the player in atari (the move is its last
           liberty) and the attacker's ladder then fails
    46     sensible: legal and not a single-point eye of the player (``engine.board.is_eye``)
    47     zeros
    48     value net only (``VALUE_PLANES`` = 49): all ones if black is to move, zeros if white

Ambiguities of the paper and how they are resolved here:

- Capture size has 8 planes in the paper; here they are 0..6 and >= 7, so that "captures
  nothing" is a plane of its own (as most reimplementations do). Self-atari size cannot be 0,
  so its planes are 1..7, >= 8.
- Self-atari means the chain holding the new stone has exactly one liberty after the move
  (captures counted, so a capture that leaves one liberty is still a self-atari).
- Ladder escape is only computed for extensions (the move is the last liberty of an own chain
  in atari); escaping by capturing an attacker chain is not a ladder escape here.
- Turns since counts moves of either colour and passes: the last move played is 1.

Ages
----
"Turns since" needs the move at which each stone was placed: an ``age`` array int32[(N+2)^2]
(padded layout of ``engine.board``) holds, per point, the value of ``meta[M_MOVES]`` just before
the stone there was played (the move's 0-based index), ``AGE_NONE`` for setup stones and never-
played points. The turns since a stone is ``meta[M_MOVES] - age[p]``. ``play_aged`` plays a move
and records its age; ``root_ages(state)`` builds the array from a ``GameState`` history. Ages of
empty points are never read, so captures need no update.

Ladders
-------
An AND-OR depth-first reader in Numba. The attacker wins when every defender reply loses: the
defender, whose prey chain is in atari, may extend at its liberty or capture an attacker chain
in atari next to the prey. After the defender's move the prey with <= 1 liberty is captured (if
the attacker may legally take it: a ko can stop it), with >= 3 liberties escapes, and with 2 the
attacker tries the atari at each liberty. The reader reads ladders only: no defender
counter-ataris elsewhere, no attacker nets. A question that runs deeper than
``LADDER_MAX_PLIES`` or visits more than ``LADDER_MAX_NODES`` positions counts as a failed
ladder for the attacker (capture 0, escape 1); a ladder across a 19x19 board takes about 70.

The search keeps a stack of scratch boards (row d = the position at depth d, copied from row
d - 1 and played on with ``engine.board._play``) and an explicit per-row move list instead of
recursion: Numba's on-disk cache cannot hold recursive functions. Scratch memory is allocated
once per call of a builder. It runs only where it matters: moves that give a 2-liberty opponent
chain atari, and extensions of own chains in atari; the common misses (the prey extends to
>= 3 liberties, an extension still in atari) are read off the board without playing.

Builders
--------
``lee_planes(b, age, out, with_player)``: one position; ``lee_planes_rows``: chosen rows of a
batch of boards (self-play games side by side). ``planes_for_samples(...)``: a training
batch from the shard arrays (one board size): each row replays its game from the setup stones
to the sampled move, fills the planes under a symmetry and writes the symmetry-mapped target.
``leaf_lee_planes(...)``: the leaves of an ``engine.search.LeafBatch`` (paths replayed from the
root board and root ages, as ``nets.features.leaf_stacks`` does for the Zero planes;
``leaf_batch_planes`` passes a batch's arrays). Both are one jitted call per batch. Symmetries
are those of ``nets.features``: row i is written at ``sym_rowcol(syms[i], ...)`` and its target
is ``sym_action(syms[i], ...)``. ``python -m nets.lee_features`` measures the batch builder.
"""
import sys
import time

import numpy as np
from numba import njit

from engine.board import (BLACK, EMPTY, M_KO, M_KO_COLOR, M_MOVES, M_N, M_TOMOVE, M_W, OFF, PASS,
                          SETUP_BAD_STONE, SETUP_OK, WHITE, _libs_after, _new_head, _pass, _play,
                          _stamp, copy_board, copy_into, is_eye, is_legal, new_board, place_setup,
                          play)
from engine.game import GameState
from engine.mcts import T_MOVE, T_PARENT, batch_board, path_from
from nets.features import sym_action, sym_rowcol

LEE_PLANES = 48  # policy-network input planes
VALUE_PLANES = 49  # value-network input planes: the 48 and "player is black"
AGE_NONE = -1000000  # age of setup stones and of points never played
LADDER_MAX_PLIES = 100  # deepest ladder read, in plies after the first move
LADDER_MAX_NODES = 2000  # positions one ladder question may visit

# first plane of each group
P_OWN = 0
P_OPP = 1
P_EMPTY = 2
P_ONES = 3
P_TURNS = 4  # 8 planes: 1..7, >= 8 turns ago
P_LIBERTIES = 12  # 8 planes: 1..7, >= 8 liberties
P_CAPTURE = 20  # 8 planes: 0..6, >= 7 stones captured
P_SELF_ATARI = 28  # 8 planes: 1..7, >= 8 stones in atari
P_LIBS_AFTER = 36  # 8 planes: 1..7, >= 8 liberties after the move
P_LADDER_CAPTURE = 44
P_LADDER_ESCAPE = 45
P_SENSIBLE = 46
P_ZEROS = 47
P_PLAYER = 48  # value net only

PLANE_NAMES = (["own_stone", "opponent_stone", "empty", "ones"]
               + [f"turns_since_{k}" for k in range(1, 8)] + ["turns_since_8+"]
               + [f"liberties_{k}" for k in range(1, 8)] + ["liberties_8+"]
               + [f"capture_size_{k}" for k in range(0, 7)] + ["capture_size_7+"]
               + [f"self_atari_size_{k}" for k in range(1, 8)] + ["self_atari_size_8+"]
               + [f"liberties_after_{k}" for k in range(1, 8)] + ["liberties_after_8+"]
               + ["ladder_capture", "ladder_escape", "sensible", "zeros"])
assert len(PLANE_NAMES) == LEE_PLANES


# ---------------------------------------------------------------------------------------------
# Ages

@njit(cache=True)
def play_aged(b, age, p, c):
    """Play the legal move p (or PASS) of colour c and record its age; returns the captures."""
    if p != PASS:
        age[p] = b[8][M_MOVES]
    return play(b, p, c)


def root_ages(state):
    """int32[(N+2)^2] ages of a GameState's stones: the index (counted like ``meta[M_MOVES]``)
    of the move that put each stone there; ``AGE_NONE`` for setup stones and empty points."""
    w = state.size + 2
    age = np.full(w * w, AGE_NONE, dtype=np.int32)
    base = int(state.initial_board()[8][M_MOVES])
    for i, mv in enumerate(state.history):
        if mv.point != PASS:
            age[mv.point] = base + i
    return age


@njit(cache=True, inline="always")
def _replay_move(color, nxt, head, libs, csize, empt, eidx, mark, meta, age, p, c):
    """``play_aged`` on the board's arrays for replay loops (the tuple costs reference counts
    per call); returns False, playing nothing, when simple-ko rules forbid the move."""
    if p == PASS:
        _pass(meta, c)
        return True
    if p < 0 or p >= color.shape[0] or color[p] != EMPTY:
        return False
    if (p == meta[M_KO] and c == meta[M_KO_COLOR]) or \
            _libs_after(color, nxt, head, libs, mark, meta, p, c, 1) == 0:
        return False
    age[p] = meta[M_MOVES]
    _play(color, nxt, head, libs, csize, empt, eidx, mark, meta, p, c)
    return True


# ---------------------------------------------------------------------------------------------
# Ladder reader

@njit(cache=True)
def _ladder_scratch(n):
    """Board stack (tuple of 2-D arrays, row d = a board) and search state per row."""
    w = n + 2
    ww = w * w
    rows = LADDER_MAX_PLIES + 1
    st = (np.empty((rows, ww), dtype=np.int8),  # colour
          np.empty((rows, ww), dtype=np.int32),  # nxt
          np.empty((rows, ww), dtype=np.int32),  # head
          np.empty((rows, ww), dtype=np.int32),  # libs
          np.empty((rows, ww), dtype=np.int32),  # csize
          np.empty((rows, ww), dtype=np.int32),  # empt
          np.empty((rows, ww), dtype=np.int32),  # eidx
          np.empty((rows, ww), dtype=np.int32),  # mark
          np.empty((rows, 16), dtype=np.int64))  # meta
    lad = (np.empty((rows, ww), dtype=np.int32),  # per node: the moves to try
           np.zeros(rows, dtype=np.int64),  # per node: how many moves it has
           np.zeros(rows, dtype=np.int64),  # per node: the next move to try
           np.zeros(1, dtype=np.int64))  # positions the current question may still visit
    return st, lad


# Rows are copied element by element: a slice assignment between two rows of one array makes
# Numba copy through a temporary (the rows might overlap), several times slower.

@njit(cache=True, inline="always")
def _copy_row(st, src, dst):
    color, nxt, head, libs, csize, empt, eidx, mark, meta = st
    for i in range(color.shape[1]):
        color[dst, i] = color[src, i]
        nxt[dst, i] = nxt[src, i]
        head[dst, i] = head[src, i]
        libs[dst, i] = libs[src, i]
        csize[dst, i] = csize[src, i]
        empt[dst, i] = empt[src, i]
        eidx[dst, i] = eidx[src, i]
        mark[dst, i] = mark[src, i]
    for i in range(meta.shape[1]):
        meta[dst, i] = meta[src, i]


@njit(cache=True, inline="always")
def _load_row(st, b):
    """Row 0 of the stack = board b."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = st
    for i in range(color.shape[1]):
        color[0, i] = b[0][i]
        nxt[0, i] = b[1][i]
        head[0, i] = b[2][i]
        libs[0, i] = b[3][i]
        csize[0, i] = b[4][i]
        empt[0, i] = b[5][i]
        eidx[0, i] = b[6][i]
        mark[0, i] = b[7][i]
    for i in range(meta.shape[1]):
        meta[0, i] = b[8][i]


@njit(cache=True, inline="always")
def _play_row(st, d, p, c):
    return _play(st[0][d], st[1][d], st[2][d], st[3][d], st[4][d], st[5][d], st[6][d],
                 st[7][d], st[8][d], p, c)


@njit(cache=True)
def _chain_liberties(color, nxt, head, mark, meta, s, out, most):
    """Distinct liberties of the chain through stone s into out, stopping at ``most``."""
    w = meta[M_W]
    st = _stamp(meta)
    h = head[s]
    k = 0
    x = h
    while True:
        for q in (x - w, x - 1, x + 1, x + w):
            if color[q] == EMPTY and mark[q] != st:
                mark[q] = st
                out[k] = q
                k += 1
                if k >= most:
                    return k
        x = nxt[x]
        if x == h:
            break
    return k


@njit(cache=True)
def _capture_points(color, nxt, head, libs, mark, meta, s, enemy, out):
    """Liberty of each distinct ``enemy`` chain in atari next to the chain through s, into out;
    returns their count."""
    w = meta[M_W]
    st = _stamp(meta)
    h = head[s]
    k = 0
    x = h
    while True:
        for q in (x - w, x - 1, x + 1, x + w):
            if color[q] != enemy:
                continue
            hq = head[q]
            if libs[hq] != 1 or mark[hq] == st:
                continue
            mark[hq] = st  # chain heads are stones, never liberties: one stamp serves both
            y = hq
            found = False
            while not found:
                for r in (y - w, y - 1, y + 1, y + w):
                    if color[r] == EMPTY:
                        out[k] = r
                        k += 1
                        found = True
                        break
                y = nxt[y]
                if y == hq:
                    break
        x = nxt[x]
        if x == h:
            break
    return k


@njit(cache=True, inline="always")
def _escapes_by_extending(st, d, q, prey, defender):
    """Would the defender's move q on row d join the prey and leave it >= 3 liberties?"""
    color = st[0][d]
    head = st[2][d]
    w = st[8][d][M_W]
    h = head[prey]
    for r in (q - w, q - 1, q + 1, q + w):
        if color[r] == defender and head[r] == h:
            return _libs_after(color, st[1][d], head, st[3][d], st[7][d], st[8][d], q,
                               defender, 3) >= 3
    return False


@njit(cache=True)
def _open(st, d, prey, attacker, defender_moves, lad):
    """Start node d of the ladder search: list its moves in lad's row d, or decide it at once.
    Returns -1 (moves to try), 0 (the attacker fails here) or 1 (the attacker wins here)."""
    work, count, nexti = lad[0], lad[1], lad[2]
    color = st[0][d]
    nxt = st[1][d]
    head = st[2][d]
    libs = st[3][d]
    mark = st[7][d]
    meta = st[8][d]
    wk = work[d]
    count[d] = 0
    nexti[d] = 0
    if defender_moves:
        # the prey is in atari: capture an attacker chain in atari next to it, or extend
        k = _capture_points(color, nxt, head, libs, mark, meta, prey, attacker, wk)
        if _chain_liberties(color, nxt, head, mark, meta, prey, wk[k:], 1) == 1:
            dup = False
            for j in range(k):
                if wk[j] == wk[k]:
                    dup = True
            if not dup:
                k += 1
        count[d] = k
        return -1
    nl = _chain_liberties(color, nxt, head, mark, meta, prey, wk, 3)
    if nl >= 3:
        return 0
    if nl <= 1:
        return 1 if nl == 0 or is_legal(batch_board(st, d), wk[0], attacker) else 0
    count[d] = 2  # atari from either side
    return -1


@njit(cache=True)
def _attacker_wins(st, d0, prey, attacker, defender_first, lad):
    """Does the ladder from stack row d0 capture the chain through stone ``prey``?

    ``defender_first``: at row d0 the prey is in atari and its owner moves; otherwise the
    defender has just moved and the attacker plays. An AND-OR depth-first search without
    recursion (row d is the node at depth d; the side to move alternates with d): a defender
    node is won by the attacker when all its moves are, an attacker node when one of its
    ataris is. A node too deep to read is lost for the attacker; so is the whole question once
    the node budget (``lad[3][0]``) runs out."""
    work, count, nexti, budget = lad[0], lad[1], lad[2], lad[3]
    rows = st[0].shape[0]
    defender = 3 - attacker
    d = d0
    res = _open(st, d, prey, attacker, defender_first, lad)
    while True:
        if res < 0:
            dm = ((d - d0) % 2 == 0) == defender_first  # the defender moves at node d
            mover = defender if dm else attacker
            child = -1  # 2: a child was opened, 0: a child too deep to read
            while nexti[d] < count[d]:
                q = work[d, nexti[d]]
                nexti[d] += 1
                if not is_legal(batch_board(st, d), q, mover):
                    continue
                if d + 1 >= rows:
                    child = 0
                    break
                if dm and _escapes_by_extending(st, d, q, prey, defender):
                    child = 0  # decided without playing it out
                    break
                _copy_row(st, d, d + 1)
                _play_row(st, d + 1, q, mover)
                if not dm and st[3][d + 1][st[2][d + 1][prey]] != 1:
                    continue  # not an atari after all
                budget[0] -= 1
                if budget[0] < 0:
                    return False
                child = 2
                break
            if child == 2:
                d += 1
                res = _open(st, d, prey, attacker, not dm, lad)
                continue
            if child == 0:
                if not dm:
                    continue  # the attacker tries its other atari
                res = 0  # the defender runs where the reader cannot follow
            else:
                res = 1 if dm else 0  # no move left: the side to move found nothing
        # node d is decided: hand the result to its parent
        if d == d0:
            return res == 1
        d -= 1
        dm = ((d - d0) % 2 == 0) == defender_first
        if not ((dm and res == 0) or (not dm and res == 1)):
            res = -1  # the parent still has moves to try


@njit(cache=True, inline="always")
def _captures_any(color, head, libs, w, p, c):
    """Would c playing p capture something (an opponent neighbour chain in atari)?"""
    for q in (p - w, p - 1, p + 1, p + w):
        if color[q] == 3 - c and libs[head[q]] == 1:
            return True
    return False


@njit(cache=True)
def _ladder_capture(b, p, c, preys, npreys, st, lad):
    """c plays the legal p: does one of the opponent chains through ``preys`` (2 liberties
    before) end up in atari and lost to the ladder?"""
    color, nxt, head, libs, mark, meta = b[0], b[1], b[2], b[3], b[7], b[8]
    w = meta[M_W]
    quiet = not _captures_any(color, head, libs, w, p, c)
    other = lad[0][0]
    loaded = False
    for i in range(npreys):
        q = preys[i]
        if quiet:
            # the common miss, read on b without playing: the prey extends at its other
            # liberty to >= 3 liberties (>= 4 on b, where p is still one of them); stones
            # that only p's capture could change are why this needs a quiet p
            _chain_liberties(color, nxt, head, mark, meta, q, other, 2)
            x = other[1] if other[0] == p else other[0]
            if _libs_after(color, nxt, head, libs, mark, meta, x, 3 - c, 4) >= 4:
                continue
        if not loaded:
            _load_row(st, b)
            _play_row(st, 0, p, c)
            loaded = True
        if st[3][0][st[2][0][q]] != 1:
            continue
        lad[3][0] = LADDER_MAX_NODES
        if _attacker_wins(st, 0, q, c, True, lad):
            return True
    return False


@njit(cache=True)
def _ladder_escape(b, p, c, st, lad):
    """c extends its chain in atari at p: does the attacker's ladder then fail?"""
    color, head, libs, meta = b[0], b[2], b[3], b[8]
    lad[3][0] = LADDER_MAX_NODES
    after = _libs_after(color, b[1], head, libs, b[7], meta, p, c, 3)
    if after >= 3:
        return True
    if after == 1 and not _captures_any(color, head, libs, meta[M_W], p, c):
        return False  # still in atari and no ko can stop the capture
    _load_row(st, b)
    _play_row(st, 0, p, c)
    return not _attacker_wins(st, 0, p, 3 - c, False, lad)


@njit(cache=True)
def _ladder_question(b, p, c, capture, st, lad):
    color = b[0]
    head = b[2]
    libs = b[3]
    w = b[8][M_W]
    preys = np.empty(4, dtype=np.int64)
    k = 0
    atari = False
    for q in (p - w, p - 1, p + 1, p + w):
        if color[q] == 3 - c and libs[head[q]] == 2:
            preys[k] = q
            k += 1
        elif color[q] == c and libs[head[q]] == 1:
            atari = True
    if not is_legal(b, p, c):
        return False
    if capture:
        return k > 0 and _ladder_capture(b, p, c, preys, k, st, lad)
    return atari and _ladder_escape(b, p, c, st, lad)


def ladder_captures(b, p, c):
    """Python check: would colour c playing p (legal) win a ladder against a chain it ataris?"""
    n = int(b[8][M_N])
    st, lad = _ladder_scratch(n)
    return bool(_ladder_question(b, p, c, True, st, lad))


def ladder_escapes(b, p, c):
    """Python check: does colour c extending its chain in atari at p escape the ladder?"""
    n = int(b[8][M_N])
    st, lad = _ladder_scratch(n)
    return bool(_ladder_question(b, p, c, False, st, lad))


# ---------------------------------------------------------------------------------------------
# Planes

@njit(cache=True)
def _fill(b, age, k, with_player, st, lad, out):
    """Planes of board b (its side to move) under symmetry k into out float32[48 or 49, N, N]."""
    color = b[0]
    nxt = b[1]
    head = b[2]
    libs = b[3]
    csize = b[4]
    mark = b[7]
    meta = b[8]
    n = meta[M_N]
    w = meta[M_W]
    if out.shape[0] < (VALUE_PLANES if with_player else LEE_PLANES):
        raise ValueError("lee planes: out has too few planes (48, or 49 with the player plane)")
    if out.shape[1] != n or out.shape[2] != n:
        raise ValueError("lee planes: out is not N x N for this board")
    c = meta[M_TOMOVE]
    opp = 3 - c
    moves = meta[M_MOVES]
    out[:] = 0.0
    preys = np.empty(4, dtype=np.int64)  # stones of 2-liberty opponent chains next to a move
    for r in range(n):
        for cc in range(n):
            p = (r + 1) * w + cc + 1
            r2, c2 = sym_rowcol(k, n, r, cc)
            out[P_ONES, r2, c2] = 1.0
            if with_player and c == BLACK:
                out[P_PLAYER, r2, c2] = 1.0
            v = color[p]
            if v != EMPTY:
                out[P_OWN if v == c else P_OPP, r2, c2] = 1.0
                t = moves - age[p]
                if t < 1 or t > 8:
                    t = 8  # setup stones (and ages the caller never set) are old
                out[P_TURNS + t - 1, r2, c2] = 1.0
                out[P_LIBERTIES + min(libs[head[p]], 8) - 1, r2, c2] = 1.0
                continue
            out[P_EMPTY, r2, c2] = 1.0
            # legal under simple ko <=> not the ko point and a liberty after the move
            if p == meta[M_KO] and c == meta[M_KO_COLOR]:
                continue
            after = _libs_after(color, nxt, head, libs, mark, meta, p, c, 8)
            if after == 0:
                continue
            # one pass over the neighbours: distinct chains, captures, ladder candidates
            h0 = -1
            h1 = -1
            h2 = -1
            captured = 0
            own_size = 0
            npreys = 0
            own_atari = False
            walls = 0  # neighbours that are own stones or off the board
            for q in (p - w, p - 1, p + 1, p + w):
                cq = color[q]
                if cq == c or cq == OFF:
                    walls += 1
                if cq != c and cq != opp:
                    continue
                hq = head[q]
                new, h0, h1, h2 = _new_head(hq, h0, h1, h2)
                if not new:
                    continue
                if cq == opp:
                    if libs[hq] == 1:
                        captured += csize[hq]
                    elif libs[hq] == 2:
                        preys[npreys] = q
                        npreys += 1
                else:
                    own_size += csize[hq]
                    if libs[hq] == 1:
                        own_atari = True
            out[P_CAPTURE + min(captured, 7), r2, c2] = 1.0
            out[P_LIBS_AFTER + min(after, 8) - 1, r2, c2] = 1.0
            if after == 1:
                out[P_SELF_ATARI + min(own_size + 1, 8) - 1, r2, c2] = 1.0
            if walls < 4 or not is_eye(b, p, c):  # only a point walled in can be an eye
                out[P_SENSIBLE, r2, c2] = 1.0
            if npreys > 0 and _ladder_capture(b, p, c, preys, npreys, st, lad):
                out[P_LADDER_CAPTURE, r2, c2] = 1.0
            if own_atari and _ladder_escape(b, p, c, st, lad):
                out[P_LADDER_ESCAPE, r2, c2] = 1.0


@njit(cache=True)
def lee_planes(b, age, out, with_player):
    """The 48 planes (49 ``with_player``) of board b for its side to move into out
    float32[48 or 49, N, N]; ``age`` as kept by ``play_aged`` / ``root_ages``."""
    st, lad = _ladder_scratch(b[8][M_N])
    _fill(b, age, 0, with_player, st, lad, out)


@njit(cache=True)
def lee_planes_rows(boards, ages, rows, with_player, out):
    """out[k] = planes of board rows[k] of a batch of boards (tuple of 2-D arrays, the
    ``LeafBatch.boards`` layout) with ages ``ages[rows[k]]`` (int32[B, (N+2)^2]), each for its
    own side to move; one scratch allocation for the whole call."""
    st, lad = _ladder_scratch(boards[8][0, M_N])
    for k in range(rows.shape[0]):
        i = rows[k]
        _fill(batch_board(boards, i), ages[i], 0, with_player, st, lad, out[k])


def state_planes(state, with_player=False):
    """float32[48 or 49, N, N] planes of a GameState for its side to move."""
    n = state.size
    out = np.zeros((VALUE_PLANES if with_player else LEE_PLANES, n, n), dtype=np.float32)
    lee_planes(state.board, root_ages(state), out, with_player)
    return out


@njit(cache=True)
def planes_for_samples(n, offsets, moves, colors, setup_offsets, setup_points, setup_colors,
                       games, move_idx, syms, with_player, out, targets):
    """Training rows from shard arrays: for row i, replay game ``games[i]`` (its setup stones,
    then its first ``move_idx[i]`` moves), fill the planes of that position for the colour of
    move ``move_idx[i]`` under symmetry ``syms[i]`` into out[i], and write targets[i] = that
    move as an action (row * N + col, N*N = pass) under the same symmetry.

    Shard (one board size n): offsets int64[G+1], moves int16[M] padded points (PASS = -1),
    colors int8[M], setup_offsets int64[G+1], setup_points int16[S], setup_colors int8[S]."""
    w = n + 2
    ngames = offsets.shape[0] - 1
    if setup_offsets.shape[0] != ngames + 1:
        raise ValueError("planes_for_samples: offsets and setup_offsets disagree on the game count")
    if out.shape[0] < games.shape[0] or targets.shape[0] < games.shape[0]:
        raise ValueError("planes_for_samples: out / targets have fewer rows than samples")
    empty = new_board(n)
    b = new_board(n)  # the row's position
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    age = np.empty(w * w, dtype=np.int32)  # ages of its stones
    st, lad = _ladder_scratch(n)
    for i in range(games.shape[0]):
        g = games[i]
        if g < 0 or g >= ngames:
            raise ValueError("planes_for_samples: game index out of range")
        start = offsets[g]
        m = move_idx[i]
        if m < 0 or start + m >= offsets[g + 1]:
            raise ValueError("planes_for_samples: move index outside its game")
        copy_into(b, empty)
        age[:] = AGE_NONE
        fault = place_setup(b, setup_points, setup_colors, setup_offsets[g], setup_offsets[g + 1])
        if fault == SETUP_BAD_STONE:
            raise ValueError("planes_for_samples: bad setup stone in the shard")
        if fault != SETUP_OK:
            raise ValueError("planes_for_samples: setup stone captures in the shard")
        for j in range(start, start + m):
            mc = np.int64(colors[j])
            if (mc != BLACK and mc != WHITE) or not _replay_move(
                    color, nxt, head, libs, csize, empt, eidx, mark, meta, age,
                    np.int64(moves[j]), mc):
                raise ValueError("planes_for_samples: illegal move in the shard")
        target = np.int64(moves[start + m])
        tc = colors[start + m]
        if tc != BLACK and tc != WHITE:
            raise ValueError("planes_for_samples: bad move colour in the shard")
        meta[M_TOMOVE] = tc
        if target == PASS:
            a = n * n
        else:
            if target < 0 or target >= w * w or b[0][target] == OFF:
                raise ValueError("planes_for_samples: target move off the board")
            a = (target // w - 1) * n + (target % w - 1)
        _fill(b, age, syms[i], with_player, st, lad, out[i])
        targets[i] = sym_action(syms[i], n, a)


@njit(cache=True, nogil=True)
def leaf_lee_planes(parent, move, leaves, count, root_board, root_age, syms, with_player, out):
    """out[i] = planes of tree node leaves[i] under symmetry syms[i], i < count: the path's moves
    are read from the tree arrays ``parent`` / ``move`` (``engine.mcts`` T_PARENT / T_MOVE, root
    = node 0) and replayed from ``root_board`` with ages from ``root_age``."""
    b = copy_board(root_board)  # the leaf's position
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    age = root_age.copy()  # ages of its stones
    st, lad = _ladder_scratch(root_board[8][M_N])
    for i in range(count):
        path = path_from(parent, move, leaves[i])
        copy_into(b, root_board)
        age[:] = root_age
        c = root_board[8][M_TOMOVE]
        for d in range(path.shape[0]):
            _replay_move(color, nxt, head, libs, csize, empt, eidx, mark, meta, age,
                         np.int64(path[d]), c)
            c = 3 - c
        _fill(b, age, syms[i], with_player, st, lad, out[i])


def leaf_batch_planes(batch, root_age, syms, with_player, out):
    """``leaf_lee_planes`` for the rows of an ``engine.search.LeafBatch`` (its tree and root
    state); ``root_age = root_ages(batch.root_state)``, computed once per search."""
    tree = batch.tree
    leaf_lee_planes(tree[T_PARENT], tree[T_MOVE], batch.leaf, batch.count,
                    batch.root_state.board, root_age, syms, with_player, out)


# ---------------------------------------------------------------------------------------------
# Benchmark

def _random_games(n, count, seed):
    """Shard arrays of ``count`` seeded random games (no own-eye fills, passes at the end)."""
    rng = np.random.default_rng(seed)
    moves, colors, offsets = [], [], [0]
    for _ in range(count):
        g = GameState(n, komi=7.5, ko_rule="simple", move_limit=2 * n * n)
        while not g.is_over():
            c = g.to_move
            pts = [p for p in g.legal_points(c) if not is_eye(g.board, p, c)]
            p = int(rng.choice(pts)) if pts else PASS
            g.play(c, p)
            moves.append(p)
            colors.append(c)
        offsets.append(len(moves))
    return (np.array(offsets, dtype=np.int64), np.array(moves, dtype=np.int16),
            np.array(colors, dtype=np.int8))


def bench(n, samples=2000, games=20, seed=1, repeats=3):
    """Positions per second of ``planes_for_samples`` on seeded random games of size n, one
    thread: (best wall-clock rate, best CPU-time rate, mean game length). The output buffer is
    reused across batches, as a training loop does."""
    offsets, moves, colors = _random_games(n, games, seed)
    setup_offsets = np.zeros(games + 1, dtype=np.int64)
    setup = np.zeros(0, dtype=np.int16)
    setup_c = np.zeros(0, dtype=np.int8)
    rng = np.random.default_rng(seed)
    gi = rng.integers(0, games, size=samples)
    lengths = np.diff(offsets)
    mi = (rng.random(samples) * lengths[gi]).astype(np.int64)
    syms = rng.integers(0, 8, size=samples).astype(np.int64)
    out = np.zeros((samples, LEE_PLANES, n, n), dtype=np.float32)
    targets = np.zeros(samples, dtype=np.int64)
    args = (n, offsets, moves, colors, setup_offsets, setup, setup_c, gi, mi, syms, False, out,
            targets)
    planes_for_samples(*args)  # compile, touch the buffer
    wall = cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        planes_for_samples(*args)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return samples / wall, samples / cpu, float(lengths.mean())


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="Speed of the AlphaGo Lee 48-plane batch builder.")
    ap.add_argument("--size", type=int, nargs="+", default=[9, 19], help="board sizes")
    ap.add_argument("--samples", type=int, default=2000, help="positions per batch")
    ap.add_argument("--games", type=int, default=20, help="random games to sample from")
    ap.add_argument("--seed", type=int, default=1, help="seed of the random games and samples")
    args = ap.parse_args(argv)
    for n in args.size:
        if not 2 <= n <= 19:
            ap.error(f"board size must be 2..19, got {n}")
        wall, cpu, length = bench(n, args.samples, args.games, args.seed)
        print(f"{n}x{n}: {wall:,.0f} positions/s wall clock, {cpu:,.0f} per CPU second "
              f"(48 planes, one thread, random games of {length:.0f} moves on average)")
    return 0


__all__ = ["LEE_PLANES", "VALUE_PLANES", "AGE_NONE", "LADDER_MAX_PLIES", "LADDER_MAX_NODES",
           "PLANE_NAMES", "P_OWN", "P_OPP", "P_EMPTY", "P_ONES", "P_TURNS", "P_LIBERTIES",
           "P_CAPTURE", "P_SELF_ATARI", "P_LIBS_AFTER", "P_LADDER_CAPTURE", "P_LADDER_ESCAPE",
           "P_SENSIBLE", "P_ZEROS", "P_PLAYER", "play_aged", "root_ages", "lee_planes",
           "lee_planes_rows",
           "state_planes", "planes_for_samples", "leaf_lee_planes", "leaf_batch_planes",
           "ladder_captures", "ladder_escapes"]

if __name__ == "__main__":
    sys.exit(main())
