"""ALFWorld's official game files: found by data_path or $ALFWORLD_DATA, official splits, clear errors.

The fixtures are generated games exported in the official layout (`games.export_official`): three small
rooms, one per official split.
"""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

pytest.importorskip("alfworld")
pytest.importorskip("fast_downward")

import agentgym  # noqa: E402
from agentgym.environments.alfworld import games, official  # noqa: E402
from agentgym.errors import ConfigError, UnknownTaskError  # noqa: E402

from .conftest import ENV_ID, FIXTURES, play_expert  # noqa: E402

pytestmark = pytest.mark.alfworld

FIXTURE_IDS = {
    "train": "pick_clean_then_place_in_recep-Lettuce-None-DiningTable-23/"
    "trial_agentgym_pick_clean_then_place_in_recep-r3-s000002",
    "valid_seen": "look_at_obj_in_light-RemoteControl-None-FloorLamp-209/"
    "trial_agentgym_look_at_obj_in_light-r3-s100001",
    "valid_unseen": "pick_two_obj_and_place-Laptop-None-Bed-305/trial_agentgym_pick_two_obj_and_place-r3-s200005",
}


@pytest.fixture(scope="module")
def fixture_env():
    env = agentgym.make(ENV_ID, data_path=FIXTURES)
    yield env
    env.close()


def test_official_files_load_with_their_official_splits(fixture_env):
    env = fixture_env.unwrapped
    assert env.source == "official" and env.splits() == ("train", "valid_seen", "valid_unseen")
    assert {split: env.task_set(split).ids for split in env.splits()} == {
        s: [i] for s, i in FIXTURE_IDS.items()
    }
    assert env.task_set("valid_unseen")[0].data == {
        "task_type": "pick_two_obj_and_place",
        "source": "official",
    }
    with pytest.raises(
        UnknownTaskError, match=r"split 'test' does not exist; .*\['train', 'valid_seen', 'valid_unseen'\]"
    ):
        env.task_set("test")


@pytest.mark.parametrize("split", list(FIXTURE_IDS))
def test_expert_wins_every_fixture_game(fixture_env, split):
    actions, rewards, _, info = play_expert(fixture_env, FIXTURE_IDS[split], split)
    assert info["success"] and rewards[-1] == 1.0 and info["task_type"] == FIXTURE_IDS[split].split("-")[0]


def test_alfworld_data_variable_is_found(monkeypatch):
    monkeypatch.setenv("ALFWORLD_DATA", str(FIXTURES))
    env = agentgym.make(ENV_ID).unwrapped
    assert env.source == "official" and len(env.task_set("train")) == 1
    assert agentgym.make(ENV_ID, source="generated").unwrapped.splits() == ("train", "valid", "test")


def test_missing_data_path_says_what_was_expected_and_where(tmp_path):
    with pytest.raises(ConfigError) as error:
        agentgym.make(ENV_ID, data_path=tmp_path / "nowhere")
    message = str(error.value)
    for expected in [str(tmp_path / "nowhere"), "json_2.1.1/{train,valid_seen,valid_unseen}/<task>/<trial>/",
                     "game.tw-pddl", "traj_data.json", "generates its tasks offline"]:  # fmt: skip
        assert expected in message


def test_missing_files_under_alfworld_data_warn_and_fall_back_to_generated_tasks(monkeypatch, tmp_path):
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    with pytest.warns(UserWarning, match=r"json_2\.1\.1.*game\.tw-pddl.*generated tasks are used instead"):
        env = agentgym.make(ENV_ID).unwrapped
    assert env.source == "generated"
    with pytest.raises(ConfigError, match="game.tw-pddl"):
        agentgym.make(ENV_ID, source="official")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert agentgym.make(ENV_ID, source="generated").unwrapped.source == "generated"  # no warning


def test_only_solvable_supported_games_are_listed_and_export_round_trips(tmp_path, cache):
    """Exported generated games load as official ones; like alfworld, unsolvable and movable games are skipped."""
    exported = games.export_official(["pick_and_place_simple-r3-s000000"], tmp_path)
    trial = exported[0].parent
    for name, edit in [("unsolvable", {"solvable": False}), ("movable", {})]:
        task_dir = trial.parent.parent / (trial.parent.name.replace("-None-", f"-{name}-"))
        shutil.copytree(trial.parent, task_dir)
        game = task_dir / trial.name / games.GAME_FILE
        game.write_text(json.dumps({**json.loads(game.read_text()), **edit}))
    env = agentgym.make(ENV_ID, data_path=tmp_path / "json_2.1.1")
    assert env.unwrapped.task_set("train").ids == [f"{trial.parent.name}/{trial.name}"]
    assert official.scan(official.require_root(tmp_path), "valid_seen") == ()
    assert play_expert(env, env.unwrapped.task_set("train")[0].id)[3]["success"]
    env.close()
