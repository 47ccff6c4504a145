"""`RandomAgent`: a chance-level baseline, and a cheap agent for exercising environments and engines."""

from __future__ import annotations

import random
from typing import Any

from agentgym.agents.base import Agent, AgentOutput
from agentgym.types import Message

#: What the agent writes when an environment lists no admissible actions: short commands of text games.
VERBS = ("go", "look", "take", "open", "examine", "use", "drop", "inventory")
OBJECTS = ("north", "south", "east", "west", "key", "door", "box", "lamp", "table")


class RandomAgent(Agent):
    """Picks uniformly from `info["admissible_actions"]`, else writes a random short command.

    One random generator, seeded once, serves every call: the same seed and the same sequence of calls
    give the same actions (with concurrent episodes the order of calls decides who gets which draw).
    """

    name = "random"

    def __init__(self, seed: int | None = 0):
        self.seed = seed
        self._rng = random.Random(seed)

    async def act(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        info: dict[str, Any] | None = None,
    ) -> AgentOutput:
        admissible = (info or {}).get("admissible_actions")
        if admissible:
            return AgentOutput(text=str(self._rng.choice(list(admissible))))
        verb = self._rng.choice(VERBS)
        if verb in ("look", "inventory"):
            return AgentOutput(text=verb)
        return AgentOutput(text=f"{verb} {self._rng.choice(OBJECTS)}")

    def __repr__(self) -> str:
        return f"RandomAgent(seed={self.seed!r})"
