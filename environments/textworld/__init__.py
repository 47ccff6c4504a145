"""TextWorld environments: `agentgym/TextWorld-v0` (simple quests) and `agentgym/TextWorldCooking-v0`.

Importing this package does not import `textworld`; `TextWorldEnv` loads it on first access, so
registering the environments stays cheap and a missing extra surfaces only when one is made.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TextWorldEnv"]


def __getattr__(name: str) -> Any:
    if name == "TextWorldEnv":
        from agentgym.environments.textworld.env import TextWorldEnv

        return TextWorldEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
