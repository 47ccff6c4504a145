"""The "files" tool suite: the in-memory file system, its tools and the generated tasks."""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
from typing import Any

import pytest

from agentgym.environments.tooluse.suites.files import KINDS, FilesSuite, FilesWorld
from agentgym.environments.tooluse.tools import MAX_RESULT_CHARS, Toolbox, ToolResult
from agentgym.tasks import check_disjoint
from agentgym.types import Task
from tests.environments.tooluse.helpers import (
    ANSWER_KINDS,
    answer_matches,
    assert_openai_tool_schema,
    replay,
)


# ----- helpers ----------------------------------------------------------------------------------------------
def goal_holds(goal: dict[str, Any], state: dict[str, Any]) -> list[str]:
    """The goal keys whose value in `state` is not the wanted one (missing keys count as wrong)."""
    return [key for key, wanted in goal.items() if key not in state or state[key] != wanted]


_LEVEL = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (\w+)\s")


def level_count(text: str, level: str) -> int:
    return sum(1 for line in text.splitlines() if (m := _LEVEL.match(line)) and m.group(1) == level)


def derive_answer(task: Task, results: list[ToolResult]) -> Any:
    """The answer, worked out here from what the replayed calls returned (independently of the suite)."""
    calls, kind = task.data["reference_calls"], task.data["kind"]
    if kind == "count_errors":
        return level_count(results[-1].value, "ERROR")
    if kind == "keyword_lines":
        return results[-1].value["lines"]
    if kind == "archive_logs":
        return sum(call["name"] == "move" for call in calls)
    if kind == "csv_sum":
        column = re.search(r"sum of the '(\w+)' column", task.instruction).group(1)
        rows = list(csv.DictReader(io.StringIO(results[-1].value)))
        return sum(float(row[column]) for row in rows)
    if kind == "write_summary":
        text = results[-2].value
        content = calls[-1]["arguments"]["content"]
        assert content == f"errors={level_count(text, 'ERROR')} warnings={level_count(text, 'WARN')}"
        return content
    if kind == "longest_file":
        lines = {r.value["path"]: r.value["lines"] for r in results[1:]}
        return max(lines, key=lines.get)
    if kind == "purge_notes":
        return [call["arguments"]["path"] for call in calls if call["name"] == "delete"]
    raise AssertionError(f"no check for kind {kind!r}")


SUITE = FilesSuite()


@pytest.fixture(scope="module")
def splits():
    return {split: SUITE.task_set(split) for split in SUITE.splits()}


def small_world() -> FilesWorld:
    return FilesWorld(
        {
            "/home/ann/notes/a.txt": "alpha\nbeta\ngamma\n",
            "/home/ann/notes/b.txt": "beta only\n",
            "/var/log/app/app-2024-01-01.log": "2024-01-01 00:00:01 ERROR [app.db] down\n",
        },
        dirs=["/archive"],
    )


# ----- tasks ------------------------------------------------------------------------------------------------
def test_sizes(splits):
    assert SUITE.sizes == {"train": 200, "test": 50}
    for split, size in SUITE.sizes.items():
        assert len(splits[split]) == size


def test_deterministic(splits):
    other = FilesSuite()
    for task in list(splits["train"][:14]) + list(splits["test"][:7]):
        again = other.task(task.data["index"], task.split)
        assert again == task
        assert json.loads(json.dumps(again.data)) == task.data  # JSON-serialisable
        assert SUITE.build(task).snapshot() == other.build(again).snapshot()
        assert SUITE.build(task).state() == other.build(again).state()


def test_worlds_are_independent(splits):
    task = next(t for t in splits["train"] if t.data["kind"] == "archive_logs")
    one, two = SUITE.build(task), SUITE.build(task)
    before = two.snapshot()
    replay(task, Toolbox(one.tools()))
    assert one.snapshot() != before
    assert two.snapshot() == before
    move = next(call for call in task.data["reference_calls"] if call["name"] == "move")
    assert two.file_info(move["arguments"]["src"])["type"] == "file"
    with pytest.raises(FileNotFoundError):
        one.file_info(move["arguments"]["src"])


def test_splits_are_disjoint(splits):
    check_disjoint(splits)
    check_disjoint(splits, key=lambda task: (task.instruction, json.dumps(task.data["answer"])))
    assert not set(splits["train"].ids) & set(splits["test"].ids)


