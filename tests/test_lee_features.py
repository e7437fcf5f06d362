"""AlphaGo Lee input planes (nets.lee_features), plane group by plane group, on diagrams.

Positions are drawn as boards (``X`` black, ``O`` white; top row first, GTP row numbers in the
comments) and points are named by GTP vertices. Expected values (liberties, capture sizes,
ladder outcomes) are read off the diagrams by hand, never computed by the code under test.
The batch builders are checked against the single-position builder on replayed games.
"""
import numpy as np
import pytest

from engine.board import BLACK, M_W, PASS, WHITE, copy_board, is_legal, play
from engine.coords import parse_vertex
from engine.diagram import state_from_diagram
from engine.game import GameState
from engine.player import Budget
from engine.search import MCTSPlayer, SearchConfig, UniformEvaluator
from nets.features import apply_symmetry_planes, sym_action
from nets.lee_features import (AGE_NONE, LEE_PLANES, P_CAPTURE, P_EMPTY, P_LADDER_CAPTURE,
                               P_LADDER_ESCAPE, P_LIBERTIES, P_LIBS_AFTER, P_ONES, P_OPP, P_OWN,
                               P_PLAYER, P_SELF_ATARI, P_SENSIBLE, P_TURNS, P_ZEROS, PLANE_NAMES,
                               VALUE_PLANES, ladder_captures, ladder_escapes, leaf_batch_planes,
                               lee_planes, lee_planes_rows, planes_for_samples, root_ages,
                               state_planes)

B, W = BLACK, WHITE


# ---- helpers ---------------------------------------------------------------------------

def position(diagram, to_move=B, moves=()):
    """GameState of the diagram, then GTP ``moves`` played alternately from ``to_move``."""
    g = state_from_diagram(diagram, to_move, ko_rule="simple")
    for v in moves:
        g.play(g.to_move, PASS if v == "pass" else parse_vertex(v, g.size))
    return g


def cell(g, vertex):
    """(row, col) of a GTP vertex in plane coordinates (row 0 = top)."""
    p = parse_vertex(vertex, g.size)
    return p // (g.size + 2) - 1, p % (g.size + 2) - 1


def on(x, plane, g, vertex):
    return bool(x[plane][cell(g, vertex)])


def group(x, start, g, vertex):
    """Index of the hot plane of the 8-plane group at ``start`` for a vertex, None if cold."""
    hot = np.nonzero(x[start:start + 8][(slice(None),) + cell(g, vertex)])[0]
    assert len(hot) <= 1, "one-hot group with several planes on"
    return int(hot[0]) if len(hot) else None


def turns(x, g, v):
    k = group(x, P_TURNS, g, v)
    return None if k is None else k + 1  # 8 means 8 or more


def liberties(x, g, v):
    k = group(x, P_LIBERTIES, g, v)
    return None if k is None else k + 1


def capture(x, g, v):
    return group(x, P_CAPTURE, g, v)  # 7 means 7 or more


def self_atari(x, g, v):
    k = group(x, P_SELF_ATARI, g, v)
    return None if k is None else k + 1


def libs_after(x, g, v):
    k = group(x, P_LIBS_AFTER, g, v)
    return None if k is None else k + 1


def play_random_game(g, rng, limit):
    """Random legal moves that fill no own eye (pass when none), up to ``limit`` moves."""
    from engine.board import is_eye
    while not g.is_over() and len(g.history) < limit:
        c = g.to_move
        pts = [p for p in g.legal_points(c) if not is_eye(g.board, p, c)]
        g.play(c, int(rng.choice(pts)) if pts else PASS)
    return g


