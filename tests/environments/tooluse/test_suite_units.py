"""The "units" tool suite: pure conversion/arithmetic tools and the word problems generated with them."""

from __future__ import annotations

import json
import math

import pytest

from agentgym.environments.tooluse.suites.units import (
    KINDS,
    UNIT_TOOLS,
    UNITS_BY_DIMENSION,
    UnitsSuite,
    UnitsWorld,
    convert,
    divide,
)
from agentgym.environments.tooluse.tools import Toolbox
from agentgym.tasks import check_disjoint
from tests.environments.tooluse.helpers import answer_matches, assert_openai_tool_schema, replay

SUITE = UnitsSuite()


@pytest.fixture(scope="module")
def splits():
    return {split: SUITE.task_set(split) for split in SUITE.splits()}


# ----- tasks ------------------------------------------------------------------------------------------------
def test_sizes(splits):
    for split, size in SUITE.sizes.items():
        assert len(splits[split]) == size
    assert SUITE.sizes == {"train": 200, "test": 50}


def test_deterministic(splits):
    other = UnitsSuite()
    for task in list(splits["train"][:20]) + list(splits["test"][:10]):
        again = other.task(task.data["index"], task.split)
        assert again == task
        assert json.loads(json.dumps(again.data)) == task.data  # JSON-serialisable, unchanged by a round trip
        assert [t.__name__ for t in SUITE.build(task).tools()] == [t.__name__ for t in UNIT_TOOLS]


def test_worlds_are_independent(splits):
    task = splits["train"][0]
    one, two = SUITE.build(task), SUITE.build(task)
    assert isinstance(one, UnitsWorld) and one is not two
    tools = one.tools()
    tools.clear()
    assert len(one.tools()) == len(two.tools()) == len(UNIT_TOOLS)
    assert one.state() == two.state() == {}


def test_splits_are_disjoint(splits):
    check_disjoint(splits)
    check_disjoint(splits, key=lambda task: (task.instruction, json.dumps(task.data["answer"])))
    train_ids, test_ids = set(splits["train"].ids), set(splits["test"].ids)
    assert not train_ids & test_ids
    assert len({t.instruction for t in splits["train"]}) == len(splits["train"])


def test_every_kind_in_every_split(splits):
    for tasks in splits.values():
        assert {task.data["kind"] for task in tasks} == set(KINDS)
    assert len(KINDS) >= 5


def test_reference_calls_replay_to_the_answer(splits):
    toolbox = Toolbox(SUITE.build(splits["train"][0]).tools())  # the tools are pure: one toolbox serves all
    for tasks in splits.values():
        for task in tasks:
            data = task.data
            assert data["answer_kind"] == "number" and data["tolerance"] == 0.01
            calls = data["reference_calls"]
            assert len(calls) >= 2, task.id
            assert [t.__name__ for t in SUITE.build(task).tools()] == toolbox.names
            results = replay(task, toolbox)
            final = results[-1].value
            assert answer_matches(round(final, 2), data), task.id
            assert answer_matches(final, data), task.id
            assert round(final, 2) == data["answer"], task.id  # the answer is exactly the chain, rounded
            # Dependent: every intermediate result is an argument of a later call.
            for i, result in enumerate(results[:-1]):
                later = [value for call in calls[i + 1 :] for value in call["arguments"].values()]
                assert result.value in later, f"{task.id}: result {i} ({result.value}) is never used"
            assert "2 decimal places" in task.instruction


def test_answers_are_plausible(splits):
    for task in splits["train"]:
        assert math.isfinite(task.data["answer"]) and task.data["answer"] > 0, task.id


