"""One recipe: the TrainConfig defaults, per-game deltas shipped in the package, the planner's
learner settings, and a resumed run that reads its own config."""
import dataclasses
import json
from importlib import resources

import pytest

import games
from alphadev import cli
from alphadev.config import ConfigError, TrainConfig, load_config, load_run_config, resume_config
from alphadev.train import Trainer


def test_a_game_without_a_delta_trains_with_the_recipe_and_its_tasks_target():
    config = load_config("sort3")
    assert config == TrainConfig(game="sort3", target_length=17)
    assert load_config("varsort3").target_length == games.task("varsort3").target_lengths["alphadev"]


def test_every_shipped_delta_is_a_registered_game_and_names_only_what_it_changes():
    recipe = TrainConfig(game="_").to_dict()
    files = [f for f in (resources.files("alphadev") / "configs").iterdir() if f.name.endswith(".json")]
    assert files
    for file in files:
        game = file.name.removesuffix(".json")
        delta = json.loads(file.read_text())
        assert game in games.names()
        for key, value in delta.items():
            assert key in recipe and value != recipe[key], f"{file.name}: {key} restates the recipe"
        load_config(game)  # builds, including its game config


def test_sort4s_delta_switches_its_rules_and_potentials_on_top_of_the_tasks_defaults():
    game = games.make("sort4", **load_config("sort4").game_config)
    assert game.config.rules.loads_in_order and game.config.rules.end_stored_wrong
    assert game.config.rules.end_lost and game.config.rules.room_for_stores  # the task's, kept
    assert dict(game.config.shaping) == {"registers": 1.0, "flag_information": 0.6}


def test_the_planner_sets_the_learners_unroll_wherever_it_is_set(tmp_path):
    assert load_config("sort3").learner.unroll == 0
    assert load_config("sort3", planner="muzero").learner.unroll == 5
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({"search": {"planner": "muzero"}}))
    assert load_config("sort3", str(nested)).learner.unroll == 5
    explicit = tmp_path / "explicit.json"
    explicit.write_text(json.dumps({"search": {"planner": "muzero"}, "learner": {"unroll": 3}}))
    assert load_config("sort3", str(explicit)).learner.unroll == 3


def test_a_resumed_run_reads_its_config_and_a_conflicting_override_is_a_one_line_error(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    started = load_config("sort2", seed=3, minutes=1)
    (run / "config.json").write_text(json.dumps(started.to_dict()))
    before = (run / "config.json").read_text()
    assert load_run_config(run) == started
    assert resume_config(run, "sort2", None) == started
    assert resume_config(run, "sort2", None, minutes=5) == dataclasses.replace(started, minutes=5)
    with pytest.raises(ConfigError, match="started with seed 3; seed 4 conflicts"):
        resume_config(run, "sort2", None, seed=4)
    assert cli.main(["train", "sort2", "--out", str(run), "--planner", "muzero"]) == 2
    err = capsys.readouterr().err
    assert "started with planner exact; planner muzero conflicts" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["train", "sort3", "--out", str(run)]) == 2
    assert "is a sort2 run, not sort3" in capsys.readouterr().err
    assert (run / "config.json").read_text() == before and sorted(p.name for p in run.iterdir()) == ["config.json"]


def test_bad_game_configs_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"game_config": {"shaping": {"registers": 1.0, "informaton": 0.5}}}))
    with pytest.raises(ConfigError, match="sort3 defines no potential 'informaton'"):
        load_config("sort3", str(bad))
    bad.write_text(json.dumps({"ablation": {"temprature": 1.0}}))
    with pytest.raises(ConfigError, match="ablation: unknown key.*temprature"):
        load_config("sort3", str(bad))


