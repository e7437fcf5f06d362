"""Fast Go board in Numba: the layer the tree search and the playouts run on.

Layout
------
A board of size N (2..19) lives on a padded flat array of (N+2)^2 points. Point
``p = (row + 1) * W + (col + 1)`` with ``W = N + 2``; row 0 is the *top* row (GTP row N).
The frame around the board holds ``OFF`` so neighbour loops never bounds-check.

A board is a plain tuple of arrays (see ``new_board``), so every function here is
jitted and takes arrays only:

    color  int8[W*W]   EMPTY / BLACK / WHITE / OFF per point
    nxt    int32[W*W]  next stone of the same chain (circular linked list)
    head   int32[W*W]  chain head of each stone
    libs   int32[W*W]  exact liberty count, valid at the chain head
    csize  int32[W*W]  stone count, valid at the chain head
    empt   int32[W*W]  list of empty points (first meta[M_NEMPTY] entries)
    eidx   int32[W*W]  position of each empty point inside ``empt``
    mark   int32[W*W]  scratch stamps for flood fills and de-duplication
    meta   int64[16]   scalars, indexed by the M_* constants below

Liberties are exact, not pseudo-liberties: placing a stone, merging chains and removing
captured chains all update counts so that ``libs[head]`` equals the number of distinct
empty points adjacent to the chain. ``check_consistency`` in ``engine.reference``
recomputes everything from scratch; tests assert it after every move of random games.

This layer knows only simple ko. Superko, history, undo, komi and scoring policy live in
``engine.game.GameState``.

Moves are padded point indices; ``PASS`` (-1) passes. Colours: BLACK = 1, WHITE = 2 and
the opponent of ``c`` is ``3 - c``.
"""
import numpy as np
from numba import njit

EMPTY = 0
BLACK = 1
WHITE = 2
OFF = 3
PASS = -1
RESIGN = -2
MAX_N = 19
MAX_W = MAX_N + 2

# meta slots
M_N = 0  # board size N
M_W = 1  # padded width N + 2
M_KO = 2  # simple-ko point forbidden to M_KO_COLOR for one move, -1 if none
M_KO_COLOR = 3  # colour that may not play at M_KO
M_TOMOVE = 4  # colour to move next
M_HASH = 5  # Zobrist hash of the stones (no side to move, no ko)
M_NEMPTY = 6  # number of valid entries in ``empt``
M_LAST = 7  # last move (padded point or PASS), -2 before any move
M_LAST2 = 8  # move before the last one
M_CAPB = 9  # stones captured by black
M_CAPW = 10  # stones captured by white
M_STAMP = 11  # current stamp value for ``mark``
M_PASSES = 12  # consecutive passes at the end of the move sequence
M_MOVES = 13  # moves played on this board (passes included)

# Zobrist keys: one row per colour value, one column per padded point of the largest board.
# Fixed seed so hashes are identical across processes and runs.
ZOBRIST = np.random.RandomState(20160127).randint(
    np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=(4, MAX_W * MAX_W), dtype=np.int64
)
ZOBRIST[0, :] = 0
ZOBRIST[3, :] = 0
# Extra keys used by ``situation_hash``: side to move and the ko point.
ZOBRIST_SIDE = np.int64(0x5BD1E9955BD1E995)
ZOBRIST_KO = np.random.RandomState(7).randint(
    np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=MAX_W * MAX_W, dtype=np.int64
)


@njit(cache=True)
def new_board(n):
    """Empty board of size n, black to move."""
    w = n + 2
    ww = w * w
    color = np.full(ww, OFF, dtype=np.int8)
    nxt = np.zeros(ww, dtype=np.int32)
    head = np.zeros(ww, dtype=np.int32)
    libs = np.zeros(ww, dtype=np.int32)
    csize = np.zeros(ww, dtype=np.int32)
    empt = np.zeros(ww, dtype=np.int32)
    eidx = np.full(ww, -1, dtype=np.int32)
    mark = np.zeros(ww, dtype=np.int32)
    meta = np.zeros(16, dtype=np.int64)
    k = 0
    for r in range(n):
        for c in range(n):
            p = (r + 1) * w + c + 1
            color[p] = EMPTY
            empt[k] = p
            eidx[p] = k
            k += 1
    meta[M_N] = n
    meta[M_W] = w
    meta[M_KO] = -1
    meta[M_KO_COLOR] = 0
    meta[M_TOMOVE] = BLACK
    meta[M_HASH] = 0
    meta[M_NEMPTY] = k
    meta[M_LAST] = -2
    meta[M_LAST2] = -2
    return (color, nxt, head, libs, csize, empt, eidx, mark, meta)


