"""Rules of Go, case by case, as board diagrams.

Each test sets up a position with ``state_from_diagram`` (``X`` black, ``O`` white, row
numbers and column letters as on a GTP board), plays moves named by GTP vertices and checks
what a Go player would check: liberties, captures, what is legal and why, ko and superko,
undo, the end of the game and the Tromp-Taylor score. Expected numbers (liberties, scores)
are counted by hand from the diagram, never computed by the engine under test.

Sections: liberties and merges; captures and suicide; ko, superko and snapback; scoring;
handicap; undo, passes, move limit and bad input; copies and setup.
"""
import numpy as np
import pytest

from engine.board import BLACK, WHITE, PASS, M_CAPB, M_CAPW, M_KO, M_STAMP, M_TOMOVE
from engine.board import libs_after
from engine.coords import BadVertex, parse_vertex
from engine.diagram import state_from_diagram
from engine.game import GameState, IllegalMove, handicap_points, result_string
from engine.reference import check_consistency, check_superko_screen
from ko_positions import SEND_TWO, TRIPLE_KO

B, W = BLACK, WHITE


# ---- helpers ---------------------------------------------------------------------------

def pt(g, vertex):
    return parse_vertex(vertex, g.size)


def libs(g, vertex):
    """Liberties of the chain through ``vertex`` as the fast board keeps them."""
    b = g.board
    return int(b[3][b[2][pt(g, vertex)]])


def size_of(g, vertex):
    b = g.board
    return int(b[4][b[2][pt(g, vertex)]])


def color(g, vertex):
    return g.color_at(pt(g, vertex))


def play(g, *moves):
    """Play ``(colour, vertex)`` pairs, checking the incremental board after each."""
    for c, v in moves:
        g.play(c, PASS if v == "pass" else pt(g, v))
        check_consistency(g.board)


def captures(g):
    return int(g.board[8][M_CAPB]), int(g.board[8][M_CAPW])


def frozen(g):
    """Everything a move could change (the scratch stamps aside)."""
    meta = g.board[8].copy()
    meta[M_STAMP] = 0
    arrays = tuple(a.tobytes() for i, a in enumerate(g.board[:8]) if i != 7)
    return arrays, meta.tobytes(), tuple(g.history), g.to_move


# ---- liberties and merges ----------------------------------------------------------------

@pytest.mark.parametrize("vertex,expected", [
    ("A1", 2), ("E5", 2), ("A5", 2),  # corners
    ("A3", 3), ("C1", 3), ("E2", 3),  # edges
    ("C3", 4), ("B4", 4),  # centre
])
def test_single_stone_liberties(vertex, expected):
    g = GameState(5)
    assert libs_after(g.board, pt(g, vertex), B) == expected
    play(g, (B, vertex))
    assert libs(g, vertex) == expected


def test_block_and_edge_chain_count_shared_liberties_once():
    g = state_from_diagram("""
        5 X X X . .
        4 . . . . .
        3 . X X . .
        2 . X X . .
        1 . . . . .
          A B C D E
    """)
    assert libs(g, "A5") == 4  # A4 B4 C4 D5
    assert size_of(g, "B5") == 3
    assert libs(g, "B3") == 8  # B4 C4 A3 D3 A2 D2 B1 C1
    assert size_of(g, "C2") == 4


def test_opponent_stones_take_liberties():
    g = state_from_diagram("""
        5 . . . . .
        4 . . O . .
        3 . O X O .
        2 . . . . .
        1 . . . . .
    """)
    assert libs(g, "C3") == 1  # only C2
    assert libs(g, "C4") == 3


def test_one_stone_joins_three_chains():
    g = state_from_diagram("""
        5 . . O . .
        4 . X . X .
        3 . . X . .
        2 . . . . .
        1 . . . . .
          A B C D E
    """)
    # B5 A4 B3 D5 E4 D3 C2: B3 and D3 touch two of the old chains but count once
    assert libs_after(g.board, pt(g, "C4"), B) == 7
    play(g, (B, "C4"))
    assert size_of(g, "B4") == size_of(g, "D4") == size_of(g, "C3") == 4
    assert libs(g, "C3") == 7
    assert libs(g, "C5") == 2  # B5 D5


