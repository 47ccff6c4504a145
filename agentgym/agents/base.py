"""The Agent interface: messages in, text (and maybe tool calls, token ids, log-probs) out.

Agents are async so that one process can hold many episodes in flight; an agent instance is shared by
all concurrent episodes and keeps no per-episode state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentgym.types import Message, ToolCall, Usage


@dataclass
class AgentOutput:
    """One reply of an agent.

    `token_ids` and `logprobs` are the exact sampled completion tokens and their log-probabilities, when
    the backend knows them (local models; OpenAI servers that return logprobs); trainers train on them.
    """

    text: str
    tool_calls: list[ToolCall] | None = None
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    usage: Usage | None = None


class Agent:
    """Base class. Subclasses implement `act`; `aclose` releases connections or models."""

    name: str = "agent"

    async def act(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        info: dict[str, Any] | None = None,
    ) -> AgentOutput:
        """Reply to the conversation so far.

        `tools` are OpenAI tool schemas when the environment offers tools. `info` is the environment's
        latest info dict: model agents ignore it; the expert and random agents read `expert_action` and
        `admissible_actions` from it.
        """
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the agent holds (HTTP clients, models). Safe to call twice."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
