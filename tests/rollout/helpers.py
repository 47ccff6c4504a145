"""Test environments and agents for the rollout engine.

`ScriptedMaze` is the Maze with hooks the agent triggers by the command it sends ('crash' kills the
process hosting the environment, 'explode' raises, 'unpicklable' puts a lambda in info, 'nap <s>'
sleeps, a tool-call JSON gets tool results), plus tasks whose first step waits at a gate the test opens.
It is registered here as `test/ScriptedMaze-v0`; worker processes import it by its entry point (this
module), so it must stay importable as `tests.rollout.helpers`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

from agentgym.agents.base import Agent, AgentOutput
from agentgym.environments.maze.env import MazeEnv
from agentgym.errors import AgentError
from agentgym.registration import register
from agentgym.rollout.workers import EnvFactory
from agentgym.types import Usage

SCRIPTED = "test/ScriptedMaze-v0"


class ScriptedMaze(MazeEnv):
    """`gated_tasks` hold their first step until the file `gate/released` exists, with `gate/held` there
    meanwhile (after `gate_timeout` seconds the step gives up and touches `gate/gave-up`). A test opens
    the gate only once other episodes have moved on meanwhile, which shows by order, not by a clock, that
    the step did not stall them."""

    def __init__(
        self, gated_tasks: tuple[str, ...] = (), gate: str = "", gate_timeout: float = 30.0, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.gated_tasks, self.gate, self.gate_timeout = tuple(gated_tasks), gate, gate_timeout
        self._held: set[str] = set()

    def _act(self, action):
        command = (action.command or "").strip()
        if command == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if command == "explode":
            raise RuntimeError("the scripted maze exploded")
        if command == "unpicklable":
            info = self._info()
            info["callback"] = lambda: None  # fine in threads, cannot cross a process boundary
            return "You hold a callback.", 0.0, False, False, info
        if self.task.id in self.gated_tasks and self.task.id not in self._held:
            self._held.add(self.task.id)
            self._hold_at_the_gate()
        if command.startswith("nap "):
            time.sleep(float(command.split()[1]))
            return "You nap.", 0.0, False, False, self._info()
        if command.startswith('{"content"'):
            calls = json.loads(command)["tool_calls"]
            info = self._info()
            info["tool_results"] = [
                {"tool_call_id": c["id"], "content": f"ran {c['function']['name']}"} for c in calls
            ]
            return "tools ran", 0.0, False, False, info
        return super()._act(action)

    def _hold_at_the_gate(self) -> None:
        held, released = os.path.join(self.gate, "held"), os.path.join(self.gate, "released")
        open(held, "w").close()
        deadline = time.monotonic() + self.gate_timeout
        while not os.path.exists(released) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.remove(held)
        if not os.path.exists(released):
            open(os.path.join(self.gate, "gave-up"), "w").close()


def register_test_envs() -> None:
    register(
        SCRIPTED,
        entry_point="tests.rollout.helpers:ScriptedMaze",
        description="Maze with test hooks",
        max_episode_steps=30,
        kwargs={"width": 4, "height": 4},
    )


register_test_envs()


class ExpertAgent(Agent):
    """Plays info["expert_action"] (after `delay` seconds); `script(messages, info)` may answer instead.

    Records what the engine asked: calls, the largest number of calls in flight at once, and the length
    of every message list it was shown.
    """

    def __init__(self, delay: float = 0.0, script=None):
        self.delay, self.script = delay, script
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.seen_lengths: list[int] = []
        self.episodes_started = 0

    async def act(self, messages, tools=None, *, info=None) -> AgentOutput:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.seen_lengths.append(len(messages))
        if messages[-1].role == "user" and len(messages) <= 2:
            self.episodes_started += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            answer = self.script(messages, info) if self.script else None
            if isinstance(answer, AgentOutput):
                return answer
            text = answer if answer is not None else info["expert_action"] or "look"
            return AgentOutput(text=text, usage=Usage(prompt_tokens=10, completion_tokens=2))
        finally:
            self.in_flight -= 1


def task_of(info: dict) -> str:
    return info["task"].id


def failing_agent(
    fail_tasks: set[str], error: type[Exception] = AgentError, times: int | None = None
) -> ExpertAgent:
    """An expert that raises `error` on the first turn of the given tasks (`times` times per task, or always)."""
    failures: dict[str, int] = {}

    def script(messages, info):
        task = task_of(info)
        if task in fail_tasks and len(messages) <= 2:
            failures[task] = failures.get(task, 0) + 1
            if times is None or failures[task] <= times:
                raise error(f"scripted failure {failures[task]} of {task}")
        return None

    agent = ExpertAgent(script=script)
    agent.failures = failures  # type: ignore[attr-defined]
    return agent


class DiesOnArrival(EnvFactory):
    """A factory whose worker process dies while unpickling it, before it is ready."""

    def __setstate__(self, state: dict) -> None:
        os._exit(3)
