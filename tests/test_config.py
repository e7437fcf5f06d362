"""engine.config: the shared to_dict / from_dict / check of the settings dataclasses."""
import dataclasses
import json
import re
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from engine.config import Config, check, from_fields, not_negative, positive
from engine.search import SearchConfig
from nets.lee import PolicyConfig, ValueConfig
from nets.resnet import NetConfig
from nets.rollout_train import TrainConfig as RolloutTrainConfig
from nets.train import TrainConfig
from nets.train_lee import LeeTrainConfig
from selfplay.gating import GateConfig
from selfplay.lee_rl import RLConfig
from selfplay.zero import LoopConfig, ZeroConfig
from selfplay.zero_selfplay import SelfPlayConfig


@dataclass(frozen=True)
class Toy(Config):
    size: int = 9
    name: str = "x"

    def __post_init__(self):
        check(type(self).__name__, [(self.size >= 1, "size must be positive"),
                                    (self.name != "", "name must not be empty")])


def test_check_raises_for_the_first_failing_check_with_the_owner():
    check("Owner", [(True, "never")])  # all hold: nothing
    with pytest.raises(ValueError) as e:
        check("Owner", [(True, "a"), (False, "b failed"), (False, "c failed")])
    assert str(e.value) == "Owner: b failed"


def test_positive_and_not_negative_name_each_field():
    v = SimpleNamespace(zero=0, minus=-0.5, one=1)
    assert positive(v, "one", "zero", "minus") == [
        (True, "one must be positive"), (False, "zero must be positive"),
        (False, "minus must be positive")]
    assert not_negative(v, "one", "zero", "minus") == [
        (True, "one must not be negative"), (True, "zero must not be negative"),
        (False, "minus must not be negative")]


def test_from_fields_refuses_unknown_keys_and_builds_the_rest():
    assert from_fields(Toy, {"size": 3}, "toy") == Toy(size=3)
    with pytest.raises(ValueError) as e:
        from_fields(Toy, {"size": 3, "zeta": 1, "alpha": 2}, "toy")
    assert str(e.value) == "unknown toy fields ['alpha', 'zeta']"


def test_mixin_round_trips_names_the_class_and_keeps_the_dataclass_frozen():
    t = Toy(size=4, name="y")
    assert t.to_dict() == {"size": 4, "name": "y"}
    assert Toy.from_dict(t.to_dict()) == t
    assert Toy.from_dict({}) == Toy()  # missing keys take the defaults
    assert [f.name for f in dataclasses.fields(Toy)] == ["size", "name"]  # WHAT is no field
    with pytest.raises(ValueError, match=re.escape("unknown Toy fields ['sise']")):
        Toy.from_dict({"sise": 4})
    with pytest.raises(ValueError, match="^Toy: name must not be empty$"):
        Toy(name="")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.size = 5


# (a config with non-default values, the words of its unknown-key message)
STORED = [
    (NetConfig(board_size=9, blocks=2, channels=16, ownership=True), "network config"),
    (TrainConfig(lr_boundaries=(10,), lr_values=(0.1, 0.01), seed=3), "training config"),
    (LeeTrainConfig(lr=0.5, batch_size=7), "training config"),
    (PolicyConfig(board_size=9, layers=3, filters=8), "lee-policy config"),
    (ValueConfig(board_size=9, layers=3, filters=8, hidden=5), "lee-value config"),
    (SelfPlayConfig(board_size=9, visits=5, name_prefix="t"), "SelfPlayConfig"),
    (GateConfig(games=10, sprt_elo1=30.0), "GateConfig"),
    (LoopConfig(seed=4, max_hours=1.5), "LoopConfig"),
    (RLConfig(sl="sl.pt", games=8, momentum=0.5), "RL config"),
]


@pytest.mark.parametrize("config", [c for c, _ in STORED] + [
    ZeroConfig(net=NetConfig(board_size=9), selfplay=SelfPlayConfig(board_size=9, visits=3),
               gate=GateConfig(games=2), loop=LoopConfig(seed=1),
               train=TrainConfig(batch_size=8))], ids=lambda c: type(c).__name__)
def test_to_dict_from_dict_round_trip_through_json(config):
    d = config.to_dict()
    assert json.loads(json.dumps(d)) == d  # plain data, as stored
    back = type(config).from_dict(json.loads(json.dumps(d)))
    assert back == config and type(back) is type(config)


