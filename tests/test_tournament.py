"""Round-robin tournaments (selfplay.tournament): the Elo fit on known results, and a small
tournament of random players that is stopped, resumed and rated."""
import json
import math
import os

import pytest

from selfplay.match import MatchConfig, MatchError, parse_player
from selfplay.stats import score_from_elo
from selfplay.tournament import (fit_elo, format_table, load_summaries, main, pair_counts,
                                 parse_aliases,
                                 parse_named, rating_table, run_tournament)


def _expected_games(elos, n):
    """Pair counts whose scores are exactly what these Elos predict over n games a pair."""
    names = list(elos)
    games = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            wins_a = n * score_from_elo(elos[a] - elos[b])
            games[a, b] = (wins_a, 0, n - wins_a)
    return games


def test_fit_recovers_the_elos_that_generated_the_scores():
    elos = {"gnugo": 0.0, "lee": 150.0, "zero": -80.0, "random": -600.0}
    fit = fit_elo(list(elos), _expected_games(elos, 10_000), anchor="gnugo", prior=0.0)
    for name, elo in elos.items():
        assert fit[name][0] == pytest.approx(elo, abs=0.01)
    assert fit["gnugo"][1] == 0.0 and all(fit[n][1] > 0 for n in ("lee", "zero", "random"))


def test_anchor_shifts_ratings_and_more_games_narrow_the_interval():
    elos = {"a": 0.0, "b": 100.0, "c": 200.0}
    by_a = fit_elo(list(elos), _expected_games(elos, 100), anchor="a", prior=0.0)
    by_c = fit_elo(list(elos), _expected_games(elos, 100), anchor="c", prior=0.0)
    assert by_c["a"][0] == pytest.approx(by_a["a"][0] - by_a["c"][0], abs=1e-6)
    many = fit_elo(list(elos), _expected_games(elos, 400), anchor="a", prior=0.0)
    assert many["b"][1] == pytest.approx(by_a["b"][1] / 2, rel=1e-6)


def test_a_player_who_lost_every_game_gets_a_finite_rating_below_the_rest():
    games = {("a", "b"): (3, 1, 4), ("a", "c"): (6, 0, 0), ("b", "c"): (5, 0, 0)}
    fit = fit_elo(["a", "b", "c"], games)
    assert math.isfinite(fit["c"][0]) and fit["c"][0] < fit["a"][0] - 200
    assert fit["c"][0] < fit["b"][0]


def test_players_without_a_path_of_games_to_the_anchor_are_refused():
    with pytest.raises(ValueError, match="no games connect c, d to a"):
        fit_elo(["a", "b", "c", "d"], {("a", "b"): (1, 0, 1), ("c", "d"): (2, 0, 0)})


def test_named_players_need_a_name_and_a_spec():
    assert parse_named("fast=mcts:visits=50").name == "fast"
    for bad in ("mcts:visits=50", "=mcts", "a b=mcts", "name="):
        with pytest.raises(ValueError, match="NAME=SPEC"):
            parse_named(bad)


def _summary(a, b, winners):
    return {"players": {"A": {"name": a}, "B": {"name": b}},
            "game_records": [{"winner": w} for w in winners]}


def test_table_joins_summaries_by_name_in_either_colour_order():
    table = rating_table([_summary("x", "y", ["A", "A", None]), _summary("y", "x", ["A"])],
                         anchor="y")
    assert pair_counts([_summary("y", "x", ["A", "B"])]) == {("x", "y"): [1, 0, 1]}
    x = next(p for p in table["players"] if p["name"] == "x")
    assert (x["wins"], x["draws"], x["losses"], x["score"]) == (2, 1, 1, 0.625)
    assert table["players"][0]["name"] == "x" and x["elo"] > 0
    text = format_table(table)
    assert "| x | 2-1-1 |" not in text and "| x | - | 2-1-1 |" in text


def _players():
    return [parse_player("random", "r1"), parse_player("random:seed=5", "r2"),
            parse_player("random", "r3")]


