"""Networks: the AlphaGo Zero ResNet (``resnet``), its input features (``features``),
checkpoints (``checkpoint``), batched evaluation (``evaluator``), training (``train``) and the
replay window (``replay``). This file imports nothing heavy: the GTP engine asks it for the
shipped networks before deciding whether torch is needed at all."""
import os

# Networks trained by this project's own AlphaGo Zero loop and kept in nets/weights/:
# board size -> file name. ``python -m gtp`` (player auto) plays them on their size.
SHIPPED = {9: "zero-9x9-b4c32.pt"}


def shipped_weights(board_size):
    """Path of the shipped network for ``board_size``, or None when there is none."""
    name = SHIPPED.get(board_size)
    if name is None:
        return None
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", name)
    return path if os.path.exists(path) else None


# AlphaGo Lee files trained by this project's Lee pipeline on generated teacher games
# (docs/LEE.md): board size -> {part: file name in nets/weights/}.
SHIPPED_LEE = {9: {"policy": "lee-9x9-policy.pt", "value": "lee-9x9-value.pt",
                   "rollout_model": "lee-9x9-rollout.npz", "tree_model": "lee-9x9-tree.npz"}}


def shipped_lee(part, board_size):
    """Path of a shipped AlphaGo Lee file (``part``: policy, value, rollout_model or tree_model) for
    ``board_size``, or None when there is none."""
    name = SHIPPED_LEE.get(board_size, {}).get(part)
    if name is None:
        return None
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", name)
    return path if os.path.exists(path) else None
