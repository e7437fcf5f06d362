"""Rollout-averaged value targets (selfplay.lee_value_targets): the Monte-Carlo estimate, the
blend and the folder copy."""
import os

import numpy as np
import pytest

from engine.board import BLACK, PASS, WHITE, point
from engine.rollout_policy import load_rollout_model
from nets import shipped_lee
from nets.sgf_data import GameSet
from nets.train_lee import load_value_shards, save_value_shard
from selfplay import lee_value_targets as lvt
from tests.test_lee_nets import value_shard_games

ROLLOUT = shipped_lee("rollout_model", 9)  # the patterns play on any board size
TREE = shipped_lee("tree_model", 9)


def settled_games():
    """Two 5x5 games from the same position: black owns the board with five one-point eyes
    (white has no legal move, black fills none), so every rollout ends at once, won by black.
    Game 0 has white to move at its sample, game 1 black."""
    n = 5
    board = """
        . X X X .
        X X X X X
        X X . X X
        X X X X X
        . X X X .
    """
    rows = board.split()
    setup = [point(n, i // n, i % n) for i, ch in enumerate(rows) if ch == "X"]
    return GameSet(size=n, komi=[0.5, 0.5], winner=[1, 1], handicap=[0, 0],
                   offsets=[0, 2, 4], moves=[PASS, PASS, PASS, PASS],
                   colors=[WHITE, BLACK, BLACK, WHITE], setup_offsets=[0, len(setup), 2 * len(setup)],
                   setup_points=setup * 2, setup_colors=[BLACK] * (2 * len(setup)),
                   source=["settled-w", "settled-b"])


def test_every_rollout_of_a_settled_board_goes_to_its_owner_from_the_movers_view():
    gs = settled_games()
    model = load_rollout_model(ROLLOUT)
    r = lvt.mean_outcomes(gs, np.array([0, 1]), np.array([0, 0]), 8, seed=1, model=model)
    assert r.tolist() == [-1.0, 1.0]  # white to move loses, black to move wins


def test_blend_weighs_the_rollout_mean_by_mix():
    z = np.array([1.0, -1.0, 0.0])
    r = np.array([-0.5, 0.25, 1.0])
    assert lvt.blend(z, r, 0.0).tolist() == z.tolist()
    assert lvt.blend(z, r, 1.0).tolist() == r.tolist()
    assert lvt.blend(z, r, 0.5).tolist() == [0.25, -0.375, 0.5]
    with pytest.raises(ValueError, match="mix"):
        lvt.blend(z, r, 1.5)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A value-data folder of random 7x7 games: two train shards, one held out."""
    root = tmp_path_factory.mktemp("value-data")
    save_value_shard(root / "train" / "shard-00000.npz", *value_shard_games(7, 12, seed=4))
    save_value_shard(root / "train" / "shard-00001.npz", *value_shard_games(7, 12, seed=6))
    save_value_shard(root / "heldout" / "shard-00002.npz", *value_shard_games(7, 8, seed=5))
    return str(root)


def arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in ("z", "z_game", "rollout_mean", "sample_idx")}


def test_the_copy_holds_blended_targets_the_outcome_and_seeded_rollout_means(data, tmp_path):
    out = tmp_path / "r4"
    args = [data, str(out), "--rollouts", "4", "--mix", "0.5", "--rollout-model", ROLLOUT,
            "--workers", "1", "--seed", "3"]
    assert lvt.main(args) == 0
    model = load_rollout_model(ROLLOUT)
    for sub, name in (("train", "shard-00000.npz"), ("train", "shard-00001.npz"),
                      ("heldout", "shard-00002.npz")):
        gs, idx, z = load_value_shards([os.path.join(data, sub, name)])
        got = arrays(out / sub / name)
        assert got["sample_idx"].tolist() == idx.tolist()
        assert got["z_game"].tolist() == z.tolist()
        r = lvt.mean_outcomes(gs, np.arange(len(z)), idx, 4, lvt.shard_seed(3, name), model=model)
        assert np.allclose(got["rollout_mean"], r)
        assert set(np.round(r * 4).astype(int)) <= set(range(-4, 5))  # means of 4 outcomes
        assert np.allclose(got["z"], 0.5 * z + 0.5 * r)
        assert not np.allclose(got["z"], z)  # the rollouts did change the targets

    # the training loader reads the copy
    _gs, _idx, zt = load_value_shards(str(out / "train"))
    assert len(zt) == 24

    # the same seed with two workers writes the same numbers
    out2 = tmp_path / "r4-two-workers"
    assert lvt.main([data, str(out2), *args[2:-4], "--workers", "2", "--seed", "3"]) == 0
    for sub, name in (("train", "shard-00001.npz"), ("heldout", "shard-00002.npz")):
        a, b = arrays(out / sub / name), arrays(out2 / sub / name)
        assert all(np.array_equal(a[k], b[k]) for k in a)

    # a second run skips what is written; a copy of the copy keeps the game's outcome
    before = os.path.getmtime(out / "train" / "shard-00000.npz")
    assert lvt.main(args) == 0
    assert os.path.getmtime(out / "train" / "shard-00000.npz") == before
    out3 = tmp_path / "r4-again"
    assert lvt.main([str(out), str(out3), "--rollouts", "2", "--mix", "0", "--rollout-model",
                     ROLLOUT, "--workers", "1"]) == 0
    again = arrays(out3 / "heldout" / "shard-00002.npz")
    first = arrays(out / "heldout" / "shard-00002.npz")
    assert again["z"].tolist() == first["z_game"].tolist()  # mix 0: the outcome, not the blend


@pytest.mark.parametrize("extra, why", [
    (["--mix", "1.5"], "mix"),
    (["--rollouts", "0"], "rollouts"),
])
def test_bad_settings_are_clear_errors(data, tmp_path, extra, why):
    with pytest.raises(SystemExit, match=why):
        lvt.main([data, str(tmp_path / "out"), "--rollout-model", ROLLOUT, *extra])


def test_the_output_cannot_be_the_data_folder_and_a_tree_policy_is_refused(data, tmp_path):
    with pytest.raises(SystemExit, match="differ"):
        lvt.main([data, data, "--rollout-model", ROLLOUT])
    with pytest.raises(ValueError, match="tree policy"):
        lvt.relabel_shard(os.path.join(data, "heldout", "shard-00002.npz"),
                          str(tmp_path / "x.npz"), TREE, 2, 1.0, 0)
    assert not (tmp_path / "x.npz").exists()
