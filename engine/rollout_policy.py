"""AlphaGo's linear-softmax rollout policy and tree policy on local patterns, in Numba.

A move ``a`` of the player to move, among the legal points (simple ko) and pass, gets the
probability ``p(a) ~ exp(sum of the weights of the features active for a)`` (AlphaGo 2016,
Extended Data Table 4). The same features serve
two models: the *rollout policy* (fast, used to play rollouts to the end of the game) and
the *tree policy* (the rollout features plus three more, used for the priors of new tree
nodes). ``nets.rollout_train`` harvests the pattern dictionaries from game records and fits
the weights; this module computes the features, plays rollouts and answers the search.

Features of a candidate move ``q`` (``L`` = previous move, ``L2`` = the move before it)
---------------------------------------------------------------------------------------
Fixed features, one weight each (indices ``F_*`` at the start of the weight vector):

    response     q matches a response pattern (below) found in the dictionary
    save atari   an own chain next to q has one liberty, and after q it has two or more
    neighbour    q is one of the 8 points around L: 8 features, one per relative position
                 (response and neighbour need L to be a stone: none after a pass or at the
                 start)
    self-atari   (tree) after q the chain of q has exactly one liberty
    distance     (tree) Manhattan distance from q to L (1..17, capped) and to L2 (17 more)
    pass         the pass move (which has no other feature)

Pattern features, one weight per dictionary entry (``GROUPS``):

    pat3      3x3 around q: colour of the 8 neighbours and, for the 4 orthogonal ones that
              are stones, the liberties of their chain (1, 2, >= 3)
    response  the 12-point diamond (Manhattan distance 1..2) around L: colour and liberties
              (1, 2, >= 3) of each point, the liberties of L's chain, and the position of q
              inside the diamond
    nakade    q lies in an empty region of 3 to 6 points whose bordering stones are all of
              one colour (an eye space): the shape of the region, the place of q in it and
              whether the space belongs to the player or to the opponent. The weights learn
              which place of which shape is the vital point.
    diamond   (tree) the 12-point diamond around q itself: colour and liberties per point

Colours are relative to the player to move (own / opponent). Every pattern is keyed by its
*canonical* code, the smallest code among its 8 board symmetries (``nets.features``'s
``sym_rowcol``), so the dictionaries hold each shape once; at load time every symmetric
variant of a key is entered in a lookup table, so play never canonicalises. A pattern not
in the dictionary contributes nothing.

Cell codes: 3 bits per point (0 empty, 1 off board, 2..4 own stone with 1 / 2 / >= 3
liberties, 5..7 opponent stone with 1 / 2 / >= 3 liberties). Diagonal 3x3 points carry only
a colour digit (0 empty or off board, 1 own, 2 opponent: a diagonal is off the board exactly
when an orthogonal neighbour beside it is). The raw 3x3 index is N | W << 3 | E << 6 | S << 9
| (NW + 3 NE + 9 SW + 27 SE) << 12, below PAT3_SIZE = 4096 * 81, so its weights live in direct
tables: the tree policy's weight indices (1.3 MB), and for rollouts a 2-byte row number per
index (663 KB, which stays in a core's L2 cache) into a small table of the distinct weight
rows (a few thousand). Diamond cells are listed in ``DIAMOND`` order, 3 bits each.

Model arrays
------------
``RolloutModel.arrays`` is the tuple the jitted functions take (``MODEL_FIELDS`` names the
slots): the 3x3 tables, open-addressing hash tables (int64[T, 2]: key, value; key -1 =
empty) from raw response / nakade / diamond codes to weight indices, the weight vector and
its exponentials. ``rollout_probs(b, arrays, out)`` and ``tree_priors(b, arrays, out)`` give
the model's softmax over the legal moves and pass (float[N*N+1], action = row * N + col from
the top left, N*N = pass) exactly as the trainer computes it; rollout_probs leaves out the
tree-only features.

Rollouts
--------
``policy_playout(b, rng, komi, arrays, scratch)`` plays ``b`` (mutated) to the end with the
rollout policy, one thread, and returns the Tromp-Taylor score (``engine.playout``'s
``playout_score``, black minus white minus komi). Stop rule as in ``engine.playout``: two
passes in a row or 3*N*N moves; a rollout passes only when it has no other move, and never
fills an own single-point eye (``engine.board.is_eye``).

Speed comes from keeping, for both colours, the exp-weight of every point's *move-local*
features (3x3, save atari, nakade) up to date incrementally, with row sums for sampling as
``engine.playout``'s MODE_PATTERN does. After a move only the points whose features could
have changed are recomputed: the 8 points around the move and around captured stones, the
liberties of every chain whose liberty class (1, 2, >= 3) changed, and the small empty
regions next to the move (nakade factors are kept per point and redone one region at a
time: a captured chain becomes a region, and so do the pieces of the region the move
split). A flag per point says whether it lies in an eye space (3-6 points, one border
colour). A piece of a region that was not one borders the new stone, so it can only become
an eye space of the mover's: the colours of its 3x3 box rule most pieces out (an opponent
stone on its border, a box too open, a one-point piece), and the others are flooded only
until an opponent stone or a seventh point shows. Only empty points are recomputed (the
point played just loses its weights), a chain's liberties are listed by a walk that stops
once all of them were seen, and the row sums keep their total, so a draw reads only the
rows up to the one it lands in.
``rollout_base_weights`` recomputes everything from scratch; tests compare the two
after every move. Because the 3x3 code holds the liberties of the orthogonal
neighbours, it decides legality (all but ko) and own-eye filling by itself: the rollout
table holds 0 for such codes, so a draw is never rejected except at the ko point. The
features tied to the previous move (response, neighbour) are factors on the <= 12 points of
L's diamond that the draw applies as it reads those points and the rows they lie on; the
stored weights never carry them, so nothing is undone after the draw.

``PolicyRolloutEvaluator`` answers ``engine.search``'s evaluator protocol with these
rollouts and tree-policy priors.

Training support: ``harvest_chunk`` and ``extract_chunk`` replay game records (the shard
arrays of ``nets.sgf_data``) and list the canonical pattern keys, or the candidates and
active features of every position, through the same feature code as play; they live here so
that Numba's cache, which tracks one source file per function, recompiles them with it.
"""
import json
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from engine import atomic
from engine.board import (BLACK, EMPTY, OFF, PASS, SETUP_OK, WHITE, M_KO, M_KO_COLOR, M_LAST,
                          M_LAST2, M_N, M_NEMPTY, M_PASSES, M_TOMOVE, M_W, _libs_after, _new_head,
                          _orth_colors, _pass, _play, _stamp, _u, copy_into, is_legal,
                          new_board, place_setup, play)
from engine.mcts import batch_board, record_playout
from engine.playout import _pick_in_row, _sum_row, playout_score
from engine.rng import new_rng, rand_float
from engine.search import RolloutEvaluator
from nets.features import sym_rowcol

FORMAT = "alphago-py rollout policy"  # marker stored in model files
VERSION = 1  # model file version this module reads and writes

# Fixed features: indices into the weight vector.
F_RESPONSE = 0  # the move matches a response pattern of the dictionary
F_SAVE = 1  # the move saves an own chain from atari
F_NEIGHBOUR = 2  # 8 features: the move is this neighbour of the previous move (NW N NE W E SW S SE)
F_SELF_ATARI = 10  # tree: the move leaves its own chain with one liberty
F_PASS = 11  # the pass move
F_DIST = 12  # tree: 17 features distance to the previous move, then 17 to the move before
DIST_CAP = 17  # Manhattan distances from 17 up share one feature
N_FIXED = F_DIST + 2 * DIST_CAP  # 46 fixed features
FIXED_NAMES = (["response", "save_atari"] + [f"neighbour_{d}" for d in
               ("nw", "n", "ne", "w", "e", "sw", "s", "se")] + ["self_atari", "pass"]
               + [f"dist_last_{d}" for d in range(1, DIST_CAP + 1)]
               + [f"dist_last2_{d}" for d in range(1, DIST_CAP + 1)])

GROUPS = ("pat3", "response", "nakade", "diamond")  # pattern dictionaries, weight-vector order
TREE_GROUPS = ("diamond",)  # dictionaries of the tree policy only
MAX_FEATURES = 10  # most features one candidate move can have active

PAT3_SIZE = 4096 * 81  # raw 3x3 index space
NAKADE_MIN = 3  # smallest eye space with a nakade feature
NAKADE_MAX = 6  # largest one
# bits of the keys: response = 36 cell bits + 2 bits L's liberties + 4 bits position
RESP_POS_SHIFT = 38
NAK_POS_SHIFT = 36  # nakade: 6x6 bitmap of the shape, then the move's cell (6 bits), then owner
NAK_OWNER_SHIFT = 42
KEY_LIMITS = {"pat3": PAT3_SIZE, "response": 12 << RESP_POS_SHIFT,
              "nakade": 2 << NAK_OWNER_SHIFT, "diamond": 1 << 36}  # keys lie in [0, limit)

# Cell geometry, (row, col) offsets. Orthogonal and diagonal 3x3 points in code order.
ORTH = ((-1, 0), (0, -1), (0, 1), (1, 0))
DIAG = ((-1, -1), (-1, 1), (1, -1), (1, 1))
DIAMOND = ((-2, 0), (-1, -1), (-1, 0), (-1, 1), (0, -2), (0, -1), (0, 1), (0, 2), (1, -1),
           (1, 0), (1, 1), (2, 0))
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
DIAMOND_DR = np.array([d[0] for d in DIAMOND], dtype=np.int64)
DIAMOND_DC = np.array([d[1] for d in DIAMOND], dtype=np.int64)
# neighbour feature of each diamond cell, -1 for the 4 cells at distance 2 in a straight line
NBR_SLOT = np.array([_NEIGHBOURS.index(d) if d in _NEIGHBOURS else -1 for d in DIAMOND],
                    dtype=np.int64)
