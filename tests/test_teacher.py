"""Teacher games: GNU Go against itself at mixed levels, written as an SGF collection that
nets.sgf_data converts unchanged, and runs that resume where they stopped."""
import argparse
import os

import pytest

from engine.sgf import load_sgf_game
from nets.sgf_data import ConvertConfig, convert, load_shards
from selfplay.teacher import (TeacherConfig, _range, existing_games, games_to_play, main, plan_game,
                              run)

GNUGO = "/usr/games/gnugo"
has_gnugo = pytest.mark.skipif(not os.path.exists(GNUGO), reason="GNU Go is not installed")


def test_plans_are_drawn_from_the_ranges_and_fixed_by_seed_and_number():
    cfg = TeacherConfig(out="x", levels=(6, 10), opening_moves=(2, 6), seed=5)
    plans = [plan_game(cfg, i) for i in range(200)]
    assert plans == [plan_game(cfg, i) for i in range(200)]
    assert {p.black_level for p in plans} == {p.white_level for p in plans} == {6, 7, 8, 9, 10}
    assert {p.opening_moves for p in plans} == {2, 3, 4, 5, 6}
    assert plan_game(TeacherConfig(out="x", seed=6), 0) != plan_game(cfg, 0)


def test_missing_games_are_played_gaps_first(tmp_path):
    for k in (1, 2, 4):  # game-0003 was in progress when a run was killed
        (tmp_path / f"game-{k:04d}.sgf").write_text("(;SZ[5])")
    (tmp_path / "notes.txt").write_text("")
    assert existing_games(tmp_path) == {0, 1, 3}
    assert games_to_play(TeacherConfig(out=str(tmp_path), games=6)) == [2, 4, 5]
    assert games_to_play(TeacherConfig(out=str(tmp_path), games=2)) == []


@pytest.mark.parametrize("text, value", [("6-10", (6, 10)), ("7", (7, 7)), ("0-0", (0, 0))])
def test_level_ranges(text, value):
    assert _range(text) == value


@pytest.mark.parametrize("text", ["10-6", "a-b", "-3", ""])
def test_bad_level_ranges_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        _range(text)


def test_a_missing_gnugo_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "t"), "--gnugo", "/nonexistent/gnugo --mode gtp"])
    assert "not an executable file" in capsys.readouterr().err


@pytest.mark.gnugo
@has_gnugo
def test_teacher_games_convert_and_a_rerun_completes_the_set(tmp_path):
    out = tmp_path / "teacher5"
    cfg = TeacherConfig(out=str(out), size=5, games=2, levels=(1, 3), opening_moves=(1, 2), seed=3)
    s = run(cfg, progress=False)
    assert (s["had"], s["played"], s["total"]) == (0, 2, 2)
    first = {f: (out / f).read_bytes() for f in sorted(os.listdir(out))}
    assert sorted(first) == ["game-0001.sgf", "game-0002.sgf"]
    for i, f in enumerate(sorted(first)):
        rec = load_sgf_game(str(out / f))
        plan = plan_game(cfg, i)
        assert rec.size == 5 and rec.komi == 7.0 and rec.result
        assert (rec.black_name, rec.white_name) == (f"GNU Go level {plan.black_level}",
                                                   f"GNU Go level {plan.white_level}")
        assert len(rec.moves) >= plan.opening_moves

    r = convert([out], tmp_path / "shards", ConvertConfig(size=5, heldout=0.0))
    assert r["kept"] == 2 and sum(r["skipped"].values()) == 0
    assert sorted(load_shards(tmp_path / "shards" / "train").source) == [
        "teacher5/game-0001.sgf#0", "teacher5/game-0002.sgf#0"]

    # a killed run: game 1 lost, a half-written file left behind; the rerun asks for 3 games
    os.unlink(out / "game-0001.sgf")
    (out / ".game-0003.sgf.abc.tmp").write_text("(;SZ[5]")
    s = run(TeacherConfig(**{**cfg.__dict__, "games": 3}), progress=False)
    assert (s["had"], s["played"], s["total"]) == (1, 2, 3)
    assert sorted(os.listdir(out)) == ["game-0001.sgf", "game-0002.sgf", "game-0003.sgf"]
    assert (out / "game-0002.sgf").read_bytes() == first["game-0002.sgf"]  # kept untouched
    assert (out / "game-0001.sgf").read_bytes() == first["game-0001.sgf"]  # replayed identically
    assert convert([out], tmp_path / "shards", ConvertConfig(size=5))["kept"] == 3
