"""Network checkpoints: one file per saved network, written atomically, read safely.

A checkpoint is a ``torch.save`` of a plain dict (nothing but tensors, numbers, strings, lists and
dicts, so ``torch.load(weights_only=True)`` can read it without running pickled code)::

    format       "alphago-zero-net"  marks the file as ours
    version      FORMAT_VERSION      layout of this dict
    net_config   dict                ``NetConfig.to_dict()``: enough to rebuild the network
    board_size   int                 the board the network plays on (also in net_config)
    step         int                 training steps behind these weights
    model        state dict          the network's weights and batch-norm statistics
    optimizer    state dict or None  optimizer state, to resume training
    extra        dict or None        caller's plain data (e.g. learning-rate schedule, games seen)

``save_checkpoint`` writes through ``engine.atomic`` (a temporary file in the target's folder,
fsync, ``os.replace``), so a crash never leaves a half-written checkpoint under the real name.
``load_checkpoint`` turns every way of failing (missing, unreadable, truncated, not ours, a newer
version, a different board size than asked for, weights not matching the config) into a
``CheckpointError`` naming the file and the reason: ``read_payload`` checks the file,
``build_from_payload`` the network in it (for ``nets.lee``'s networks too).
"""
import os

import torch

from engine import atomic
from nets.resnet import NetConfig, build_net

FORMAT = "alphago-zero-net"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says which file and why."""


def save_checkpoint(path, model, net_config, step, optimizer=None, extra=None):
    """Write ``model``'s weights, its config, the training ``step`` and optionally the optimizer
    state and ``extra`` (plain data) to ``path`` atomically."""
    _check_plain(extra, "extra")
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "net_config": net_config.to_dict(),
        "board_size": int(net_config.board_size),
        "step": int(step),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": extra,
    }
    with atomic.atomic_file(path, "wb") as f:
        torch.save(payload, f)


_PLAIN = (type(None), bool, int, float, str, bytes)


def _check_plain(value, where):
    """Refuse data ``torch.load(weights_only=True)`` would not read back (it would be lost)."""
    if isinstance(value, _PLAIN) or isinstance(value, torch.Tensor):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(k, f"{where} key")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise ValueError(f"checkpoint {where}: {type(value).__name__} is not plain data "
                     f"(numbers, strings, lists, dicts, tensors)")


def read_payload(path, map_location="cpu"):
    """The checkpoint dict, checked for format and version (no network built)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, random bytes, a pickle with code in it, ...
        why = str(e).splitlines()[0] if str(e) else ""
        raise CheckpointError(f"checkpoint {path}: unreadable or corrupt file "
                              f"({type(e).__name__}: {why})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"checkpoint {path}: not a network checkpoint (format {found!r}, "
                              f"expected {FORMAT!r})")
    version = payload.get("version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path}: format version {version!r}, this engine reads "
                              f"version {FORMAT_VERSION}")
    for key in ("net_config", "board_size", "step", "model"):
        if key not in payload:
            raise CheckpointError(f"checkpoint {path}: field {key!r} is missing")
    return payload


def build_from_payload(path, payload, board_size=None, device="cpu",
                       config_from_dict=NetConfig.from_dict, build=build_net):
    """Rebuild the network of a checkpoint dict (``read_payload``) -> (model in eval mode on
    ``device``, config). ``config_from_dict`` / ``build`` parse the ``net_config`` and build
    the module: AlphaGo Zero's by default, ``nets.lee``'s for the Lee networks, so every
    family refuses a bad payload with the same messages. ``board_size``: the size the caller
    plays on; a network for another size is refused. ``path`` only names the file in the
    ``CheckpointError``."""
    saved = int(payload["board_size"])
    # the caller's size first: it needs no config, and answers the question the caller asked
    if board_size is not None and int(board_size) != saved:
        raise CheckpointError(f"checkpoint {path}: network is for {saved}x{saved} boards, "
                              f"asked for {int(board_size)}x{int(board_size)}")
    try:
        config = config_from_dict(payload["net_config"])
    except (TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"checkpoint {path}: bad network config ({e})") from None
    if config.board_size != saved:
        raise CheckpointError(f"checkpoint {path}: board_size {saved} disagrees with the network "
                              f"config's {config.board_size}")
    model = build(config)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as e:
        kind = getattr(config, "KIND", "network")  # Lee configs name their kind, Zero's do not
        raise CheckpointError(f"checkpoint {path}: weights do not fit {kind} "
                              f"{config.name} ({str(e).splitlines()[0]})") from None
    model.to(device)
    model.eval()
    return model, config


def load_checkpoint(path, board_size=None, map_location="cpu"):
    """Rebuild the network saved at ``path`` -> (model in eval mode, NetConfig, step, payload).
    ``board_size``: the size the caller plays on; a checkpoint for another size is refused."""
    payload = read_payload(path, map_location)
    model, config = build_from_payload(path, payload, board_size, map_location)
    return model, config, int(payload["step"]), payload
