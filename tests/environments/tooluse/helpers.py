"""Checks the tool-use tests share: replaying reference calls, comparing answers, tool schemas, expert play."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, ClassVar

import jsonschema

from agentgym.environments.tooluse.suites.base import ToolSuite, ToolWorld
from agentgym.environments.tooluse.tools import Toolbox, ToolResult
from agentgym.tasks import check_disjoint
from agentgym.types import FunctionCall, Task, ToolCall

ANSWER_KINDS = {"number", "text", "set", "list"}


# ----- tasks ------------------------------------------------------------------------------------------------
def replay(task: Task, toolbox: Toolbox) -> list[ToolResult]:
    """Run the task's reference calls through the toolbox, as JSON text like a model writes them."""
    results = []
    for call in task.data["reference_calls"]:
        result = toolbox.call(call["name"], json.dumps(call["arguments"]))
        assert result.ok, f"{task.id}: {call} failed: {result.content}"
        results.append(result)
    return results


def answer_matches(got: Any, data: dict[str, Any]) -> bool:
    """Whether `got` is the task's answer (`data["answer"]`), compared the way `data["answer_kind"]` says.

    Numbers within `data["tolerance"]` (0 if absent); text after stripping; sets with no repeats; lists in order.
    """
    kind, expected = data["answer_kind"], data["answer"]
    if kind == "number":
        return math.isclose(float(got), float(expected), rel_tol=0.0, abs_tol=data.get("tolerance", 0) + 1e-9)
    if kind == "text":
        return str(got).strip() == str(expected).strip()
    if kind == "set":
        return set(got) == set(expected) and len(set(got)) == len(got) == len(expected)
    if kind == "list":
        return list(got) == list(expected)
    raise AssertionError(f"unknown answer kind {kind!r}")


class GeneratedSuiteTests:
    """The tests of a generated suite's splits that do not depend on the suite.

    A suite's test module subclasses it as ``Test...`` with `suite` and `extract` (kind -> the function that
    reads the answer from the replayed results), and provides a `splits` fixture (split -> its TaskSet).
    """

    suite: ClassVar[ToolSuite]
    extract: ClassVar[dict[str, Callable[[Task, list[ToolResult]], Any]]]

    def test_sizes_and_ids(self, splits):
        assert {split: len(tasks) for split, tasks in splits.items()} == {"train": 200, "test": 50}
        for split, tasks in splits.items():
            assert all(task.split == split and task.id.startswith(f"{self.suite.name}-") for task in tasks)

    def test_splits_are_disjoint(self, splits):
        check_disjoint(splits)
        check_disjoint(splits, key=lambda task: (task.instruction, json.dumps(task.data["answer"])))

    def test_every_kind_is_generated(self, splits):
        kinds = {task.data["kind"] for task in splits["train"]}
        assert kinds == set(type(self.suite).kinds) == set(self.extract)
        assert len({task.data["answer_kind"] for task in splits["train"]}) == 4


def check_data_contract(task: Task, suite: str) -> None:
    """What the data of every generated task of the suite named `suite` holds (see `suites/base.py`)."""
    data = task.data
    assert data["suite"] == suite
    assert data["answer_kind"] in ANSWER_KINDS
    assert len(data["reference_calls"]) >= 2, task.id  # never answerable in one lookup
    assert all(set(call) == {"name", "arguments"} for call in data["reference_calls"])
    if data["answer_kind"] in ("set", "list"):
        assert data["answer"] and isinstance(data["answer"], list)
    assert json.loads(json.dumps(data)) == data  # JSON-serialisable as it is


