"""The match runner: real GTP subprocesses refereed by ``selfplay.match``.

Most games are played by a tiny scripted GTP engine (``FAKE_ENGINE`` below, written to a temp
dir): it plays a fixed list of moves then passes, and can be told to misbehave (illegal move,
garbage, hang, crash, resign) from a given move on. Scripted games have known outcomes, so the
tests check the referee's verdicts exactly. One test plays the real engine (``python -m gtp
--player random``) and one plays GNU Go.
"""
import importlib.util
import json
import os
import sys

import pytest
import sgfmill.sgf

from engine.board import BLACK, WHITE
from engine.coords import format_vertex, parse_vertex
from engine.game import GameState
from selfplay import match, stats
from selfplay.gtpclient import EngineCrash, EngineTimeout, GTPClient, GTPError
from selfplay.match import MatchConfig, MatchError, parse_player, run_match

GNUGO = "/usr/games/gnugo"

FAKE_ENGINE = r'''
import argparse, sys, time
ap = argparse.ArgumentParser()
ap.add_argument("--moves", default="")  # played in order, skipping occupied points, then pass
ap.add_argument("--misbehave", default="")  # illegal | garbage | hang | crash | resign
ap.add_argument("--after", type=int, default=0)  # own genmoves answered normally first
ap.add_argument("--final-score", default="0")
ap.add_argument("--log", default="")  # every command received, one per line
ap.add_argument("--exit-at-start", action="store_true")
ap.add_argument("--seed")
args = ap.parse_args()
if args.exit_at_start:
    sys.stderr.write("fake: cannot start\n")
    sys.exit(4)
log = open(args.log, "a") if args.log else None
if log:
    log.write("start\n"); log.flush()
script = [m for m in args.moves.split(",") if m]
occupied, asked = set(), 0

def answer(text="", ok=True):
    sys.stdout.write(("= " if ok else "? ") + text + "\n\n"); sys.stdout.flush()

for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    if log:
        log.write(line.strip() + "\n"); log.flush()
    cmd = words[0]
    if cmd == "protocol_version":
        answer("2")
    elif cmd in ("name", "version"):
        answer("fake" if cmd == "name" else "1.0")
    elif cmd in ("boardsize", "clear_board"):
        occupied = set(); answer()
    elif cmd == "komi":
        answer()
    elif cmd == "play":
        if words[2].lower() != "pass":
            occupied.add(words[2].upper())
        answer()
    elif cmd == "genmove":
        asked += 1
        if args.misbehave and asked > args.after:
            if args.misbehave == "illegal":
                answer(sorted(occupied)[0] if occupied else "A1"); continue
            if args.misbehave == "garbage":
                answer("Z0Z"); continue
            if args.misbehave == "hang":
                time.sleep(3600)
            if args.misbehave == "crash":
                sys.stderr.write("fake: boom\n"); sys.stderr.flush(); sys.exit(3)
            if args.misbehave == "resign":
                answer("resign"); continue
        move = next((m for m in script if m.upper() not in occupied), "pass")
        if move != "pass":
            occupied.add(move.upper())
        answer(move)
    elif cmd == "final_score":
        answer(args.final_score)
    elif cmd == "multi":
        answer("one\ntwo")
    elif cmd == "quit":
        answer(); break
    else:
        answer("unknown command", ok=False)
'''


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """``fake(*flags)`` -> external player spec text running the scripted engine."""
    path = tmp_path_factory.mktemp("fake") / "fake_gtp.py"
    path.write_text(FAKE_ENGINE)

    def spec(*flags):
        return "gtp:" + " ".join([sys.executable, str(path), *flags])
    return spec


def cfg(**kw):
    """Small, fast match settings; scripted games are scored by plain Tromp-Taylor."""
    base = dict(games=2, size=5, komi=7.0, referee="tromp-taylor", move_timeout=10.0,
                startup_timeout=10.0)
    base.update(kw)
    return MatchConfig(**base)


def has_gtp_engine():
    return importlib.util.find_spec("gtp") is not None and importlib.util.find_spec("gtp.__main__") is not None