# diamond cell of an offset: DPOS[(dr + 2) * 5 + dc + 2], -1 outside the diamond
DPOS = np.full(25, -1, dtype=np.int64)
for _j, (_dr, _dc) in enumerate(DIAMOND):
    DPOS[(_dr + 2) * 5 + _dc + 2] = _j


def _perm_table(offsets):
    """perm[k, i]: the cell that cell i becomes under board symmetry k."""
    rad = max(max(abs(a), abs(b)) for a, b in offsets)
    size = 2 * rad + 1
    where = {o: i for i, o in enumerate(offsets)}
    perm = np.zeros((8, len(offsets)), dtype=np.int64)
    for k in range(8):
        for i, (dr, dc) in enumerate(offsets):
            r2, c2 = sym_rowcol(k, size, dr + rad, dc + rad)
            perm[k, i] = where[(r2 - rad, c2 - rad)]
    return perm


PERM_ORTH = _perm_table(ORTH)
PERM_DIAG = _perm_table(DIAG)
PERM_DIAMOND = _perm_table(DIAMOND)

MODEL_FIELDS = (
    "pat3_fi",   # int32[PAT3_SIZE]: weight index of each raw 3x3 index, -1 when not in the
                 #   dictionary
    "pat3_id",   # uint16[PAT3_SIZE] (int32 past 65,535 rows): row of pat3_e for each raw
                 #   3x3 index seen by black; 663 KB, so it stays in a core's L2 cache
    "pat3_e",    # float64[K, 4]: the distinct rows of rollout weights of a 3x3 pattern, for
                 #   black and for white (exp of the weight; 0 for a suicide or an own
                 #   single-point eye, which rollouts never play), then the same times the
                 #   save-atari factor where a chain of that player's in atari touches the
                 #   point (0 where none does)
    "resp_tab",  # int64[T, 2]: raw diamond code around the previous move -> row of resp_fi
    "resp_fi",   # int32[R, 12]: weight index of (diamond, position of the move), -1 if absent
    "resp_e",    # float64[R + 1, 12]: rollout factor of the previous-move features (neighbour
                 #   times response) by row and position; row R: no response pattern
    "nak_tab",   # int64[T, 2]: raw nakade key -> weight index
    "dia_tab",   # int64[T, 2]: raw diamond code around the move -> weight index (tree)
    "weights",   # float64[F]: the weight vector
    "wexp",      # float64[F]: exp(weights)
    "flags",     # int64[4]: tree features on, nakade dictionary non-empty, F, 0
)


class RolloutModelError(ValueError):
    """A model file that cannot be read, or model arrays that do not fit together."""


# ---------------------------------------------------------------------------------------
# Cell codes and symmetries (jitted)

@njit(cache=True, inline="always")
def _lib_class(n):
    """Liberty class: 0 for one liberty, 1 for two, 2 for three or more."""
    if n <= 1:
        return 0
    if n == 2:
        return 1
    return 2


# Cell code tables, branch-free: ORTH_T[c - 1, (colour << 2) | min(liberties, 3)] is the
# 3-bit code of a point for player c (the liberties read for an empty or off-board point are
# stale but harmless: those rows are constant); DIAG3_T[c - 1, colour] is the base-3 digit of
# a diagonal point (0 empty or off board: a diagonal is off board exactly when an orthogonal
# neighbour next to it is, so the orthogonal codes tell).
ORTH_T = np.array([[0, 0, 0, 0, 2, 2, 3, 4, 5, 5, 6, 7, 1, 1, 1, 1],
                   [0, 0, 0, 0, 5, 5, 6, 7, 2, 2, 3, 4, 1, 1, 1, 1]], dtype=np.int64)
DIAG3_T = np.array([[0, 1, 2, 0], [0, 2, 1, 0]], dtype=np.int64)


@njit(cache=True, inline="always")
def _okey(color, head, libs, q):
    """Row index into ORTH_T: colour and capped liberties of point q."""
    return _u((np.int64(color[_u(q)]) << 2) | min(np.int64(libs[_u(head[_u(q)])]), 3))


@njit(cache=True, inline="always")
def _state(color, head, libs, q, c):
    """3-bit cell code of point q for player c."""
    return ORTH_T[c - 1, _okey(color, head, libs, q)]


@njit(cache=True, inline="always")
def _pat3_index(color, head, libs, w, p, c):
    """Raw 3x3 index of point p for player c: orthogonal codes N, W, E, S in bits 0..11,
    then 4096 * (NW + 3 NE + 9 SW + 27 SE) for the diagonal digits."""
    ci = _u(c - 1)
    orth = (ORTH_T[ci, _okey(color, head, libs, p - w)]
            | (ORTH_T[ci, _okey(color, head, libs, p - 1)] << 3)
            | (ORTH_T[ci, _okey(color, head, libs, p + 1)] << 6)
            | (ORTH_T[ci, _okey(color, head, libs, p + w)] << 9))
    diag = (DIAG3_T[ci, _u(color[_u(p - w - 1)])] + 3 * DIAG3_T[ci, _u(color[_u(p - w + 1)])]
            + 9 * DIAG3_T[ci, _u(color[_u(p + w - 1)])]
            + 27 * DIAG3_T[ci, _u(color[_u(p + w + 1)])])
    return orth | (diag << 12)


@njit(cache=True, inline="always")
def _has_orth(idx, s):
    """A 3x3 index has the orthogonal cell code s (2: own chain in atari next to the point,
    5: opponent chain in atari)."""
    return ((idx & 7) == s or ((idx >> 3) & 7) == s or ((idx >> 6) & 7) == s
            or ((idx >> 9) & 7) == s)