def test_one_stone_joins_four_chains():
    g = state_from_diagram("""
        7 . . . . . . .
        6 . . . X . . .
        5 . . O X . . .
        4 . X X . X . .
        3 . . . X O . .
        2 . . . X . . .
        1 . . . . . . .
          A B C D E F G
    """)
    assert libs(g, "D6") == 5  # D7 C6 E6 E5 D4
    assert libs(g, "B4") == 5  # B5 A4 B3 C3 D4
    assert libs(g, "E4") == 3  # E5 F4 D4
    assert libs(g, "D2") == 5  # C3 C2 E2 D1 D4
    assert libs_after(g.board, pt(g, "D4"), B) == 12
    play(g, (B, "D4"))
    # D7 C6 E6 E5 B5 A4 B3 C3 F4 C2 E2 D1; E5 and C3 are shared by two arms
    assert libs(g, "D4") == 12
    assert size_of(g, "E4") == 8
    assert libs(g, "C5") == 2 and libs(g, "E3") == 2


# ---- captures and suicide ----------------------------------------------------------------

def test_one_move_captures_two_chains():
    g = state_from_diagram("""
        5 O O . O O
        4 X X X X X
        3 . . . . .
        2 . . . . .
        1 . . . . .
          A B C D E
    """)
    assert libs(g, "A5") == 1 and libs(g, "E5") == 1
    assert libs_after(g.board, pt(g, "C5"), B) == 9
    play(g, (B, "C5"))
    assert captures(g) == (4, 0)
    for v in ("A5", "B5", "D5", "E5"):
        assert color(g, v) == 0
    assert size_of(g, "C5") == 6
    assert libs(g, "C5") == 9  # the five of row 3 and the four freed points
    assert g.board[8][M_KO] == -1  # four stones taken: no ko


SUICIDE = """
    5 . X O . .
    4 X X O . .
    3 O O O . .
    2 . . . . .
    1 . . . . .
      A B C D E
"""


def test_multi_stone_suicide_is_illegal():
    g = state_from_diagram(SUICIDE)
    before = frozen(g)
    assert libs_after(g.board, pt(g, "A5"), B) == 0
    assert g.check_move(B, pt(g, "A5")) == "suicide"
    assert pt(g, "A5") not in g.legal_points(B)
    with pytest.raises(IllegalMove, match="suicide"):
        g.play(B, pt(g, "A5"))
    assert frozen(g) == before


def test_single_stone_suicide_is_illegal():
    g = state_from_diagram("""
        3 . O .
        2 O . O
        1 . O .
    """)
    assert g.check_move(B, pt(g, "B2")) == "suicide"
    assert g.check_move(W, pt(g, "B2")) is None


def test_suicide_looking_move_that_captures_is_legal():
    g = state_from_diagram(SUICIDE, to_move=W)
    assert g.check_move(W, pt(g, "A5")) is None
    assert libs_after(g.board, pt(g, "A5"), W) == 2
    play(g, (W, "A5"))
    assert captures(g) == (0, 3)
    assert [color(g, v) for v in ("B5", "A4", "B4")] == [0, 0, 0]
    assert libs(g, "A5") == 2  # B5 A4
    assert libs(g, "C5") == 9  # D5 D4 D3 A2 B2 C2 and the freed B5 B4 A4


# ---- ko, superko, snapback -----------------------------------------------------------------

KO = """
    5 . . . . .
    4 . X O . .
    3 X O . O .
    2 . X O . .
    1 . . . . .
      A B C D E
"""


@pytest.mark.parametrize("ko_rule", ["simple", "positional", "situational"])
def test_simple_ko_and_retake_after_a_ko_threat(ko_rule):
    g = state_from_diagram(KO, ko_rule=ko_rule)
    play(g, (B, "C3"))
    assert captures(g) == (1, 0)
    assert libs(g, "C3") == 1
    assert g.check_move(W, pt(g, "B3")) == "ko"
    before = frozen(g)
    with pytest.raises(IllegalMove, match="ko"):
        g.play(W, pt(g, "B3"))
    assert frozen(g) == before
    play(g, (W, "E1"), (B, "E5"))  # ko threat and answer elsewhere
    assert g.check_move(W, pt(g, "B3")) is None
    play(g, (W, "B3"))
    assert color(g, "C3") == 0 and captures(g) == (1, 1)
    assert g.check_move(B, pt(g, "C3")) == "ko"


def test_snapback_is_not_ko():
    g = state_from_diagram("""
        5 . . . . .
        4 . . . . .
        3 X X X X .
        2 O O O X .
        1 . . O X .
          A B C D E
    """)
    play(g, (B, "B1"))  # throw-in: one liberty left for each side
    assert libs(g, "B1") == 1 and libs(g, "C1") == 1
    play(g, (W, "A1"))  # takes one stone, but into a five-stone chain in atari
    assert captures(g) == (0, 1)
    assert g.board[8][M_KO] == -1
    assert libs(g, "A1") == 1 and size_of(g, "A1") == 5
    assert g.check_move(B, pt(g, "B1")) is None
    play(g, (B, "B1"))
    assert captures(g) == (5, 1)
    assert [color(g, v) for v in ("A1", "A2", "B2", "C2", "C1")] == [0] * 5