def shard_of(games):
    """Shard arrays (offsets, moves, colors, setup_offsets, setup_points, setup_colors) of
    finished GameStates: setup stones from their initial boards, then their moves."""
    offsets, moves, colors = [0], [], []
    s_offsets, s_points, s_colors = [0], [], []
    for g in games:
        init = g.initial_board()[0]
        for p in np.nonzero((init == B) | (init == W))[0]:
            s_points.append(p)
            s_colors.append(init[p])
        s_offsets.append(len(s_points))
        for mv in g.history:
            moves.append(mv.point)
            colors.append(mv.color)
        offsets.append(len(moves))
    return (np.array(offsets, dtype=np.int64), np.array(moves, dtype=np.int16),
            np.array(colors, dtype=np.int8), np.array(s_offsets, dtype=np.int64),
            np.array(s_points, dtype=np.int16), np.array(s_colors, dtype=np.int8))


def replay(g, m):
    """The GameState of ``g`` (same setup) before its move m, to move as in the game."""
    r = GameState(g.size, komi=g.komi, ko_rule="simple")
    init = g.initial_board()[0]
    for c in (B, W):
        pts = [int(p) for p in np.nonzero(init == c)[0]]
        if pts:
            r.place_stones(c, pts)
    for mv in g.history[:m]:
        r.play(mv.color, mv.point)
    r.set_to_move(g.history[m].color)
    return r


def sample_batch(games, rows, syms, with_player=False):
    n = games[0].size
    shard = shard_of(games)
    gi = np.array([r[0] for r in rows], dtype=np.int64)
    mi = np.array([r[1] for r in rows], dtype=np.int64)
    out = np.zeros((len(rows), VALUE_PLANES if with_player else LEE_PLANES, n, n), np.float32)
    targets = np.zeros(len(rows), dtype=np.int64)
    planes_for_samples(n, *shard, gi, mi, np.asarray(syms, dtype=np.int64), with_player, out,
                       targets)
    return out, targets


# ---- stones, ones, zeros, player -----------------------------------------------------------

SMALL = """
    . X . . .
    . X O . .
    . . O X .
    . . . . .
    O . . . X
"""


def test_plane_names_follow_the_paper_order():
    assert len(PLANE_NAMES) == 48
    assert PLANE_NAMES[P_TURNS] == "turns_since_1" and PLANE_NAMES[P_TURNS + 7] == "turns_since_8+"
    assert PLANE_NAMES[P_CAPTURE] == "capture_size_0"
    assert PLANE_NAMES[P_LADDER_CAPTURE] == "ladder_capture"
    assert PLANE_NAMES[P_SENSIBLE] == "sensible" and PLANE_NAMES[P_ZEROS] == "zeros"


@pytest.mark.parametrize("to_move", [B, W])
def test_stone_planes_are_relative_to_the_player_to_move(to_move):
    g = position(SMALL, to_move)
    x = state_planes(g)
    assert x.shape == (48, 5, 5) and x.dtype == np.float32
    own, opp = ("B4", "B5", "D3", "E1"), ("C3", "C4", "A1")
    if to_move == W:
        own, opp = opp, own
    for v in own:
        assert on(x, P_OWN, g, v) and not on(x, P_OPP, g, v) and not on(x, P_EMPTY, g, v)
    for v in opp:
        assert on(x, P_OPP, g, v) and not on(x, P_OWN, g, v)
    assert x[P_OWN].sum() == len(own) and x[P_OPP].sum() == len(opp)
    assert np.all(x[P_OWN] + x[P_OPP] + x[P_EMPTY] == 1.0)
    assert np.all(x[P_ONES] == 1.0) and np.all(x[P_ZEROS] == 0.0)


def test_value_plane_marks_black_to_move():
    for to_move, value in ((B, 1.0), (W, 0.0)):
        g = position(SMALL, to_move)
        x = state_planes(g, with_player=True)
        assert x.shape == (49, 5, 5)
        assert np.all(x[P_PLAYER] == value)
        assert np.array_equal(x[:48], state_planes(g))