@pytest.mark.parametrize("config,what", STORED, ids=lambda c: type(c).__name__)
def test_unknown_keys_are_refused_by_name(config, what):
    d = {**config.to_dict(), "lr_typo": 1, "a_newer_field": 2}
    with pytest.raises(ValueError) as e:
        type(config).from_dict(d)
    assert str(e.value) == f"unknown {what} fields ['a_newer_field', 'lr_typo']"


def test_zero_config_refuses_unknown_sections_and_fields_inside_them():
    d = ZeroConfig(net=NetConfig(board_size=9), selfplay=SelfPlayConfig(board_size=9)).to_dict()
    with pytest.raises(ValueError, match=re.escape("unknown config sections ['gates']")):
        ZeroConfig.from_dict({**d, "gates": {}})
    with pytest.raises(ValueError, match=re.escape("unknown GateConfig fields ['gamez']")):
        ZeroConfig.from_dict({**d, "gate": {"gamez": 3}})
    with pytest.raises(ValueError, match="no 'net' section"):
        ZeroConfig.from_dict({k: v for k, v in d.items() if k != "net"})
    only_net = ZeroConfig.from_dict({"net": d["net"], "selfplay": d["selfplay"]})
    assert only_net.gate == GateConfig() and only_net.loop == LoopConfig()


def test_stored_payloads_of_earlier_versions_still_load():
    """Dicts as checkpoints and config.json files hold them: the stored form is unchanged."""
    assert NetConfig.from_dict({"board_size": 9, "in_planes": 17, "blocks": 1, "channels": 8,
                                "block_kind": "classic", "value_hidden": 256}) \
        == NetConfig(board_size=9, blocks=1, channels=8)  # written before the newer heads
    assert TrainConfig.from_dict({"lr_boundaries": [5], "lr_values": [0.1, 0.01]}).to_dict()[
        "lr_boundaries"] == [5]
    assert PolicyConfig(layers=3, filters=8).to_dict() == {
        "kind": "lee-policy", "board_size": 19, "layers": 3, "filters": 8, "in_planes": 48}
    with pytest.raises(ValueError, match="expected lee-value"):
        ValueConfig.from_dict(PolicyConfig().to_dict())
    with pytest.raises(ValueError, match="AlphaGo Zero network config, expected lee-policy"):
        PolicyConfig.from_dict(NetConfig().to_dict())


CHECKS = [  # (building a bad config, how its error starts)
    (lambda: NetConfig(block_kind="odd"), "NetConfig: block_kind must be one of"),
    (lambda: TrainConfig(momentum=1.0), "TrainConfig: momentum must be in [0, 1)"),
    (lambda: TrainConfig(window_games=0), "TrainConfig: window_games must be positive"),
    (lambda: TrainConfig(l2_c=-1e-4), "TrainConfig: l2_c must not be negative"),
    (lambda: LeeTrainConfig(lr=0), "LeeTrainConfig: lr must be positive"),
    (lambda: LeeTrainConfig(eval_every=0), "LeeTrainConfig: eval_every must be positive"),
    (lambda: LeeTrainConfig(weight_decay=-1), "LeeTrainConfig: weight_decay must not be negative"),
    (lambda: PolicyConfig(layers=1), "PolicyConfig: layers must be at least 2"),
    (lambda: ValueConfig(layers=1), "ValueConfig: layers must be at least 2"),
    (lambda: ValueConfig(hidden=0), "ValueConfig: hidden must be positive, got 0"),
    (lambda: SelfPlayConfig(name_prefix="a b"), "SelfPlayConfig: name_prefix must be"),
    (lambda: GateConfig(threshold=0), "GateConfig: threshold must be in (0, 1]"),
    (lambda: LoopConfig(resign_window=1), "LoopConfig: resign_window must be at least"),
    (lambda: SearchConfig(c_puct=0), "SearchConfig: c_puct must be positive"),
    (lambda: RolloutTrainConfig(beta1=1.0), "TrainConfig: Adam betas must be in [0, 1)"),
    (lambda: RolloutTrainConfig(cache_mb=-1), "TrainConfig: cache_mb must not be negative"),
]


@pytest.mark.parametrize("build,message", CHECKS, ids=[m for _, m in CHECKS])
def test_a_failing_check_names_the_class_and_the_reason(build, message):
    with pytest.raises(ValueError) as e:
        build()
    assert str(e.value).startswith(message)
