"""Playouts (rollouts) in Numba: play a position to the end and score it.

``run_playout(b, rng, mode, komi, pat_weights)`` plays from ``b`` (mutated: pass a copy)
with the side to move in ``b``'s meta, until two passes in a row or a cap of 3*N*N
playout moves, and returns the Tromp-Taylor area score, black minus white minus komi.
A board whose game has already ended (two passes) is played on as if the passes had not
happened: the final owner of each point then shows which stones were dead, which is what
ownership and dead-stone detection need. Playouts know only simple ko (the fast board's
rule); superko is the tree's business.

Modes
-----
MODE_LIGHT (0)
    Uniform among the legal moves that do not fill an own single-point eye (``is_eye``);
    pass when there is none.
MODE_HEURISTIC (1)
    Light plus the tactical layer of MoGo / Pachi style playouts, tried in this order,
    each rule taken with a fixed probability so the playouts stay varied:

    1. capture: an opponent chain in atari at or next to the last move, or next to our
       own previous move (an atari left unanswered), is captured;
    2. save: an own chain next to the last move in atari escapes, by capturing an
       adjacent chain in atari or by extending when the extension gains liberties;
    3. shape: a 3x3 pattern of ``PAT3_GOOD`` (hane, cut, side moves) on an empty
       neighbour of the last move, unless it is a self-atari;
    4. otherwise a light random move that does not put a chain of ``SELF_ATARI_MIN`` or
       more stones in atari.
MODE_PATTERN (2)
    Weighted random choice: a legal non-eye point ``p`` is chosen with probability
    proportional to ``pat_weights[pattern_code(b, p, c)]``. A learned rollout policy plugs
    in here (``weights_from_logits`` turns softmax logits into weights; a zero weight
    means never). Weights are kept per point and per colour and refreshed only around
    the points a move changed; sampling walks row sums, so a move costs O(N) work.

3x3 pattern code
----------------
``pattern_code(b, p, c)`` describes the 8 neighbours of ``p`` for the player ``c`` to
move, 2 bits each: 0 empty, 1 own stone, 2 opponent stone, 3 off board. Neighbour ``i``
sits at bits ``2i, 2i+1``, in reading order NW, N, NE, W, E, SW, S, SE (N is towards the
top row). Codes range over 4^8 = 65536 values, so a weight table is ``float32[65536]``.
The centre (the move) is empty and not encoded. ``transform_code`` maps a code through
the 8 board symmetries and ``symmetrize`` averages a table over them;
``code_from_rows`` writes a code from a small 3x3 diagram.

Speed
-----
The hot functions take the board's arrays one by one instead of the board tuple:
pulling arrays out of a tuple costs Numba reference-count updates, which were most of
the time of a playout move. A light move is drawn without replacement from the
empty-point list (a rejected point is swapped behind the live range, ``eidx`` kept in
step) and played by ``engine.board._play``, the board's own move kernel. The
final score reads only the empty points, which at the end of a playout are nearly all
single-point eyes or shared liberties; a region scan is the fallback.

Also here: ``heuristic_priors`` (prior distribution over moves for the tree search),
``flat_mc_move`` (flat Monte-Carlo move choice, a baseline player and the benchmark's
yardstick of playout quality) and ``playout_owner_sum`` (ownership summed over many
playouts, for ``engine.scoring``).
"""
import numpy as np
from numba import njit

from engine.board import (BLACK, EMPTY, OFF, PASS, WHITE, M_KO, M_KO_COLOR, M_LAST, M_LAST2,
                          M_N, M_NEMPTY, M_PASSES, M_TOMOVE, M_W, area_owner, area_score,
                          copy_board, copy_into, is_eye, is_legal, _chains_allow,
                          _diagonals_hold, _libs_after, _new_head, _orth_colors, _pass, _play,
                          _u)
from engine.rng import rand_below, rand_float

MODE_LIGHT = 0
MODE_HEURISTIC = 1
MODE_PATTERN = 2
MODES = {"light": MODE_LIGHT, "heuristic": MODE_HEURISTIC, "pattern": MODE_PATTERN}

# Heuristic playout policy: probability of applying a rule when it has a candidate.
P_CAPTURE = 0.9  # capture an opponent chain in atari near the last two moves
P_SAVE = 0.9  # save an own chain in atari next to the last move
P_PATTERN = 0.9  # play a good 3x3 shape next to the last move
P_SELF_ATARI_REJECT = 0.95  # reject a random move that self-ataris a big chain
SELF_ATARI_MIN = 3  # random moves avoid putting chains this big (after the move) in atari

