"""Rollout and tree policy (engine.rollout_policy, nets.rollout_train): features of hand-made
positions, symmetric patterns sharing one weight, rollouts that play legal moves and end,
incremental weights equal to a recomputation, jitted probabilities equal to the trainer's,
training, model files and the evaluator inside a search."""
import os
import re

import numpy as np
import pytest

from engine import board as fb
from engine.board import BLACK, PASS, WHITE, M_PASSES, M_TOMOVE, point
from engine.coords import format_vertex, parse_vertex
from engine.diagram import parse_diagram, state_from_diagram
from engine.game import GameState
from engine.mcts import T_FIRST, T_MOVE, T_N, T_NCHILD, T_PRIOR, check_tree
from engine.reference import check_consistency
from engine.rng import new_rng
from engine.rollout_policy import (DIST_CAP, F_DIST, F_NEIGHBOUR, F_PASS, F_RESPONSE,
                                   F_SAVE, F_SELF_ATARI, GROUPS, MAX_FEATURES,
                                   PolicyRolloutEvaluator, RolloutModel, RolloutModelError,
                                   candidate_keys, canonical_key, load_rollout_model,
                                   move_features, policy_playout, rollout_base_weights,
                                   rollout_init, rollout_move_weights, rollout_probs,
                                   rollout_scratch, rollout_step, save_rollout_model, sym_key,
                                   tree_priors)
from engine.search import LeafBatch, Search, SearchConfig
from nets.features import sym_rowcol
from nets.rollout_train import (TrainConfig, chunk_probs, dictionaries, evaluate, extract,
                                games_from_states, harvest, scripted_games, tiny_model,
                                train)

EMPTY_MODEL = RolloutModel({}, tree=True)  # no patterns: fixed features only


@pytest.fixture(scope="module")
def model():
    return tiny_model(tree=False)


@pytest.fixture(scope="module")
def tree_model():
    return tiny_model(tree=True)


@pytest.fixture(scope="module")
def dense_model():
    """Every pattern of some games in the dictionaries, with random weights: each feature
    change moves a weight, so stale incremental weights cannot hide."""
    counts = harvest(scripted_games(7, 6, seed=2), tree=False)
    m = RolloutModel(dictionaries(counts, 1))
    rng = np.random.default_rng(0)
    return m.with_weights(rng.normal(0.0, 1.0, m.n_weights))


def position(diagram, last=None, to_move=BLACK):
    """The diagram's stones; then the opponent plays ``last`` (GTP vertex) so that
    ``to_move`` plays next with that previous move."""
    if last is None:
        return state_from_diagram(diagram, to_move=to_move)
    g = state_from_diagram(diagram, to_move=3 - to_move)
    g.play(3 - to_move, parse_vertex(last, g.size))
    return g


def features(g, vertex, m=EMPTY_MODEL, tree=True):
    out = np.zeros(MAX_FEATURES, dtype=np.int64)
    k = move_features(g.board, parse_vertex(vertex, g.size), g.to_move, m.arrays, tree, out)
    return set(out[:k].tolist())


def transformed(diagram, k, swap=False):
    """Diagram text under board symmetry k (and black / white swapped)."""
    grid = parse_diagram(diagram)
    n = grid.shape[0]
    out = np.zeros_like(grid)
    for r in range(n):
        for c in range(n):
            v = grid[r, c]
            if swap and v:
                v = 3 - v
            out[sym_rowcol(k, n, r, c)] = v
    return "\n".join(" ".join(".XO"[x] for x in row) for row in out)


