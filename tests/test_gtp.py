"""The GTP engine, driven by scripted sessions: commands in, the exact responses out.

Most sessions run in-process (``session``) with ``RandomPlayer`` or ``FakePlayer``, a player
that reports a fixed analysis and plays its best move, so nothing here depends on search
strength. Trailing spaces at line ends are dropped before comparing (GNU Go's ``= `` has
one); ``test_response_framing`` checks the raw bytes once.
"""
import io
import logging
import os
import queue
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.board import BLACK, PASS, WHITE, rowcol
from engine.coords import parse_vertex
from engine.player import MoveInfo, Player, RandomPlayer
from gtp import analysis
from gtp.__main__ import build_parser, engine_config, parse_args
from gtp.engine import EngineConfig, GtpEngine, board_text, free_handicap_points, preprocess

ROOT = Path(__file__).resolve().parents[1]
GNUGO = "/usr/games/gnugo"


class FakePlayer(Player):
    """Reports ``infos`` (vertices on a ``size`` board) and plays the first of them."""
    name = "fake"

    def __init__(self, size=9, ownership=None, repeat=False):
        def pt(v):
            return parse_vertex(v, size)
        self.infos = [
            MoveInfo(pt("D4"), 123, 0.5321, 0.12, 0.51, 0, [pt("D4"), pt("C4")], 2.1),
            MoveInfo(pt("C3"), 40, 0.48, 0.3, 0.4, 1, [pt("C3")], -0.5),
        ]
        self.own = ownership
        self.repeat = repeat  # analyze: report every millisecond instead of once
        self.genmoves = []  # (color, budget) per genmove call
        self.analyses = []  # (color, interval_s, want_ownership) per analyze call
        self.stopped = threading.Event()

    def genmove(self, state, color, budget, on_info=None):
        self.genmoves.append((color, budget))
        if on_info:
            on_info(self.infos, self.own)
            on_info(self.infos, self.own)
        return self.infos[0].move

    def analyze(self, state, color, stop, interval_s, on_info, want_ownership=False):
        self.analyses.append((color, interval_s, want_ownership))
        on_info(self.infos, self.own if want_ownership else None)
        while self.repeat and not stop.wait(0.001):
            on_info(self.infos, None)
        stop.wait()
        self.stopped.set()

    def ownership(self, state):
        return self.own


class FailingPlayer(RandomPlayer):
    def genmove(self, state, color, budget, on_info=None):
        raise RuntimeError("search exploded")


def new_engine(player=None, **config):
    config.setdefault("size", 9)
    return GtpEngine(player or RandomPlayer(seed=1), EngineConfig(**config))


def session(script, player=None, engine=None, **config):
    """Run ``script`` (dedented) through an engine; the output, line ends stripped."""
    eng = engine or new_engine(player, **config)
    out = io.StringIO()
    eng.run(io.StringIO(textwrap.dedent(script).lstrip("\n")), out)
    return "\n".join(line.rstrip() for line in out.getvalue().split("\n"))


def expect(text):
    return textwrap.dedent(text).lstrip("\n")


EMPTY_9 = """\
   A B C D E F G H J
 9 . . . . . . . . . 9
 8 . . . . . . . . . 8
 7 . . + . . . + . . 7
 6 . . . . . . . . . 6
 5 . . . . + . . . . 5
 4 . . . . . . . . . 4
 3 . . + . . . + . . 3
 2 . . . . . . . . . 2     WHITE (O) has captured 0 stones
 1 . . . . . . . . . 1     BLACK (X) has captured 0 stones
   A B C D E F G H J"""


# -- protocol ---------------------------------------------------------------------------------
def test_response_framing():
    out = io.StringIO()
    new_engine(FakePlayer()).run(io.StringIO("boardsize 9\n7 genmove b\n8 foo\nquit\n"), out)
    assert out.getvalue() == "= \n\n=7 D4\n\n?8 unknown command\n\n= \n\n"


def test_preprocessing_ids_comments_crlf_tabs_and_control_characters():
    script = ("# a comment line\r\n"
              "\r\n"
              "   \t  \n"
              "1 name # trailing comment\r\n"
              "2\tprotocol_version\n"
              "3 ver\x01sion\x7f\n"
              "\x04known_command play\n"
              "10 KNOWN_COMMAND kata-analyze\n"
              "11 known_command nonsense\n"
              "12\n")
    assert session(script) == expect("""
        =1 alphago-py

        =2 2

        =3 0.1.0

        = true

        =10 true

        =11 false

        ?12 missing command

        """)
    assert preprocess("play b d4 # x\r\n") == "play b d4"
    assert preprocess("\tgen\x00move\tw\n") == "genmove w"


