"""Training from self-play sample files: replay window, augmentation, losses, checkpoints, resume
(tiny network, 5x5 boards, fake games with a learnable signal)."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from nets.checkpoint import load_checkpoint
from nets.features import PLANES, apply_symmetry_planes, apply_symmetry_policy
from nets.replay import ReplayWindow, write_game
from nets.resnet import NetConfig, build_net
from nets.train import (TrainConfig, compute_losses, list_checkpoints, lr_at, make_optimizer,
                        resume, run_config, train_steps)

torch.set_num_threads(1)

N = 5
CENTER = 2 * N + 2  # C3: the one point every symmetry keeps in place


def fake_game(rng, t=12, n=N, target=None, marker_plane=None, stones_show_owner=False):
    """Random stone planes and a learnable signal: pi on ``target`` (the centre by default),
    z = +1 when black is to move else -1; ``marker_plane``: also mark the target there;
    ``stones_show_owner``: the current stones are the final owners of their points."""
    planes = np.zeros((t, PLANES, n, n), np.uint8)
    policy = np.zeros((t, n * n + 1), np.float32)
    to_move = np.where(np.arange(t) % 2 == 0, 1, 2).astype(np.int8)
    for i in range(t):
        stones = rng.integers(0, 3, size=(8, n, n))
        planes[i, 0:8] = stones == 1
        planes[i, 8:16] = stones == 2
        planes[i, 16] = 1 if to_move[i] == 1 else 0
        a = CENTER if target is None else target[i]
        policy[i, a] = 1.0
        if marker_plane is not None:
            planes[i, marker_plane] = 0
            planes[i, marker_plane, a // n, a % n] = 1
    z = np.where(to_move == 1, 1.0, -1.0).astype(np.float32)
    full = np.ones(t, bool)
    ownership = rng.integers(-1, 2, size=n * n).astype(np.int8)
    if stones_show_owner:
        black = (ownership == 1).reshape(n, n)
        white = (ownership == -1).reshape(n, n)
        for i in range(t):
            planes[i, 0], planes[i, 8] = (black, white) if to_move[i] == 1 else (white, black)
    return dict(planes=planes, policy=policy, z=z, to_move=to_move, full_search=full,
                ownership=ownership)


def make_games(folder, count, seed=0, **kw):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for g in range(count):
        path = os.path.join(folder, f"game-{g:04d}.npz")
        write_game(path, **fake_game(rng, **kw))
        os.utime(path, ns=(10**18 + g, 10**18 + g))  # mtime order = name order
    return folder


def tiny_net(n=N, **options):
    torch.manual_seed(0)
    return build_net(NetConfig.from_name("tiny", board_size=n, **options))


CFG = TrainConfig(batch_size=32, lr_boundaries=(), lr_values=(0.05,), steps_per_generation=10,
                  window_games=100, seed=3, log_every=1)


# ---------------------------------------------------------------------------------------------
# Replay window

def test_window_keeps_newest_games_and_skips_tmp_and_corrupt_files(tmp_path, caplog):
    games = make_games(tmp_path / "games", 5)
    (tmp_path / "games" / "game-0009.npz.tmp").write_bytes(b"half a game")  # being written
    with open(tmp_path / "games" / "game-0010.npz", "wb") as f:
        f.write(b"PK\x03\x04 truncated zip")  # newest file, corrupt
    os.utime(tmp_path / "games" / "game-0010.npz", ns=(2 * 10**18, 2 * 10**18))
    bad = fake_game(np.random.default_rng(1))
    bad["policy"] = bad["policy"][:, :-1]  # wrong action count
    write_game(tmp_path / "games" / "game-0011.npz", **bad)
    os.utime(tmp_path / "games" / "game-0011.npz", ns=(2 * 10**18 + 1, 2 * 10**18 + 1))

    w = ReplayWindow(games, window=3, board_size=N)
    assert w.refresh() == 3
    assert w.games == ["game-0002.npz", "game-0003.npz", "game-0004.npz"]
    assert w.positions == 3 * 12
    assert w.skipped == 2
    assert "game-0010.npz" in caplog.text and "game-0011.npz" in caplog.text
    assert "npz.tmp" not in caplog.text

    # a bad file warns once; a new game pushes the oldest out
    make_games(tmp_path / "extra", 1, seed=7)
    os.replace(tmp_path / "extra" / "game-0000.npz", tmp_path / "games" / "game-0012.npz")
    os.utime(tmp_path / "games" / "game-0012.npz", ns=(3 * 10**18, 3 * 10**18))
    assert w.refresh() == 1
    assert w.skipped == 2
    assert w.games == ["game-0003.npz", "game-0004.npz", "game-0012.npz"]


def test_empty_window_refuses_to_sample(tmp_path):
    w = ReplayWindow(tmp_path / "nothing", window=10, board_size=N)
    assert w.refresh() == 0
    with pytest.raises(ValueError, match="no positions"):
        w.sample(4, np.random.default_rng(0))


def test_wrong_board_size_is_skipped(tmp_path):
    games = make_games(tmp_path / "games", 2, n=4)
    w = ReplayWindow(games, window=10, board_size=N)
    w.refresh()
    assert w.positions == 0 and w.skipped == 2


def test_symmetry_keeps_stone_and_policy_target_aligned(tmp_path):
    rng = np.random.default_rng(5)
    target = rng.integers(0, N * N, size=12)
    games = make_games(tmp_path / "games", 1, target=target, marker_plane=1)
    w = ReplayWindow(games, window=1, board_size=N)
    w.refresh()
    b = w.sample(400, np.random.default_rng(0))
    assert set(b.symmetries.tolist()) == set(range(8))
    for i in range(len(b.rows)):
        marked = np.flatnonzero(b.planes[i, 1].ravel())
        assert marked.tolist() == [int(np.argmax(b.policy[i]))]
    # and the batch equals the reference symmetry helpers applied to the stored position
    for i in range(16):
        k, j = int(b.symmetries[i]), int(b.rows[i])
        want_planes = np.empty((PLANES, N, N), np.float32)
        apply_symmetry_planes(w.planes[j].astype(np.float32), k, want_planes)
        want_policy = np.empty(N * N + 1, np.float32)
        apply_symmetry_policy(w.policy[j], k, N, want_policy)
        np.testing.assert_array_equal(b.planes[i], want_planes)
        np.testing.assert_array_equal(b.policy[i], want_policy)


def test_ownership_target_is_from_the_side_to_moves_view(tmp_path):
    games = make_games(tmp_path / "games", 1)
    w = ReplayWindow(games, window=1, board_size=N)
    w.refresh()
    with np.load(os.path.join(games, "game-0000.npz")) as f:
        black_view = f["ownership"].astype(np.float32)
        to_move = f["to_move"]
    b = w.sample(2, None, rows=[0, 1], symmetries=[0, 0])
    assert to_move[0] == 1 and to_move[1] == 2
    np.testing.assert_array_equal(b.ownership[0], black_view)
    np.testing.assert_array_equal(b.ownership[1], -black_view)


# ---------------------------------------------------------------------------------------------
# Losses and training

def test_positions_without_full_search_add_no_policy_loss(tmp_path):
    net = tiny_net().eval()
    rng = np.random.default_rng(0)
    g = fake_game(rng, t=6)
    x = torch.from_numpy(g["planes"].astype(np.float32))
    z = torch.from_numpy(g["z"])
    mask = torch.tensor([1, 1, 0, 1, 0, 1], dtype=torch.float32)
    pi = torch.from_numpy(g["policy"])
    garbage = pi.clone()
    garbage[2] = torch.full((N * N + 1,), 1.0 / (N * N + 1))
    garbage[4, 0] = 1.0
    with torch.no_grad():
        l1, m1 = compute_losses(net, x, pi, z, mask)
        l2, m2 = compute_losses(net, x, garbage, z, mask)
        l3, _ = compute_losses(net, x, garbage, z, torch.ones(6))
    assert float(l1) == float(l2) and m1 == m2
    assert float(l3) != float(l1)


def test_loss_goes_down_on_a_learnable_signal(tmp_path):
    # pi on a point marked in plane 1 (seen under random symmetries), z from the colour plane
    target = np.random.default_rng(9).integers(0, N * N, size=12)
    replay = ReplayWindow(make_games(tmp_path / "games", 8, target=target, marker_plane=1),
                          window=100, board_size=N)
    replay.refresh()
    net = tiny_net()
    opt = make_optimizer(net, CFG)
    first = train_steps(net, opt, replay, CFG, 5, 0)
    train_steps(net, opt, replay, CFG, 90, 5)
    last = train_steps(net, opt, replay, CFG, 5, 95)
    assert last["step"] == 100
    assert last["loss"] < 0.5 * first["loss"]
    assert last["policy_loss"] < 0.6 * first["policy_loss"]
    assert last["value_mse"] < 0.1 * first["value_mse"]
    assert last["policy_acc"] > 0.3 > first["policy_acc"]


def test_ownership_head_is_trained(tmp_path):
    replay = ReplayWindow(make_games(tmp_path / "games", 4, stones_show_owner=True), window=4,
                          board_size=N)
    replay.refresh()
    net = tiny_net(ownership=True)
    opt = make_optimizer(net, CFG)
    first = train_steps(net, opt, replay, CFG, 5, 0)
    last = train_steps(net, opt, replay, CFG, 60, 5)
    assert "ownership_loss" in first
    assert last["ownership_loss"] < 0.5 * first["ownership_loss"]


def test_learning_rate_schedule():
    cfg = TrainConfig(lr_boundaries=(10, 20), lr_values=(0.1, 0.01, 0.001))
    assert [lr_at(cfg, s) for s in (0, 9, 10, 19, 20, 10**6)] == [0.1, 0.1, 0.01, 0.01,
                                                                   0.001, 0.001]
    with pytest.raises(ValueError, match="one value more"):
        TrainConfig(lr_boundaries=(10,), lr_values=(0.1,))
    with pytest.raises(ValueError, match="unknown training config"):
        TrainConfig.from_dict({"batchsize": 3})


# ---------------------------------------------------------------------------------------------
# Checkpoints and resume

def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    replay = ReplayWindow(make_games(tmp_path / "games", 4), window=100, board_size=N)
    replay.refresh()
    net_config = NetConfig.from_name("tiny", board_size=N)

    def run(ckpt, n_steps):
        model, opt, step = resume(ckpt, CFG, net_config)
        losses = []
        train_steps(model, opt, replay, CFG, n_steps, step,
                    log=lambda s, m: losses.append((s, m["loss"])), checkpoint_dir=ckpt)
        return losses, model, opt

    straight, model_a, opt_a = run(tmp_path / "a", 20)
    assert [s for s, _ in list_checkpoints(tmp_path / "a")] == [20, 10]

    run(tmp_path / "b", 10)  # stops at the step-10 checkpoint
    model_b, opt_b, step = resume(tmp_path / "b", CFG, net_config)
    assert step == 10
    buf = opt_b.state[next(model_b.parameters())]["momentum_buffer"]
    assert torch.count_nonzero(buf) > 0
    resumed, model_b, opt_b = run(tmp_path / "b", 10)
    assert resumed == straight[10:]
    for pa, pb in zip(model_a.state_dict().values(), model_b.state_dict().values()):
        assert torch.equal(pa, pb)


def test_resume_skips_a_corrupt_newest_checkpoint(tmp_path, capsys):
    replay = ReplayWindow(make_games(tmp_path / "games", 2), window=100, board_size=N)
    replay.refresh()
    net_config = NetConfig.from_name("tiny", board_size=N)
    model, opt, _ = resume(tmp_path / "ck", CFG, net_config)
    train_steps(model, opt, replay, CFG, 10, 0, checkpoint_dir=tmp_path / "ck")
    (tmp_path / "ck" / "step-20.pt").write_bytes(b"torn")
    _, _, step = resume(tmp_path / "ck", CFG, net_config)
    assert step == 10
    assert "step-20.pt" in capsys.readouterr().err


def test_cli_killed_between_steps_leaves_a_loadable_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    make_games(run_dir / "games", 3)
    net_config, _ = run_config(str(run_dir), "tiny", N)  # writes config.json's "net"
    assert net_config.board_size == N
    cmd = [sys.executable, "-m", "nets.train", "--run", str(run_dir), "--steps", "100000",
           "--checkpoint-every", "3", "--batch-size", "8", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(list_checkpoints(run_dir / "checkpoints")) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoints written"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    newest_step, newest = list_checkpoints(run_dir / "checkpoints")[0]
    model, cfg, step, payload = load_checkpoint(newest, board_size=N)
    assert step == newest_step and step % 3 == 0 and cfg == net_config
    assert payload["optimizer"] is not None

    # the next start resumes from there and counts on
    from nets.train import main
    assert main(["--run", str(run_dir), "--steps", "2", "--batch-size", "8",
                 "--checkpoint-every", "3", "--no-progress"]) == 0
    assert list_checkpoints(run_dir / "checkpoints")[0][0] == newest_step + 2
    assert (run_dir / "logs" / "train.jsonl").exists()


def test_sgd_step_sets_the_rate_and_refuses_a_diverged_loss_before_touching_the_weights():
    from nets.train import sgd_step
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.SGD([w], lr=1.0)
    assert sgd_step(opt, (w * 2.0).sum(), 0.25, step=0) == 6.0
    assert opt.param_groups[0]["lr"] == 0.25
    assert torch.allclose(w.detach(), torch.full((3,), 0.5))  # 1 - 0.25 * 2
    with pytest.raises(FloatingPointError, match="at step 7"):
        sgd_step(opt, (w * float("nan")).sum(), 0.25, step=7)
    assert torch.allclose(w.detach(), torch.full((3,), 0.5))


def test_heldout_losses_weigh_each_position_once_whatever_the_chunks(tmp_path):
    # bench/heldout_losses.py (bench/ is not a package): the chunked sums must equal one batch
    # over every position, the policy over the full-search positions only
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "heldout_losses", os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench",
                                       "heldout_losses.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(4)
    folder = tmp_path / "held"
    folder.mkdir()
    for g in range(3):
        game = fake_game(rng, t=7 + g, target=rng.integers(0, N * N, size=9))
        game["full_search"] = np.arange(len(game["z"])) % 3 != 1  # some are cheap searches
        write_game(folder / f"game-{g}.npz", **game)
    replay = ReplayWindow(str(folder), 100, N)
    replay.refresh()
    net = tiny_net(ownership=True).eval()
    got = module.heldout_losses(net, replay, chunk=4)
    b = replay.sample(replay.positions, None, rows=np.arange(replay.positions),
                      symmetries=np.zeros(replay.positions, np.int64))
    with torch.no_grad():
        _, want = compute_losses(net, *(torch.from_numpy(a) for a in
                                        (b.planes, b.policy, b.z, b.policy_mask, b.ownership)))
    assert got["positions"] == 24 and got["policy_positions"] == int(b.policy_mask.sum()) < 24
    for key in ("value_loss", "policy_loss", "policy_acc", "ownership_loss"):
        assert got[key] == pytest.approx(want[key], rel=1e-5), key
