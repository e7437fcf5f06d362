"""The AlphaGo Lee player: network half of the leaf evaluation, the combined evaluator, the
policy-only player and the GTP / match wiring."""
import io
import threading

import numpy as np
import pytest
import torch

from engine.board import BLACK, PASS, WHITE, is_eye
from engine.coords import parse_vertex
from engine.diagram import state_from_diagram
from engine.game import GameState
from engine import mcts
from engine.mcts import (F_NET_PRIOR, F_TERMINAL, F_VALUE_ASKED, T_COUNT, T_FIRST, T_FLAGS,
                         T_META, T_MOVE, T_N, T_NCHILD, T_NR, T_NV, T_PARENT, T_PRIOR, T_WV,
                         check_tree)
from engine.player import Budget
from engine.search import Search, SearchConfig, UniformEvaluator, make_player
from nets import lee
from nets.features import apply_symmetry_planes, sym_action
from nets.lee_evaluator import AsyncLeeEvaluator, LeeEvaluator, LeeNetEvaluator, PolicyPlayer
from nets.lee_features import state_planes


def tiny(kind, n, seed):
    torch.manual_seed(seed)
    cls = lee.PolicyConfig if kind == "policy" else lee.ValueConfig
    net = lee.build(cls.from_name("l3k8", board_size=n))
    if kind == "policy":  # the output layer starts at zero: give it weights so priors vary
        torch.nn.init.normal_(net.head.weight, std=0.5)
    return net.eval()


class FixedSym:
    """Stands in for the evaluator's random generator: always symmetry ``k``."""

    def __init__(self, k):
        self.k = k

    def integers(self, lo, hi, size):
        return np.full(size, self.k)


class CountingValue(torch.nn.Module):
    """Value net double: constant v, counts the positions it saw."""

    def __init__(self, n, v):
        super().__init__()
        self.config = lee.ValueConfig.from_name("l3k8", board_size=n)
        self.v = v
        self.seen = 0

    def forward(self, x):
        self.seen += x.shape[0]
        return torch.full((x.shape[0],), self.v)


POSITION = """
. . . . .
. X O . .
. X O . .
. . . . .
. . . . .
"""


@pytest.mark.parametrize("k", [0, 3, 5, 6])
def test_priors_map_back_through_the_symmetry_the_planes_were_built_under(k):
    n = 5
    state = state_from_diagram(POSITION, to_move=BLACK)
    policy = tiny("policy", n, seed=1)
    ev = LeeNetEvaluator(policy, None, n, beta=1.0, pass_prior=0.0)
    ev.rng = FixedSym(k)
    s = Search(SearchConfig(threads=1, expand_threshold=1, batch_size=1, lam=0.0,
                            early_stop=False), UniformEvaluator(value=0.5))
    s.evaluator = LeeEvaluator(ev, UniformRollouts())
    s.prepare(state, state.to_move)
    s.run(visits=1)
    # the root's children carry the priors: compare with the network seen under symmetry k
    planes = state_planes(state)
    sym = np.zeros_like(planes)
    apply_symmetry_planes(planes, k, sym)
    with torch.no_grad():
        probs = torch.softmax(policy(torch.from_numpy(sym[None]))[0], 0).numpy()
    f, m = int(s.tree[T_FIRST][0]), int(s.tree[T_NCHILD][0])
    total = 0.0
    legal = {}
    for j in range(f, f + m):
        mv = int(s.tree[T_MOVE][j])
        if mv == PASS:
            continue
        r, c = divmod(mv, n + 2)
        a = (r - 1) * n + (c - 1)
        legal[a] = float(s.tree[T_PRIOR][j])
        total += probs[sym_action(k, n, a)]
    for a, prior in legal.items():
        assert prior == pytest.approx(probs[sym_action(k, n, a)] / total, rel=1e-4)


class UniformRollouts(UniformEvaluator):
    """Fixed rollout result 0.25 for the side to move, uniform tree-policy priors."""

    def __init__(self):
        super().__init__(value=None, rollout=0.25)


