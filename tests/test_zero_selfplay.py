"""Batched AlphaGo Zero self-play (selfplay.zero_selfplay) and the step-wise search API.

Games are played on 5x5 with the tiny b1c8 network and a few visits, or with a scripted fake
network whose answers are known (uniform policy, a value that says black is losing), which also
counts the batch sizes the network sees.
"""
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
import torch.nn as nn

from engine.board import BLACK, M_NEMPTY, PASS, WHITE, new_board, to_action
from engine.coords import parse_vertex
from engine.diagram import state_from_diagram
from engine import mcts
from engine.mcts import F_DISABLED, T_FIRST, T_FLAGS, T_MOVE, T_N, T_NCHILD, T_PRIOR, T_WV
from engine.search import Search, SearchConfig, UniformEvaluator
from engine.sgf import load_sgf_game
from nets.evaluator import NetEvaluator
from nets.features import HISTORY, history_stack, leaf_stacks
from nets.resnet import NetConfig, build_net
from selfplay import zero_selfplay as zs
from selfplay.zero_selfplay import SelfPlayConfig, run_selfplay

torch.set_num_threads(1)
N = 5


def tiny_net():
    torch.manual_seed(0)
    return build_net(NetConfig.from_name("b1c8", board_size=N))


class BlackLosesNet(nn.Module):
    """Uniform policy; value -1 when black is to move, +1 when white is: black always looks lost.
    Records the batch size of every forward pass."""

    def __init__(self, n=N):
        super().__init__()
        self.n = n
        self.sizes = []

    def forward(self, x):
        self.sizes.append(x.shape[0])
        black = x[:, 16, 0, 0]
        return torch.zeros(x.shape[0], self.n * self.n + 1), 1.0 - 2.0 * black, None


def cfg(**kw):
    base = dict(board_size=N, parallel_games=4, visits=12, leaf_batch=4, seed=1,
                resign_threshold=0.0, max_moves=60)
    base.update(kw)
    return SelfPlayConfig(**base)


def assert_same_games(a, b):
    """Two lists of ``games``: the same games, move for move and array for array."""
    assert len(a) == len(b)
    for (da, sa), (db, sb) in zip(a, b):
        assert sa.moves == sb.moves
        for k in da.files:
            assert np.array_equal(da[k], db[k]), k


def games(folder):
    names = sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".npz"))
    return [(np.load(os.path.join(folder, n + ".npz")), load_sgf_game(os.path.join(folder, n + ".sgf")))
            for n in names]


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    out = tmp_path_factory.mktemp("games")
    summary = run_selfplay(tiny_net(), cfg(full_search_prob=0.5, cheap_visits=3), out, 5)
    return out, summary


def test_games_are_legal_and_recorded_position_by_position(played):
    out, summary = played
    assert summary["games"] == 5
    recs = games(out)
    assert len(recs) == 5
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
    for d, sgf in recs:
        final = sgf.replay()  # raises on an illegal move
        t = len(sgf.moves)
        assert final.is_over() or t == cfg().max_moves  # two passes or the move cap
        assert d["planes"].shape == (t, 17, N, N) and d["planes"].dtype == np.uint8
        assert d["policy"].shape == (t, N * N + 1) and d["policy"].dtype == np.float32
        assert d["z"].shape == (t,) and d["to_move"].shape == (t,) and d["full_search"].shape == (t,)
        assert d["ownership"].shape == (N * N,) and d["ownership"].dtype == np.int8
        assert list(d["to_move"]) == [m.color for m in sgf.moves]
        assert int(d["size"]) == N and float(d["komi"]) == 7.5 and not bool(d["resigned"])
        assert str(d["result"]) == sgf.result
        assert np.array_equal(d["ownership"], final.owner())
        full = d["full_search"]
        assert np.allclose(d["policy"][full].sum(axis=1), 1.0, atol=1e-5)
        # the recorded planes are the canonical ones of each position (colour plane, stones)
        st = sgf.replay(move_number=t)  # before the last move
        me = d["to_move"][-1]
        assert np.all(d["planes"][-1, 16] == (1 if me == BLACK else 0))
        assert d["planes"][-1, 0].sum() == (st.stones() == me).sum()
        assert d["planes"][-1, 8].sum() == (st.stones() == 3 - me).sum()
        # played moves carry policy mass (they were visited) on full-search positions
        for i in np.flatnonzero(full)[:5]:
            p = sgf.moves[i].point
            a = N * N if p == PASS else to_action(N, p)
            assert d["policy"][i, a] > 0
    all_full = np.concatenate([d["full_search"] for d, _ in recs])
    assert all_full.any() and not all_full.all()  # playout cap: both kinds of search


