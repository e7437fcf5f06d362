"""The gymnasium environment: API conformance, legal-action masks, rewards, illegal actions and
rendering, on small boards."""
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from engine.board import BLACK, WHITE, from_action, to_action
from engine.coords import parse_vertex
from engine.diagram import state_from_diagram
from engine.env import ENV_ID, GoEnv, board_to_text


def action(vertex, n):
    return to_action(n, parse_vertex(vertex, n))


def make(**kw):
    return gymnasium.make(ENV_ID, **kw)


@pytest.mark.parametrize("kw", [
    dict(size=5),
    dict(size=5, opponent="random"),
    dict(size=5, opponent="random", agent_color="white"),
    dict(size=5, opponent=lambda state, color: state.size * state.size),
])
def test_env_checker_passes_without_warnings(kw):
    env = make(**kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


def test_registered_with_an_entry_point_string():
    spec = gymnasium.spec(ENV_ID)
    assert spec.entry_point == "engine.env:GoEnv"
    env = make(size=9)
    assert isinstance(env.unwrapped, GoEnv)
    assert env.observation_space.shape == (5, 9, 9)
    assert env.action_space.n == 82
    env = gymnasium.make("engine.env:alphago/Go-v0", size=7)
    assert env.unwrapped.size == 7


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="size"):
        GoEnv(size=25)
    with pytest.raises(ValueError, match="ko_rule"):
        GoEnv(ko_rule="japanese")
    with pytest.raises(ValueError, match="opponent"):
        GoEnv(opponent="strong")
    with pytest.raises(ValueError, match="agent_color"):
        GoEnv(opponent="random", agent_color=3)
    with pytest.raises(TypeError, match="unknown"):
        GoEnv(boardsize=9)


def expected_mask(state):
    """Legal actions computed move by move from the rules, not from legal_points."""
    n = state.size
    mask = np.zeros(n * n + 1, dtype=np.int8)
    for a in range(n * n + 1):
        mask[a] = state.is_legal(state.to_move, from_action(n, a))
    return mask


@pytest.mark.parametrize("seed", [1, 2])
def test_random_self_play_episode(seed):
    env = GoEnv(size=5, komi=0.5)
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    done = False
    while not done:
        mask = info["action_mask"]
        assert mask.dtype == np.int8 and mask[25] == 1
        assert (mask == expected_mask(env.state)).all()
        mover = env.state.to_move
        a = int(rng.choice(np.flatnonzero(mask)))
        obs, reward, terminated, truncated, info = env.step(a)
        assert obs in env.observation_space
        done = terminated or truncated
        if not done:
            assert reward == 0.0 and info["to_play"] == 3 - mover
    # half-point komi: someone won, and the reward is the final mover's view of the score
    assert reward in (1.0, -1.0)
    assert info["end"] == ("passes" if terminated else "move_limit")
    assert info["score"] == env.state.score()
    assert info["winner"] == (BLACK if info["score"] > 0 else WHITE)
    assert reward == (1.0 if info["winner"] == mover else -1.0)
    assert not info["action_mask"].any()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(25)


def test_random_opponent_episode_rewards_the_agent():
    env = GoEnv(size=5, komi=0.5, opponent="random", agent_color="white")
    obs, info = env.reset(seed=3)
    assert info["move_number"] == 1 and env.state.history[0].color == BLACK  # black opened
    assert obs[3].sum() == 0  # "own" is white
    done = False
    while not done:
        assert env.state.to_move == WHITE
        assert (info["action_mask"] == expected_mask(env.state)).all()
        a = env.action_space.sample(mask=info["action_mask"])
        obs, reward, terminated, truncated, info = env.step(a)
        done = terminated or truncated
    assert reward == (1.0 if info["winner"] == WHITE else -1.0)


