"""Our rules against GNU Go 3.8, move by move.

GNU Go runs as ``gnugo --mode gtp --chinese-rules`` with the ko option matching the
``GameState``'s ko rule (``--simple-ko``, ``--positional-superko``,
``--situational-superko``). Random legal games are played into both engines; on every
move they must agree on:

- legality: our legal points against GNU Go's ``all_legal`` (every point of the board), for
  the side to move, and on 9x9 under simple ko for the other side too;
- the stones on the board (``list_stones``) and the capture counts (``captures``).

Scores. GNU Go's ``final_score`` removes the stones it judges dead, while
``GameState.score()`` is Tromp-Taylor and removes nothing, so the two are compared only
where no stone is dead. The games are played on until neither side has a move, legal under
simple ko, that does not fill one of its own single-point eyes (``engine.board.is_eye``),
and both have passed.
In such a position every empty point is a single-point eye of one colour (an empty point
next to another empty point would still be playable) and every chain has at least two
liberties (a chain in atari could be taken, taking it fills no eye of the taker, and after
two passes no ko forbids it), all of them such eyes. So every chain has two vital regions and is alive by Benson's
criterion: no stone is dead, and area counting with or without dead-stone judgement must
give the same number. The test also asks GNU Go for its dead stones and expects none.

Also compared: fixed handicap placements for every board size GNU Go knows from 7x7 up,
and the superko cycles of ``test_rules.py`` (triple ko, sending two returning one, a
repetition after a pass) replayed move by move into GNU Go under each ko rule.
"""
import numpy as np
import pytest

from engine import board as fb
from engine.board import BLACK, WHITE, PASS, M_CAPB, M_CAPW
from engine.coords import format_vertex, parse_vertex
from engine.diagram import parse_diagram, to_diagram
from engine.game import GameState, handicap_points

from gnugo import GTPError, available
from ko_positions import SEND_TWO, TRIPLE_KO

pytestmark = [
    pytest.mark.gnugo,
    pytest.mark.skipif(not available(), reason="GNU Go is not installed at /usr/games/gnugo"),
]

SEED = 19990101
KOMI = 7.0
PASS_PROBABILITY = 0.03
COLOR_NAME = {BLACK: "black", WHITE: "white"}


def our_legal(g, c):
    return {format_vertex(p, g.size) for p in g.legal_points(c)}


def our_stones(g, c):
    n = g.size
    return {format_vertex(fb.point(n, r, k), n) for r, k in zip(*np.nonzero(g.stones() == c))}


def fb_legal(g, c):
    """Legal points under simple ko, whatever the game's ko rule."""
    out = np.empty(len(g.board[0]), dtype=np.int32)
    return [int(p) for p in out[:fb.legal_moves(g.board, c, out)]]


def has_move(g, c):
    """A point, legal under simple ko, where ``c`` would not fill one of its own eyes. Simple
    ko on purpose: a capture that only superko forbids keeps the game from a scored end."""
    return any(not fb.is_eye(g.board, p, c) for p in fb_legal(g, c))


def play_random_game(g, gg, seed, both_sides=False, fill_eyes=False, stats=None):
    """Random game into ``g`` (ours) and ``gg`` (GNU Go) until both pass with nothing left to
    play; returns True when it ended that way, False when it hit the move limit.
    ``fill_eyes`` lets the players fill their own eyes: endless captures and recaptures on a
    small board, so superko gets to forbid moves, and the move limit ends the game."""
    n = g.size
    rng = np.random.default_rng(seed)
    while True:
        c = g.to_move

        def where():
            return f"{n}x{n} seed {seed} {g.ko_rule}, move {len(g.history) + 1}\n{to_diagram(g.stones())}"

        sides = (c, 3 - c) if both_sides else (c,)
        for s in sides:
            assert our_legal(g, s) == gg.all_legal(COLOR_NAME[s]), (where(), COLOR_NAME[s])
        for s in (BLACK, WHITE):
            assert our_stones(g, s) == gg.stones(COLOR_NAME[s]), where()
        assert int(g.board[8][M_CAPB]) == gg.captures("black"), where()
        assert int(g.board[8][M_CAPW]) == gg.captures("white"), where()
        if stats is not None:
            stats["superko_bans"] += len(fb_legal(g, c)) - len(g.legal_points(c))

        if not fill_eyes and g.passes >= 2 and not has_move(g, BLACK) and not has_move(g, WHITE):
            return True
        if len(g.history) >= g.move_limit:
            return False
        choices = [p for p in g.legal_points(c) if fill_eyes or not fb.is_eye(g.board, p, c)]
        if not choices or (g.passes == 0 and rng.random() < PASS_PROBABILITY):
            p = PASS
        else:
            p = choices[rng.integers(len(choices))]
        g.play(c, p)
        assert gg.play(COLOR_NAME[c], format_vertex(p, n)), where()