def vertex_under(vertex, n, k):
    p = parse_vertex(vertex, n)
    r, c = sym_rowcol(k, n, p // (n + 2) - 1, p % (n + 2) - 1)
    return format_vertex(point(n, r, c), n)


# ---------------------------------------------------------------------------------------
# Features of hand-made positions

ATARI = """
. . . . . . .
. . . . . . .
. . O O . . .
. O X X . . .
. . O . . . .
. . . . . . .
. . . . . . .
"""


def test_save_atari_only_when_the_chain_gets_two_liberties():
    # white E4 leaves black C4 D4 one liberty, D3; D3 gives it D2 and E3
    g = position(ATARI, last="E4")
    assert F_SAVE in features(g, "D3") and F_SELF_ATARI not in features(g, "D3")
    assert F_SAVE not in features(g, "E3")  # not next to the chain in atari
    # with white around D3, extending reaches D2 only: still in atari, no rescue
    g = position("""
. . . . . . .
. . . . . . .
. . O O . . .
. O X X . . .
. . O . O . .
. . O . O . .
. . . O . . .
""", last="E4")
    assert F_SAVE not in features(g, "D3") and F_SELF_ATARI in features(g, "D3")


def test_neighbour_features_by_relative_position_of_the_previous_move():
    g = position("""
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
""", last="E5")
    order = ["D6", "E6", "F6", "D5", "F5", "D4", "E4", "F4"]  # NW N NE W E SW S SE
    for i, vtx in enumerate(order):
        f = features(g, vtx)
        assert F_NEIGHBOUR + i in f
        assert not any(F_NEIGHBOUR <= x < F_NEIGHBOUR + 8 and x != F_NEIGHBOUR + i for x in f)
    assert not any(F_NEIGHBOUR <= x < F_NEIGHBOUR + 8 for x in features(g, "E7"))
    assert features(g, "pass") == {F_PASS}


def test_distance_to_the_last_two_moves_is_tree_only():
    g = position("""
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
. . . . . . . . .
""")
    g.play(BLACK, parse_vertex("C3", 9))
    g.play(WHITE, parse_vertex("E5", 9))
    f = features(g, "E8")  # 3 from E5, 2 + 5 = 7 from C3
    assert F_DIST + 2 in f and F_DIST + DIST_CAP + 6 in f
    assert not any(F_DIST <= x < F_DIST + 2 * DIST_CAP for x in features(g, "E8", tree=False))
    # a rollout policy has no tree features even when asked for them
    f = features(g, "E8", RolloutModel({}))
    assert not any(F_DIST <= x < F_DIST + 2 * DIST_CAP for x in f)


def test_self_atari_is_a_tree_feature():
    g = position("""
. O . . .
O . . . .
. O . . .
. . . . .
. . . . .
""", last="E1")
    assert F_SELF_ATARI in features(g, "B4")  # B4 would keep only C4
    assert F_SELF_ATARI not in features(g, "C4")
    assert F_SELF_ATARI not in features(g, "B4", tree=False)


@pytest.mark.parametrize("k", range(1, 8))
def test_symmetric_and_colour_swapped_response_patterns_share_one_weight(k):
    diagram = """
. . . . . . .
. . . . . . .
. . X O . . .
. . O X . . .
. . . . . . .
. . . . . . .
. . . . . . .
"""
    g = position(diagram, last="D3")  # white D3 under black's D4
    raw = np.zeros(4, dtype=np.int64)
    candidate_keys(g.board, parse_vertex("C3", 7), BLACK, raw)
    assert raw[1] >= 0  # C3 lies in the diamond of D3
    keys = {"response": np.array([canonical_key(1, raw[1])]),
            "pat3": np.array([canonical_key(0, raw[0])])}
    m = RolloutModel(keys)
    idx = {m.offsets["response"], m.offsets["pat3"], F_RESPONSE}
    assert idx <= features(g, "C3", m)
    # the same shape rotated or mirrored, and with the colours swapped
    h = position(transformed(diagram, k), last=vertex_under("D3", 7, k))
    assert idx <= features(h, vertex_under("C3", 7, k), m)
    s = position(transformed(diagram, k, swap=True), last=vertex_under("D3", 7, k),
                 to_move=WHITE)
    assert idx <= features(s, vertex_under("C3", 7, k), m)
    # another point of the diamond is another pattern
    assert m.offsets["response"] not in features(g, "E3", m)


def test_nakade_keys_follow_shape_place_and_owner():
    g = position("""
. . . . . . .
. O O O O O .
O . . . . O .
. O O O O O .
. . . . . . .
. . . . . . .
. . . . . . .
""", last="G1")
    raw = np.zeros(4, dtype=np.int64)

    def nak(vtx, c=BLACK):
        candidate_keys(g.board, parse_vertex(vtx, 7), c, raw)
        return canonical_key(2, raw[2]) if raw[2] >= 0 else None

    # a four-point straight eye space of white: both middle points look alike, the ends too
    assert nak("C5") == nak("D5") and nak("B5") == nak("E5")
    assert nak("C5") != nak("B5") and nak("C5") is not None
    # white's own view of the same space differs (owner bit)
    assert nak("C5", WHITE) != nak("C5")
    assert nak("D2") is None  # open area


# ---------------------------------------------------------------------------------------
# Rollouts

@pytest.mark.parametrize("n", [5, 7, 9])
def test_rollouts_play_legal_non_eye_moves_and_end(model, n):
    m = model.arrays
    for seed in range(4):
        b = fb.new_board(n)
        scr = rollout_scratch(n)
        rng = new_rng(seed)
        rollout_init(b, m, scr)
        moves = 0
        while b[8][M_PASSES] < 2:
            before = fb.copy_board(b)
            c = int(b[8][M_TOMOVE])
            p = int(rollout_step(b, rng, m, scr))
            moves += 1
            if p == PASS:
                assert not any(fb.is_legal(before, q, c) and not fb.is_eye(before, q, c)
                               for q in before[5][:before[8][fb.M_NEMPTY]])
            else:
                assert fb.is_legal(before, p, c) and not fb.is_eye(before, p, c)
            if moves % 7 == 0:
                check_consistency(b)
            assert moves <= 3 * n * n
        check_consistency(b)
        # a whole playout from the empty board ends and scores Tromp-Taylor
        b = fb.new_board(n)
        s = policy_playout(b, new_rng(seed), 0.5, m, rollout_scratch(n))
        check_consistency(b)
        assert s == fb.area_score(b, 0.5)


@pytest.mark.parametrize("n, seed", [(5, 1), (7, 2), (7, 5), (9, 3), (9, 4)])
def test_incremental_weights_equal_recomputation_after_every_move(dense_model, n, seed):
    m = dense_model.arrays
    assert m[-1][1]  # nakade patterns are there: their updates are checked too
    b = fb.new_board(n)
    scr = rollout_scratch(n)
    rng = new_rng(seed)
    rollout_init(b, m, scr)
    ref = np.zeros_like(scr[0])
    caps = 0
    for _ in range(3):  # rollouts in a row: the later ones start from a full board
        b[8][M_PASSES] = 0
        while b[8][M_PASSES] < 2:
            stones = int(np.sum(b[0] == BLACK) + np.sum(b[0] == WHITE))
            p = rollout_step(b, rng, m, scr)
            caps += p != PASS and np.sum(b[0] == BLACK) + np.sum(b[0] == WHITE) <= stones
            rollout_base_weights(b, m, ref)
            np.testing.assert_allclose(scr[0], ref, rtol=1e-12)
            rows = ref[:, (np.arange(n * n) // n + 1) * (n + 2) + np.arange(n * n) % n + 1]
            sums = rows.reshape(2, n, n).sum(axis=2)
            # the running row sums and, in the last column, their total
            np.testing.assert_allclose(scr[1][:, :n], sums, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(scr[1][:, n], sums.sum(axis=1), rtol=1e-9, atol=1e-9)
    assert caps > 0  # captures happened


def game_positions(games, count):
    """GameStates after 0, 1, 2 ... moves of the first games."""
    out = []
    for g in range(len(games.offsets) - 1):
        st = GameState(games.size, ko_rule="simple")
        for i in range(games.offsets[g], games.offsets[g + 1]):
            out.append(st.copy())
            st.play(int(games.colors[i]), int(games.moves[i]))
            if len(out) >= count:
                return out
    return out


def test_rollout_draw_weights_are_the_model_softmax(model):
    games = scripted_games(7, 3, seed=5)
    n = 7
    for st in game_positions(games, 120):
        b = st.board
        c = st.to_move
        probs = np.zeros(n * n + 1)
        rollout_probs(b, model.arrays, probs)
        wts = np.zeros(n * n + 1)
        rollout_move_weights(b, model.arrays, wts)
        allowed = np.zeros(n * n + 1, dtype=bool)
        for a in range(n * n):
            p = point(n, a // n, a % n)
            allowed[a] = fb.is_legal(b, p, c) and not fb.is_eye(b, p, c)
        assert np.all((wts > 0) == allowed)
        if allowed.any():
            np.testing.assert_allclose(wts[allowed] / wts.sum(),
                                       probs[allowed] / probs[allowed].sum(), rtol=1e-6)


def test_rollout_draws_follow_the_weights(model):
    g = position("""
. . . . .
. X . . .
. . . X .
. . . . .
. . . . .
""", last="C3")
    m = model.arrays
    wts = np.zeros(26)
    rollout_move_weights(g.board, m, wts)
    draws = 20000
    counts = np.zeros(26)
    scr = rollout_scratch(5)
    rng = new_rng(9)
    b = fb.copy_board(g.board)
    for _ in range(draws):
        fb.copy_into(b, g.board)
        rollout_init(b, m, scr)
        p = rollout_step(b, rng, m, scr)
        counts[(p // 7 - 1) * 5 + p % 7 - 1] += 1
    expected = wts / wts.sum() * draws
    ok = expected > 0
    assert counts[~ok].sum() == 0
    # chi-square with 20 degrees of freedom or so: far below 100 unless the draw is biased
    chi2 = np.sum((counts[ok] - expected[ok]) ** 2 / expected[ok])
    assert chi2 < 3 * ok.sum()


# ---------------------------------------------------------------------------------------
# Model and training

def test_jitted_probabilities_match_the_training_model(model, tree_model):
    games = scripted_games(7, 2, seed=11)
    states = game_positions(games, 10_000)
    for mdl, fn in ((model, rollout_probs), (tree_model, tree_priors)):
        chunk, dropped = extract(games, mdl)
        assert dropped == 0 and chunk.positions == len(states)
        train_side = chunk_probs(mdl.weight_vector(), chunk)
        if mdl is model:
            # a rollout model's probabilities come without tree features
            assert not mdl.tree
        for i, st in enumerate(states):
            out = np.zeros(50, dtype=np.float32 if fn is tree_priors else np.float64)
            fn(st.board, mdl.arrays, out)
            lo, hi = chunk.pos_cptr[i], chunk.pos_cptr[i + 1]
            np.testing.assert_allclose(out[chunk.acts[lo:hi]], train_side[lo:hi], rtol=2e-5,
                                       atol=1e-7)
            assert abs(out.sum() - 1) < 1e-5
            legal = set(st.legal_points())
            for a in range(49):
                if point(7, a // 7, a % 7) not in legal:
                    assert out[a] == 0


def test_training_lowers_the_loss_and_raises_accuracy():
    games = scripted_games(7, 8, seed=3)
    counts = harvest(games, tree=False)
    assert counts["positions"] == len(games.moves)
    model = RolloutModel(dictionaries(counts, 2))
    chunk, _ = extract(games, model)
    ce0, hits0, npos = evaluate(model.weight_vector(), chunk)
    trained, rep = train(model, games, games, TrainConfig(epochs=3, lr=0.05, batch_positions=32),
                         log=None)
    ce1, hits1, _ = evaluate(trained.weight_vector(), chunk)
    assert ce1 < 0.8 * ce0
    assert hits1 > hits0
    assert rep["history"][-1]["heldout_top1"] == pytest.approx(hits1 / npos)


def test_harvest_counts_symmetric_shapes_together():
    # two one-move games: black at a corner-adjacent point of every corner
    states = []
    for vtx in ("B2", "H8", "B8", "H2"):
        g = GameState(9)
        g.play(BLACK, parse_vertex(vtx, 9))
        g.play(WHITE, parse_vertex("E5", 9))
        states.append(g)
    counts = harvest(games_from_states(states), tree=True)
    keys, cnt = counts["pat3"]
    # white's position after B2 and after H8 are the same up to symmetry: every count even
    assert counts["positions"] == 8
    assert np.all(cnt % 4 == 0)


def test_model_file_round_trip_and_clear_errors(tree_model, tmp_path):
    path = tmp_path / "tree.npz"
    save_rollout_model(tree_model, path)
    back = load_rollout_model(path)
    assert back.tree and back.sizes() == tree_model.sizes()
    for g in GROUPS:
        assert np.array_equal(back.keys[g], tree_model.keys[g])
    np.testing.assert_array_equal(back.weight_vector(), tree_model.weight_vector())
    g = position(ATARI, last="E4")
    a, b = np.zeros(50, np.float32), np.zeros(50, np.float32)
    tree_priors(g.board, tree_model.arrays, a)
    tree_priors(g.board, back.arrays, b)
    np.testing.assert_array_equal(a, b)

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(RolloutModelError, match="bad.npz"):
        load_rollout_model(bad)
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(RolloutModelError, match="bad.npz"):
        load_rollout_model(bad)
    with pytest.raises(RolloutModelError, match="no such"):
        load_rollout_model(tmp_path / "missing.npz")
    z = dict(np.load(path))
    np.savez(bad, **{**z, "version": np.array(99)})
    with pytest.raises(RolloutModelError, match="version 99"):
        load_rollout_model(bad)
    np.savez(bad, **{k: v for k, v in z.items() if k != "pat3_weights"})
    with pytest.raises(RolloutModelError, match="pat3_weights"):
        load_rollout_model(bad)
    np.savez(bad, **{**z, "pat3_keys": z["pat3_keys"][::-1].copy()})
    with pytest.raises(RolloutModelError, match="sorted"):
        load_rollout_model(bad)
    key = int(z["pat3_keys"][5])
    variant = max(int(sym_key(0, key, k)) for k in range(8))  # the same shape, turned
    assert variant != key
    np.savez(bad, **{**z, "pat3_keys": np.array([variant]),
                     "pat3_weights": np.array([0.5], np.float32)})
    with pytest.raises(RolloutModelError, match="canonical"):
        load_rollout_model(bad)


def test_bad_game_arrays_are_refused_clearly():
    games = scripted_games(5, 1, seed=1)
    games.colors = games.colors.copy()
    games.colors[0] = 3
    with pytest.raises(ValueError, match="colors"):
        harvest(games)
    games = scripted_games(5, 1, seed=1)
    games.offsets = np.array([0, 5, 3])
    with pytest.raises(ValueError, match="offsets"):
        harvest(games)


# ---------------------------------------------------------------------------------------
# The evaluator

def test_evaluator_fills_priors_and_rollouts_in_a_search(model, tree_model):
    ev = PolicyRolloutEvaluator(model, threads=2, seed=1, tree_model=tree_model)
    cfg = SearchConfig(batch_size=8, threads=2, early_stop=False, expand_threshold=1)
    s = Search(cfg, ev)
    st = GameState(7, komi=7.5)
    st.play(BLACK, parse_vertex("D4", 7))
    s.prepare(st, WHITE)
    assert s.run(visits=200) == 200
    assert s.tree[T_N][0] == 200 and check_tree(s.tree) == 0
    # the root's priors are the tree policy's
    f, k = int(s.tree[T_FIRST][0]), int(s.tree[T_NCHILD][0])
    want = np.zeros(50, np.float32)
    tree_priors(st.board, tree_model.arrays, want)
    for j in range(f, f + k):
        mv = int(s.tree[T_MOVE][j])
        a = 49 if mv == PASS else (mv // 9 - 1) * 7 + mv % 9 - 1
        assert s.tree[T_PRIOR][j] == pytest.approx(want[a], rel=1e-4, abs=1e-7)
    # one batch by hand: rollout results are 0 / 0.5 / 1 for the side to move
    batch = LeafBatch(7, 6, 7.5)
    batch.count = 6
    for i in range(6):
        for a, src in zip(batch.boards, st.board):
            a[i] = src
    batch.expand[:6] = 1
    ev.evaluate(batch)
    assert set(batch.rollout[:6].tolist()) <= {0.0, 0.5, 1.0}
    for i in range(6):
        assert (batch.rollout[i] == 1.0) == (batch.score[i] < 0)  # white to move
        np.testing.assert_allclose(batch.priors[i], want, rtol=1e-6)
    ev.close()
    # without priors (a network writes them) the batch's priors are left alone
    quiet = PolicyRolloutEvaluator(model, seed=2, priors=False)
    batch.priors[:] = 7.0
    quiet.evaluate(batch)
    assert np.all(batch.priors == 7.0) and set(batch.rollout[:6].tolist()) <= {0.0, 0.5, 1.0}


def save_scripted_shard(folder, seed):
    """``folder/shard-00000.npz``: four scripted 7x7 games in the shard format."""
    from nets.sgf_data import GameSet, save_shard
    g = scripted_games(7, 4, seed=seed)
    count = len(g.offsets) - 1
    gs = GameSet(g.size, g.komi, g.winner, np.zeros(count), g.offsets, g.moves, g.colors,
                 g.setup_offsets, g.setup_points, g.setup_colors,
                 [f"{os.path.basename(folder)}{i}" for i in range(count)])
    save_shard(os.path.join(folder, "shard-00000.npz"), gs)


def test_command_line_trains_from_shards_and_reports_accuracy(tmp_path, capsys):
    from nets.rollout_train import main
    for split, seed in (("train", 1), ("heldout", 2)):
        save_scripted_shard(tmp_path / split, seed)
    out = tmp_path / "tree.npz"
    assert main([str(tmp_path), "--out", str(out), "--epochs", "2", "--min-count", "2",
                 "--tree", "--lr", "0.05"]) == 0
    text = capsys.readouterr().out
    assert "held-out loss" in text and "top-1" in text
    m = load_rollout_model(out)
    assert m.tree and m.sizes()["diamond"] > 0
    assert len(m.info["history"]) == 2
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nowhere"), "--out", str(out)])


@pytest.mark.parametrize("epochs", [0, 1])
def test_command_line_trains_without_heldout_shards_and_says_so_once(tmp_path, capsys, epochs):
    from nets.rollout_train import main
    save_scripted_shard(tmp_path / "train", 1)
    os.makedirs(tmp_path / "heldout")  # a small collection: no game was held out
    out = tmp_path / "rollout.npz"
    assert main([str(tmp_path), "--out", str(out), "--epochs", str(epochs),
                 "--min-count", "2"]) == 0
    text = capsys.readouterr().out
    assert text.count("no held-out data") == 1 and "held-out loss" not in text
    m = load_rollout_model(out)
    assert not m.tree and len(m.info["history"]) == epochs
    assert not any(k.startswith("heldout") for h in m.info["history"] for k in h)


def test_command_line_refuses_corrupt_shards_and_an_empty_train_folder_by_name(tmp_path):
    from nets.rollout_train import main
    out = tmp_path / "rollout.npz"
    for split in ("train", "heldout"):
        save_scripted_shard(tmp_path / split, 1)
    (tmp_path / "heldout" / "shard-00000.npz").write_bytes(b"not a shard")
    with pytest.raises(SystemExit, match="corrupt shard .*heldout.shard-00000.npz: "):
        main([str(tmp_path), "--out", str(out)])
    os.remove(tmp_path / "train" / "shard-00000.npz")
    with pytest.raises(SystemExit, match=re.escape(f"{tmp_path / 'train'}: no shards")):
        main([str(tmp_path), "--out", str(out)])
    assert not out.exists()
