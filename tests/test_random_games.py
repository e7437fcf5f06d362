"""Random legal games, every move checked against slow, obviously-correct oracles.

The oracle here knows nothing of the fast board: it keeps the position as a byte string of
N*N colours (row-major from the top-left), finds chains by flood fill and decides legality
by trying the move: occupied, suicide (no liberty after captures), simple ko (the move would
bring back the position before the opponent's last move), positional superko (any earlier
position) or situational superko (any earlier position with the same side to move).

On every move of every game:

- ``engine.reference.check_consistency``: chains, liberties, sizes, hash, empty list;
- the stones equal the oracle's position, and equal positions always have equal hashes;
- the fast board's ``legal_moves`` (simple ko), ``GameState.legal_points``,
  ``GameState.legal_mask`` and ``GameState.legal_flags`` (the game's ko rule) equal the
  oracle's legal points, and ``legal_flags`` tells whether they all fill an own eye;
- ``hash_after`` of every move legal under simple ko equals the Zobrist hash of the
  oracle's position after that move, summed up from the grid;
- ``libs_after`` equals the oracle's liberty count for every empty point, and the chain's
  real liberties once the chosen move is played; captures equal the oracle's;
- one illegal move is tried and must raise ``IllegalMove`` and change nothing.

After each game every move is taken back with ``undo``; each step must give back the
position and hash seen on the way, and the last one the empty board (hash 0).

Moves are drawn uniformly from the legal points, in half of the games only from those that
do not fill one's own eye (longer games with living groups), in the other half from all of
them (small boards then cycle through kos and superko bans). A few random passes, never two
in a row, put passes into the history; a fixed seed per game makes every run identical.
"""
import numpy as np
import pytest

from engine import board as fb
from engine.board import BLACK, WHITE, PASS, M_CAPB, M_CAPW
from engine.coords import format_vertex
from engine.diagram import to_diagram
from engine.game import GameState, IllegalMove
from engine.reference import check_consistency, check_superko_screen

SEED = 20160309
KO_RULES = ("positional", "situational", "simple")
PASS_PROBABILITY = 0.03
CAPTURES_OF = {BLACK: M_CAPB, WHITE: M_CAPW}  # meta slot counting each colour's captures


# ---- the oracle --------------------------------------------------------------------------

def neighbours(n):
    """Neighbour indices of each point of an n x n board, row-major."""
    out = []
    for r in range(n):
        for c in range(n):
            out.append([(r + dr) * n + c + dc for dr, dc in ((-1, 0), (0, -1), (0, 1), (1, 0))
                        if 0 <= r + dr < n and 0 <= c + dc < n])
    return out


def flood(cells, nbrs, start):
    """Stones and liberties of the chain through ``start``."""
    colour = cells[start]
    stones, libs, stack = {start}, set(), [start]
    while stack:
        s = stack.pop()
        for q in nbrs[s]:
            v = cells[q]
            if v == 0:
                libs.add(q)
            elif v == colour and q not in stones:
                stones.add(q)
                stack.append(q)
    return stones, libs


def chains(cells, nbrs):
    """Point -> (stones, liberties) of its chain, for every stone."""
    chain_of = {}
    for i, v in enumerate(cells):
        if v and i not in chain_of:
            ch = flood(cells, nbrs, i)
            for s in ch[0]:
                chain_of[s] = ch
    return chain_of


def try_move(cells, nbrs, chain_of, i, c):
    """``c`` plays at empty ``i``: (position after, stones captured, liberties of its chain)."""
    captured = set()
    for q in nbrs[i]:
        if cells[q] == 3 - c and chain_of[q][1] == {i}:
            captured |= chain_of[q][0]
    after = bytearray(cells)
    after[i] = c
    for s in captured:
        after[s] = 0
    return bytes(after), len(captured), len(flood(after, nbrs, i)[1])


class Oracle:
    """The rules from the colour grid and the list of earlier positions, nothing else."""

    def __init__(self, n, ko_rule):
        self.n = n
        self.ko_rule = ko_rule
        self.nbrs = neighbours(n)
        self.cells = bytes(n * n)
        self.positions = [self.cells]  # position after each move, the start first
        self.situations = {(self.cells, BLACK)}  # (position, side to move) so far

    def outcomes(self, c):
        """Index -> (position after, captured, liberties) for every empty point."""
        chain_of = chains(self.cells, self.nbrs)
        return {i: try_move(self.cells, self.nbrs, chain_of, i, c)
                for i, v in enumerate(self.cells) if v == 0}

    def legal(self, c, outcomes, ko_rule):
        before_last = self.positions[-2] if len(self.positions) > 1 else None
        seen = set(self.positions)
        ok = set()
        for i, (after, _, libs) in outcomes.items():
            if libs == 0:
                continue  # suicide
            if ko_rule == "simple" and after == before_last:
                continue
            if ko_rule == "positional" and after in seen:
                continue
            if ko_rule == "situational" and (after, 3 - c) in self.situations:
                continue
            ok.add(i)
        return ok

    def record(self, cells, to_move):
        self.cells = cells
        self.positions.append(cells)
        self.situations.add((cells, to_move))


# ---- one game ----------------------------------------------------------------------------

def zobrist_keys(n):
    """The Zobrist key of each colour on each point: [colour, row-major index]."""
    return fb.ZOBRIST[:, [fb.point(n, r, c) for r in range(n) for c in range(n)]]


def grid_hash(keys, cells):
    """Stone hash of a position, from scratch."""
    a = np.frombuffer(cells, dtype=np.uint8)
    return int(np.bitwise_xor.reduce(keys[a, np.arange(len(a))]))


