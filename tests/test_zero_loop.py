"""The AlphaGo Zero loop (selfplay.zero) and gating (selfplay.gating) on 5x5 with the tiny b1c8
network: a handful of visits, 4 games per generation, 3 training steps, 4 gating games.

A generation end to end, resuming after SIGKILL, a corrupt newest checkpoint, the run's config
read back, and the ledger's Elo bookkeeping.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from nets.checkpoint import read_payload, save_checkpoint
from nets.resnet import NetConfig, build_net
from nets.train import TrainConfig, run_config
from selfplay import gating
from selfplay.gating import GateConfig
from selfplay.zero import LoopConfig, ZeroConfig, load_config, main, save_config
from selfplay.zero_selfplay import SelfPlayConfig

torch.set_num_threads(1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMALL = ["--size", "5", "--net", "b1c8", "--games-per-gen", "4", "--steps-per-gen", "3",
         "--gate-games", "4", "--gate-visits", "8", "--visits", "8", "--parallel", "4",
         "--leaf-batch", "4", "--batch-size", "16", "--no-progress"]


def ledger(run):
    with open(os.path.join(run, "ledger.json")) as f:
        return json.load(f)


def games(run):
    return sorted(n for n in os.listdir(os.path.join(run, "games")) if n.endswith(".npz"))


def step_of(path):
    return read_payload(path)["step"]


def test_one_generation_end_to_end(tmp_path):
    run = str(tmp_path / "zero5")
    assert main(["--run", run, *SMALL, "--max-generations", "1"]) == 0
    assert len(games(run)) == 4
    ck = os.path.join(run, "checkpoints")
    assert {"step-0.pt", "step-3.pt", "best.pt"} <= set(os.listdir(ck))
    led = ledger(run)
    assert len(led["gates"]) == 1
    g = led["gates"][0]
    assert (g["candidate_step"], g["best_step"], g["games"]) == (3, 0, 4)
    assert g["wins"] + g["draws"] + g["losses"] == 4
    assert g["promoted"] == (g["score"] >= 0.55)
    # both colours played by the candidate, in alternation
    assert g["candidate_black_score"] is not None and g["candidate_white_score"] is not None
    gens = led["generations"]
    assert gens[0]["step"] == 0 and gens[0]["elo"] == 0.0
    assert len(gens) == (2 if g["promoted"] else 1)
    assert step_of(os.path.join(ck, "best.pt")) == gens[-1]["step"]
    assert len(os.listdir(os.path.join(run, "logs", "gate-c0000"))) == 4
    assert os.path.getsize(os.path.join(run, "logs", "zero.log")) > 0
    # metrics: JSON lines for training and gating, and the same in TensorBoard event files
    with open(os.path.join(run, "logs", "gate.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == 1 and rows[0]["step"] == 3 and rows[0]["score"] == g["score"]
    assert rows[0]["best_elo"] == gens[-1]["elo"]
    tb = os.listdir(os.path.join(run, "logs", "tensorboard"))
    assert any(f.startswith("events.out.tfevents") for f in tb)
    # exported for play: no optimizer state, the run's story inside, loads like any checkpoint
    from nets.export import main as export_main
    out = str(tmp_path / "play.pt")
    assert export_main([run, "--out", out]) == 0
    p = read_payload(out)
    assert p["optimizer"] is None and p["step"] == gens[-1]["step"]
    assert p["extra"]["selfplay_games"] == 4
    assert json.loads(p["extra"]["ledger_json"]) == led
    assert json.loads(p["extra"]["config_json"])["net"]["board_size"] == 5
    assert export_main([run, "--checkpoint", "checkpoints/nothing.pt", "--out", out]) == 2
    # the budget is spent: a second start does nothing more
    assert main(["--run", run, "--max-generations", "1", "--no-progress"]) == 0
    assert len(ledger(run)["gates"]) == 1 and len(games(run)) == 4


def _children(pid):
    """Pids of the processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if name.isdigit() and int(fields[1]) == pid:
            out.append(int(name))
    return out


