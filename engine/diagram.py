"""Boards written as text, for tests and debugging.

A diagram has one line per row, top row first: ``X`` black, ``O`` white, ``.`` or ``+``
empty; spaces are ignored, and so are GNU Go style row numbers and column letters::

    . . X O .
    . X O . O
    . . X O .
    . . . . .
    . . . . .
"""
import numpy as np

from engine.board import BLACK, WHITE, point
from engine.game import GameState

_CHARS = {"X": BLACK, "x": BLACK, "O": WHITE, "o": WHITE, ".": 0, "+": 0}


def parse_diagram(text):
    """Diagram -> int8[N, N] colours (row 0 = top)."""
    rows = []
    for line in text.strip("\n").splitlines():
        letters = line.replace(" ", "")
        if letters.isalpha() and set(letters) - {"X", "O", "x", "o"}:
            continue  # a column-letter line such as "A B C ... O P Q"
        cells = [ch for ch in line if ch in _CHARS]
        if cells:
            rows.append([_CHARS[ch] for ch in cells])
    n = len(rows)
    if n == 0 or any(len(r) != n for r in rows):
        raise ValueError(f"diagram must be square, got rows of {[len(r) for r in rows]}")
    return np.array(rows, dtype=np.int8)


def state_from_diagram(text, to_move=BLACK, komi=0.0, ko_rule="positional"):
    """GameState holding the diagram's stones as setup, ``to_move`` to play."""
    grid = parse_diagram(text)
    n = grid.shape[0]
    g = GameState(n, komi=komi, ko_rule=ko_rule)
    for c in (BLACK, WHITE):
        g.place_stones(c, [point(n, r, k) for r, k in zip(*np.nonzero(grid == c))])
    g.set_to_move(to_move)
    return g


def to_diagram(stones):
    """int8[N, N] colours -> diagram text."""
    return "\n".join(" ".join(".XO"[v] for v in row) for row in stones)