def index(n, p):
    r, c = fb.rowcol(n, p)
    return r * n + c


def position(g):
    return g.stones().astype(np.uint8).tobytes()


def play_and_check(n, seed, ko_rule, stats, fill_eyes=False, move_limit=None, undo_check_every=1):
    rng = np.random.default_rng(seed)
    g = GameState(n, komi=0.5, ko_rule=ko_rule, move_limit=move_limit)
    oracle = Oracle(n, ko_rule)
    points = [fb.point(n, r, c) for r in range(n) for c in range(n)]
    keys = zobrist_keys(n)
    hash_of = {oracle.cells: g.hash}
    trail = [(position(g), g.hash)]  # position and hash before each move

    def where():
        return (f"{n}x{n} seed {seed} {ko_rule}, move {len(g.history) + 1}\n"
                f"{to_diagram(g.stones())}")

    while not g.is_over():
        c = g.to_move
        check_consistency(g.board)
        check_superko_screen(g)
        assert position(g) == oracle.cells, where()
        assert hash_of.setdefault(oracle.cells, g.hash) == g.hash, where()

        out = oracle.outcomes(c)
        legal = oracle.legal(c, out, ko_rule)
        simple = oracle.legal(c, out, "simple")
        buf = np.empty(len(g.board[0]), dtype=np.int32)
        k = fb.legal_moves(g.board, c, buf)
        assert {index(n, int(p)) for p in buf[:k]} == simple, where()
        assert {index(n, p) for p in g.legal_points(c)} == legal, where()
        mask = g.legal_mask(c)
        assert mask[-1] and set(np.flatnonzero(mask[:-1]).tolist()) == legal, where()
        flags = np.ones(len(g.board[0]) + 1, dtype=bool)  # the last entry is not written
        all_eyes = g.legal_flags(c, flags)
        assert flags[-1] and {index(n, int(p)) for p in np.flatnonzero(flags[:-1])} == legal
        assert all_eyes == all(fb.is_eye(g.board, points[i], c) for i in legal), where()
        stats["all_eyes"] += all_eyes
        for i in simple:
            assert fb.hash_after(g.board, points[i], c) == grid_hash(keys, out[i][0]), where()
        stats["superko_bans"] += len(simple - legal)
        for i, (_, _, libs) in out.items():
            assert fb.libs_after(g.board, points[i], c) == libs, (where(), format_vertex(points[i], n))

        # one illegal try: a banned empty point if there is one, else an occupied point
        banned = sorted(set(out) - legal)
        occupied = [i for i, v in enumerate(oracle.cells) if v]
        pool = banned or occupied
        if pool:
            bad = points[pool[rng.integers(len(pool))]]
            before = (position(g), g.hash, len(g.history), g.to_move)
            with pytest.raises(IllegalMove):
                g.play(c, bad)
            assert (position(g), g.hash, len(g.history), g.to_move) == before, where()
            stats["illegal_tries"] += 1

        choices = [i for i in sorted(legal) if fill_eyes or not fb.is_eye(g.board, points[i], c)]
        random_pass = g.passes == 0 and rng.random() < PASS_PROBABILITY
        if not choices or random_pass:
            g.play(c, PASS)
            oracle.record(oracle.cells, 3 - c)
        else:
            i = choices[rng.integers(len(choices))]
            after, captured, libs = out[i]
            expected = fb.libs_after(g.board, points[i], c)
            before_caps = int(g.board[8][CAPTURES_OF[c]])
            g.play(c, points[i])
            b = g.board
            assert int(b[3][b[2][points[i]]]) == expected == libs, where()
            assert int(b[8][CAPTURES_OF[c]]) - before_caps == captured, where()
            stats["captures"] += captured
            oracle.record(after, 3 - c)
        trail.append((position(g), g.hash))
    check_consistency(g.board)
    stats["moves"] += len(g.history)

    # take everything back
    trail.pop()
    while trail:
        assert g.undo()
        if len(trail) % undo_check_every == 0:
            check_consistency(g.board)
            check_superko_screen(g)
        assert (position(g), g.hash) == trail.pop(), where()
    assert not g.undo()
    assert g.hash == 0 and position(g) == bytes(n * n) and g.to_move == BLACK


# size, number of games, move limit of the eye-filling games (long on tiny boards, where
# they cycle through superko bans); 19x19 has its own test below, since the reference check
# is Python and costs about 10 ms a move there
SIZES = [(2, 60, 60), (3, 60, 150), (5, 30, None), (9, 8, None)]


def new_stats():
    return dict(moves=0, captures=0, superko_bans=0, illegal_tries=0, all_eyes=0)


@pytest.mark.parametrize("n,games,limit", SIZES, ids=[f"{n}x{n}" for n, _, _ in SIZES])
def test_random_games_match_the_oracle(n, games, limit):
    stats = new_stats()
    for k in range(games):
        fill = k % 2 == 1
        play_and_check(n, SEED + 1000 * n + k, KO_RULES[k % len(KO_RULES)], stats,
                       fill_eyes=fill, move_limit=limit if fill else None)
    # the games must have exercised what they check
    assert stats["captures"] > 0 and stats["illegal_tries"] > 0
    if n <= 5:
        assert stats["superko_bans"] > 0 and stats["all_eyes"] > 0


@pytest.mark.parametrize("k,ko_rule", [(0, "positional"), (1, "simple")])
def test_a_19x19_game(k, ko_rule):
    stats = new_stats()
    play_and_check(19, SEED + 19000 + k, ko_rule, stats, undo_check_every=25)
    assert stats["moves"] > 200 and stats["captures"] > 0