# -- player specs -------------------------------------------------------------------------
def test_internal_spec_keys_become_engine_flags():
    p = parse_player("mcts:visits=2000,foo_bar=1,threads=2,name=Big")
    assert p.internal and p.name == "Big"
    assert list(p.argv) == [sys.executable, "-m", "gtp", "--player", "mcts", "--visits", "2000",
                            "--foo-bar", "1", "--threads", "2"]
    argv = p.command(size=9, komi=7.0, ko_rule="positional", seed=11)
    assert argv[-8:] == ["--size", "9", "--komi", "7", "--ko-rule", "positional", "--seed", "11"]
    # a setting given in the spec is not overridden by the match
    q = parse_player("random:seed=5")
    assert q.name == "random:seed=5"
    assert q.command(9, 7.5, "simple", 11).count("--seed") == 1
    assert "5" in q.command(9, 7.5, "simple", 11)


def test_external_specs_by_prefix_or_executable_path():
    p = parse_player(f"gtp:{sys.executable} -u engine.py --level 3")
    assert not p.internal
    assert list(p.argv) == [sys.executable, "-u", "engine.py", "--level", "3"]
    q = parse_player(f"{sys.executable} -u engine.py", name="mine")
    assert not q.internal and q.name == "mine" and q.argv[0] == sys.executable


@pytest.mark.parametrize("bad", ["", "foo", "mcts:visits=", "mcts:player=random", "mcts:2x=1",
                                 "gtp:/no/such/engine --mode gtp", "/no/such/engine"])
def test_bad_player_specs_say_why(bad):
    with pytest.raises(ValueError, match=r"player|empty"):
        parse_player(bad)


def test_bad_settings_are_refused():
    for kw in (dict(games=0), dict(size=25), dict(ko_rule="japanese"), dict(referee="judge"),
               dict(sprt=(50, 0)), dict(parallel=0)):
        with pytest.raises(ValueError):
            MatchConfig(**kw)


# -- the GTP client -----------------------------------------------------------------------
def test_gtp_client_answers_errors_and_multiline(fake):
    argv = parse_player(fake()).argv
    with GTPClient(argv, name="fake") as c:
        assert c.command("name") == "fake"
        assert c.command("multi") == "one\ntwo"
        with pytest.raises(GTPError, match="unknown command"):
            c.command("no_such_command")
        assert c.command("protocol_version") == "2"  # still usable after a '?' answer


def test_gtp_client_timeout_kills_and_restart_recovers(fake):
    c = GTPClient(parse_player(fake("--misbehave", "hang")).argv, name="hanger")
    try:
        with pytest.raises(EngineTimeout):
            c.genmove("B", timeout=0.5)
        assert not c.alive
        c.restart()
        assert c.alive and c.starts == 2
        assert c.command("name") == "fake"
    finally:
        c.close()


def test_gtp_client_crash_reports_stderr(fake):
    c = GTPClient(parse_player(fake("--misbehave", "crash")).argv, name="crasher")
    with pytest.raises(EngineCrash, match="boom"):
        c.genmove("B", timeout=5)
    c.close()


# -- scripted games -----------------------------------------------------------------------
def expected_tromp_taylor(size, komi, moves):
    """Score of the position after ``moves`` (GTP vertices, black first), black minus white."""
    g = GameState(size, komi)
    for i, v in enumerate(moves):
        g.play(BLACK if i % 2 == 0 else WHITE, parse_vertex(v, size))
    return g.score()


