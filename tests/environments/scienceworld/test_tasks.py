"""ScienceWorld tasks: ids, the engine's own splits, task type selection, and errors for unknown ones."""

from __future__ import annotations

import pytest

pytest.importorskip("scienceworld")

import agentgym  # noqa: E402
from agentgym.environments.scienceworld import catalog  # noqa: E402
from agentgym.errors import ConfigError, UnknownTaskError  # noqa: E402
from agentgym.tasks import check_disjoint  # noqa: E402

from .helpers import ENV_ID, needs_java  # noqa: E402

pytestmark = [pytest.mark.scienceworld, needs_java]


def test_all_30_task_types_split_into_disjoint_train_dev_test():
    env = agentgym.make(ENV_ID).unwrapped
    try:
        assert env.splits() == ("train", "dev", "test")
        task_sets = {split: env.task_set(split) for split in env.splits()}
        check_disjoint(task_sets)
        assert {split: len(tasks) for split, tasks in task_sets.items()} == {
            "train": 3592,
            "dev": 1796,
            "test": 1819,
        }
        assert sum(map(len, task_sets.values())) == 7207 == sum(t.variations for t in catalog.TASK_TYPES)
        assert {task.data["task_type"] for task in task_sets["test"]} == set(catalog.BY_NAME)
        test = task_sets["test"]
        assert test[0].id == "boil-var21" and test[-1].id == "mendelian-genetics-unknown-plant-var479"
        assert test.get("identify-life-stages-1-var9").data == {
            "task_type": "identify-life-stages-1",
            "task_number": "8-1",
            "variation": 9,
            "simplifications": "",
        }
    finally:
        env.close()


def test_split_table_is_the_engines(shared):
    """The tabled splits are what the engine reports: variation counts for all 30, whole splits for some."""
    engine = shared.unwrapped.engine
    for task_type in catalog.TASK_TYPES:
        assert engine.max_variations(task_type.name) == task_type.variations, task_type.name
    for name in ["boil", "chemistry-mix", "identify-life-stages-2", "inclined-plane-friction-named-surfaces"]:
        task_type = catalog.BY_NAME[name]
        engine.load(name, 0)
        reported = engine.split_variations()
        assert {split: list(task_type.split_variations(split)) for split in catalog.SPLITS} == reported


def test_task_ids_round_trip_and_task_types_by_name_or_number():
    for task_type in catalog.TASK_TYPES:
        for variation in (0, task_type.variations - 1):
            assert catalog.parse_task_id(catalog.task_id(task_type, variation)) == (task_type, variation)
    assert catalog.task_id(catalog.BY_NAME["identify-life-stages-1"], 9) == "identify-life-stages-1-var9"
    chosen = catalog.select_task_types(["4-4", "boil"])  # paper numbers or names, kept in paper order
    assert [t.name for t in chosen] == ["boil", "find-animal"]
    assert catalog.select_task_types("melt") == (catalog.BY_NAME["melt"],)
    assert catalog.select_task_types(None) == catalog.TASK_TYPES and len(catalog.TASK_TYPES) == 30


def test_unknown_task_types_list_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown ScienceWorld task type 'boiling'.*'boil'") as caught:
        agentgym.make(ENV_ID, task_types=["boiling"])
    assert all(t.name in str(caught.value) for t in catalog.TASK_TYPES)  # every valid type is listed
    assert "(1-1)" in str(caught.value)
    with pytest.raises(ConfigError, match="task_types must be"):
        catalog.select_task_types([3])
    with pytest.raises(ConfigError, match=r"unknown simplification\(s\) \['hard'\]"):
        agentgym.make(ENV_ID, simplifications="openDoors,hard")
    with pytest.raises(ConfigError, match="noElectricalAction.*power-component"):
        agentgym.make(ENV_ID, simplifications="noElectricalAction")


def test_unknown_task_ids_say_what_exists(shared):
    env = shared.unwrapped  # errors are raised before the engine is touched
    with pytest.raises(UnknownTaskError, match=r"names no ScienceWorld task type \('bake'\).*find-animal"):
        env.reset(options={"task_id": "bake-var3", "split": "test"})
    with pytest.raises(UnknownTaskError, match="not of the form"):
        env.reset(options={"task_id": "find-animal-3", "split": "test"})
    with pytest.raises(UnknownTaskError, match="variations 0 to 299; there is no variation 300"):
        env.reset(options={"task_id": "find-animal-var300", "split": "test"})
    with pytest.raises(
        UnknownTaskError, match=r"in split 'train', not 'test'.*variations of 'find-animal' are 225 to 299"
    ):
        env.reset(options={"task_id": "find-animal-var3", "split": "test"})
    with pytest.raises(UnknownTaskError, match="leaves out; it offers"):
        env.reset(options={"task_id": "boil-var21", "split": "test"})  # not one of the shared env's types
    with pytest.raises(UnknownTaskError, match=r"split 'valid' does not exist.*'dev'"):
        env.reset(options={"task_id": "find-animal-var150", "split": "valid"})
