"""The residual network, checkpoints and the network evaluator inside MCTS (small nets only)."""
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

from engine import mcts
from engine.board import BLACK, WHITE
from engine.coords import parse_vertex
from engine.game import GameState
from engine.player import Budget
from engine.search import MCTSPlayer, SearchConfig
from nets.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from nets.evaluator import NetEvaluator
from nets.features import PLANES, fill_planes, history_stack
from nets.heap import _glibc
from nets.resnet import BLOCK_KINDS, NetConfig, build_net

torch.set_num_threads(1)


def tiny(n=9, **options):
    torch.manual_seed(0)
    return build_net(NetConfig.from_name("tiny", board_size=n, **options))


def play_game(n, moves):
    g = GameState(n, komi=7.5)
    for v in moves:
        g.play(g.to_move, parse_vertex(v, n))
    return g


# ---------------------------------------------------------------------------------------------
# Network

@pytest.mark.parametrize("n", [9, 19])
@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_output_shapes(n, kind):
    torch.manual_seed(0)
    cfg = NetConfig(board_size=n, blocks=3, channels=8, block_kind=kind, value_hidden=16,
                    ownership=(kind == "wide"), global_pooling=(kind in ("preact", "bottleneck")))
    net = build_net(cfg).eval()
    x = torch.randn(3, PLANES, n, n)
    policy, value, owner = net(x)
    assert policy.shape == (3, n * n + 1)
    assert value.shape == (3,)
    assert torch.all(value.abs() <= 1.0)
    if cfg.ownership:
        assert owner.shape == (3, n * n) and torch.all(owner.abs() <= 1.0)
    else:
        assert owner is None


def test_global_pooling_blocks_count_back_from_the_last():
    cfg = NetConfig(board_size=9, blocks=6, channels=8, global_pooling=True)
    net = build_net(cfg)
    assert [b.gpool is not None for b in net.tower] == [False, False, True, False, False, True]


def test_sizes_by_name():
    cfg = NetConfig.from_name("b6c64", board_size=9)
    assert (cfg.blocks, cfg.channels, cfg.board_size, cfg.in_planes) == (6, 64, 9, 17)
    assert cfg.name == "b6c64"
    assert NetConfig.from_name(cfg.name, board_size=9) == cfg
    assert NetConfig.from_dict(cfg.to_dict()) == cfg
    t = NetConfig.from_name("tiny", board_size=19, block_kind="preact")
    assert (t.blocks, t.channels, t.block_kind) == (1, 8, "preact")
    with pytest.raises(ValueError, match="b<blocks>c<channels>"):
        NetConfig.from_name("big")
    with pytest.raises(ValueError, match="block_kind"):
        NetConfig(block_kind="dense")


def test_wrong_input_shape_is_refused():
    net = tiny(9).eval()
    with pytest.raises(ValueError, match=r"\[B, 17, 9, 9\]"):
        net(torch.zeros(1, PLANES, 19, 19))


def test_tiny_net_overfits_one_batch():
    net = tiny(9)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(16, PLANES, 9, 9, generator=g) < 0.3).float()
    target_move = torch.randint(0, 82, (16,), generator=g)
    target_z = torch.randint(0, 2, (16,), generator=g).float() * 2 - 1
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    losses = []
    for _ in range(100):
        policy, value, _ = net(x)
        loss = nn.functional.cross_entropy(policy, target_move) + ((value - target_z) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])


# ---------------------------------------------------------------------------------------------
# Checkpoints

def test_checkpoint_round_trip(tmp_path):
    net = tiny(9, ownership=True, global_pooling=True)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(4, PLANES, 9, 9)
    net.train()
    loss = net(x)[0].sum()  # one step so batch-norm statistics and momentum are not defaults
    loss.backward()
    opt.step()
    net.eval()
    path = tmp_path / "net.pt"
    save_checkpoint(path, net, net.config, step=123, optimizer=opt, extra={"games": 7})
    assert os.listdir(tmp_path) == ["net.pt"]  # no temporary file left behind
    model, cfg, step, payload = load_checkpoint(path, board_size=9)
    assert cfg == net.config and step == 123 and payload["extra"] == {"games": 7}
    assert not model.training
    with torch.no_grad():
        for a, b in zip(net(x), model(x)):
            assert torch.equal(a, b)
    opt2 = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(payload["optimizer"])
    assert opt2.state_dict()["param_groups"][0]["momentum"] == 0.9