def test_rows_of_a_board_batch_equal_single_positions():
    states = [position(LADDER, B, ["D5"]), position(LADDER, B, ["D5", "E4"])]  # W, B to move
    boards = tuple(np.stack([s.board[j] for s in states]) for j in range(9))
    ages = np.stack([root_ages(s) for s in states])
    out = np.zeros((2, 49, 9, 9), np.float32)
    lee_planes_rows(boards, ages, np.array([1, 0], dtype=np.int64), True, out)
    assert np.array_equal(out[0], state_planes(states[1], with_player=True))
    assert np.array_equal(out[1], state_planes(states[0], with_player=True))
    assert out[0, P_PLAYER].min() == 1.0 and out[1, P_PLAYER].max() == 0.0


def test_out_of_the_wrong_shape_is_refused():
    g = position(SMALL)
    with pytest.raises(ValueError, match="too few planes"):
        lee_planes(g.board, root_ages(g), np.zeros((48, 5, 5), np.float32), True)
    with pytest.raises(ValueError, match="N x N"):
        lee_planes(g.board, root_ages(g), np.zeros((48, 9, 9), np.float32), False)


KO = """
    . . . . .
    . X O . .
    X O . O .
    . X O . .
    . . . . .
"""


# ---- turns since ----------------------------------------------------------------------------

def test_turns_since_counts_moves_and_passes_back_from_the_last():
    g = position("""
        X . . . . . . . .
        . . . . . . . . .
        . . . . . . . . .
        . . . . . . . . .
        . . . . . . . . .
        . . . . . . . . .
        . . . . . . . . .
        . . . . . . . . .
        . . . . . . . . .
    """, B, ["C3", "G7", "C5", "G5", "E3", "E7", "pass", "A1", "J1", "E5"])
    x = state_planes(g)
    assert g.to_move == B
    expect = {"E5": 1, "J1": 2, "A1": 3, "E7": 5, "E3": 6, "G5": 7,  # the pass was 4 moves ago
              "C5": 8, "G7": 8, "C3": 8,  # 8, 9 and 10 moves ago: ">= 8"
              "A9": 8}  # setup stone
    for v, t in expect.items():
        assert turns(x, g, v) == t, v
    assert x[P_TURNS:P_TURNS + 8].sum() == len(expect)  # nothing on empty points
    ages = root_ages(g)
    assert ages[parse_vertex("A9", 9)] == AGE_NONE and ages[parse_vertex("E5", 9)] == 9


def test_a_stone_played_again_after_a_capture_counts_from_its_new_move():
    g = position(KO, B, ["C3", "E1", "E2", "B3", "A5", "E5", "C3"])
    # black took the ko on C3 (move 1), white retook on B3 (move 4), black took again (move 7)
    x = state_planes(g)
    assert turns(x, g, "C3") == 1
    assert turns(x, g, "E5") == 2 and turns(x, g, "A5") == 3
    assert turns(x, g, "E2") == 5 and turns(x, g, "E1") == 6
    assert turns(x, g, "B3") is None  # captured again: empty


# ---- liberties and capture size -------------------------------------------------------------

CAPTURES = """
    O O O O O O O . .
    X X X X X X X . .
    . . . . . . . . .
    . . . . . . . . .
    . . . . . . . . .
    . . . . . . . . .
    . . . . . . . . .
    X X X . . . . . .
    O O O . . . . X O
"""


def test_liberties_of_chains():
    g = position(CAPTURES)
    x = state_planes(g)
    assert liberties(x, g, "A9") == 1 and liberties(x, g, "G9") == 1  # only H9 left
    assert liberties(x, g, "C1") == 1  # only D1
    assert liberties(x, g, "J1") == 1  # only J2
    assert liberties(x, g, "H1") == 2  # G1, H2
    assert liberties(x, g, "A2") == 4  # A3, B3, C3, D2
    assert liberties(x, g, "D8") == 8  # A7..G7 and H8: 8
    assert liberties(x, g, "E5") is None  # empty point


def test_capture_size():
    g = position(CAPTURES)
    x = state_planes(g)
    assert capture(x, g, "H9") == 7  # the whole top row: ">= 7"
    assert capture(x, g, "D1") == 3
    assert capture(x, g, "J2") == 1
    assert capture(x, g, "E5") == 0  # captures nothing: the 0 plane
    assert capture(x, g, "A2") is None  # a stone
    # every legal point is hot in exactly one capture plane
    assert x[P_CAPTURE:P_CAPTURE + 8].sum() == x[P_EMPTY].sum()
    # white to move: capturing nothing anywhere
    y = state_planes(position(CAPTURES, W))
    assert y[P_CAPTURE + 1:P_CAPTURE + 8].sum() == 0


