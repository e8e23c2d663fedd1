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
