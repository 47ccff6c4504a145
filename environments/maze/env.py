"""Maze: find the exit of a small grid maze by text commands.

A procedural environment with no dependency beyond agentgym itself. Steps cost microseconds, so it
measures the rollout engine rather than an engine behind it, and it is small enough for a tiny model to
learn on CPU. Tasks are generated from their id (size and seed), so train and test never overlap.

Reward is sparse, 1.0 on reaching the exit; `reward_components["progress"]` is the drop in
shortest-path distance to the exit at each step, the true progress that step-level estimators can be
checked against.
"""

from __future__ import annotations

import random
import re
from collections import deque
from typing import Any, ClassVar

from agentgym.env import Env, StepResult
from agentgym.errors import ConfigError
from agentgym.parsers import Action, ReActParser
from agentgym.tasks import TaskSet
from agentgym.types import Task

Cell = tuple[int, int]
MOVES: dict[str, Cell] = {"north": (0, -1), "south": (0, 1), "east": (1, 0), "west": (-1, 0)}
SPLIT_SEEDS = {"train": range(0, 1000), "test": range(1_000_000, 1_000_200)}


def generate_maze(width: int, height: int, seed: int) -> tuple[set[Cell], Cell, Cell]:
    """A perfect maze (one path between any two cells) by randomized depth-first search.

    Returns the set of open passages as frozensets of two cells, the start and the exit.
    """
    rng = random.Random(seed)
    passages: set = set()
    start = (rng.randrange(width), rng.randrange(height))
    stack, seen = [start], {start}
    while stack:
        x, y = stack[-1]
        neighbours = [
            (x + dx, y + dy)
            for dx, dy in MOVES.values()
            if 0 <= x + dx < width and 0 <= y + dy < height and (x + dx, y + dy) not in seen
        ]
        if not neighbours:
            stack.pop()
            continue
        nxt = rng.choice(neighbours)
        passages.add(frozenset(((x, y), nxt)))
        seen.add(nxt)
        stack.append(nxt)
    cells = [(x, y) for x in range(width) for y in range(height)]
    distances = _distances(passages, start, width, height)
    far = [c for c in cells if distances[c] >= max(2, max(distances.values()) // 2)]
    return passages, start, rng.choice(far)


def _distances(passages: set, origin: Cell, width: int, height: int) -> dict[Cell, int]:
    """Breadth-first distances from `origin` through open passages."""
    dist = {origin: 0}
    queue = deque([origin])
    while queue:
        x, y = queue.popleft()
        for dx, dy in MOVES.values():
            nxt = (x + dx, y + dy)
            if nxt not in dist and frozenset(((x, y), nxt)) in passages:
                dist[nxt] = dist[(x, y)] + 1
                queue.append(nxt)
    return dist


class MazeEnv(Env):
    """Find the exit of a `width` × `height` maze; you only see which ways are open from where you stand."""

    description = "Procedural grid mazes: find the exit by moving north/south/east/west (no dependencies)."
    system_prompt = (
        "You are exploring a maze. Each turn you see which directions are open. "
        "Commands: go north, go south, go east, go west, look."
    )
    default_parser = ReActParser
    _COMMAND = re.compile(
        r"^(?:go\s+|move\s+|walk\s+)?(north|south|east|west|n|s|e|w|look|l)\.?$", re.IGNORECASE
    )
    _SHORT: ClassVar[dict[str, str]] = {"n": "north", "s": "south", "e": "east", "w": "west", "l": "look"}

    def __init__(self, width: int = 4, height: int = 4, **kwargs: Any):
        for name, value in (("width", width), ("height", height)):
            if not isinstance(value, int) or not 2 <= value <= 30:
                raise ConfigError(f"Maze {name} must be an int between 2 and 30, got {value!r}")
        super().__init__(**kwargs)
        self.width, self.height = width, height
        self._task_sets: dict[str, TaskSet] = {}

    def splits(self) -> tuple[str, ...]:
        return tuple(SPLIT_SEEDS)

    def task_set(self, split: str) -> TaskSet:
        if split not in self._task_sets:
            tasks = (
                Task(
                    id=f"maze-{self.width}x{self.height}-s{seed:07d}",
                    split=split,
                    instruction="Find the exit of the maze.",
                    data={"width": self.width, "height": self.height, "seed": seed},
                )
                for seed in SPLIT_SEEDS[split]
            )
            self._task_sets[split] = TaskSet(split, tasks)
        return self._task_sets[split]

    # ----- episode ------------------------------------------------------------------------------
    def _start(self, task: Task, seed: int | None) -> tuple[str, dict[str, Any]]:
        data = task.data
        self._passages, self._position, self._exit = generate_maze(
            data["width"], data["height"], data["seed"]
        )
        self._to_exit = _distances(self._passages, self._exit, data["width"], data["height"])
        intro = f"{task.instruction} The maze is {data['width']} by {data['height']} rooms.\n"
        return intro + self._describe(), self._info()

    def _act(self, action: Action) -> StepResult:
        match = self._COMMAND.match((action.command or "").strip())
        if match is None:
            observation = "I don't understand that. " + self._describe()
            return observation, 0.0, False, False, self._info(valid=False, progress=0.0)
        word = self._SHORT.get(match.group(1).lower(), match.group(1).lower())
        if word == "look":
            return self._describe(), 0.0, False, False, self._info(progress=0.0)
        dx, dy = MOVES[word]
        x, y = self._position
        target = (x + dx, y + dy)
        if frozenset((self._position, target)) not in self._passages:
            return (
                f"A wall blocks the way {word}. " + self._describe(),
                0.0,
                False,
                False,
                self._info(valid=False, progress=0.0),
            )
        before = self._to_exit[self._position]
        self._position = target
        progress = float(before - self._to_exit[target])
        if target == self._exit:
            info = self._info(progress=progress)
            info["success"] = True
            info["reward_components"]["success"] = 1.0
            return "You step through the exit. You escaped the maze!", 1.0, True, False, info
        return f"You go {word}. " + self._describe(), 0.0, False, False, self._info(progress=progress)

    # ----- helpers ------------------------------------------------------------------------------
    def _open_directions(self) -> list[str]:
        x, y = self._position
        return [d for d, (dx, dy) in MOVES.items() if frozenset(((x, y), (x + dx, y + dy))) in self._passages]

    def _describe(self) -> str:
        return f"Open directions: {', '.join(self._open_directions())}."

    def _expert_action(self) -> str:
        x, y = self._position
        for direction in self._open_directions():
            dx, dy = MOVES[direction]
            if self._to_exit[(x + dx, y + dy)] < self._to_exit[(x, y)]:
                return f"go {direction}"
        raise AssertionError("a perfect maze always has a step towards the exit")

    def _info(self, valid: bool = True, progress: float | None = None) -> dict[str, Any]:
        done = self._position == self._exit
        components = {"success": 0.0}
        if progress is not None:
            components["progress"] = progress
        return {
            "admissible_actions": [f"go {d}" for d in self._open_directions()] + ["look"],
            "expert_action": None if done else self._expert_action(),
            "action_valid": valid,
            "reward_components": components,
            "distance_to_exit": self._to_exit[self._position],
        }
