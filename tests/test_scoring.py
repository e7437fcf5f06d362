"""Final scoring: dead stones removed as a Chinese-rules player expects, seki left standing
with neutral shared liberties, and clean positions scored exactly as Tromp-Taylor."""
import numpy as np
import pytest

from engine.board import BLACK, PASS, WHITE
from engine.coords import format_vertex, parse_vertex
from engine.diagram import state_from_diagram
from engine.playout import MODE_LIGHT
from engine.scoring import (dead_stones, final_score, final_status, mc_ownership,
                            score_with_dead)

# Finished 9x9 game: White's B8 and Black's H8 and H2 were left inside the opponent's
# territory. Counting them dead: Black 15 stones + 18 points, White 18 stones + 30 points.
DEAD = """
    . . X X O O . . .
    . O . X O . . X .
    . . . X O . . . .
    . . X X O O . . .
    X X X O O . O . .
    . . X O . O O O O
    . X X O O . . . .
    . . X X O . . X .
    . . . X O . . . .
"""
DEAD_SCORE = (15 + 18) - (18 + 30) - 7.5

# The same game with the dead stones taken off: a clean Tromp-Taylor end position.
CLEAN = """
    . . X X O O . . .
    . . . X O . . . .
    . . . X O . . . .
    . . X X O O . . .
    X X X O O . O . .
    . . X O . O O O O
    . X X O O . . . .
    . . X X O . . . .
    . . . X O . . . .
"""

# Seki at the top: White's B9-D8 chain and Black's E9-J8 chain share the liberty D9 and
# have one eye each (A9, J9). Neither side can play D9 without being captured.
SEKI = """
    . O O . X X X X .
    O O O O X X X X X
    X X X X O O O O O
    . . . X O . . . .
    . . . X O . . . .
    . . . X O . . . .
    . . . X O . . . .
    . . . X O . . . .
    . . . X O . . . .
"""
# Black: 19 stones + 18 points + eye J9; White: 17 stones + 24 points + eye A9; D9 neutral.
SEKI_SCORE = (19 + 19) - (17 + 25) - 7.5


def names(state, pts):
    return sorted(format_vertex(p, state.size) for p in pts)


def finished(diagram):
    g = state_from_diagram(diagram, komi=7.5)
    g.play(BLACK, PASS)
    g.play(WHITE, PASS)
    return g


def test_dead_stones_inside_territory_are_removed():
    g = finished(DEAD)
    own = mc_ownership(g, playouts=200, seed=1)
    assert own.shape == (81,) and own.dtype == np.float32
    assert names(g, dead_stones(g, own)) == ["B8", "H2", "H8"]
    # the dead stones' points end up owned by the surrounding colour
    assert own[1 * 9 + 1] > 0.5 and own[1 * 9 + 7] < -0.5
    assert final_score(g, playouts=200, seed=1) == DEAD_SCORE
    # Tromp-Taylor alone would count the dead stones as alive and their regions as neutral
    assert g.score() != DEAD_SCORE
    st = final_status(g, own)
    assert names(g, st["dead"]) == ["B8", "H2", "H8"]
    assert st["seki"] == []
    assert len(st["alive"]) == 15 + 18


def test_clean_end_position_scores_as_tromp_taylor():
    g = finished(CLEAN)
    own = mc_ownership(g, playouts=150, seed=2)
    assert dead_stones(g, own) == []
    assert final_score(g, playouts=150, seed=2) == g.score() == DEAD_SCORE
    assert score_with_dead(g, []) == g.score()


def test_seki_stones_stay_and_shared_liberty_is_neutral():
    g = finished(SEKI)
    own = mc_ownership(g, playouts=200, seed=3)
    st = final_status(g, own)
    assert st["dead"] == []
    assert names(g, st["seki"]) == sorted(
        ["B9", "C9", "A8", "B8", "C8", "D8",  # white
         "E9", "F9", "G9", "H9", "E8", "F8", "G8", "H8", "J8"])  # black
    assert not set(st["seki"]) & set(st["alive"])
    assert len(st["alive"]) + len(st["seki"]) == 19 + 17
    assert final_score(g, playouts=200, seed=3) == g.score() == SEKI_SCORE
    assert final_score(g, playouts=200, seed=3, mode=MODE_LIGHT) == SEKI_SCORE


def test_dame_between_living_groups_is_not_seki():
    # C5 and C1 are unfilled dame: neutral, but filling them endangers nobody
    g = finished("""
        . X . O .
        X X . O O
        X X . O .
        X X . O O
        . X . O .
    """)
    own = np.array([1, 1, 0, -1, -1] * 5, dtype=np.float32)
    st = final_status(g, own)
    assert st["seki"] == [] and st["dead"] == []
    assert score_with_dead(g, []) == g.score()


def test_decision_is_per_chain():
    g = finished(DEAD)
    own = np.zeros(81, dtype=np.float32)
    # Black's wall is one chain: one of its stones leaning to White does not kill it
    own[0 * 9 + 2] = -1.0
    assert dead_stones(g, own) == []
    # White's lone B8 is dead when its point is owned by Black
    own[1 * 9 + 1] = 0.9
    assert names(g, dead_stones(g, own)) == ["B8"]
    assert dead_stones(g, own, threshold=0.95) == []


def test_bad_input_is_rejected():
    g = finished(CLEAN)
    with pytest.raises(ValueError):
        mc_ownership(g, playouts=0)
    with pytest.raises(ValueError):
        mc_ownership(g, mode=9)
    with pytest.raises(ValueError):
        dead_stones(g, np.zeros(80, dtype=np.float32))
    with pytest.raises(ValueError):
        score_with_dead(g, [parse_vertex("A9", 9)])  # no stone there