# Heuristic priors for the tree: a legal point starts at weight 1.
PRIOR_PASS = 0.05  # weight of pass
PRIOR_CAPTURE = 6.0  # added for a capture, plus PRIOR_CAPTURE_STONE per stone captured
PRIOR_CAPTURE_STONE = 1.0
PRIOR_SAVE = 5.0  # added for extending an own chain in atari to two or more liberties
PRIOR_ATARI = 1.5  # factor for an atari on an opponent chain that is not a self-atari
PRIOR_PATTERN = 3.0  # factor for a good 3x3 shape
PRIOR_NEAR_LAST = 1.5  # factor for the 8 neighbours of the last move
PRIOR_SELF_ATARI = 0.1  # factor for a self-atari of a chain of two or more stones
PRIOR_EYE_FILL = 0.01  # factor for filling an own single-point eye
PRIOR_EDGE_EMPTY = 0.3  # factor for a first-line point with an empty 3x3 around it


# ---------------------------------------------------------------------------------------
# 3x3 patterns (Python side: tables, symmetries)

_CELLS = ((0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2))  # code order


def _grid_variants(rows):
    """The 8 rotations / reflections of a 3x3 grid (lists of lists)."""
    g = [list(r) for r in rows]
    out = []
    for _ in range(4):
        g = [list(r) for r in zip(*g[::-1])]
        out.append(g)
        out.append([r[::-1] for r in g])
    return out


def _build_pat3_table():
    """Boolean table over pattern codes: the MoGo / michi playout shapes (hane, cut, side
    moves) in all rotations and reflections, for either colour. In the source, ``X`` and
    ``O`` are the two colours, ``x`` / ``o`` "not X" / "not O", ``#`` off board, ``?`` any."""
    src = [
        ["XOX", "...", "???"],  # hane: enclosing hane
        ["XO.", "...", "?.?"],  # hane: non-cutting hane
        ["XO?", "X..", "x.?"],  # hane: magari
        [".O.", "X..", "..."],  # katatsuke or diagonal attachment
        ["XO?", "O.o", "?o?"],  # cut1: unprotected cut
        ["XO?", "O.X", "???"],  # cut1: peeped cut
        ["?X?", "O.O", "ooo"],  # cut2 (de)
        ["OX?", "o.O", "???"],  # cut keima
        ["X.?", "O.?", "##?"],  # side: chase
        ["OX?", "X.O", "###"],  # side: block side cut
        ["?X?", "x.O", "###"],  # side: block side connection
        ["?XO", "x.x", "###"],  # side: sagari
        ["?OX", "X.O", "###"],  # side: cut
    ]
    allowed = {".": (0,), "X": (1,), "O": (2,), "#": (3,), "x": (0, 2, 3), "o": (0, 1, 3),
               "?": (0, 1, 2, 3)}
    swap = {"X": "O", "O": "X", "x": "o", "o": "x"}
    table = np.zeros(65536, dtype=np.uint8)
    for pat in src:
        for g in _grid_variants(pat):
            for swapped in (False, True):
                codes = np.zeros(1, dtype=np.int64)
                for i, (r, c) in enumerate(_CELLS):
                    ch = swap.get(g[r][c], g[r][c]) if swapped else g[r][c]
                    vals = np.array(allowed[ch], dtype=np.int64) << (2 * i)
                    codes = (codes[:, None] + vals[None, :]).ravel()
                table[codes] = 1
    return table


# 1 where the 3x3 neighbourhood (code for the player to move) is a good playout shape.
PAT3_GOOD = _build_pat3_table()


def code_from_rows(rows):
    """Pattern code from a 3x3 diagram for the player to move: ``X`` own stone, ``O``
    opponent stone, ``.`` empty, ``#`` off board; the centre must be ``.``."""
    if len(rows) != 3 or any(len(r) != 3 for r in rows):
        raise ValueError("a pattern diagram is 3 rows of 3 characters")
    if rows[1][1] != ".":
        raise ValueError("the centre of a pattern is the (empty) move point")
    val = {".": 0, "X": 1, "O": 2, "#": 3}
    code = 0
    for i, (r, c) in enumerate(_CELLS):
        ch = rows[r][c]
        if ch not in val:
            raise ValueError(f"unknown pattern character {ch!r}")
        code |= val[ch] << (2 * i)
    return code


def _cell_perm(k):
    """Where each of the 8 neighbour cells goes under board symmetry k."""
    grid = [[0, 1, 2], [3, -1, 4], [5, 6, 7]]
    if k >= 4:
        grid = [r[::-1] for r in grid]
    for _ in range(k % 4):
        grid = [list(r) for r in zip(*grid[::-1])]
    perm = [0] * 8
    for i, (r, c) in enumerate(_CELLS):
        perm[grid[r][c]] = i
    return perm


