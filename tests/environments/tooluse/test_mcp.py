"""agentgym/MCP-v0 with real MCP server processes: the expert solves tasks through the bundled server, every
mistake is a readable tool result, and no server outlives its owner (close, SIGKILL, worker processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

pytest.importorskip("mcp")

import agentgym  # noqa: E402
from agentgym.agents import ExpertAgent  # noqa: E402
from agentgym.environments.tooluse.mcp_env import MCPServerError, MCPToolbox, MCPToolEnv  # noqa: E402
from agentgym.environments.tooluse.suites.units import UnitsSuite  # noqa: E402
from agentgym.parsers import encode_tool_calls  # noqa: E402
from agentgym.rollout import RolloutConfig, rollout  # noqa: E402
from agentgym.types import Task  # noqa: E402
from tests.environments.tooluse.helpers import call, play_expert  # noqa: E402

UNIT_TOOLS = {"convert", "add", "subtract", "multiply", "divide", "power", "round_number"}


def running(pid: int) -> bool:
    """Whether `pid` is a live process (an exited one waiting to be reaped does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # not Linux
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not running(pid):
            return True
        time.sleep(0.05)
    return False


def marked_processes(mark: str) -> list[int]:
    """Live processes whose environment holds AGENTGYM_TEST_MARK=mark (servers started with that mark)."""
    needle = f"AGENTGYM_TEST_MARK={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if needle in environ.read().split(b"\0") and running(int(entry)):
                        found.append(int(entry))
            except OSError:
                continue
    return found


def tasks_of_different_kinds(env, split: str = "test", count: int = 4) -> list[str]:
    by_kind: dict[str, str] = {}
    for task in env.unwrapped.task_set(split):
        by_kind.setdefault(task.data["kind"], task.id)
    return list(by_kind.values())[:count]


@pytest.fixture(scope="module")
def env():
    env = agentgym.make("agentgym/MCP-v0")
    yield env
    env.close()


def test_expert_solves_tasks_through_the_server(env):
    _, info = env.reset(options={"task_id": env.unwrapped.task_set("test")[0].id, "split": "test"})
    names = [tool["function"]["name"] for tool in info["tools"]]
    assert set(names) == UNIT_TOOLS | {"final_answer"} and names[-1] == "final_answer"
    convert = next(tool["function"] for tool in info["tools"] if tool["function"]["name"] == "convert")
    assert set(convert["parameters"]["required"]) == {"value", "from_unit", "to_unit"}
    assert convert["parameters"]["properties"]["from_unit"]["description"]  # from the docstring
    assert info["suite"] == "mcp"
    pid = env.unwrapped.server_pid
    kinds = tasks_of_different_kinds(env)
    assert len(kinds) == 4
    for task_id in kinds:
        reward, info = play_expert(env, task_id, max_steps=20)
        assert info["success"], (task_id, info["reward_components"])
        assert reward == pytest.approx(1.0)
    assert env.unwrapped.server_pid == pid  # one server for all the episodes
    # a default split of "train" too, and seeds pick tasks
    _, info = env.reset(seed=3)
    assert info["task"].split == "train"


def test_every_mistake_is_a_tool_result_and_the_episode_goes_on(env):
    task = env.unwrapped.task_set("test")[0]
    env.reset(options={"task_id": task.id, "split": "test"})
    calls = [
        call("teleport", {"to": "mars"}, "c1"),
        call("add", {"a": "two", "b": 3}, "c2"),
        call("multiply", '{"a": 2, "b": ', "c3"),
        call("divide", {"a": 1, "b": 0}, "c4"),
        call("convert", {"value": 1, "from_unit": "kg", "to_unit": "km"}, "c5"),
    ]
    observation, reward, terminated, truncated, info = env.step(encode_tool_calls("", calls))
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["action_valid"] is False
    assert info["tool_errors"] == [
        "unknown_tool",
        "invalid_arguments",
        "invalid_json",
        "tool_error",
        "tool_error",
    ]
    results = {r["tool_call_id"]: r["content"] for r in info["tool_results"]}
    assert "no tool named 'teleport'" in results["c1"] and "convert" in results["c1"]
    assert "invalid arguments for tool 'add'" in results["c2"] and "valid number" in results["c2"]
    assert "not valid JSON" in results["c3"]
    assert "division by zero" in results["c4"]
    assert "different dimensions" in results["c5"]
    assert env.unwrapped.toolbox.call("add", "[1, 2]").error == "invalid_json"
    # the episode goes on: a good call works, and the expert still solves the task
    _, _, _, _, info = env.step(encode_tool_calls("", [call("add", {"a": 2.5, "b": 3}, "c6")]))
    assert info["tool_results"] == [{"tool_call_id": "c6", "content": "5.5"}] and info["action_valid"]
    assert env._elapsed_steps == 2  # the step of failed calls counted toward the time limit
    while not (terminated or truncated):
        _, reward, terminated, truncated, info = env.step(info["expert_action"])
    assert terminated and info["success"]
    assert env._elapsed_steps == 2 + len(task.data["reference_calls"]) + 1
    assert 0.8 - 1e-9 <= reward < 1.0  # the answer is right; the stray calls cost tool-call credit


def write_tasks(path) -> list[Task]:
    """A JSONL tasks file: three units tasks of different kinds and one written by hand."""
    by_kind: dict[str, Task] = {}
    for task in UnitsSuite().task_set("train"):
        by_kind.setdefault(task.data["kind"], task)
    by_hand = Task(
        id="by-hand",
        split="test",
        instruction="How many pounds (lb) is 2.5 kg? Round the answer to 2 decimal places.",
        data={
            "reference_calls": [
                {"name": "convert", "arguments": {"value": 2.5, "from_unit": "kg", "to_unit": "lb"}}
            ],
            "answer": 5.51,
            "answer_kind": "number",
            "tolerance": 0.01,
        },
    )
    tasks = [*list(by_kind.values())[:3], by_hand]
    path.write_text("".join(task.model_dump_json() + "\n" for task in tasks))
    return tasks


def test_tasks_from_a_file_in_xml_format_and_close_stops_the_server(tmp_path):
    tasks = write_tasks(tmp_path / "tasks.jsonl")
    env = MCPToolEnv(format="xml", tasks=str(tmp_path / "tasks.jsonl"))
    assert env.splits() == ("train", "test") and len(env.task_set("train")) == 3
    for task in tasks:
        reward, info = play_expert(env, task.id, task.split, max_steps=20)
        assert info["success"] and reward == pytest.approx(1.0), task.id
        assert "tool_results" not in info and info["suite"] == "mcp"
    _, info = env.reset(seed=0)
    assert info["expert_action"].startswith("<tool_call>")
    observation, *_ = env.step('<tool_call>{"name": "divide", "arguments": {"a": 1, "b": 0}}</tool_call>')
    assert observation.startswith("<tool_response>") and "division by zero" in observation
    pid = env.server_pid
    assert pid is not None and running(pid)
    toolbox = env.mcp_suite.toolbox
    env.close()
    assert wait_gone(pid, 1.0), "close() must stop the server"
    assert env.server_pid is None and toolbox.closed
    env.close()  # idempotent
    toolbox.close()
    assert toolbox.call("add", {"a": 1, "b": 2}).error == "tool_error"


def test_bad_server_command_names_it_and_its_stderr():
    script = "import sys; sys.stderr.write('missing API key FOO_TOKEN\\n'); sys.exit(2)"
    with pytest.raises(MCPServerError) as failure:
        MCPToolbox([sys.executable, "-c", script])
    assert "-c" in str(failure.value) and "missing API key FOO_TOKEN" in str(failure.value)
    env = MCPToolEnv(server="no-such-mcp-server --flag")
    with pytest.raises(MCPServerError, match="no-such-mcp-server --flag"):
        env.reset(seed=0)
    env.close()


SLOW_TOOLS = textwrap.dedent(
    """
    import os
    import time


    def nap(seconds: float) -> str:
        \"\"\"Sleep, then say so.

        Args:
            seconds: how long to sleep.
        \"\"\"
        time.sleep(seconds)
        return "rested"


    def crash() -> str:
        \"\"\"End the server process.\"\"\"
        os._exit(3)


    TOOLS = [nap, crash]
    """
)


def test_timeouts_and_a_server_that_dies_are_tool_results(tmp_path):
    (tmp_path / "slow_tools.py").write_text(SLOW_TOOLS)
    command = [
        sys.executable,
        "-m",
        "agentgym.environments.tooluse.mcp_server",
        "--tools",
        "slow_tools:TOOLS",
    ]
    toolbox = MCPToolbox(command, env={"PYTHONPATH": str(tmp_path)}, timeout=0.5)
    assert toolbox.names == ["nap", "crash"]
    nap = toolbox.schemas()[0]["function"]
    assert nap["description"] == "Sleep, then say so."
    assert nap["parameters"]["properties"]["seconds"] == {
        "description": "how long to sleep.",
        "type": "number",
    }
    started = time.perf_counter()
    result = toolbox.call("nap", {"seconds": 5})
    assert result.error == "timeout" and "did not finish within 0.5 seconds" in result.content
    assert time.perf_counter() - started < 4  # cut short, not waited out
    assert toolbox.call("nap", {"seconds": 0}, timeout=3).content == "rested"  # still usable
    pid = toolbox.pid
    result = toolbox.call("crash", {}, timeout=10)  # time for a busy host's server to act on it and exit
    assert result.error == "tool_error" and "not running" in result.content and "slow_tools" in result.content
    assert wait_gone(pid, 2.0)
    assert toolbox.call("nap", {"seconds": 0}).error == "tool_error"
    toolbox.close()
    toolbox.close()


CHILD = textwrap.dedent(
    """
    import sys, time
    import agentgym
    env = agentgym.make("agentgym/MCP-v0")
    env.reset(seed=0)
    print(env.unwrapped.server_pid, flush=True)
    time.sleep(60)
    """
)


def test_a_killed_owner_leaves_no_server_behind():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(child.stdout.readline())
        assert running(pid)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(5)
        assert wait_gone(pid, 5.0), "the server outlived its SIGKILLed owner"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()


def test_rollout_in_worker_processes_solves_all_and_leaves_no_server():
    psutil = pytest.importorskip("psutil")
    mark = uuid.uuid4().hex
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    config = RolloutConfig(
        "agentgym/MCP-v0",
        env_kwargs={"server_env": {"AGENTGYM_TEST_MARK": mark}},
        num_tasks=6,
        concurrency=2,
        workers=2,
        progress=False,
    )
    result = rollout(ExpertAgent(), config)
    assert len(result.trajectories) == 6
    assert all(t.status == "ok" and t.success for t in result.trajectories), [
        (t.task_id, t.error) for t in result.trajectories if not t.success
    ]
    deadline = time.monotonic() + 5
    while marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked_processes(mark) == []
    after = {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}
    assert after <= before
