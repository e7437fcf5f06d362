"""The PUCT tree search (engine.mcts kernels, engine.search driver and MCTSPlayer).

Bookkeeping is checked with ``UniformEvaluator``, whose answers are fixed, so visit counts and
Q values are exact; play is checked with real rollouts on 5x5 and 7x7 positions written as
diagrams. Every search is seeded.
"""
import threading
import time

import numpy as np
import pytest

from engine import mcts
from engine import search as search_mod
from engine.board import BLACK, PASS, RESIGN, WHITE
from engine.coords import format_vertex, parse_vertex
from engine.diagram import state_from_diagram
from engine.game import GameState
from engine.mcts import F_DISABLED, F_TERMINAL, T_FIRST, T_FLAGS, T_MOVE, T_N, T_NCHILD, T_PRIOR
from engine.player import Budget, RandomPlayer
from engine.playout import MODE_LIGHT
from engine.search import (MCTSPlayer, RolloutEvaluator, Search, SearchConfig, UniformEvaluator,
                           make_player)

# A capturing race: black's A5-A3 and white's B5-B3 both have one liberty (A2 and B2).
# Black to move saves its group only by capturing at B2; white to move captures at A2.
RACE = """
X O X . .
X O X . .
X O X . .
. . . . .
. . . . .
"""


def v(text, n):
    return parse_vertex(text, n)


def children(s, node=0):
    f = int(s.tree[T_FIRST][node])
    return range(f, f + int(s.tree[T_NCHILD][node])) if f >= 0 else range(0)


def child_by_move(s, p, node=0):
    hits = [j for j in children(s, node) if s.tree[T_MOVE][j] == p]
    assert hits, f"no child {p}"
    return hits[0]


def fake_search(value=0.5, rollout=None, **cfg):
    base = dict(threads=1, seed=3, early_stop=False, expand_threshold=1, batch_size=8)
    base.update(cfg)
    return Search(SearchConfig(**base), UniformEvaluator(value=value, rollout=rollout))


def rollout_player(**cfg):
    base = dict(threads=1, seed=5, playout_mode=MODE_LIGHT, resign_threshold=0.0)
    base.update(cfg)
    c = SearchConfig(**base)
    return MCTSPlayer(c, RolloutEvaluator(c.playout_mode, c.threads, c.seed))


def test_node_fits_in_64_bytes():
    assert mcts.bytes_per_node() <= 64


@pytest.mark.parametrize("threshold", [1, 3])
def test_visit_counts_are_exact(threshold):
    s = fake_search(expand_threshold=threshold)
    s.prepare(GameState(5), BLACK)
    assert s.run(visits=300) == 300
    n = s.tree[T_N]
    assert n[0] == 300
    # the root's first visit evaluates the root itself; every later one goes to a child
    assert sum(int(n[j]) for j in children(s)) == 299
    if threshold == 1:
        for i in range(int(s.tree[mcts.T_META][mcts.T_COUNT])):
            kids = children(s, i)
            if len(kids):
                assert n[i] == 1 + sum(int(n[j]) for j in kids)
    assert mcts.check_tree(s.tree) == 0
    assert s.stats()["virtual_loss"] == 0


def test_batches_leave_no_virtual_loss():
    s = fake_search(batch_size=16)
    s.prepare(GameState(7), BLACK)
    s.run(visits=500)
    assert s.stats()["virtual_loss"] == 0
    assert s.tree[T_N][0] == 500
    # on 2x2 a batch of 16 runs out of fresh leaves: this evaluator is deterministic, so leaves
    # already in flight are given up (collisions), never evaluated twice
    s = fake_search(batch_size=16)
    s.prepare(GameState(2), BLACK)
    assert s.run(visits=200) == 200
    assert s.tree[mcts.T_META][mcts.T_COLLISIONS] > 0
    assert s.stats()["virtual_loss"] == 0 and s.tree[T_N][0] == 200
    # rollouts may take the same leaf twice in one batch: also clean, also exact
    c = SearchConfig(threads=2, seed=1, batch_size=16, early_stop=False, playout_mode=MODE_LIGHT)
    r = Search(c, RolloutEvaluator(MODE_LIGHT, threads=2, seed=1))
    r.prepare(GameState(7), BLACK)
    assert r.run(visits=400) == 400
    assert r.tree[T_N][0] == 400
    assert mcts.check_tree(r.tree) == 0
    r.evaluator.close()


def test_search_is_reproducible():
    def top():
        p = rollout_player(threads=2, batch_size=8)
        st = GameState(7, komi=7.0)
        p.genmove(st, BLACK, Budget(visits=300))
        return [(i.move, i.visits) for i in p.search.infos()]
    assert top() == top()