def transform_code(code, k):
    """Code of the same neighbourhood after board symmetry k (0..7): a left-right mirror
    when k >= 4, then k % 4 clockwise quarter turns. ``code`` may be an int or an array."""
    perm = _cell_perm(k)
    if isinstance(code, (int, np.integer)):
        return sum(((int(code) >> (2 * i)) & 3) << (2 * perm[i]) for i in range(8))
    code = np.asarray(code, dtype=np.int64)
    out = np.zeros_like(code)
    for i in range(8):
        out |= ((code >> (2 * i)) & 3) << (2 * perm[i])
    return out


def symmetrize(weights):
    """Average a pattern table over the 8 board symmetries."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (65536,):
        raise ValueError(f"pattern weights must have shape (65536,), got {w.shape}")
    codes = np.arange(65536, dtype=np.int64)
    acc = np.zeros(65536)
    for k in range(8):
        acc += w[transform_code(codes, k)]
    return (acc / 8).astype(np.float32)


def weights_from_logits(logits):
    """Softmax logits per pattern code -> MODE_PATTERN weights (exp, largest weight 1)."""
    z = np.asarray(logits, dtype=np.float64)
    if z.shape != (65536,):
        raise ValueError(f"pattern logits must have shape (65536,), got {z.shape}")
    return np.exp(z - z.max()).astype(np.float32)


def default_pattern_weights(good=8.0):
    """MODE_PATTERN weights from the built-in shapes: 1 everywhere, ``good`` on PAT3_GOOD."""
    w = np.ones(65536, dtype=np.float32)
    w[PAT3_GOOD.astype(bool)] = good
    return w


def no_pattern_weights():
    """Placeholder weight table for the modes that do not read one."""
    return np.ones(1, dtype=np.float32)


def check_pattern_weights(pat_weights, mode):
    """The weight table a mode needs, as float32; a clear error for a bad one."""
    w = np.ascontiguousarray(pat_weights, dtype=np.float32)
    if mode == MODE_PATTERN:
        if w.shape != (65536,):
            raise ValueError(f"MODE_PATTERN needs float32[65536] weights, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("pattern weights must be finite and non-negative")
    elif mode not in (MODE_LIGHT, MODE_HEURISTIC):
        raise ValueError(f"unknown playout mode {mode}")
    return w


# ---------------------------------------------------------------------------------------
# Jitted helpers on the board's arrays

@njit(cache=True, inline="always")
def _swap_colors(x):
    """Swap the values 1 and 2 in every 2-bit field of a pattern code (black <-> white)."""
    d = (x ^ (x >> 1)) & 0x5555
    return x ^ (d | (d << 1))


@njit(cache=True, inline="always")
def _code_black(color, w, p):
    """Pattern code of p for black to move."""
    return (np.int32(color[_u(p - w - 1)])
            | (np.int32(color[_u(p - w)]) << 2)
            | (np.int32(color[_u(p - w + 1)]) << 4)
            | (np.int32(color[_u(p - 1)]) << 6)
            | (np.int32(color[_u(p + 1)]) << 8)
            | (np.int32(color[_u(p + w - 1)]) << 10)
            | (np.int32(color[_u(p + w)]) << 12)
            | (np.int32(color[_u(p + w + 1)]) << 14))


@njit(cache=True, inline="always")
def _code(color, w, p, c):
    x = _code_black(color, w, p)
    if c == WHITE:
        x = _swap_colors(x)
    return x


@njit(cache=True)
def pattern_code(b, p, c):
    """3x3 pattern code of point p for the player c to move (see the module docstring)."""
    return _code(b[0], b[8][M_W], p, c)


@njit(cache=True, _nrt=False)
def _ok(color, head, libs, w, p, c, ko, koc):
    """Legal for c (simple ko) and not an own real single-point eye (``is_eye``): the light
    playout test, reading each neighbour once."""
    cn, cw, ce, cs = _orth_colors(color, w, p)
    if cn == EMPTY or cw == EMPTY or ce == EMPTY or cs == EMPTY:
        return True
    if p == ko and c == koc:
        return False
    if ((cn == c or cn == OFF) and (cw == c or cw == OFF) and (ce == c or ce == OFF)
            and (cs == c or cs == OFF) and _diagonals_hold(color, w, p, c)):
        return False
    return _chains_allow(color, head, libs, w, p, c)


@njit(cache=True)
def light_ok(b, p, c):
    """True when p is a legal move for c that does not fill an own single-point eye."""
    meta = b[8]
    return _ok(b[0], b[2], b[3], meta[M_W], p, c, meta[M_KO], meta[M_KO_COLOR])


@njit(cache=True, inline="always")
def _swap_out(empt, eidx, k, m):
    """Exchange empty-list entries k and m (m is the new end of the live candidate range)."""
    p = empt[_u(k)]
    q = empt[_u(m)]
    empt[_u(k)] = q
    eidx[_u(q)] = k
    empt[_u(m)] = p
    eidx[_u(p)] = m


@njit(cache=True, _nrt=False, inline="always")
def _random_move(color, nxt, head, libs, csize, empt, eidx, mark, meta, c, rng, careful):
    """Draw empty points uniformly without replacement until one passes ``_ok`` and, when
    ``careful``, is not a self-atari of a chain of SELF_ATARI_MIN or more stones (such a point
    is turned down with probability P_SELF_ATARI_REJECT); PASS when none is left. A turned
    down point is swapped behind the live range of the empty-point list."""
    w = meta[M_W]
    ko = meta[M_KO]
    koc = meta[M_KO_COLOR]
    m = meta[M_NEMPTY]
    while m > 0:
        k = rand_below(rng, m)
        p = empt[_u(k)]
        if _ok(color, head, libs, w, p, c, ko, koc):
            if not (careful
                    and _self_atari(color, nxt, head, libs, csize, mark, meta, p, c,
                                    SELF_ATARI_MIN)
                    and rand_float(rng) < P_SELF_ATARI_REJECT):
                return p
        m -= 1
        _swap_out(empt, eidx, k, m)
    return PASS


@njit(cache=True, _nrt=False)
def _choose_light(color, nxt, head, libs, csize, empt, eidx, mark, meta, c, rng):
    return _random_move(color, nxt, head, libs, csize, empt, eidx, mark, meta, c, rng, False)


@njit(cache=True)
def choose_light(b, c, rng):
    """Uniform random legal move for c that does not fill an own single-point eye, or PASS.
    Reorders b's empty-point list (the set is unchanged)."""
    return _choose_light(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], c, rng)