def test_round_robin_stops_resumes_and_rates(tmp_path):
    out = str(tmp_path / "t")
    cfg = MatchConfig(games=2, size=5, komi=0.5, seed=4)
    logs = []
    table = run_tournament(out, _players(), cfg, 2, log=logs.append)
    assert len(load_summaries(out)) == 3 and len(logs) == 3
    assert sum(p["games"] for p in table["players"]) == 2 * 3 * 2
    first = {f: os.path.getmtime(os.path.join(out, "rounds", f))
             for f in os.listdir(os.path.join(out, "rounds"))}
    # a larger budget plays only the new round; the rounds on disk are kept as they are
    table = run_tournament(out, _players(), cfg, 4, log=logs.append)
    assert len(load_summaries(out)) == 6 and len(logs) == 6
    for f, t in first.items():
        assert os.path.getmtime(os.path.join(out, "rounds", f)) == t
    assert all(p["games"] == 8 for p in table["players"])
    assert sorted(json.load(open(os.path.join(out, "rounds", "0-2-001.json")))["players"]) == ["A", "B"]
    with open(os.path.join(out, "table.md")) as f:
        assert "| r1 | - |" in f.read()
    with pytest.raises(MatchError, match="other players"):
        run_tournament(out, _players()[:2], cfg, 4)
    with pytest.raises(MatchError, match="other settings"):
        run_tournament(out, _players(), MatchConfig(games=2, size=7, seed=4), 4)


def _run_and_summary_to_import(tmp_path, capsys, outsider):
    """``main run`` plays a=random against b=random on 5x5 into tmp_path/t, and a summary in
    which ``outsider`` won three games against b is written to import (the output read so far
    is dropped): (tournament folder, summary file)."""
    out = str(tmp_path / "t")
    assert main(["run", out, "--player", "a=random", "--player", "b=random", "--size", "5",
                 "--games-per-pair", "2", "--no-progress"]) == 0
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps(_summary("b", outsider, ["B", "B", "B"])))
    capsys.readouterr()
    return out, str(extra)


def test_command_line_rates_a_directory_with_imported_games(tmp_path, capsys):
    out, extra = _run_and_summary_to_import(tmp_path, capsys, "outsider")
    assert main(["table", out, "--import", extra, "--anchor", "outsider"]) == 0
    text = capsys.readouterr().out
    assert "| outsider | +0 | anchor | 3 | 3-0-0 | 100.0% |" in text
    assert main(["table", str(tmp_path / "none")]) == 2


def test_aliases_merge_one_engine_imported_under_two_names(tmp_path, capsys):
    same = "gnugo --mode gtp --level 10"
    summaries = [_summary("x", same, ["A", "B"]), _summary(same + " --chinese-rules", "x", ["A"])]
    aliases = parse_aliases([f"{same}=gnugo", f"{same} --chinese-rules=gnugo"])
    assert aliases == {same: "gnugo", same + " --chinese-rules": "gnugo"}
    assert pair_counts(summaries, aliases) == {("gnugo", "x"): [2, 0, 1]}
    assert len(pair_counts(summaries)) == 2  # without aliases: two opponents
    with pytest.raises(ValueError, match="play itself"):
        pair_counts([_summary("x", same, ["A"])], {same: "x"})
    with pytest.raises(ValueError, match="OLD=NEW"):
        parse_aliases(["gnugo=two words"])
    # the order and the anchor may name a player by its old name; a stray alias is an error
    table = rating_table(summaries, anchor=same, order=["x", same], aliases=aliases)
    assert table["anchor"] == "gnugo" and [p["name"] for p in table["players"]][0] == "gnugo"
    assert {p["name"] for p in table["players"]} == {"gnugo", "x"}
    with pytest.raises(ValueError, match="no player of these games: typo"):
        rating_table(summaries, aliases={**aliases, "typo": "t"})

    out, extra = _run_and_summary_to_import(tmp_path, capsys, "outside engine")
    assert main(["table", out, "--import", extra, "--alias", "outside engine=ext",
                 "--anchor", "ext"]) == 0
    assert "| ext | +0 | anchor | 3 | 3-0-0 | 100.0% |" in capsys.readouterr().out
    with open(os.path.join(out, "table.json")) as f:
        assert json.load(f)["aliases"] == {"outside engine": "ext"}