def test_seeded_reset_is_reproducible():
    a, b = GoEnv(size=5, opponent="random", agent_color="white"), GoEnv(size=5, opponent="random", agent_color="white")
    obs_a, info_a = a.reset(seed=11)
    obs_b, info_b = b.reset(seed=11)
    assert (obs_a == obs_b).all() and info_a["opponent_action"] == info_b["opponent_action"]
    for _ in range(5):
        act = int(np.flatnonzero(info_a["action_mask"])[0])
        obs_a, _, _, _, info_a = a.step(act)
        obs_b, _, _, _, info_b = b.step(act)
        assert (obs_a == obs_b).all()


def test_two_passes_score_by_komi_for_the_final_mover():
    env = GoEnv(size=5, komi=7.5)
    env.reset(seed=0)
    env.step(25)
    _, reward, terminated, truncated, info = env.step(25)  # white's pass ends it; white wins by komi
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["result"] == "W+7.5"

    env = GoEnv(size=5, komi=-7.5)
    env.reset(seed=0)
    env.step(25)
    _, reward, _, _, info = env.step(25)
    assert reward == -1.0 and info["winner"] == BLACK


def test_opponent_reply_that_ends_the_game_is_scored_for_the_agent():
    passer = lambda state, color: state.size * state.size
    env = GoEnv(size=5, komi=7.5, opponent=passer)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(25)  # black passes, the opponent passes too
    assert terminated and reward == -1.0 and info["opponent_action"] == 25
    env = GoEnv(size=5, komi=7.5, opponent=passer, agent_color="white")
    start = state_from_diagram("""
        . . . . .
        . . . . .
        . . O . .
        . . . . .
        . . . . .
    """, to_move=BLACK)
    env.reset(seed=0, options={"state": start})
    obs, reward, terminated, _, _ = env.step(25)  # black passed at reset, white's pass ends it
    assert terminated and reward == 1.0
    # black would be to move, but the observation stays the agent's (white's) view
    assert obs[0][2, 2] == 1 and obs[1].sum() == 0 and obs[3].sum() == 0


def test_move_limit_truncates_and_scores():
    env = GoEnv(size=5, komi=0.5, move_limit=4)
    env.reset(seed=0)
    for v in ["C3", "D4", "B2"]:
        _, reward, terminated, truncated, _ = env.step(action(v, 5))
        assert not (terminated or truncated)
    _, reward, terminated, truncated, info = env.step(action("E5", 5))
    assert truncated and not terminated and info["end"] == "move_limit"
    assert info["winner"] == WHITE and reward == 1.0  # 2 stones each, komi 0.5, white moved last


def test_observation_planes():
    env = GoEnv(size=5)
    env.reset(seed=0)
    obs, _, _, _, info = env.step(action("C3", 5))
    # white to move: "own" is white
    assert obs[0].sum() == 0
    assert obs[1][2, 2] == 1 and obs[1].sum() == 1
    assert obs[2].sum() == 24 and obs[2][2, 2] == 0
    assert obs[3].sum() == 0
    assert obs[4][2, 2] == 1 and obs[4].sum() == 1
    obs, _, _, _, _ = env.step(25)
    assert obs[3].all() and obs[0][2, 2] == 1 and not obs[4].any()  # black again; a pass marks nothing


KO = """
    . X O . .
    X O . O .
    . X O . .
    . . . . .
    . . . . .
"""


def test_mask_follows_ko_from_a_given_position():
    env = GoEnv(size=5)
    env.reset(seed=0, options={"state": state_from_diagram(KO, to_move=BLACK)})
    _, _, _, _, info = env.step(action("C4", 5))  # black takes the ko
    assert info["action_mask"][action("B4", 5)] == 0
    assert info["action_mask"][action("A3", 5)] == 1
    _, _, _, _, info = env.step(action("E1", 5))
    _, _, _, _, info = env.step(action("A1", 5))
    assert info["action_mask"][action("B4", 5)] == 1  # after an exchange elsewhere white may retake
    with pytest.raises(ValueError, match="size"):
        env.reset(options={"state": state_from_diagram(". .\n. .")})


