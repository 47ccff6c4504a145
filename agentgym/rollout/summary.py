"""Summary of a set of trajectories: success rate with its confidence interval, rewards, turns, tokens, time.

Only finished episodes (`status == "ok"`) count towards rates and means; infrastructure failures
(`status == "error"`) are counted apart, as `errors`. When a file holds several records of one episode (a
resumed run appends the replay of a failed episode), the last record of each (env, task, seed, sample) key
is the one that counts.

>>> [round(bound, 4) for bound in wilson_interval(8, 10)]
[0.4902, 0.9433]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from agentgym.types import Trajectory

Z_95 = 1.959963984540054  # the standard normal quantile of 0.975


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default).

    With p̂ = k/n:  centre = (p̂ + z²/2n) / (1 + z²/n),
                   half   = z / (1 + z²/n) · √(p̂(1 − p̂)/n + z²/4n²).
    Unlike the normal approximation it stays inside [0, 1] and is sensible at k = 0 or k = n.
    With n = 0 nothing is known: (0, 1).
    """
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: successes must be between 0 and n={n}, got {successes}")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, where rounding
    high = 1.0 if successes == n else min(1.0, centre + half)  # would leave 0.9999999999999999
    return (low, high)


def latest_by_key(trajectories: Iterable[Trajectory]) -> list[Trajectory]:
    """One trajectory per (env, task, seed, sample) key: the last one given, in order of first appearance."""
    latest: dict[tuple, Trajectory] = {}
    for trajectory in trajectories:
        latest[trajectory.key] = trajectory
    return list(latest.values())


@dataclass
class Summary:
    """Figures over finished episodes; `errors` are infrastructure failures, left out of every rate.

    `wall_seconds` and `turns_per_second` are known only to the run that timed them (the engine fills them
    in for the episodes it played); a summary of a file leaves them None.
    """

    env_ids: list[str] = field(default_factory=list)
    episodes: int = 0
    errors: int = 0
    successes: int = 0
    success_rate: float | None = None
    success_ci95: tuple[float, float] | None = None
    mean_total_reward: float | None = None
    mean_outcome_reward: float | None = None
    mean_turns: float | None = None
    turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    env_seconds_per_turn: float | None = None
    agent_seconds_per_turn: float | None = None
    wall_seconds: float | None = None
    turns_per_second: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (for summary.json)."""
        data = asdict(self)
        if self.success_ci95 is not None:
            data["success_ci95"] = list(self.success_ci95)
        return data

    def table(self) -> str:
        """A plain-text table for a terminal."""

        def number(value: float | None, digits: int = 3) -> str:
            return "-" if value is None else f"{value:.{digits}f}"

        def percent(value: float | None) -> str:
            return "-" if value is None else f"{100 * value:.1f}%"

        def seconds(value: float | None) -> str:
            if value is None:
                return "-"
            return f"{value * 1000:.2f} ms" if value < 1 else f"{value:.2f} s"

        ci = ""
        if self.success_ci95 is not None and self.episodes:
            ci = f"  (95% CI {percent(self.success_ci95[0])} - {percent(self.success_ci95[1])})"
        rows = [
            ("environment", ", ".join(self.env_ids) or "-"),
            ("episodes", f"{self.episodes}  ({self.errors} errors)"),
            ("success rate", f"{percent(self.success_rate)}  ({self.successes}/{self.episodes}){ci}"),
            ("mean total reward", number(self.mean_total_reward)),
            ("mean outcome reward", number(self.mean_outcome_reward)),
            ("mean turns", number(self.mean_turns, 2)),
            ("tokens", f"{self.prompt_tokens:,} prompt, {self.completion_tokens:,} completion"),
            (
                "time per turn",
                f"env {seconds(self.env_seconds_per_turn)}, agent {seconds(self.agent_seconds_per_turn)}",
            ),
        ]
        if self.wall_seconds is not None:
            rate = "" if self.turns_per_second is None else f"  ({self.turns_per_second:.1f} turns/s)"
            rows.append(("wall time", f"{self.wall_seconds:.1f} s{rate}"))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def summarize(trajectories: Iterable[Trajectory]) -> Summary:
    """Summarize trajectories (the last record of each key counts; see the module docstring)."""
    records = latest_by_key(trajectories)
    ok = [t for t in records if t.status == "ok"]
    env_ids = sorted({t.env_id for t in records})
    summary = Summary(env_ids=env_ids, episodes=len(ok), errors=len(records) - len(ok))
    if not ok:
        return summary
    n = len(ok)
    turns = [turn for t in ok for turn in t.turns]
    summary.successes = sum(t.success for t in ok)
    summary.success_rate = summary.successes / n
    summary.success_ci95 = wilson_interval(summary.successes, n)
    summary.mean_total_reward = sum(t.total_reward for t in ok) / n
    summary.mean_outcome_reward = sum(t.outcome_reward for t in ok) / n
    summary.turns = len(turns)
    summary.mean_turns = len(turns) / n
    summary.prompt_tokens = sum(turn.usage.prompt_tokens for turn in turns if turn.usage)
    summary.completion_tokens = sum(turn.usage.completion_tokens for turn in turns if turn.usage)
    if turns:
        summary.env_seconds_per_turn = sum(turn.env_seconds for turn in turns) / len(turns)
        summary.agent_seconds_per_turn = sum(turn.agent_seconds for turn in turns) / len(turns)
    return summary