def test_outcome_signs_agree_with_the_result(played):
    out, _ = played
    for d, sgf in games(out):
        winner = sgf.winner
        z, to_move = d["z"], d["to_move"]
        if winner is None:
            assert np.all(z == 0)
        else:
            assert np.all(z[to_move == winner] == 1) and np.all(z[to_move != winner] == -1)
        score = sgf.replay().score()
        assert (winner == BLACK) == (score > 0) and (winner == WHITE) == (score < 0)


def test_same_seed_same_games_other_seed_other_games(tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        run_selfplay(tiny_net(), cfg(parallel_games=3, seed=seed, name_prefix="g"), tmp_path / name, 3)
    a, b, c_ = games(tmp_path / "a"), games(tmp_path / "b"), games(tmp_path / "c")
    assert_same_games(a, b)
    assert [s.moves for _, s in a] != [s.moves for _, s in c_]


def test_a_finished_games_tree_serves_the_next_game(tmp_path, monkeypatch):
    """Trees are allocated once per game in progress, not per game: each finished game's tree
    (grown and paged in) goes to the next game, and the games stay the seed's games."""
    made = []
    new_tree = mcts.new_tree
    monkeypatch.setattr(mcts, "new_tree", lambda cap: made.append(cap) or new_tree(cap))
    for name in ("a", "b"):
        run_selfplay(tiny_net(), cfg(parallel_games=2, seed=4, name_prefix="g"),
                     tmp_path / name, 5)
    assert len(made) == 2 * 2  # two games at once, in each of the two runs
    a, b = games(tmp_path / "a"), games(tmp_path / "b")
    assert len(a) == 5
    assert_same_games(a, b)


def test_network_sees_the_leaves_of_all_games_at_once(tmp_path):
    net = BlackLosesNet()
    c = cfg(parallel_games=6, leaf_batch=4, visits=16, max_moves=8)
    summary = run_selfplay(net, c, tmp_path, 6)
    assert summary["games"] == 6
    assert max(net.sizes) > c.leaf_batch  # more than one game's leaf batch in a forward pass
    assert summary["mean_batch"] > c.leaf_batch
    assert summary["evaluations"] == sum(net.sizes)


def test_resignation_and_the_played_out_share(tmp_path):
    net = BlackLosesNet()
    resign = run_selfplay(net, cfg(resign_threshold=0.1, no_resign_share=0.0), tmp_path / "r", 3)
    for d, sgf in games(tmp_path / "r"):
        assert sgf.result == "W+R" and bool(d["resigned"])
        assert len(sgf.moves) == 0 and d["z"].shape == (0,)  # black resigns at once
    assert resign["resigned"] == 3
    out = run_selfplay(net, cfg(resign_threshold=0.1, no_resign_share=1.0, max_moves=12),
                       tmp_path / "p", 3)
    assert out["resigned"] == 0 and out["no_resign_games"] == 3 and out["would_resign"] == 3
    for d, sgf in games(tmp_path / "p"):
        assert int(d["would_resign"]) == BLACK and not bool(d["resigned"])
        assert sgf.result != "W+R" and len(sgf.moves) > 0
    assert out["false_resign"] == sum(sgf.winner == BLACK for _, sgf in games(tmp_path / "p"))


def test_a_failed_write_leaves_no_visible_file(tmp_path, monkeypatch):
    def broken(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")
    monkeypatch.setattr(zs.np, "savez_compressed", broken)
    with pytest.raises(OSError):
        run_selfplay(tiny_net(), cfg(parallel_games=1, max_moves=4), tmp_path, 1)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".npz") or f.endswith(".tmp")]


