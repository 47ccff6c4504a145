"""ALFWorld environment: `agentgym/ALFWorld-v0`.

Importing this package imports neither `alfworld` nor `textworld`; `ALFWorldEnv` loads them on first
access, so registering the environment stays cheap and a missing extra surfaces only when it is made.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ALFWorldEnv"]


def __getattr__(name: str) -> Any:
    if name == "ALFWorldEnv":
        from agentgym.environments.alfworld.env import ALFWorldEnv

        return ALFWorldEnv
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