def clone_board(b):
    """A copy of board b, new arrays. From Python call this one (``GameState`` does): the
    jitted ``copy_board`` takes four times as long there, boxing each of its nine new arrays."""
    return (b[0].copy(), b[1].copy(), b[2].copy(), b[3].copy(), b[4].copy(),
            b[5].copy(), b[6].copy(), b[7].copy(), b[8].copy())


copy_board = njit(cache=True)(clone_board)  # the same copy, for jitted code


@njit(cache=True)
def copy_into(dst, src):
    """Overwrite ``dst`` with ``src`` (same size) without allocating."""
    dst[0][:] = src[0]
    dst[1][:] = src[1]
    dst[2][:] = src[2]
    dst[3][:] = src[3]
    dst[4][:] = src[4]
    dst[5][:] = src[5]
    dst[6][:] = src[6]
    dst[7][:] = src[7]
    dst[8][:] = src[8]


@njit(cache=True, inline="always")
def _copy_arrays(color, nxt, head, libs, csize, empt, eidx, mark, meta,
                 s0, s1, s2, s3, s4, s5, s6, s7, s8):
    """``copy_into`` for a board already taken apart (the hot loops of the search kernels):
    element by element, so no view or tuple is made per copy (see below)."""
    for p in range(color.shape[0]):
        color[p] = s0[p]
        nxt[p] = s1[p]
        head[p] = s2[p]
        libs[p] = s3[p]
        csize[p] = s4[p]
        empt[p] = s5[p]
        eidx[p] = s6[p]
        mark[p] = s7[p]
    for p in range(meta.shape[0]):
        meta[p] = s8[p]


# The per-move kernels take the board's arrays one by one rather than the tuple: unpacking
# a tuple inside a hot loop costs Numba reference-count updates, which dominated playout
# time. ``_nrt=False``: they never allocate. Their hottest loads index through ``_u``.

@njit(cache=True, inline="always")
def _u(i):
    """An index known to be >= 0, as unsigned. Numba adds a wrap-around for negative signed
    indices to every load and store (3-4 instructions, on the critical path of chained loads
    such as libs[head[q]]); an unsigned index has none. It made the rollouts about a fifth
    faster. Only for indices that cannot be negative: -1 would read far out of bounds."""
    return np.uint64(i)


@njit(cache=True, inline="always")
def _orth_colors(color, w, p):
    """Colours of the orthogonal neighbours of point p: (north, west, east, south)."""
    return color[_u(p - w)], color[_u(p - 1)], color[_u(p + 1)], color[_u(p + w)]


@njit(cache=True, inline="always")
def _stamp(meta):
    """A fresh stamp for ``mark`` (flood fills, de-duplication)."""
    meta[M_STAMP] += 1
    return np.int32(meta[M_STAMP])


@njit(cache=True, inline="always")
def _empt_remove(empt, eidx, meta, p):
    """Take p off the empty-point list (the last entry moves into its place)."""
    i = eidx[_u(p)]
    last = meta[M_NEMPTY] - 1
    q = empt[_u(last)]
    empt[_u(i)] = q
    eidx[_u(q)] = i
    eidx[_u(p)] = -1
    meta[M_NEMPTY] = last


@njit(cache=True, inline="always")
def _empt_add(empt, eidx, meta, p):
    """Append p to the empty-point list."""
    k = meta[M_NEMPTY]
    empt[_u(k)] = p
    eidx[_u(p)] = k
    meta[M_NEMPTY] = k + 1