def test_version_contains_a_dot_and_list_commands_is_complete():
    out = session("version\nlist_commands\n")
    version = out.split("\n")[0][2:]
    assert "." in version
    listed = set(out.split("\n\n")[1].lstrip("= ").split("\n"))
    required = {"protocol_version", "name", "version", "known_command", "list_commands", "quit",
                "boardsize", "clear_board", "komi", "play", "genmove", "undo", "showboard",
                "final_score", "final_status_list", "fixed_handicap", "place_free_handicap",
                "set_free_handicap", "time_settings", "time_left", "kgs-time_settings", "loadsgf",
                "printsgf", "reg_genmove", "lz-analyze", "lz-genmove_analyze", "kata-analyze",
                "kata-genmove_analyze", "gogui-analyze_commands"}
    assert required <= listed


def test_quit_ends_the_session_and_later_commands_are_not_read():
    assert session("1 quit\n2 name\n") == "=1\n\n"


def test_bad_input_gets_an_error_and_changes_nothing():
    out = session("""
        play b D4
        foo
        play b
        play x D4
        play b Z9
        play b J10
        play b I5
        play b resign
        boardsize nine
        boardsize 25
        boardsize 1
        komi abc
        genmove purple
        time_settings 1 2
        time_left b x 0
        kgs-time_settings fischer 1 2
        final_status_list zombie
        lz-analyze b 10 bogus 3
        fixed_handicap 4 5
        showboard
        """)
    assert out == expect("""
        =

        ? unknown command

        ? syntax error: expected play COLOR VERTEX

        ? invalid color 'x'

        ? invalid vertex 'Z9'

        ? vertex 'J10' is off a 9x9 board

        ? invalid vertex 'I5'

        ? illegal move: resign is not a move

        ? boardsize not an integer

        ? unacceptable size

        ? unacceptable size

        ? komi not a float

        ? invalid color 'purple'

        ? syntax error: expected time_settings MAIN_TIME BYO_YOMI_TIME BYO_YOMI_STONES

        ? time not a float

        ? syntax error: unknown time system 'fischer'

        ? invalid status

        ? syntax error: unknown analysis option 'bogus'

        ? syntax error: expected fixed_handicap COUNT

        =
        """) + EMPTY_9.replace(" 4 . . . . . . . . . 4", " 4 . . . X . . . . . 4") + "\n\n"


def test_exceptions_inside_a_handler_are_reported_and_the_engine_goes_on(tmp_path):
    log = tmp_path / "log.txt"
    handler = logging.FileHandler(log)
    logging.getLogger("gtp").addHandler(handler)
    try:
        out = session("play b E5\n5 genmove w\nname\nshowboard\n", player=FailingPlayer())
    finally:
        logging.getLogger("gtp").removeHandler(handler)
        handler.close()
    replies = out.split("\n\n")
    assert replies[1:3] == ["?5 internal error: RuntimeError: search exploded", "= alphago-py"]
    assert replies[3] == "=\n" + EMPTY_9.replace(" 5 . . . . + . . . . 5", " 5 . . . . X . . . . 5")
    assert "search exploded" in log.read_text()


# -- moves, undo, showboard -----------------------------------------------------------------
KO_SETUP = """\
    boardsize 5
    play b A2
    play w C3
    play b B3
    play w D2
    play b B1
    play w C1
    play w B2
    play b C2
    """

AFTER_CAPTURE = """\
   A B C D E
 5 . . . . . 5
 4 . + . + . 4
 3 . X O . . 3
 2 X + X O . 2     WHITE (O) has captured 0 stones
 1 . X O . . 1     BLACK (X) has captured 1 stones
   A B C D E"""

BEFORE_CAPTURE = """\
   A B C D E
 5 . . . . . 5
 4 . + . + . 4
 3 . X O . . 3
 2 X O . O . 2     WHITE (O) has captured 0 stones
 1 . X O . . 1     BLACK (X) has captured 0 stones
   A B C D E"""


def test_showboard_draws_the_board_as_gnu_go_does():
    out = session(KO_SETUP + "showboard\n")
    assert out == "=\n\n" * 9 + "=\n" + AFTER_CAPTURE + "\n\n"


def test_illegal_moves_leave_the_position_unchanged():
    out = session(KO_SETUP + """
        play w B2
        play w A1
        play b C2
        play w C2
        showboard
        """)
    replies = out.split("\n\n")[9:]
    assert replies[:4] == ["? illegal move B2: ko", "? illegal move A1: suicide",
                           "? illegal move C2: occupied", "? illegal move C2: occupied"]
    assert replies[4] == "=\n" + AFTER_CAPTURE


