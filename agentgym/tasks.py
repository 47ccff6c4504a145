"""TaskSet: the tasks of one split, addressable by id, in a stable order."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence

from agentgym.errors import AgentGymError, UnknownTaskError
from agentgym.types import Task


class TaskSet(Sequence[Task]):
    """An ordered, immutable collection of tasks of one split.

    Order is part of the contract: `seed` picks `tasks[seed % len(tasks)]`, so the same seed gives the
    same task on every machine.
    """

    def __init__(self, split: str, tasks: Iterable[Task]):
        self.split = split
        self._tasks = tuple(tasks)
        self._by_id = {task.id: task for task in self._tasks}
        if len(self._by_id) != len(self._tasks):
            raise AgentGymError(f"split {split!r} has duplicate task ids")

    def __len__(self) -> int:
        return len(self._tasks)

    def __getitem__(self, index):  # type: ignore[override]
        return self._tasks[index]

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._by_id

    @property
    def ids(self) -> list[str]:
        return [task.id for task in self._tasks]

    def get(self, task_id: str) -> Task:
        try:
            return self._by_id[task_id]
        except KeyError:
            close = difflib.get_close_matches(task_id, self._by_id, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UnknownTaskError(
                f"task {task_id!r} is not in split {self.split!r} ({len(self)} tasks, e.g. "
                f"{', '.join(map(repr, self.ids[:3]))}){hint}"
            ) from None

    def by_seed(self, seed: int) -> Task:
        if not self._tasks:
            raise UnknownTaskError(f"split {self.split!r} has no tasks")
        return self._tasks[seed % len(self._tasks)]

    def __repr__(self) -> str:
        return f"TaskSet({self.split!r}, {len(self)} tasks)"


def check_disjoint(task_sets: Mapping[str, Sequence[Task]], key=lambda task: task.id) -> None:
    """Raise if any two splits share a task (by `key`): train/test leakage makes evaluation meaningless."""
    seen: dict[object, str] = {}
    for split, tasks in task_sets.items():
        for task in tasks:
            k = key(task)
            if k in seen and seen[k] != split:
                raise AgentGymError(f"task {k!r} is in both split {seen[k]!r} and split {split!r}")
            seen[k] = split