def test_every_kind_in_every_split(splits):
    for tasks in splits.values():
        assert {task.data["kind"] for task in tasks} == set(KINDS)
    assert len(KINDS) >= 4


def test_worlds_have_the_promised_shape(splits):
    for task in splits["test"]:
        files, dirs = SUITE.build(task).snapshot()
        assert 15 <= len(files) <= 45, (task.id, len(files))
        assert "/archive" in dirs
        assert any(path.startswith("/var/log/") for path in files)
        assert all(len(content) < MAX_RESULT_CHARS for content in files.values())  # read in full


def check_unambiguous(task: Task, files: dict[str, str]) -> None:
    """The facts that make the task's answer the only right one hold in its world."""
    data, kind = task.data, task.data["kind"]
    if kind == "keyword_lines":
        token = re.search(r"ticket (\S+)\.", task.instruction).group(1)
        assert sum(token in content for content in files.values()) == 1, task.id
    elif kind == "longest_file":
        directory = posixpath.dirname(data["answer"])
        counts = sorted(len(c.splitlines()) for p, c in files.items() if posixpath.dirname(p) == directory)
        assert counts[-1] > counts[-2], task.id
    elif kind == "purge_notes":
        kept = [key for key, exists in data["goal"].items() if exists]
        assert kept and data["answer"], task.id
    elif kind == "archive_logs":
        logs = [p for p in files if p.startswith("/var/log/") and p.endswith(".log")]
        assert 1 <= data["answer"] < len(logs), task.id
    if kind in ("count_errors", "keyword_lines", "archive_logs"):
        assert isinstance(data["answer"], int) and data["tolerance"] == 0, task.id


def test_reference_calls_replay_to_the_answer_and_goal(splits):
    for tasks in splits.values():
        for task in tasks:
            data = task.data
            calls = data["reference_calls"]
            assert len(calls) >= 2, task.id
            assert data["answer_kind"] in ANSWER_KINDS
            world = SUITE.build(task)
            check_unambiguous(task, world.snapshot()[0])
            before = world.state()
            results = replay(task, Toolbox(world.tools()))
            # Dependent: the second call uses a name that only the first call's result reveals.
            second = calls[1]["arguments"].get("path") or calls[1]["arguments"].get("src")
            assert posixpath.basename(second) in results[0].content, task.id
            derived = derive_answer(task, results)
            assert answer_matches(derived, data), (
                task.id,
                derived,
                data["answer"],
            )
            if "goal" in data:
                assert goal_holds(data["goal"], before), task.id  # not already reached at the start
                state = world.state()
                assert not goal_holds(data["goal"], state), (task.id, goal_holds(data["goal"], state))


# ----- tools ------------------------------------------------------------------------------------------------
def test_schemas_are_valid_openai_function_schemas():
    schemas = Toolbox(small_world().tools()).schemas()
    assert {s["function"]["name"] for s in schemas} == {
        "list_dir",
        "read_file",
        "search_files",
        "write_file",
        "move",
        "delete",
        "file_info",
    }
    for schema in schemas:
        assert_openai_tool_schema(schema, takes_arguments=True)


def test_tools_behave_like_a_file_system():
    world = small_world()
    assert world.list_dir("/") == ["archive/", "home/", "var/"]
    assert world.list_dir("/home/ann/notes/") == ["a.txt", "b.txt"]
    assert world.list_dir("/archive") == []
    assert world.read_file("home/ann/notes/a.txt") == "alpha\nbeta\ngamma\n"  # relative to the root
    assert world.file_info("/home/ann/notes/a.txt") == {
        "path": "/home/ann/notes/a.txt",
        "type": "file",
        "size_bytes": 17,
        "lines": 3,
    }
    assert world.file_info("/home/ann") == {"path": "/home/ann", "type": "directory", "entries": 1}
    assert world.search_files("beta") == [
        "/home/ann/notes/a.txt:2: beta",
        "/home/ann/notes/b.txt:1: beta only",
    ]
    assert world.search_files("beta", "/home/ann/notes/b.txt") == ["/home/ann/notes/b.txt:1: beta only"]
    assert world.search_files(r"^(alpha|gamma)$", "/home", regex=True) == [
        "/home/ann/notes/a.txt:1: alpha",
        "/home/ann/notes/a.txt:3: gamma",
    ]
    assert world.search_files("nothing like this") == []
    assert world.search_files("ERROR", "/var") == [
        "/var/log/app/app-2024-01-01.log:1: 2024-01-01 00:00:01 ERROR [app.db] down"
    ]

    assert "created" in world.write_file("/tmp/new/out.txt", "x\ny")
    assert world.list_dir("/tmp") == ["new/"]
    assert "overwrote" in world.write_file("/tmp/new/out.txt", "z")
    assert world.read_file("/tmp/new/out.txt") == "z"

    assert world.move("/var/log/app/app-2024-01-01.log", "/archive") == (
        "moved /var/log/app/app-2024-01-01.log to /archive/app-2024-01-01.log"
    )
    assert world.list_dir("/archive") == ["app-2024-01-01.log"]
    assert world.list_dir("/var/log/app") == []  # the directory stays, empty
    world.move("/home/ann/notes", "/home/ann/old-notes")
    assert world.list_dir("/home/ann") == ["old-notes/"]
    assert world.read_file("/home/ann/old-notes/b.txt") == "beta only\n"

    assert world.delete("/home/ann/old-notes/a.txt") == "deleted file /home/ann/old-notes/a.txt"
    assert world.delete("/home/ann") == "deleted directory /home/ann and the 1 file inside it"
    assert world.list_dir("/") == ["archive/", "home/", "tmp/", "var/"]
    assert world.list_dir("/home") == []