def _alive(pid):
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_resume_after_sigkill(tmp_path):
    run = str(tmp_path / "zero5")
    cmd = [sys.executable, "-m", "selfplay.zero", "--run", run, *SMALL, "--max-generations", "2",
           "--workers", "2"]  # a process pool, whatever the cores
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if os.path.isdir(os.path.join(run, "games")) and games(run):
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the loop ended before it could be killed"
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    # its self-play workers end with it: none plays on into the run, none waits forever
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert workers and not any(_alive(p) for p in workers)
    before = {n: open(os.path.join(run, "games", n), "rb").read() for n in games(run)}
    assert before
    steps_before = [n for n in os.listdir(os.path.join(run, "checkpoints")) if n.startswith("step-")]
    # what a kill in the middle of atomic writes leaves behind (engine.atomic's temporary names)
    for folder, name in (("games", ".game-s0-00099.npz.k3x9q1ab.tmp"),
                         ("checkpoints", ".best.pt.zz81mq0c.tmp")):
        with open(os.path.join(run, folder, name), "wb") as f:
            f.write(b"half")
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in done.stderr
    after = games(run)
    for name, data in before.items():  # no finished game lost or rewritten
        assert open(os.path.join(run, "games", name), "rb").read() == data
    assert len(after) == 8
    assert len(ledger(run)["gates"]) == 2
    ck = os.path.join(run, "checkpoints")
    assert step_of(os.path.join(ck, "step-6.pt")) == 6  # the step count went on
    assert set(steps_before) <= set(os.listdir(ck))
    for folder in ("games", "checkpoints"):  # the resume cleared them
        assert not [n for n in os.listdir(os.path.join(run, folder)) if n.endswith(".tmp")]
    # the run's cost from its files: all of it, or the cycles of a later stretch only
    report = _run_report().report
    whole = report(run).splitlines()
    assert len([r for r in whole if r.startswith("| ") and r[2].isdigit()]) == 2
    assert whole[-1].startswith("Totals: 8 self-play games") and "6 training steps, 2 gating" in whole[-1]
    last = report(run, since_cycle=1, cores=0.5).splitlines()
    assert [r.split(" | ")[:3] for r in last if r.startswith("| 1 ")] == [["| 1", "6", "4"]]
    assert last[-1].startswith("Totals from cycle 1 on: 4 self-play games")
    assert "3 training steps, 1 gating matches" in last[-1] and "on 0.5 cores" in last[-1]
    with pytest.raises(ValueError, match="cycle 2 has not started"):
        report(run, since_cycle=2)
    with pytest.raises(ValueError, match="must not be negative"):
        report(run, since_cycle=-1)


