"""ScienceWorld environment: `agentgym/ScienceWorld-v0`, the 30 task types on the real simulator.

Importing this package does not import `scienceworld` (nor start a JVM); `ScienceWorldEnv` loads it on
first access, so registering the environment stays cheap and a missing extra surfaces only when it is made.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ScienceWorldEnv"]


def __getattr__(name: str) -> Any:
    if name == "ScienceWorldEnv":
        from agentgym.environments.scienceworld.env import ScienceWorldEnv

        return ScienceWorldEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