def test_a_failed_write_stops_the_loop_and_the_games_written_are_complete(tmp_path,
                                                                          monkeypatch):
    # games are written by a thread of their own; a failure there must still end the run
    # with the error, soon, and every game finished meanwhile must be on disk
    tried = []
    write = zs.write_npz_atomic

    def fails_first(path, arrays):
        tried.append(path)
        if len(tried) == 1:
            raise OSError("disk full")
        write(path, arrays)

    monkeypatch.setattr(zs, "write_npz_atomic", fails_first)
    with pytest.raises(OSError, match="disk full"):
        run_selfplay(tiny_net(), cfg(parallel_games=2, max_moves=6), tmp_path, 40)
    assert 1 <= len(tried) < 10
    done = games(tmp_path)
    assert len(done) == len(tried) - 1
    for d, sgf in done:
        assert len(d["z"]) == len(sgf.moves)


def test_npz_write_is_atomic_and_readable(tmp_path):
    path = tmp_path / "x.npz"
    zs.write_npz_atomic(path, {"a": np.arange(3)})
    assert sorted(os.listdir(tmp_path)) == ["x.npz"]
    assert list(np.load(path)["a"]) == [0, 1, 2]


# ---------------------------------------------------------------------------------------------
# Step-wise search API

def step_search(seed=3, **kw):
    base = dict(threads=1, seed=seed, early_stop=False, expand_threshold=1, batch_size=8)
    base.update(kw)
    return Search(SearchConfig(**base), UniformEvaluator(value=0.3))


def test_batched_net_answers_a_leaf_batch_as_the_net_evaluator_does():
    """Both are ``StackNet``s: the same leaves under the same symmetry stream get the same
    priors and values, to the bit, whether self-play or the GTP search asks."""
    st = state_from_diagram("""
        . . . . .
        . X O . .
        . . X . .
        . . . . .
        . . . . .
    """, to_move=WHITE)
    net = tiny_net()
    batched = zs.BatchedNet(net, N, "cpu", random_symmetry=True, seed=0)
    single = NetEvaluator(net, N, device="cpu", random_symmetry=True)
    s = Search(cfg().search_config(5), zs.SharedNetSlot())
    s.prepare(st, WHITE)
    root_stack = history_stack(s.root_state)
    for _ in range(4):  # grow the tree so that the compared leaves lie a few moves deep
        bt = s.begin_batch(4)
        batched.evaluate([(s, bt, root_stack)])
        s.finish_batch(bt)
    bt = s.begin_batch(4)
    k = bt.count
    assert k == 4 and not bt.terminal[:k].any()  # every row goes through the network
    batched.rng, single.rng = np.random.default_rng(11), np.random.default_rng(11)
    batched.evaluate([(s, bt, root_stack)])
    priors, values = bt.priors[:k].copy(), bt.value[:k].copy()
    bt.priors[:k], bt.value[:k] = 0.0, 0.0
    single.evaluate(bt)
    assert np.array_equal(bt.priors[:k], priors) and np.array_equal(bt.value[:k], values)
    assert np.allclose(priors.sum(axis=1), 1.0, atol=1e-5)
    s.abort_batch(bt)


class _RoundGame:
    """What SearchRounds reads of a game: its search, the simulations wanted and done, and
    the history stack of the root. ``initial_tree_nodes``: the search's first tree, small to
    make it grow while the rounds run."""

    def __init__(self, state, seed, target, initial_tree_nodes=None):
        config = cfg().search_config(seed)
        if initial_tree_nodes is not None:
            config = dataclasses.replace(config, initial_tree_nodes=initial_tree_nodes)
        self.search = Search(config, zs.SharedNetSlot())
        self.search.prepare(state, state.to_move)
        self.root_stack = history_stack(self.search.root_state)
        self.target, self.sims = target, 0


