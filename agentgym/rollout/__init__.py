"""The rollout engine: many episodes of one environment with one agent, concurrently (see `engine`).

    from agentgym.rollout import RolloutConfig, rollout
    result = rollout(agent, RolloutConfig("agentgym/Maze-v0", num_tasks=20, output="runs/maze.jsonl"))
    print(result.summary.table())

- `RolloutConfig` — what to play and how; `run_rollouts` (async) / `rollout` (sync) — play it;
  `RolloutResult` — the trajectories and their `Summary`.
- `summarize(trajectories)` and `load_trajectories(path)` — the figures of a finished (or resumed) file.
- `EnvBackend` (`ProcessBackend`, `ThreadBackend`, `InlineBackend`, `make_backend`) — where environments
  run; pass a started backend to `run_rollouts` to keep workers warm across calls.
"""

from agentgym.rollout.config import DEFAULT_MAX_TURNS, RolloutConfig
from agentgym.rollout.engine import Episode, RolloutResult, plan_episodes, rollout, run_rollouts
from agentgym.rollout.history import ChatHistory, HistoryPolicy
from agentgym.rollout.store import TrajectoryWriter, load_trajectories
from agentgym.rollout.summary import Summary, latest_by_key, summarize, wilson_interval
from agentgym.rollout.workers import (
    BackendError,
    EnvBackend,
    EnvFactory,
    InlineBackend,
    ProcessBackend,
    ThreadBackend,
    make_backend,
)

__all__ = [
    "DEFAULT_MAX_TURNS",
    "BackendError",
    "ChatHistory",
    "EnvBackend",
    "EnvFactory",
    "Episode",
    "HistoryPolicy",
    "InlineBackend",
    "ProcessBackend",
    "RolloutConfig",
    "RolloutResult",
    "Summary",
    "ThreadBackend",
    "TrajectoryWriter",
    "latest_by_key",
    "load_trajectories",
    "make_backend",
    "plan_episodes",
    "rollout",
    "run_rollouts",
    "summarize",
    "wilson_interval",
]