def test_undo_restores_captures_and_stops_at_the_start():
    out = session(KO_SETUP + "undo\nshowboard\nclear_board\nundo\n")
    replies = out.split("\n\n")
    assert replies[10] == "=\n" + BEFORE_CAPTURE
    assert replies[12] == "? cannot undo"


def test_colours_and_vertices_are_case_insensitive_and_i_is_skipped():
    out = session("play BLACK j9\nplay White h8\nplay w A1\nshowboard\n")
    board = out.split("\n\n")[3]
    assert " 9 . . . . . . . . X 9" in board
    assert " 8 . . . . . . . O . 8" in board
    assert " 1 O . . . . . . . . 1" in board


def test_star_points_follow_gnu_go_on_every_size():
    from engine.game import GameState
    stars = {n: [(r, c) for r, line in enumerate(board_text(GameState(n)).split("\n")[2:2 + n])
                 for c, ch in enumerate(line[3:3 + 2 * n:2]) if ch == "+"] for n in (3, 5, 7, 9, 13, 19)}
    assert stars[3] == [(1, 1)]
    assert stars[9] == [(2, 2), (2, 6), (4, 4), (6, 2), (6, 6)]
    assert len(stars[13]) == len(stars[19]) == 9 and (3, 3) in stars[19] and (9, 9) in stars[19]
    assert (3, 3) in stars[13] and (6, 6) in stars[13]


@pytest.mark.gnugo
@pytest.mark.skipif(not os.path.exists(GNUGO), reason="GNU Go not installed")
def test_showboard_matches_gnu_go_exactly():
    script = ""
    for n in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 19):
        script += f"boardsize {n}\nclear_board\nplay b A1\nplay w B1\nplay b A2\nplay w B2\nplay b C1\n"
        script += "play w A3\n" if n >= 3 else ""
        script += "showboard\n"
    ours = session(script)
    gnugo = subprocess.run([GNUGO, "--mode", "gtp"], input=script + "quit\n", capture_output=True,
                           text=True, timeout=60).stdout
    gnugo = "\n".join(line.rstrip() for line in gnugo.split("\n"))
    boards = [r for r in ours.split("\n\n") if "\n" in r]
    assert len(boards) == 15
    assert [r for r in gnugo.split("\n\n") if "\n" in r] == boards


# -- genmove ------------------------------------------------------------------------------------
def test_genmove_honours_the_colour_and_plays_the_move():
    fake = FakePlayer()
    out = session("genmove w\nshowboard\ngenmove b\n", player=fake)
    replies = out.split("\n\n")
    assert replies[0] == "= D4"
    assert " 4 . . . O . . . . . 4" in replies[1]
    assert replies[2] == "= pass"  # the player's move was occupied: the engine passes instead
    assert [c for c, _ in fake.genmoves] == [WHITE, BLACK]


def test_genmove_on_a_finished_game_still_answers():
    out = session("play b pass\nplay w pass\ngenmove b\ngenmove w\n")
    replies = out.split("\n\n")
    assert replies[2].startswith("= ") and replies[3].startswith("= ")


def test_reg_genmove_does_not_play():
    fake = FakePlayer()
    out = session("reg_genmove b\nshowboard\n", player=fake)
    assert out == "= D4\n\n=\n" + EMPTY_9 + "\n\n"


def test_random_player_game_replies_are_moves_that_were_played():
    eng = new_engine(RandomPlayer(seed=3), size=5)
    out = session("genmove b\ngenmove w\n" * 30, engine=eng)
    replies = out.split("\n\n")[:-1]
    assert len(replies) == 60 and all(r.startswith("= ") for r in replies)
    played = [m.point for m in eng.state.history]
    assert [parse_vertex(r[2:], 5) for r in replies] == played


def test_time_controls_set_the_thinking_budget():
    fake = FakePlayer()
    session("""
        time_settings 600 0 0
        genmove b
        kgs-time_settings byoyomi 0 10 3
        time_left w 10 3
        genmove w
        kgs-time_settings none
        genmove b
        """, player=fake)
    budgets = [b for _, b in fake.genmoves]
    assert budgets[0].seconds == pytest.approx(600 / (0.75 * 81 / 2) - 0.5)
    assert budgets[1].seconds == pytest.approx(9.5)
    assert budgets[2].seconds == EngineConfig.default_seconds and budgets[2].visits is None


def test_fixed_seconds_and_visits_cap_the_budget():
    fake = FakePlayer()
    session("time_settings 0 30 10\ngenmove b\n", player=fake, seconds=0.5, visits=300)
    assert (fake.genmoves[0][1].seconds, fake.genmoves[0][1].visits) == (0.5, 300)