def _round_positions():
    """Three positions of a 5x5 game, each with the side to move it has in play."""
    st = state_from_diagram("""
        . . . . .
        . X O . .
        . . X . .
        . O . . .
        . . . . .
    """, to_move=WHITE)
    a = st.copy()
    b = st.copy()
    b.play(WHITE, parse_vertex("D4", N))
    c = b.copy()
    c.play(BLACK, parse_vertex("D2", N))
    return [a, b, c]


def _tree_arrays(search):
    used = int(search.tree[-1][0])
    return [np.array(x[:used]) for x in search.tree[:-1]]


@pytest.mark.parametrize("threads,first_tree", [(1, None), (2, None), (1, 30)])
def test_search_rounds_grow_the_trees_each_search_grows_alone(threads, first_tree):
    """One SearchRounds round over several games is, game by game, what a search does driven
    alone (begin_batch, the batched network, finish_batch): the same trees to the bit, with
    one thread or two, and when the trees start small and are replaced by larger ones
    between rounds (the kernels must follow each replacement)."""
    net = tiny_net()
    together = [_RoundGame(st, 10 + i, 40, first_tree) for i, st in enumerate(_round_positions())]
    alone = [_RoundGame(st, 10 + i, 40, first_tree) for i, st in enumerate(_round_positions())]
    first = [g.search.tree for g in together]
    a_net = zs.BatchedNet(net, N, "cpu", random_symmetry=True, seed=3)
    b_net = zs.BatchedNet(net, N, "cpu", random_symmetry=True, seed=3)
    rounds = zs.SearchRounds(N, 4, threads)
    try:
        while any(g.sims < g.target for g in together):
            active = [g for g in together if g.sims < g.target]
            done = rounds.run(active, lambda g: a_net)
            assert done == [i for i, g in enumerate(active) if g.sims >= g.target]
            # the same round, the old way: one begin / evaluate / finish per search
            act = [g for g in alone if g.sims < g.target]
            items = []
            for g in act:
                bt = g.search.begin_batch(min(4, g.target - g.sims))
                items.append((g.search, bt, g.root_stack))
            b_net.evaluate(items)
            for g in act:
                g.sims += g.search.finish_batch(g.search.batch)
            for i, g in enumerate(act):  # the leaves' boards, as far as a round writes them
                r0, k = int(rounds.row0[i]), int(rounds.counts[i])
                assert k == g.search.batch.count
                tree = g.search.tree  # and their history stacks, as the replay builds them
                stacks = np.zeros((k, HISTORY, (N + 2) ** 2), dtype=np.int8)
                leaf_stacks(tree[mcts.T_PARENT], tree[mcts.T_MOVE], g.search.batch.leaf, k,
                            g.search.root_board, g.root_stack, new_board(N), stacks)
                assert np.array_equal(rounds.stacks[r0:r0 + k], stacks)
                got, want = rounds.batch.boards, g.search.batch.boards
                for a in (0, 2, 3, 8):  # colour, chain heads, liberties, meta
                    assert np.array_equal(got[a][r0:r0 + k], want[a][:k])
                for j in range(k):  # the empty points; a terminal leaf's marks
                    ne = int(want[8][j, M_NEMPTY])
                    assert np.array_equal(got[5][r0 + j, :ne], want[5][j, :ne])
                    if g.search.batch.terminal[j]:
                        assert np.array_equal(got[7][r0 + j], want[7][j])
    finally:
        rounds.close()
    assert max(rounds.sizes) > 4  # one forward pass answered several games
    if first_tree is not None:  # every tree was replaced, several times over
        assert all(g.search.tree is not t for g, t in zip(together, first))
        assert all(len(g.search.tree[T_MOVE]) >= 8 * first_tree for g in together)
    for x, y in zip(together, alone):
        assert x.sims == y.sims == 40
        for u, v in zip(_tree_arrays(x.search), _tree_arrays(y.search)):
            assert np.array_equal(u, v)
        assert mcts.check_tree(x.search.tree) == 0