def test_state_reports_paths_for_goals():
    world = FilesWorld(
        small_world().snapshot()[0], ["/archive"], watch=["/archive/app-2024-01-01.log", "/r.txt"]
    )
    state = world.state()
    assert state["exists:/var/log/app/app-2024-01-01.log"] is True
    assert state["exists:/archive/app-2024-01-01.log"] is False  # watched, so reported before it exists
    assert state["content:/r.txt"] is None
    world.move("/var/log/app/app-2024-01-01.log", "/archive/")
    world.write_file("/r.txt", "  done\n")
    world.delete("/home/ann/notes/b.txt")
    state = world.state()
    assert state["exists:/var/log/app/app-2024-01-01.log"] is False
    assert state["exists:/archive/app-2024-01-01.log"] is True
    assert state["exists:/home/ann/notes/b.txt"] is False  # deleted paths stay reported
    assert state["content:/r.txt"] == "done"  # whitespace around the text does not count
    assert state["content:/archive/app-2024-01-01.log"].endswith("down")
    assert "content:/home/ann/notes/a.txt" not in state  # untouched files are left out
    json.dumps(state)


def test_error_paths_are_readable():
    toolbox = Toolbox(small_world().tools())

    def error(name: str, **arguments: Any) -> str:
        result = toolbox.call(name, arguments)
        assert result.error == "tool_error", result
        return result.content

    message = error("read_file", path="/home/ann/notes/c.txt")
    assert "FileNotFoundError" in message and "no such file: '/home/ann/notes/c.txt'" in message
    assert "a.txt, b.txt" in message  # what the nearest existing directory holds
    assert "no such directory: '/nope'" in error("list_dir", path="/nope")
    assert "is a directory" in error("read_file", path="/home/ann")
    assert "is a file, not a directory" in error("list_dir", path="/home/ann/notes/a.txt")
    assert "is a directory; cannot write a file over it" in error("write_file", path="/home/ann", content="x")
    assert "is a file, not a directory" in error("write_file", path="/home/ann/notes/a.txt/x", content="x")
    assert "already exists" in error("move", src="/home/ann/notes/a.txt", dst="/home/ann/notes/b.txt")
    assert "into itself" in error("move", src="/home", dst="/home/ann/inner")
    assert "no such file or directory: '/missing'" in error("move", src="/missing", dst="/archive")
    assert "no such file or directory" in error("delete", path="/home/ann/notes/zzz.txt")
    assert "cannot delete the root" in error("delete", path="/")
    assert "invalid regular expression" in error("search_files", pattern="([", regex=True)
    assert "no such file or directory: '/srv'" in error("search_files", pattern="x", path="/srv")
    assert "no such file or directory" in error("file_info", path="/x/y")
    assert "the path is empty" in error("read_file", path="  ")
    result = toolbox.call("read_file", {})
    assert result.error == "invalid_arguments" and "path" in result.content
    # Nothing above changed the world.
    assert small_world().snapshot() == FilesWorld(*toolbox_world_snapshot(toolbox)).snapshot()


def toolbox_world_snapshot(toolbox: Toolbox) -> tuple[dict[str, str], frozenset[str]]:
    world = toolbox.tools["read_file"].function.__self__
    return world.snapshot()
