"""Int8 inference of the AlphaGo Zero network on the CPU (``precision="int8"``).

Post-training static quantization with PyTorch's FX graph mode: batch norm is folded into
the convolutions, convolution and linear weights become int8 (per output channel) and the
activations int8 with scales calibrated on sample positions; what has no int8 kernel (tanh)
runs in float32 between a dequantize and a quantize, and so does each global-pooling bias on
purpose (its int8 form, a broadcasting quantized add, took half the time of the shipped
network's forward pass; with the bias in float32 the int8 graph runs 2.3x faster). The result is
a frozen TorchScript graph with the interface of ``nets.evaluator.inference_graph``: float32
planes [B, 17, N, N] -> (policy logits [B, N*N+1], value [B]); the ownership head is left out.

Why: on a CPU with int8 dot-product instructions (AVX-512 VNNI, AMX) the int8 convolutions
are several times faster than float32 ones, most of all for the wider networks (measured in
docs/BENCHMARKS.md). The price is a small change in the outputs: with the shipped 9x9 network
(stage 7, step 26700), on 256 positions of random games, the policy moves by a KL divergence
of about 0.011 on average (0.07 at most), the win probability by about 0.015 (0.10 at most),
and the top move is the same in 92% of them (``tests/test_nets.py`` bounds these). Played in
int8 at 1 s per move that network beat pure MCTS 70% of the time (docs/ZERO-9x9.md): the
faster search more than pays for the change.

Calibration positions: ``calibration_planes`` plays seeded random games (uniform legal moves,
own eyes kept) and takes every few positions, so a quantized network is the same on every
run. A caller with real positions (self-play) may pass its own planes instead.

Cache: building the graph (FX passes, tracing, calibration) takes 1-3 s, most of the GTP
engine's first answer on 9x9. A graph built on the default calibration is saved as
TorchScript in ``cache_folder()`` (``$XDG_CACHE_HOME/alphago-py/int8`` or
``~/.cache/alphago-py/int8``), named by a hash of the network's weights, the board size,
the PyTorch version and the quantized backend; the next load of the same network takes
about 0.05 s and gives the same outputs. A cache file that cannot be read is rebuilt, a
folder that cannot be written is skipped, and only the newest ``CACHE_KEEP`` files are kept.
"""
import contextlib
import copy
import hashlib
import logging
import os
import sys
import warnings

import numpy as np
import torch

logger = logging.getLogger("nets.quantize")
CACHE_VERSION = 2  # raise when the recipe (calibration, qconfig) changes: old files go unused
CACHE_KEEP = 16  # cached graphs kept, newest first