def test_liberties_after_count_captured_stones():
    g = position(CAPTURES)
    x = state_planes(g)
    assert libs_after(x, g, "H9") == 3  # G9 (captured), J9, H8
    assert libs_after(x, g, "D1") == 3  # C1 (captured), E1, D2
    assert libs_after(x, g, "J2") == 3  # J1 (captured), J3, H2
    assert libs_after(x, g, "E5") == 4
    assert libs_after(x, g, "H8") == 8  # joins A8-G8: A7..G7, H7, J8, H9 = 10, ">= 8"


def test_liberties_after_a_merge():
    g = position("""
        . . . . .
        . . . . .
        . X . X .
        . . . . .
        . . . . .
    """)
    x = state_planes(g)
    assert libs_after(x, g, "C3") == 8  # B3-C3-D3: A3, E3, B4, C4, D4, B2, C2, D2
    assert libs_after(x, g, "B4") == 6  # B3-B4: A3, C3, B2, A4, C4, B5
    assert libs_after(x, g, "C2") == 4
    assert libs_after(x, g, "A1") == 2
    assert libs_after(x, g, "B3") is None


def test_self_atari_size():
    g = position("""
        . . . . .
        . . . . .
        O O O . .
        X X O . .
        . . O . .
    """)
    x = state_planes(g)
    assert self_atari(x, g, "A1") == 3 and libs_after(x, g, "A1") == 1  # A1-A2-B2, only B1 left
    assert self_atari(x, g, "B1") == 3 and libs_after(x, g, "B1") == 1
    assert self_atari(x, g, "D1") is None and libs_after(x, g, "D1") == 2
    assert x[P_SELF_ATARI:P_SELF_ATARI + 8].sum() == 2
    # white to move: D1 is in atari; E1 joins it and leaves the pair one liberty (E2)
    h = position("""
        . . . . .
        . . . . .
        . . . . .
        . . . X .
        . . X O .
    """, W)
    y = state_planes(h)
    assert self_atari(y, h, "E1") == 2 and libs_after(y, h, "E1") == 1
    assert not on(y, P_LADDER_ESCAPE, h, "E1")  # black takes on E2
    # a lone stone with one liberty after the move
    k = position("""
        . . . . .
        . . . . .
        . . . . .
        . . . . .
        . . . X .
    """, W)
    z = state_planes(k)
    assert self_atari(z, k, "E1") == 1 and self_atari(z, k, "C1") is None


# ---- sensibleness and legality -------------------------------------------------------------

def test_sensibleness():
    g = position("""
        . . X O .
        . . . X O
        . . . . O
        X X . . O
        . X . O .
    """)
    x = state_planes(g)
    assert not on(x, P_SENSIBLE, g, "A1")  # black's own eye
    assert libs_after(x, g, "A1") == 4  # still a legal move: A3, B3, C2, C1
    assert on(x, P_SENSIBLE, g, "E5")  # white's eye, but D5 is in atari: black captures
    assert capture(x, g, "E5") == 1
    assert not on(x, P_SENSIBLE, g, "E1")  # suicide
    assert capture(x, g, "E1") is None and libs_after(x, g, "E1") is None
    assert on(x, P_SENSIBLE, g, "C3")


def test_ko_point_is_not_legal():
    g = position(KO, B, ["C3"])  # black takes the ko on B3
    assert g.to_move == W
    x = state_planes(g)
    assert on(x, P_EMPTY, g, "B3")
    assert not on(x, P_SENSIBLE, g, "B3")
    assert capture(x, g, "B3") is None and libs_after(x, g, "B3") is None
    # after a ko threat elsewhere and black's answer the retake is legal again
    g.play(W, parse_vertex("E1", 5))
    g.play(B, parse_vertex("E2", 5))
    y = state_planes(g)
    assert capture(y, g, "B3") == 1 and on(y, P_SENSIBLE, g, "B3")