# -- handicap --------------------------------------------------------------------------------
def test_fixed_handicap_placements():
    out = session("""
        boardsize 19
        fixed_handicap 9
        fixed_handicap 2
        clear_board
        fixed_handicap 10
        boardsize 9
        fixed_handicap 5
        boardsize 5
        fixed_handicap 2
        """)
    assert out.split("\n\n")[:-1] == [
        "=", "= D4 Q16 D16 Q4 D10 Q10 K4 K16 K10", "? board not empty", "=",
        "? invalid handicap: handicap must be 2..9 on 19x19", "=", "= C3 G7 C7 G3 E5",
        "=", "? invalid handicap: fixed handicap needs a board of 7x7 or larger"]


def test_handicap_stones_are_placed_and_white_moves_next():
    fake = FakePlayer()
    eng = new_engine(fake)
    out = session("fixed_handicap 2\ngenmove w\n", engine=eng)
    assert out == "= C3 G7\n\n= D4\n\n"
    assert fake.genmoves[0][0] == WHITE and eng.state.handicap == 2


def test_place_free_handicap():
    eng = new_engine(size=7)
    out = session("place_free_handicap 4\nclear_board\nplace_free_handicap 7\nplace_free_handicap 3\n",
                  engine=eng)
    replies = out.split("\n\n")
    assert replies[0] == "= C3 E5 C5 E3"
    seven = replies[2][2:].split()
    assert len(set(seven)) == 7 and seven[:4] == ["C3", "E5", "C5", "E3"]
    assert replies[3] == "? board not empty"
    assert eng.state.handicap == 7 and int((eng.state.stones() == BLACK).sum()) == 7
    twelve = free_handicap_points(9, 12)  # beyond the 9 fixed points: still off the edge
    assert len(set(twelve)) == 12
    assert all(2 <= r <= 6 and 2 <= c <= 6 for r, c in (rowcol(9, p) for p in twelve))
    pts = free_handicap_points(5, 24)  # almost the whole board: all distinct points
    assert len(set(pts)) == 24


def test_set_free_handicap():
    eng = new_engine()
    out = session("""
        set_free_handicap A1 A1
        set_free_handicap A1
        set_free_handicap A1 Z2
        set_free_handicap a1 J9 e5
        play b E5
        set_free_handicap C3 D4
        """, engine=eng)
    assert out.split("\n\n")[:-1] == [
        "? bad vertex list", "? bad vertex list: needs 2 or more stones and an empty point",
        "? invalid vertex 'Z2'", "=", "? illegal move E5: occupied", "? board not empty"]
    assert eng.state.handicap == 3 and eng.state.to_move == WHITE


# -- scoring --------------------------------------------------------------------------------
WALL = "".join(f"play b C{k}\nplay w D{k}\n" for k in range(1, 6))


def test_final_score_on_a_finished_position():
    out = session("boardsize 5\nkomi 0.5\n" + WALL + "play b pass\nplay w pass\nfinal_score\n"
                  "komi 6.5\nfinal_score\n")
    replies = out.split("\n\n")
    assert replies[14] == "= B+4.5"  # black 15 points, white 10, komi 0.5
    assert replies[16] == "= W+1.5"


def test_final_status_list_groups_stones_by_chain():
    out = session("boardsize 5\n" + WALL + "final_status_list alive\nfinal_status_list dead\n"
                  "final_status_list seki\n")
    replies = out.split("\n\n")
    assert replies[11] == "= C5 C4 C3 C2 C1\nD5 D4 D3 D2 D1"
    assert replies[12] == "=" and replies[13] == "="


# -- SGF ------------------------------------------------------------------------------------
def test_loadsgf_printsgf_round_trip(tmp_path):
    pytest.importorskip("engine.sgf")
    path = tmp_path / "game.sgf"
    moves = "play w E5\nplay b D6\nplay w pass\nplay b F4\nplay w D4\n"
    out = session(f"komi 6.5\nfixed_handicap 2\n{moves}showboard\nprintsgf {path}\nprintsgf\n"
                  f"clear_board\nkomi 0\nloadsgf {path}\nshowboard\nloadsgf {path} 3\nshowboard\n"
                  "final_score\n")
    replies = out.split("\n\n")
    assert replies[7] == replies[13]  # the board survives the trip
    assert replies[8] == replies[12] == "="
    text = path.read_text()
    assert text.startswith("(;") and "KM[6.5]" in text and "HA[2]" in text
    assert replies[9].startswith("= (;") and "KM[6.5]" in replies[9]
    assert replies[15] == "=\n" + EMPTY_9.replace(  # before move 3: handicap, E5 and D6 only
        " 7 . . + . . . + . . 7", " 7 . . + . . . X . . 7").replace(
        " 6 . . . . . . . . . 6", " 6 . . . X . . . . . 6").replace(
        " 5 . . . . + . . . . 5", " 5 . . . . O . . . . 5").replace(
        " 3 . . + . . . + . . 3", " 3 . . X . . . + . . 3")
    assert replies[16] == "= W+4.5"  # 3 black stones, 1 white, komi 6.5 back from the file