@njit(cache=True, _nrt=False)
def _self_atari(color, nxt, head, libs, csize, mark, meta, p, c, minsize):
    """True when c playing p leaves its chain, of at least ``minsize`` stones, with one
    liberty."""
    w = meta[M_W]
    ne = 0
    size = 1
    h0 = -1
    h1 = -1
    h2 = -1
    for q in (p - w, p - 1, p + 1, p + w):
        cq = color[_u(q)]
        if cq == EMPTY:
            ne += 1
        elif cq == c:
            hq = head[_u(q)]
            if libs[_u(hq)] >= 3:
                return False
            new, h0, h1, h2 = _new_head(hq, h0, h1, h2)
            if new:
                size += csize[_u(hq)]
    if ne >= 2 or size < minsize:
        return False
    return _libs_after(color, nxt, head, libs, mark, meta, p, c, 2) < 2


@njit(cache=True, _nrt=False)
def _chain_liberty(color, nxt, w, h):
    """Some liberty of the chain headed by h (the only one when it is in atari)."""
    s = h
    while True:
        for q in (s - w, s - 1, s + 1, s + w):
            if color[_u(q)] == EMPTY:
                return q
        s = nxt[_u(s)]
        if s == h:
            break
    return -1


@njit(cache=True, inline="always")
def _reservoir(rng, found, pick, q):
    """One more candidate q for a uniform pick among candidates met one at a time (reservoir
    sampling): q replaces the pick with probability 1 / (candidates so far). Returns the new
    (count, pick)."""
    found += 1
    if rand_below(rng, found) == 0:
        pick = q
    return found, pick


@njit(cache=True, _nrt=False)
def _capture_move(color, nxt, head, libs, meta, c, last, last2, rng):
    """A move capturing an opponent chain in atari at or next to the last move, or next to
    our own previous move (an atari the opponent ignored), or -1."""
    w = meta[M_W]
    opp = 3 - c
    ko = meta[M_KO]
    koc = meta[M_KO_COLOR]
    found = 0
    pick = -1
    for q in (last, last - w, last - 1, last + 1, last + w,
              last2 - w, last2 - 1, last2 + 1, last2 + w):
        if q < 0 or color[_u(q)] != opp:
            continue
        h = head[_u(q)]
        if libs[_u(h)] != 1:
            continue
        lib = _chain_liberty(color, nxt, w, h)
        if lib == ko and c == koc:
            continue
        found, pick = _reservoir(rng, found, pick, lib)
    return pick


