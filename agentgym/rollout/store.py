"""The JSONL file of a run: one trajectory per line, appended and flushed as each episode finishes.

A killed writer can leave at most a torn last line. Resuming repairs that (a complete record missing only
its newline gets it; a partial one is cut off) so new lines always start on a fresh line, then reads the
file: episodes recorded with status "ok" are done; those recorded as "error" are played again, and the new
record is appended after the old one (readers keep the last record of each key, see `load_trajectories`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from agentgym.rollout.summary import latest_by_key
from agentgym.types import Trajectory, read_jsonl

Key = tuple[str, str, int | None, int]


def repair_tail(path: str | os.PathLike) -> None:
    """Make `path` end with a newline: complete a whole last record, or cut off a torn one."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        # Read back only as far as the last newline (lines can be long, files very long).
        start, chunk = size, 1 << 16
        tail = b""
        while start > 0:
            start = max(0, start - chunk)
            f.seek(start)
            tail = f.read(size - start)
            if b"\n" in tail:
                break
        cut = start + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
        f.seek(cut)
        last = f.read()
        try:
            Trajectory.model_validate_json(last)
        except ValueError:
            f.truncate(cut)
        else:
            f.write(b"\n")


def load_trajectories(path: str | os.PathLike) -> list[Trajectory]:
    """The trajectories of a run's file, the last record of each key only (a torn last line is skipped)."""
    return latest_by_key(read_jsonl(path, Trajectory))


class TrajectoryWriter:
    """Appends trajectories to a JSONL file, each as one whole line, flushed at once.

    `resume=False` starts the file afresh; `resume=True` repairs its tail and appends.
    """

    def __init__(self, path: str | os.PathLike, *, resume: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume:
            repair_tail(self.path)
        self._file: IO[str] | None = open(self.path, "a" if resume else "w", encoding="utf-8")  # noqa: SIM115

    def write(self, trajectory: Trajectory) -> None:
        if self._file is None:
            raise ValueError(f"TrajectoryWriter for {self.path} is closed")
        # Flushed at once, so a crash loses at most the line being written (a torn tail that resume repairs).
        self._file.write(trajectory.model_dump_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def finished_episodes(path: str | os.PathLike) -> dict[Key, Trajectory]:
    """Resume: the episodes of `path` whose last record has status "ok", by key (repairs the tail first)."""
    path = Path(path)
    if not path.exists():
        return {}
    repair_tail(path)
    return {t.key: t for t in load_trajectories(path) if t.status == "ok"}