SETUP_5 = """\
   A B C D E
 5 X . . . . 5
 4 . X . + . 4
 3 . . O . . 3
 2 . + . + . 2     WHITE (O) has captured 0 stones
 1 . . . . O 1     BLACK (X) has captured 0 stones
   A B C D E"""


def test_loadsgf_with_setup_stones_and_passes(tmp_path):
    pytest.importorskip("engine.sgf")
    path = tmp_path / "setup.sgf"
    path.write_text("(;FF[4]GM[1]SZ[5]KM[2.5]AB[aa][bb]AW[ee];W[cc];B[];W[])")
    out = session(f"loadsgf {path}\nshowboard\n")
    assert out.split("\n\n")[1] == "=\n" + SETUP_5


def test_loadsgf_failures_keep_the_game(tmp_path):
    pytest.importorskip("engine.sgf")
    bad = tmp_path / "bad.sgf"
    bad.write_text("this is not a game record")
    big = tmp_path / "big.sgf"
    big.write_text("(;FF[4]SZ[25];B[aa])")
    out = session(f"play b E5\nloadsgf {tmp_path}/missing.sgf\nloadsgf {bad}\nloadsgf {big}\n"
                  f"loadsgf {bad} x\nshowboard\n")
    replies = out.split("\n\n")
    assert replies[1] == f"? cannot load file: no such file '{tmp_path}/missing.sgf'"
    assert replies[2].startswith("? cannot load file: ") and replies[3].startswith("? cannot load file: ")
    assert replies[4] == "? move number not an integer"
    assert " 5 . . . . X . . . . 5" in replies[5]


# -- analysis ---------------------------------------------------------------------------------
LZ_LINE = ("info move D4 visits 123 winrate 5321 prior 1200 lcb 5100 order 0 pv D4 C4 "
           "info move C3 visits 40 winrate 4800 prior 3000 lcb 4000 order 1 pv C3")
KATA_LINE = ("info move D4 visits 123 utility 0.0642 winrate 0.5321 scoreMean 2.1 scoreStdev 0 "
             "scoreLead 2.1 prior 0.12 lcb 0.51 order 0 pv D4 C4 "
             "info move C3 visits 40 utility -0.04 winrate 0.48 scoreMean -0.5 scoreStdev 0 "
             "scoreLead -0.5 prior 0.3 lcb 0.4 order 1 pv C3")


def test_lz_analyze_streams_until_the_next_command():
    fake = FakePlayer()
    out = session("5 lz-analyze b 25\n6 name\n", player=fake)
    assert out == f"=5\n{LZ_LINE}\n\n=6 alphago-py\n\n"
    assert fake.analyses == [(BLACK, 0.25, False)]
    assert fake.stopped.is_set()


def test_kata_analyze_line_format_and_ownership_perspective():
    own = np.zeros(25, dtype=np.float32)
    own[0], own[24] = 1.0, -0.5  # A5 black's, E1 leaning white
    fake = FakePlayer(size=5, ownership=own)
    out = session("boardsize 5\nkata-analyze b interval 30 ownership true\n"
                  "kata-analyze w 30 ownership true\nkata-analyze 30\n", player=fake)
    replies = out.split("\n\n")
    black = "ownership 1 " + "0 " * 23 + "-0.5"
    white = "ownership -1 " + "0 " * 23 + "0.5"
    assert replies[1] == f"=\n{KATA_LINE} {black}"
    assert replies[2] == f"=\n{KATA_LINE} {white}"  # from the side to move: white
    assert replies[3] == f"=\n{KATA_LINE}"
    assert [a[0] for a in fake.analyses] == [BLACK, WHITE, BLACK]


def test_analysis_options_maxmoves_avoid_allow():
    fake = FakePlayer()
    out = session("lz-analyze b 10 maxmoves 1\nlz-analyze b 10 avoid b D4 1\n"
                  "lz-analyze b 10 allow w D4 1 minmoves 5\nkata-analyze b 10 allow b c3,d5 2\n",
                  player=fake)
    replies = out.split("\n\n")
    best, second = LZ_LINE.split(" info move C3")
    assert replies[0] == f"=\n{best}"
    assert replies[1] == "=\ninfo move C3 visits 40 winrate 4800 prior 3000 lcb 4000 order 0 pv C3"
    assert replies[2] == f"=\n{LZ_LINE}"  # allow for white does not touch black's moves
    assert replies[3].startswith("=\ninfo move C3 ") and "D4 visits" not in replies[3]