def _run_report():
    """bench/zero_run_report.py as a module (bench/ is not a package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "zero_run_report", os.path.join(ROOT, "bench", "zero_run_report.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_report_counts_only_the_time_the_loop_ran():
    clock = _run_report().running_clock
    log = ["2026-12-07 00:00:00,000 INFO starting --run r",
           "2026-12-07 00:30:00,000 INFO cycle 0: step 300 vs best step 0",
           "2026-12-07 00:40:00,000 INFO cycle 1: self-play 150 games",  # then killed
           "2026-12-07 03:00:00,000 INFO resuming --run r",  # 2 h 20 min later
           "2026-12-07 03:15:00,000 INFO cycle 1: step 600 vs best step 300"]
    assert clock(log) == [0.0, 1800.0, 2400.0, 2400.0, 3300.0]


def test_corrupt_newest_checkpoint_is_skipped(tmp_path, capsys):
    run = str(tmp_path / "zero5")
    assert main(["--run", run, *SMALL, "--max-generations", "1"]) == 0
    newest = os.path.join(run, "checkpoints", "step-3.pt")
    with open(newest, "r+b") as f:  # cut the file short, as a disk fault would
        f.truncate(100)
    capsys.readouterr()
    assert main(["--run", run, "--max-generations", "2", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "skipping" in err and "step-3.pt" in err and "corrupt" in err
    # cycle 1 trained from step 0 (the newest readable one) to step 6 and gated that
    assert step_of(os.path.join(run, "checkpoints", "step-6.pt")) == 6
    assert ledger(run)["gates"][1]["candidate_step"] == 6


def test_config_is_read_back_identically(tmp_path):
    run = str(tmp_path / "cfg")
    cfg = ZeroConfig(net=NetConfig.from_name("b2c16", board_size=7),
                     train=TrainConfig(batch_size=32, steps_per_generation=50, window_games=77),
                     selfplay=SelfPlayConfig(board_size=7, komi=5.5, visits=33),
                     gate=GateConfig(games=20, threshold=0.6, visits=16),
                     loop=LoopConfig(games_per_generation=9, max_generations=3, seed=4))
    save_config(run, cfg)
    assert load_config(run) == cfg
    # the trainer reads the same file: its "net" and "train" sections
    net, train = run_config(run)
    assert net == cfg.net and train == cfg.train


def test_config_on_resume_refuses_changed_settings_but_takes_a_new_budget(tmp_path, capsys):
    run = str(tmp_path / "zero5")
    assert main(["--run", run, *SMALL, "--max-generations", "0", "--max-games", "0",
                 "--max-hours", "0.000001"]) == 0
    assert main(["--run", run, "--visits", "9", "--max-generations", "0"]) == 2
    assert "--visits 9 differs" in capsys.readouterr().err
    assert main(["--run", run, "--max-generations", "0", "--max-hours", "0.000001",
                 "--no-progress"]) == 0
    assert load_config(run).loop.max_hours == 0.000001


def test_bad_config_is_a_clear_error(tmp_path, capsys):
    run = tmp_path / "bad"
    run.mkdir()
    (run / "config.json").write_text('{"net": {"board_size": 5}, "gate": {"gamez": 4}}')
    assert main(["--run", str(run)]) == 2
    assert "gamez" in capsys.readouterr().err


def _net(tmp_path, seed, step):
    cfg = NetConfig.from_name("b1c8", board_size=5)
    torch.manual_seed(seed)
    path = str(tmp_path / f"n{seed}.pt")
    save_checkpoint(path, build_net(cfg), cfg, step)
    return path


@pytest.mark.parametrize("lanes", [1, 2])
def test_gate_with_sprt_stops_early_or_plays_all(tmp_path, lanes):
    a, b = _net(tmp_path, 1, 10), _net(tmp_path, 2, 0)
    res = gating.gate(a, b, games=6, visits=4, board_size=5, komi=7.5, sprt=(0, 400), seed=3,
                      parallel_games=2, leaf_batch=4, lanes=lanes)
    assert res["games"] == res["wins"] + res["draws"] + res["losses"]
    assert res["sprt"] is not None
    decided = res["sprt"]["decision"]
    assert res["games"] == 6 or decided is not None
    assert res["promoted"] == (decided == "H1" if decided else res["score"] >= 0.55)
    assert (res["candidate_step"], res["best_step"]) == (10, 0)


def test_gate_in_lanes_plays_every_game_once_and_the_same_games_again(tmp_path):
    a, b = _net(tmp_path, 1, 10), _net(tmp_path, 2, 0)
    kw = dict(games=6, visits=4, board_size=5, komi=7.5, seed=3, parallel_games=4, leaf_batch=4)
    threads = torch.get_num_threads()
    runs = [gating.gate(a, b, sgf_dir=tmp_path / name, lanes=2, **kw) for name in ("x", "y")]
    for res in runs:
        assert res["games"] == res["wins"] + res["draws"] + res["losses"] == 6
    assert runs[0]["wins"] == runs[1]["wins"] and runs[0]["losses"] == runs[1]["losses"]
    names = sorted(os.listdir(tmp_path / "x"))
    assert names == [f"gate-{i:04d}.sgf" for i in range(6)]
    for name in names:  # the same games, whichever lane's thread ran first
        assert (tmp_path / "x" / name).read_text() == (tmp_path / "y" / name).read_text()
    assert torch.get_num_threads() == threads  # the lanes' 1 thread each is given back


def test_gate_precision_is_a_run_setting_and_plays_both_networks_alike(tmp_path, caplog):
    a, b = _net(tmp_path, 1, 10), _net(tmp_path, 2, 0)
    res = gating.gate(a, b, games=2, visits=4, board_size=5, komi=7.5, seed=3,
                      parallel_games=2, leaf_batch=4, precision="int8")
    assert res["games"] == 2
    assert res["precision"] == "int8" or "int8 unavailable" in caplog.text
    with pytest.raises(ValueError, match="precision"):
        GateConfig(precision="fp8")
    run = str(tmp_path / "run")
    assert main(["--run", run, *SMALL, "--gate-precision", "bf16", "--max-generations", "0",
                 "--max-games", "0", "--max-hours", "0.000001"]) == 0
    assert load_config(run).gate.precision == "bf16"


def test_ledger_elo_is_cumulative_and_finite(tmp_path):
    run = str(tmp_path)
    gating.start_ledger(run, 0, "checkpoints/step-0.pt")

    def result(step, w, d, l):
        return {"candidate": f"checkpoints/step-{step}.pt", "candidate_step": step,
                "games": w + d + l, "score": (w + d / 2) / (w + d + l), "date": "today",
                "promoted": (w + d / 2) / (w + d + l) >= 0.55,
                "elo_finite": gating._finite_elo(w, d, l)}

    gating.record_gate(run, result(10, 3, 0, 1))  # 75%: +190.8
    gating.record_gate(run, result(20, 2, 0, 2))  # 50%: kept out
    gating.record_gate(run, result(30, 4, 0, 0))  # 100%: counted as 3.5 / 4, finite
    led = gating.read_ledger(run)
    assert len(led["gates"]) == 3
    gens = led["generations"]
    assert [g["step"] for g in gens] == [0, 10, 30]
    assert gens[1]["elo"] == pytest.approx(190.85, abs=0.01)
    assert gens[2]["elo"] == pytest.approx(190.85 + 338.04, abs=0.01)


def test_selfplay_in_worker_processes_and_calibrated_resignation(tmp_path):
    """Two self-play processes share a cycle (one seed stream each, no name clash); until
    enough played-out games exist nobody resigns, then the threshold is the largest one that
    would not have resigned a single one of them falsely (4 games: 5% allows none)."""
    from dataclasses import replace

    from selfplay.zero import ZeroLoop, played_out_games

    run = str(tmp_path / "zero5")
    assert main(["--run", run, *SMALL, "--workers", "2", "--resign-threshold", "0.9",
                 "--max-generations", "1"]) == 0
    names = [f for f in os.listdir(os.path.join(run, "games")) if f.endswith(".npz")]
    assert len(names) == 4 and len({n.split("-")[1] for n in names}) == 2  # two seed streams
    with open(os.path.join(run, "logs", "zero.log"), encoding="utf-8") as f:
        log = f.read()
    assert "in 2 processes" in log and "resignation below 0.000" in log
    cfg = load_config(run)
    played = played_out_games(os.path.join(run, "games"), 100)
    assert len(played) == 4  # resignation was off: every game is played out
    assert ZeroLoop(run, cfg, progress=False).resign_threshold() == 0.0  # 4 < 20 games
    enough = replace(cfg, loop=replace(cfg.loop, resign_min_games=4))
    t = ZeroLoop(run, enough, progress=False).resign_threshold()
    assert 0 < t <= 0.9
    for winner, to_move, values in played:
        mine = values if winner == 0 else values[to_move == winner]
        assert mine.min() >= t  # would not have resigned falsely
    off = ZeroLoop(run, replace(cfg, loop=replace(cfg.loop, resign_calibration=False)),
                   progress=False)
    assert off.resign_threshold() == 0.9


def test_init_starts_a_new_run_from_an_exported_network(tmp_path, capsys):
    cfg = NetConfig.from_name("b1c8", board_size=5)
    torch.manual_seed(7)
    start = str(tmp_path / "start.pt")
    source = build_net(cfg)
    save_checkpoint(start, source, cfg, 4200)  # an exported network: no optimizer state
    run = str(tmp_path / "more")
    flags = [a for a in SMALL if a not in ("--size", "5", "--net", "b1c8")]
    assert main(["--run", run, "--init", start, *flags, "--max-generations", "1"]) == 0
    assert load_config(run).loop.init_from == start
    assert load_config(run).net == cfg  # size and network taken from the file
    gen0 = read_payload(os.path.join(run, "checkpoints", "step-0.pt"))
    assert gen0["step"] == 0
    for k, v in source.state_dict().items():
        assert torch.equal(gen0["model"][k], v), k  # generation 0 is the given network
    assert ledger(run)["gates"][0]["best_step"] == 0
    # a resume needs no --init; another --init, or one that contradicts the file, is refused
    other = _net(tmp_path, 8, 0)
    assert main(["--run", run, "--init", other, "--max-generations", "0"]) == 2
    assert "--init is for a new run" in capsys.readouterr().err
    assert main(["--run", str(tmp_path / "x"), "--init", start, "--size", "9"]) == 2
    assert "5x5 network, --size 9" in capsys.readouterr().err
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    assert main(["--run", str(tmp_path / "y"), "--init", str(broken)]) == 2
    assert "broken.pt" in capsys.readouterr().err
