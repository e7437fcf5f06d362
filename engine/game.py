"""GameState: the rules of a whole game on top of the fast board.

The fast board (``engine.board``) knows captures, liberties and simple ko. ``GameState``
adds what a game needs and the tree does not: the full move history, undo to any depth,
superko (positional by default, situational, or plain simple ko), passes and the end of
the game, a move limit, komi, handicap stones (GTP fixed placements and free placement)
and Tromp-Taylor area scoring.

Undo keeps a snapshot of the fast board per move: a few KB on 19x19, and it makes undo
exact, captures and ko included.

Superko compares the stone hash after each legal move with every position so far. The
positions are also counted in 1024 buckets by hash, and only the moves landing in a
non-empty bucket are looked up in the set (most moves are in an empty one); the count per
bucket, not a flag, is what lets undo take a position out again.

Everything here is Python: it runs once per real move, never inside the search.
"""
from dataclasses import dataclass

import numpy as np

from engine import board as fb
from engine.board import BLACK, WHITE, EMPTY, PASS, M_HASH, M_KO, M_KO_COLOR, M_PASSES, M_TOMOVE
from engine.coords import format_vertex

KO_RULES = ("simple", "positional", "situational")
SEEN_BUCKETS = 1024  # superko screen: positions seen so far counted by stone hash & 1023


class IllegalMove(ValueError):
    """A move the rules forbid; the state is left unchanged."""


@dataclass(frozen=True)
class Move:
    color: int  # BLACK or WHITE
    point: int  # padded point or PASS


def handicap_points(n, count):
    """GTP 2 fixed handicap placements (section 4.1.1) as padded points."""
    if n < 7:
        raise ValueError("fixed handicap needs a board of 7x7 or larger")
    limit = 4 if (n == 7 or n % 2 == 0) else 9
    if not 2 <= count <= limit:
        raise ValueError(f"handicap must be 2..{limit} on {n}x{n}")
    e = 3 if n >= 12 else 2  # 4-4 points from 12x12 up, as GNU Go places them
    lo, hi, mid = e, n - 1 - e, n // 2
    # (row from top, col): D4 Q16 D16 Q4 D10 Q10 K4 K16 K10 on 19x19
    ll, ur, ul, lr = (hi, lo), (lo, hi), (lo, lo), (hi, hi)
    ml, mr, mb, mt, cc = (mid, lo), (mid, hi), (hi, mid), (lo, mid), (mid, mid)
    table = {
        2: [ll, ur], 3: [ll, ur, ul], 4: [ll, ur, ul, lr], 5: [ll, ur, ul, lr, cc],
        6: [ll, ur, ul, lr, ml, mr], 7: [ll, ur, ul, lr, ml, mr, cc],
        8: [ll, ur, ul, lr, ml, mr, mb, mt], 9: [ll, ur, ul, lr, ml, mr, mb, mt, cc],
    }
    return [fb.point(n, r, c) for r, c in table[count]]