@njit(cache=True, _nrt=False)
def _save_move(color, nxt, head, libs, csize, mark, meta, c, last, rng):
    """A move saving an own chain in atari next to ``last`` (capture a neighbour chain in
    atari, or extend to two or more liberties), or -1."""
    w = meta[M_W]
    opp = 3 - c
    ko = meta[M_KO]
    koc = meta[M_KO_COLOR]
    found = 0
    pick = -1
    for q in (last - w, last - 1, last + 1, last + w):
        if color[_u(q)] != c:
            continue
        h = head[_u(q)]
        if libs[_u(h)] != 1:
            continue
        # capture an adjacent opponent chain in atari
        s = h
        while True:
            for r in (s - w, s - 1, s + 1, s + w):
                if color[_u(r)] == opp and libs[_u(head[_u(r)])] == 1:
                    lib = _chain_liberty(color, nxt, w, head[_u(r)])
                    if not (lib == ko and c == koc):
                        found, pick = _reservoir(rng, found, pick, lib)
            s = nxt[_u(s)]
            if s == h:
                break
        # extend
        lib = _chain_liberty(color, nxt, w, h)
        if lib == ko and c == koc:
            continue
        if _libs_after(color, nxt, head, libs, mark, meta, lib, c, 2) >= 2:
            found, pick = _reservoir(rng, found, pick, lib)
    return pick


@njit(cache=True, _nrt=False)
def _pattern_move(color, nxt, head, libs, csize, mark, meta, pat3, c, last, rng):
    """A good-shape move (``pat3``) on an empty neighbour of ``last`` that is legal, not an
    own eye and not a self-atari, or -1."""
    w = meta[M_W]
    ko = meta[M_KO]
    koc = meta[M_KO_COLOR]
    found = 0
    pick = -1
    for q in (last - w - 1, last - w, last - w + 1, last - 1, last + 1, last + w - 1,
              last + w, last + w + 1):
        if color[_u(q)] != EMPTY:
            continue
        if pat3[_code(color, w, q, c)] == 0:
            continue
        if not _ok(color, head, libs, w, q, c, ko, koc):
            continue
        if _self_atari(color, nxt, head, libs, csize, mark, meta, q, c, 1):
            continue
        found, pick = _reservoir(rng, found, pick, q)
    return pick


@njit(cache=True, _nrt=False)
def _choose_heuristic(color, nxt, head, libs, csize, empt, eidx, mark, meta, pat3, c, rng):
    last = meta[M_LAST]
    last2 = meta[M_LAST2]
    if (last >= 0 or last2 >= 0) and rand_float(rng) < P_CAPTURE:
        # a pass or no move maps to point 0, a frame corner with no stone near it
        p = _capture_move(color, nxt, head, libs, meta, c, max(last, 0), max(last2, 0), rng)
        if p >= 0:
            return p
    if last >= 0 and color[_u(last)] == 3 - c:
        if rand_float(rng) < P_SAVE:
            p = _save_move(color, nxt, head, libs, csize, mark, meta, c, last, rng)
            if p >= 0:
                return p
        if rand_float(rng) < P_PATTERN:
            p = _pattern_move(color, nxt, head, libs, csize, mark, meta, pat3, c, last, rng)
            if p >= 0:
                return p
    return _random_move(color, nxt, head, libs, csize, empt, eidx, mark, meta, c, rng, True)


@njit(cache=True)
def choose_heuristic(b, c, rng):
    """The MODE_HEURISTIC playout move for c (see the module docstring), or PASS."""
    return _choose_heuristic(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], PAT3_GOOD,
                             c, rng)


# ---------------------------------------------------------------------------------------
# Pattern mode: per-point weights for both colours, refreshed around changed points

