"""SGF records: reading main lines (setup, passes, move numbers), writing games back, and the
errors a broken record gives."""
import os

import numpy as np
import pytest

from engine.board import BLACK, WHITE, PASS, M_CAPB
from engine.coords import parse_vertex
from engine.diagram import parse_diagram, state_from_diagram
from engine.game import GameState, Move, handicap_points
from engine.player import Budget, RandomPlayer
from engine.sgf import (GameRecord, SgfError, game_to_sgf, load_sgf, load_sgf_game, save_sgf,
                        write_sgf_atomic)


def play(g, moves):
    """Play 'W C4', 'B pass', ... on ``g``."""
    for m in moves:
        color, vertex = m.split()
        g.play(BLACK if color == "B" else WHITE, parse_vertex(vertex, g.size))
    return g


def handicap_game():
    """9x9, two handicap stones, komi 0.5: black captures the white stone at C4, both sides
    pass in the middle and at the end."""
    g = GameState(9, komi=0.5)
    g.set_handicap(handicap_points(9, 2))
    return play(g, ["W C4", "B D4", "W F5", "B B4", "W F4", "B C5",
                    "W pass", "B E7", "W G3", "B pass", "W pass"])


HANDICAP_GAME_END = """
    . . . . . . . . .
    . . . . . . . . .
    . . . . X . X . .
    . . . . . . . . .
    . . X . . O . . .
    . X . X . O . . .
    . . X . . . O . .
    . . . . . . . . .
    . . . . . . . . .
"""


def test_round_trip_keeps_board_history_komi_and_handicap():
    g = handicap_game()
    assert (g.stones() == parse_diagram(HANDICAP_GAME_END)).all()  # C4 was captured

    text = game_to_sgf(g, black_name="Black Player", white_name="White Player", result="W+0.5")
    for prop in ("FF[4]", "GM[1]", "SZ[9]", "KM[0.5]", "HA[2]", "AB[cg][gc]", "RU[Chinese]",
                 "PB[Black Player]", "PW[White Player]", "RE[W+0.5]", "AP[alphago-py:"):
        assert prop in text
    assert ";W[]" in text and ";B[]" in text  # passes in FF[4] form

    h = load_sgf(text)
    assert h.history == g.history
    assert (h.stones() == parse_diagram(HANDICAP_GAME_END)).all()
    assert h.komi == 0.5 and h.handicap == 2
    assert h.to_move == g.to_move and h.is_over()
    assert h.board[8][M_CAPB] == 1
    assert h.score() == g.score()
    # the history replays back to the handicap stones, white to move
    while h.undo():
        pass
    assert sorted(zip(*np.nonzero(h.stones()))) == [(2, 6), (6, 2)]  # G7, C3
    assert h.to_move == WHITE


def test_round_trip_of_a_random_game_to_the_end():
    g = GameState(7, komi=7.5)
    bot = RandomPlayer(seed=4)
    while not g.is_over():
        g.play(g.to_move, bot.genmove(g, g.to_move, Budget()))
    assert g.board[8][M_CAPB] > 0  # the game had captures
    h = load_sgf(game_to_sgf(g))
    assert h.history == g.history
    assert (h.stones() == g.stones()).all() and h.score() == g.score()


def test_round_trip_of_setup_stones_with_white_to_move():
    g = state_from_diagram("""
        . X O . .
        X O . O .
        . X O . .
        . . . . .
        . . . . .
    """, to_move=WHITE, komi=6.5)
    play(g, ["W A3", "B C4"])  # black takes the ko
    h = load_sgf(game_to_sgf(g))
    assert h.history == g.history
    assert (h.stones() == g.stones()).all()
    assert h.komi == 6.5 and h.handicap == 0
    assert not h.is_legal(WHITE, parse_vertex("B4", 5))  # the ko came back with the moves
    h.undo()
    h.undo()
    assert h.to_move == WHITE and len(h.history) == 0


def test_write_atomic_replaces_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "game.sgf"
    path.write_text("old contents")
    g = handicap_game()
    save_sgf(path, g, result="W+0.5")
    assert os.listdir(tmp_path) == ["game.sgf"]
    assert load_sgf(path).history == g.history
    assert load_sgf(str(path)).history == g.history
    write_sgf_atomic(path, game_to_sgf(GameState(5)))
    assert load_sgf(path).size == 5
    assert os.listdir(tmp_path) == ["game.sgf"]


def test_write_atomic_into_missing_folder_fails_cleanly(tmp_path):
    with pytest.raises(OSError):
        write_sgf_atomic(tmp_path / "nope" / "game.sgf", "(;SZ[9])")
    assert os.listdir(tmp_path) == []


def test_extra_root_properties():
    text = game_to_sgf(GameState(9), extra={"DT": "2026-01-31", "GN": "a]b"})
    rec = load_sgf_game(text)
    assert rec.date == "2026-01-31"
    assert "GN[a\\]b]" in text
    with pytest.raises(ValueError, match="SZ"):
        game_to_sgf(GameState(9), extra={"SZ": "19"})


RECORD = "(;GM[1]FF[4]SZ[9]KM[7.5];B[ee];B[dc];W[cg];B[gg])"


def test_move_number_gives_the_position_before_that_move():
    empty = load_sgf(RECORD, move_number=1)
    assert len(empty.history) == 0 and not empty.stones().any()
    assert empty.to_move == BLACK

    g = load_sgf(RECORD, move_number=2)
    assert g.history == [Move(BLACK, parse_vertex("E5", 9))]
    assert g.to_move == BLACK  # move 2 is black again, so black is to play

    g = load_sgf(RECORD, move_number=3)
    assert g.color_at(parse_vertex("D7", 9)) == BLACK
    assert g.to_move == WHITE

    whole = load_sgf(RECORD)
    assert len(whole.history) == 4 and whole.to_move == WHITE
    assert load_sgf(RECORD, move_number=99).history == whole.history


