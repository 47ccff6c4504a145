"""Chat history policies: which messages the agent sees on each turn.

An episode's conversation is the opening (system prompt and first observation) followed by one group of
messages per turn (the assistant's reply, then the observation as a user message or the tool results as
tool messages). A policy keeps the opening and a window of whole turns, so a tool result is never shown
without the assistant message that called it.

>>> from agentgym.types import Message
>>> history = ChatHistory([Message(role="user", content="start")], HistoryPolicy.parse("last:1"))
>>> history.add_turn([Message(role="assistant", content="go north"), Message(role="user", content="wall")])
>>> history.add_turn([Message(role="assistant", content="go east"), Message(role="user", content="exit")])
>>> [m.content for m in history.window()]
['start', 'go east', 'exit']
"""

from __future__ import annotations

from dataclasses import dataclass

from agentgym.errors import ConfigError
from agentgym.types import Message


@dataclass(frozen=True)
class HistoryPolicy:
    """Keep the opening messages and the last `last_turns` turns (`None`: every turn).

    Written as a string in configs and on the command line: ``"full"`` or ``"last:K"`` (K ≥ 0; ``last:0``
    shows the opening only).
    """

    last_turns: int | None = None

    @classmethod
    def parse(cls, spec: str | HistoryPolicy) -> HistoryPolicy:
        if isinstance(spec, HistoryPolicy):
            return spec
        if not isinstance(spec, str):
            raise ConfigError(f"history must be 'full' or 'last:K', got {type(spec).__name__} {spec!r}")
        text = spec.strip().lower()
        if text == "full":
            return cls(None)
        name, _, count = text.partition(":")
        if name == "last" and count.strip().isdigit():
            return cls(int(count))
        raise ConfigError(f"history must be 'full' or 'last:K' with K a non-negative integer, got {spec!r}")

    def __str__(self) -> str:
        return "full" if self.last_turns is None else f"last:{self.last_turns}"


class ChatHistory:
    """The messages of one episode, grouped by turn; `window()` is what the agent is shown."""

    def __init__(self, opening: list[Message], policy: HistoryPolicy | None = None):
        self.opening = list(opening)
        self.policy = policy or HistoryPolicy()
        self.turns: list[list[Message]] = []

    def add_turn(self, messages: list[Message]) -> None:
        self.turns.append(list(messages))

    def window(self) -> list[Message]:
        """A new list (the agent may keep or change it without touching the history)."""
        k = self.policy.last_turns
        kept = self.turns if k is None else self.turns[max(0, len(self.turns) - k) :]
        return [*self.opening, *(message for turn in kept for message in turn)]