def check_replay(
    world: ToolWorld, task: Task, extract: Callable[[Task, list[ToolResult]], Any]
) -> list[ToolResult]:
    """Replay the task's reference calls on `world`; they must reach the answer and the goal.

    `extract` reads the answer from the results. The goal must not hold before the calls, and must after.
    """
    initial = world.state()
    results = replay(task, Toolbox(world.tools()))
    got = extract(task, results)
    assert answer_matches(got, task.data), f"{task.id}: replay gave {got!r}, answer {task.data['answer']!r}"
    goal = task.data.get("goal", {})
    state = world.state()
    for key, value in goal.items():
        assert state[key] == value, f"{task.id}: {key} is {state[key]!r}, goal {value!r}"
    if goal:
        assert any(initial.get(k) != v for k, v in goal.items()), f"{task.id}: goal holds from the start"
    return results


def assert_calls_depend_on_results(
    task: Task, results: list[ToolResult], instruction: str, joiners: str = ""
) -> None:
    """Some later call uses a value that only an earlier result gave (an id, a name, a date), not `instruction`.

    A value counts where it stands as a whole token: not inside a word or number, nor next to a `joiners`
    character (so id 1 is not found in "order 1924").
    """
    calls = task.data["reference_calls"]
    for i, call in enumerate(calls[1:], start=1):
        earlier = {
            str(v) for r in results[:i] for v in leaves(r.value) if v is not None and not isinstance(v, bool)
        }
        new = {e for e in earlier if not _mentions(instruction, e, joiners)}
        if any(_mentions(str(value), e, joiners) for value in leaves(call["arguments"]) for e in new):
            return
    raise AssertionError(f"{task.id}: no reference call uses an earlier result")


def _mentions(text: str, value: str, joiners: str) -> bool:
    """Whether `value` occurs in `text` as a whole token."""
    chars = re.escape(joiners)
    pattern = rf"(?<![\w.{chars}]){re.escape(value)}(?![\w{chars}])"
    return value in text and re.search(pattern, text) is not None


def leaves(value: Any) -> list[Any]:
    """The scalars inside nested dicts and lists, in order."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in leaves(v)]
    return [value]


# ----- tools ------------------------------------------------------------------------------------------------
def assert_openai_tool_schema(schema: dict[str, Any], *, takes_arguments: bool = False) -> None:
    """An OpenAI function-tool schema with a description for the tool and for every parameter.

    With `takes_arguments`, the tool must have at least one parameter.
    """
    assert schema["type"] == "function"
    function = schema["function"]
    assert set(function) == {"name", "description", "parameters"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", function["name"])
    assert function["description"].strip(), function["name"]
    parameters = function["parameters"]
    jsonschema.Draft202012Validator.check_schema(parameters)
    assert parameters["type"] == "object"
    assert parameters["additionalProperties"] is False
    if takes_arguments:
        assert parameters["properties"], function["name"]
    assert set(parameters.get("required", [])) <= set(parameters["properties"])
    for name, prop in parameters["properties"].items():
        assert prop.get("description", "").strip(), f"{function['name']}.{name} has no description"
        assert "type" in prop or "anyOf" in prop, f"{function['name']}.{name} has no type"
    json.dumps(schema)


def tool_error(world: ToolWorld, tool: str, **arguments: Any) -> str:
    """The text of a call of `tool` on `world` that the tool itself refused (it raised)."""
    result = Toolbox(world.tools()).call(tool, arguments)
    assert result.error == "tool_error", result
    assert result.content.startswith(f"Error: tool {tool!r} failed")
    return result.content


# ----- the environment --------------------------------------------------------------------------------------
def call(name: str, arguments: str | dict, call_id: str = "call_1") -> ToolCall:
    """A tool call as a model writes it (`arguments` as JSON text, or a dict to encode)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall(id=call_id, function=FunctionCall(name=name, arguments=text))


def play_expert(env, task_id: str, split: str = "test", max_steps: int = 50):
    """Play the task with the expert's actions; the final reward and info."""
    _, info = env.reset(options={"task_id": task_id, "split": split})
    for _ in range(max_steps):
        _, reward, terminated, truncated, info = env.step(info["expert_action"])
        if terminated or truncated:
            return reward, info
    raise AssertionError(f"the expert did not finish {task_id}")
