"""RolloutConfig: everything that decides which episodes a run plays and how, in one dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym.errors import ConfigError
from agentgym.rollout.history import HistoryPolicy

#: Turn limit when neither the config nor the environment's spec gives one.
DEFAULT_MAX_TURNS = 100


@dataclass
class RolloutConfig:
    """Which episodes to play (environment, split, tasks, samples, seeds) and how (concurrency, workers,
    history, retries, output). Every field has a default except `env_id`; bad values fail here, at
    construction, with a message naming the field.

    Episode `(task, sample)` is played with seed `seed + sample`, so a run is reproducible and a resumed
    run finds its episodes again by their (env, task, seed, sample) key.
    """

    env_id: str = field(metadata={"help": "Registered environment id, e.g. 'agentgym/Maze-v0'."})
    env_kwargs: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Keyword arguments for the environment's constructor."}
    )
    split: str = field(default="test", metadata={"help": "Task split to draw tasks from."})
    task_ids: list[str] | None = field(
        default=None, metadata={"help": "Tasks to play, in order; None: the tasks of the split in order."}
    )
    num_tasks: int | None = field(
        default=None, metadata={"help": "Play only the first `num_tasks` of those tasks; None: all."}
    )
    samples: int = field(default=1, metadata={"help": "Episodes per task; sample i uses seed `seed + i`."})
    seed: int = field(default=0, metadata={"help": "Base seed."})
    concurrency: int = field(default=8, metadata={"help": "Episodes in flight at once."})
    workers: int = field(
        default=1,
        metadata={"help": "Environment worker processes; 0 runs environments in threads of this process."},
    )
    max_turns: int | None = field(
        default=None,
        metadata={
            "help": "Turn limit; the episode is truncated there. None: the spec's max_episode_steps "
            f"(or {DEFAULT_MAX_TURNS} if the spec has none)."
        },
    )
    history: str = field(
        default="full",
        metadata={
            "help": "What the agent sees: 'full', or 'last:K' (the opening messages + the last K turns)."
        },
    )
    max_retries: int = field(
        default=2,
        metadata={
            "help": "Replays of an episode after an infrastructure failure (agent backend down, environment "
            "crash); agent mistakes are never retried."
        },
    )
    output: str | Path | None = field(
        default=None, metadata={"help": "JSONL file that trajectories stream to as episodes finish."}
    )
    resume: bool = field(
        default=False,
        metadata={
            "help": "Keep `output` and play only episodes it lacks or recorded as errors; without it an "
            "existing `output` is overwritten."
        },
    )
    progress: bool = field(default=True, metadata={"help": "Show a progress bar (on a terminal)."})

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise `ConfigError` naming a bad field. Runs at construction, and again when a run starts, since
        fields may be set in between (the CLI sets `output` once it knows the run folder)."""
        if not isinstance(self.env_id, str) or not self.env_id:
            raise ConfigError(f"env_id must be a registered environment id (str), got {self.env_id!r}")
        if not isinstance(self.env_kwargs, dict):
            raise ConfigError(f"env_kwargs must be a dict, got {type(self.env_kwargs).__name__}")
        if not isinstance(self.split, str) or not self.split:
            raise ConfigError(f"split must be a split name (str), got {self.split!r}")
        if self.task_ids is not None:
            if isinstance(self.task_ids, str) or not all(isinstance(t, str) for t in self.task_ids):
                raise ConfigError(f"task_ids must be a list of task id strings, got {self.task_ids!r}")
            self.task_ids = list(self.task_ids)
            if not self.task_ids:
                raise ConfigError("task_ids is empty; give at least one task id, or None for the whole split")
            duplicates = sorted({t for t in self.task_ids if self.task_ids.count(t) > 1})
            if duplicates:
                raise ConfigError(f"task_ids lists {duplicates} more than once; use `samples` for repeats")
        _check_int("num_tasks", self.num_tasks, minimum=1, optional=True)
        _check_int("samples", self.samples, minimum=1)
        _check_int("seed", self.seed, minimum=None)
        _check_int("concurrency", self.concurrency, minimum=1)
        _check_int("workers", self.workers, minimum=0)
        _check_int("max_turns", self.max_turns, minimum=1, optional=True)
        _check_int("max_retries", self.max_retries, minimum=0)
        HistoryPolicy.parse(self.history)
        if self.output is not None and not isinstance(self.output, str | Path):
            raise ConfigError(
                f"output must be a path (str or Path) or None, got {type(self.output).__name__}"
            )

    @property
    def history_policy(self) -> HistoryPolicy:
        return HistoryPolicy.parse(self.history)


def _check_int(name: str, value: Any, *, minimum: int | None, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        expected = "an int or None" if optional else "an int"
        raise ConfigError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