def test_illegal_action_ends_the_episode_with_minus_one():
    env = GoEnv(size=5)
    env.reset(seed=0)
    before, _, _, _, _ = env.step(action("C3", 5))
    obs, reward, terminated, truncated, info = env.step(action("C3", 5))  # white onto black's stone
    assert (reward, terminated, truncated) == (-1.0, True, False)
    assert info["illegal_action"] and info["illegal_reason"] == "occupied"
    assert info["winner"] == BLACK and info["result"] == "B+F"
    assert (obs == before).all() and len(env.state.history) == 1
    with pytest.raises(RuntimeError):
        env.step(25)


def test_illegal_action_against_an_opponent_loses_for_the_agent():
    env = GoEnv(size=5, opponent="random", agent_color="white")
    _, info = env.reset(seed=5)
    taken = info["opponent_action"]
    _, reward, terminated, _, info = env.step(taken)
    assert reward == -1.0 and terminated and info["winner"] == BLACK


@pytest.mark.parametrize("bad", [26, -1, 3.0, "D4", True])
def test_action_outside_the_space_raises_and_changes_nothing(bad):
    env = GoEnv(size=5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(bad)
    assert env.state.history == []
    env.step(np.int64(12))  # numpy integers are fine
    assert env.state.history[0].point == parse_vertex("C3", 5)


def test_illegal_opponent_move_raises_and_undoes_the_step():
    env = GoEnv(size=5, opponent=lambda state, color: 12)  # always C3
    env.reset(seed=0)
    with pytest.raises(ValueError, match="opponent chose an illegal move C3"):
        env.step(action("C3", 5))
    assert env.state.history == []
    env.step(action("D4", 5))
    assert [m.point for m in env.state.history] == [parse_vertex("D4", 5), parse_vertex("C3", 5)]


def _rendered_after_c3_b4(render_mode):
    """(env, env.render()) of a 5x5 GoEnv in ``render_mode`` after black C3 and white B4."""
    env = GoEnv(size=5, render_mode=render_mode)
    env.reset(seed=0)
    env.step(action("C3", 5))
    env.step(action("B4", 5))
    return env, env.render()


def test_ansi_render_is_a_gnugo_board():
    env, text = _rendered_after_c3_b4("ansi")
    lines = text.splitlines()
    assert lines[0] == "   A B C D E"
    assert lines[1] == " 5 . . . . . 5"
    assert lines[2] == " 4 .(O). . . 4"  # last move in parentheses
    assert lines[3] == " 3 . . X . . 3"
    assert lines[6] == "   A B C D E"
    assert "black to play" in lines[7] and "2 moves played" in lines[7]
    assert board_to_text(env.state) == text


def test_ansi_marks_star_points_on_nine_by_nine():
    env = GoEnv(size=9, render_mode="ansi")
    env.reset(seed=0)
    lines = env.render().splitlines()
    assert lines[3] == " 7 . . + . . . + . . 7"
    assert lines[5] == " 5 . . . . + . . . . 5"


def test_rgb_array_render():
    env, img = _rendered_after_c3_b4("rgb_array")
    cell = env.config.render_cell
    assert img.shape == (6 * cell, 6 * cell, 3) and img.dtype == np.uint8

    def at(vertex, dy=cell // 4, dx=cell // 4):
        p = parse_vertex(vertex, 5)
        r, c = divmod(to_action(5, p), 5)
        return img[(r + 1) * cell + dy, (c + 1) * cell + dx].astype(int)

    black, white, empty = at("C3"), at("B4"), at("E1")
    assert black.max() < 90  # dark stone
    assert white.min() > 180 and abs(white[0] - white[2]) < 20  # light grey-white stone
    assert empty[0] > empty[2] + 60  # wood: much more red than blue
    assert GoEnv(size=5, render_mode=None).render() is None