def test_search_rounds_take_the_virtual_losses_back_when_the_network_fails():
    class Broken(zs.BatchedNet):
        def answer_rows(self, *args):
            raise RuntimeError("out of memory")

    games_ = [_RoundGame(st, 20 + i, 16) for i, st in enumerate(_round_positions())]
    good = zs.BatchedNet(tiny_net(), N, "cpu")
    bad = Broken(tiny_net(), N, "cpu")
    rounds = zs.SearchRounds(N, 4)
    rounds.run(games_, lambda g: good)  # the roots get their children
    before = [g.sims for g in games_]
    with pytest.raises(RuntimeError, match="out of memory"):
        rounds.run(games_, lambda g: bad)
    assert [g.sims for g in games_] == before
    for g in games_:
        assert mcts.check_tree(g.search.tree) == 0  # no virtual loss left behind
    rounds.run(games_, lambda g: good)  # and the trees go on
    assert all(g.sims > b for g, b in zip(games_, before))


def test_search_rounds_refuse_a_search_that_is_done_and_select_nothing():
    games_ = [_RoundGame(st, 20 + i, 9) for i, st in enumerate(_round_positions())]
    rounds = zs.SearchRounds(N, 4)
    net = zs.BatchedNet(tiny_net(), N, "cpu")  # one network for all: passed as itself
    while games_[1].sims < games_[1].target:
        rounds.run(games_, net)
    assert [g.sims for g in games_] == [9, 9, 9]  # 1 (the root alone), then 4 and 4
    sims = [int(g.search.tree[T_N][0]) for g in games_]
    with pytest.raises(ValueError, match="wants no more simulations"):
        rounds.run(games_, net)
    assert [int(g.search.tree[T_N][0]) for g in games_] == sims
    for g in games_:
        assert mcts.check_tree(g.search.tree) == 0  # nothing selected, no virtual loss


def test_search_rounds_refuse_searches_with_other_selection_settings():
    st = _round_positions()[0]
    g1 = _RoundGame(st, 1, 8)
    g2 = _RoundGame(st, 2, 8)
    g2.search = Search(cfg(c_puct=4.0).search_config(2), zs.SharedNetSlot())
    g2.search.prepare(st, st.to_move)
    with pytest.raises(ValueError, match="selection settings"):
        zs.SearchRounds(N, 4).run([g1, g2], lambda g: None)
    # a search checked in an earlier round is checked again when the round's settings change
    rounds = zs.SearchRounds(N, 4)
    net = zs.BatchedNet(tiny_net(), N, "cpu")
    rounds.run([_RoundGame(st, 3, 8), g1], lambda g: net)
    with pytest.raises(ValueError, match="selection settings"):
        rounds.run([g2, g1], lambda g: net)


def test_begin_finish_batches_build_the_same_tree_as_run():
    st = state_from_diagram("""
        . . . . .
        . X O . .
        . . X . .
        . . . . .
        . . . . .
    """, to_move=WHITE)
    a, b = step_search(), step_search()
    a.prepare(st, WHITE)
    a.run(visits=40)
    b.prepare(st, WHITE)
    done = 0
    while done < 40:
        bt = b.begin_batch(40 - done)
        b.evaluator.evaluate(bt)
        done += b.finish_batch(bt)
    b.end_search()
    used = int(a.tree[13][0])
    assert used == int(b.tree[13][0])
    for slot in (T_MOVE, T_FIRST, T_N, T_WV):
        assert np.array_equal(a.tree[slot][:used], b.tree[slot][:used])
    assert a.stats()["virtual_loss"] == b.stats()["virtual_loss"] == 0


def test_abort_batch_takes_the_virtual_losses_back():
    s = step_search()
    s.prepare(state_from_diagram(". . .\n. . .\n. . .", to_move=BLACK), BLACK)
    bt = s.begin_batch()
    s.evaluator.evaluate(bt)
    s.finish_batch(bt)
    bt = s.begin_batch()
    assert bt.count > 1 and s.stats()["virtual_loss"] > 0
    s.abort_batch(bt)
    assert s.stats()["virtual_loss"] == 0


