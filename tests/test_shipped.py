"""The shipped 9x9 network (nets/weights/): present, readable, what ``--player zero`` plays
without ``--weights``, and a Go player: it beats a uniform random player, as no untrained
network does."""
import json

import pytest

import nets
from engine.board import BLACK, RESIGN, WHITE
from engine.game import GameState
from engine.player import Budget, RandomPlayer
from engine.search import NetworkPlayer, make_player
from nets.checkpoint import load_checkpoint


def test_shipped_9x9_network_is_there_and_describes_its_training():
    path = nets.shipped_weights(9)
    assert path is not None, "nets/weights/ must hold the 9x9 network"
    model, config, step, payload = load_checkpoint(path, board_size=9)
    assert config.board_size == 9 and step > 0
    assert payload["optimizer"] is None  # a playing file, not a training one
    extra = payload["extra"]
    assert extra["selfplay_games"] > 0
    ledger = json.loads(extra["ledger_json"])
    assert ledger["generations"][-1]["step"] == step  # the best network of its run
    assert json.loads(extra["config_json"])["net"]["board_size"] == 9
    assert nets.shipped_weights(13) is None


def _play(black, white, visits=32):
    st = GameState(9, 7.0, move_limit=200)
    players = {BLACK: black, WHITE: white}
    for p in players.values():
        p.new_game(st)
    while not st.is_over():
        c = st.to_move
        move = players[c].genmove(st, c, Budget(visits=visits))
        if move == RESIGN:
            return WHITE if c == BLACK else BLACK
        st.play(c, move)
    s = st.score()
    return BLACK if s > 0 else WHITE if s < 0 else 0


@pytest.mark.parametrize("net_color", [BLACK, WHITE])
def test_zero_player_plays_the_shipped_network_and_beats_random(net_color):
    net = make_player("zero", threads=1, seed=3)
    assert isinstance(net, NetworkPlayer) and net.board_size == 9
    rnd = RandomPlayer(seed=int(net_color))
    black, white = (net, rnd) if net_color == BLACK else (rnd, net)
    assert _play(black, white) == net_color


def test_auto_player_plays_the_shipped_network_on_9x9_and_pure_mcts_elsewhere(monkeypatch):
    """``auto``, the engine's default, plays the shipped network on 9x9, where it measured
    stronger than pure MCTS, and pure MCTS on the other sizes; a size left out of
    ``AUTO_SHIPPED_SIZES`` goes back to pure MCTS."""
    import engine.search as search
    auto = make_player("auto", threads=1)
    net = auto.player_for(9)
    assert isinstance(net, NetworkPlayer) and net.board_size == 9
    assert net.config.lam == 0.0  # the network alone, AlphaGo Zero's search
    assert auto.player_for(19) is auto.fallback and type(auto.fallback) is search.MCTSPlayer
    monkeypatch.setattr(search, "AUTO_SHIPPED_SIZES", ())
    assert type(make_player("auto", threads=1)) is search.MCTSPlayer


# -- the shipped AlphaGo Lee files -------------------------------------------------------------

def test_shipped_lee_files_load_with_their_kinds_and_size():
    from engine.rollout_policy import load_rollout_model
    from nets.lee import load_policy, load_value
    policy, pc = load_policy(nets.shipped_lee("policy", 9), board_size=9)
    value, vc = load_value(nets.shipped_lee("value", 9), board_size=9)
    assert pc.in_planes == 48 and vc.in_planes == 49
    assert not load_rollout_model(nets.shipped_lee("rollout_model", 9)).tree
    assert load_rollout_model(nets.shipped_lee("tree_model", 9)).tree
    assert nets.shipped_lee("policy", 19) is None


def test_shipped_sl_policy_alone_beats_a_random_player_from_both_colours():
    from nets.lee import load_policy
    from selfplay.lee_rl import policy_match
    policy, _ = load_policy(nets.shipped_lee("policy", 9))
    # opponent None: a uniformly random sensible move; the policy samples at temperature 1
    wins, draws, losses = policy_match(policy, None, 9, games=20, komi=7.0, seed=3)
    assert wins >= 17, (wins, draws, losses)


def test_lee_player_with_the_shipped_files_plays_legal_moves():
    # settle: each search ends with the value answers it asked for, whatever the timing
    player = make_player("lee", visits=96, threads=2, seed=2, settle=True)
    st = GameState(9, 7.0)
    for _ in range(4):
        c = st.to_move
        mv = player.genmove(st, c, Budget(visits=96))
        assert st.is_legal(c, mv)
        st.play(c, mv)
    from engine.mcts import T_NR, T_NV
    tree = player.search.tree
    assert tree[T_NV][0] > 0 and tree[T_NR][0] > 0  # value net and rollouts both took part