# ----- tools ------------------------------------------------------------------------------------------------
def test_schemas_are_valid_openai_function_schemas():
    schemas = Toolbox(UNIT_TOOLS).schemas()
    assert {s["function"]["name"] for s in schemas} == {
        "convert",
        "add",
        "subtract",
        "multiply",
        "divide",
        "power",
        "round_number",
    }
    for schema in schemas:
        assert_openai_tool_schema(schema, takes_arguments=True)
    convert_schema = next(s for s in schemas if s["function"]["name"] == "convert")
    for unit in ("mile", "GiB", "ft2", "km/h", "cup"):  # the description lists the known units
        assert unit in convert_schema["function"]["description"]


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        (1, "mile", "km", 1.609344),
        (1.609344, "km", "mile", 1.0),
        (212, "F", "C", 100.0),
        (100, "C", "K", 373.15),
        (212, "F", "K", 373.15),
        (32, "F", "C", 0.0),
        (-40, "C", "F", -40.0),
        (0, "K", "C", -273.15),
        (1, "lb", "kg", 0.45359237),
        (16, "oz", "lb", 1.0),
        (1, "GiB", "MiB", 1024.0),
        (1, "GiB", "B", 1024.0**3),
        (1000, "MB", "GB", 1.0),
        (8, "bit", "B", 1.0),
        (1, "gal", "l", 3.785411784),
        (16, "cup", "gal", 1.0),
        (1, "l", "ml", 1000.0),
        (1, "m2", "ft2", 1 / 0.09290304),
        (1, "ha", "m2", 10_000.0),
        (1, "acre", "ft2", 43_560.0),
        (100, "km/h", "m/s", 100 / 3.6),
        (60, "mph", "km/h", 96.56064),
        (90, "min", "h", 1.5),
        (1, "day", "s", 86_400.0),
        (12, "in", "ft", 1.0),
        (1, "nmi", "m", 1852.0),
    ],
)
def test_conversions(value, source, target, expected):
    assert convert(value, source, target) == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_unit_names_are_forgiving():
    assert convert(1, "Miles", "kilometers") == pytest.approx(1.609344)
    assert convert(212, "°F", "celsius") == pytest.approx(100.0)
    assert convert(1, "sq ft", "square_meters") == pytest.approx(0.09290304)
    assert convert(1, "gib", "mib") == pytest.approx(1024.0)
    assert convert(1, " fl oz ", "ml") == pytest.approx(29.5735295625)


def test_every_listed_unit_converts_to_itself():
    for units in UNITS_BY_DIMENSION.values():
        for unit in units:
            assert convert(12.5, unit, unit) == pytest.approx(12.5)
        first = units[0]
        for unit in units:  # round trips through the first unit of the dimension
            assert convert(convert(7.0, unit, first), first, unit) == pytest.approx(7.0)


def test_arithmetic_tools():
    toolbox = Toolbox(UNIT_TOOLS)
    assert toolbox.call("add", {"a": 2, "b": 3.5}).value == 5.5
    assert toolbox.call("subtract", {"a": 2, "b": 3.5}).value == -1.5
    assert toolbox.call("multiply", {"a": 4, "b": 2.5}).value == 10.0
    assert toolbox.call("divide", {"a": 7, "b": 2}).value == 3.5
    assert toolbox.call("power", {"base": 3, "exponent": 3}).value == 27.0
    assert toolbox.call("power", {"base": 16, "exponent": 0.5}).value == 4.0
    assert toolbox.call("round_number", {"value": 2.34567, "digits": 2}).value == 2.35
    assert toolbox.call("round_number", {"value": 2.5678}).value == 2.57
    assert toolbox.call("convert", '{"value": 1, "from_unit": "mile", "to_unit": "km"}').content == "1.609344"


def test_error_paths_are_readable():
    toolbox = Toolbox(UNIT_TOOLS)
    result = toolbox.call("convert", {"value": 1, "from_unit": "kg", "to_unit": "km"})
    assert result.error == "tool_error"
    assert "cannot convert 'kg' (mass) to 'km' (length)" in result.content
    assert "lb" in result.content and "mile" in result.content  # names the units of both dimensions

    result = toolbox.call("convert", {"value": 1, "from_unit": "furlong", "to_unit": "km"})
    assert result.error == "tool_error"
    assert "unknown unit 'furlong'" in result.content
    assert "length units are: mm, cm, m, km" in result.content

    result = toolbox.call("convert", {"value": 1, "from_unit": "kg", "to_unit": "stones_weight"})
    assert "unknown unit 'stones_weight'" in result.content and "mass units are" in result.content

    result = toolbox.call("convert", {"value": 1, "from_unit": "x", "to_unit": "y"})
    assert "unknown units 'x' and 'y'" in result.content and "temperature: C, F, K" in result.content

    result = toolbox.call("convert", {"value": -500, "from_unit": "C", "to_unit": "K"})
    assert result.error == "tool_error" and "absolute zero" in result.content

    result = toolbox.call("divide", {"a": 1, "b": 0})
    assert result.error == "tool_error" and "division by zero" in result.content
    with pytest.raises(ValueError, match="division by zero"):
        divide(3, 0)

    result = toolbox.call("power", {"base": -8, "exponent": 0.5})
    assert result.error == "tool_error" and "no real finite value" in result.content

    result = toolbox.call("multiply", {"a": "three", "b": 2})
    assert result.error == "invalid_arguments" and "'a'" in result.content

    result = toolbox.call("convert", {"value": 1, "from_unit": "kg"})
    assert result.error == "invalid_arguments" and "to_unit" in result.content


def test_tools_are_pure_module_functions():
    for tool in UNIT_TOOLS:
        assert tool.__module__ == "agentgym.environments.tooluse.suites.units"
        assert "." not in tool.__qualname__  # module level, not methods or closures
    assert convert(3, "ft", "m") == convert(3, "ft", "m")