def test_stepwise_noise_only_on_legal_moves_and_only_when_asked():
    st = state_from_diagram("""
        . . . . .
        . X O . .
        X O . O .
        . X O . .
        . . . . .
    """, to_move=BLACK)
    st.play(BLACK, parse_vertex("C3", N))  # takes the ko
    st.play(WHITE, PASS)
    st.play(BLACK, PASS)  # retaking at B3 would now repeat a position (positional superko)
    retake = parse_vertex("B3", N)
    priors = {}
    for noise in (True, False):
        s = step_search(dirichlet_epsilon=1.0, dirichlet_alpha=0.3)
        s.prepare(st, WHITE, noise=noise)
        bt = s.begin_batch()
        assert bt.count == 1  # the root alone until it has children
        s.evaluator.evaluate(bt)
        s.finish_batch(bt)
        f = int(s.tree[T_FIRST][0])
        kids = range(f, f + int(s.tree[T_NCHILD][0]))
        j = [k for k in kids if s.tree[T_MOVE][k] == retake][0]
        assert s.tree[T_FLAGS][j] & F_DISABLED and s.tree[T_PRIOR][j] == 0.0
        legal = [k for k in kids if k != j]
        assert sum(s.tree[T_PRIOR][k] for k in legal) == pytest.approx(1.0, abs=1e-5)
        priors[noise] = np.array([s.tree[T_PRIOR][k] for k in legal])
        s.end_search()
        assert np.allclose([s.tree[T_PRIOR][k] for k in legal], 1.0 / len(legal))
    assert np.std(priors[True]) > 0.01  # noise on the legal moves
    assert np.allclose(priors[False], 1.0 / len(priors[False]))  # no noise when not asked


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        SelfPlayConfig(parallel_games=0)
    with pytest.raises(ValueError):
        SelfPlayConfig(name_prefix="a/b")
    assert SelfPlayConfig(board_size=9).alpha == pytest.approx(0.03 * 361 / 81)
    with pytest.raises(ValueError):
        run_selfplay(tiny_net(), SelfPlayConfig(board_size=7), "/nonexistent-unused", 1)
    with pytest.raises(ValueError, match="precision"):
        SelfPlayConfig(precision="fp16")


def test_bf16_self_play_writes_complete_games(tmp_path):
    summary = run_selfplay(tiny_net(), cfg(parallel_games=2, precision="bf16"), tmp_path, 2)
    assert summary["games"] == 2 and len(games(tmp_path)) == 2
    for data, sgf_state in games(tmp_path):
        assert np.allclose(data["policy"].sum(axis=1), 1.0, atol=1e-4)


def test_resign_threshold_calibration_keeps_false_resignations_under_the_rate():
    """Twenty played-out games: the winner's lowest values 0.01..0.20. At 5% one false
    resignation is allowed: the threshold is the second-lowest low, which resigns exactly the
    one game whose winner fell below it."""
    lows = [0.01 * (k + 1) for k in range(20)]
    games = []
    for k, low in enumerate(lows):
        winner = BLACK if k % 2 else WHITE
        to_move = np.array([BLACK, WHITE] * 3, dtype=np.int8)
        values = np.where(to_move == winner, 0.9, 0.02).astype(np.float32)
        values[np.flatnonzero(to_move == winner)[1]] = low  # the winner's worst moment
        games.append((winner, to_move, values))
    t = zs.resign_threshold_for(games, false_rate=0.05)
    assert t == pytest.approx(0.02)
    false = sum(v[tm == w].min() < t for w, tm, v in games)
    assert false == 1 <= 0.05 * len(games)
    assert zs.resign_threshold_for(games, false_rate=0.0) == pytest.approx(0.01)  # none false
    assert zs.resign_threshold_for([]) is None
    # a jigo counts both sides' values: resigning it loses the half point
    jigo = (0, np.array([BLACK, WHITE], dtype=np.int8), np.array([0.5, 0.001], dtype=np.float32))
    assert zs.resign_threshold_for([jigo], false_rate=0.0) == pytest.approx(0.001)


