"""Generated ALFWorld tasks: ids, splits, determinism, the files written, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("alfworld")
pytest.importorskip("fast_downward")

import agentgym  # noqa: E402
from agentgym.environments.alfworld import games, generator, rooms  # noqa: E402
from agentgym.errors import ConfigError, UnknownTaskError  # noqa: E402
from agentgym.tasks import check_disjoint  # noqa: E402

from .conftest import ENV_ID, SMALL  # noqa: E402

pytestmark = pytest.mark.alfworld

TYPES = generator.TASK_TYPES


def test_listing_generates_nothing_and_ids_are_stable(tmp_path):
    env = agentgym.make(ENV_ID, source="generated", cache_dir=tmp_path).unwrapped
    assert env.splits() == ("train", "valid", "test")
    tasks = {split: env.task_set(split) for split in env.splits()}
    assert {split: len(t) for split, t in tasks.items()} == {"train": 3553, "valid": 140, "test": 134}
    assert [t.id for t in tasks["train"][:7]] == [f"{TYPES[n % 6]}-s{n:06d}" for n in range(7)]
    assert tasks["test"][5].id == "pick_two_obj_and_place-s200005" and tasks["test"][5].split == "test"
    assert tasks["valid"][1].data == {"task_type": "look_at_obj_in_light", "source": "generated"}
    assert list(tmp_path.iterdir()) == []  # listing touched no game
    small = agentgym.make(ENV_ID, source="generated", max_receptacles=6).unwrapped
    assert small.task_set("train")[3].id == "pick_heat_then_place_in_recep-r6-s000003"


def test_splits_are_disjoint_by_id_and_test_rooms_are_unseen():
    env = agentgym.make(ENV_ID, source="generated").unwrapped
    check_disjoint({split: env.task_set(split) for split in env.splits()})
    seeds = {split: {games.parse_task_id(t.id)[2] for t in env.task_set(split)} for split in env.splits()}
    assert not (seeds["train"] & seeds["valid"]) and not (seeds["train"] | seeds["valid"]) & seeds["test"]
    train_rooms, test_rooms = set(games.SPLIT_FLOOR_PLANS["train"]), set(games.SPLIT_FLOOR_PLANS["test"])
    assert not train_rooms & test_rooms and len(test_rooms) == 24
    assert {rooms.ROOM_KINDS[n] for n in test_rooms} == {"Kitchen", "LivingRoom", "Bedroom", "Bathroom"}


def test_task_ids_round_trip_and_bad_ids_name_the_task_types():
    for task_id in ["pick_and_place_simple-s000000", "pick_two_obj_and_place-r6-s200007"]:
        task_type, cap, seed = games.parse_task_id(task_id)
        assert games.task_id(task_type, seed, cap) == task_id
    assert games.parse_task_id("look_at_obj_in_light-s100001") == ("look_at_obj_in_light", None, 100001)
    for bad in ["pick_and_place_simple-s42", "pick_and_place_simple-r06-s000001", "put_it_away-s000001"]:
        with pytest.raises(UnknownTaskError, match="pick_heat_then_place_in_recep|canonical"):
            games.parse_task_id(bad)
    with pytest.raises(UnknownTaskError, match="no split"):
        games.parse_task_id("pick_and_place_simple-s300000")


def test_task_type_filter_and_bad_configuration(tmp_path):
    env = agentgym.make(ENV_ID, source="generated", task_types=["pick_two_obj_and_place", 3]).unwrapped
    assert {t.data["task_type"] for t in env.task_set("test")} == {TYPES[2], TYPES[5]}
    assert env.task_set("test")[0].id == "pick_clean_then_place_in_recep-s200000"
    with pytest.raises(
        ConfigError, match=r"unknown ALFWorld task type 'pick_and_place'; expected some of \["
    ):
        agentgym.make(ENV_ID, source="generated", task_types=["pick_and_place"])
    with pytest.raises(ConfigError, match="max_receptacles"):
        agentgym.make(ENV_ID, source="generated", max_receptacles=1)
    with pytest.raises(ConfigError, match="split_sizes"):
        agentgym.make(ENV_ID, source="generated", split_sizes={"valid_seen": 3})
    with pytest.raises(ConfigError, match="source"):
        agentgym.make(ENV_ID, source="download")
    with pytest.raises(
        UnknownTaskError, match=r"split 'valid_unseen' does not exist; .*\['train', 'valid', 'test'\]"
    ):
        env.task_set("valid_unseen")


@pytest.mark.parametrize("task_type", TYPES)
def test_each_task_type_generates_alfworld_files_with_a_verified_walkthrough(cache, task_type):
    split = "train" if task_type != "look_at_obj_in_light" else "test"
    seed = games.split_seeds(split, 1)[0] + TYPES.index(task_type)
    record = games.ensure_game(games.task_id(task_type, seed, SMALL))
    game = json.loads(record.path.read_text())
    traj = record.traj_data
    assert set(game) == {"pddl_domain", "grammar", "pddl_problem", "solvable", "walkthrough"}
    assert game["pddl_domain"] == games.shipped_logic()[0] and game["solvable"] is True
    assert "UNKNOWN GOAL" not in game["grammar"] and traj["template"]["task_desc"] in game["grammar"]
    assert traj["task_type"] == task_type and record.task_type == task_type
    params = traj["pddl_params"]
    assert params["object_target"] in rooms.PLACEABLE
    assert (params["toggle_target"] in rooms.LAMPS) == (task_type == "look_at_obj_in_light")
    assert traj["scene"]["scene_num"] in games.SPLIT_FLOOR_PLANS[split]
    assert 1 <= len(game["walkthrough"]) <= games.EXPERT_STEP_LIMIT
    assert game["pddl_problem"].count(" - receptacle") <= SMALL + 1  # the cap (one over if the task needs it)


def test_generation_is_deterministic_across_processes(tmp_path):
    """Two processes with different hash seeds generate the same id into two caches: same bytes."""
    task_id = "pick_cool_then_place_in_recep-r3-s000004"
    code = f"from agentgym.environments.alfworld import games; games.ensure_game({task_id!r})"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env={**os.environ, "AGENTGYM_CACHE": str(tmp_path / name), "PYTHONHASHSEED": hash_seed},
            stderr=subprocess.PIPE,
        )
        for name, hash_seed in (("a", "1"), ("b", "2"))
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr.decode()
    a, b = (games.game_dir(task_id, tmp_path / name / "alfworld") for name in ("a", "b"))
    for name in (games.GAME_FILE, games.TRAJ_FILE):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert [p.name for p in (tmp_path / "a" / "alfworld").iterdir()] == [a.name]  # no temporary dirs left


def test_rooms_come_from_the_shipped_floor_plans():
    assert len(rooms.floor_plans()) == 120
    kitchen = rooms.load_room(1)
    assert (
        kitchen.kind == "Kitchen"
        and {"Fridge", "Microwave", "SinkBasin", "StoveBurner"} <= kitchen.receptacle_types
    )
    sink = kitchen.of_type("SinkBasin")[0]
    assert sink.id.startswith("Sink|") and sink.id.endswith(
        "|SinkBasin"
    )  # ALFRED's form, demangled "sinkbasin"
    assert len({r.id for r in kitchen.receptacles}) == len(kitchen.receptacles)
    assert rooms.load_room(1) == kitchen  # synthetic receptacles do not change between builds
