"""ScienceWorld's 30 task types, their variations and the engine's train/dev/test splits; task ids.

A task is one variation of one task type, named `<task type>-var<variation>`::

    boil-var21                              task type "boil" (paper task 1-1), variation 21
    identify-life-stages-1-var9             task type "identify-life-stages-1" (8-1), variation 9

The splits are the engine's own (`getVariationsTrain/Dev/Test`): for every task type, a first block of
variations is train, the next dev, the rest test. Asking the engine costs a JVM and a load per task type
(~10 s in all), so the block sizes are tabled here, as scienceworld 1.2.3 reports them;
tests/environments/scienceworld checks the table against the engine.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from agentgym.errors import ConfigError, UnknownTaskError

SPLITS = ("train", "dev", "test")
VARIATION_MARK = "-var"


@dataclass(frozen=True)
class TaskType:
    """One ScienceWorld task type and how its variations split.

    Attributes:
        name: the engine's name, e.g. "boil".
        number: the ScienceWorld paper's numbering, e.g. "1-1".
        variations: how many variations the engine has (numbered from 0).
        train: variations [0, train) are the train split.
        dev: the next `dev` variations are the dev split; the rest are test.
    """

    name: str
    number: str
    variations: int
    train: int
    dev: int

    @property
    def electrical(self) -> bool:
        """Wiring tasks: they need the actions the "noElectricalAction" simplification removes."""
        return self.number.startswith("3-")

    def split_variations(self, split: str) -> range:
        bounds = {
            "train": (0, self.train),
            "dev": (self.train, self.train + self.dev),
            "test": (self.train + self.dev, self.variations),
        }
        if split not in bounds:
            raise UnknownTaskError(f"split {split!r} does not exist; ScienceWorld has {list(SPLITS)}")
        return range(*bounds[split])

    def split_of(self, variation: int) -> str:
        for split in SPLITS:
            if variation in self.split_variations(split):
                return split
        raise UnknownTaskError(
            f"{self.name!r} has variations 0 to {self.variations - 1}; there is no variation {variation}"
        )


#: In the paper's order (topics 1 to 10), as scienceworld 1.2.3 reports the variations and splits.
TASK_TYPES: tuple[TaskType, ...] = (
    TaskType("boil", "1-1", 30, 14, 7),
    TaskType("melt", "1-2", 30, 14, 7),
    TaskType("freeze", "1-3", 30, 14, 7),
    TaskType("change-the-state-of-matter-of", "1-4", 30, 14, 7),
    TaskType("use-thermometer", "2-1", 540, 270, 135),
    TaskType("measure-melting-point-known-substance", "2-2", 436, 218, 109),
    TaskType("measure-melting-point-unknown-substance", "2-3", 300, 150, 75),
    TaskType("power-component", "3-1", 20, 10, 5),
    TaskType("power-component-renewable-vs-nonrenewable-energy", "3-2", 20, 10, 5),
    TaskType("test-conductivity", "3-3", 900, 450, 225),
    TaskType("test-conductivity-of-unknown-substances", "3-4", 600, 300, 150),
    TaskType("find-living-thing", "4-1", 300, 150, 75),
    TaskType("find-non-living-thing", "4-2", 300, 150, 75),
    TaskType("find-plant", "4-3", 300, 150, 75),
    TaskType("find-animal", "4-4", 300, 150, 75),
    TaskType("grow-plant", "5-1", 126, 62, 31),
    TaskType("grow-fruit", "5-2", 126, 62, 31),
    TaskType("chemistry-mix", "6-1", 32, 16, 8),
    TaskType("chemistry-mix-paint-secondary-color", "6-2", 36, 18, 9),
    TaskType("chemistry-mix-paint-tertiary-color", "6-3", 36, 18, 9),
    TaskType("lifespan-longest-lived", "7-1", 125, 62, 31),
    TaskType("lifespan-shortest-lived", "7-2", 125, 62, 31),
    TaskType("lifespan-longest-lived-then-shortest-lived", "7-3", 125, 62, 31),
    TaskType("identify-life-stages-1", "8-1", 14, 6, 3),
    TaskType("identify-life-stages-2", "8-2", 10, 4, 2),
    TaskType("inclined-plane-determine-angle", "9-1", 168, 84, 42),
    TaskType("inclined-plane-friction-named-surfaces", "9-2", 1386, 692, 346),
    TaskType("inclined-plane-friction-unnamed-surfaces", "9-3", 162, 80, 40),
    TaskType("mendelian-genetics-known-plant", "10-1", 120, 60, 30),
    TaskType("mendelian-genetics-unknown-plant", "10-2", 480, 240, 120),
)
BY_NAME = {task_type.name: task_type for task_type in TASK_TYPES}
BY_NUMBER = {task_type.number: task_type for task_type in TASK_TYPES}


def _listing() -> str:
    return ", ".join(f"{t.name} ({t.number})" for t in TASK_TYPES)


def task_type(name_or_number: str) -> TaskType:
    """A task type by its engine name ("boil") or its paper number ("1-1")."""
    found = BY_NAME.get(name_or_number) or BY_NUMBER.get(name_or_number)
    if found is None:
        close = difflib.get_close_matches(str(name_or_number), BY_NAME, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(
            f"unknown ScienceWorld task type {name_or_number!r}.{hint} "
            f"The 30 task types (name and paper number): {_listing()}"
        )
    return found


def select_task_types(selection: str | Iterable[str] | None) -> tuple[TaskType, ...]:
    """The task types `selection` names (one or several names or numbers), in the paper's order; None: all."""
    if selection is None:
        return TASK_TYPES
    names = [selection] if isinstance(selection, str) else list(selection)
    if not names or not all(isinstance(name, str) for name in names):
        raise ConfigError(f"task_types must be task type names or numbers (str), got {selection!r}")
    chosen = {task_type(name) for name in names}
    return tuple(t for t in TASK_TYPES if t in chosen)


def task_id(task_type: TaskType, variation: int) -> str:
    return f"{task_type.name}{VARIATION_MARK}{variation}"


def parse_task_id(task_id: str) -> tuple[TaskType, int]:
    """(task type, variation) of an id; an unknown task type or variation raises UnknownTaskError."""
    name, mark, number = task_id.rpartition(VARIATION_MARK)
    if not mark or not number.isdigit() or (number != "0" and number.startswith("0")):
        raise UnknownTaskError(
            f"task id {task_id!r} is not of the form '<task type>{VARIATION_MARK}<variation>', "
            f"e.g. 'boil{VARIATION_MARK}21'"
        )
    found = BY_NAME.get(name)
    if found is None:  # ids name task types by name only, so that every task has one id
        close = difflib.get_close_matches(name, BY_NAME, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise UnknownTaskError(
            f"task id {task_id!r} names no ScienceWorld task type ({name!r}).{hint} "
            f"The 30 task types: {', '.join(BY_NAME)}"
        )
    variation = int(number)
    found.split_of(variation)  # raises for a variation the task type does not have
    return found, variation