def test_analysis_interrupted_by_the_next_command():
    fake = FakePlayer(repeat=True)
    eng = new_engine(fake)
    feed, sink = Feed(), Sink()
    runner = threading.Thread(target=eng.run, args=(feed, sink))
    runner.start()
    feed.send("3 lz-analyze b 1\n")
    sink.wait_for(lambda s: s.count("info move") >= 6)  # several reports: it is streaming
    feed.send("4 play b D4\n")
    sink.wait_for(lambda s: "=4" in s)
    feed.send("5 showboard\n")
    feed.close()
    runner.join(10)
    assert not runner.is_alive()
    text = sink.text()
    stream, rest = text.split("\n\n", 1)
    lines = stream.split("\n")
    assert lines[0] == "=3" and len(lines) >= 4
    assert all(line == LZ_LINE for line in lines[1:])
    assert rest.startswith("=4 \n\n=5 \n")  # the interrupting command ran, then the next
    assert "info" not in rest
    assert fake.stopped.is_set()


def test_a_bare_newline_stops_analysis():
    fake = FakePlayer()
    assert session("lz-analyze b 10\n\nname\n", player=fake) == f"=\n{LZ_LINE}\n\n= alphago-py\n\n"
    assert session("kata-analyze b 10\n") == "=\n\n"  # end of input stops it too


def test_genmove_analyze_prints_info_then_play():
    fake = FakePlayer()
    out = session("1 lz-genmove_analyze w 0\n2 kata-genmove_analyze b 100000\nshowboard\n",
                  player=fake)
    replies = out.split("\n\n")
    assert replies[0] == f"=1\n{LZ_LINE}\n{LZ_LINE}\nplay D4"
    # one report per interval: the second, immediate one is held back; D4 is taken by now
    assert replies[1] == f"=2\n{KATA_LINE}\nplay pass"
    assert [c for c, _ in fake.genmoves] == [WHITE, BLACK]


def test_gogui_analyze_commands_and_graphics():
    own = np.linspace(-1, 1, 81, dtype=np.float32)
    fake = FakePlayer(ownership=own)
    out = session("gogui-analyze_commands\ngogui-visits\ngogui-policy\ngogui-ownership\n",
                  player=fake, gfx_seconds=0.01)
    replies = out.split("\n\n")
    cmds = replies[0][2:].split("\n")
    assert "gfx/Visit heatmap/gogui-visits" in cmds and "gfx/Ownership/gogui-ownership" in cmds
    for entry in cmds:  # every analyze command names a command the engine knows
        assert session(f"known_command {entry.split('/')[2].split()[0]}\n") == "= true\n\n"
    assert replies[1] == ("= INFLUENCE D4 1 C3 0.325\nLABEL D4 123 C3 40\n"
                          "TEXT best D4 winrate 53.2%")
    assert replies[2].startswith("= INFLUENCE D4 0.4 C3 1\nLABEL D4 12 C3 30\n")
    infl = replies[3].split("\n")[0].split()
    assert infl[:3] == ["=", "INFLUENCE", "A9"] and infl[3] == "-1"
    assert infl[-2:] == ["J1", "1"] and len(infl) == 2 + 2 * 81


def test_analysis_formatting_edge_cases():
    m = MoveInfo(PASS, 7, 1.2, 0.0, -0.1, 0, [], 0.0)
    assert analysis.lz_line([m], 9) == ("info move pass visits 7 winrate 10000 prior 0 lcb 0 "
                                        "order 0 pv pass")
    assert analysis.lz_line([], 9) == ""
    req = analysis.parse_analyze_args(["W", "interval", "50", "maxmoves", "3"], 9, BLACK, 1.0)
    assert (req.color, req.interval_s, req.max_moves) == (WHITE, 0.5, 3)
    for bad in (["b", "10", "maxmoves"], ["b", "10", "ownership", "maybe"], ["b", "10", "avoid", "b"],
                ["b", "10", "avoid", "b", "Z1", "1"], ["b", "-5"]):
        with pytest.raises(ValueError):
            analysis.parse_analyze_args(bad, 9, BLACK, 1.0)


# -- command line ----------------------------------------------------------------------------
def test_option_parsing_defaults_and_values():
    a = parse_args([])
    assert (a.player, a.size, a.komi, a.ko_rule, a.visits, a.seconds) == ("auto", None, 7.5,
                                                                          "positional", None, None)
    assert engine_config(a).size == 19

    class NinePlayer:  # a network player of one board size
        board_size = 9
    assert engine_config(a, NinePlayer()).size == 9
    assert engine_config(parse_args(["--size", "13"]), NinePlayer()).size == 13
    a = parse_args(["--player", "random", "--size", "9", "--komi", "6.5", "--ko-rule", "simple",
                    "--visits", "200", "--seconds", "1.5", "--threads", "2", "--seed", "4",
                    "--resign-threshold", "0.1", "--analysis-interval", "0.5"])
    cfg = engine_config(a)
    assert (cfg.size, cfg.komi, cfg.ko_rule, cfg.visits, cfg.seconds, cfg.analysis_interval) == \
        (9, 6.5, "simple", 200, 1.5, 0.5)
    for bad in (["--size", "25"], ["--player", "gnugo"], ["--visits", "0"], ["--ko-rule", "x"],
                ["--seconds", "-1"]):
        with pytest.raises(SystemExit):
            parse_args(bad)


