"""Data that crosses a file, a socket or a process: chat messages, tasks, turns and trajectories.

Everything here is a pydantic v2 model, so it validates on the way in and serialises to one JSON line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentgym.errors import AgentGymError

Role = Literal["system", "user", "assistant", "tool"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionCall(_Model):
    """The function part of an OpenAI tool call; `arguments` is the raw JSON text the model wrote."""

    name: str
    arguments: str = "{}"


class ToolCall(_Model):
    """One OpenAI-format tool call."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Model):
    """One OpenAI chat message."""

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    def to_openai(self) -> dict[str, Any]:
        """The dict the OpenAI client expects (unset fields left out)."""
        return self.model_dump(exclude_none=True)


class Task(_Model):
    """One task of an environment: what the agent must do and the data the environment needs to set it up.

    `data` is family-specific and stays JSON-serialisable, so a task can be shipped to a worker process.
    """

    id: str
    env_id: str = ""
    split: str = "train"
    instruction: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class Usage(_Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Turn(_Model):
    """One agent turn: what the model wrote, what the environment made of it and what it answered."""

    index: int
    agent_text: str
    tool_calls: list[ToolCall] | None = None
    action: str | None = None  # the parsed action as the environment read it; None on a parse error
    parse_error: str | None = None
    action_valid: bool | None = None
    observation: str
    reward: float = 0.0
    reward_components: dict[str, float] = Field(default_factory=dict)
    terminated: bool = False
    truncated: bool = False
    env_seconds: float = 0.0
    agent_seconds: float = 0.0
    usage: Usage | None = None
    # Token fidelity for training: the exact sampled ids, their log-probabilities, and the ids of the
    # observation that followed (tokenized once; never decoded and re-encoded).
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    observation_token_ids: list[int] | None = None


class Trajectory(_Model):
    """One episode, written as one JSON line.

    `status` is "ok" for a finished episode (success or not: agent mistakes are data) and "error" for an
    infrastructure failure (endpoint down, environment crashed), which a resumed run plays again.
    """

    env_id: str
    task_id: str
    seed: int | None = None
    split: str = "train"
    sample: int = 0
    messages: list[Message] = Field(default_factory=list)  # the opening prompt: system + first observation
    turns: list[Turn] = Field(default_factory=list)
    outcome_reward: float = 0.0
    total_reward: float = 0.0
    success: bool = False
    terminated: bool = False
    truncated: bool = False
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, int | None, int]:
        """What identifies an episode across a resumed run: (env, task, seed, sample)."""
        return (self.env_id, self.task_id, self.seed, self.sample)


class TrajectoryFileError(AgentGymError, ValueError):
    """A JSONL line that is not a valid trajectory."""


def write_jsonl(path: str | os.PathLike, records: Iterable[BaseModel], *, append: bool = False) -> None:
    """Write models as JSON lines; each line is flushed whole so an interrupted run leaves valid lines."""
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        for record in records:
            f.write(record.model_dump_json() + "\n")
            f.flush()


def read_jsonl(path: str | os.PathLike, model: type[BaseModel] = Trajectory) -> Iterator[Any]:
    """Read JSON lines into `model`.

    A last line without its newline is what a killed writer leaves behind; it is skipped. Any other bad
    line raises an error naming the file and line number.
    """
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if number == len(lines) and not line.endswith("\n"):
            try:
                json.loads(line)
            except json.JSONDecodeError:
                return  # torn final line of an interrupted write
        try:
            yield model.model_validate_json(line)
        except ValueError as exc:
            raise TrajectoryFileError(
                f"{path}:{number} is not a valid {model.__name__} JSON line: {exc}"
            ) from exc