@njit(cache=True, inline="always")
def _new_head(h, h0, h1, h2):
    """De-duplicate the chains around a point: h0, h1, h2 are the heads seen so far (-1 for a
    free slot). Returns (h not seen before, the heads with h recorded). A point has four
    neighbours, so three slots tell every head apart; a fourth distinct head, which can only
    come last, takes the third slot."""
    if h == h0 or h == h1 or h == h2:
        return False, h0, h1, h2
    if h0 == -1:
        return True, h, h1, h2
    if h1 == -1:
        return True, h0, h, h2
    return True, h0, h1, h


@njit(cache=True, inline="always")
def _chains_allow(color, head, libs, w, p, c):
    """A neighbour makes c's move at the empty point p legal, ko aside: an empty point, an own
    chain with a liberty to spare, or an opponent chain in atari (captured)."""
    for q in (p - w, p - 1, p + 1, p + w):
        cq = color[_u(q)]
        if cq == EMPTY:
            return True
        if cq == OFF:
            continue
        if cq == c:
            if libs[_u(head[_u(q)])] > 1:
                return True
        elif libs[_u(head[_u(q)])] == 1:
            return True
    return False


@njit(cache=True, inline="always")
def _diagonals_hold(color, w, p, c):
    """The diagonals of a point walled in by c keep it a real eye: fewer than two opponent
    stones among them, counting the edge as one."""
    bad = 0
    edge = 0
    for q in (p - w - 1, p - w + 1, p + w - 1, p + w + 1):
        cq = color[_u(q)]
        if cq == OFF:
            edge = 1
        elif cq == 3 - c:
            bad += 1
    return bad + edge < 2


@njit(cache=True)
def is_legal(b, p, c):
    """True when colour c may play at padded point p under simple ko (PASS is always legal)."""
    if p == PASS:
        return True
    color = b[0]
    if p < 0 or p >= color.shape[0] or color[p] != EMPTY:
        return False
    meta = b[8]
    if p == meta[M_KO] and c == meta[M_KO_COLOR]:
        return False
    return _chains_allow(color, b[2], b[3], meta[M_W], p, c)


@njit(cache=True, _nrt=False)
def _remove_chain(color, nxt, head, libs, empt, eidx, meta, h):
    """Remove the chain headed by h, giving liberties to the adjacent chains. Returns the
    stones removed."""
    w = meta[M_W]
    dead = color[_u(h)]
    n = 0
    s = h
    while True:
        color[_u(s)] = EMPTY
        meta[M_HASH] ^= ZOBRIST[_u(dead), _u(s)]
        _empt_add(empt, eidx, meta, s)
        h0 = -1
        h1 = -1
        h2 = -1
        for q in (s - w, s - 1, s + 1, s + w):
            cq = color[_u(q)]
            if cq == EMPTY or cq == OFF or cq == dead:
                continue
            hq = head[_u(q)]
            new, h0, h1, h2 = _new_head(hq, h0, h1, h2)
            if new:
                libs[_u(hq)] += 1
        n += 1
        s2 = nxt[_u(s)]
        nxt[_u(s)] = s
        head[_u(s)] = s
        s = s2
        if s == h:
            break
    return n


