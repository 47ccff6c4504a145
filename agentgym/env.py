"""`agentgym.Env`: a Gymnasium environment with text observations and text actions.

The base class owns what every environment shares, so that a subclass only says how its world works:

- choosing the task from `options` (`task_id`, `split`) or deterministically from `seed`;
- parsing the raw model text with the environment's :class:`ActionParser`; unparsable text costs a turn,
  earns nothing, and the observation explains the expected format;
- filling the standard `info` keys.

A subclass implements `splits`, `task_set`, `_start(task, seed)` and `_act(action)`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium

from agentgym.errors import AgentGymError, UnknownTaskError
from agentgym.parsers import Action, ActionParser, PlainCommandParser, get_parser
from agentgym.spaces import AnyText
from agentgym.tasks import TaskSet
from agentgym.types import Task

StepResult = tuple[str, float, bool, bool, dict[str, Any]]


def _describe_calls(action: Action) -> str | None:
    """A one-line rendering of tool calls, for `info["action"]` and trajectories."""
    if not action.tool_calls:
        return None
    return "; ".join(f"{c.function.name}({c.function.arguments})" for c in action.tool_calls)


#: Keys every environment's `info` carries (None or empty where they mean nothing for that environment).
INFO_KEYS = (
    "task",
    "instruction",
    "system_prompt",
    "admissible_actions",
    "tools",
    "expert_action",
    "action_valid",
    "parse_error",
    "action",
    "reward_components",
    "success",
)


class Env(gymnasium.Env[str, str]):
    """Base class of agentgym environments (see the module docstring for what a subclass implements)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 4}
    #: What the environment is, shown by `agentgym list`.
    description: ClassVar[str] = ""
    #: The role and rules given to the agent as a system message; the parser's format hint is appended.
    system_prompt: ClassVar[str] = ""
    default_parser: ClassVar[type[ActionParser]] = PlainCommandParser
    default_split: ClassVar[str] = "train"

    def __init__(self, *, action_parser: str | ActionParser | None = None, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise AgentGymError(
                f"render_mode {render_mode!r} is not supported; expected one of {self.metadata['render_modes']}"
            )
        self.render_mode = render_mode
        self.action_parser = get_parser(action_parser) if action_parser is not None else self.default_parser()
        self.observation_space = AnyText()
        self.action_space = AnyText()
        self.task: Task | None = None
        self.last_observation: str = ""

    # ----- what a subclass implements -------------------------------------------------------------
    def splits(self) -> tuple[str, ...]:
        """The split names this environment has, e.g. ("train", "test")."""
        raise NotImplementedError

    def task_set(self, split: str) -> TaskSet:
        """All tasks of `split` in a stable order."""
        raise NotImplementedError

    def _start(self, task: Task, seed: int | None) -> tuple[str, dict[str, Any]]:
        """Begin an episode of `task`; return the first observation and info."""
        raise NotImplementedError

    def _act(self, action: Action) -> StepResult:
        """Execute a parsed action; return (observation, reward, terminated, truncated, info)."""
        raise NotImplementedError

    # ----- Gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        task = self.select_task(seed, options)
        if not task.env_id and self.spec is not None:
            task = task.model_copy(update={"env_id": self.spec.id})
        self.task = task
        observation, info = self._start(self.task, seed)
        self.last_observation = observation
        info.setdefault("system_prompt", self.full_system_prompt())
        return observation, self._complete_info(info)

    def step(self, action: str) -> StepResult:
        if self.task is None:
            raise AgentGymError("step() was called before reset(); call env.reset() to start an episode")
        if not isinstance(action, str):
            raise AgentGymError(f"an action must be the model's text (str), got {type(action).__name__}")
        try:
            parsed = self.action_parser.parse(action)
        except AgentGymError as exc:  # ActionParseError, or a parser's own validation error
            message = str(exc)
            observation = (
                f"Your reply could not be read as an action: {message}.\n{self.action_parser.format_hint}"
            )
            info = {"parse_error": message, "action": None, "action_valid": False, "reward_components": {}}
            return observation, 0.0, False, False, self._complete_info(info)
        observation, reward, terminated, truncated, info = self._act(parsed)
        info.setdefault("action", parsed.command if parsed.command is not None else _describe_calls(parsed))
        self.last_observation = observation
        return observation, float(reward), terminated, truncated, self._complete_info(info)

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.last_observation
        if self.render_mode == "human":
            print(self.last_observation)
        return None

    # ----- shared machinery -----------------------------------------------------------------------
    def select_task(self, seed: int | None, options: dict[str, Any] | None) -> Task:
        """The task that `options` names, else the one `seed` picks from the split (default split first)."""
        options = dict(options or {})
        unknown = set(options) - {"task_id", "split"}
        if unknown:
            raise AgentGymError(
                f"unknown reset option(s) {sorted(unknown)}; expected 'task_id' and/or 'split'"
            )
        split = options.get("split", self.default_split)
        if split not in self.splits():
            raise UnknownTaskError(
                f"split {split!r} does not exist; this environment has {list(self.splits())}"
            )
        tasks = self.task_set(split)
        if options.get("task_id") is not None:
            return tasks.get(str(options["task_id"]))
        if seed is not None:
            return tasks.by_seed(seed)
        return tasks[int(self.np_random.integers(len(tasks)))]

    def full_system_prompt(self) -> str:
        parts = [self.system_prompt.strip(), self.action_parser.format_hint.strip()]
        return "\n\n".join(part for part in parts if part)

    def _complete_info(self, info: dict[str, Any]) -> dict[str, Any]:
        info.setdefault("task", self.task)
        info.setdefault("instruction", self.task.instruction if self.task else "")
        info.setdefault("admissible_actions", None)
        info.setdefault("tools", None)
        info.setdefault("expert_action", None)
        info.setdefault("action_valid", True)
        info.setdefault("parse_error", None)
        info.setdefault("reward_components", {})
        # Always present: a TimeLimit wrapper truncates from outside, where the env cannot mark a last step.
        info.setdefault("success", False)
        return info