def test_search_weights_from_the_command_line_reach_the_player():
    from gtp.__main__ import build_player
    base = ["--size", "9", "--threads", "1"]
    for kind, defaults in (("mcts", (2.5, 0.2)), ("zero", (1.5, 0.25)), ("lee", (2.5, 0.0))):
        player = build_player(parse_args(["--player", kind, *base]))
        assert (player.config.c_puct, player.config.fpu_reduction) == defaults
        player = build_player(parse_args(["--player", kind, *base, "--c-puct", "0.9",
                                          "--fpu-reduction", "0.5"]))
        assert (player.config.c_puct, player.config.fpu_reduction) == (0.9, 0.5)
    for bad, why in ((["--c-puct", "0"], "c_puct must be positive"),
                     (["--fpu-reduction", "-1"], "fpu_reduction must not be negative")):
        with pytest.raises(SystemExit, match=why):
            build_player(parse_args(["--player", "zero", *base, *bad]))


def test_lee_search_mode_from_the_command_line():
    from gtp.__main__ import build_player
    from nets.lee_evaluator import AsyncLeeEvaluator, LeeEvaluator
    base = ["--player", "lee", "--size", "9", "--threads", "1"]
    ev = build_player(parse_args(base)).search.evaluator
    assert isinstance(ev, AsyncLeeEvaluator) and not ev.settle
    ev = build_player(parse_args(base + ["--settle"])).search.evaluator
    assert isinstance(ev, AsyncLeeEvaluator) and ev.settle
    assert isinstance(build_player(parse_args(base + ["--sync"])).search.evaluator, LeeEvaluator)


def test_help_documents_every_option():
    text = build_parser().format_help()
    for opt in ("--player", "--visits", "--seconds", "--threads", "--ko-rule", "--size", "--komi",
                "--seed", "--log", "--resign-threshold", "--playout-mode", "--analysis-interval",
                "--analysis-max-moves", "--gfx-seconds", "--lag-margin", "--default-seconds",
                "--c-puct", "--fpu-reduction", "--sync", "--settle"):
        assert opt in text