def test_a_config_file_is_a_delta_on_top_of_the_games_shipped_one(tmp_path):
    file = tmp_path / "short.json"
    file.write_text(json.dumps({"minutes": 5, "game_config": {"rules": {"loads_in_order": False}}}))
    config, shipped = load_config("sort4", str(file)), load_config("sort4")
    assert config.minutes == 5 and config.archive_value_weight == shipped.archive_value_weight == 0.0
    assert config.game_config == {"rules": {"loads_in_order": False, "end_stored_wrong": True},
                                  "shaping": {"registers": 1.0, "flag_information": 0.6}}


def test_the_ablation_group_reaches_the_search(tmp_path):
    config = load_config("sort2", ablation={"search_policy": "muzero", "dirichlet_fraction": 0.5})
    assert config.search == TrainConfig(game="sort2").search  # the recipe's search is untouched
    search = Trainer(config, tmp_path / "run", quiet=True).search
    assert (search.policy, search.dirichlet_fraction) == ("muzero", 0.5)
    with pytest.raises(ConfigError, match="search_policy must be"):
        load_config("sort2", ablation={"search_policy": "beam"})


def test_every_game_loads_with_the_recipe_and_its_shipped_delta():
    for game in games.names():
        assert load_config(game).game == game


# (delta, the error's start after the file name): the cases, then one per field family.
BAD = [
    ({"selfplay_batch": 0}, "selfplay_batch must be an int >= 1, not 0"),
    ({"selfplay_batch": -4}, "selfplay_batch must be an int >= 1, not -4"),
    ({"search": {"simulations": 0}}, "search.simulations must be an int >= 1, not 0"),
    ({"net": {"dim": 0}}, "net.dim must be an int >= 1, not 0"),
    ({"net": {"dim": -32}}, "net.dim must be an int >= 1, not -32"),
    ({"checkpoint_every": 0}, "checkpoint_every must be an int >= 1, not 0"),
    ({"learner": {"learning_rate": "fast"}}, "learner.learning_rate must be a number >= 0, not 'fast'"),
    ({"net": "big"}, "net must be an object of NetConfig fields, not 'big'"),
    ({"learner": {"batch": 0}}, "learner.batch must be an int >= 1, not 0"),
    ({"ablation": {"epsilon": 5}}, "ablation.epsilon must be a number in [0, 1], not 5"),
    ({"minutes": -1}, "minutes must be a number > 0, not -1"),
    ({"minutes": 0}, "minutes must be a number > 0, not 0"),
    # ints: not a bool, a fraction or a string
    ({"replay_episodes": True}, "replay_episodes must be an int >= 1, not True"),
    ({"log_every": 2.5}, "log_every must be an int >= 1, not 2.5"),
    ({"seed": "1"}, "seed must be an int in [0, 4294967295], not '1'"),
    ({"seed": -1}, "seed must be an int in [0, 4294967295], not -1"),
    ({"log_every": 0}, "log_every must be an int >= 1, not 0"),
    ({"archive_width": -1}, "archive_width must be an int >= 0, not -1"),
    ({"target_length": -1}, "target_length must be an int >= 0 or None, not -1"),
    ({"learner": {"unroll": 1.5}}, "learner.unroll must be an int >= 0 or None, not 1.5"),
    ({"learner": {"steps_per_iteration": 0}}, "learner.steps_per_iteration must be an int >= 1, not 0"),
    ({"search": {"max_considered_actions": 0}}, "search.max_considered_actions must be an int >= 1, not 0"),
    ({"net": {"bins": 1}}, "net.bins must be an int >= 2, not 1"),
    ({"ablation": {"td_steps": -1}}, "ablation.td_steps must be an int >= 0, not -1"),
    # floats and probabilities
    ({"archive_fraction": 1.5}, "archive_fraction must be a number in [0, 1], not 1.5"),
    ({"archive_value_weight": None}, "archive_value_weight must be a number >= 0, not None"),
    ({"learner": {"learning_rate": -0.1}}, "learner.learning_rate must be a number >= 0, not -0.1"),
    ({"learner": {"max_grad_norm": 0}}, "learner.max_grad_norm must be a number > 0, not 0"),
    ({"learner": {"weight_decay": False}}, "learner.weight_decay must be a number >= 0, not False"),
    ({"ablation": {"temperature": -1}}, "ablation.temperature must be a number >= 0, not -1"),
    ({"ablation": {"dirichlet_alpha": 0}}, "ablation.dirichlet_alpha must be a number > 0, not 0"),
    ({"ablation": {"dirichlet_fraction": 2}}, "ablation.dirichlet_fraction must be a number in [0, 1], not 2"),
    ({"net": {"value_min": "low"}}, "net.value_min must be a number, not 'low'"),
    # bools, choices, nested configs
    ({"ablation": {"max_backup": "yes"}}, "ablation.max_backup must be true or false, not 'yes'"),
    ({"search": {"planner": "beam"}}, "search.planner must be one of 'exact', 'muzero', not 'beam'"),
    ({"ablation": {"search_policy": 1}}, "ablation.search_policy must be one of 'gumbel', 'muzero', not 1"),
    ({"search": [1]}, "search must be an object of SearchConfig fields, not [1]"),
    ({"learner": 256}, "learner must be an object of LearnerConfig fields, not 256"),
    ({"ablation": None}, "ablation must be an object of Ablation fields, not None"),
    ({"game_config": "sort"}, "game_config must be an object, not 'sort'"),
    # fields that must agree with each other
    ({"net": {"heads": 5}}, "net.heads must divide dim (32), not 5"),
    ({"net": {"value_min": 3}}, "net.value_max must be more than value_min (3.0), not 3.0"),
    # the game's config and rules
    ({"game_config": {"max_length": 0}}, "game_config.max_length must be an int >= 1, not 0"),
    ({"game_config": {"latency_weight": -0.5}}, "game_config.latency_weight must be a number >= 0, not -0.5"),
    ({"game_config": {"latency": "seconds"}},
     "game_config.latency must be one of 'length', 'executed', 'cycles', not 'seconds'"),
    ({"game_config": {"rules": {"read_once": 1}}}, "game_config.rules.read_once must be true or false, not 1"),
    ({"game_config": {"rules": "all"}}, "game_config.rules must be an object of Rules fields, not 'all'"),
    ({"game_config": {"shaping": {"registers": "1"}}}, "game_config.shaping must map potential names to weights"),
]