def test_scripted_match_alternates_colours_and_scores(fake, tmp_path):
    """A plays the centre then passes, B always passes: A owns the whole 5x5 board either way."""
    log_b = tmp_path / "b.log"
    out = tmp_path / "summary.json"
    sgf_dir = tmp_path / "sgf"
    rc = match.main([fake("--moves", "C3"), fake("--log", str(log_b)), "--games", "2", "--size", "5",
                     "--komi", "7", "--referee", "tromp-taylor", "--sgf-dir", str(sgf_dir),
                     "--out", str(out), "--no-progress", "--name-a", "centre", "--name-b", "passer"])
    assert rc == 0
    s = json.loads(out.read_text())
    g0, g1 = s["game_records"]
    # game 1: A black C3, B pass, A pass; game 2: B black pass, A white C3, B pass, A pass
    assert (g0["black"], g1["black"]) == ("A", "B")
    assert g0["score"] == expected_tromp_taylor(5, 7.0, ["C3", "pass", "pass"]) == 18.0
    assert g1["score"] == expected_tromp_taylor(5, 7.0, ["pass", "C3", "pass", "pass"]) == -32.0
    assert (g0["result"], g1["result"]) == ("B+18", "W+32")
    assert (g0["moves"], g1["moves"]) == (3, 4)
    assert [g["winner"] for g in s["game_records"]] == ["A", "A"]
    assert [g["reason"] for g in s["game_records"]] == ["score", "score"]
    # summary fields
    assert s["games"] == 2 and s["wins"] == {"A": 2, "B": 0, "draws": 0}
    assert s["wins_by_color"]["A"] == {"black": {"games": 1, "wins": 1}, "white": {"games": 1, "wins": 1}}
    assert s["black_wins"] == 1 and s["white_wins"] == 1
    assert s["win_rate_a"] == 1.0
    assert s["win_rate_a_ci95"] == pytest.approx(list(stats.wilson_interval(2, 2)))
    assert s["elo_a"] is None  # a 100% score is infinitely many Elo: written as null
    assert s["elo_a_ci95"][0] == pytest.approx(stats.elo_from_score(stats.wilson_interval(2, 2)[0]))
    assert s["average_game_length"] == 3.5
    assert s["end_reasons"] == {"score": 2}
    assert set(s["seconds_per_move"]) == {"A", "B"}
    assert s["players"]["A"]["name"] == "centre" and s["players"]["B"]["name"] == "passer"
    assert "selfplay.match" in s["command"] and "--games 2" in s["command"]
    assert s["sprt"] is None and s["referee_disagreements"] == []
    # the referee relayed A's move to B
    assert "play B C3" in log_b.read_text().splitlines()
    # one loadable SGF per game, with the result and the moves
    assert [os.path.basename(p) for p in s["sgf"]] == ["game-0001.sgf", "game-0002.sgf"]
    for path, rec in zip(s["sgf"], s["game_records"]):
        game = sgfmill.sgf.Sgf_game.from_bytes(open(path, "rb").read())
        root = game.get_root()
        assert root.get("RE") == rec["result"] and game.get_size() == 5
        assert root.get("PB") == ("centre" if rec["black"] == "A" else "passer")
        assert len(game.get_main_sequence()) - 1 == rec["moves"]


def test_sgf_loads_back_into_the_same_game(fake, tmp_path):
    sgf = pytest.importorskip("engine.sgf")
    s = run_match(fake("--moves", "C3,B2"), fake("--moves", "D4,B4"), cfg(games=1, sgf_dir=str(tmp_path)))
    state = sgf.load_sgf(s["sgf"][0])
    assert [format_vertex(m.point, 5) for m in state.history] == ["C3", "D4", "B2", "B4", "pass", "pass"]
    assert len(state.history) == s["game_records"][0]["moves"]
    assert state.score() == s["game_records"][0]["score"]


@pytest.mark.parametrize("kind, detail", [("illegal", "occupied"), ("garbage", "Z0Z")])
def test_illegal_move_loses(fake, kind, detail):
    """A plays C3, then answers with an occupied point (or no move at all): B wins by forfeit."""
    s = run_match(fake("--moves", "C3", "--misbehave", kind, "--after", "1"), fake(), cfg(games=1))
    (g,) = s["game_records"]
    assert g["black"] == "A" and g["winner"] == "B"
    assert g["reason"] == "illegal" and g["result"] == "W+F" and detail in g["detail"]
    assert g["moves"] == 2  # C3, pass: the illegal move is not in the record


def test_hung_engine_loses_on_time_and_is_restarted(fake, tmp_path):
    log_a = tmp_path / "a.log"
    s = run_match(fake("--misbehave", "hang", "--log", str(log_a)), fake(),
                  cfg(games=2, move_timeout=0.5, startup_timeout=1.0))
    assert [g["winner"] for g in s["game_records"]] == ["B", "B"]
    assert [g["result"] for g in s["game_records"]] == ["W+T", "B+T"]
    assert s["end_reasons"] == {"timeout": 2}
    assert log_a.read_text().splitlines().count("start") == 2  # a fresh engine for game 2


def test_crashed_engine_loses_and_is_restarted(fake, tmp_path):
    log_a = tmp_path / "a.log"
    s = run_match(fake("--misbehave", "crash", "--after", "1", "--moves", "B2", "--log", str(log_a)),
                  fake(), cfg(games=2))
    assert [g["winner"] for g in s["game_records"]] == ["B", "B"]
    assert [g["reason"] for g in s["game_records"]] == ["crash", "crash"]
    assert "boom" in s["game_records"][0]["detail"]
    assert log_a.read_text().splitlines().count("start") == 2