def test_leaf_values_come_from_the_value_net_once_per_node_and_mix_with_rollouts():
    n = 5
    state = GameState(n, komi=0.5)
    value = CountingValue(n, v=0.5)  # win probability 0.75 for the side to move at the leaf
    ev = LeeNetEvaluator(tiny("policy", n, seed=2), value, n)
    cfg = SearchConfig(threads=1, expand_threshold=40, batch_size=4, lam=0.5, early_stop=False)
    s = Search(cfg, LeeEvaluator(ev, UniformRollouts()))
    s.prepare(state, state.to_move)
    s.run(visits=300)
    tree = s.tree
    assert tree[T_N][0] == 300 and tree[T_NV][0] == 300 and tree[T_NR][0] == 300
    # every visit of a leaf before its expansion (40, the paper's threshold) re-used the
    # cached value: the value net saw each node once
    assert value.seen == ev.evaluated < 300 / 4
    # children of the root: Q from the mover's view mixes 1 - 0.75 and 1 - 0.25 half and half
    f, m = int(tree[T_FIRST][0]), int(tree[T_NCHILD][0])
    leaves = [j for j in range(f, f + m) if tree[T_N][j] > 0 and tree[T_FIRST][j] < 0]
    assert leaves
    for j in leaves:
        assert s.q(j) == pytest.approx(0.5 * 0.25 + 0.5 * 0.75)


def test_policy_player_plays_the_networks_best_sensible_move_and_passes_without_one():
    n = 5
    policy = tiny("policy", n, seed=3)
    with torch.no_grad():
        policy.point_bias.zero_()
        policy.head.weight.zero_()
        a = 2 * n + 2  # C3
        policy.point_bias[a] = 10.0
    player = PolicyPlayer(policy, n)
    state = GameState(n, komi=0.5)
    assert player.genmove(state, state.to_move, Budget()) == parse_vertex("C3", n)
    # C3 taken: the next best is any other sensible point, never an own eye
    eyes = state_from_diagram("""
    . X . X .
    X X X X X
    X X X X X
    X X X X X
    X X X X X
    """, to_move=BLACK)
    assert player.genmove(eyes, BLACK, Budget()) == PASS
    state.play(BLACK, parse_vertex("C3", n))
    mv = player.genmove(state, WHITE, Budget())
    assert mv != parse_vertex("C3", n) and state.is_legal(WHITE, mv)
    assert not is_eye(state.board, mv, WHITE)
    with pytest.raises(ValueError, match="5x5 only"):
        player.genmove(GameState(7), BLACK, Budget())


def test_lee_policy_only_player_over_gtp(tmp_path):
    from gtp.__main__ import main
    n = 5
    path = tmp_path / "policy.pt"
    lee.save_policy(str(path), tiny("policy", n, seed=4), lee.PolicyConfig.from_name(
        "l3k8", board_size=n), step=0)
    out = io.StringIO()
    main(["--player", "lee", "--policy-only", "--weights", str(path), "--size", "5"],
         stdin=io.StringIO("boardsize 5\nclear_board\ngenmove b\nplay w C3\ngenmove b\nquit\n"),
         stdout=out)
    answers = [a for a in out.getvalue().split("\n\n") if a.strip()]
    assert all(a.startswith("=") for a in answers), answers
    first, second = answers[2][2:].strip(), answers[4][2:].strip()
    assert first != second and second != "C3"


def test_make_player_lee_refuses_unknown_options_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="unknown options"):
        make_player("lee", weights=str(tmp_path / "x.pt"), bogus=1)
    with pytest.raises(Exception, match="x.pt"):
        make_player("lee", weights=str(tmp_path / "x.pt"), policy_only=True)