@pytest.mark.parametrize("bad", [0, -3, 1.5, "2"])
def test_bad_move_number(bad):
    with pytest.raises(SgfError, match="move number"):
        load_sgf(RECORD, move_number=bad)


def test_setup_stones_ab_aw_with_compressed_points():
    g = load_sgf("(;GM[1]FF[4]SZ[5]AB[ab][ba]AW[cc:dd]PL[W])")
    assert (g.stones() == parse_diagram("""
        . X . . .
        X . . . .
        . . O O .
        . . O O .
        . . . . .
    """)).all()
    assert g.to_move == WHITE and g.history == [] and g.handicap == 0


def test_setup_in_later_nodes_and_ae_before_the_first_move():
    g = load_sgf("(;SZ[5]AB[aa][bb];AE[aa]AW[ee];B[ca])")
    assert (g.stones() == parse_diagram("""
        . . X . .
        . X . . .
        . . . . .
        . . . . .
        . . . . O
    """)).all()
    assert g.history == [Move(BLACK, parse_vertex("C5", 5))]


def test_setup_after_moves_is_refused():
    with pytest.raises(SgfError, match="setup stones"):
        load_sgf("(;SZ[5];B[aa];AB[cc])")


def test_tt_and_empty_are_passes():
    g = load_sgf("(;SZ[19];B[pd];W[tt];B[dp])")
    assert g.history == [Move(BLACK, parse_vertex("Q16", 19)), Move(WHITE, PASS),
                         Move(BLACK, parse_vertex("D4", 19))]
    g = load_sgf("(;SZ[9];B[];W[tt])")
    assert [m.point for m in g.history] == [PASS, PASS] and g.is_over()


def test_game_info():
    rec = load_sgf_game("(;GM[1]FF[4]SZ[19]KM[7.5]PB[Lee Sedol]PW[AlphaGo]BR[9p]WR[]"
                        "RE[W+R]DT[2016-03-09]RU[Chinese]EV[Google DeepMind Challenge Match]"
                        ";B[pd];W[dd])")
    assert isinstance(rec, GameRecord)
    assert (rec.black_name, rec.white_name, rec.black_rank, rec.white_rank) == ("Lee Sedol", "AlphaGo", "9p", "")
    assert rec.result == "W+R" and rec.winner == WHITE
    assert rec.date == "2016-03-09" and rec.rules == "Chinese" and rec.event.startswith("Google")
    assert rec.size == 19 and rec.komi == 7.5 and rec.handicap == 0
    assert rec.moves == (Move(BLACK, parse_vertex("Q16", 19)), Move(WHITE, parse_vertex("D16", 19)))


def test_handicap_record_puts_white_to_move():
    rec = load_sgf_game("(;SZ[9]HA[2]KM[0.5]AB[cg][gc])")
    assert rec.handicap == 2
    g = rec.replay()
    assert g.handicap == 2 and g.to_move == WHITE


def test_text_in_declared_charset():
    rec = load_sgf_game(b"(;CA[ISO-8859-1]SZ[9]PB[Ren\xe9])")
    assert rec.black_name == "Ren\u00e9"


@pytest.mark.parametrize("text", [
    "(;SZ[9];B[ee]",  # unterminated
    "no game record here\nat all",
    "(;SZ[9]KM[lots])",
    "(;GM[2]SZ[9])",  # not Go
])
def test_corrupt_text(text):
    with pytest.raises(SgfError):
        load_sgf(text)


def test_corrupt_and_missing_files(tmp_path):
    junk = tmp_path / "junk.sgf"
    junk.write_bytes(b"\x00\x01\x02 not sgf")
    with pytest.raises(SgfError, match="junk.sgf"):
        load_sgf(junk)
    with pytest.raises(SgfError, match="cannot read"):
        load_sgf(tmp_path / "missing.sgf")


def test_point_off_the_board():
    with pytest.raises(SgfError, match="move 2"):
        load_sgf("(;SZ[9];B[ee];W[zz])")


def test_illegal_move_in_record_names_the_move():
    text = "(;SZ[9]KM[7.5];B[ee];W[dd];B[ee])"
    with pytest.raises(SgfError, match=r"move 3.*E5.*occupied"):
        load_sgf(text)
    # the position before the bad move still loads, as GTP loadsgf asks
    assert len(load_sgf(text, move_number=3).history) == 2


def test_suicide_in_record():
    # white A5 inside black's corner has no liberty
    with pytest.raises(SgfError, match=r"move 4.*A5.*suicide"):
        load_sgf("(;SZ[5];B[ba];W[ed];B[ab];W[aa])")


def test_ko_recapture_in_record():
    setup = "AB[ba][ab][bc]AW[ca][bb][db][cc]"
    # black takes at C4, white retakes at once
    with pytest.raises(SgfError, match=r"move 2.*B4.*ko"):
        load_sgf(f"(;SZ[5]{setup};B[cb];W[bb])")
    g = load_sgf(f"(;SZ[5]{setup};B[cb];W[ee];B[ae];W[bb])")
    assert g.color_at(parse_vertex("B4", 5)) == WHITE


@pytest.mark.parametrize("size", ["1", "20", "21", "27", "19:19", "x"])
def test_unsupported_sizes(size):
    with pytest.raises(SgfError, match="size|SZ"):
        load_sgf(f"(;GM[1]SZ[{size}])")


def test_errors_are_value_errors():
    assert issubclass(SgfError, ValueError)