# ---- ladders -------------------------------------------------------------------------------

LADDER = """
    . . . . . . . . .
    . . . . . . . . .
    . . . . . . . . .
    . . . . . . . . .
    . . . . . . . . .
    . . X O . . . . .
    . . . X X . . . .
    . . . . . . . . .
    . . . . . . . . .
"""


def with_stone(diagram, vertex, ch):
    """The diagram with ``ch`` put on ``vertex``."""
    rows = [r.split() for r in diagram.strip().splitlines()]
    n = len(rows)
    p = parse_vertex(vertex, n)
    rows[p // (n + 2) - 1][p % (n + 2) - 1] = ch
    return "\n".join(" ".join(r) for r in rows)


def test_ladder_capture_works_up_to_the_edge():
    g = position(LADDER)
    x = state_planes(g)
    assert on(x, P_LADDER_CAPTURE, g, "D5")  # white runs to the upper right edge and dies
    assert not on(x, P_LADDER_CAPTURE, g, "E4")  # atari from this side: D5 gives 3 liberties
    assert x[P_LADDER_CAPTURE].sum() == 1


def test_ladder_breaker_stops_the_ladder():
    g = position(with_stone(LADDER, "G7", "O"))
    x = state_planes(g)
    assert not on(x, P_LADDER_CAPTURE, g, "D5")
    assert x[P_LADDER_CAPTURE].sum() == 0
    # a breaker off the ladder's path changes nothing
    h = position(with_stone(LADDER, "B8", "O"))
    assert on(state_planes(h), P_LADDER_CAPTURE, h, "D5")


def test_ladder_escape():
    caught = with_stone(LADDER, "D5", "X")  # white D4 in atari, white to move
    g = position(caught, W)
    x = state_planes(g)
    assert libs_after(x, g, "E4") == 2
    assert not on(x, P_LADDER_ESCAPE, g, "E4")  # running only prolongs the ladder
    assert x[P_LADDER_ESCAPE].sum() == 0
    h = position(with_stone(caught, "G7", "O"), W)
    y = state_planes(h)
    assert on(y, P_LADDER_ESCAPE, h, "E4")  # the breaker saves it
    assert y[P_LADDER_ESCAPE].sum() == 1
    assert ladder_escapes(h.board, parse_vertex("E4", 9), W)
    assert not ladder_escapes(g.board, parse_vertex("E4", 9), W)


def test_a_ladder_across_the_whole_board():
    # the LADDER shape in the lower left of 19x19: white runs about 60 plies to the upper right
    far = "\n".join([". " * 19] * 19)
    for v, ch in (("C4", "X"), ("D3", "X"), ("E3", "X"), ("D4", "O")):
        far = with_stone(far, v, ch)
    g = position(far)
    assert on(state_planes(g), P_LADDER_CAPTURE, g, "D5")
    h = position(with_stone(far, "R17", "O"))  # on the path, 13 lines away
    assert not on(state_planes(h), P_LADDER_CAPTURE, h, "D5")


EDGE = """
    . . . . . . . . .
    . . . . . . . . .
    . . . . . . . . .
    . . . . . . . . .
    . . . . . . . . .
    . . . . . . . . .
    . . X . . . . . .
    . X O . . . . . .
    . . . . . . . . .
"""


def test_ladder_along_the_edge():
    g = position(EDGE)
    x = state_planes(g)
    # D2 atari: white C1 has B1 and D1, black B1, white D1 has only E1: caught on the first line
    assert on(x, P_LADDER_CAPTURE, g, "D2")
    assert not on(x, P_LADDER_CAPTURE, g, "C1")  # white D2 would have D1, E2, D3
    # after D2, white to move: running to C1 does not escape
    y = state_planes(position(with_stone(EDGE, "D2", "X"), W))
    h = position(with_stone(EDGE, "D2", "X"), W)
    assert libs_after(y, h, "C1") == 2 and not on(y, P_LADDER_ESCAPE, h, "C1")


def test_ladder_fails_when_the_atari_stone_can_be_captured():
    # white D3 and E2 leave black's atari stone on D2 with one liberty: white takes it on D1
    g = position(with_stone(with_stone(EDGE, "D3", "O"), "E2", "O"))
    x = state_planes(g)
    assert libs_after(x, g, "D2") == 1  # the atari is a self-atari
    assert not on(x, P_LADDER_CAPTURE, g, "D2")
    assert not ladder_captures(g.board, parse_vertex("D2", 9), B)
    assert ladder_captures(position(EDGE).board, parse_vertex("D2", 9), B)


def _chain(b, p):
    """Stones and liberties of the chain through p, by flood fill (independent of the board's
    incremental chains)."""
    w = int(b[8][M_W])
    col = b[0]
    stones, libs, todo = {p}, set(), [p]
    while todo:
        x = todo.pop()
        for q in (x - w, x - 1, x + 1, x + w):
            if col[q] == col[p] and q not in stones:
                stones.add(q)
                todo.append(q)
            elif col[q] == 0:
                libs.add(q)
    return stones, libs


def _reference_ladder(b, prey, attacker, defender_moves):
    """The ladder rules of the module docstring, read recursively on board copies."""
    w = int(b[8][M_W])
    stones, libs = _chain(b, prey)
    if defender_moves:
        replies = [next(iter(_chain(b, q)[1])) for s in stones for q in (s - w, s - 1, s + 1, s + w)
                   if b[0][q] == attacker and len(_chain(b, q)[1]) == 1] + list(libs)
        for q in dict.fromkeys(replies):
            if is_legal(b, q, 3 - attacker):
                b2 = copy_board(b)
                play(b2, q, 3 - attacker)
                if not _reference_ladder(b2, prey, attacker, False):
                    return False
        return True
    if len(libs) != 2:
        return len(libs) <= 1 and bool(is_legal(b, next(iter(libs)), attacker))
    for a in libs:
        if is_legal(b, a, attacker):
            b2 = copy_board(b)
            play(b2, a, attacker)
            if len(_chain(b2, prey)[1]) == 1 and _reference_ladder(b2, prey, attacker, True):
                return True
    return False


def test_ladder_planes_agree_with_a_plain_reader_on_random_positions():
    rng = np.random.default_rng(11)
    g = GameState(9, ko_rule="simple")
    seen = [0, 0]
    while len(g.history) < 120 and not g.is_over():
        play_random_game(g, rng, len(g.history) + 3)
        b, c, w = g.board, g.to_move, 11
        x = state_planes(g)
        for p in g.legal_points(c):
            cap = esc = False
            for q in (p - w, p - 1, p + 1, p + w):
                if b[0][q] == 3 - c and len(_chain(b, q)[1]) == 2:
                    b2 = copy_board(b)
                    play(b2, p, c)
                    cap = cap or _reference_ladder(b2, q, c, True)
                if b[0][q] == c and len(_chain(b, q)[1]) == 1:
                    b2 = copy_board(b)
                    play(b2, p, c)
                    esc = not _reference_ladder(b2, p, 3 - c, False)
            r, k = p // w - 1, p % w - 1
            assert x[P_LADDER_CAPTURE, r, k] == cap and x[P_LADDER_ESCAPE, r, k] == esc
            seen[0] += cap
            seen[1] += esc
    assert seen[0] >= 10 and seen[1] >= 5  # both kinds were met


# ---- batch builders -----------------------------------------------------------------------

def test_symmetric_samples_transform_planes_and_targets_together():
    g = position(LADDER, B, ["D5"])  # the sample: black's ladder capture
    out, targets = sample_batch([g], [(0, 0)] * 8, range(8), with_player=True)
    n = 9
    r, c = cell(g, "D5")
    assert targets[0] == r * n + c
    images = set()
    for k in range(8):
        moved = np.zeros_like(out[0])
        apply_symmetry_planes(out[0], k, moved)
        assert np.array_equal(out[k], moved), k
        assert targets[k] == sym_action(k, n, targets[0])
        tr, tc = divmod(int(targets[k]), n)
        assert out[k, P_LADDER_CAPTURE, tr, tc] == 1.0  # the target is the ladder point
        images.add(out[k].tobytes())
    assert len(images) == 8  # the position has no symmetry


def test_planes_for_samples_equal_the_replayed_positions():
    rng = np.random.default_rng(5)
    plain = play_random_game(GameState(7, ko_rule="simple"), rng, 60)
    handi = GameState(7, ko_rule="simple")
    handi.set_handicap([parse_vertex("C3", 7), parse_vertex("E5", 7)])  # setup stones
    handi = play_random_game(handi, rng, 60)
    games = [plain, handi]
    rows = [(gi, m) for gi, g in enumerate(games) for m in range(len(g.history))]
    syms = rng.integers(0, 8, size=len(rows))
    out, targets = sample_batch(games, rows, syms)
    for i, (gi, m) in enumerate(rows):
        r = replay(games[gi], m)
        want = np.zeros_like(out[i])
        apply_symmetry_planes(state_planes(r), int(syms[i]), want)
        assert np.array_equal(out[i], want), (gi, m)
        p = games[gi].history[m].point
        a = 49 if p == PASS else (p // 9 - 1) * 7 + p % 9 - 1
        assert targets[i] == sym_action(int(syms[i]), 7, a)


def test_planes_for_samples_refuses_a_bad_shard():
    g = position(LADDER, B, ["D5", "E4"])  # a game of two moves
    offsets, moves, colors, so, sp, sc = shard_of([g])
    out = np.zeros((1, 48, 9, 9), np.float32)
    targets = np.zeros(1, np.int64)
    game0, sym0 = np.zeros(1, np.int64), np.zeros(1, np.int64)

    def build(moves, move_idx):
        planes_for_samples(9, offsets, moves, colors, so, sp, sc, game0,
                           np.array([move_idx], np.int64), sym0, False, out, targets)

    build(moves, 1)
    assert targets[0] == 5 * 9 + 4  # E4: row 5 from the top, column 4
    with pytest.raises(ValueError, match="outside its game"):
        build(moves, 2)
    bad = moves.copy()
    bad[0] = parse_vertex("D4", 9)  # occupied by white
    with pytest.raises(ValueError, match="illegal move"):
        build(bad, 1)


class _LeafChecker(UniformEvaluator):
    """Uniform answers; checks the planes of every leaf against a GameState replay of its path."""

    def __init__(self):
        super().__init__(value=0.5)
        self.checked = 0
        self.rng = np.random.default_rng(2)

    def evaluate(self, batch):
        k = batch.count
        n = batch.n
        root = batch.root_state
        syms = self.rng.integers(0, 8, size=k).astype(np.int64)
        out = np.zeros((k, VALUE_PLANES, n, n), dtype=np.float32)
        leaf_batch_planes(batch, root_ages(root), syms, True, out)
        for i in range(k):
            g = root.copy()
            for p in batch.path(i):
                g.play(g.to_move, p)
            want = np.zeros_like(out[i])
            apply_symmetry_planes(state_planes(g, with_player=True), int(syms[i]), want)
            assert np.array_equal(out[i], want)
            self.checked += 1
        super().evaluate(batch)


def test_leaf_planes_follow_the_tree_paths():
    g = position("""
        . . . . . . .
        . . . . . . .
        . . X O . . .
        . . . X X . .
        . . . . . . .
        . . . . . . .
        . . . . . . .
    """, B, ["D6", "E2", "C2", "pass", "F6"])
    ev = _LeafChecker()
    player = MCTSPlayer(SearchConfig(lam=0.0, expand_threshold=1, batch_size=8, seed=3), ev)
    player.genmove(g, g.to_move, Budget(visits=150))
    assert ev.checked >= 150