class GameState:
    """A game in progress. ``to_move`` is the colour whose turn it is by alternation; GTP may
    still play either colour at any time."""

    def __init__(self, size=19, komi=7.5, ko_rule="positional", move_limit=None):
        if not 2 <= size <= fb.MAX_N:
            raise ValueError(f"board size must be 2..{fb.MAX_N}, got {size}")
        if ko_rule not in KO_RULES:
            raise ValueError(f"ko rule must be one of {KO_RULES}")
        self.size = size
        self.komi = float(komi)
        self.ko_rule = ko_rule
        self.move_limit = move_limit if move_limit is not None else 3 * size * size
        self.board = fb.new_board(size)
        self.history = []  # Move per move played, in order
        self.handicap = 0  # handicap stones placed before the first move
        self._snapshots = []  # board before each move, for undo
        self._initial = fb.clone_board(self.board)  # board before the first move (setup stones)
        self._reset_seen()

    # -- state --------------------------------------------------------------------
    @property
    def to_move(self):
        return int(self.board[8][M_TOMOVE])

    @to_move.setter
    def to_move(self, c):
        self.set_to_move(c)

    def set_to_move(self, color):
        """Change the side to move (setup, SGF PL, handicap) and refresh the superko key of the
        current position, which includes the side to move under situational superko."""
        self.board[8][M_TOMOVE] = color
        key = self._key()  # the stone hash is unchanged: so is its screen bucket
        old = self._seen[-1]
        self._seen_set[old] -= 1
        if not self._seen_set[old]:
            del self._seen_set[old]
        self._seen[-1] = key
        self._seen_set[key] = self._seen_set.get(key, 0) + 1
        if not self.history:
            self._initial = fb.clone_board(self._initial)  # copies share it until changed
            self._initial[8][M_TOMOVE] = color

    def initial_board(self):
        """The board before the first move: setup and handicap stones, first player to move."""
        return self._initial

    @property
    def hash(self):
        return int(self.board[8][M_HASH])

    def _reset_seen(self):
        self._seen = [self._key()]  # superko key of every position so far, in order
        self._seen_set = {self._seen[0]: 1}  # the same keys with their multiplicity
        # the same positions counted by bucket: a move whose bucket is empty repeats nothing,
        # so the superko test needs the set only for the few others
        self._buckets = np.zeros(SEEN_BUCKETS, dtype=np.int32)
        self._buckets[self.hash & (SEEN_BUCKETS - 1)] = 1

    def _key(self, board=None):
        b = self.board if board is None else board
        h = int(b[8][M_HASH])
        if self.ko_rule == "situational":
            return (h, int(b[8][M_TOMOVE]))
        return h

    def color_at(self, p):
        return int(self.board[0][p])

    def copy(self):
        g = GameState.__new__(GameState)
        g.size, g.komi, g.ko_rule, g.move_limit = self.size, self.komi, self.ko_rule, self.move_limit
        g.board = fb.clone_board(self.board)
        g.history = list(self.history)
        g.handicap = self.handicap
        g._snapshots = list(self._snapshots)  # snapshots are never mutated, sharing is safe
        g._initial = self._initial  # replaced, never changed in place (set_to_move)
        g._seen = list(self._seen)
        g._seen_set = dict(self._seen_set)
        g._buckets = self._buckets.copy()
        return g

    # -- moves --------------------------------------------------------------------
    def check_move(self, color, p):
        """None if ``color`` may play ``p``, otherwise the reason as text."""
        if p == PASS:
            return None
        n = self.size
        w = n + 2
        if not (0 <= p < w * w) or self.board[0][p] == fb.OFF:
            return "off board"
        if self.board[0][p] != EMPTY:
            return "occupied"
        if not fb.is_legal(self.board, p, color):
            if self.board[8][M_KO] == p and self.board[8][M_KO_COLOR] == color:
                return "ko"
            return "suicide"
        if self.ko_rule != "simple" and self._repeats(int(fb.hash_after(self.board, p, color)), color):
            return "superko"
        return None

    def _repeats(self, stone_hash, color):
        """Would the position with this stone hash, ``color`` having just moved, repeat one?"""
        key = (stone_hash, 3 - color) if self.ko_rule == "situational" else stone_hash
        return key in self._seen_set

    def is_legal(self, color, p):
        return self.check_move(color, p) is None

    def _legal_and_repeats(self, c):
        """Simple-ko legal points for c and their superko flags (True = repeats a position)."""
        ww = len(self.board[0])
        out = np.empty(ww, dtype=np.int32)
        rep = np.zeros(ww, dtype=bool)
        if self.ko_rule == "simple":
            return out[:fb.legal_moves(self.board, c, out)], rep[:0]
        cand = np.empty(ww, dtype=np.int32)  # indices into out of the moves the screen let by
        hashes = np.empty(ww, dtype=np.int64)  # their stone hashes
        k, m = fb.legal_moves_screened(self.board, c, self._buckets, out, cand, hashes)
        for i in self._repeating(cand, hashes, m, c):
            rep[i] = True
        return out[:k], rep[:k]

    def _repeating(self, cand, hashes, m, c):
        """The entries cand[j] (j < m) whose move by c, of stone hash hashes[j], would repeat
        a position under this game's superko rule (the exact test after the bucket screen)."""
        seen = self._seen_set
        side = 3 - c
        situational = self.ko_rule == "situational"
        return [i for i, h in zip(cand[:m].tolist(), hashes[:m].tolist())
                if ((h, side) if situational else h) in seen]

    def legal_flags(self, color, flags):
        """flags[p] = whether ``color`` may play the padded point p under this game's ko rule
        (bool[>= (N+2)^2]; every entry up to (N+2)^2 is written, none after). Returns True
        when every legal point fills an own eye (``is_eye``), or there is none: the test of
        a pass that loses nothing. One jitted scan; only the few moves whose position's
        bucket is not empty are looked up in the superko set (``_legal_and_repeats``)."""
        ww = len(self.board[0])
        out = np.empty(ww, dtype=np.int32)
        cand = np.empty(ww, dtype=np.int32)
        hashes = np.empty(ww, dtype=np.int64)
        screen = self.ko_rule != "simple"
        k, m, first_open = fb.legal_flags_screened(self.board, color, self._buckets, screen,
                                                   flags, out, cand, hashes)
        repeats = self._repeating(cand, hashes, m, color) if m else []
        if not repeats:
            return first_open == k
        for i in repeats:
            flags[out[i]] = False
        return all(fb.is_eye(self.board, p, color) for p in out[:k].tolist() if flags[p])

    def legal_points(self, color=None):
        """All legal board points (no pass) for ``color`` under this game's ko rule."""
        return self.legal_array(color).tolist()

    def legal_array(self, color=None):
        """``legal_points`` as an int32 array of padded points, in board order."""
        c = self.to_move if color is None else color
        pts, repeats = self._legal_and_repeats(c)
        return pts[~repeats] if repeats.any() else pts

    def legal_mask(self, color=None):
        """bool[N*N+1] over actions (row-major from the top-left, N*N = pass, always legal)."""
        c = self.to_move if color is None else color
        n = self.size
        pts = self.legal_array(c)
        w = n + 2
        mask = np.zeros(n * n + 1, dtype=bool)
        mask[(pts // w - 1) * n + (pts % w - 1)] = True
        mask[n * n] = True
        return mask

    def play(self, color, p):
        """Play a move or raise IllegalMove (state unchanged)."""
        reason = self.check_move(color, p)
        if reason is not None:
            raise IllegalMove(f"illegal move {format_vertex(p, self.size)}: {reason}")
        self._snapshots.append(fb.clone_board(self.board))
        fb.play(self.board, p, color)
        self.history.append(Move(color, p))
        key = self._key()
        self._seen.append(key)
        self._seen_set[key] = self._seen_set.get(key, 0) + 1
        self._buckets[self.hash & (SEEN_BUCKETS - 1)] += 1

    def undo(self):
        """Take back the last move; returns False when there is none."""
        if not self.history:
            return False
        self._buckets[self.hash & (SEEN_BUCKETS - 1)] -= 1
        # snapshots may be shared with copies of this state: take a private copy
        self.board = fb.clone_board(self._snapshots.pop())
        self.history.pop()
        key = self._seen.pop()
        self._seen_set[key] -= 1
        if not self._seen_set[key]:
            del self._seen_set[key]
        return True

    @property
    def passes(self):
        return int(self.board[8][M_PASSES])

    @property
    def last_move(self):
        return self.history[-1] if self.history else None

    def is_over(self):
        return self.passes >= 2 or len(self.history) >= self.move_limit

    # -- setup ----------------------------------------------------------------------
    def place_stones(self, color, points):
        """Put setup stones (handicap, SGF AB/AW) on the board; not moves, cannot be undone."""
        if self.history:
            raise ValueError("setup stones only before the first move")
        trial = fb.clone_board(self.board)  # all or nothing: check every stone on a copy first
        for p in points:
            where = format_vertex(p, self.size)
            if not (0 <= p < len(trial[0])) or trial[0][p] == fb.OFF:
                raise ValueError(f"setup point {p} is off the board")
            if trial[0][p] != EMPTY:
                raise ValueError(f"setup point {where} is occupied")
            if fb.libs_after(trial, p, color) == 0 or fb.play(trial, p, color):
                raise ValueError(f"setup stone at {where} would capture or be captured")
        self.board = trial
        fb.clear_history(self.board[8])
        self._initial = fb.clone_board(self.board)
        self._reset_seen()

    def set_handicap(self, points):
        """Black handicap stones; white moves first afterwards."""
        if len(points) < 2:
            raise ValueError("handicap needs at least 2 stones")
        if self.history or np.any((self.board[0] == BLACK) | (self.board[0] == WHITE)):
            raise ValueError("board not empty")
        self.place_stones(BLACK, points)
        self.handicap = len(points)
        self.set_to_move(WHITE)

    # -- scoring --------------------------------------------------------------------
    def score(self):
        """Tromp-Taylor area score, black minus white minus komi (no dead-stone removal)."""
        return float(fb.area_score(self.board, self.komi))

    def owner(self):
        """Tromp-Taylor ownership per point, int8[N*N] row-major from the top: 1 / -1 / 0."""
        out = np.zeros(self.size * self.size, dtype=np.int8)
        fb.area_owner(self.board, out)
        return out

    def stones(self):
        """Colour array int8[N, N] (row 0 = top), 0 empty, 1 black, 2 white."""
        n = self.size
        w = n + 2
        return self.board[0].reshape(w, w)[1:n + 1, 1:n + 1].copy()


def result_string(score):
    """``B+3.5`` / ``W+0.5`` / ``0`` (jigo) from a black-minus-white score."""
    if score > 0:
        return f"B+{score:g}"
    if score < 0:
        return f"W+{-score:g}"
    return "0"