def cache_folder():
    """Folder of the cached int8 graphs (read from the environment at each call)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "alphago-py", "int8")


def _cache_name(model, board_size):
    """File name of ``model``'s graph: what the graph depends on, hashed."""
    h = hashlib.sha256()
    h.update(f"{CACHE_VERSION} {board_size} {torch.__version__} "
             f"{torch.backends.quantized.engine}".encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"{h.hexdigest()[:32]}.pt"


@contextlib.contextmanager
def _quiet_stderr():
    """File descriptor 2 to /dev/null for a moment: loading quantized tensors prints a
    deprecation notice from C++, past Python's warning filters, into the GTP engine's log."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _load_cached(path, example):
    """The graph saved at ``path``, run once on ``example`` (a damaged file fails here, not in
    the first search), or None."""
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            if not os.path.exists(path):
                return None
            with _quiet_stderr():
                graph = torch.jit.load(path, map_location="cpu")
            graph(example)
        os.utime(path)  # most recently used
        return graph
    except FileNotFoundError:
        return None
    except Exception as e:  # a damaged or foreign file: build again and replace it
        logger.warning("int8 cache %s unreadable (%s): rebuilding it", path, type(e).__name__)
        return None


def _save_cached(path, graph):
    from engine import atomic
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic.atomic_file(path, "wb") as f:
            torch.jit.save(graph, f)
        folder = os.path.dirname(path)
        files = sorted((os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".pt")),
                       key=os.path.getmtime, reverse=True)
        for old in files[CACHE_KEEP:]:
            os.unlink(old)
    except Exception as e:  # a read-only home, a full disk: the graph still serves this run
        logger.info("int8 graph not cached in %s (%s: %s)", os.path.dirname(path),
                    type(e).__name__, e)


class _Traceable(torch.nn.Module):
    """(policy logits, value) of an AlphaZeroNet through ``outputs``: no input check and no
    ownership head, so FX can trace it."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        policy, value, _ = self.model.outputs(x, with_owner=False)
        return policy, value


def calibration_planes(board_size, positions=256, seed=0):
    """float32[positions, 17, N, N]: input planes of positions from seeded random games, about
    8 a game, spread over games of random lengths (side to move alternating)."""
    from engine.game import GameState
    from engine.player import RandomPlayer
    from nets.features import PLANES, fill_planes, history_stack

    n = int(board_size)
    rng = np.random.default_rng(seed)
    player = RandomPlayer(seed=seed)
    out = np.zeros((positions, PLANES, n, n), dtype=np.float32)
    k = 0
    while k < positions:
        state = GameState(n, komi=7.5)
        stop = int(rng.integers(1, n * n))  # game length before the last sample
        step = max(1, stop // 8)  # about 8 positions a game
        for move in range(stop):
            p = player.genmove(state, state.to_move, None)
            if p < 0:
                break
            state.play(state.to_move, p)
            if (move + 1) % step == 0 and k < positions:
                fill_planes(history_stack(state), state.to_move, n, out[k])
                k += 1
    return out


def int8_graph(model, board_size, planes=None, cache=True):
    """A frozen int8 TorchScript graph of ``model`` (an ``AlphaZeroNet``), calibrated on
    ``planes`` (float32[B, 17, N, N]; ``calibration_planes`` when None, and then read from or
    saved to the cache unless ``cache`` is False). The model itself is left untouched. None,
    with a warning in the log, when this PyTorch cannot build it."""
    cached = None
    if planes is None and cache:
        cached = os.path.join(cache_folder(), _cache_name(model, board_size))
        planes_in = getattr(getattr(model, "config", None), "in_planes", 17)
        graph = _load_cached(cached, torch.zeros(8, planes_in, board_size, board_size))
        if graph is not None:
            return graph
    graph = _build_int8_graph(model, board_size, planes)
    if graph is not None and cached is not None:
        _save_cached(cached, graph)
    return graph


def _build_int8_graph(model, board_size, planes):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from nets.resnet import GlobalPoolBias

    if planes is None:
        planes = calibration_planes(board_size)
    x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            # FX quantization's and TorchScript's deprecation notices
            warnings.simplefilter("ignore")
            net = _Traceable(copy.deepcopy(model).cpu().float().eval()).eval()
            mapping = get_default_qconfig_mapping(torch.backends.quantized.engine)
            for name, module in net.named_modules():
                if isinstance(module, GlobalPoolBias):
                    # float32 between one dequantize and one quantize: quantized, its
                    # per-channel bias is a broadcasting int8 add that took half the
                    # forward pass (b4c32, two such blocks: 3x slower than without them)
                    mapping.set_module_name(name, None)
            prepared = prepare_fx(net, mapping, example_inputs=(x[:8],))
            for i in range(0, x.shape[0], 64):
                prepared(x[i:i + 64])  # the observers record activation ranges
            quantized = convert_fx(prepared)
            graph = torch.jit.freeze(torch.jit.trace(quantized, x[:8], check_trace=False))
            graph(x[:8])  # the first calls pack the weights
            graph(x[:8])
    except Exception as e:  # no int8 backend, or an op FX cannot quantize
        logger.warning("int8 graph unavailable (%s: %s)", type(e).__name__,
                       str(e).splitlines()[0] if str(e) else "")
        return None
    return graph