@njit(cache=True, inline="always")
def _box_conn(idx):
    """Empty points of the 3x3 box connected to its centre inside the box (centre included):
    7 or more means the empty region of the centre is too big for a nakade."""
    o_n = idx & 7
    o_w = (idx >> 3) & 7
    o_e = (idx >> 6) & 7
    o_s = (idx >> 9) & 7
    d = idx >> 12
    k = 1 + (o_n == 0) + (o_w == 0) + (o_e == 0) + (o_s == 0)
    # a diagonal counts when empty (digit 0, not off board) and next to an empty neighbour
    if d % 3 == 0 and o_n != 1 and o_w != 1 and (o_n == 0 or o_w == 0):
        k += 1
    if (d // 3) % 3 == 0 and o_n != 1 and o_e != 1 and (o_n == 0 or o_e == 0):
        k += 1
    if (d // 9) % 3 == 0 and o_w != 1 and o_s != 1 and (o_w == 0 or o_s == 0):
        k += 1
    if d // 27 == 0 and o_e != 1 and o_s != 1 and (o_e == 0 or o_s == 0):
        k += 1
    return k


@njit(cache=True, inline="always")
def _eye_piece_maybe(color, w, e, opp):
    """Cheap test from the colours of e's 3x3 box, for the empty point e next to a stone of
    the player's that was just played: e's empty region may be an eye space of the player's.
    It cannot be when an opponent stone borders the part of the region inside the box (a
    diagonal stone borders it when an orthogonal point beside it is empty), when 7 or more
    empty points of the box connect to e inside it, or when e has no empty neighbour (a
    one-point region). The rest are flooded by ``_region_size`` with the opponent as its
    stop."""
    v_n, v_w, v_e, v_s = _orth_colors(color, w, e)
    if v_n == opp or v_w == opp or v_e == opp or v_s == opp:
        return False
    n_ = v_n == EMPTY
    w_ = v_w == EMPTY
    e_ = v_e == EMPTY
    s_ = v_s == EMPTY
    k = 1 + n_ + w_ + e_ + s_
    if k == 1:
        return False
    if n_ or w_:
        d = color[_u(e - w - 1)]
        if d == opp:
            return False
        k += d == EMPTY
    if n_ or e_:
        d = color[_u(e - w + 1)]
        if d == opp:
            return False
        k += d == EMPTY
    if w_ or s_:
        d = color[_u(e + w - 1)]
        if d == opp:
            return False
        k += d == EMPTY
    if e_ or s_:
        d = color[_u(e + w + 1)]
        if d == opp:
            return False
        k += d == EMPTY
    return k < 7


@njit(cache=True, inline="always")
def _nakade_maybe(idx):
    """Cheap test on the 3x3 index: the point may lie in a small one-colour eye space."""
    own = False
    opp = False
    empty = False
    for i in range(4):
        s = (idx >> (3 * i)) & 7
        if s == 0:
            empty = True
        elif 2 <= s <= 4:
            own = True
        elif s >= 5:
            opp = True
    if not empty or (own and opp):
        return False
    return _box_conn(idx) < 7


@njit(cache=True)
def sym_pat3(idx, k):
    """Raw 3x3 index after board symmetry k."""
    out = np.int64(0)
    for i in range(4):
        out |= ((idx >> (3 * i)) & 7) << (3 * PERM_ORTH[k, i])
    d = idx >> 12
    p3 = (1, 3, 9, 27)
    dd = 0
    for i in range(4):
        dd += ((d // p3[i]) % 3) * p3[PERM_DIAG[k, i]]
    return out | (dd << 12)


@njit(cache=True, inline="always")
def _sym_cells12(code, k):
    """The 12 diamond cells of a code after symmetry k; bits from 36 up are kept."""
    out = code & ~np.int64((1 << 36) - 1)
    for i in range(12):
        out |= ((code >> (3 * i)) & 7) << (3 * PERM_DIAMOND[k, i])
    return out


@njit(cache=True)
def sym_response(key, k):
    """Response key (diamond around L + L's liberties + move position) after symmetry k."""
    pos = key >> RESP_POS_SHIFT
    cells = key & ((np.int64(1) << RESP_POS_SHIFT) - 1)
    return _sym_cells12(cells, k) | (PERM_DIAMOND[k, pos] << RESP_POS_SHIFT)


@njit(cache=True)
def sym_diamond(key, k):
    """Diamond key (12 cells around the move) after symmetry k."""
    return _sym_cells12(key, k)


@njit(cache=True)
def sym_nakade(key, k):
    """Nakade key after symmetry k: the shape is turned in a 6x6 box and moved back to the
    box's top-left corner."""
    bitmap = key & ((np.int64(1) << NAK_POS_SHIFT) - 1)
    qpos = (key >> NAK_POS_SHIFT) & 63
    owner = key >> NAK_OWNER_SHIFT
    rmin = 99
    cmin = 99
    for b in range(36):
        if (bitmap >> b) & 1:
            r, c = sym_rowcol(k, 6, b // 6, b % 6)
            rmin = min(rmin, r)
            cmin = min(cmin, c)
    out = np.int64(0)
    for b in range(36):
        if (bitmap >> b) & 1:
            r, c = sym_rowcol(k, 6, b // 6, b % 6)
            out |= np.int64(1) << ((r - rmin) * 6 + c - cmin)
    r, c = sym_rowcol(k, 6, qpos // 6, qpos % 6)
    return out | (np.int64((r - rmin) * 6 + c - cmin) << NAK_POS_SHIFT) | (
        owner << NAK_OWNER_SHIFT)


@njit(cache=True)
def sym_key(group, key, k):
    """Key of pattern group (index into GROUPS) after symmetry k."""
    if group == 0:
        return sym_pat3(key, k)
    if group == 1:
        return sym_response(key, k)
    if group == 2:
        return sym_nakade(key, k)
    return sym_diamond(key, k)


@njit(cache=True)
def canonical_key(group, key):
    """Smallest key among the 8 symmetric variants: the dictionary key of a pattern."""
    best = key
    for k in range(1, 8):
        v = sym_key(group, key, k)
        if v < best:
            best = v
    return best


@njit(cache=True)
def _canonical_many(group, keys, out):
    for i in range(keys.shape[0]):
        out[i] = canonical_key(group, keys[i])


@njit(cache=True)
def _variants_many(group, keys, out):
    """out[i, k] = variant k of keys[i]."""
    for i in range(keys.shape[0]):
        for k in range(8):
            out[i, k] = sym_key(group, keys[i], k)


def canonical_keys(group, keys):
    """Canonical form of an array of raw keys of one group (name or index)."""
    g = GROUPS.index(group) if isinstance(group, str) else int(group)
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    out = np.empty_like(keys)
    _canonical_many(g, keys, out)
    return out


_CANON_PAT3 = None


def canonical_pat3_table():
    """int64[PAT3_SIZE]: canonical 3x3 index of every raw index (computed once)."""
    global _CANON_PAT3
    if _CANON_PAT3 is None:
        _CANON_PAT3 = canonical_keys(0, np.arange(PAT3_SIZE, dtype=np.int64))
    return _CANON_PAT3


_PLAYABLE = None


def _pat3_cells(idx):
    """Orthogonal codes (4 arrays) and diagonal digits (4 arrays) of raw 3x3 indices."""
    o = [(idx >> (3 * i)) & 7 for i in range(4)]
    d = [((idx >> 12) // 3 ** i) % 3 for i in range(4)]
    return o, d


def swap_pat3(idx):
    """Raw 3x3 index of the same neighbourhood seen by the other player."""
    idx = np.asarray(idx, dtype=np.int64)
    o, d = _pat3_cells(idx)
    out = np.zeros_like(idx)
    for i, s in enumerate(o):
        out |= np.where(s >= 5, s - 3, np.where(s >= 2, s + 3, s)) << (3 * i)
    for i, s in enumerate(d):
        out += np.where(s == 0, 0, 3 - s) * 3 ** i << 12
    return out


def playable_pat3():
    """bool[PAT3_SIZE]: raw 3x3 indices where a rollout may play: legal but for ko (an empty
    orthogonal neighbour, an own chain with two or more liberties or an opponent chain in
    atari next to the point) and not an own single-point eye (``engine.board.is_eye``: the
    four neighbours own or off board and fewer than two of opponent diagonals plus one for
    the edge)."""
    global _PLAYABLE
    if _PLAYABLE is None:
        o, d = _pat3_cells(np.arange(PAT3_SIZE, dtype=np.int64))
        legal = np.zeros(PAT3_SIZE, dtype=bool)
        eye_orth = np.ones(PAT3_SIZE, dtype=bool)
        edge = np.zeros(PAT3_SIZE, dtype=np.int64)
        for s in o:
            legal |= (s == 0) | (s == 3) | (s == 4) | (s == 5)
            eye_orth &= (s >= 1) & (s <= 4)
            edge |= s == 1
        bad = sum((s == 2).astype(np.int64) for s in d)
        eye = eye_orth & (bad + edge < 2)
        _PLAYABLE = legal & ~eye
    return _PLAYABLE


# ---------------------------------------------------------------------------------------
# Hash tables: int64[T, 2] rows (key, value), key -1 = empty, T a power of two

@njit(cache=True, inline="always")
def _hslot(tab, key):
    """Value stored for key, or -1."""
    mask = tab.shape[0] - 1
    i = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) & mask
    while True:
        k = tab[i, 0]
        if k == key:
            return tab[i, 1]
        if k == -1:
            return -1
        i = (i + 1) & mask


@njit(cache=True)
def _hash_fill(tab, keys, vals):
    mask = tab.shape[0] - 1
    for j in range(keys.shape[0]):
        key = keys[j]
        i = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) & mask
        while tab[i, 0] != -1 and tab[i, 0] != key:
            i = (i + 1) & mask
        if tab[i, 0] == -1:
            tab[i, 0] = key
            tab[i, 1] = vals[j]


def hash_table(keys, vals):
    """Lookup table key -> value (first value wins for a repeated key), load <= 1/2."""
    size = 8
    while size < 2 * len(keys):
        size *= 2
    tab = np.full((size, 2), -1, dtype=np.int64)
    _hash_fill(tab, np.ascontiguousarray(keys, dtype=np.int64),
               np.ascontiguousarray(vals, dtype=np.int64))
    return tab


# ---------------------------------------------------------------------------------------
# Feature codes of a point (jitted)

@njit(cache=True)
def _diamond_code(color, head, libs, x, c, w, n, qs):
    """36-bit code of the 12 diamond cells around x for player c; qs[j] gets the point of
    cell j, -1 off the board."""
    r = x // w
    return _diamond_code_rc(color, head, libs, r, x - r * w, c, w, n, qs)


@njit(cache=True, inline="always")
def _diamond_code_rc(color, head, libs, r, k, c, w, n, qs):
    """``_diamond_code`` around the point of padded row r, padded column k."""
    code = np.int64(0)
    for j in range(12):
        rr = r + DIAMOND_DR[j]
        cc = k + DIAMOND_DC[j]
        if rr < 1 or rr > n or cc < 1 or cc > n:
            s = 1
            qs[j] = -1
        else:
            q = rr * w + cc
            qs[j] = q
            s = _state(color, head, libs, q, c)
        code |= np.int64(s) << (3 * j)
    return code


@njit(cache=True)
def _nakade_shape(color, mark, meta, w, q, cells):
    """Eye-space shape of the empty point q: (6x6 bitmap | cell of q << 36, border colour)
    when q's empty region has NAKADE_MIN..NAKADE_MAX points, all bordered by stones of one
    colour; (-1, 0) otherwise. cells (int64[>= NAKADE_MAX]) gets the region's points; the
    flood stamps the board's ``mark``."""
    cnt = _region_size(color, mark, meta, w, q, cells, NAKADE_MAX, 0)
    if cnt < NAKADE_MIN or cnt > NAKADE_MAX:
        return np.int64(-1), 0
    border = _region_border(color, w, cells, cnt)
    if border != BLACK and border != WHITE:
        return np.int64(-1), 0
    rmin = 1 << 30
    cmin = 1 << 30
    for j in range(cnt):
        rmin = min(rmin, cells[j] // w)
        cmin = min(cmin, cells[j] % w)
    bitmap = np.int64(0)
    qpos = np.int64(0)
    for j in range(cnt):
        b = (cells[j] // w - rmin) * 6 + cells[j] % w - cmin
        bitmap |= np.int64(1) << b
        if cells[j] == q:
            qpos = b
    return bitmap | (qpos << NAK_POS_SHIFT), border


@njit(cache=True, _nrt=False, inline="always")
def _region_border(color, w, cells, cnt):
    """OR of the stone colours next to the points cells[:cnt]: BLACK, WHITE, both or 0."""
    border = 0
    for i in range(cnt):
        s = cells[i]
        for t in (s - w, s - 1, s + 1, s + w):
            v = color[_u(t)]
            if v == BLACK or v == WHITE:
                border |= v
    return border


@njit(cache=True, _nrt=False, inline="always")
def _region_size(color, mark, meta, w, q, cells, cap, stop):
    """Points of q's empty region, counted up to ``cap`` + 1 (the first ones, at most cap,
    land in cells; the board's ``mark`` stamps the points seen), or -1 as soon as a stone of
    colour ``stop`` borders the region (0: no such stop)."""
    st = _stamp(meta)
    cells[0] = q
    mark[_u(q)] = st
    cnt = 1
    i = 0
    while i < cnt:
        s = cells[i]
        i += 1
        for t in (s - w, s - 1, s + 1, s + w):
            v = color[_u(t)]
            if v == EMPTY:
                if mark[_u(t)] != st:
                    if cnt == cap:
                        return cap + 1
                    mark[_u(t)] = st
                    cells[_u(cnt)] = t
                    cnt += 1
            elif v == stop:
                return -1
    return cnt


@njit(cache=True)
def _response_code(color, head, libs, meta, c, qs):
    """Raw response code around the previous move for player c (diamond cells + liberties of
    the previous move's chain), -1 when there is no previous stone."""
    last = meta[M_LAST]
    if last < 0 or color[last] == EMPTY or color[last] == OFF:
        return np.int64(-1)
    code = _diamond_code(color, head, libs, last, c, meta[M_W], meta[M_N], qs)
    return code | (np.int64(_lib_class(libs[head[last]])) << 36)


@njit(cache=True)
def _candidate_keys(color, head, libs, mark, meta, q, c, rcode, tree, qs, cells, out):
    """Raw pattern keys of candidate move q for player c into out (int64[4], GROUPS order,
    -1 = none); ``rcode``: the position's ``_response_code``. The diamond key only with
    ``tree``."""
    w = meta[M_W]
    n = meta[M_N]
    out[:] = -1
    out[0] = _pat3_index(color, head, libs, w, q, c)
    if rcode >= 0:
        last = meta[M_LAST]
        dr = q // w - last // w
        dc = q % w - last % w
        if abs(dr) + abs(dc) <= 2:
            out[1] = (rcode & ((np.int64(1) << RESP_POS_SHIFT) - 1)) | (
                DPOS[(dr + 2) * 5 + dc + 2] << RESP_POS_SHIFT)
    shape, border = _nakade_shape(color, mark, meta, w, q, cells)
    if shape >= 0:
        out[2] = shape | (np.int64(0 if border == c else 1) << NAK_OWNER_SHIFT)
    if tree:
        out[3] = _diamond_code(color, head, libs, q, c, w, n, qs)


@njit(cache=True)
def candidate_keys(b, q, c, out):
    """Raw pattern keys (int64[4], GROUPS order, -1 = none) of candidate move q for player
    c: what the harvest counts, before canonicalisation."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    qs = np.empty(12, dtype=np.int64)
    cells = np.empty(8, dtype=np.int64)
    rcode = _response_code(color, head, libs, meta, c, qs)
    _candidate_keys(color, head, libs, mark, meta, q, c, rcode, True, qs, cells, out)


@njit(cache=True)
def _features(color, nxt, head, libs, mark, meta, q, c, rcode, rrow, pat3_fi, resp_fi,
              nak_tab, dia_tab, has_nak, tree, qs, cells, out):
    """Active feature (weight) indices of candidate q for player c into out; returns their
    count. ``rcode`` / ``rrow``: the position's response code and its row in resp_fi (-1
    none), from ``_response_code``."""
    if q == PASS:
        out[0] = F_PASS
        return 1
    w = meta[M_W]
    n = meta[M_N]
    nf = 0
    idx = _pat3_index(color, head, libs, w, q, c)
    fi = pat3_fi[idx]
    if fi >= 0:
        out[nf] = fi
        nf += 1
    atari = _has_orth(idx, 2)
    la = 0
    if atari or tree:
        la = _libs_after(color, nxt, head, libs, mark, meta, q, c, 3)
    if atari and la >= 2:
        out[nf] = F_SAVE
        nf += 1
    if has_nak:
        shape, border = _nakade_shape(color, mark, meta, w, q, cells)
        if shape >= 0:
            fi = _hslot(nak_tab, shape | (np.int64(0 if border == c else 1) << NAK_OWNER_SHIFT))
            if fi >= 0:
                out[nf] = fi
                nf += 1
    last = meta[M_LAST]
    if last >= 0:
        dr = q // w - last // w
        dc = q % w - last % w
        d = abs(dr) + abs(dc)
        if d <= 2 and rcode >= 0:
            j = DPOS[(dr + 2) * 5 + dc + 2]
            s = NBR_SLOT[j]
            if s >= 0:
                out[nf] = F_NEIGHBOUR + s
                nf += 1
            if rrow >= 0:
                fi = resp_fi[rrow, j]
                if fi >= 0:
                    out[nf] = F_RESPONSE
                    out[nf + 1] = fi
                    nf += 2
        if tree:
            out[nf] = F_DIST + min(d, DIST_CAP) - 1
            nf += 1
    if tree:
        if la == 1:
            out[nf] = F_SELF_ATARI
            nf += 1
        last2 = meta[M_LAST2]
        if last2 >= 0:
            d2 = abs(q // w - last2 // w) + abs(q % w - last2 % w)
            out[nf] = F_DIST + DIST_CAP + min(d2, DIST_CAP) - 1
            nf += 1
        fi = _hslot(dia_tab, _diamond_code(color, head, libs, q, c, w, n, qs))
        if fi >= 0:
            out[nf] = fi
            nf += 1
    return nf


@njit(cache=True)
def move_features(b, q, c, m, tree, out):
    """Active weight indices of move q (padded point or PASS) for player c into out
    (int32/int64[>= MAX_FEATURES]); returns their count. ``tree`` adds the tree features."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    pat3_fi, pat3_id, pat3_e, resp_tab, resp_fi, resp_e, nak_tab, dia_tab, weights, wexp, flags = m
    qs = np.empty(12, dtype=np.int64)
    cells = np.empty(8, dtype=np.int64)
    rcode = _response_code(color, head, libs, meta, c, qs)
    rrow = _hslot(resp_tab, rcode) if rcode >= 0 else -1
    return _features(color, nxt, head, libs, mark, meta, q, c, rcode, rrow, pat3_fi, resp_fi,
                     nak_tab, dia_tab, flags[1] != 0, tree and flags[0] != 0, qs, cells, out)


@njit(cache=True)
def position_features(b, c, m, tree, acts, fptr, feats):
    """Candidates of a position for player c: every legal point (simple ko) then pass.
    acts[j] = action (row * N + col, N*N = pass), features of candidate j at
    feats[fptr[j]:fptr[j+1]] (fptr[0] must be set by the caller). Returns the candidate
    count. The training and the jitted policies share this code."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    pat3_fi, pat3_id, pat3_e, resp_tab, resp_fi, resp_e, nak_tab, dia_tab, weights, wexp, flags = m
    n = meta[M_N]
    w = meta[M_W]
    tr = tree and flags[0] != 0
    qs = np.empty(12, dtype=np.int64)
    cells = np.empty(8, dtype=np.int64)
    rcode = _response_code(color, head, libs, meta, c, qs)
    rrow = _hslot(resp_tab, rcode) if rcode >= 0 else -1
    tmp = np.empty(MAX_FEATURES, dtype=np.int64)
    k = 0
    for r in range(n):
        for cc in range(n):
            p = (r + 1) * w + cc + 1
            if color[p] != EMPTY or not is_legal(b, p, c):
                continue
            nf = _features(color, nxt, head, libs, mark, meta, p, c, rcode, rrow, pat3_fi,
                           resp_fi, nak_tab, dia_tab, flags[1] != 0, tr, qs, cells, tmp)
            acts[k] = r * n + cc
            f0 = fptr[k]
            for i in range(nf):
                feats[f0 + i] = tmp[i]
            fptr[k + 1] = f0 + nf
            k += 1
    acts[k] = n * n
    feats[fptr[k]] = F_PASS
    fptr[k + 1] = fptr[k] + 1
    return k + 1


@njit(cache=True)
def _policy(b, m, tree, out):
    """Softmax of the model over legal moves and pass into out[N*N+1]; illegal points 0."""
    n = b[8][M_N]
    if out.shape[0] != n * n + 1:
        raise ValueError("policy output must have N*N+1 entries")
    pat3_fi, pat3_id, pat3_e, resp_tab, resp_fi, resp_e, nak_tab, dia_tab, weights, wexp, flags = m
    acts = np.empty(n * n + 1, dtype=np.int64)
    fptr = np.empty(n * n + 2, dtype=np.int64)
    feats = np.empty((n * n + 1) * MAX_FEATURES, dtype=np.int64)
    fptr[0] = 0
    k = position_features(b, b[8][M_TOMOVE], m, tree, acts, fptr, feats)
    logit = np.empty(k)
    mx = -np.inf
    for j in range(k):
        s = 0.0
        for i in range(fptr[j], fptr[j + 1]):
            s += weights[feats[i]]
        logit[j] = s
        mx = max(mx, s)
    z = 0.0
    for j in range(k):
        logit[j] = np.exp(logit[j] - mx)
        z += logit[j]
    out[:] = 0.0
    for j in range(k):
        out[acts[j]] = logit[j] / z


@njit(cache=True)
def rollout_probs(b, m, out):
    """The rollout policy's softmax for the side to move (float[N*N+1], legal points and
    pass, illegal points 0), from model arrays m; tree-only features left out."""
    _policy(b, m, False, out)


@njit(cache=True)
def tree_priors(b, m, out):
    """The tree policy's softmax for the side to move (float32[N*N+1]): the priors of a new
    tree node. Uses the tree features when the model has them."""
    _policy(b, m, True, out)


# ---------------------------------------------------------------------------------------
# Rollouts: incremental per-point weights

@njit(cache=True, _nrt=False, inline="always")
def _base_pair(color, nxt, head, libs, mark, meta, w, q, ib, pat3_id, pat3_e, wexp):
    """Rollout weights of the 3x3 and save-atari features of the empty point q, whose raw
    3x3 index for black is ib, for black and white (exp domain, 0 where rollouts never
    play); the nakade factor is kept apart."""
    row = _u(pat3_id[_u(ib)])
    eb = pat3_e[row, 0]
    ew = pat3_e[row, 1]
    # with the save-atari factor; 0 when no chain of the player's in atari touches q
    sb = pat3_e[row, 2]
    sw = pat3_e[row, 3]
    if sb > 0.0 and _libs_after(color, nxt, head, libs, mark, meta, q, BLACK, 2) >= 2:
        eb = sb
    if sw > 0.0 and _libs_after(color, nxt, head, libs, mark, meta, q, WHITE, 2) >= 2:
        ew = sw
    return eb, ew


@njit(cache=True, _nrt=False)
def _nakade_pair(color, mark, meta, w, q, ib, nak_tab, wexp, cells):
    """Nakade factors of the empty point q (raw 3x3 index ib for black) for black and white,
    and 1.0 when q lies in an eye space (0.0 otherwise), each point on its own (a flood of
    its region): the from-scratch computation."""
    eb = 1.0
    ew = 1.0
    if not _nakade_maybe(ib):
        return eb, ew, 0.0
    shape, border = _nakade_shape(color, mark, meta, w, q, cells)
    if shape < 0:
        return eb, ew, 0.0
    own = np.int64(0)
    opp = np.int64(1) << NAK_OWNER_SHIFT
    fb = _hslot(nak_tab, shape | (own if border == BLACK else opp))
    if fb >= 0:
        eb = wexp[fb]
    fw = _hslot(nak_tab, shape | (own if border == WHITE else opp))
    if fw >= 0:
        ew = wexp[fw]
    return eb, ew, 1.0


@njit(cache=True, _nrt=False)
def _nakade_region(color, w, cells, cnt, nak_tab, wexp, nakm, prow, pcol):
    """Nakade factors (nakm[0 / 1, p], black / white) of every point of one empty region,
    listed in cells[:cnt] (cnt <= NAKADE_MAX): one region, one shape, one border. nakm[2, p]
    becomes 1 when the region is an eye space (its factors may differ from 1), else 0."""
    border = _region_border(color, w, cells, cnt)
    if cnt < NAKADE_MIN or (border != BLACK and border != WHITE):
        for i in range(cnt):
            nakm[0, cells[i]] = 1.0
            nakm[1, cells[i]] = 1.0
            nakm[2, cells[i]] = 0.0
        return
    rmin = 1 << 30
    cmin = 1 << 30
    for j in range(cnt):
        rmin = min(rmin, prow[cells[j]])
        cmin = min(cmin, pcol[cells[j]])
    bitmap = np.int64(0)
    for j in range(cnt):
        bitmap |= np.int64(1) << ((prow[cells[j]] - rmin) * 6 + pcol[cells[j]] - cmin)
    own = np.int64(0)
    opp = np.int64(1) << NAK_OWNER_SHIFT
    for j in range(cnt):
        key = bitmap | (np.int64((prow[cells[j]] - rmin) * 6 + pcol[cells[j]] - cmin)
                        << NAK_POS_SHIFT)
        fb = _hslot(nak_tab, key | (own if border == BLACK else opp))
        fw = _hslot(nak_tab, key | (own if border == WHITE else opp))
        nakm[0, cells[j]] = wexp[fb] if fb >= 0 else 1.0
        nakm[1, cells[j]] = wexp[fw] if fw >= 0 else 1.0
        nakm[2, cells[j]] = 1.0


@njit(cache=True, inline="always")
def _add(color, rmark, st, rlist, nr, q):
    """Put the empty point q on this move's recompute list once (stones have no weight, and
    the one that just got its stone is cleared by the caller); returns the new length."""
    if color[_u(q)] == EMPTY and rmark[_u(q)] != st:
        rmark[_u(q)] = st
        rlist[_u(nr)] = q
        return nr + 1
    return nr


@njit(cache=True, _nrt=False)
def _add_libs(color, nxt, libs, mark, meta, rmark, st, rlist, nr, w, h):
    """Put the liberties of the chain headed by h on the recompute list. The walk along the
    chain stops once all libs[h] of them were seen: a chain in atari is often done after a
    stone or two."""
    seen = _stamp(meta)
    want = libs[_u(h)]
    found = 0
    s = h
    while True:
        for t in (s - w, s - 1, s + 1, s + w):
            if color[_u(t)] == EMPTY and mark[_u(t)] != seen:
                mark[_u(t)] = seen
                found += 1
                nr = _add(color, rmark, st, rlist, nr, t)
        if found >= want:
            break
        s = nxt[_u(s)]
        if s == h:
            break
    return nr


@njit(cache=True, _nrt=False)
def _rows_exact(n, w, wts, rows):
    """Exact row sums rows[:, :n] and their totals rows[:, n]."""
    t0 = 0.0
    t1 = 0.0
    for r in range(n):
        _sum_row(n, w, wts, rows, r)
        t0 += rows[0, r]
        t1 += rows[1, r]
    rows[0, n] = t0
    rows[1, n] = t1


@njit(cache=True, _nrt=False)
def _rp_init(color, nxt, head, libs, mark, empt, meta, pat3_id, pat3_e, nak_tab, wexp, has_nak,
             cells, wts, rows, nakm):
    """Weights of every point from scratch (nakade point by point), exact row sums."""
    n = meta[M_N]
    w = meta[M_W]
    for i in range(wts.shape[1]):
        wts[0, i] = 0.0
        wts[1, i] = 0.0
        nakm[0, i] = 1.0
        nakm[1, i] = 1.0
        nakm[2, i] = 0.0
    for i in range(meta[M_NEMPTY]):
        q = empt[i]
        ib = _pat3_index(color, head, libs, w, q, BLACK)
        eb, ew = _base_pair(color, nxt, head, libs, mark, meta, w, q, ib, pat3_id, pat3_e, wexp)
        if has_nak:
            fb, fw, eye = _nakade_pair(color, mark, meta, w, q, ib, nak_tab, wexp, cells)
            nakm[0, q] = fb
            nakm[1, q] = fw
            nakm[2, q] = eye
            eb *= fb
            ew *= fw
        wts[0, q] = eb
        wts[1, q] = ew
    _rows_exact(n, w, wts, rows)


@njit(cache=True, _nrt=False, inline="always")
def _diamond_factors(color, head, libs, meta, c, resp_tab, resp_e, qs, doff, prow, pcol):
    """The previous-move features (neighbour, response) of player c's candidates as factors
    on the weights of the 12 points of L's diamond: the row of resp_e whose entry j is the
    factor of diamond cell j (the point at offset DIAMOND_DR[j], DIAMOND_DC[j] from L), or
    -1 when there is no previous stone (no factors). qs[j] gets the point of diamond cell j
    (0 for an off-board cell: point 0 is a frame corner, whose weight is always 0)."""
    n = meta[M_N]
    w = meta[M_W]
    last = meta[M_LAST]
    if last < 0 or color[_u(last)] == EMPTY:
        return -1
    rl = prow[_u(last)] + 1  # padded row and column
    cl = pcol[_u(last)] + 1
    if 3 <= rl <= n - 2 and 3 <= cl <= n - 2:
        # the whole diamond is on the board: no bounds to check
        rcode = np.int64(0)
        for j in range(12):
            q = last + doff[j]
            qs[j] = q
            rcode |= ORTH_T[_u(c - 1), _okey(color, head, libs, q)] << (3 * j)
    else:
        rcode = _diamond_code_rc(color, head, libs, rl, cl, c, w, n, qs)
        for j in range(12):
            qs[j] = max(qs[j], 0)
    rrow = _hslot(resp_tab, rcode | (np.int64(_lib_class(libs[_u(head[_u(last)])])) << 36))
    if rrow < 0:
        rrow = resp_e.shape[0] - 1  # no response pattern: the neighbour factors alone
    return rrow


@njit(cache=True, _nrt=False)
def _draw(n, w, ci, wts, rows, rng, rrow, rl, cl, resp_e, drow):
    """A point drawn with probability proportional to wts[ci], or PASS when all are 0. With
    rrow >= 0 the weights of the diamond points around board point (rl, cl) (board row /
    column) count multiplied by the factors resp_e[rrow] (``_diamond_factors``), drow[dr + 2]
    being what that adds to row rl + dr: nothing is written for the factors, so nothing has
    to be undone. rows[ci, n] is the total of the row sums, kept up to date by the caller."""
    ov = rrow >= 0
    exact = False
    while True:
        total = rows[ci, _u(n)]
        if ov:
            total += drow[0] + drow[1] + drow[2] + drow[3] + drow[4]
        if total <= 0.0:
            if exact:
                return PASS
            # maybe only rounding residue of the running sums: look again with exact ones
            _rows_exact(n, w, wts, rows)
            exact = True
            continue
        x = rand_float(rng) * total
        r = 0
        while r < n - 1:
            v = rows[ci, _u(r)]
            if ov and -2 <= r - rl <= 2:
                v += drow[_u(r - rl + 2)]
            if v > 0.0:
                if x < v:
                    break
                x -= v
            r += 1
        base = (r + 1) * w + 1
        dr = r - rl
        if ov and -2 <= dr <= 2:
            # the row crosses the diamond: factors on the columns within 2 - |dr| of cl
            reach = 2 - abs(dr)
            p = -1
            for k in range(n):
                wk = wts[ci, _u(base + k)]
                dc = k - cl
                if -reach <= dc <= reach and wk > 0.0:  # (L itself, at 0, 0, is a stone)
                    wk *= resp_e[_u(rrow), _u(DPOS[_u((dr + 2) * 5 + dc + 2)])]
                if wk > 0.0:
                    p = base + k
                    if x < wk:
                        break
                    x -= wk
        else:
            p = _pick_in_row(wts, ci, base, n, x)
        if p >= 0:
            return p
        # only rounding residue was left in this row: make the sums exact and draw again
        _rows_exact(n, w, wts, rows)
        exact = True


@njit(cache=True, _nrt=False)
def _rp_moves(color, nxt, head, libs, csize, empt, eidx, mark, meta, rng, pat3_id, pat3_e,
              resp_tab, resp_e, nak_tab, wexp, has_nak, wts, rows, rmark, stamp, caps, chk,
              drow, qs, rcells, rlist, prow, pcol, nakm, nmark, doff, limit):
    """Draw and play rollout moves, keeping the weights exact, until two passes in a row or
    ``limit`` moves (one call per rollout: a call per move would copy the ~30 arrays each
    time). Returns the last move (PASS when the rollout had no move). The arrays are the
    board's, the model's and the ``rollout_scratch`` ones."""
    n = meta[M_N]
    w = meta[M_W]
    p = PASS
    moves = 0
    while meta[M_PASSES] < 2 and moves < limit:
        moves += 1
        if (moves & 63) == 0:
            _rows_exact(n, w, wts, rows)  # no drift from the incremental row sums
        c = meta[M_TOMOVE]
        ci = _u(c - 1)
        ko = meta[M_KO]
        kold = 0.0
        krow = 0.0
        kr = 0
        kact = ko >= 0 and meta[M_KO_COLOR] == c and wts[ci, _u(ko)] > 0.0
        if kact:
            kold = wts[ci, _u(ko)]
            kr = prow[_u(ko)]
            krow = rows[ci, _u(kr)]
            rows[ci, _u(kr)] = krow - kold
            rows[ci, _u(n)] -= kold
            wts[ci, _u(ko)] = 0.0
        rrow = _diamond_factors(color, head, libs, meta, c, resp_tab, resp_e, qs, doff, prow,
                                pcol)
        rl = 0
        cl = 0
        if rrow >= 0:
            last = meta[M_LAST]
            rl = prow[_u(last)]
            cl = pcol[_u(last)]
            for i in range(5):
                drow[i] = 0.0
            for j in range(12):
                wq = wts[ci, _u(qs[j])]
                drow[_u(DIAMOND_DR[j] + 2)] += wq * resp_e[_u(rrow), j] - wq
        p = _draw(n, w, ci, wts, rows, rng, rrow, rl, cl, resp_e, drow)
        if kact:
            wts[ci, _u(ko)] = kold
            rows[ci, _u(kr)] = krow
            rows[ci, _u(n)] += kold
        if p == PASS:
            _pass(meta, c)
            continue

        opp = 3 - c
        st = stamp[0] + 1
        stamp[0] = st
        # before the move: stones it captures, chains whose liberty class it may change
        ncap = 0
        nchk = 0
        nr = 0
        rmark[_u(p)] = st  # p gets a stone: never on the list
        g0 = -1
        g1 = -1
        h0 = -1
        h1 = -1
        h2 = -1
        for q in (p - w, p - 1, p + 1, p + w):
            v = color[_u(q)]
            if v == opp:
                h = head[_u(q)]
                lq = libs[_u(h)]
                if lq == 1:
                    new, h0, h1, h2 = _new_head(h, h0, h1, h2)
                    if not new:
                        continue
                    s = h
                    while True:
                        caps[_u(ncap)] = s
                        ncap += 1
                        for t in (s - w, s - 1, s + 1, s + w):
                            if color[_u(t)] == c and libs[_u(head[_u(t)])] <= 2:
                                chk[_u(nchk)] = t
                                nchk += 1
                        s = nxt[_u(s)]
                        if s == h:
                            break
                elif lq <= 3:
                    chk[_u(nchk)] = q
                    nchk += 1
            elif v == c:
                h = head[_u(q)]
                if libs[_u(h)] <= 2 and h != g0 and h != g1:
                    # an own chain with 1 or 2 liberties joins p's chain, so its liberties
                    # change class whatever the count after the move: listed now, from its
                    # own stones (a chain with 3 or more keeps its class unless p's chain
                    # ends with 2 or fewer, which the walk after the move covers)
                    g1 = g0
                    g0 = h
                    nr = _add_libs(color, nxt, libs, mark, meta, rmark, st, rlist, nr, w, h)
        _play(color, nxt, head, libs, csize, empt, eidx, mark, meta, p, c)
        # p holds a stone now: its weights go (no other stone has any)
        up = _u(p)
        r = _u(prow[up])
        rows[0, r] -= wts[0, up]
        rows[1, r] -= wts[1, up]
        rows[0, _u(n)] -= wts[0, up]
        rows[1, _u(n)] -= wts[1, up]
        wts[0, up] = 0.0
        wts[1, up] = 0.0
        # the other empty points whose features may have changed
        for q in (p - w - 1, p - w, p - w + 1, p - 1, p + 1, p + w - 1, p + w, p + w + 1):
            nr = _add(color, rmark, st, rlist, nr, q)
        for i in range(ncap):
            s = caps[i]
            for q in (s - w - 1, s - w, s - w + 1, s - 1, s, s + 1, s + w - 1, s + w, s + w + 1):
                nr = _add(color, rmark, st, rlist, nr, q)
        for i in range(nchk):
            t = chk[i]
            if color[_u(t)] != EMPTY:
                nr = _add_libs(color, nxt, libs, mark, meta, rmark, st, rlist, nr, w, head[_u(t)])
        hp = head[_u(p)]
        if libs[_u(hp)] <= 2:
            nr = _add_libs(color, nxt, libs, mark, meta, rmark, st, rlist, nr, w, hp)
        if has_nak:
            # nakade factors change only in the regions the move touched: each captured
            # chain is an empty region now; the regions next to the move shrank or lost
            # their one-colour border
            for i in range(ncap):
                nakm[0, _u(caps[i])] = 1.0
                nakm[1, _u(caps[i])] = 1.0
                nakm[2, _u(caps[i])] = 0.0
            for i in range(ncap):
                s = caps[i]
                if nmark[_u(s)] == st:
                    continue
                k = _region_size(color, mark, meta, w, s, rcells, NAKADE_MAX, 0)
                for j in range(min(k, NAKADE_MAX)):
                    nmark[_u(rcells[j])] = st
                if k <= NAKADE_MAX:
                    _nakade_region(color, w, rcells, k, nak_tab, wexp, nakm, prow, pcol)
            # p was empty: if its region was an eye space, each piece the move leaves is at
            # most NAKADE_MAX - 1 points and is redone whole; a piece of a region that was
            # not one (flag 0 throughout, factors 1) needs work only if it is one now, so its
            # flood stops at the first sign that it is not
            was = nakm[2, _u(p)] != 0.0
            nakm[0, _u(p)] = 1.0
            nakm[1, _u(p)] = 1.0
            nakm[2, _u(p)] = 0.0
            for e in (p - w, p - 1, p + 1, p + w):
                if color[_u(e)] != EMPTY or nmark[_u(e)] == st:
                    continue
                if was:
                    k = _region_size(color, mark, meta, w, e, rcells, NAKADE_MAX, 0)
                else:
                    # the piece borders p, so it can only be an eye space of c's
                    if not _eye_piece_maybe(color, w, e, opp):
                        continue
                    # flooded only until an opponent stone or a seventh point shows
                    k = _region_size(color, mark, meta, w, e, rcells, NAKADE_MAX, opp)
                    if k < NAKADE_MIN:
                        continue
                if k > NAKADE_MAX:
                    continue
                for j in range(k):
                    nmark[_u(rcells[j])] = st
                    nr = _add(color, rmark, st, rlist, nr, rcells[j])
                _nakade_region(color, w, rcells, k, nak_tab, wexp, nakm, prow, pcol)
        t0 = 0.0
        t1 = 0.0
        for i in range(nr):
            q = rlist[i]
            ib = _pat3_index(color, head, libs, w, q, BLACK)
            eb, ew = _base_pair(color, nxt, head, libs, mark, meta, w, q, ib, pat3_id, pat3_e, wexp)
            uq = _u(q)
            if has_nak:
                eb *= nakm[0, uq]
                ew *= nakm[1, uq]
            r = _u(prow[uq])
            d0 = eb - wts[0, uq]
            d1 = ew - wts[1, uq]
            rows[0, r] += d0
            rows[1, r] += d1
            t0 += d0
            t1 += d1
            wts[0, uq] = eb
            wts[1, uq] = ew
        rows[0, _u(n)] += t0
        rows[1, _u(n)] += t1
    return p


def rollout_scratch(n):
    """Per-thread working arrays of the rollouts on an n x n board."""
    ww = (n + 2) * (n + 2)
    return (np.zeros((2, ww), dtype=np.float64),  # weights per colour (black, white) and point
            np.zeros((2, n + 1), dtype=np.float64),  # their row sums (board rows 0..N-1), total
            np.zeros(ww, dtype=np.int64),  # stamp of the move that last recomputed a point
            np.zeros(1, dtype=np.int64),  # current stamp
            np.zeros(ww, dtype=np.int64),  # stones captured by the move
            np.zeros(4 * ww + 8, dtype=np.int64),  # stones whose chain's liberties to recompute
            np.zeros(5, dtype=np.float64),  # what they add to the rows L - 2 .. L + 2
            np.zeros(12, dtype=np.int64),  # diamond points around the previous move
            np.zeros(8, dtype=np.int64),  # eye-space points of a nakade feature
            np.zeros(8, dtype=np.int64),  # points of an empty region next to the move
            np.zeros(ww, dtype=np.int64),  # points to recompute after a move
            np.arange(ww, dtype=np.int64) // (n + 2) - 1,  # board row of each point
            np.arange(ww, dtype=np.int64) % (n + 2) - 1,  # board column of each point
            np.ones((3, ww), dtype=np.float64),  # nakade factors (black, white); eye-space flag
            np.zeros(ww, dtype=np.int64),  # stamp of the move that last redid a point's region
            DIAMOND_DR * (n + 2) + DIAMOND_DC)  # offset of each diamond cell


@njit(cache=True)
def rollout_init(b, m, scr):
    """Fill the scratch weights for board b from scratch."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    pat3_fi, pat3_id, pat3_e, resp_tab, resp_fi, resp_e, nak_tab, dia_tab, weights, wexp, flags = m
    (wts, rows, rmark, stamp, caps, chk, drow, qs, cells, rcells, rlist, prow, pcol,
     nakm, nmark, doff) = scr
    _rp_init(color, nxt, head, libs, mark, empt, meta, pat3_id, pat3_e, nak_tab, wexp,
             flags[1] != 0, cells, wts, rows, nakm)


@njit(cache=True)
def rollout_step(b, rng, m, scr):
    """One rollout move on b (weights in scr must be current: ``rollout_init``). Returns
    the move played (PASS when the rollout had no move, or the game had ended)."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    pat3_fi, pat3_id, pat3_e, resp_tab, resp_fi, resp_e, nak_tab, dia_tab, weights, wexp, flags = m
    (wts, rows, rmark, stamp, caps, chk, drow, qs, cells, rcells, rlist, prow, pcol,
     nakm, nmark, doff) = scr
    return _rp_moves(color, nxt, head, libs, csize, empt, eidx, mark, meta, rng, pat3_id, pat3_e,
                     resp_tab, resp_e, nak_tab, wexp, flags[1] != 0, wts, rows, rmark, stamp,
                     caps, chk, drow, qs, rcells, rlist, prow, pcol, nakm, nmark,
                     doff, 1)


@njit(cache=True)
def rollout_base_weights(b, m, out):
    """From scratch, for tests: out[0 / 1, p] = move-local rollout weight of point p for
    black / white (what the incremental rollout state holds)."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    pat3_fi, pat3_id, pat3_e, resp_tab, resp_fi, resp_e, nak_tab, dia_tab, weights, wexp, flags = m
    n = meta[M_N]
    rows = np.zeros((2, n + 1))
    cells = np.empty(16, dtype=np.int64)
    nakm = np.ones((3, out.shape[1]))
    _rp_init(color, nxt, head, libs, mark, empt, meta, pat3_id, pat3_e, nak_tab, wexp,
             flags[1] != 0, cells, out, rows, nakm)


@njit(cache=True)
def rollout_move_weights(b, m, out):
    """From scratch: the weight of every action (float64[N*N+1]; pass 0) in the next
    rollout draw for the side to move, previous-move features and ko included."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    pat3_fi, pat3_id, pat3_e, resp_tab, resp_fi, resp_e, nak_tab, dia_tab, weights, wexp, flags = m
    n = meta[M_N]
    w = meta[M_W]
    c = meta[M_TOMOVE]
    scr_w = np.zeros((2, color.shape[0]))
    rows = np.zeros((2, n + 1))
    cells = np.empty(16, dtype=np.int64)
    _rp_init(color, nxt, head, libs, mark, empt, meta, pat3_id, pat3_e, nak_tab, wexp,
             flags[1] != 0, cells, scr_w, rows, np.ones((3, scr_w.shape[1])))
    qs = np.empty(12, dtype=np.int64)
    doff = DIAMOND_DR * w + DIAMOND_DC
    prow = np.arange(w * w) // w - 1
    pcol = np.arange(w * w) % w - 1
    rrow = _diamond_factors(color, head, libs, meta, c, resp_tab, resp_e, qs, doff, prow, pcol)
    if rrow >= 0:
        for j in range(12):
            q = qs[j]
            if q > 0:
                scr_w[c - 1, q] *= resp_e[rrow, j]
    ko = meta[M_KO]
    if ko >= 0 and meta[M_KO_COLOR] == c:
        scr_w[c - 1, ko] = 0.0
    out[:] = 0.0
    for r in range(n):
        for k in range(n):
            out[r * n + k] = scr_w[c - 1, (r + 1) * w + k + 1]


@njit(cache=True)
def _policy_playout(b, rng, komi, m, scr):
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    pat3_fi, pat3_id, pat3_e, resp_tab, resp_fi, resp_e, nak_tab, dia_tab, weights, wexp, flags = m
    (wts, rows, rmark, stamp, caps, chk, drow, qs, cells, rcells, rlist, prow, pcol,
     nakm, nmark, doff) = scr
    has_nak = flags[1] != 0
    if meta[M_PASSES] >= 2:
        # a finished game is played on, so that its dead stones get captured
        meta[M_PASSES] = 0
    n = meta[M_N]
    _rp_init(color, nxt, head, libs, mark, empt, meta, pat3_id, pat3_e, nak_tab, wexp, has_nak,
             cells, wts, rows, nakm)
    _rp_moves(color, nxt, head, libs, csize, empt, eidx, mark, meta, rng, pat3_id, pat3_e, resp_tab,
              resp_e, nak_tab, wexp, has_nak, wts, rows, rmark, stamp, caps, chk,
              drow, qs, rcells, rlist, prow, pcol, nakm, nmark, doff, 3 * n * n)
    return playout_score(b, komi)


@njit(cache=True)
def policy_playout(b, rng, komi, m, scr):
    """Play b (mutated) to the end with the rollout policy from its side to move; returns
    the Tromp-Taylor score, black minus white minus komi. scr: ``rollout_scratch(N)``."""
    return _policy_playout(b, rng, komi, m, scr)


@njit(cache=True, nogil=True)
def policy_rollout_batch(boards, lo, hi, expand, terminal, priors, rollout, score, rng, komi,
                         m, mt, want_priors, scratch, scr, want_owner, owner_tmp, owner_sum):
    """Rows lo..hi-1 of a leaf batch: tree priors from model arrays mt for rows to expand
    (with ``want_priors``), one policy rollout (model arrays m) per non-terminal row from a
    copy of its position.
    ``rollout`` gets the result for the side to move at the leaf, ``score`` the final score
    (black's view). Releases the GIL: disjoint row ranges may run in parallel threads."""
    for i in range(lo, hi):
        b = batch_board(boards, i)
        c = b[8][M_TOMOVE]
        if want_priors and expand[i]:
            _policy(b, mt, True, priors[i])
        if terminal[i]:
            continue
        copy_into(scratch, b)
        s = _policy_playout(scratch, rng, komi, m, scr)
        record_playout(scratch, c, s, i, rollout, score, want_owner, owner_tmp, owner_sum)


# ---------------------------------------------------------------------------------------
# Replaying game records for training (jitted; nets.rollout_train drives them)

@njit(cache=True)
def harvest_chunk(n, offsets, moves, colors, soff, spts, scol, g0, g1, tree, canon3,
                   pat3_counts, resp_out, nak_out, dia_out, stats):
    """Count the 3x3 patterns of every candidate of games g0..g1-1 into pat3_counts (by
    canonical index) and list the other canonical keys; stats gets positions, dropped games.
    Returns (response keys, nakade keys, diamond keys) listed."""
    nr = 0
    nk = 0
    nd = 0
    keys = np.empty(4, dtype=np.int64)
    qs = np.empty(12, dtype=np.int64)
    cells = np.empty(8, dtype=np.int64)
    w = n + 2
    for g in range(g0, g1):
        b = new_board(n)
        if place_setup(b, spts, scol, soff[g], soff[g + 1]) != SETUP_OK:
            stats[1] += 1
            continue
        color, nxt, head, libs, csize, empt, eidx, mark, meta = b
        for i in range(offsets[g], offsets[g + 1]):
            c = colors[i]
            p = moves[i]
            meta[M_TOMOVE] = c
            if p != PASS and (color[p] != EMPTY or not is_legal(b, p, c)):
                stats[1] += 1
                break
            stats[0] += 1
            rcode = _response_code(color, head, libs, meta, c, qs)
            for r in range(n):
                for k in range(n):
                    q = (r + 1) * w + k + 1
                    if color[q] != EMPTY or not is_legal(b, q, c):
                        continue
                    _candidate_keys(color, head, libs, mark, meta, q, c, rcode, tree, qs, cells,
                                    keys)
                    pat3_counts[canon3[keys[0]]] += 1
                    if keys[1] >= 0:
                        resp_out[nr] = canonical_key(1, keys[1])
                        nr += 1
                    if keys[2] >= 0:
                        nak_out[nk] = canonical_key(2, keys[2])
                        nk += 1
                    if keys[3] >= 0:
                        dia_out[nd] = canonical_key(3, keys[3])
                        nd += 1
            play(b, p, c)
    return nr, nk, nd


@njit(cache=True)
def extract_chunk(n, offsets, moves, colors, soff, spts, scol, g0, g1, m, tree, pos_cptr,
                   labels, acts, fptr, feats, stats):
    """Candidates and features of every position of games g0..g1-1 (CSR: candidates of
    position i at pos_cptr[i]:pos_cptr[i+1], features of candidate j at fptr[j]:fptr[j+1]);
    labels[i] = index of the played move among the position's candidates. Returns the
    number of positions; stats gets dropped games."""
    npos = 0
    pos_cptr[0] = 0
    fptr[0] = 0
    w = n + 2
    for g in range(g0, g1):
        b = new_board(n)
        if place_setup(b, spts, scol, soff[g], soff[g + 1]) != SETUP_OK:
            stats[1] += 1
            continue
        color = b[0]
        for i in range(offsets[g], offsets[g + 1]):
            c = colors[i]
            p = moves[i]
            b[8][M_TOMOVE] = c
            if p != PASS and (color[p] != EMPTY or not is_legal(b, p, c)):
                stats[1] += 1
                break
            c0 = pos_cptr[npos]
            k = position_features(b, c, m, tree, acts[c0:], fptr[c0:], feats)
            a = n * n if p == PASS else (p // w - 1) * n + (p % w - 1)
            lab = -1
            for j in range(k):
                if acts[c0 + j] == a:
                    lab = j
                    break
            labels[npos] = lab
            pos_cptr[npos + 1] = c0 + k
            npos += 1
            play(b, p, c)
    return npos


# ---------------------------------------------------------------------------------------
# The model: dictionaries and weights (Python side)

class RolloutModel:
    """Pattern dictionaries and weights of a rollout or tree policy.

    ``keys[g]``: sorted canonical keys of pattern group g (``GROUPS``); ``weights[g]``: one
    float32 weight per key; ``fixed``: float32[N_FIXED] weights of the fixed features;
    ``tree``: the tree features were trained (a rollout policy has none); ``info``: free
    JSON-able facts about training. The weight vector is ``fixed`` followed by the groups in
    ``GROUPS`` order (``offsets``)."""

    def __init__(self, keys, weights=None, fixed=None, tree=False, info=None):
        self.tree = bool(tree)
        self.keys = {}
        self.weights = {}
        for g in GROUPS:
            k = np.ascontiguousarray(keys.get(g, np.zeros(0, np.int64)), dtype=np.int64)
            if k.ndim != 1:
                raise RolloutModelError(f"{g} keys must be one-dimensional")
            if len(k) and (np.any(np.diff(k) <= 0) or k[0] < 0 or k[-1] >= KEY_LIMITS[g]):
                raise RolloutModelError(f"{g} keys must be sorted, distinct and in range")
            if not self.tree and g in TREE_GROUPS and len(k):
                raise RolloutModelError(f"a rollout policy has no {g} patterns")
            wg = np.zeros(len(k), np.float32) if weights is None or g not in weights else \
                np.ascontiguousarray(weights[g], dtype=np.float32)
            if wg.shape != k.shape:
                raise RolloutModelError(f"{g}: {len(k)} keys but {wg.shape} weights")
            self.keys[g] = k
            self.weights[g] = wg
        self.fixed = (np.zeros(N_FIXED, np.float32) if fixed is None
                      else np.ascontiguousarray(fixed, dtype=np.float32))
        if self.fixed.shape != (N_FIXED,):
            raise RolloutModelError(f"fixed weights must have shape ({N_FIXED},)")
        self.info = dict(info or {})
        self.offsets = {}
        off = N_FIXED
        for g in GROUPS:
            self.offsets[g] = off
            off += len(self.keys[g])
        self.n_weights = off
        vec = self.weight_vector()
        if not np.all(np.isfinite(vec)) or np.any(np.abs(vec) > 50):
            raise RolloutModelError("weights must be finite and within +-50")
        self._arrays = None

    def weight_vector(self):
        """float64[F]: fixed weights, then each group's in GROUPS order."""
        return np.concatenate([self.fixed] + [self.weights[g] for g in GROUPS]).astype(np.float64)

    def with_weights(self, vec, info=None):
        """The same dictionaries with the weight vector ``vec``."""
        vec = np.asarray(vec, dtype=np.float64)
        if vec.shape != (self.n_weights,):
            raise RolloutModelError(f"weight vector must have {self.n_weights} entries")
        ws = {g: vec[self.offsets[g]:self.offsets[g] + len(self.keys[g])] for g in GROUPS}
        return RolloutModel(self.keys, ws, vec[:N_FIXED], self.tree,
                            self.info if info is None else info)

    def sizes(self):
        """Dictionary sizes by group."""
        return {g: int(len(self.keys[g])) for g in GROUPS}

    def describe(self):
        kind = "tree policy" if self.tree else "rollout policy"
        parts = ", ".join(f"{g} {len(self.keys[g])}" for g in GROUPS
                          if self.tree or g not in TREE_GROUPS)
        return f"{kind}: {self.n_weights} weights ({parts})"

    @property
    def arrays(self):
        """The model arrays for the jitted functions (``MODEL_FIELDS``), built once."""
        if self._arrays is None:
            self._arrays = _build_arrays(self)
        return self._arrays


def _group_variants(g, keys):
    """All 8 symmetric variants of each key: int64[len, 8]."""
    out = np.empty((len(keys), 8), dtype=np.int64)
    _variants_many(GROUPS.index(g), np.ascontiguousarray(keys, dtype=np.int64), out)
    return out


def _build_arrays(model):
    vec = model.weight_vector()
    wexp = np.exp(vec)
    # 3x3: direct tables over raw indices
    pat3_fi = np.full(PAT3_SIZE, -1, dtype=np.int32)
    k3 = model.keys["pat3"]
    idx = model.offsets["pat3"] + np.arange(len(k3), dtype=np.int64)
    var = _group_variants("pat3", k3)
    for k in range(8):
        pat3_fi[var[:, k]] = idx
    e = np.where(pat3_fi >= 0, wexp[np.maximum(pat3_fi, 0)], 1.0) * playable_pat3()
    # both players' weights side by side, indexed by black's view, and the same with the
    # save-atari factor: the distinct rows in a small table behind a 2-byte index (a direct
    # table of them would take 10 MB and would not stay in cache)
    raw = np.arange(PAT3_SIZE)
    ew = e[swap_pat3(raw)]
    # an own chain (code 2) / an opponent chain (code 5, white's own) in atari next to the point
    orth = [(raw >> (3 * k)) & 7 for k in range(4)]
    atari_b = np.any([o == 2 for o in orth], axis=0)
    atari_w = np.any([o == 5 for o in orth], axis=0)
    pairs = np.stack([e, ew, np.where(atari_b, e * wexp[F_SAVE], 0.0),
                      np.where(atari_w, ew * wexp[F_SAVE], 0.0)], axis=1)
    pat3_e, pat3_id = np.unique(pairs, axis=0, return_inverse=True)
    pat3_id = pat3_id.reshape(-1).astype(np.uint16 if len(pat3_e) <= 1 << 16 else np.int32)
    # response: rows of 12 positions per raw diamond code
    kr = model.keys["response"]
    var = _group_variants("response", kr).ravel()
    fis = np.repeat(model.offsets["response"] + np.arange(len(kr), dtype=np.int64), 8)
    codes = var & ((1 << RESP_POS_SHIFT) - 1)
    pos = var >> RESP_POS_SHIFT
    ucodes, inv = np.unique(codes, return_inverse=True)
    resp_fi = np.full((len(ucodes), 12), -1, dtype=np.int32)
    resp_fi[inv, pos] = fis
    resp_tab = hash_table(ucodes, np.arange(len(ucodes)))
    nbr = np.array([wexp[F_NEIGHBOUR + k] if k >= 0 else 1.0 for k in NBR_SLOT])
    resp_e = np.tile(nbr, (len(ucodes) + 1, 1))
    hit = resp_fi >= 0
    resp_e[:-1][hit] *= wexp[resp_fi[hit]] * wexp[F_RESPONSE]
    tabs = []
    for g in ("nakade", "diamond"):
        kg = model.keys[g]
        var = _group_variants(g, kg).ravel()
        fis = np.repeat(model.offsets[g] + np.arange(len(kg), dtype=np.int64), 8)
        tabs.append(hash_table(var, fis))
    flags = np.array([int(model.tree), int(len(model.keys["nakade"]) > 0), model.n_weights, 0],
                     dtype=np.int64)
    return (pat3_fi, pat3_id, pat3_e, resp_tab, resp_fi, resp_e, tabs[0], tabs[1], vec, wexp, flags)


def save_rollout_model(model, path):
    """Write a model file (.npz, written atomically)."""
    data = {"format": np.array(FORMAT), "version": np.array(VERSION, dtype=np.int64),
            "tree": np.array(model.tree), "fixed": model.fixed,
            "fixed_names": np.array(FIXED_NAMES), "info": np.array(json.dumps(model.info))}
    for g in GROUPS:
        data[f"{g}_keys"] = model.keys[g]
        data[f"{g}_weights"] = model.weights[g]
    with atomic.atomic_file(path, "wb") as f:  # a file object: savez adds no ".npz"
        np.savez_compressed(f, **data)


def load_rollout_model(path):
    """Read a model file written by ``save_rollout_model``; ``RolloutModelError`` says what is
    wrong with a missing, corrupt or foreign file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise RolloutModelError(f"{path}: no such model file") from None
    except Exception as e:  # zip / npy errors come in many types
        raise RolloutModelError(f"{path}: not a readable rollout policy model ({e})") from None
    try:
        if str(data["format"]) != FORMAT:
            raise RolloutModelError(f"{path}: not a rollout policy model")
        version = int(data["version"])
        if version != VERSION:
            raise RolloutModelError(f"{path}: model file version {version}, this engine reads "
                                    f"version {VERSION}")
        keys = {g: data[f"{g}_keys"] for g in GROUPS}
        weights = {g: data[f"{g}_weights"] for g in GROUPS}
        info = json.loads(str(data["info"]))
        model = RolloutModel(keys, weights, data["fixed"], bool(data["tree"]), info)
    except KeyError as e:
        raise RolloutModelError(f"{path}: model file lacks {e}") from None
    except (TypeError, ValueError) as e:
        if isinstance(e, RolloutModelError):
            raise RolloutModelError(f"{path}: {e}") from None
        raise RolloutModelError(f"{path}: bad model file ({e})") from None
    for g in GROUPS:
        k = model.keys[g]
        if len(k) and not np.array_equal(canonical_keys(g, k), k):
            raise RolloutModelError(f"{path}: {g} keys are not canonical pattern codes")
    return model


# ---------------------------------------------------------------------------------------
# Evaluator for engine.search

class PolicyRolloutEvaluator(RolloutEvaluator):
    """Rollouts with the rollout policy from each leaf, tree-policy priors for new nodes
    (``engine.search`` evaluator protocol). ``model``: a RolloutModel or a model file path;
    ``tree_model``: the priors' model (default: ``model``); ``priors=False`` leaves
    ``batch.priors`` alone, for a caller whose network writes them anyway. The rows of a
    batch are split into contiguous ranges, one per thread, each with its own seeded random
    stream, so a search is reproducible for a given thread count. Threading, ownership sums and
    the batch split are ``engine.search.RolloutEvaluator``'s; only the playout kernel differs."""

    uses_value = False
    uses_rollout = True
    independent_samples = True

    def __init__(self, model, threads=1, seed=0, tree_model=None, priors=True):
        if isinstance(model, (str, os.PathLike)):
            model = load_rollout_model(model)
        if isinstance(tree_model, (str, os.PathLike)):
            tree_model = load_rollout_model(tree_model)
        if not isinstance(model, RolloutModel):
            raise TypeError("model must be a RolloutModel or a model file path")
        if int(threads) < 1:
            raise ValueError("threads must be at least 1")
        self.model = model
        self.tree_model = tree_model if tree_model is not None else model
        self.threads = int(threads)
        self.seed = int(seed)
        self.priors = bool(priors)
        self._m = model.arrays
        self._mt = self.tree_model.arrays
        self._rngs = [new_rng(self.seed * 1000003 + t) for t in range(self.threads)]
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None
        self._n = 0
        self._want_owner = False
        self._owner_count = 0
        self._scr = []

    def _scratch(self, n):
        if n != self._n:
            super()._scratch(n)
            self._scr = [rollout_scratch(n) for _ in range(self.threads)]

    def _run(self, batch, t, lo, hi):
        policy_rollout_batch(batch.boards, lo, hi, batch.expand, batch.terminal, batch.priors,
                             batch.rollout, batch.score, self._rngs[t], batch.komi, self._m,
                             self._mt, self.priors, self._boards[t], self._scr[t],
                             self._want_owner,
                             self._owner_tmp[t], self._owner_sum[t])