@pytest.fixture(scope="module")
def lee_files(tmp_path_factory):
    """Tiny 7x7 policy and value networks and tiny rollout / tree models, saved as files."""
    from engine.rollout_policy import save_rollout_model
    from nets.rollout_train import tiny_model
    d = tmp_path_factory.mktemp("lee")
    n = 7
    files = {"weights": str(d / "policy.pt"), "value_weights": str(d / "value.pt"),
             "rollout_model": str(d / "rollout.npz"), "tree_model": str(d / "tree.npz")}
    lee.save_policy(files["weights"], tiny("policy", n, 5),
                    lee.PolicyConfig.from_name("l3k8", board_size=n), step=0)
    lee.save_network(files["value_weights"], tiny("value", n, 6),
                     lee.ValueConfig.from_name("l3k8", board_size=n), step=0)
    save_rollout_model(tiny_model(), files["rollout_model"])
    save_rollout_model(tiny_model(tree=True), files["tree_model"])
    return files


@pytest.mark.parametrize("variant, uses_value, uses_rollout", [
    (dict(lam=0.5), True, True),
    (dict(lam=0.5, sync=True), True, True),
    (dict(lam=0.0), True, False),
    (dict(lam=1.0), False, True),
    (dict(lam=1.0, no_policy=True), False, True),
])
def test_lee_variants_search_with_the_evaluations_they_name(lee_files, variant, uses_value,
                                                            uses_rollout):
    # settle: the asynchronous search ends with its network answers in, whatever the timing
    player = make_player("lee", threads=2, visits=120, seed=1, settle=True, **lee_files,
                         **variant)
    ev = player.search.evaluator
    if not variant.get("no_policy"):  # (no_policy: no network, the rollout evaluator alone)
        asynchronous = uses_rollout and not variant.get("sync")
        assert isinstance(ev, AsyncLeeEvaluator if asynchronous else LeeEvaluator)
    state = GameState(7, komi=0.5)
    mv = player.genmove(state, BLACK, None)
    assert mv == PASS or state.is_legal(BLACK, mv)
    tree = player.search.tree
    assert tree[T_N][0] >= 120
    assert (tree[T_NV][0] > 0) == uses_value and (tree[T_NR][0] > 0) == uses_rollout
    f, m = int(tree[T_FIRST][0]), int(tree[T_NCHILD][0])
    priors = tree[T_PRIOR][f:f + m]
    assert priors.sum() == pytest.approx(1.0, abs=1e-3) and priors.max() > 1.5 / m  # not uniform


# ---------------------------------------------------------------------------------------------
# The asynchronous search (APV-MCTS)

class GatedValue(CountingValue):
    """Value net double whose answers on the worker thread wait for ``gate``."""

    def __init__(self, n, v):
        super().__init__(n, v)
        self.gate = threading.Event()

    def forward(self, x):
        if threading.current_thread().name == "lee-networks":
            assert self.gate.wait(30)
        return super().forward(x)


def async_search(n, value, settle, expand_threshold=1):
    from engine.rollout_policy import PolicyRolloutEvaluator
    from nets.rollout_train import tiny_model
    nets = LeeNetEvaluator(tiny("policy", n, seed=3), value, n, random_symmetry=False)
    rollouts = PolicyRolloutEvaluator(tiny_model(), threads=1, seed=4, priors=True)
    ev = AsyncLeeEvaluator(nets, rollouts, settle=settle)
    cfg = SearchConfig(threads=1, expand_threshold=expand_threshold, batch_size=8, lam=0.5,
                       early_stop=False)
    return Search(cfg, ev), ev, nets