def test_resign_gives_the_game_to_the_other_side(fake):
    s = run_match(fake("--misbehave", "resign", "--after", "1", "--moves", "C3"), fake(), cfg(games=2))
    assert [g["result"] for g in s["game_records"]] == ["W+R", "B+R"]
    assert [g["winner"] for g in s["game_records"]] == ["B", "B"]
    assert s["wins"] == {"A": 0, "B": 2, "draws": 0}


def test_move_cap_ends_and_scores_the_game(fake):
    s = run_match(fake("--moves", "C3,B2"), fake("--moves", "D4"), cfg(games=1, max_moves=3))
    (g,) = s["game_records"]
    assert g["reason"] == "move-limit" and g["moves"] == 3
    assert g["score"] == expected_tromp_taylor(5, 7.0, ["C3", "D4", "B2"])
    assert g["result"] == ("B+" if g["score"] > 0 else "W+") + f"{abs(g['score']):g}"


def test_engine_that_cannot_start_stops_the_match_with_its_message(fake, capsys):
    with pytest.raises(MatchError, match="cannot start"):
        run_match(fake("--exit-at-start"), fake(), cfg(games=1))
    rc = match.main([fake("--exit-at-start"), fake(), "--games", "1", "--size", "5", "--no-progress"])
    assert rc == 2 and "cannot start" in capsys.readouterr().err


def test_sprt_stops_as_soon_as_it_decides(fake):
    """A wins every game; the test must accept H1 after exactly as many wins as the LLR needs."""
    elo0, elo1 = 0.0, 200.0
    needed = next(k for k in range(1, 100) if stats.sprt_decision(stats.sprt_llr(k, 0, 0, elo0, elo1)))
    s = run_match(fake("--moves", "C3"), fake(), cfg(games=50, sprt=(elo0, elo1)))
    assert s["games"] == needed < 50
    assert s["sprt"]["decision"] == "H1" and s["sprt"]["decided_after"] == needed
    assert s["sprt"]["llr"] >= s["sprt"]["upper"]


def test_parallel_tables_play_every_game_once(fake):
    s = run_match(fake("--moves", "C3"), fake(), cfg(games=4, parallel=2))
    assert [g["index"] for g in s["game_records"]] == [0, 1, 2, 3]
    assert s["wins"]["A"] == 4
    assert [g["black"] for g in s["game_records"]] == ["A", "B", "A", "B"]


def test_openings_are_shared_by_each_pair_with_colours_swapped(fake):
    c = cfg(games=4, opening_moves=3, seed=5, size=7)
    s = run_match(fake(), fake(), c)
    ops = [g["opening"] for g in s["game_records"]]
    assert ops[0] == ops[1] and ops[2] == ops[3] and ops[0] != ops[2]
    assert len(ops[0]) == 3
    assert all(v[0] not in "AG" and v[1:] not in ("1", "7") for v in ops[0] + ops[2])  # off the edge
    assert match.opening(c, 0) == match.opening(c, 0)  # seeded
    assert [g["moves"] for g in s["game_records"]] == [5, 5, 5, 5]  # 3 opening moves + 2 passes


def test_gnugo_referee_disagreement_is_recorded(fake, monkeypatch):
    """A referee that always says W+100 overrules the internal score once (game 1, where black A
    won on the board) and agrees in game 2 (white A won)."""
    monkeypatch.setattr(match, "internal_score", lambda state, playouts, seed: (state.score(), "tromp-taylor"))
    referee = parse_player(fake("--final-score", "W+100"))
    c = cfg(referee="gnugo", referee_cmd=" ".join(referee.argv))
    s = run_match(fake("--moves", "C3"), fake(), c)
    g0, g1 = s["game_records"]
    assert (g0["internal_score"], g0["gnugo_score"], g0["score"]) == (18.0, -100.0, -100.0)
    assert g0["winner"] == "B" and g1["winner"] == "A"
    assert s["referee_disagreements"] == [{"game": 0, "internal": "B+18", "gnugo": "W+100", "sgf": None}]
    assert "disagreements" in match.format_summary(s)