@njit(cache=True, _nrt=False)
def _play(color, nxt, head, libs, csize, empt, eidx, mark, meta, p, c):
    """Play c at the legal board point p, in one pass over the neighbours (``play`` on the
    board's arrays). Returns the stones captured."""
    w = meta[M_W]
    opp = 3 - c
    meta[M_LAST2] = meta[M_LAST]
    meta[M_LAST] = p
    meta[M_MOVES] += 1
    meta[M_TOMOVE] = opp
    meta[M_PASSES] = 0

    color[_u(p)] = c
    meta[M_HASH] ^= ZOBRIST[_u(c), _u(p)]
    _empt_remove(empt, eidx, meta, p)
    head[_u(p)] = p
    nxt[_u(p)] = p
    csize[_u(p)] = 1
    libs[_u(p)] = 0

    # one pass: empty neighbours, distinct own chains, opponent chains lose p (once each)
    nl = 0
    o0 = -1
    o1 = -1
    o2 = -1
    o3 = -1
    nown = 0
    x0 = -1
    x1 = -1
    x2 = -1
    captured = 0
    cap_point = -1
    for q in (p - w, p - 1, p + 1, p + w):
        cq = color[_u(q)]
        if cq == EMPTY:
            nl += 1
        elif cq == c:
            hq = head[_u(q)]
            if hq != o0 and hq != o1 and hq != o2:
                if nown == 0:
                    o0 = hq
                elif nown == 1:
                    o1 = hq
                elif nown == 2:
                    o2 = hq
                else:
                    o3 = hq
                nown += 1
        elif cq == opp:
            hq = head[_u(q)]
            new, x0, x1, x2 = _new_head(hq, x0, x1, x2)
            if new:
                libs[_u(hq)] -= 1
                if libs[_u(hq)] == 0:
                    cap_point = hq
                    captured += _remove_chain(color, nxt, head, libs, empt, eidx, meta, hq)
    if captured > 0:
        # captured neighbours are liberties now (and a later neighbour may have been
        # counted as empty after its chain went)
        nl = 0
        for q in (p - w, p - 1, p + 1, p + w):
            if color[_u(q)] == EMPTY:
                nl += 1
        if c == BLACK:
            meta[M_CAPB] += captured
        else:
            meta[M_CAPW] += captured
    libs[_u(p)] = nl

    if nown == 0:
        hp = p
    elif nown == 1:
        # p's empty neighbours that the chain does not already touch are new liberties
        hb = o0
        extra = 0
        for q in (p - w, p - 1, p + 1, p + w):
            if color[_u(q)] != EMPTY:
                continue
            shared = False
            for r in (q - w, q - 1, q + 1, q + w):
                if r != p and color[_u(r)] == c and head[_u(r)] == hb:
                    shared = True
                    break
            if not shared:
                extra += 1
        libs[_u(hb)] = libs[_u(hb)] - 1 + extra
        head[_u(p)] = hb
        nxt[_u(p)] = nxt[_u(hb)]
        nxt[_u(hb)] = p
        csize[_u(hb)] += 1
        hp = hb
    else:
        # several chains join: the largest keeps its head and its liberty count, which
        # gains the liberties of p and of the smaller chains that it does not touch
        hb = o0
        if csize[_u(o1)] > csize[_u(hb)]:
            hb = o1
        if o2 != -1 and csize[_u(o2)] > csize[_u(hb)]:
            hb = o2
        if o3 != -1 and csize[_u(o3)] > csize[_u(hb)]:
            hb = o3
        st = _stamp(meta)
        gained = 0
        for hq in (np.int64(p), np.int64(o0), np.int64(o1), np.int64(o2), np.int64(o3)):
            if hq == -1 or hq == hb:
                continue
            s = hq
            while True:
                for r in (s - w, s - 1, s + 1, s + w):
                    if color[_u(r)] == EMPTY and mark[_u(r)] != st:
                        mark[_u(r)] = st
                        touches = False
                        for t in (r - w, r - 1, r + 1, r + w):
                            if color[_u(t)] == c and head[_u(t)] == hb:
                                touches = True
                                break
                        if not touches:
                            gained += 1
                s = nxt[_u(s)]
                if s == hq:
                    break
        for hq in (np.int64(p), np.int64(o0), np.int64(o1), np.int64(o2), np.int64(o3)):
            if hq == -1 or hq == hb:
                continue
            s = hq
            while True:
                head[_u(s)] = hb
                s = nxt[_u(s)]
                if s == hq:
                    break
            t = nxt[_u(hb)]
            nxt[_u(hb)] = nxt[_u(hq)]
            nxt[_u(hq)] = t
            csize[_u(hb)] += csize[_u(hq)]
        libs[_u(hb)] = libs[_u(hb)] - 1 + gained
        hp = hb

    # simple ko: a lone stone that captured exactly one stone and has one liberty
    if captured == 1 and csize[_u(hp)] == 1 and libs[_u(hp)] == 1:
        meta[M_KO] = cap_point
        meta[M_KO_COLOR] = opp
    else:
        meta[M_KO] = -1
    return captured