# ko_positions.TRIPLE_KO: three kos side by side, two that black can take, one for white.
TRIPLE_KO_CYCLE = [(B, "C8"), (W, "B2"), (B, "C5"), (W, "B8"), (B, "C2")]


@pytest.mark.parametrize("ko_rule,reason", [
    ("simple", None), ("positional", "superko"), ("situational", "superko"),
])
def test_triple_ko_cycle(ko_rule, reason):
    g = state_from_diagram(TRIPLE_KO, ko_rule=ko_rule)
    start = g.stones()
    play(g, *TRIPLE_KO_CYCLE)
    assert captures(g) == (3, 2)
    # each take is legal under simple ko; the sixth restores the start, black to move again
    assert g.check_move(W, pt(g, "B5")) == reason
    if reason is None:
        play(g, (W, "B5"))
        assert np.array_equal(g.stones(), start)
        assert g.to_move == B


# ko_positions.SEND_TWO: sending two, returning one; the start comes back after three moves,
# with the *other* side to move.
@pytest.mark.parametrize("ko_rule,reason", [
    ("simple", None), ("positional", "superko"), ("situational", None),
])
def test_send_two_return_one(ko_rule, reason):
    g = state_from_diagram(SEND_TWO, ko_rule=ko_rule)
    start = g.stones()
    play(g, (B, "A5"), (W, "C5"))
    assert captures(g) == (0, 2)
    assert libs(g, "C5") == 1
    assert g.board[8][M_KO] == -1  # two stones taken: not a ko
    assert g.check_move(B, pt(g, "B5")) == reason
    if reason is None:
        play(g, (B, "B5"))
        assert np.array_equal(g.stones(), start) and g.to_move == W


@pytest.mark.parametrize("ko_rule,reason", [
    ("simple", None), ("positional", "superko"), ("situational", None),
])
def test_position_repeated_with_other_side_to_move_after_a_pass(ko_rule, reason):
    # Two of the kos above; a pass shifts the parity, so the start returns with white to move.
    g = state_from_diagram(TRIPLE_KO, ko_rule=ko_rule)
    start = g.stones()
    play(g, (B, "C8"), (W, "B2"), (B, "pass"), (W, "B8"))
    assert g.check_move(B, pt(g, "C2")) == reason
    if reason is None:
        play(g, (B, "C2"))
        assert np.array_equal(g.stones(), start) and g.to_move == W
    else:
        assert pt(g, "C2") not in g.legal_points(B)


@pytest.mark.parametrize("ko_rule", ["positional", "situational"])
def test_side_to_move_set_up_counts_for_situational_superko(ko_rule):
    # as above, but the start has white to move: after white's pass and the three moves the
    # start comes back with white to move, which situational superko forbids as well
    g = state_from_diagram(SEND_TWO, to_move=W, ko_rule=ko_rule)
    play(g, (W, "pass"), (B, "A5"), (W, "C5"))
    assert g.check_move(B, pt(g, "B5")) == "superko"


def test_a_copy_keeps_its_own_superko_memory():
    g = state_from_diagram(TRIPLE_KO, ko_rule="positional")
    h = g.copy()
    play(h, *TRIPLE_KO_CYCLE)
    assert h.check_move(W, pt(h, "B5")) == "superko"
    k = h.copy()
    for _ in range(3):
        k.undo()
    play(g, (B, "E5"))
    for s in (g, h, k):
        check_superko_screen(s)
    assert pt(h, "B5") not in h.legal_points(W)
    assert h.check_move(W, pt(h, "B5")) == "superko"


def test_superko_rejection_leaves_state_unchanged():
    g = state_from_diagram(SEND_TWO, ko_rule="positional")
    play(g, (B, "A5"), (W, "C5"))
    before = frozen(g)
    with pytest.raises(IllegalMove, match="superko"):
        g.play(B, pt(g, "B5"))
    assert frozen(g) == before
    play(g, (B, "E5"))  # the game goes on normally


# ---- scoring ----------------------------------------------------------------------------