@pytest.mark.parametrize("lam, q", [(0.5, 0.5), (0.25, 0.35), (0.0, 0.2), (1.0, 0.8)])
def test_lambda_mixes_value_and_rollout_in_the_movers_view(lam, q):
    # every leaf: value net says 0.8 and the rollout says 0.2 for the side to move there
    s = fake_search(value=0.8, rollout=0.2, lam=lam)
    s.prepare(GameState(5), BLACK)
    s.run(visits=1)
    # the root's own evaluation is for black, the player to move at the root
    assert s.root_value() == pytest.approx((1 - lam) * 0.8 + lam * 0.2)
    s.run(visits=10)
    once = [j for j in children(s) if s.tree[T_N][j] == 1]
    assert once
    for j in once:
        # a child's leaf has white to move: white's 0.8 / 0.2 are black's 0.2 / 0.8
        assert s.q(j) == pytest.approx(q, abs=1e-6)


def test_late_network_answers_join_the_tree_in_the_movers_view():
    # a tree grown by rollouts only (0.2 for the side to move at every leaf), then value and
    # prior answers applied as the asynchronous Lee search applies them when they arrive
    s = fake_search(value=None, rollout=0.2, lam=0.5, expand_threshold=100)
    s.prepare(GameState(5), BLACK)
    s.run(visits=30)
    tree = s.tree
    kids = list(children(s))  # all leaves: none reached the expansion threshold
    leaf = [j for j in kids if tree[T_N][j] > 0][0]
    rows = np.array([leaf, leaf, 0], dtype=np.int32)  # a duplicate and a terminal row
    terminal = np.array([0, 0, 1], dtype=np.uint8)
    asked = np.zeros(4, dtype=np.int32)
    assert mcts.ask_values(tree, rows, terminal, 3, asked) == 1 and asked[0] == leaf
    assert mcts.ask_values(tree, rows, terminal, 3, asked) == 0  # asked once only
    # 0.9 for white, to move at the leaf: the leaf keeps its mover's (black's) 0.1, the root
    # its mover's, white's, 0.9; visits do not change
    visits = int(tree[T_N][0])
    mcts.backup_values(tree, np.array([leaf]), np.array([0.9], dtype=np.float32), 1)
    assert tree[mcts.T_NV][leaf] == 1 and tree[mcts.T_WV][leaf] == pytest.approx(0.1)
    assert tree[mcts.T_NV][0] == 1 and tree[mcts.T_WV][0] == pytest.approx(0.9)
    assert tree[T_N][0] == visits
    assert s.q(leaf) == pytest.approx(0.5 * 0.1 + 0.5 * 0.8)  # rollouts: black's 1 - 0.2
    # priors by action: weight 3 on C3, 1 on pass, 4 on a child the superko rule disabled
    n = 5
    off = next(j for j in kids if tree[T_MOVE][j] not in (v("C3", 5), PASS))
    tree[T_FLAGS][off] |= F_DISABLED
    pri = np.zeros((1, n * n + 1), dtype=np.float32)
    pri[0, 2 * n + 2] = 3.0
    pri[0, n * n] = 1.0
    p = int(tree[T_MOVE][off])
    pri[0, (p // (n + 2) - 1) * n + p % (n + 2) - 1] = 4.0
    mcts.set_child_priors(tree, np.array([0]), pri, 1, n)
    got = {int(tree[T_MOVE][j]): float(tree[T_PRIOR][j]) for j in kids}
    assert got[v("C3", 5)] == pytest.approx(0.75) and got[PASS] == pytest.approx(0.25)
    assert got[p] == 0.0 and sum(got.values()) == pytest.approx(1.0)
    assert tree[T_FLAGS][0] & mcts.F_NET_PRIOR
    assert mcts.check_tree(tree) == 0


def superko_state():
    """White to move; retaking the ko at B3 is fine for simple ko but repeats a position."""
    st = state_from_diagram("""
        . . . . .
        . X O . .
        X O . O .
        . X O . .
        . . . . .
    """, to_move=BLACK)
    st.play(BLACK, v("C3", 5))  # takes the ko, capturing B3
    st.play(WHITE, PASS)
    st.play(BLACK, PASS)
    return st


@pytest.mark.parametrize("alpha", [0.03, 0.134, 0.3, 1.0])
def test_root_noise_is_dirichlet_distributed_and_seeded(alpha):
    """Root noise vectors of changing lengths, drawn from blocks of variates (or numpy's
    dirichlet below alpha 0.1), have the Dirichlet's moments: each share averages 1/k with
    variance (1/k)(1 - 1/k)/(k alpha + 1); the same seed gives the same vectors."""
    def vectors(seed, lengths):
        d = search_mod.DirichletNoise(np.random.default_rng(seed), alpha)
        out = []
        for k in lengths:
            values, start = d.draw(k)
            x = values[start:start + k] / values[start:start + k].sum()
            out.append(x)
        return out

    lengths = [5, 30, 82, 5] * 1500  # blocks run out in the middle of a vector too
    got = vectors(7, lengths)
    assert all(np.array_equal(a, b) for a, b in zip(got, vectors(7, lengths)))
    assert not np.array_equal(got[0], vectors(8, lengths[:1])[0])
    if alpha >= 0.1:  # from blocks of variates: none is used twice (below 0.1 many
        # vectors are one 1.0 and zeros, the same vector again by right)
        assert len({g.tobytes() for g in got}) == len(got)
    for k in (5, 30, 82):
        x = np.array([g for g, kk in zip(got, lengths) if kk == k])  # [draws, k]
        assert np.allclose(x.sum(axis=1), 1.0)
        mean, var = 1 / k, (1 / k) * (1 - 1 / k) / (k * alpha + 1)
        first = x[:, 0]  # one share across the draws
        assert abs(first.mean() - mean) < 5 * np.sqrt(var / len(first))
        assert x.var() == pytest.approx(var, rel=0.15)  # the shares are exchangeable: pooled


def test_root_noise_mixes_into_the_enabled_children_only():
    prior = np.array([0.5, 0.2, 0.0, 0.3], dtype=np.float32)
    ok = np.array([0, 1, 3, -5], dtype=np.int64)  # child 2 disabled; ok[3] past k is unused
    values = np.array([9.0, 1.0, 1.0, 2.0, 9.0])
    mcts.mix_root_noise(prior, ok, 3, values, 1, 0.25)
    assert np.allclose(prior, [0.75 * 0.5 + 0.25 * 0.25, 0.75 * 0.2 + 0.25 * 0.25, 0.0,
                               0.75 * 0.3 + 0.25 * 0.5])
    assert prior.sum() == pytest.approx(1.0)


def test_root_children_follow_superko_and_noise_only_on_legal_moves():
    st = superko_state()
    retake = v("B3", 5)
    assert retake not in st.legal_points(WHITE)
    s = fake_search(dirichlet_epsilon=1.0, dirichlet_alpha=0.3)
    s.prepare(st, WHITE)
    s.run(visits=1)  # expands the root
    j = child_by_move(s, retake)  # simple ko allows it, so the tree made the child ...
    assert s.tree[T_FLAGS][j] & F_DISABLED  # ... and the root disabled it
    s.setup_root()  # the noise run() applies at the start of a search
    prior = s.tree[T_PRIOR]
    legal = [k for k in children(s) if k != j]
    assert prior[j] == 0.0
    assert sum(prior[k] for k in legal) == pytest.approx(1.0, abs=1e-5)
    assert np.std([prior[k] for k in legal]) > 0.01  # noise, not the uniform prior
    assert {int(s.tree[T_MOVE][k]) for k in legal} == set(st.legal_points(WHITE)) | {PASS}
    s.run(visits=200)
    assert s.tree[T_N][j] == 0
    # after the search the reported priors are the clean ones again
    assert {round(i.prior, 4) for i in s.infos()} == {round(1 / len(legal), 4)}


# Black owns 15 points, white 10 (all alive by Tromp-Taylor).
AREA = """
. X . X O
X X X X O
. X X O O
X X O O .
. X O . O
"""


@pytest.mark.parametrize("komi, black_wins", [(4.5, True), (5.5, False)])
def test_two_passes_are_scored_exactly(komi, black_wins):
    st = state_from_diagram(AREA, to_move=WHITE, komi=komi)
    assert st.score() == pytest.approx(5 - komi)
    st.play(WHITE, PASS)
    s = fake_search(value=0.5)
    s.prepare(st, BLACK)
    s.run(visits=100)
    j = child_by_move(s, PASS)
    assert s.tree[T_FLAGS][j] & F_TERMINAL
    assert s.tree[T_N][j] > 0
    # the evaluator says 0.5 everywhere; the terminal node knows better
    assert s.q(j) == (1.0 if black_wins else 0.0)
    # played (a GUI may go on after two passes), the kept node is a root, never terminal
    st.play(BLACK, PASS)
    assert s.prepare(st, WHITE) == int(s.tree[T_N][j]) > 0
    assert not s.tree[T_FLAGS][0] & F_TERMINAL
    s.run(visits=20)
    assert s.tree[T_FIRST][0] >= 0 and mcts.check_tree(s.tree) == 0


# As AREA but C5 is dame: black 13, white 11, and C5 is worth a point to black.
DAME = """
. X . O O
X X X X O
. X X O O
X X O O .
. X O . O
"""


@pytest.mark.parametrize("komi", [1.5, 2.5])
def test_answers_a_pass_with_a_pass_only_when_that_wins(komi):
    st = state_from_diagram(DAME, to_move=WHITE, komi=komi)
    st.play(WHITE, PASS)
    move = rollout_player().genmove(st, BLACK, Budget(visits=300))
    assert format_vertex(move, 5) == ("pass" if komi == 1.5 else "C5")


class PassLover(UniformEvaluator):
    """Puts the whole prior on pass, so a search visits pass most."""

    def evaluate(self, batch):
        super().evaluate(batch)
        n = batch.n
        for i in range(batch.count):
            if batch.expand[i]:
                batch.priors[i, :] = 0.0
                batch.priors[i, n * n] = 1.0


@pytest.mark.parametrize("komi", [1.5, 2.5])
def test_never_passes_into_a_tromp_taylor_loss(komi):
    st = state_from_diagram(DAME, to_move=BLACK, komi=komi)
    p = MCTSPlayer(SearchConfig(threads=1, expand_threshold=1, resign_threshold=0.0),
                   PassLover(value=0.5))
    move = p.genmove(st, BLACK, Budget(visits=50))
    passing = child_by_move(p.search, PASS)
    if komi == 1.5:  # black wins by passing: the network's favourite is fine
        assert p.search.ranked()[0] == passing and format_vertex(move, 5) == "pass"
    else:  # passing hands white a Tromp-Taylor win: not even searched; fill the dame instead
        assert passing not in p.search.ranked() and p.search.tree[T_N][passing] == 0
        assert format_vertex(move, 5) == "C5"


def test_a_move_out_of_time_before_any_visit_still_plays_on_the_board():
    # a slow first move (networks loading, kernels compiling) can use up the whole clock
    st = GameState(9, komi=7.0)
    move = rollout_player().genmove(st, BLACK, Budget(seconds=0.0))
    assert move not in (PASS, RESIGN)
    assert st.is_legal(BLACK, move)


def test_tree_reuse_keeps_the_played_line():
    st = GameState(7, komi=7.0)
    s = fake_search(value=0.5)
    s.prepare(st, BLACK)
    s.run(visits=400)
    b1 = s.ranked()[0]
    w1 = max(children(s, b1), key=lambda j: s.tree[T_N][j])
    kept = int(s.tree[T_N][w1])
    grand = sorted(int(s.tree[T_N][j]) for j in children(s, w1))
    assert kept > 1
    st.play(BLACK, int(s.tree[T_MOVE][b1]))
    st.play(WHITE, int(s.tree[T_MOVE][w1]))
    assert s.prepare(st, BLACK) == kept
    assert sorted(int(s.tree[T_N][j]) for j in children(s)) == grand
    assert mcts.check_tree(s.tree) == 0
    s.run(visits=100)
    assert s.tree[T_N][0] == kept + 100
    # a move the tree does not hold, or the other colour to move, starts afresh
    assert s.prepare(st, WHITE) == 0
    s.run(visits=50)
    other = GameState(7, komi=7.0)
    other.play(BLACK, v("A1", 7))
    assert s.prepare(other, WHITE) == 0


def slow_reroot(tree, node):
    """Reference for ``mcts.reroot``: the subtree of ``node`` as (old id, new parent) per new
    node, in the order of the old ids (``node`` first: its descendants came after it)."""
    inside, used = {node}, int(tree[mcts.T_META][mcts.T_COUNT])
    stack = [node]
    while stack:
        x = stack.pop()
        f, m = int(tree[T_FIRST][x]), int(tree[mcts.T_NCHILD][x])
        kids = list(range(f, f + m)) if f >= 0 else []
        inside.update(kids)
        stack += kids
    order = sorted(inside)
    assert order[0] == node and order[-1] < used
    new_id = {o: i for i, o in enumerate(order)}
    return [(o, new_id[int(tree[mcts.T_PARENT][o])] if o != node else -1) for o in order]


def test_reroot_copies_the_subtree_as_a_slow_reference_does():
    st = GameState(7, komi=7.0)
    s = fake_search(value=0.5)
    s.prepare(st, BLACK)
    s.run(visits=600)
    tree = s.tree
    rng = np.random.default_rng(5)
    used = int(tree[mcts.T_META][mcts.T_COUNT])
    stats = (T_PRIOR, T_FLAGS, T_N, mcts.T_NV, mcts.T_WV, mcts.T_NR, mcts.T_WR, mcts.T_WS,
             mcts.T_VL)
    for k in stats:  # distinct values in every statistic, so a mixed-up copy shows
        tree[k][:used] = rng.integers(0, 100, used).astype(tree[k].dtype)
    for j in [0] + [int(k) for k in s.ranked()[:3]]:
        order = slow_reroot(tree, j)
        got = mcts.reroot(tree, j)
        assert int(got[mcts.T_META][mcts.T_COUNT]) == len(order)
        old = np.array([o for o, _ in order])
        assert np.array_equal(got[mcts.T_PARENT][:len(order)], [p for _, p in order])
        for k in (T_MOVE,) + stats:
            assert np.array_equal(got[k][:len(order)], tree[k][old])
        new_id = {o: i for i, (o, _) in enumerate(order)}
        for i, o in enumerate(old):  # each new node's children: the old node's, renumbered
            f, m = int(tree[T_FIRST][o]), int(tree[mcts.T_NCHILD][o])
            want = (new_id[f], m) if f >= 0 else (-1, 0)
            assert (int(got[T_FIRST][i]), int(got[mcts.T_NCHILD][i])) == want
        assert got[T_N][0] == tree[T_N][j]


def _same_trees(got, want, skip_root_children=False):
    """got and want hold the same nodes, ids and all (the first ``count`` of each array);
    with ``skip_root_children`` the priors and flags of the root's children are not compared
    (prepare's legality filter rewrites them)."""
    used = int(want[mcts.T_META][mcts.T_COUNT])
    assert int(got[mcts.T_META][mcts.T_COUNT]) == used
    f, m = int(want[T_FIRST][0]), int(want[mcts.T_NCHILD][0])
    for k, (a, b) in enumerate(zip(got[:-1], want[:-1])):
        a, b = a[:used], b[:used]
        if skip_root_children and k in (mcts.T_PRIOR, mcts.T_FLAGS):
            a, b = np.delete(a, np.s_[f:f + m]), np.delete(b, np.s_[f:f + m])
        assert np.array_equal(a, b), k


def test_promoting_a_node_keeps_its_subtree_where_it_is_and_cuts_off_the_rest():
    """promote_root moves only the node's record to id 0: compacted afterwards, the tree is
    what reroot gives, for nodes one and two moves down and twice in a row."""
    st = GameState(7, komi=7.0)
    s = fake_search(value=0.5)
    s.prepare(st, BLACK)
    s.run(visits=600)
    tree = s.tree
    used = int(tree[mcts.T_META][mcts.T_COUNT])
    j = s.ranked()[0]
    f, m = int(tree[T_FIRST][j]), int(tree[mcts.T_NCHILD][j])
    grandchild = f + int(np.argmax(tree[T_N][f:f + m]))
    for line in ([j], [grandchild], [j, grandchild]):
        got = mcts.reroot(tree, 0)  # a copy to promote on
        want = mcts.reroot(tree, line[-1])
        for x in line:  # (the subtree stays where it is: the grandchild keeps its id)
            mcts.promote_root(got, x)
        assert int(got[mcts.T_META][mcts.T_COUNT]) == used  # nothing moved but the root
        assert got[mcts.T_META][mcts.T_STALE] == 1
        assert mcts.check_tree(got) == 0
        live = np.zeros(used, dtype=bool)
        assert mcts.live_nodes(got, live) == int(want[mcts.T_META][mcts.T_COUNT])
        kids = range(int(got[T_FIRST][0]), int(got[T_FIRST][0]) + int(got[mcts.T_NCHILD][0]))
        assert all(int(got[mcts.T_PARENT][k]) == 0 and live[k] for k in kids)
        mcts.reroot_in_place(got, 0)  # compacted: the cut-off nodes are gone
        assert got[mcts.T_META][mcts.T_STALE] == 0
        _same_trees(got, want)


def test_moving_the_root_move_after_move_keeps_each_subtree():
    """Each move, prepare makes the played line's node the root of the same tree, leaving
    its subtree where it is: compacted, it is what ``reroot`` gives on a copy. When the cut-off
    nodes fill three quarters of the tree, prepare compacts it before the search, and doubles
    it while the kept nodes fill over a quarter of it."""
    st = GameState(7, komi=7.0)
    s = fake_search(value=0.5, initial_tree_nodes=6000)
    s.prepare(st, BLACK)
    compacted = 0
    for _ in range(6):
        s.run(visits=300)
        j = s.ranked()[0]
        want = mcts.reroot(s.tree, j)
        st.play(st.to_move, int(s.tree[T_MOVE][j]))
        before = s.tree
        full = 4 * int(before[mcts.T_META][mcts.T_COUNT]) > 3 * len(before[T_MOVE])
        assert s.prepare(st, st.to_move) == int(want[T_N][0])
        # no tree is allocated for a move, but when a compaction leaves it over a quarter full
        assert s.tree is before or (full and len(s.tree[T_MOVE]) == 2 * len(before[T_MOVE]))
        assert mcts.check_tree(s.tree) == 0
        stale = int(s.tree[mcts.T_META][mcts.T_STALE])
        assert stale == (0 if full else 1)
        compacted += full
        _same_trees(mcts.reroot(s.tree, 0) if stale else s.tree, want, skip_root_children=True)
    assert compacted >= 1  # the tree filled up at least once ...
    assert len(s.tree[T_MOVE]) > 6000  # ... and grew too, making room for a few moves


def test_prepare_compacts_a_full_tree_and_doubles_it_while_the_kept_part_is_large():
    st = GameState(7, komi=7.0)
    s = fake_search(value=0.5)
    s.prepare(st, BLACK)
    s.run(visits=300)
    used = int(s.tree[mcts.T_META][mcts.T_COUNT])
    s.tree = mcts.grow_tree(s.tree, used + used // 10)  # over three quarters full
    j = s.ranked()[0]
    kept = int(mcts.reroot(s.tree, j)[mcts.T_META][mcts.T_COUNT])
    assert 4 * kept < used  # the played move keeps less than a quarter
    st.play(BLACK, int(s.tree[T_MOVE][j]))
    before = s.tree
    s.prepare(st, WHITE)
    assert s.tree is before and int(s.tree[mcts.T_META][mcts.T_COUNT]) == kept  # compacted
    assert s.tree[mcts.T_META][mcts.T_STALE] == 0
    # nothing cut off but marked so, the same position again: compacting keeps it all, more
    # than a quarter of the tree, so the tree doubles
    s.run(visits=300)
    used = int(s.tree[mcts.T_META][mcts.T_COUNT])
    s.tree = mcts.grow_tree(s.tree, used + used // 10)
    s.tree[mcts.T_META][mcts.T_STALE] = 1
    shape = (T_MOVE, mcts.T_PARENT, T_FIRST, mcts.T_NCHILD, T_N, mcts.T_NV, mcts.T_WV)
    want = [s.tree[k][:used].copy() for k in shape]
    s.prepare(st, WHITE)
    assert len(s.tree[T_MOVE]) == 2 * (used + used // 10)
    assert all(np.array_equal(s.tree[k][:used], w) for k, w in zip(shape, want))
    assert mcts.check_tree(s.tree) == 0


def test_a_search_that_starts_afresh_reuses_the_arrays_and_searches_as_a_new_tree():
    st = GameState(7, komi=7.0)
    s = fake_search(value=0.5)
    s.prepare(st, BLACK)
    s.run(visits=400)
    arrays = s.tree
    other = state_from_diagram("""
        . . . . . . .
        . . . . . . .
        . . X . O . .
        . . . . . . .
        . . . . . . .
        . . . . . . .
        . . . . . . .
    """, to_move=BLACK, komi=7.0)
    assert s.prepare(other, BLACK) == 0  # nothing to reuse ...
    assert s.tree is arrays  # ... in the same arrays
    s.run(visits=150)
    fresh = fake_search(value=0.5)
    fresh.prepare(other, BLACK)
    fresh.run(visits=150)
    _same_trees(s.tree, fresh.tree)
    given = fake_search(value=0.5)  # a tree handed over from another search
    given.give_tree(arrays)
    given.prepare(st, BLACK)
    assert given.tree is arrays and int(given.tree[T_N][0]) == 0


def test_results_tell_what_ranked_root_value_q_and_the_visit_policy_tell():
    st = GameState(7, komi=7.0)
    s = fake_search(value=0.3, rollout=0.6, lam=0.5)
    s.prepare(st, BLACK)
    empty = np.full(50, -1.0, dtype=np.float32)
    assert s.results(empty) == ([], 0.5) and np.all(empty == 0.0)  # nothing searched yet
    s.run(visits=300)
    pi = np.zeros(50, dtype=np.float32)
    ranked, value = s.results(pi)
    assert ranked == s.ranked() and len(ranked) > 1
    assert value == max(s.root_value(), s.q(ranked[0]))
    want = np.zeros(50, dtype=np.float32)
    mcts.root_visit_policy(s.tree, 7, want)
    assert np.array_equal(pi, want) and pi.sum() == pytest.approx(1.0)
    assert s.results() == (ranked, value)


def test_tables_take_only_arrays_of_the_layout_the_kernels_read():
    tree, board = mcts.new_tree(10), GameState(5).board
    table = np.zeros((2, mcts.TREE_COLS), dtype=np.int64)
    mcts.table_tree(table, 1, tree)
    assert table[1, 0] == tree[T_MOVE].ctypes.data and table[1, -1] == 10
    wrong = tree[:T_N] + (tree[T_N].astype(np.int64),) + tree[T_N + 1:]
    for bad in (wrong, tree[:-1], tuple(a[::2] for a in tree)):  # dtype, count, strides
        with pytest.raises(TypeError, match="layout"):
            mcts.table_tree(table, 0, bad)
    boards = np.zeros((2, mcts.BOARD_COLS), dtype=np.int64)
    mcts.table_board(boards, 1, board)
    assert boards[1, 0] == board[0].ctypes.data
    with pytest.raises(TypeError, match="layout"):
        mcts.table_board(boards, 0, tree[:9])
    assert not table[0].any() and not boards[0].any()  # nothing written by a refused row


def test_a_full_tree_refuses_expansions_and_keeps_searching():
    s = fake_search(max_tree_nodes=724, initial_tree_nodes=50)
    s.prepare(GameState(5), BLACK)
    assert s.run(visits=3000) == 3000
    st = s.stats()
    assert st["capacity"] == 724 and st["nodes"] <= 724
    assert st["refused"] > 0
    assert s.tree[T_N][0] == 3000
    assert mcts.check_tree(s.tree) == 0


def test_finds_the_only_move_of_a_capturing_race():
    st = state_from_diagram(RACE, to_move=BLACK, komi=0.5)
    before = (list(st.history), st.board[0].copy(), st.to_move, st.hash)
    p = rollout_player()
    assert format_vertex(p.genmove(st, BLACK, Budget(visits=1500)), 5) == "B2"
    assert p.search.infos()[0].winrate > 0.8
    # white to move wins the race instead (A2 captures; B2 gains liberties and captures next)
    assert format_vertex(p.genmove(st, WHITE, Budget(visits=1500)), 5) in ("A2", "B2")
    # genmove never changes the state it is given
    after = (list(st.history), st.board[0].copy(), st.to_move, st.hash)
    assert after[0::2] == before[0::2] and np.array_equal(after[1], before[1])
    assert after[3] == before[3]


# Black cannot win this on 5x5: white owns the top two rows and has komi 7.5.
HOPELESS = """
. O . O .
O O O O O
. . O . .
X X . . .
. . . . .
"""


def test_genmove_honours_the_colour_not_the_turn():
    p = rollout_player(resign_threshold=0.1, resign_min_visits=500)
    st = state_from_diagram(HOPELESS, to_move=WHITE, komi=7.5)
    assert p.genmove(st, BLACK, Budget(visits=800)) == RESIGN
    assert p.search.root_color == BLACK
    st = state_from_diagram(HOPELESS, to_move=BLACK, komi=7.5)
    move = p.genmove(st, WHITE, Budget(visits=800))
    assert move not in (PASS, RESIGN) and st.is_legal(WHITE, move)
    assert p.search.infos()[0].winrate > 0.9


def test_early_stop_when_the_best_move_is_settled():
    st = state_from_diagram(RACE, to_move=BLACK, komi=0.5)
    p = rollout_player(early_stop=True)
    assert format_vertex(p.genmove(st, BLACK, Budget(visits=3000)), 5) == "B2"
    assert p.search.sims < 3000


class SlowFirstEvaluator(UniformEvaluator):
    """A first evaluation slower than the whole move budget, as a cold start (loading a
    network, compiling kernels) makes it."""

    def evaluate(self, batch):
        if self.calls == 0:
            time.sleep(0.3)
        super().evaluate(batch)


def test_genmove_reports_once_when_the_first_step_outlasts_the_budget():
    st = state_from_diagram(RACE, to_move=BLACK, komi=0.5)
    p = MCTSPlayer(SearchConfig(batch_size=4, seed=1, early_stop=False), SlowFirstEvaluator())
    reports = []
    move = p.genmove(st, BLACK, Budget(seconds=0.1), lambda infos, own: reports.append(infos))
    assert move != PASS and p.search.sims < 20  # the clock ran out during the root's step
    assert len(reports) == 1  # one report, after the search: genmove_analyze shows a line
    assert reports[0] and move in [i.move for i in reports[0]]


def test_analyze_reports_until_stopped():
    st = state_from_diagram(RACE, to_move=BLACK, komi=0.5)
    p = rollout_player()
    stop = threading.Event()
    reports = []

    def on_info(infos, own):
        reports.append((infos, own))
        if len(reports) == 3:
            stop.set()

    p.analyze(st, BLACK, stop, 0.05, on_info, want_ownership=True)
    assert len(reports) == 3
    infos, own = reports[-1]
    assert [i.order for i in infos] == list(range(len(infos)))
    assert [i.visits for i in infos] == sorted((i.visits for i in infos), reverse=True)
    best = infos[0]
    assert format_vertex(best.move, 5) == "B2"
    assert best.pv[0] == best.move and 0 <= best.lcb <= best.winrate <= 1
    assert best.winrate > 0.7 and best.score_lead > 0
    assert own.shape == (25,) and np.all(np.abs(own) <= 1)
    # after B2 the left side is black's: A3 (a black stone) owned by black
    assert own[2 * 5 + 0] > 0.5
    assert reports[0][0][0].visits < best.visits


def test_ownership_of_a_settled_board():
    st = state_from_diagram(AREA, to_move=BLACK, komi=4.5)
    own = rollout_player(ownership_visits=200).ownership(st)
    assert own.shape == (25,) and own.dtype == np.float32
    expected = st.owner()
    assert np.all(np.sign(np.round(own)) == expected)


def test_make_player_builds_from_command_line_options():
    p = make_player("mcts", threads="2", seed="7", playout_mode="light", resign_threshold=None,
                    ko_rule="positional", visits="50", c_puct="1.5", early_stop="false")
    assert isinstance(p, MCTSPlayer)
    c = p.config
    assert (c.threads, c.seed, c.playout_mode, c.c_puct, c.early_stop) == (2, 7, MODE_LIGHT, 1.5, False)
    assert p.default_budget == Budget(visits=50)
    assert isinstance(make_player("random", seed=3, threads=2), RandomPlayer)
    with pytest.raises(ValueError, match="unknown options"):
        make_player("mcts", colour="black")
    with pytest.raises(ValueError, match="playout mode"):
        make_player("mcts", playout_mode="smart")
    with pytest.raises(ValueError, match="c_puct"):
        make_player("mcts", c_puct=-1)
    with pytest.raises(ValueError, match="kind"):
        make_player("alphago")


def _ranked_reference(tree, lam):
    """Root children with visits and not disabled: most visits, then the higher Q, then the
    tree's order (Python, from the statistics arrays)."""
    f, m = int(tree[T_FIRST][0]), int(tree[T_NCHILD][0])
    kids = [j for j in range(f, f + m)
            if tree[T_N][j] > 0 and not tree[T_FLAGS][j] & F_DISABLED]
    return sorted(kids, key=lambda j: (-int(tree[T_N][j]), -float(mcts.node_q(tree, j, lam)), j))


def _policy_reference(tree, n):
    pi = np.zeros(n * n + 1, dtype=np.float32)
    f, m = int(tree[T_FIRST][0]), int(tree[T_NCHILD][0])
    for j in range(f, f + m):
        if not tree[T_FLAGS][j] & F_DISABLED:
            p = int(tree[T_MOVE][j])
            pi[n * n if p == PASS else (p // (n + 2) - 1) * n + p % (n + 2) - 1] = tree[T_N][j]
    total = pi.sum()
    return pi / total if total > 0 else pi


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_ranking_and_visit_policy_of_the_root_match_a_slow_reference(lam):
    rng = np.random.default_rng(5)
    for trial in range(30):
        n = 5 if trial % 2 else 7
        s = Search(SearchConfig(lam=lam, seed=trial, dirichlet_epsilon=0.0, early_stop=False),
                   UniformEvaluator())
        s.prepare(GameState(n), BLACK)
        s.run(visits=40)
        tree = s.tree
        f, m = int(tree[T_FIRST][0]), int(tree[T_NCHILD][0])
        if trial % 3 == 0:  # many ties in visits and values, some children disabled
            tree[mcts.T_N][f:f + m] = rng.integers(0, 3, size=m)
            tree[mcts.T_NV][f:f + m] = tree[mcts.T_N][f:f + m]
            tree[mcts.T_WV][f:f + m] = tree[mcts.T_NV][f:f + m] * rng.choice([0.25, 0.5], size=m)
            tree[T_FLAGS][f:f + m] |= np.where(rng.random(m) < 0.2, F_DISABLED, 0).astype(np.uint8)
        assert s.ranked() == _ranked_reference(tree, lam)
        pi = np.empty(n * n + 1, dtype=np.float32)
        mcts.root_visit_policy(tree, n, pi)
        assert np.array_equal(pi, _policy_reference(tree, n))
    empty = Search(SearchConfig(), UniformEvaluator())
    empty.prepare(GameState(5), BLACK)  # the root is not expanded yet
    assert empty.ranked() == []
    pi = np.ones(26, dtype=np.float32)
    mcts.root_visit_policy(empty.tree, 5, pi)
    assert not pi.any()


def _filter_root_reference(tree, legal):
    """The root filter with numpy: the children whose move ``legal`` (by padded point, last
    entry PASS) allows keep their priors renormalized, the others are disabled at prior 0."""
    f, m = int(tree[T_FIRST][0]), int(tree[mcts.T_NCHILD][0])
    flags, prior = tree[T_FLAGS][f:f + m], tree[T_PRIOR][f:f + m]
    ok = legal[tree[T_MOVE][f:f + m]]  # PASS (-1) reads the last entry
    flags[:] = (flags & ~np.uint8(F_DISABLED)) | np.where(ok, 0, F_DISABLED).astype(np.uint8)
    prior[~ok] = 0.0
    total = prior[ok].sum()
    if total > 0:
        prior[ok] /= total
    return f + np.flatnonzero(ok)


@pytest.mark.parametrize("n", [5, 9, 19])
def test_the_root_filter_gives_the_numbers_numpy_gives(n):
    """``filter_root`` renormalizes in numpy's summation order, so priors (and so self-play
    games) come out to the bit as numpy code computes them, for every child count up to
    19x19's 362."""
    rng = np.random.default_rng(n)
    for trial in range(20):
        tree = mcts.new_tree(2000)
        board = GameState(n).board
        prior = rng.dirichlet([0.3] * (n * n + 1)).astype(np.float32)
        if trial == 0:
            prior[:] = 0.0  # nothing to renormalize: priors stay 0
        # the kernel takes the tree's arrays and batch rows: this board is row 0 of a batch
        rows = [a[None] for a in (board[0], board[2], board[3], board[5], board[8], prior)]
        mcts._expand(*tree, 0, *rows, 0)
        tree[T_PRIOR][:] = rng.random(2000).astype(np.float32) ** 3  # all kinds of sums
        tree[T_FLAGS][:] = rng.integers(0, 4, 2000).astype(np.uint8)
        legal = rng.random(len(board[0]) + 1) < rng.choice([0.0, 0.5, 0.95, 1.0])
        want = [a.copy() for a in tree]
        ok_want = _filter_root_reference(want, legal)
        m = int(tree[mcts.T_NCHILD][0])
        ok, clean = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.float32)
        k = mcts.filter_root(tree, legal, ok, clean)
        assert np.array_equal(ok[:k], ok_want)
        f = int(tree[T_FIRST][0])
        used = int(tree[mcts.T_META][mcts.T_COUNT])
        for a, b in zip(tree, want):
            assert np.array_equal(a[:used], b[:used])
        assert np.array_equal(clean, want[T_PRIOR][f:f + m])


def test_tree_reuse_checks_the_position_not_only_the_moves():
    """The kept tree is found by the moves played since, and used only if the position they
    lead to is the game's: the same (empty) history over other stones starts afresh."""
    s = fake_search(value=0.5)
    s.prepare(GameState(5, komi=7.0), BLACK)
    s.run(visits=50)
    assert s.prepare(GameState(5, komi=7.0), BLACK) == 50  # same position: the tree is kept
    other = state_from_diagram("""
        . . . . .
        . X . . .
        . . . . .
        . . . O .
        . . . . .
    """, to_move=BLACK)
    other.komi = 7.0
    assert other.history == []
    assert s.prepare(other, BLACK) == 0