@njit(cache=True, inline="always")
def _pass(meta, c):
    meta[M_LAST2] = meta[M_LAST]
    meta[M_LAST] = PASS
    meta[M_MOVES] += 1
    meta[M_TOMOVE] = 3 - c
    meta[M_KO] = -1
    meta[M_PASSES] += 1


@njit(cache=True)
def play(b, p, c):
    """Play colour c at p (PASS allowed). The move must be legal (see ``is_legal``).

    Returns the number of stones captured."""
    if p == PASS:
        _pass(b[8], c)
        return 0
    return _play(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], p, c)


@njit(cache=True)
def situation_hash(b):
    """Hash of stones, side to move and ko point: the key for evaluation caches."""
    meta = b[8]
    h = meta[M_HASH]
    if meta[M_TOMOVE] == WHITE:
        h ^= ZOBRIST_SIDE
    if meta[M_KO] >= 0:
        h ^= ZOBRIST_KO[meta[M_KO]]
    return h


@njit(cache=True)
def is_eyeish(b, p, c):
    """All four neighbours are c or off-board."""
    return _eyeish(b[0], b[8][M_W], p, c)


@njit(cache=True, inline="always")
def _eyeish(color, w, p, c):
    for q in (p - w, p - 1, p + 1, p + w):
        cq = color[q]
        if cq != c and cq != OFF:
            return False
    return True


@njit(cache=True)
def is_eye(b, p, c):
    """Single-point eye of c that playouts must not fill: eyeish and not false by diagonals."""
    return _is_eye(b[0], b[8][M_W], p, c)


@njit(cache=True, inline="always")
def _is_eye(color, w, p, c):
    """``is_eye`` on the board's colours."""
    return _eyeish(color, w, p, c) and _diagonals_hold(color, w, p, c)


@njit(cache=True, inline="always")
def _flood_empty(color, mark, st, w, p, stack, region, keep):
    """Flood the empty region of the unmarked empty point p, stamping its points with st.
    Returns (its size, the OR of the colours bordering it: BLACK, WHITE, both or 0). With
    ``keep`` the points land in region[:size] too."""
    sp = 0
    stack[sp] = p
    sp += 1
    mark[p] = st
    size = 0
    touch = 0
    while sp > 0:
        sp -= 1
        s = stack[sp]
        if keep:
            region[size] = s
        size += 1
        for q in (s - w, s - 1, s + 1, s + w):
            cq = color[q]
            if cq == EMPTY:
                if mark[q] != st:
                    mark[q] = st
                    stack[sp] = q
                    sp += 1
            elif cq != OFF:
                touch |= cq
    return size, touch


@njit(cache=True)
def area_score(b, komi):
    """Tromp-Taylor area score from black's point of view: stones + empty regions that reach
    only one colour, minus komi."""
    color = b[0]
    mark = b[7]
    meta = b[8]
    n = meta[M_N]
    w = meta[M_W]
    st = _stamp(meta)
    stack = np.empty(w * w, dtype=np.int32)
    score = 0.0
    for r in range(n):
        for cc in range(n):
            p = (r + 1) * w + cc + 1
            cp = color[p]
            if cp == BLACK:
                score += 1.0
            elif cp == WHITE:
                score -= 1.0
            elif mark[p] != st:
                size, touch = _flood_empty(color, mark, st, w, p, stack, stack, False)
                if touch == BLACK:
                    score += size
                elif touch == WHITE:
                    score -= size
    return score - komi


