"""Policy games without search, the REINFORCE step and the value-data recipe (AlphaGo Lee)."""
import os

import numpy as np
import pytest
import torch

from engine.board import BLACK, PASS, WHITE, is_eye, is_legal
from engine.game import GameState
from nets import lee
from nets.lee_features import planes_for_samples, state_planes
from selfplay.lee_games import PolicyGames, play_out
from selfplay.lee_rl import (RLConfig, RLRun, Recorder, masked_log_prob, outcomes,
                             play_minibatch, policy_match, reinforce_update)
from selfplay.lee_value import value_batch


def tiny_policy(n, seed=0):
    torch.manual_seed(seed)
    cfg = lee.PolicyConfig.from_name("l3k8", board_size=n)
    return lee.build(cfg).eval(), cfg


def uniform(rows, colors):
    return [(np.ones(len(rows), dtype=bool), None)]


def replay_state(games, i):
    """GameState (simple ko, as the fast board plays) after game i's moves."""
    s = GameState(games.n, komi=games.komi, ko_rule="simple")
    for k in range(games.length[i]):
        s.play(int(games.colors[i, k]), int(games.moves[i, k]))
    return s


def test_random_policy_games_are_legal_and_end_without_sensible_moves():
    games = PolicyGames(5, 6, komi=0.5, seed=3)
    play_out(games, uniform)
    assert games.done.all()
    for i in range(games.count):
        s = replay_state(games, i)  # raises on an illegal move
        assert s.board[0].tobytes() == games.board(i)[0].tobytes()
        if games.length[i] < games.move_cap:
            # the game ended by two passes, and a pass happens only without a sensible move
            assert games.moves[i, games.length[i] - 1] == PASS
            assert games.moves[i, games.length[i] - 2] == PASS
            for c in (BLACK, WHITE):
                assert not [p for p in s.legal_points(c)
                            if is_legal(s.board, p, c) and not is_eye(s.board, p, c)]
    w = games.winners()
    s = games.scores()
    assert ((w == BLACK) == (s > 0)).all() and ((w == WHITE) == (s < 0)).all()


def test_batched_planes_equal_planes_of_the_replayed_state():
    games = PolicyGames(7, 3, seed=1)
    rows = games.active()
    for _ in range(12):
        mask, counts = games.sensible(rows)
        games.play(rows, games.choose_uniform(mask, counts))
    planes = games.planes(rows, with_player=True)
    for i in rows:
        np.testing.assert_array_equal(planes[i], state_planes(replay_state(games, i), True))


def test_choose_samples_only_sensible_moves_and_follows_the_logits():
    games = PolicyGames(5, 2, seed=0)
    mask = np.zeros((2, 25), dtype=np.uint8)
    mask[0, [3, 7]] = 1
    mask[1, [1, 2, 24]] = 1
    logits = torch.zeros(2, 25)
    logits[0, 7] = 50.0  # almost certain among the sensible ones
    logits[1, 0] = 50.0  # not sensible: must never be drawn
    for _ in range(20):
        a = games.choose(logits, mask, np.array([2, 3]))
        assert a[0] == 7 and a[1] in (1, 2, 24)
    assert (games.choose(logits, np.zeros_like(mask), np.array([0, 0])) == -1).all()


def test_gameset_of_policy_games_replays_to_the_same_positions():
    games = PolicyGames(5, 4, seed=5)
    play_out(games, uniform)
    gs = games.to_gameset()
    sub = gs.subset([2, 0])
    assert list(sub.source) == [gs.source[2], gs.source[0]]
    k = int(games.length[2]) - 3
    out = np.zeros((1, 48, 5, 5), dtype=np.float32)
    tgt = np.zeros(1, dtype=np.int64)
    planes_for_samples(5, sub.offsets, sub.moves, sub.colors, sub.setup_offsets,
                       sub.setup_points, sub.setup_colors, np.array([0]), np.array([k]),
                       np.array([0]), False, out, tgt)
    s = GameState(5, komi=games.komi, ko_rule="simple")
    for j in range(k):
        s.play(int(games.colors[2, j]), int(games.moves[2, j]))
    np.testing.assert_array_equal(out[0], state_planes(s))