def test_seki_points_are_neutral():
    g = state_from_diagram("""
        5 . X . O .
        4 X X X O O
        3 X X X O O
        2 X X X O O
        1 X X X O O
          A B C D E
    """, komi=0.5)
    # C5 is a shared liberty: whoever fills it is left in atari and is taken
    assert libs_after(g.board, pt(g, "C5"), B) == 1
    assert libs_after(g.board, pt(g, "C5"), W) == 1
    assert g.check_move(B, pt(g, "E5")) == "suicide"
    play(g, (B, "pass"), (W, "pass"))
    assert g.is_over()
    # black 13 stones + A5, white 9 stones + E5; C5 counts for nobody
    assert g.score() == 14 - 10 - 0.5
    own = g.owner().reshape(5, 5)
    assert own[0, 2] == 0 and own[0, 0] == 1 and own[0, 4] == -1


@pytest.mark.parametrize("diagram,komi,expected,result", [
    # empty board: one region touching no colour is nobody's
    ("""
     . . .
     . . .
     . . .
     """, 7.5, -7.5, "W+7.5"),
    # one stone owns the whole board
    ("""
     . . .
     . X .
     . . .
     """, 7.5, 1.5, "B+1.5"),
    # black 7 stones + 3 eyes, white 7 stones + 8 points
    ("""
     . X O . .
     X X O . .
     . X O O O
     X X O . .
     . X O . .
     """, 7.5, -12.5, "W+12.5"),
    # a dead white stone is not removed: black's region touches white and is neutral
    ("""
     . . . X .
     . O . X .
     . . . X .
     . . . X .
     . . . X .
     """, 0.0, 9.0, "B+9"),
    # even split, no komi
    ("""
     . X O .
     . X O .
     . X O .
     . X O .
     """, 0.0, 0.0, "0"),
], ids=["empty", "one-stone", "finished", "dead-stone-stays", "jigo"])
def test_tromp_taylor_scores(diagram, komi, expected, result):
    g = state_from_diagram(diagram, komi=komi)
    play(g, (B, "pass"), (W, "pass"))
    assert g.is_over()
    assert g.score() == expected
    assert result_string(g.score()) == result
    own = g.owner()
    assert own.sum() - komi == expected  # ownership agrees with the score


# ---- handicap ----------------------------------------------------------------------------

# GTP 2 specification, section 4.1.1 (fixed handicap placement)
GTP_HANDICAP = {
    19: {2: "D4 Q16", 3: "D4 Q16 D16", 4: "D4 Q16 D16 Q4", 5: "D4 Q16 D16 Q4 K10",
         6: "D4 Q16 D16 Q4 D10 Q10", 7: "D4 Q16 D16 Q4 D10 Q10 K10",
         8: "D4 Q16 D16 Q4 D10 Q10 K4 K16", 9: "D4 Q16 D16 Q4 D10 Q10 K4 K16 K10"},
    13: {2: "D4 K10", 3: "D4 K10 D10", 4: "D4 K10 D10 K4", 5: "D4 K10 D10 K4 G7",
         6: "D4 K10 D10 K4 D7 K7", 7: "D4 K10 D10 K4 D7 K7 G7",
         8: "D4 K10 D10 K4 D7 K7 G4 G10", 9: "D4 K10 D10 K4 D7 K7 G4 G10 G7"},
    9: {2: "C3 G7", 3: "C3 G7 C7", 4: "C3 G7 C7 G3", 5: "C3 G7 C7 G3 E5",
        6: "C3 G7 C7 G3 C5 G5", 7: "C3 G7 C7 G3 C5 G5 E5",
        8: "C3 G7 C7 G3 C5 G5 E3 E7", 9: "C3 G7 C7 G3 C5 G5 E3 E7 E5"},
}


@pytest.mark.parametrize("n,count", [(n, k) for n in (9, 13, 19) for k in range(2, 10)])
def test_fixed_handicap_matches_gtp_spec(n, count):
    expected = [parse_vertex(v, n) for v in GTP_HANDICAP[n][count].split()]
    got = handicap_points(n, count)
    assert len(got) == len(set(got)) == count
    assert set(got) == set(expected)


@pytest.mark.parametrize("n,count", [(9, 1), (9, 10), (19, 0), (8, 5), (7, 5), (6, 2)])
def test_fixed_handicap_rejects_impossible_counts(n, count):
    with pytest.raises(ValueError):
        handicap_points(n, count)


def test_handicap_game_starts_with_white():
    g = GameState(9, komi=0.5)
    g.set_handicap(handicap_points(9, 4))
    assert g.to_move == W and g.handicap == 4 and g.history == []
    assert int((g.stones() == B).sum()) == 4
    assert g.score() == 81 - 0.5  # four black stones own the empty board
    assert g.undo() is False  # setup stones are not moves
    with pytest.raises(ValueError):
        g.set_handicap(handicap_points(9, 2))  # board not empty