def test_internal_referee_scores_with_dead_stone_removal(fake):
    """With the internal referee, a clean scripted end position gets its Tromp-Taylor score."""
    s = run_match(fake("--moves", "C3"), fake(), cfg(games=1, referee="internal"))
    (g,) = s["game_records"]
    assert g["scoring"] in ("dead-stones", "tromp-taylor")
    assert g["winner"] == ("A" if g["score"] > 0 else "B")
    assert g["result"] == ("B+" if g["score"] > 0 else "W+") + f"{abs(g['score']):g}"


# -- real engines -------------------------------------------------------------------------
@pytest.mark.skipif(not has_gtp_engine(), reason="python -m gtp is not available")
def test_random_vs_random_with_the_gtp_engine(tmp_path):
    s = run_match("random", "random", MatchConfig(games=2, size=7, komi=7.5, sgf_dir=str(tmp_path),
                                                  move_timeout=60.0, startup_timeout=120.0))
    assert s["games"] == 2 and s["players"]["A"]["name"] == "random (A)"
    assert s["wins"]["A"] + s["wins"]["B"] + s["wins"]["draws"] == 2
    for g in s["game_records"]:
        assert g["reason"] in ("score", "move-limit"), g["detail"]
        assert g["winner"] == (g["black"] if g["score"] > 0 else g["white"])
        game = sgfmill.sgf.Sgf_game.from_bytes(open(g["sgf"], "rb").read())
        assert len(game.get_main_sequence()) - 1 == g["moves"] > 10


@pytest.mark.gnugo
@pytest.mark.skipif(not os.path.exists(GNUGO), reason="GNU Go is not installed")
@pytest.mark.skipif(not has_gtp_engine(), reason="python -m gtp is not available")
def test_gnugo_level_1_beats_random():
    s = run_match(f"gtp:{GNUGO} --mode gtp --level 1", "random",
                  MatchConfig(games=2, size=9, komi=7.5, referee="gnugo", move_timeout=60.0))
    assert s["players"]["A"]["name"] == "gnugo --mode gtp --level 1"
    assert s["wins"]["A"] == 2, [(g["result"], g["reason"], g["detail"]) for g in s["game_records"]]
    assert [g["black"] for g in s["game_records"]] == ["A", "B"]
    for g in s["game_records"]:
        if g["reason"] in ("score", "move-limit"):
            assert g["scoring"] == "gnugo" and g["internal_score"] is not None
    assert isinstance(s["referee_disagreements"], list)


def _pass_check():
    spec = importlib.util.spec_from_file_location(
        "match_pass_check", os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench",
                                         "match_pass_check.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not os.path.exists(GNUGO), reason="GNU Go is not installed")
def test_pass_check_lists_tromp_taylor_wins_the_referee_gave_away(tmp_path, capsys):
    # A (black) plays E5 alone on the board: every point is black's by Tromp-Taylor. White
    # passes, A plays on at D5 although its pass would have won; a referee said W+7.
    d = tmp_path / "m"
    d.mkdir()
    (d / "game-0001.sgf").write_text("(;GM[1]FF[4]SZ[9]KM[7]RE[W+7];B[ee];W[];B[de];W[];B[])")
    (d / "game-0002.sgf").write_text("(;GM[1]FF[4]SZ[9]KM[7]RE[W+R];B[ee];W[dd])")
    games = [{"index": 0, "black": "A", "white": "B", "winner": "B", "reason": "score",
              "result": "W+7"},
             {"index": 1, "black": "A", "white": "B", "winner": "B", "reason": "resign",
              "result": "W+R"}]
    (d / "summary.json").write_text(json.dumps({"settings": {"komi": 7.0},
                                                "game_records": games}))
    _pass_check().main([str(d)])
    out = capsys.readouterr().out
    mismatches, triggers = out.split("A played on")
    assert "| 1 | B | +74 | W+7 |" in mismatches and "| 2 |" not in mismatches
    assert "1 of 2 games A did not win" in mismatches
    # before move 3 (A's D5): GNU Go's own count of that position gives it to black too
    row = [r for r in triggers.splitlines() if r.startswith("| 1 | B | 3 | +74 | ")]
    assert len(row) == 1 and row[0].split(" | ")[4].startswith("B+") and row[0].endswith(" W+7 |")