def test_games_record_the_values_resignation_reads(tmp_path):
    """Every recorded move carries the value the resignation test saw; with resignation off all
    games are resign-free, with it on only the no-resign share."""
    run_selfplay(BlackLosesNet(), cfg(max_moves=10), tmp_path / "a", 2)
    for d, _ in games(tmp_path / "a"):
        assert bool(d["resign_free"]) and d["resign_value"].shape == d["z"].shape
        black = d["to_move"] == BLACK
        # black is told it is lost, white that it is won
        assert np.all(d["resign_value"][black] < 0.1) and np.all(d["resign_value"][~black] > 0.9)
    run_selfplay(BlackLosesNet(), cfg(resign_threshold=0.1, no_resign_share=0.0), tmp_path / "b", 2)
    assert not any(bool(d["resign_free"]) for d, _ in games(tmp_path / "b"))


def test_a_pass_that_loses_on_the_board_becomes_the_best_real_move():
    """White leads by komi alone on an empty-ish board: a black pass would let white end the
    game at once, so black plays its best searched move; white's pass is kept (it wins), and
    a black pass is kept once black leads."""
    from engine.search import no_losing_pass
    st = state_from_diagram("""
        . . . . .
        . . . . .
        . . X . .
        . . . . .
        . . . . .
    """, to_move=WHITE)
    st.komi = 30.5  # white wins if the game ends now
    s = step_search()
    s.prepare(st, BLACK)
    s.run(visits=40)
    best = s.ranked()[0]
    move = no_losing_pass(s, st, BLACK, PASS)
    assert move == int(s.tree[T_MOVE][best]) != PASS
    assert no_losing_pass(s, st, WHITE, PASS) == PASS
    st.komi = 0.5  # black leads 25 - 0.5
    assert no_losing_pass(s, st, BLACK, PASS) == PASS
    assert no_losing_pass(s, st, BLACK, move) == move  # a real move is never touched


def test_lanes_deal_out_the_games_and_play_the_same_ones_every_time(tmp_path):
    """Two lanes: every game once, the forward passes of both lanes counted, the same games on
    every run however the threads interleave, and torch's thread count given back."""
    c = cfg(parallel_games=4, seed=3, name_prefix="g")
    torch.set_num_threads(2)
    try:
        runs = [run_selfplay(tiny_net(), c, tmp_path / name, 5, lanes=2) for name in "ab"]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    one = run_selfplay(tiny_net(), c, tmp_path / "one", 5)
    names = [r["name"] for r in one["records"]]
    assert sorted(names) == names
    for summary in runs:
        assert summary["lanes"] == 2 and summary["games"] == 5
        assert [r["name"] for r in summary["records"]] == names
        assert summary["evaluations"] == sum(summary["batch_sizes"])
        assert summary["moves"] == sum(r["moves"] for r in summary["records"]
                                       if not r["resigned"])
    a, b = games(tmp_path / "a"), games(tmp_path / "b")
    assert len(a) == 5
    assert_same_games(a, b)


def test_network_sees_the_leaves_of_a_lanes_games_at_once(tmp_path):
    net = BlackLosesNet()
    c = cfg(parallel_games=8, leaf_batch=4, visits=16, max_moves=8)
    summary = run_selfplay(net, c, tmp_path, 8, lanes=2)
    assert summary["games"] == 8
    assert max(net.sizes) > c.leaf_batch  # more than one game's leaves in a pass
    assert max(net.sizes) <= 4 * c.leaf_batch  # each lane batches its own 4 games only
    assert summary["evaluations"] == sum(net.sizes)


def test_forward_replay_in_lanes_warms_each_lane_in_its_own_thread(monkeypatch):
    calls = []  # (thread, rows) of every forward pass
    inner = zs.BatchedNet.forward

    def forward(self, planes):
        calls.append((threading.get_ident(), planes.shape[0]))
        return inner(self, planes)

    monkeypatch.setattr(zs.BatchedNet, "forward", forward)
    sizes = [5, 3, 8, 2, 7, 4, 6]
    before = torch.get_num_threads()
    rate = zs.forward_throughput(tiny_net(), 5, 0, sizes=sizes, lanes=2)
    assert rate > 0 and torch.get_num_threads() == before
    main = threading.get_ident()
    lanes = {}
    for thread, rows in calls:
        if thread != main:
            lanes.setdefault(thread, []).append(rows)
    # two threads, each warmed up (a pass of sizes[0] rows) before replaying its own share
    assert sorted(lanes.values()) == sorted([[5, *sizes[0::2]], [5, *sizes[1::2]]])