# ---- undo, passes, move limit, bad input -----------------------------------------------

def test_undo_restores_captures_and_ko_state():
    g = state_from_diagram(KO)
    start, start_hash = g.stones(), g.hash
    play(g, (B, "C3"))
    assert g.undo()
    assert color(g, "B3") == W and color(g, "C3") == 0 and captures(g) == (0, 0)
    assert libs(g, "B3") == 1
    check_consistency(g.board)
    play(g, (B, "C3"), (W, "E1"), (B, "E5"), (W, "B3"))
    assert captures(g) == (1, 1)
    assert g.undo()  # the retake
    assert color(g, "C3") == B and color(g, "B3") == 0 and captures(g) == (1, 0)
    assert g.check_move(W, pt(g, "B3")) is None  # ko was over after the exchange
    assert g.undo() and g.undo()  # B E5, W E1
    assert g.check_move(W, pt(g, "B3")) == "ko"  # right after the take again
    assert g.to_move == W
    assert g.undo()
    assert not g.undo()
    assert np.array_equal(g.stones(), start) and g.hash == start_hash and g.to_move == B
    check_consistency(g.board)


def test_undo_forgets_superko_history():
    g = state_from_diagram(KO, ko_rule="positional")
    play(g, (B, "C3"), (W, "E1"), (B, "E5"), (W, "B3"))  # ends on the start plus E1 and E5
    for _ in range(4):
        g.undo()
    play(g, (B, "E5"))
    # the same position again, but the line that reached it first was taken back
    assert g.check_move(W, pt(g, "E1")) is None
    play(g, (W, "E1"))


def test_two_passes_end_the_game():
    g = GameState(5)
    play(g, (B, "pass"))
    assert not g.is_over() and g.passes == 1
    play(g, (W, "C3"))
    assert g.passes == 0
    play(g, (B, "pass"))
    assert not g.is_over()
    play(g, (W, "pass"))
    assert g.is_over() and g.passes == 2
    g.undo()
    assert not g.is_over()


def test_move_limit_ends_the_game():
    assert GameState(5).move_limit == 3 * 25
    g = GameState(5, move_limit=3)
    play(g, (B, "C3"), (W, "D3"))
    assert not g.is_over()
    play(g, (B, "C4"))
    assert g.is_over()


def test_illegal_moves_raise_and_change_nothing():
    g = state_from_diagram(KO, ko_rule="positional")
    play(g, (B, "C3"))
    before = frozen(g)
    n = g.size
    w = n + 2
    cases = [
        (W, pt(g, "C3"), "occupied"),
        (W, pt(g, "B3"), "ko"),
        (W, 0, "off board"),  # frame corner of the padded array
        (W, w + n + 1, "off board"),  # frame on the right of row 5
        (W, w * w, "off board"),  # past the end of the array
        (W, -5, "off board"),
    ]
    for c, p, reason in cases:
        assert g.check_move(c, p) == reason
        assert not g.is_legal(c, p)
        with pytest.raises(IllegalMove, match=reason):
            g.play(c, p)
        assert frozen(g) == before


@pytest.mark.parametrize("text", ["F1", "A6", "I3", "A0", "Z9", "", "3C", "pas"])
def test_vertices_off_a_5x5_board_are_rejected(text):
    with pytest.raises(BadVertex):
        parse_vertex(text, 5)


def test_bad_game_settings_are_rejected():
    with pytest.raises(ValueError):
        GameState(1)
    with pytest.raises(ValueError):
        GameState(20)
    with pytest.raises(ValueError):
        GameState(9, ko_rule="japanese")
    with pytest.raises(ValueError):
        state_from_diagram("""
            . O
            O X
        """)  # X has no liberty


# ---- copies, undo and setup are independent and all-or-nothing ----------------------------

def test_copy_and_original_undo_independently():
    g = GameState(5)
    play(g, (B, "C3"))
    h = g.copy()
    h.undo()
    play(h, (W, "D4"))
    g.undo()
    assert int((g.stones() != 0).sum()) == 0
    assert g.hash == 0


def test_copy_keeps_its_own_initial_board():
    g = GameState(9)
    h = g.copy()
    h.set_to_move(W)
    assert g.to_move == B
    assert g.initial_board()[8][M_TOMOVE] == B


def test_rejected_setup_loses_nothing():
    g = GameState(5)
    g.place_stones(W, [pt(g, "A2"), pt(g, "B1")])
    before = g.stones()
    with pytest.raises(ValueError):
        g.place_stones(B, [pt(g, "E5"), pt(g, "A1")])  # A1 would have no liberty
    assert np.array_equal(g.stones(), before)
