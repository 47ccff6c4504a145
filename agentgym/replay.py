"""replay: rebuild an episode's state from its task, seed and actions.

Environments are deterministic (same task, seed and actions → same observations and rewards), so a state
need not be copied to be branched: replay the actions that led to it. Tree search and Q-value annotation
build on this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium

from agentgym.errors import AgentGymError


@dataclass
class Replayed:
    """The state reached: the last observation and info, and what was earned on the way."""

    observation: str
    info: dict[str, Any]
    rewards: list[float] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False


def replay(
    env: gymnasium.Env,
    task_id: str,
    seed: int | None,
    actions: Sequence[str],
    *,
    split: str | None = None,
) -> Replayed:
    """Reset `env` to `task_id` with `seed` and play `actions`; the env is left in the reached state."""
    options: dict[str, Any] = {"task_id": task_id}
    if split is not None:
        options["split"] = split
    observation, info = env.reset(seed=seed, options=options)
    result = Replayed(observation, info)
    for n, action in enumerate(actions):
        if result.terminated or result.truncated:
            raise AgentGymError(
                f"replay: the episode ended after action {n} of {len(actions)}; "
                f"the remaining actions {list(actions[n:])!r} cannot be played"
            )
        observation, reward, terminated, truncated, info = env.step(action)
        result.observation, result.info = observation, info
        result.rewards.append(float(reward))
        result.terminated, result.truncated = terminated, truncated
    return result