def test_bad_checkpoints_raise_checkpoint_error(tmp_path):
    net = tiny(9)
    good = tmp_path / "good.pt"
    save_checkpoint(good, net, net.config, step=1)

    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")

    with pytest.raises(CheckpointError, match=r"9x9 boards, asked for 19x19"):
        load_checkpoint(good, board_size=19)

    data = good.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(truncated)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(garbage)

    other = tmp_path / "other.pt"
    torch.save({"state_dict": net.state_dict()}, other)
    with pytest.raises(CheckpointError, match="not a network checkpoint"):
        load_checkpoint(other)

    assert isinstance(CheckpointError("x"), ValueError)
    load_checkpoint(good, board_size=9)  # the good file is untouched by all of this


@pytest.mark.parametrize("family", ["zero", "lee"])
def test_payloads_that_do_not_build_a_network_are_refused_alike(tmp_path, family):
    """``build_from_payload`` serves both network families: a bad config, a board size that
    disagrees with the config and weights of another network are named the same way."""
    from nets import lee
    if family == "zero":
        net, load, kind = tiny(5), load_checkpoint, "network"
        save_checkpoint(tmp_path / "good.pt", net, net.config, step=1)
    else:
        torch.manual_seed(0)
        config = lee.PolicyConfig.from_name("l3k8", board_size=5)
        net, load, kind = lee.build(config), lee.load_network, "lee-policy"
        lee.save_policy(tmp_path / "good.pt", net, config, step=1)
    payload = torch.load(tmp_path / "good.pt", weights_only=True)

    def broken(**fields):
        path = tmp_path / "broken.pt"
        torch.save({**payload, **fields}, path)
        return path

    with pytest.raises(CheckpointError, match=r"broken.pt: bad network config"):
        load(broken(net_config={**payload["net_config"], "board_size": -1}))
    with pytest.raises(CheckpointError, match="board_size 7 disagrees with the network config's 5"):
        load(broken(board_size=7))
    with pytest.raises(CheckpointError, match=r"network is for 7x7 boards, asked for 5x5"):
        load(broken(board_size=7), board_size=5)  # the caller's size is checked first
    with pytest.raises(CheckpointError, match=f"weights do not fit {kind} {net.config.name}"):
        load(broken(model={"w": torch.zeros(1)}))
    model = load(tmp_path / "good.pt", board_size=5)[0]
    assert not model.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                  net.state_dict().values()))


def test_failed_save_keeps_the_old_checkpoint(tmp_path):
    net = tiny(9)
    path = tmp_path / "net.pt"
    save_checkpoint(path, net, net.config, step=5)
    with pytest.raises(ValueError, match="not plain data"):
        save_checkpoint(path, net, net.config, step=6, extra={"bad": object()})
    with pytest.raises(Exception):  # fails while writing: the temporary file must go
        save_checkpoint(path, net, net.config, step=7, optimizer=_Unpicklable())
    assert os.listdir(tmp_path) == ["net.pt"]
    assert load_checkpoint(path)[2] == 5


class _Unpicklable:
    def state_dict(self):
        return {"f": lambda: 0}


# ---------------------------------------------------------------------------------------------
# Evaluator

class OwnStonesNet(nn.Module):
    """Not equivariant on purpose: logits = 10 on the side to move's stones (plane 0), so the
    answer only lands on the right point if the evaluator undoes its symmetries correctly."""

    def forward(self, x):
        b, _, n, _ = x.shape
        logits = torch.cat([10 * x[:, 0].reshape(b, n * n), torch.zeros(b, 1)], dim=1)
        value = torch.full((b,), 0.5)
        return logits, value, None


def test_evaluator_undoes_symmetries():
    g = play_game(9, ["C6", "E5"])  # black to move, its stone on C6 (off every axis)
    ev = NetEvaluator(OwnStonesNet(), 9, device="cpu", random_symmetry=True, seed=4)
    priors, values = ev.evaluate_states([g] * 16)
    c6 = parse_vertex("C6", 9)
    r, c = c6 // 11 - 1, c6 % 11 - 1
    assert np.all(np.argmax(priors, axis=1) == r * 9 + c)
    assert np.allclose(priors.sum(axis=1), 1.0)
    assert np.allclose(values, 0.75)  # v = 0.5 -> win probability (v + 1) / 2


