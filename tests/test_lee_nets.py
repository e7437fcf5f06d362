"""AlphaGo Lee networks and their training: shapes on 9x9 and 19x19, the policy's per-point
bias, over-fitting one batch, SL and value training runs on small generated game collections
(loss going down, resume after a stop, checkpoints of the wrong kind, size or corrupt), export.
Tiny networks (l3k8 .. l3k16) on 7x7 boards, CPU."""
import json
import math
import os
import re
import shutil

import numpy as np
import pytest
import torch

from engine import board as fb
from engine.board import BLACK, PASS
from engine.coords import parse_vertex
from engine.game import GameState
from nets.checkpoint import CheckpointError
from nets.lee import (PolicyConfig, ValueConfig, build, count_parameters, load_policy, load_value,
                      save_policy)
from nets.lee_features import LEE_PLANES, VALUE_PLANES
from nets.sgf_data import GameSet, ShardError, save_shard
from nets.train_lee import (LeeTrainConfig, PolicyData, load_value_shards, lr_at, main,
                            make_batch, save_value_shard)
from nets.train import list_checkpoints

torch.set_num_threads(1)

N = 7


def action(vertex, n):
    """Policy index (row * N + col) of a GTP vertex."""
    p = parse_vertex(vertex, n)
    w = n + 2
    return (p // w - 1) * n + (p % w - 1)


# ---------------------------------------------------------------------------------------------
# Networks

@pytest.mark.parametrize("n", [9, 19])
def test_policy_and_value_outputs_have_one_entry_per_point_and_per_position(n):
    torch.manual_seed(0)
    policy = build(PolicyConfig.from_name("l3k8", board_size=n))
    value = build(ValueConfig.from_name("l3k8", board_size=n))
    x = torch.rand(5, LEE_PLANES, n, n).round()
    logits = policy(x)
    assert logits.shape == (5, n * n)  # one logit per point, no pass
    v = value(torch.cat([x, torch.ones(5, 1, n, n)], dim=1))
    assert v.shape == (5,)
    assert torch.all(v.abs() <= 1)
    with pytest.raises(ValueError, match=rf"expected input \[B, 48, {n}, {n}\]"):
        policy(torch.zeros(5, VALUE_PLANES, n, n))
    with pytest.raises(ValueError, match=rf"expected input \[B, 49, {n}, {n}\]"):
        value(x)


def test_paper_size_names_count_every_convolution_layer():
    cfg = PolicyConfig.from_name("l13k192")
    assert (cfg.board_size, cfg.layers, cfg.filters, cfg.in_planes) == (19, 13, 192, 48)
    assert PolicyConfig.from_name(cfg.name) == cfg
    net = build(cfg)
    kernels = [m.kernel_size for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert kernels == [(5, 5)] + [(3, 3)] * 11 + [(1, 1)]
    vcfg = ValueConfig.from_name("l13k192")
    assert (vcfg.in_planes, vcfg.hidden) == (49, 256)
    vnet = build(vcfg)
    assert [m.kernel_size for m in vnet.modules() if isinstance(m, torch.nn.Conv2d)] == kernels
    assert count_parameters(vnet) > count_parameters(net)  # the two FC layers
    for bad in ("b6c64", "l1k8", "13k192"):
        with pytest.raises(ValueError):
            PolicyConfig.from_name(bad)


def test_point_bias_moves_one_point_only():
    n = 9
    torch.manual_seed(0)
    net = build(PolicyConfig.from_name("l3k8", board_size=n)).eval()
    assert net.point_bias.shape == (n * n,)
    x = torch.rand(2, LEE_PLANES, n, n).round()
    before = net(x).detach()
    with torch.no_grad():
        net.point_bias[action("D4", n)] += 2.0
    moved = (net(x).detach() - before).abs() > 1e-6
    assert moved[:, action("D4", n)].all()
    assert moved.sum() == 2  # only D4, in both rows


def test_tiny_policy_overfits_one_batch():
    torch.manual_seed(1)
    n = N
    net = build(PolicyConfig.from_name("l3k16", board_size=n))
    x = torch.rand(16, LEE_PLANES, n, n).round()  # [16, 48, 7, 7] random binary planes
    targets = torch.randint(0, n * n, (16,))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    first = None
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(net(x), targets)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first == pytest.approx(math.log(n * n), abs=1e-4)  # the output starts uniform
    assert loss.item() < 0.05
    assert (net(x).argmax(dim=1) == targets).all()


# ---------------------------------------------------------------------------------------------
# Generated collections

def random_games(n, count, seed, max_moves=None):
    """GameSet of ``count`` random games (never filling an own eye; a side with no such move
    passes), played to the end or ``max_moves``."""
    rng = np.random.default_rng(seed)
    moves, colors, offsets, winners = [], [], [0], []
    for _ in range(count):
        g = GameState(n, komi=0.5, ko_rule="simple", move_limit=max_moves or 2 * n * n)
        while not g.is_over():
            c = g.to_move
            pts = [p for p in g.legal_points(c) if not fb.is_eye(g.board, p, c)]
            p = int(pts[rng.integers(len(pts))]) if pts else PASS
            g.play(c, p)
            moves.append(p)
            colors.append(c)
        offsets.append(len(moves))
        winners.append(1 + int(rng.integers(2)))
    return GameSet(size=n, komi=np.full(count, 0.5), winner=winners,
                   handicap=np.zeros(count), offsets=offsets, moves=moves, colors=colors,
                   setup_offsets=np.zeros(count + 1), setup_points=[], setup_colors=[],
                   source=[f"random-{seed}-{i}" for i in range(count)])


@pytest.fixture(scope="module")
def sl_data(tmp_path_factory):
    """train/ (two shards) and heldout/ of random 7x7 games in the shard format."""
    root = tmp_path_factory.mktemp("sl-data")
    save_shard(root / "train" / "shard-00000.npz", random_games(N, 6, seed=1))
    save_shard(root / "train" / "shard-00001.npz", random_games(N, 6, seed=2))
    save_shard(root / "heldout" / "shard-00000.npz", random_games(N, 4, seed=3))
    return str(root)


def value_shard_games(n, count, seed):
    """Random games with one sampled position each, z = +1 when black is to move there: a
    target a value net can learn from the colour plane alone."""
    gs = random_games(n, count, seed)
    rng = np.random.default_rng(seed)
    length = np.diff(gs.offsets)
    idx = (rng.random(count) * length).astype(np.int64)
    mover = gs.colors[gs.offsets[:-1] + idx]
    z = np.where(mover == BLACK, 1.0, -1.0).astype(np.float32)
    return gs, idx, z


@pytest.fixture(scope="module")
def value_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("value-data")
    save_value_shard(root / "train" / "shard-00000.npz", *value_shard_games(N, 30, seed=4))
    save_value_shard(root / "heldout" / "shard-00000.npz", *value_shard_games(N, 10, seed=5))
    return str(root)


def log_lines(run):
    with open(os.path.join(run, "logs", "train.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def sl_args(data, run, steps, *extra):
    return ["sl", data, "--run", str(run), "--steps", str(steps), "--no-progress", *extra]


# ---------------------------------------------------------------------------------------------
# SL training

def test_sl_batches_are_48_plane_positions_with_the_played_move_as_target(sl_data):
    from nets.sgf_data import load_shards
    data = PolicyData(load_shards(os.path.join(sl_data, "train")))
    planes, targets = make_batch(data, seed=0, step=3, batch_size=64)
    assert planes.shape == (64, LEE_PLANES, N, N) and targets.shape == (64,)
    own, opp, empty = planes[:, 0], planes[:, 1], planes[:, 2]
    rows = np.arange(64)
    # the target is an empty point of the (transformed) board, never a pass
    assert np.all(targets < N * N)
    assert np.all(empty.reshape(64, -1)[rows, targets] == 1)
    assert np.all(own + opp + empty == 1)
    again, _ = make_batch(data, seed=0, step=3, batch_size=64)
    assert np.array_equal(planes, again)  # a step's batch depends on (seed, step) only


def test_sl_training_lowers_the_loss_and_reports_heldout_accuracy(sl_data, tmp_path, capsys):
    run = tmp_path / "sl"
    rc = main(sl_args(sl_data, run, 80, "--net", "l3k16", "--batch", "32", "--lr", "0.05",
                      "--eval-every", "40", "--checkpoint-every", "40"))
    assert rc == 0
    final = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert final["step"] == 80
    lines = log_lines(run)
    train = [x for x in lines if "loss" in x]
    held = [x for x in lines if "heldout_loss" in x]
    assert [x["step"] for x in held] == [40, 80]
    uniform = math.log(N * N)
    assert train[0]["loss"] == pytest.approx(uniform, abs=0.1)  # starts uniform over points
    # random games play on sensible points only: learning where they are lowers the loss
    assert train[-1]["loss"] < uniform - 0.3
    assert final["heldout_loss"] < uniform - 0.3
    assert final["heldout_loss"] == pytest.approx(held[-1]["heldout_loss"], abs=1e-4)
    assert 1 / (N * N) < final["heldout_acc"] < 1
    assert [s for s, _ in list_checkpoints(run / "checkpoints")] == [80, 40]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["command"] == "sl" and cfg["net"]["layers"] == 3 and cfg["net"]["board_size"] == N
    assert cfg["train"]["batch_size"] == 32 and cfg["train"]["lr"] == 0.05


def test_a_stopped_run_resumes_where_it_stopped_with_the_same_batches(sl_data, tmp_path):
    args = ("--net", "l3k8", "--batch", "16", "--checkpoint-every", "4", "--eval-every", "100")
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(sl_args(sl_data, straight, 10, *args)) == 0
    assert main(sl_args(sl_data, split, 6, *args)) == 0
    assert [s for s, _ in list_checkpoints(split / "checkpoints")] == [6, 4]
    assert main(sl_args(sl_data, split, 10, *args)) == 0  # the same command, further
    assert [s for s, _ in list_checkpoints(split / "checkpoints")][0] == 10
    a, _ = load_policy(list_checkpoints(straight / "checkpoints")[0][1])
    b, _ = load_policy(list_checkpoints(split / "checkpoints")[0][1])
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name  # momentum and batches carried over exactly
    steps = [x["step"] for x in log_lines(split) if "loss" in x]
    assert steps == sorted(steps) and steps[-1] == 10


def test_resume_skips_a_corrupt_newest_checkpoint(sl_data, tmp_path, capsys):
    run = tmp_path / "run"
    args = ("--net", "l3k8", "--batch", "8", "--checkpoint-every", "2", "--eval-every", "100")
    assert main(sl_args(sl_data, run, 4, *args)) == 0
    (run / "checkpoints" / "step-4.pt").write_bytes(b"PK\x03\x04 cut short")
    capsys.readouterr()
    assert main(sl_args(sl_data, run, 5, *args)) == 0
    err = capsys.readouterr().err
    assert "skipping" in err and "step-4.pt" in err and "from step 2" in err


def test_a_run_refuses_settings_other_than_its_own(sl_data, tmp_path, value_data):
    run = tmp_path / "run"
    assert main(sl_args(sl_data, run, 1, "--net", "l3k8", "--batch", "8")) == 0
    with pytest.raises(SystemExit, match="network is l3k8, --net l3k16"):
        main(sl_args(sl_data, run, 2, "--net", "l3k16"))
    with pytest.raises(SystemExit, match="batch_size = 8, 16 given"):
        main(sl_args(sl_data, run, 2, "--batch", "16"))
    with pytest.raises(SystemExit, match="'sl' run, not 'value'"):
        main(["value", value_data, "--run", str(run), "--no-progress"])
    with pytest.raises(SystemExit, match="give --net"):
        main(sl_args(sl_data, tmp_path / "fresh", 1))
    with pytest.raises(SystemExit, match="no train/ directory"):
        main(sl_args(str(tmp_path / "nowhere"), tmp_path / "fresh", 1, "--net", "l3k8"))


def test_sl_and_value_train_without_heldout_shards_and_say_so_once(tmp_path, capsys):
    # a small collection: the conversion's hash split held out none of its games
    sl, value = tmp_path / "sl-data", tmp_path / "value-data"
    save_shard(sl / "train" / "shard-00000.npz", random_games(N, 4, seed=1))
    save_value_shard(value / "train" / "shard-00000.npz", *value_shard_games(N, 8, seed=4))
    os.makedirs(sl / "heldout")
    os.makedirs(value / "heldout")
    for command, data in (("sl", sl), ("value", value)):
        run = tmp_path / command
        assert main([command, str(data), "--run", str(run), "--net", "l3k8", "--steps", "4",
                     "--batch", "8", "--eval-every", "2", "--no-progress"]) == 0
        out, err = capsys.readouterr()
        assert err.count("no held-out data") == 1, err
        final = json.loads(out.strip().splitlines()[-1])
        assert final["step"] == 4 and not any(k.startswith("heldout") for k in final)
        assert ("train_mse" in final) == (command == "value")
        assert not any(k.startswith("heldout") for x in log_lines(run) for k in x)
        assert [s for s, _ in list_checkpoints(run / "checkpoints")][0] == 4
        assert main(["export", str(run), "--out", str(tmp_path / f"{command}.pt")]) == 0
        assert (tmp_path / f"{command}.pt").stat().st_size > 0


def test_corrupt_shards_and_an_empty_train_folder_are_refused_by_name(sl_data, tmp_path):
    args = ("--net", "l3k8", "--batch", "8")
    for split in ("train", "heldout"):
        data = tmp_path / split
        shutil.copytree(sl_data, data)
        (data / split / "shard-00000.npz").write_bytes(b"PK\x03\x04 cut short")
        with pytest.raises(SystemExit, match=f"corrupt shard .*{split}.shard-00000.npz: "):
            main(sl_args(str(data), tmp_path / "run", 1, *args))
    empty = tmp_path / "empty"
    os.makedirs(empty / "train")
    os.makedirs(empty / "heldout")
    with pytest.raises(SystemExit, match=re.escape(f"{empty / 'train'}: no shards")):
        main(sl_args(str(empty), tmp_path / "run", 1, *args))


# ---------------------------------------------------------------------------------------------
# Checkpoints and export

def test_checkpoints_of_another_size_kind_or_corrupt_are_refused_by_name(tmp_path):
    torch.manual_seed(0)
    cfg = PolicyConfig.from_name("l3k8", board_size=N)
    path = tmp_path / "policy.pt"
    save_policy(path, build(cfg), cfg, step=7)
    model, loaded = load_policy(path, board_size=N)
    assert loaded == cfg and not model.training
    with pytest.raises(CheckpointError, match=r"network is for 7x7 boards, asked for 9x9"):
        load_policy(path, board_size=9)
    with pytest.raises(CheckpointError, match="a lee-policy network, expected a lee-value"):
        load_value(path)
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt.pt: unreadable or corrupt"):
        load_policy(bad)
    with pytest.raises(CheckpointError, match="no such file"):
        load_policy(tmp_path / "missing.pt")
    from nets.checkpoint import save_checkpoint
    from nets.resnet import NetConfig, build_net
    zcfg = NetConfig.from_name("tiny", board_size=N)
    save_checkpoint(tmp_path / "zero.pt", build_net(zcfg), zcfg, step=1)
    with pytest.raises(CheckpointError, match="an AlphaGo Zero network, expected a lee-policy"):
        load_policy(tmp_path / "zero.pt")
    with pytest.raises(TypeError):
        save_policy(tmp_path / "v.pt", build(ValueConfig(board_size=N, layers=3, filters=8)),
                    ValueConfig(board_size=N, layers=3, filters=8), step=0)


def test_export_writes_the_newest_network_without_optimizer_state(sl_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(sl_args(sl_data, run, 3, "--net", "l3k8", "--batch", "8")) == 0
    out = tmp_path / "play" / "sl.pt"
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["kind"], info["net"], info["board_size"], info["step"]) == \
        ("lee-policy", "l3k8", N, 3)
    exported, _ = load_policy(out)
    trained, _ = load_policy(list_checkpoints(run / "checkpoints")[0][1])
    x = torch.rand(3, LEE_PLANES, N, N).round()
    assert torch.equal(exported(x), trained(x))
    payload = torch.load(out, weights_only=True)
    assert payload["optimizer"] is None and "config_json" in payload["extra"]
    assert main(["export", str(tmp_path / "empty"), "--out", str(out)]) == 2


# ---------------------------------------------------------------------------------------------
# Value net

def test_value_shards_round_trip_and_bad_sample_indices_are_refused(tmp_path):
    gs, idx, z = value_shard_games(N, 5, seed=9)
    save_value_shard(tmp_path / "a" / "shard-00000.npz", gs, idx, z)
    save_value_shard(tmp_path / "a" / "shard-00001.npz", gs, idx, -z)
    both, idx2, z2 = load_value_shards(tmp_path / "a")
    assert len(both) == 10
    assert np.array_equal(idx2, np.concatenate([idx, idx])) and np.array_equal(z2[5:], -z)
    length = np.diff(gs.offsets)
    with pytest.raises(ValueError, match=f"game 0 has {length[0]} moves"):
        save_value_shard(tmp_path / "b.npz", gs, np.where(np.arange(5) == 0, length, idx), z)
    save_shard(tmp_path / "c" / "shard-00000.npz", gs)  # a policy shard: no sample_idx / z
    with pytest.raises(ShardError, match="not a value shard"):
        load_value_shards(tmp_path / "c")


def test_value_training_lowers_train_and_heldout_mse(value_data, tmp_path, capsys):
    run = tmp_path / "value"

    def train_to(steps):
        rc = main(["value", value_data, "--run", str(run), "--net", "l3k8", "--steps", str(steps),
                   "--batch", "32", "--lr", "0.02", "--eval-every", "30", "--no-progress"])
        assert rc == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    start = train_to(1)
    # a net that has barely trained says about 0 to every +-1 outcome
    assert start["train_mse"] > 0.5 and start["heldout_mse"] > 0.5
    final = train_to(60)
    assert final["step"] == 60
    assert final["train_mse"] < 0.2 and final["heldout_mse"] < 0.2
    model, cfg = load_value(list_checkpoints(run / "checkpoints")[0][1])
    assert cfg.in_planes == VALUE_PLANES and cfg.board_size == N


def test_learning_rate_halves_on_schedule():
    cfg = LeeTrainConfig(lr=0.01, lr_halve_every=100)
    assert [lr_at(cfg, s) for s in (0, 99, 100, 250)] == [0.01, 0.01, 0.005, 0.0025]
    with pytest.raises(ValueError, match="lr must be positive"):
        LeeTrainConfig(lr=0)


def test_worker_processes_build_the_same_batches_in_step_order(sl_data):
    from nets.sgf_data import load_shards
    from nets.train_lee import BatchStream
    data = PolicyData(load_shards(os.path.join(sl_data, "train")))
    stream = BatchStream(data, seed=3, batch_size=8, start=5, workers=1)
    try:
        for step in (5, 6, 7):
            planes, targets = stream.next()
            want_planes, want_targets = make_batch(data, 3, step, 8)
            assert np.array_equal(planes, want_planes) and np.array_equal(targets, want_targets)
    finally:
        stream.close()