@njit(cache=True)
def area_owner(b, out):
    """Tromp-Taylor owner of each on-board point into out (int8[N*N], row-major from the top):
    1 black, -1 white, 0 neutral."""
    color = b[0]
    mark = b[7]
    meta = b[8]
    n = meta[M_N]
    w = meta[M_W]
    st = _stamp(meta)
    stack = np.empty(w * w, dtype=np.int32)
    region = np.empty(w * w, dtype=np.int32)
    for r in range(n):
        for cc in range(n):
            p = (r + 1) * w + cc + 1
            cp = color[p]
            if cp == BLACK:
                out[r * n + cc] = 1
            elif cp == WHITE:
                out[r * n + cc] = -1
            elif mark[p] != st:
                nreg, touch = _flood_empty(color, mark, st, w, p, stack, region, True)
                v = 0
                if touch == BLACK:
                    v = 1
                elif touch == WHITE:
                    v = -1
                for i in range(nreg):
                    s = region[i]
                    out[(s // w - 1) * n + (s % w - 1)] = v


@njit(cache=True)
def legal_moves(b, c, out):
    """Write the legal points for c (no pass) into out; return their count."""
    return _legal_points(b[0], b[2], b[3], b[5], b[8], c, out)


@njit(cache=True, _nrt=False)
def _legal_points(color, head, libs, empt, meta, c, out):
    """``legal_moves`` on the board's arrays (``is_legal`` on each empty point, inlined)."""
    w = meta[M_W]
    ko = meta[M_KO]
    ko_color = meta[M_KO_COLOR]
    k = 0
    for i in range(meta[M_NEMPTY]):
        p = empt[i]
        if not (p == ko and c == ko_color) and _chains_allow(color, head, libs, w, p, c):
            out[k] = p
            k += 1
    return k


@njit(cache=True, _nrt=False)
def _libs_after(color, nxt, head, libs, mark, meta, p, c, enough):
    """Liberties c's chain at p would have after c plays p (captures counted), counting no
    further than ``enough`` (``libs_after`` on the board's arrays, with an early stop)."""
    w = meta[M_W]
    st = _stamp(meta)
    mark[_u(p)] = st
    n = 0
    k0 = -1
    k1 = -1
    k2 = -1
    k3 = -1
    for q in (p - w, p - 1, p + 1, p + w):
        cq = color[_u(q)]
        if cq == EMPTY:
            if mark[_u(q)] != st:
                mark[_u(q)] = st
                n += 1
        elif cq == 3 - c and libs[_u(head[_u(q)])] == 1:
            hq = head[_u(q)]
            if k0 == -1:
                k0 = hq
            elif k1 == -1:
                k1 = hq
            elif k2 == -1:
                k2 = hq
            else:
                k3 = hq
            if mark[_u(q)] != st:
                mark[_u(q)] = st
                n += 1
    if n >= enough:
        return n
    for q in (p - w, p - 1, p + 1, p + w):
        if color[_u(q)] == c:
            h = head[_u(q)]
            s = h
            while True:
                for r in (s - w, s - 1, s + 1, s + w):
                    if mark[_u(r)] == st:
                        continue
                    cr = color[_u(r)]
                    if cr == EMPTY:
                        mark[_u(r)] = st
                        n += 1
                    elif cr == 3 - c:
                        hr = head[_u(r)]
                        if hr == k0 or hr == k1 or hr == k2 or hr == k3:
                            mark[_u(r)] = st
                            n += 1
                if n >= enough:
                    return n
                s = nxt[_u(s)]
                if s == h:
                    break
    return n


@njit(cache=True)
def libs_after(b, p, c):
    """Liberties of c's chain at p if c played there (captures counted), without playing."""
    return _libs_after(b[0], b[1], b[2], b[3], b[7], b[8], p, c, 1 << 30)


# ---- coordinate helpers (Python side) ----

def point(n, row, col):
    """Padded index of (row from top, col from left), both 0-based."""
    return (row + 1) * (n + 2) + col + 1


def rowcol(n, p):
    w = n + 2
    return p // w - 1, p % w - 1


def to_action(n, p):
    """Padded point -> action index 0..N*N (N*N = pass), row-major from the top-left."""
    if p == PASS:
        return n * n
    r, c = rowcol(n, p)
    return r * n + c


def from_action(n, a):
    if a == n * n:
        return PASS
    return point(n, a // n, a % n)


@njit(cache=True)
def hash_after(b, p, c):
    """Stone hash of the position after c plays the legal move p, without playing it:
    the new stone plus the chains it captures. Used for superko checks."""
    meta = b[8]
    if p == PASS:
        return meta[M_HASH]
    return _hash_after(b[0], b[1], b[2], b[3], meta, p, c)


@njit(cache=True, inline="always")
def _hash_after(color, nxt, head, libs, meta, p, c):
    """``hash_after`` of a board point on the board's arrays."""
    h = meta[M_HASH]
    w = meta[M_W]
    opp = 3 - c
    h ^= ZOBRIST[_u(c), _u(p)]
    s0 = -1
    s1 = -1
    s2 = -1
    for q in (p - w, p - 1, p + 1, p + w):
        if color[_u(q)] != opp:
            continue
        hq = head[_u(q)]
        if libs[_u(hq)] != 1:
            continue
        new, s0, s1, s2 = _new_head(hq, s0, s1, s2)
        if not new:
            continue
        s = hq
        while True:
            h ^= ZOBRIST[opp, _u(s)]
            s = nxt[_u(s)]
            if s == hq:
                break
    return h


@njit(cache=True)
def legal_moves_screened(b, c, buckets, out, cand, hashes):
    """``legal_moves`` (k of them into ``out``) screened for superko: a move whose stone hash
    after it falls in an empty bucket (``buckets[hash & (len - 1)] == 0``, the positions seen
    so far counted by bucket) repeats no position. The others, m of them, go to ``cand``
    (indices into ``out``) with their hashes in ``hashes``, for an exact test. Returns (k, m)."""
    return _legal_screened(b[0], b[1], b[2], b[3], b[5], b[8], c, buckets, out, cand, hashes)


@njit(cache=True, _nrt=False)
def _legal_screened(color, nxt, head, libs, empt, meta, c, buckets, out, cand, hashes):
    """``legal_moves_screened`` on the board's arrays, without reference counting: through
    the board tuple each point's legality test and hash cost an atomic count per array, most
    of the time of the whole scan."""
    k = _legal_points(color, head, libs, empt, meta, c, out)
    mask = buckets.shape[0] - 1
    m = 0
    for i in range(k):
        h = _hash_after(color, nxt, head, libs, meta, out[i], c)
        if buckets[_u(h & mask)] != 0:
            cand[m] = i
            hashes[m] = h
            m += 1
    return k, m


@njit(cache=True)
def legal_flags_screened(b, c, buckets, screen, flags, out, cand, hashes):
    """``legal_moves_screened`` (``screen`` False: no superko screen, m is 0) that also sets
    flags[p] True at each legal point p and False at every other point (bool[>= (N+2)^2]).
    Returns (k, m, i): i is the index in out[:k] of the first legal point that is not an own
    eye of c (``is_eye``), k when every one is."""
    color, nxt, head, libs, csize, empt, eidx, mark, meta = b
    for q in range(color.shape[0]):
        flags[q] = False
    if screen:
        k, m = _legal_screened(color, nxt, head, libs, empt, meta, c, buckets, out, cand,
                               hashes)
    else:
        k, m = _legal_points(color, head, libs, empt, meta, c, out), 0
    w = meta[M_W]
    first_open = k
    for i in range(k):
        p = out[i]
        flags[p] = True
        if first_open == k and not _is_eye(color, w, p, c):
            first_open = i
    return k, m, first_open


@njit(cache=True, inline="always")
def clear_history(meta):
    """Forget how a position came about (after setup stones, which are not moves): no ko, no
    last move, no passes, no moves counted."""
    meta[M_KO] = -1
    meta[M_LAST] = -2
    meta[M_LAST2] = -2
    meta[M_PASSES] = 0
    meta[M_MOVES] = 0


SETUP_OK = 0
SETUP_BAD_STONE = 1  # off the board, on a stone, neither black nor white, or without liberty
SETUP_CAPTURES = 2  # a stone that would capture


@njit(cache=True)
def place_setup(b, points, colors, s0, s1):
    """Put the setup stones points[s0:s1] (padded points) of colours colors[s0:s1] on b, as
    stones rather than moves (``clear_history``). Returns SETUP_OK, or the fault of the first
    stone that cannot stand (b is then left half set up)."""
    for i in range(s0, s1):
        p = np.int64(points[i])
        c = np.int64(colors[i])
        if (c != BLACK and c != WHITE) or p < 0 or not is_legal(b, p, c):
            return SETUP_BAD_STONE
        if play(b, p, c) > 0:
            return SETUP_CAPTURES
    clear_history(b[8])
    return SETUP_OK