def test_async_search_backs_up_one_value_per_visited_leaf_and_sets_network_priors():
    n = 5
    state = GameState(n, komi=0.5)
    value = CountingValue(n, v=0.5)  # win probability 0.75 for the side to move at the leaf
    s, ev, nets = async_search(n, value, settle=True)
    s.prepare(state, state.to_move)
    s.run(visits=200)
    tree = s.tree
    assert check_tree(tree) == 0
    used = int(tree[T_META][T_COUNT])
    flags, first, nchild = tree[T_FLAGS], tree[T_FIRST], tree[T_NCHILD]
    assert tree[T_NR][0] == tree[T_N][0] == 200
    assert ev.applied_values == value.seen > 0 and ev.dropped == 0
    for x in range(used):
        if tree[T_N][x] == 0 or flags[x] & F_TERMINAL:
            continue
        kids = range(first[x], first[x] + nchild[x]) if first[x] >= 0 else range(0)
        # every visited position reached the value network once, and its value was backed
        # up through the node: Nv = 1 + the children's
        assert tree[T_NV][x] == 1 + sum(int(tree[T_NV][j]) for j in kids)
        if not kids:  # a leaf holds its own value, from its mover's view: 1 - 0.75
            assert tree[T_WV][x] == pytest.approx(0.25)
    # the expanded nodes carry the policy network's priors, the root's from the start
    grown = [x for x in range(used) if first[x] >= 0]
    assert grown and all(flags[x] & F_NET_PRIOR for x in grown)
    priors, _ = nets.answer_nodes(tree[T_PARENT], tree[T_MOVE], state.board,
                                  nets._root_age, grown, [])
    for x, row in zip(grown, priors):
        kids = range(first[x], first[x] + nchild[x])
        acts = [n * n if tree[T_MOVE][j] == PASS else
                (tree[T_MOVE][j] // (n + 2) - 1) * n + tree[T_MOVE][j] % (n + 2) - 1 for j in kids]
        want = row[acts] / row[acts].sum()
        np.testing.assert_allclose(tree[T_PRIOR][kids.start:kids.stop], want, rtol=1e-4)


def test_async_search_asks_for_priors_of_kept_nodes_only():
    """After a move the kept subtree's nodes still on tree-policy priors are queued for the
    policy network, and none of the nodes the move cut off (they stay in the arrays)."""
    from collections import deque
    n = 5
    state = GameState(n, komi=0.5)
    value = GatedValue(n, v=0.5)  # the worker waits: the expanded nodes keep cheap priors
    s, ev, _ = async_search(n, value, settle=False)
    s.prepare(state, state.to_move)
    s.run(visits=150)
    j = s.ranked()[0]
    state.play(state.to_move, int(s.tree[T_MOVE][j]))
    queued = []

    class Recording(deque):
        def append(self, nodes):
            queued.append(np.array(nodes))
            super().append(nodes)

    ev._policy_q = Recording()
    s.prepare(state, state.to_move)  # the tree is kept: j becomes the root
    tree = s.tree
    assert tree[T_META][mcts.T_STALE] == 1  # the cut-off nodes are still in the arrays
    live = np.zeros(int(tree[T_META][T_COUNT]), dtype=bool)
    kept = mcts.live_nodes(tree, live)
    assert kept < len(live)
    cut = np.flatnonzero(~live & (tree[T_FIRST][:len(live)] >= 0)
                         & ((tree[T_FLAGS][:len(live)] & F_NET_PRIOR) == 0))
    assert len(cut) > 0  # expanded nodes on cheap priors that the move cut off ...
    asked = np.concatenate(queued) if queued else np.zeros(0, dtype=np.int64)
    assert len(asked) > 0 and live[asked].all()  # ... are not asked for, the kept ones are
    value.gate.set()
    ev.close()


def test_async_search_does_not_wait_for_the_networks_and_drops_late_answers():
    n = 5
    state = GameState(n, komi=0.5)
    value = GatedValue(n, v=0.5)
    s, ev, _ = async_search(n, value, settle=False, expand_threshold=4)
    s.prepare(state, state.to_move)
    s.run(visits=120)  # the worker is stuck on its first value batch all along
    tree = s.tree
    assert tree[T_N][0] == tree[T_NR][0] == 120 and tree[T_NV][0] == 0
    assert tree[T_FLAGS][0] & F_NET_PRIOR  # the root's priors never wait on the worker
    # the search is over: its unanswered leaves may be asked again by the next one
    used = int(tree[T_META][T_COUNT])
    assert not (tree[T_FLAGS][:used] & F_VALUE_ASKED).any()
    value.gate.set()
    ev.settle = True
    s.prepare(state, state.to_move)  # the same root: the tree is kept
    s.run(visits=40)
    tree = s.tree
    assert ev.dropped > 0  # the first search's answers came too late and were not used
    assert check_tree(tree) == 0 and tree[T_NV][0] > 0 and ev.applied_values > 0
    ev.close()