@njit(cache=True, _nrt=False)
def _pat_refresh(color, w, p, pat_weights, wts, dirty):
    """Recompute both colours' weights of p (zero unless empty) and mark its row dirty."""
    if color[p] == EMPTY:
        x = _code_black(color, w, p)
        wts[0, p] = pat_weights[x]
        wts[1, p] = pat_weights[_swap_colors(x)]
    else:
        wts[0, p] = 0.0
        wts[1, p] = 0.0
    dirty[p // w - 1] = 1


@njit(cache=True, _nrt=False, inline="always")
def _sum_row(n, w, wts, rows, r):
    """rows[0 / 1, r] = the exact sums of both colours' weights wts[0 / 1] on board row r."""
    base = (r + 1) * w + 1
    s0 = 0.0
    s1 = 0.0
    for k in range(n):
        s0 += wts[0, base + k]
        s1 += wts[1, base + k]
    rows[0, r] = s0
    rows[1, r] = s1


@njit(cache=True, _nrt=False, inline="always")
def _pick_in_row(wts, ci, base, n, x):
    """Where x, an offset into the total of row weights wts[ci, base:base + n], falls: the
    point whose weight covers it; the last point with weight when rounding left x past the end;
    -1 when the row has no weight."""
    p = -1
    for k in range(n):
        wk = wts[ci, base + k]
        if wk > 0.0:
            p = base + k
            if x < wk:
                break
            x -= wk
    return p


@njit(cache=True, _nrt=False)
def _pat_rows(n, w, wts, rows, dirty):
    """Recompute the row sums of dirty rows (exact sums, so no drift)."""
    for r in range(n):
        if dirty[r] == 0:
            continue
        dirty[r] = 0
        _sum_row(n, w, wts, rows, r)


@njit(cache=True, _nrt=False)
def _pat_around(color, w, p, pat_weights, wts, dirty):
    """Refresh p and its 8 neighbours (frame points have no weight)."""
    for q in (p - w - 1, p - w, p - w + 1, p - 1, p, p + 1, p + w - 1, p + w, p + w + 1):
        if color[q] != OFF:
            _pat_refresh(color, w, q, pat_weights, wts, dirty)


@njit(cache=True, _nrt=False, inline="always")
def _row_total(rows, ci, n):
    t = 0.0
    for r in range(n):
        t += rows[ci, r]
    return t


@njit(cache=True, _nrt=False)
def _choose_pattern(color, head, libs, meta, c, rng, wts, rows, dirty, rejected):
    """Weighted draw over points for c. Illegal and own-eye points drawn are zeroed for
    this move and listed in ``rejected`` (the caller restores them); returns (move or
    PASS, number rejected)."""
    n = meta[M_N]
    w = meta[M_W]
    ko = meta[M_KO]
    koc = meta[M_KO_COLOR]
    ci = c - 1
    total = _row_total(rows, ci, n)
    nrej = 0
    while total > 0.0:
        x = rand_float(rng) * total
        r = 0
        while r < n - 1 and x >= rows[ci, r]:
            x -= rows[ci, r]
            r += 1
        p = _pick_in_row(wts, ci, (r + 1) * w + 1, n, x)
        if p < 0:
            # only rounding residue was left in this row: clear it and redraw
            rows[ci, r] = 0.0
            dirty[r] = 1
            total = _row_total(rows, ci, n)
            continue
        if _ok(color, head, libs, w, p, c, ko, koc):
            return p, nrej
        wp = wts[ci, p]
        wts[ci, p] = 0.0
        rows[ci, r] = max(0.0, rows[ci, r] - wp)
        dirty[r] = 1
        rejected[nrej] = p
        nrej += 1
        total = _row_total(rows, ci, n)
    return PASS, nrej


@njit(cache=True)
def _pattern_init(b, pat_weights):
    """Per-point weights for both colours, row sums and scratch for a pattern playout."""
    color = b[0]
    empt = b[5]
    meta = b[8]
    n = meta[M_N]
    w = meta[M_W]
    ww = w * w
    wts = np.zeros((2, ww), dtype=np.float64)
    rows = np.zeros((2, n), dtype=np.float64)
    dirty = np.ones(n, dtype=np.uint8)
    for i in range(meta[M_NEMPTY]):
        _pat_refresh(color, w, empt[i], pat_weights, wts, dirty)
    _pat_rows(n, w, wts, rows, dirty)
    return wts, rows, dirty


@njit(cache=True)
def choose_pattern(b, c, rng, pat_weights):
    """One MODE_PATTERN move for c from scratch (weights computed for the whole board), or
    PASS. For tests and analysis; playouts keep the weights up to date instead."""
    wts, rows, dirty = _pattern_init(b, pat_weights)
    rejected = np.empty(b[0].shape[0], dtype=np.int64)
    p, nrej = _choose_pattern(b[0], b[2], b[3], b[8], c, rng, wts, rows, dirty, rejected)
    return p


@njit(cache=True, _nrt=False)
def _pattern_step(color, nxt, head, libs, csize, empt, eidx, mark, meta, rng, pat_weights,
                  wts, rows, dirty, rejected, caps):
    """One MODE_PATTERN move for the side to move, keeping the weights and row sums
    up to date."""
    n = meta[M_N]
    w = meta[M_W]
    c = meta[M_TOMOVE]
    p, nrej = _choose_pattern(color, head, libs, meta, c, rng, wts, rows, dirty, rejected)
    for i in range(nrej):
        _pat_refresh(color, w, rejected[i], pat_weights, wts, dirty)
    if p == PASS:
        _pass(meta, c)
    else:
        # stones about to be captured: their points and neighbours change pattern
        ncap = 0
        h0 = -1
        h1 = -1
        h2 = -1
        for q in (p - w, p - 1, p + 1, p + w):
            if color[q] == 3 - c and libs[head[q]] == 1:
                h = head[q]
                new, h0, h1, h2 = _new_head(h, h0, h1, h2)
                if not new:
                    continue
                s = h
                while True:
                    caps[ncap] = s
                    ncap += 1
                    s = nxt[s]
                    if s == h:
                        break
        _play(color, nxt, head, libs, csize, empt, eidx, mark, meta, p, c)
        _pat_around(color, w, p, pat_weights, wts, dirty)
        for i in range(ncap):
            _pat_around(color, w, caps[i], pat_weights, wts, dirty)
    _pat_rows(n, w, wts, rows, dirty)
    return p


@njit(cache=True)
def _pattern_playout(b, rng, komi, pat_weights):
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    n = meta[M_N]
    ww = color.shape[0]
    wts, rows, dirty = _pattern_init(b, pat_weights)
    rejected = np.empty(ww, dtype=np.int64)
    caps = np.empty(ww, dtype=np.int64)
    limit = 3 * n * n
    moves = 0
    while meta[M_PASSES] < 2 and moves < limit:
        _pattern_step(color, nxt, head, libs, csize, empt, eidx, mark, meta, rng, pat_weights,
                      wts, rows, dirty, rejected, caps)
        moves += 1
    return playout_score(b, komi)


# ---------------------------------------------------------------------------------------
# Playouts

@njit(cache=True)
def playout_score(b, komi):
    """Tromp-Taylor score (black minus white minus komi), fast when no empty point touches
    another (the usual end of a playout); ``area_score`` otherwise."""
    color = b[0]
    empt = b[5]
    meta = b[8]
    w = meta[M_W]
    s = 0
    for i in range(meta[M_NEMPTY]):
        p = empt[_u(i)]
        touch = 0
        for q in (p - w, p - 1, p + 1, p + w):
            cq = color[_u(q)]
            if cq == EMPTY:
                return area_score(b, komi)
            if cq != OFF:
                touch |= cq
        if touch == BLACK:
            s += 1
        elif touch == WHITE:
            s -= 1
    for i in range(color.shape[0]):
        v = color[_u(i)]
        if v == BLACK:
            s += 1
        elif v == WHITE:
            s -= 1
    return float(s) - komi


@njit(cache=True, inline="always")
def _play_out(b, rng, komi, heuristic):
    """Play b to the end with light moves, or heuristic ones when ``heuristic`` (a constant at
    each call site, so each playout compiles to its own loop); returns the score."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    pat3 = PAT3_GOOD
    limit = 3 * meta[M_N] * meta[M_N]
    moves = 0
    while meta[M_PASSES] < 2 and moves < limit:
        c = meta[M_TOMOVE]
        if heuristic:
            p = _choose_heuristic(color, nxt, head, libs, csize, empt, eidx, mark, meta, pat3,
                                  c, rng)
        else:
            p = _choose_light(color, nxt, head, libs, csize, empt, eidx, mark, meta, c, rng)
        if p == PASS:
            _pass(meta, c)
        else:
            _play(color, nxt, head, libs, csize, empt, eidx, mark, meta, p, c)
        moves += 1
    return playout_score(b, komi)


@njit(cache=True)
def _light_playout(b, rng, komi):
    return _play_out(b, rng, komi, False)


@njit(cache=True)
def _heuristic_playout(b, rng, komi):
    return _play_out(b, rng, komi, True)


@njit(cache=True)
def run_playout(b, rng, mode, komi, pat_weights):
    """Play b to the end with the given mode from its side to move; return black's
    Tromp-Taylor score minus komi. ``pat_weights`` (float32[65536]) is read by MODE_PATTERN
    only; other modes accept any float32 array."""
    if b[8][M_PASSES] >= 2:
        # a finished game is played on, so that its dead stones get captured
        b[8][M_PASSES] = 0
    if mode == MODE_LIGHT:
        return _light_playout(b, rng, komi)
    if mode == MODE_HEURISTIC:
        return _heuristic_playout(b, rng, komi)
    if mode == MODE_PATTERN:
        if pat_weights.shape[0] != 65536:
            raise ValueError("MODE_PATTERN needs float32[65536] pattern weights")
        return _pattern_playout(b, rng, komi, pat_weights)
    raise ValueError("unknown playout mode")


# ---------------------------------------------------------------------------------------
# Users of playouts

@njit(cache=True)
def flat_mc_move(b, playouts, mode, komi, pat_weights, rng):
    """Flat Monte-Carlo choice for b's side to move: every legal non-eye move gets an equal
    share of ``playouts`` (at least one each); the move winning most often is returned
    (ties broken at random), PASS when there is no such move. b is not changed."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    c = meta[M_TOMOVE]
    w = meta[M_W]
    ne = meta[M_NEMPTY]
    cand = np.empty(ne, dtype=np.int64)
    k = 0
    for i in range(ne):
        p = empt[i]
        if _ok(color, head, libs, w, p, c, meta[M_KO], meta[M_KO_COLOR]):
            cand[k] = p
            k += 1
    if k == 0:
        return PASS
    per = max(1, playouts // k)
    s = copy_board(b)
    best = PASS
    best_v = -1.0
    for i in range(k):
        wins = 0
        for j in range(per):
            copy_into(s, b)
            _play(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], cand[i], c)
            v = run_playout(s, rng, mode, komi, pat_weights)
            if (v > 0 and c == BLACK) or (v < 0 and c == WHITE):
                wins += 1
        val = wins + 0.5 * rand_float(rng)  # random tie-break
        if val > best_v:
            best_v = val
            best = cand[i]
    return best


@njit(cache=True)
def playout_owner_sum(b, playouts, mode, komi, pat_weights, rng, own_sum):
    """Run ``playouts`` playouts from b (not changed; an ended game is played on) and add
    each final Tromp-Taylor owner (+1 black, -1 white,
    0 neutral; row-major from the top) into ``own_sum`` (float64[N*N]). Returns the mean
    score, black minus white minus komi."""
    n = b[8][M_N]
    s = copy_board(b)
    owner = np.empty(n * n, dtype=np.int8)
    total = 0.0
    for i in range(playouts):
        copy_into(s, b)
        total += run_playout(s, rng, mode, komi, pat_weights)
        area_owner(s, owner)
        for j in range(n * n):
            own_sum[j] += owner[j]
    return total / max(playouts, 1)


@njit(cache=True)
def heuristic_priors(b, c, out):
    """Prior distribution over moves for c into ``out`` (float32[N*N+1]; action row*N+col
    from the top left, N*N = pass): weight 1 per legal point, raised for captures, atari
    escapes, ataris, good 3x3 shapes and the neighbourhood of the last move, lowered for
    self-atari, own-eye filling and lone first-line points; pass gets PRIOR_PASS;
    illegal points (``is_legal``, simple ko) get 0. Normalised to sum 1."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    n = meta[M_N]
    w = meta[M_W]
    if out.shape[0] != n * n + 1:
        raise ValueError("heuristic_priors: out must have N*N+1 entries")
    out[:] = 0.0
    opp = 3 - c
    last = meta[M_LAST]
    total = PRIOR_PASS
    for i in range(meta[M_NEMPTY]):
        p = empt[i]
        if not is_legal(b, p, c):
            continue
        wgt = 1.0
        cap = 0
        save = False
        atari = False
        size = 1
        x0 = -1
        x1 = -1
        x2 = -1
        o0 = -1
        o1 = -1
        o2 = -1
        for q in (p - w, p - 1, p + 1, p + w):
            cq = color[q]
            if cq == opp:
                h = head[q]
                new, x0, x1, x2 = _new_head(h, x0, x1, x2)
                if not new:
                    continue
                if libs[h] == 1:
                    cap += csize[h]
                elif libs[h] == 2:
                    atari = True
            elif cq == c:
                h = head[q]
                new, o0, o1, o2 = _new_head(h, o0, o1, o2)
                if not new:
                    continue
                size += csize[h]
                if libs[h] == 1:
                    save = True
        la = _libs_after(color, nxt, head, libs, mark, meta, p, c, 3)
        if cap > 0:
            wgt += PRIOR_CAPTURE + PRIOR_CAPTURE_STONE * cap
        if save and la >= 2:
            wgt += PRIOR_SAVE
        if atari and la >= 2:
            wgt *= PRIOR_ATARI
        if la == 1 and cap == 0 and size >= 2:
            wgt *= PRIOR_SELF_ATARI
        if is_eye(b, p, c):
            wgt *= PRIOR_EYE_FILL
        if PAT3_GOOD[_code(color, w, p, c)] != 0:
            wgt *= PRIOR_PATTERN
        if last >= 0:
            d = p - last
            if d == -w - 1 or d == -w or d == -w + 1 or d == -1 or d == 1 or d == w - 1 \
                    or d == w or d == w + 1:
                wgt *= PRIOR_NEAR_LAST
        r = p // w - 1
        k = p % w - 1
        if r == 0 or k == 0 or r == n - 1 or k == n - 1:
            lonely = True
            for q in (p - w - 1, p - w, p - w + 1, p - 1, p + 1, p + w - 1, p + w, p + w + 1):
                if color[q] == BLACK or color[q] == WHITE:
                    lonely = False
                    break
            if lonely:
                wgt *= PRIOR_EDGE_EMPTY
        out[r * n + k] = wgt
        total += wgt
    out[n * n] = PRIOR_PASS
    inv = 1.0 / total
    for a in range(n * n + 1):
        out[a] = out[a] * inv
