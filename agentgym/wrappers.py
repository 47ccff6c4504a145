"""Wrappers, one concern each (Gymnasium's `TimeLimit` handles the step limit; `make` adds it from the spec)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import gymnasium


class HistoryWindow(gymnasium.Wrapper):
    """Prefix each observation with the last `k` (action, observation) pairs.

    For agents that see one observation at a time (no chat history), this gives them short-term memory;
    `k=0` passes observations through unchanged.
    """

    def __init__(self, env: gymnasium.Env, k: int = 3):
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"HistoryWindow: k must be a non-negative int, got {k!r}")
        super().__init__(env)
        self.k = k
        self._history: deque[tuple[str, str]] = deque(maxlen=max(k, 1))
        self._previous = ""

    def reset(self, **kwargs: Any):
        observation, info = self.env.reset(**kwargs)
        self._history.clear()
        self._previous = observation
        return observation, info

    def step(self, action: str):
        observation, reward, terminated, truncated, info = self.env.step(action)
        if self.k == 0:
            return observation, reward, terminated, truncated, info
        self._history.append((action, self._previous))
        self._previous = observation
        lines = [
            f"[{n}] {obs.strip()}\n> {act.strip()}" for n, (act, obs) in enumerate(self._history, start=1)
        ]
        shown = "Recent history:\n" + "\n".join(lines) + "\n\nNow:\n" + observation
        return shown, reward, terminated, truncated, info


class RewardTransform(gymnasium.Wrapper):
    """Apply `fn` to every reward; the untransformed reward stays in `info["reward_components"]`."""

    def __init__(self, env: gymnasium.Env, fn: Callable[[float], float], name: str = "untransformed"):
        if not callable(fn):
            raise TypeError(f"RewardTransform: fn must be callable, got {type(fn).__name__}")
        super().__init__(env)
        self.fn, self.name = fn, name

    def step(self, action: str):
        observation, reward, terminated, truncated, info = self.env.step(action)
        components = dict(info.get("reward_components") or {})
        components[self.name] = float(reward)
        info["reward_components"] = components
        return observation, float(self.fn(reward)), terminated, truncated, info