@pytest.mark.parametrize("delta, error", BAD, ids=[json.dumps(delta) for delta, _ in BAD])
def test_a_bad_value_is_a_one_line_error_naming_the_file_and_the_field(tmp_path, delta, error):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(delta))
    with pytest.raises(ConfigError) as raised:
        load_config("sort2", str(bad))
    assert str(raised.value).startswith(f"bad.json: {error}") and "\n" not in str(raised.value)


def test_ints_and_floats_are_stored_as_their_fields_types(tmp_path):
    file = tmp_path / "numbers.json"
    file.write_text(json.dumps({"selfplay_batch": 8.0, "minutes": 2, "learner": {"learning_rate": 0}}))
    config = load_config("sort2", str(file))
    assert type(config.selfplay_batch) is int and type(config.minutes) is float
    assert config.learner.learning_rate == 0.0  # a frozen network is a legitimate ablation


def test_the_cli_rejects_a_bad_config_in_one_line_and_writes_nothing(tmp_path, capsys):
    bad, out = tmp_path / "bad.json", tmp_path / "run"
    for delta in ({"net": "big"}, {"learner": {"batch": 0}}, {"ablation": {"epsilon": 5}}):
        bad.write_text(json.dumps(delta))
        assert cli.main(["train", "sort2", "--config", str(bad), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("alphadev train: bad.json: ")
        assert not out.exists()
    assert cli.main(["train", "sort2", "--minutes", "-1", "--out", str(out)]) == 2
    assert "minutes must be a number > 0, not -1.0" in capsys.readouterr().err and not out.exists()