def test_python_m_gtp_subprocess_plays_and_quits(tmp_path):
    log = tmp_path / "engine.log"
    script = "boardsize 9\nclear_board\n1 play b E5\n2 genmove w\n3 genmove b\nshowboard\nquit\n"
    proc = subprocess.run([sys.executable, "-m", "gtp", "--player", "random", "--size", "9",
                           "--log", str(log)], input=script, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    replies = proc.stdout.split("\n\n")
    assert replies[:3] == ["= ", "= ", "=1 "]
    assert replies[3].startswith("=2 ") and replies[4].startswith("=3 ")
    assert replies[5].count("X") == 3 and replies[5].count("O") == 2  # stones + the legend
    assert replies[6:] == ["= ", ""]
    assert "genmove" in log.read_text()


# -- helpers for the live-stream test -------------------------------------------------------------
class Feed:
    """An input stream whose lines arrive when the test sends them."""

    def __init__(self):
        self.q = queue.Queue()

    def send(self, line):
        self.q.put(line)

    def close(self):
        self.q.put("")

    def readline(self):
        return self.q.get(timeout=30)


class Sink:
    """An output stream the test can wait on."""

    def __init__(self):
        self._buf = []
        self._cond = threading.Condition()

    def write(self, s):
        with self._cond:
            self._buf.append(s)
            self._cond.notify_all()

    def flush(self):
        pass

    def text(self):
        with self._cond:
            return "".join(self._buf)

    def wait_for(self, pred, timeout=30):
        with self._cond:
            assert self._cond.wait_for(lambda: pred("".join(self._buf)), timeout), "".join(self._buf)



def test_zero_player_plays_its_board_size_and_refuses_others(tmp_path):
    """A network checkpoint drives the zero player; another board size is refused cleanly."""
    torch = pytest.importorskip("torch")
    from nets.checkpoint import save_checkpoint
    from nets.resnet import NetConfig, build_net

    torch.manual_seed(0)
    cfg = NetConfig.from_name("tiny", board_size=5)
    ckpt = tmp_path / "tiny5.pt"
    save_checkpoint(str(ckpt), build_net(cfg), cfg, 0)
    script = "boardsize 5\nplay b C3\ngenmove w\nboardsize 9\nshowboard\nquit\n"
    proc = subprocess.run([sys.executable, "-m", "gtp", "--player", "zero", "--weights", str(ckpt),
                           "--visits", "16", "--size", "5"],
                          input=script, capture_output=True, text=True, timeout=120)
    answers = [a for a in proc.stdout.split("\n\n") if a.strip()]
    assert answers[0] == "= " and answers[1] == "= "
    move = answers[2][2:]
    assert move != "C3" and (move == "pass" or parse_vertex(move, 5) is not None)
    assert answers[3] == "? unacceptable size (the network plays 5x5 only)"
    board = answers[4]
    assert " 5 " in board and " 9 " not in board and "C3" not in board  # still the 5x5 game
    grid = "\n".join(line.split("     ")[0] for line in board.splitlines())  # drop the captions
    assert grid.count("X") == 1 and grid.count("O") == 1
    assert proc.returncode == 0


def test_zero_player_with_corrupt_checkpoint_exits_with_message(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    proc = subprocess.run([sys.executable, "-m", "gtp", "--player", "zero", "--weights", str(bad)],
                          input="", capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "bad.pt" in proc.stderr and "corrupt" in proc.stderr


def test_kata_genmove_analyze_with_ownership_answers_and_keeps_going():
    """Ownership asked during a timed genmove must not deadlock the search's lock."""
    script = "boardsize 5\nkata-genmove_analyze b interval 10 ownership true\nname\nquit\n"
    proc = subprocess.run([sys.executable, "-m", "gtp", "--player", "mcts", "--seconds", "1",
                           "--threads", "1", "--size", "5"],
                          input=script, capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert "\nplay " in out
    assert any(line.startswith("info ") and " ownership " in line for line in out.splitlines())
    after = out.split("\nplay ", 1)[1]
    assert "\n=" in after  # the next command (name) was answered
    assert proc.returncode == 0


@pytest.mark.parametrize("line, reply", [
    ("play b D\u00b2", "? invalid vertex 'D\u00b2'"),
    ("lz-analyze b nan", "? syntax error: interval must be a finite number >= 0"),
])
def test_odd_numbers_are_rejected_cleanly(line, reply):
    proc = subprocess.run([sys.executable, "-m", "gtp", "--player", "random", "--size", "9"],
                          input=line + "\nshowboard\nquit\n", capture_output=True, text=True,
                          timeout=120)
    answers = [a for a in proc.stdout.split("\n\n") if a.strip()]
    assert answers[0] == reply
    assert "X" not in answers[1].split("WHITE")[0]


def test_auto_player_plays_the_network_on_its_size_and_mcts_elsewhere(tmp_path):
    """The default player: a network on the size it was trained for, built only when that size
    is played; pure MCTS on every other size instead of a refusal."""
    pytest.importorskip("torch")
    from engine.game import GameState
    from engine.player import BySizePlayer, Budget
    from engine.search import MCTSPlayer, NetworkPlayer, make_player
    from nets.checkpoint import save_checkpoint
    from nets.resnet import NetConfig, build_net

    cfg = NetConfig.from_name("tiny", board_size=5)
    ckpt = tmp_path / "tiny5.pt"
    save_checkpoint(str(ckpt), build_net(cfg), cfg, 0)
    p = make_player("auto", weights=str(ckpt), visits=16)
    assert isinstance(p, BySizePlayer) and not p._players  # nothing loaded yet
    for size, kind in ((5, NetworkPlayer), (7, MCTSPlayer)):
        state = GameState(size, 7.5)
        move = p.genmove(state, state.to_move, Budget(visits=16))
        assert state.is_legal(state.to_move, move)
        assert type(p.player_for(size)) is kind
    # no --weights: the shipped 9x9 network on 9x9 (tests/test_shipped.py), MCTS elsewhere
    default = make_player("auto")
    assert type(default.player_for(7)) is MCTSPlayer and "9x9: zero-9x9-b4c32.pt" in default.name
    script = "boardsize 5\ngenmove b\nboardsize 7\ngenmove w\nquit\n"
    proc = subprocess.run([sys.executable, "-m", "gtp", "--weights", str(ckpt), "--visits", "16"],
                          input=script, capture_output=True, text=True, timeout=120)
    answers = [a for a in proc.stdout.split("\n\n") if a.strip()]
    assert [a[0] for a in answers] == ["="] * 5, proc.stdout + proc.stderr  # quit answers too
    assert parse_vertex(answers[3][2:], 7) is not None or answers[3] == "= pass"