def test_evaluate_states_matches_a_direct_forward_pass():
    net = tiny(9).eval()
    states = [play_game(9, ["D4", "E5", "C3"]), play_game(9, ["G7"]), GameState(9)]
    ev = NetEvaluator(net, 9, device="cpu", random_symmetry=False)
    priors, values = ev.evaluate_states(states)
    x = np.zeros((3, PLANES, 9, 9), dtype=np.float32)
    for i, s in enumerate(states):
        fill_planes(history_stack(s), s.to_move, 9, x[i])
    with torch.no_grad():
        logits, v, _ = net(torch.from_numpy(x))
    assert np.allclose(priors, torch.softmax(logits, 1).numpy(), atol=1e-6)
    assert np.allclose(values, (v.numpy() + 1) / 2, atol=1e-6)
    assert [s.to_move for s in states] == [WHITE, WHITE, BLACK]


def test_bf16_forward_pass_stays_close_to_float32():
    net = tiny(9).eval()
    states = [play_game(9, ["D4", "E5", "C3"]), play_game(9, ["G7"]), GameState(9)]
    exact = NetEvaluator(net, 9, device="cpu", random_symmetry=False)
    fast = NetEvaluator(net, 9, device="cpu", random_symmetry=False, precision="bf16")
    assert (exact.precision, fast.precision) == ("fp32", "bf16")
    assert fast.graph is not None  # the bf16 graph
    eager = NetEvaluator(net, 9, device="cpu", random_symmetry=False, precision="bf16",
                         graph=False)
    assert eager.graph is None
    pe, ve = eager.evaluate_states(states)
    p32, v32 = exact.evaluate_states(states)
    p16, v16 = fast.evaluate_states(states)
    assert p16.dtype == np.float32 and np.allclose(p16.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(p16 - p32).max() < 0.02 and np.abs(v16 - v32).max() < 0.02
    assert not np.array_equal(p16, p32)  # bf16 really ran
    assert np.abs(pe - p32).max() < 0.02 and np.abs(ve - v32).max() < 0.02


def test_int8_shipped_network_stays_close_to_float32_and_leaves_the_model_alone():
    from nets import shipped_weights
    from nets.quantize import calibration_planes
    model, _, _, _ = load_checkpoint(shipped_weights(9))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    exact = NetEvaluator(model, 9, device="cpu", random_symmetry=False)
    fast = NetEvaluator(model, 9, device="cpu", random_symmetry=False, precision="int8")
    assert (exact.precision, fast.precision) == ("fp32", "int8") and fast.graph is not None
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    # positions the calibration did not see (another seed), and an opening
    x = calibration_planes(9, positions=64, seed=5)
    p32, v32 = exact.forward(x)
    p8, v8 = fast.forward(x)
    assert p8.shape == p32.shape and np.allclose(p8.sum(axis=1), 1.0, atol=1e-4)
    kl = (p32 * (np.log(p32 + 1e-12) - np.log(p8 + 1e-12))).sum(axis=1)
    assert kl.mean() < 0.02 and np.abs(v8 - v32).mean() < 0.03
    assert (p8.argmax(1) == p32.argmax(1)).mean() > 0.6
    assert not np.array_equal(p8, p32)  # int8 really ran
    state = play_game(9, ["E5", "C3"])
    q32, w32 = exact.evaluate_states([state])
    q8, w8 = fast.evaluate_states([state])
    assert abs(float(w8[0]) - float(w32[0])) < 0.05


@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_int8_graph_of_every_block_kind_follows_the_float32_graph(kind):
    from nets.evaluator import inference_graph
    from nets.quantize import calibration_planes, int8_graph
    torch.manual_seed(1)
    cfg = NetConfig(board_size=7, blocks=3, channels=8, block_kind=kind, value_hidden=16,
                    ownership=True, global_pooling=(kind in ("classic", "bottleneck")))
    net = build_net(cfg).eval()
    graph = int8_graph(net, 7)
    assert graph is not None
    x = torch.from_numpy(calibration_planes(7, positions=24, seed=9))
    with torch.inference_mode():
        q_logits, q_value = graph(x)
        logits, value = inference_graph(net, 7)(x)
    assert q_logits.shape == (24, 50) and q_value.shape == (24,)
    assert (q_logits - logits).abs().max() < 0.05 and (q_value - value).abs().max() < 0.05


def test_int8_graph_keeps_the_global_pooling_bias_in_float32():
    # the bias broadcast over the board as a quantized add was half of the forward pass
    from nets.quantize import int8_graph
    torch.manual_seed(2)
    cfg = NetConfig(board_size=7, blocks=3, channels=8, value_hidden=16, global_pooling=True)
    text = str(int8_graph(build_net(cfg).eval(), 7, cache=False).graph)
    assert "quantized::add(" not in text  # the residual adds are fused add_relu
    assert text.count("aten::add_(") == 1  # one pooling block in three, in place
    assert text.count("aten::linear(") == 1  # its fully connected layer in float32 too


def test_int8_graph_is_cached_by_weights_and_rebuilt_when_damaged(tmp_path, monkeypatch, caplog):
    from nets import quantize
    from nets.quantize import calibration_planes, int8_graph
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "alphago-py" / "int8"
    torch.manual_seed(2)
    net = tiny(7).eval()
    x = torch.from_numpy(calibration_planes(7, positions=16, seed=4))
    with torch.inference_mode():
        built = int8_graph(net, 7)(x)
        [saved] = list(folder.iterdir())
        loaded = int8_graph(net, 7)(x)  # from the file
        assert all(torch.equal(a, b) for a, b in zip(built, loaded))
        assert all(torch.equal(a, b) for a, b in zip(built, int8_graph(net, 7, cache=False)(x)))
        saved.write_bytes(b"not a graph")  # a damaged file: rebuilt, and replaced
        with caplog.at_level("WARNING", logger="nets.quantize"):
            again = int8_graph(net, 7)(x)
        assert "unreadable" in caplog.text
        assert all(torch.equal(a, b) for a, b in zip(built, again))
        assert saved.read_bytes() != b"not a graph"
        # other weights, another file; only the newest CACHE_KEEP stay
        monkeypatch.setattr(quantize, "CACHE_KEEP", 1)
        other = tiny(7).eval()
        with torch.no_grad():
            next(other.parameters()).add_(0.5)
        int8_graph(other, 7)
        assert len(list(folder.iterdir())) == 1 and not saved.exists()
    # a cache that cannot be written: the graph still comes
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    (tmp_path / "file").write_text("a file where the folder would go")
    assert int8_graph(net, 7) is not None


def test_int8_is_cpu_only_and_for_the_engines_network(tmp_path, monkeypatch, caplog):
    from nets import evaluator, quantize
    assert evaluator.resolve_precision("int8", torch.device("cpu")) == "int8"
    with pytest.raises(ValueError, match="CPU only"):
        evaluator.resolve_precision("int8", torch.device("cuda"))
    with pytest.raises(ValueError, match="AlphaZeroNet"):
        NetEvaluator(OwnStonesNet(), 9, device="cpu", precision="int8")

    def no_fx(*args, **kwargs):
        raise RuntimeError("no quantization backend")

    # a PyTorch that cannot quantize: the log says so and float32 runs (an empty cache, so
    # nothing built by an earlier test answers instead)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    import torch.ao.quantization.quantize_fx as fx
    monkeypatch.setattr(fx, "prepare_fx", no_fx)
    with caplog.at_level("WARNING"):
        ev = NetEvaluator(tiny(9).eval(), 9, device="cpu", precision="int8")
    assert ev.precision == "fp32" and ev.graph is not None
    assert "int8 graph unavailable" in caplog.text and "running in float32" in caplog.text
    assert quantize.int8_graph(tiny(9).eval(), 9) is None


def graph_test_net(kind, seed):
    """A 7x7 network of block ``kind`` whose batch norm is not the identity, so folding it
    into the convolutions matters."""
    torch.manual_seed(seed)
    cfg = NetConfig(board_size=7, blocks=3, channels=8, block_kind=kind, value_hidden=16,
                    ownership=(kind == "wide"), global_pooling=(kind in ("preact", "bottleneck")))
    net = build_net(cfg).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net


@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_inference_graph_gives_the_eager_outputs_at_any_batch_size(kind):
    from nets.evaluator import inference_graph
    net = graph_test_net(kind, 1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    graph = inference_graph(net, 7)
    assert graph is not None
    for b in (1, 3, 8, 21):  # traced at batch 8
        x = torch.randn(b, PLANES, 7, 7)
        with torch.no_grad():
            logits, value, _ = net(x)
            g_logits, g_value = graph(x)
        assert g_logits.shape == logits.shape and g_value.shape == value.shape
        assert torch.allclose(g_logits, logits, atol=1e-4)
        assert torch.allclose(g_value, value, atol=1e-5)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # untouched


@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_bf16_graph_follows_the_eager_module_under_autocast(kind):
    from nets.evaluator import inference_graph
    net = graph_test_net(kind, 3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    graph = inference_graph(net, 7, "bf16")
    assert graph is not None
    for b in (1, 5, 8, 30):  # traced at batch 8
        x = torch.randn(b, PLANES, 7, 7)
        with torch.no_grad():
            logits, value, _ = net(x)  # float32
            with torch.autocast("cpu", dtype=torch.bfloat16):
                a_logits, a_value, _ = net(x)
            g_logits, g_value = graph(x)
        assert g_logits.dtype == torch.bfloat16 and g_logits.shape == logits.shape
        assert g_value.shape == value.shape
        g_logits, g_value = g_logits.float(), g_value.float()
        # within bf16 rounding (8 bits of mantissa) of float32, as close as autocast itself is
        scale = logits.abs().max()
        assert (g_logits - logits).abs().max() < 0.04 * scale
        assert (g_value - value).abs().max() < 0.04
        assert (g_logits - a_logits.float()).abs().max() < 0.04 * scale
        assert not torch.equal(g_logits, logits)  # bf16 really ran
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # untouched
    with pytest.raises(ValueError, match="fp32 or bf16"):
        inference_graph(net, 7, "int8")


def test_evaluator_runs_the_graph_on_the_cpu_and_the_eager_module_otherwise(monkeypatch, caplog):
    net = tiny(9).eval()
    states = [play_game(9, ["D4", "E5", "C3"]), GameState(9)]
    fast = NetEvaluator(net, 9, device="cpu", random_symmetry=False)
    eager = NetEvaluator(net, 9, device="cpu", random_symmetry=False, graph=False)
    assert fast.graph is not None and eager.graph is None
    assert NetEvaluator(OwnStonesNet(), 9, device="cpu").graph is None  # not the engine's net
    p1, v1 = fast.evaluate_states(states)
    p0, v0 = eager.evaluate_states(states)
    assert np.allclose(p1, p0, atol=1e-5) and np.allclose(v1, v0, atol=1e-5)

    def no_torchscript(*args, **kwargs):
        raise RuntimeError("TorchScript is not available")

    monkeypatch.setattr(torch.jit, "trace", no_torchscript)
    with caplog.at_level("WARNING", logger="nets.evaluator"):
        fallback = NetEvaluator(net, 9, device="cpu", random_symmetry=False)
    assert fallback.graph is None and "eager module" in caplog.text
    p2, v2 = fallback.evaluate_states(states)
    assert np.array_equal(p2, p0) and np.array_equal(v2, v0)


def test_auto_precision_uses_bf16_only_where_the_cpu_has_it(monkeypatch):
    from nets import evaluator
    cpu = torch.device("cpu")
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(evaluator, "cpu_has_native_bf16", lambda: native)
        assert evaluator.resolve_precision("auto", cpu) == expected
    # int8 only for a caller that allows it, and only with int8 dot products
    for dot, ok, expected in ((True, True, "int8"), (True, False, "fp32"), (False, True, "fp32")):
        monkeypatch.setattr(evaluator, "cpu_has_int8_dot", lambda: dot)
        assert evaluator.resolve_precision("auto", cpu, int8_ok=ok) == expected
    assert evaluator.resolve_precision("bf16", cpu, int8_ok=True) == "bf16"  # a name is kept
    assert evaluator.resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        evaluator.resolve_precision("fp16", cpu)


def test_players_take_the_precision_option(tmp_path, monkeypatch):
    from engine.search import make_player
    ckpt = str(tmp_path / "tiny9.pt")
    net = tiny(9)
    save_checkpoint(ckpt, net, net.config, 0)
    for precision in ("fp32", "bf16", "int8"):
        player = make_player("zero", weights=ckpt, precision=precision, visits=8)
        assert player.search.evaluator.precision == precision
        state = GameState(9)
        assert state.is_legal(BLACK, player.genmove(state, BLACK, None))
    # auto: int8 for a player on a CPU with int8 dot products, whatever bf16 support it has
    from nets import evaluator
    monkeypatch.setattr(evaluator, "cpu_has_int8_dot", lambda: True)
    assert make_player("zero", weights=ckpt, visits=8).search.evaluator.precision == "int8"
    monkeypatch.setattr(evaluator, "cpu_has_int8_dot", lambda: False)
    monkeypatch.setattr(evaluator, "cpu_has_native_bf16", lambda: False)
    assert make_player("zero", weights=ckpt, visits=8).search.evaluator.precision == "fp32"
    make_player("mcts", precision="bf16")  # no network: accepted and unused
    with pytest.raises(ValueError, match="precision"):
        make_player("zero", weights=ckpt, precision="fp8")


def test_cache_answers_repeated_positions():
    net = tiny(9)
    states = [play_game(9, ["D4", "E5"]), play_game(9, ["E5"])]
    ev = NetEvaluator(net, 9, device="cpu", cache_size=10, seed=1)
    p1, v1 = ev.evaluate_states(states)
    p2, v2 = ev.evaluate_states(states)
    assert ev.hits == 2 and ev.evaluated == 2
    assert np.array_equal(p1, p2) and np.array_equal(v1, v2)


def test_evaluator_refuses_another_board_size():
    with pytest.raises(ValueError, match="9x9"):
        NetEvaluator(tiny(9), 19, device="cpu")
    ev = NetEvaluator(tiny(9), 9, device="cpu")
    with pytest.raises(ValueError, match="9x9"):
        ev.evaluate_states([GameState(19)])


def test_net_evaluator_drives_mcts_genmove():
    ev = NetEvaluator(tiny(9), 9, device="cpu", seed=2, cache_size=1000)
    cfg = SearchConfig(lam=0.0, expand_threshold=1, batch_size=8, seed=2, resign_threshold=0.0)
    player = MCTSPlayer(cfg, ev)
    g = GameState(9, komi=7.5)
    for _ in range(8):
        color = g.to_move
        move = player.genmove(g, color, Budget(visits=48))
        assert g.is_legal(color, move)
        tree = player.search.tree
        used = int(tree[mcts.T_META][mcts.T_COUNT])
        assert np.all(tree[mcts.T_VL][:used] == 0)  # no virtual loss left in the tree
        assert int(tree[mcts.T_N][0]) >= 48
        # the net filled value-net statistics only (lam = 0: no rollouts)
        assert int(tree[mcts.T_NR][:used].sum()) == 0 and int(tree[mcts.T_NV][0]) > 0
        g.play(color, move)
    assert ev.evaluated > 0


_HEAP_CHURN = """
import resource, sys
import numpy as np, torch
torch.set_num_threads(1)
from nets.resnet import NetConfig, build_net
net = build_net(NetConfig(board_size=9, blocks=2, channels=32)).eval()
if sys.argv[1] == "evaluator":
    from nets.evaluator import NetEvaluator
    NetEvaluator(net, 9, device="cpu", graph=False)
faults = []
with torch.inference_mode():
    for i in range(40):
        # a search's pattern between passes: batches of two sizes, and an array of its own
        # that outlives each pass
        x = torch.zeros(64 if i % 2 else 256, 17, 9, 9)
        held = np.ones(1 << 16 if i % 2 else 1 << 17)
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        net(x)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(sum(faults[10:]) / 30)
"""


@pytest.mark.skipif(not _glibc(), reason="the heap setting is glibc's")
def test_cpu_evaluator_keeps_the_memory_of_forward_passes_mapped():
    import subprocess
    import sys

    def faults_per_pass(mode):
        out = subprocess.run([sys.executable, "-c", _HEAP_CHURN, mode], capture_output=True,
                             text=True, check=True, cwd=os.path.dirname(os.path.dirname(
                                 os.path.abspath(__file__))))
        return float(out.stdout.split()[-1])

    default = faults_per_pass("plain")
    if default < 500:
        pytest.skip(f"this libc keeps the memory anyway ({default:.0f} faults a pass)")
    # a batch-256 pass writes about 9,000 pages of activations; once an evaluator has set the
    # heap up, they stay mapped from pass to pass
    assert faults_per_pass("evaluator") < default / 10