def check_final_score(g, gg):
    assert gg.dead_stones() == set()
    assert g.score() == gg.final_score(), to_diagram(g.stones())


# ---- random games ----------------------------------------------------------------------

@pytest.mark.parametrize("n,games", [(9, 20), (19, 3)], ids=["9x9", "19x19"])
def test_random_games_simple_ko(gnugo, n, games):
    scored = 0
    for k in range(games):
        g = GameState(n, komi=KOMI, ko_rule="simple")
        gg = gnugo(n, komi=KOMI, ko_rule="simple")
        if play_random_game(g, gg, SEED + 100 * n + k, both_sides=n <= 9):
            check_final_score(g, gg)
            scored += 1
        gg.close()
    assert scored >= games - 1  # the move limit may cut a game, not most of them


@pytest.mark.parametrize("ko_rule", ["positional", "situational"])
def test_random_games_superko(gnugo, ko_rule):
    # games played to the end and scored
    scored = 0
    for n, count in [(3, 10), (5, 10), (7, 6)]:
        for k in range(count):
            g = GameState(n, komi=KOMI, ko_rule=ko_rule)
            gg = gnugo(n, komi=KOMI, ko_rule=ko_rule)
            if play_random_game(g, gg, SEED + 1000 * n + k):
                check_final_score(g, gg)
                scored += 1
            gg.close()
    assert scored > 0
    # long eye-filling games on tiny boards repeat positions all the time (kept under the
    # 500 moves of history GNU Go remembers)
    stats = dict(superko_bans=0)
    for n, count, limit in [(2, 10, 60), (3, 10, 200), (4, 6, 300)]:
        for k in range(count):
            g = GameState(n, komi=KOMI, ko_rule=ko_rule, move_limit=limit)
            gg = gnugo(n, komi=KOMI, ko_rule=ko_rule)
            play_random_game(g, gg, SEED + 2000 * n + k, fill_eyes=True, stats=stats)
            gg.close()
    assert stats["superko_bans"] > 100  # superko actually forbade moves along the way


# ---- handicap --------------------------------------------------------------------------

@pytest.mark.parametrize("n", range(7, 20))
def test_fixed_handicap_matches_gnugo(gnugo, n):
    gg = gnugo(n)
    for count in range(2, 10):
        try:
            theirs = gg.fixed_handicap(count)
        except GTPError:
            theirs = None
        try:
            ours = {format_vertex(p, n) for p in handicap_points(n, count)}
        except ValueError:
            ours = None
        assert ours == theirs, (n, count)


# ---- scripted superko cycles ---------------------------------------------------------------

CYCLES = {
    # name: (diagram, moves, last move)
    "triple-ko": (TRIPLE_KO, "B C8, W B2, B C5, W B8, B C2", "W B5"),
    "send-two-return-one": (SEND_TWO, "B A5, W C5", "B B5"),
    "repeat-after-pass": (TRIPLE_KO, "B C8, W B2, B pass, W B8", "B C2"),
}


def setup_by_moves(g, gg, diagram):
    """Put the diagram's stones on both boards as moves, black and white alternating (with
    passes to fill in), ending with white so that black moves next."""
    grid = parse_diagram(diagram)
    n = grid.shape[0]
    lists = {c: [fb.point(n, r, k) for r, k in zip(*np.nonzero(grid == c))] for c in (BLACK, WHITE)}
    while lists[BLACK] or lists[WHITE]:
        for c in (BLACK, WHITE):
            p = lists[c].pop(0) if lists[c] else PASS
            g.play(c, p)
            assert gg.play(COLOR_NAME[c], format_vertex(p, n))


@pytest.mark.parametrize("ko_rule", ["simple", "positional", "situational"])
@pytest.mark.parametrize("name", list(CYCLES))
def test_superko_cycles_agree(gnugo, name, ko_rule):
    diagram, moves, last = CYCLES[name]
    n = parse_diagram(diagram).shape[0]
    g = GameState(n, komi=0.0, ko_rule=ko_rule)
    gg = gnugo(n, ko_rule=ko_rule)
    setup_by_moves(g, gg, diagram)
    for m in moves.split(", "):
        c, v = m.split()
        g.play(BLACK if c == "B" else WHITE, parse_vertex(v, n))
        assert gg.play(c.lower(), v)
    c, v = last.split()
    color = BLACK if c == "B" else WHITE
    assert g.is_legal(color, parse_vertex(v, n)) == gg.is_legal(c.lower(), v)
    assert our_legal(g, color) == gg.all_legal(c.lower())