def test_reinforce_raises_the_probability_of_won_moves_and_lowers_lost_ones():
    n = 5
    for sign in (1.0, -1.0):
        net, cfg = tiny_policy(n, seed=1)
        games = PolicyGames(n, 2, seed=2)
        rows = games.active()
        mask, counts = games.sensible(rows)
        rec = Recorder(net)
        planes = games.planes(rows)
        actions = np.array([6, 12])
        rec(rows, planes, mask, actions, net)
        x = torch.from_numpy(planes)
        m = torch.from_numpy(mask.astype(bool))
        a = torch.from_numpy(actions)
        with torch.no_grad():
            before = masked_log_prob(net(x), m, a)
        opt = torch.optim.SGD(net.parameters(), lr=0.5)
        reinforce_update(net, opt, rec, np.array([sign, sign], dtype=np.float32), 2,
                         RLConfig(), "cpu")
        with torch.no_grad():
            after = masked_log_prob(net(x), m, a)
        assert ((after - before) * sign > 0).all()


def test_minibatch_outcomes_are_from_the_learners_view():
    net, _ = tiny_policy(5)
    cfg = RLConfig(games=4, komi=0.5)
    games, learner_color = play_minibatch(net, None, cfg, 5, seed=4, device="cpu")
    z = outcomes(games, learner_color)
    w = games.winners()
    assert list(learner_color) == [BLACK, WHITE, BLACK, WHITE]
    for i in range(4):
        assert z[i] == (1.0 if w[i] == learner_color[i] else -1.0)


def test_rl_run_trains_snapshots_the_pool_and_resumes(tmp_path):
    net, cfg = tiny_policy(5)
    sl = tmp_path / "sl.pt"
    lee.save_policy(str(sl), net, cfg, step=7)
    run = str(tmp_path / "rl")
    first = RLRun(run, RLConfig(sl=str(sl), iterations=3, games=4, pool_every=2, komi=0.5))
    first.run(progress=False)
    assert first.iteration == 3 and len(first.pool) == 2
    assert sorted(os.listdir(os.path.join(run, "pool"))) == ["pool-000002.pt"]
    w3 = {k: v.clone() for k, v in first.learner.state_dict().items()}
    # a fresh process: the same command with a larger budget continues where it stopped
    again = RLRun(run, RLConfig(iterations=5))
    assert again.iteration == 3 and again.pool == first.pool
    for k, v in again.learner.state_dict().items():
        assert torch.equal(v, w3[k])
    again.run(progress=False)
    assert again.iteration == 5
    ckpts = sorted(os.listdir(os.path.join(run, "checkpoints")))
    assert ckpts[-1] == "rl-000005.pt" and len(ckpts) <= 3
    lines = open(os.path.join(run, "logs", "rl.jsonl")).read().splitlines()
    assert len(lines) == 5
    with pytest.raises(SystemExit, match="--sl"):
        RLRun(str(tmp_path / "empty"), None)


@pytest.mark.parametrize("text, why", [("{", "not valid JSON"), ("[]", "expected a JSON object"),
                                       ('{"sl": "x", "lr_typo": 1}', "lr_typo")])
def test_a_broken_run_config_is_a_clear_error_naming_the_file(tmp_path, text, why):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(SystemExit, match=why) as e:
        RLRun(str(tmp_path), None, log=False)
    assert "config.json" in str(e.value)


def test_policy_match_counts_every_game():
    a, _ = tiny_policy(5, seed=1)
    b, _ = tiny_policy(5, seed=2)
    w, d, l = policy_match(a, b, 5, games=6, komi=0.5, seed=1, batch=4)
    assert w + d + l == 6 and d == 0


def test_value_batch_samples_after_the_random_move_with_z_for_the_player_to_move():
    sl, _ = tiny_policy(5, seed=1)
    rl, _ = tiny_policy(5, seed=2)
    gs, idx, z = value_batch(sl, rl, 5, count=8, komi=0.5, max_u=10, seed=3)
    assert 0 < len(gs) <= 8 and len(idx) == len(z) == len(gs)
    for g in range(len(gs)):
        _sp, _sc, moves, colors, winner, _k = gs.game(g)
        assert 1 <= idx[g] < len(moves)  # the sampled position has a move after it
        mover = colors[idx[g]]
        assert z[g] == (1.0 if winner == mover else -1.0)