def test_forward_replay_in_lanes_fails_rather_than_hangs_when_a_lane_fails(monkeypatch):
    inner_forward, inner_sibling = zs.BatchedNet.forward, zs.BatchedNet.sibling

    def sibling(self, seed):
        twin = inner_sibling(self, seed)
        twin.fails = seed == 1  # the second lane's network
        return twin

    def forward(self, planes):
        if getattr(self, "fails", False):
            raise RuntimeError("out of memory")
        return inner_forward(self, planes)

    monkeypatch.setattr(zs.BatchedNet, "sibling", sibling)
    monkeypatch.setattr(zs.BatchedNet, "forward", forward)
    outcome = []

    def replay():
        try:
            zs.forward_throughput(tiny_net(), 5, 0, sizes=[4, 3, 2, 5], lanes=2)
        except Exception as e:  # the lane's error
            outcome.append(e)

    t = threading.Thread(target=replay, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the first lane is still waiting for the second at the start"
    assert len(outcome) == 1 and "out of memory" in str(outcome[0])


def test_a_failing_lane_stops_the_others_and_leaves_only_complete_games(tmp_path):
    class FailsInLaneOne(BlackLosesNet):
        """Lane 1 fails at its first pass after the 40th; lane 0, in its next pass if it
        makes one, waits until lane 1 has ended (whatever the scheduler does meanwhile) and
        notes how many passes there were then."""
        failed = None  # passes when lane 1 failed
        at_end_of_lane_one = None

        def forward(self, x):
            lane = threading.current_thread().name
            if lane == "lane-1" and len(self.sizes) >= 40:
                self.failed = len(self.sizes)
                raise RuntimeError("device lost")
            if lane == "lane-0" and self.failed is not None and self.at_end_of_lane_one is None:
                other = [t for t in threading.enumerate() if t.name == "lane-1"]
                for t in other:
                    t.join(30)
                self.at_end_of_lane_one = len(self.sizes) + 1  # this pass included
            return super().forward(x)

    net = FailsInLaneOne()
    c = cfg(parallel_games=4, visits=16, max_moves=20)
    with pytest.raises(RuntimeError, match="device lost"):
        run_selfplay(net, c, tmp_path, 60, lanes=2)
    assert torch.get_num_threads() == 1
    # lane 0 finished the round it was in and stopped (no further pass once lane 1 had
    # ended, if it made one at all after the failure): far from its 30 games of 20 moves
    assert net.failed is not None
    if net.at_end_of_lane_one is None:
        assert len(net.sizes) <= net.failed + 1  # (a pass of lane 0 running as lane 1 failed)
    else:
        assert len(net.sizes) == net.at_end_of_lane_one
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    done = games(tmp_path)
    assert len(done) < 30
    for d, sgf in done:
        assert len(d["z"]) == len(sgf.moves)


def test_ctrl_c_stops_the_lanes_and_the_command_exits_cleanly(tmp_path):
    """SIGINT once games are being written: exit status 130, a message, only complete games.
    Run three times: an interrupted wait once let the process exit under a running lane,
    which aborted it (status -6) in about half the runs."""
    from nets.checkpoint import save_checkpoint
    ckpt = tmp_path / "tiny.pt"
    net_cfg = NetConfig.from_name("b1c8", board_size=N)
    save_checkpoint(str(ckpt), tiny_net(), net_cfg, 0)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for run in range(3):
        out = tmp_path / f"games{run}"
        p = subprocess.Popen(
            [sys.executable, "-m", "selfplay.zero_selfplay", "--checkpoint", str(ckpt),
             "--games", "100000", "--out", str(out), "--size", str(N), "--visits", "8",
             "--parallel", "4", "--lanes", "2", "--no-progress"],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None and \
                len(list(out.glob("*.npz"))) < 2 + run:
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 130, err.decode()[-2000:]
        assert b"interrupted" in err
        assert not list(out.glob("*.tmp"))
        for d, sgf in games(out):
            assert len(d["z"]) == len(sgf.moves)
