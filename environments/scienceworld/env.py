"""ScienceWorldEnv: the 30 ScienceWorld task types, played on the real simulator (the `scienceworld` jar).

A task is one variation of one task type (`boil-var21`; see `catalog`), in the engine's own train, dev
and test splits. Each environment owns one JVM (`engine.ScienceWorldEngine`), started when the
environment is made and reused by every reset: a reset loads the next world into the running engine.

Reward is dense and normalized, as in the TextWorld environments: each step earns the change of
Φ = score / 100, the engine's score clipped to [0, 1], so an episode's rewards sum to the score it gained
(a few tasks start with some points). A task the agent fails (by focusing on the wrong thing, say) ends
with a negative engine score and Φ = 0: the failing step takes back what the episode had earned.
Success is the engine's completion flag with the full score.

The expert is the engine's gold path, planned when a variation is first loaded in a process (0.1 to 10
seconds) and then cached: `info["expert_action"]` is its next action, which is right as long as the agent
has followed it. The engine is deterministic per variation (see `engine`), so a gold path planned in one
JVM plays the same in another, and `seed` only picks a task.

Listing the valid actions costs the engine several times a step (5 against 40 steps/s in
benchmarks/scienceworld_speed.py); agents that do not read them can pass `admissible_actions=False`.

>>> import agentgym
>>> env = agentgym.make("agentgym/ScienceWorld-v0")                         # doctest: +SKIP
>>> obs, info = env.reset(options={"task_id": "boil-var21", "split": "test"})  # doctest: +SKIP
>>> obs, reward, terminated, truncated, info = env.step(info["expert_action"])  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from agentgym.env import Env, StepResult
from agentgym.errors import ConfigError, EnvironmentCrashedError, UnknownTaskError
from agentgym.parsers import Action, ActionParser, ReActParser
from agentgym.tasks import TaskSet
from agentgym.types import Task
from agentgym.verifiers import PotentialShaping

from . import catalog
from .engine import DEFAULT_JAVA_OPTIONS, ScienceWorldEngine

ENV_ID = "agentgym/ScienceWorld-v0"
#: The engine's simplifications ("easy" is all of them).
SIMPLIFICATIONS = (
    "teleportAction",
    "selfWateringFlowerPots",
    "openContainers",
    "openDoors",
    "noElectricalAction",
    "easy",
)
#: "reset task" rebuilds the world under the environment's feet (score, expert); reset the env instead.
BLOCKED_COMMANDS = frozenset({"reset task"})
#: The engine's answers to commands it did not carry out.
REFUSALS = ("No known action matches that input.", "Unknown action.", "Ambiguous request", "ERROR:")
#: Gold paths kept per process: (java options, task type, variation, simplifications) -> actions.
GOLD_CACHE_SIZE = 4096

_CONTROL_TO_SPACE = str.maketrans({code: " " for code in [*range(32), 127]})
_gold_paths: OrderedDict[tuple, tuple[str, ...]] = OrderedDict()
_gold_lock = threading.Lock()


def _normalize(command: str) -> str:
    return " ".join(command.translate(_CONTROL_TO_SPACE).split())


class ScienceWorldEnv(Env):
    """ScienceWorld tasks on the real engine.

    `info` carries the task type (`task_type`), the engine's valid actions (`admissible_actions`), the
    gold path's next action (`expert_action`, None once the path is spent or the episode over), the whole
    gold path at reset (`walkthrough`), and the engine's raw score (`engine_score`, -100 to 100). The engine names objects
    in its valid actions by their shortest unambiguous name ("open door") and in its gold path by a longer
    one ("open door to hallway"): both are understood, so an expert action need not be listed verbatim.
    `action_valid` is whether the engine carried the command out (it answers "No known action matches
    that input." or asks which of several actions was meant otherwise).

    Args:
        task_types: the task types to offer (names such as "boil" or paper numbers such as "1-1");
            default all 30.
        simplifications: the engine's simplifications, e.g. "easy" or ["openDoors", "teleportAction"].
        admissible_actions: list the valid actions in `info` every step. The engine enumerates them
            for each state, which costs several times a step; False leaves `admissible_actions` None.
        expert: plan the gold path when a variation is first loaded in this process (~0.1 to 10 s,
            cached after); False skips the planning, and `expert_action` and `walkthrough` are None.
        java: the java executable; default `$JAVA_HOME/bin/java`, else `java` on PATH.
        java_options: options for the JVM; the defaults make the engine deterministic (see `engine`).
        action_parser: default ReAct with plain commands accepted ("open door to kitchen" or
            "...\\nAction: open door to kitchen").
        render_mode: "ansi" or "human".
    """

    description = "ScienceWorld: 30 elementary-science task types on the real simulator (a JVM per env)."
    system_prompt = (
        "You are an agent in a simulated house with rooms, objects, plants, animals and tools, doing a "
        "science task. Each turn you read what happened and reply with one command, such as: look around, "
        "open door to kitchen, go to kitchen, pick up thermometer, focus on water, move pot to stove, "
        "activate stove, use thermometer on water, wait1. 'focus on' marks the object the task is about; "
        "focusing on the wrong one fails the task. If the game asks which of several actions you meant, "
        "answer with its number. You earn points as you make progress; the episode ends when the task is "
        "completed or failed."
    )
    default_parser: ClassVar[type[ActionParser]] = ReActParser

    def __init__(
        self,
        task_types: str | Iterable[str] | None = None,
        *,
        simplifications: str | Sequence[str] = "",
        admissible_actions: bool = True,
        expert: bool = True,
        java: str | os.PathLike | None = None,
        java_options: Sequence[str] = DEFAULT_JAVA_OPTIONS,
        action_parser: str | ActionParser | None = None,
        render_mode: str | None = None,
    ):
        self._engine: ScienceWorldEngine | None = None  # first, so close() works whatever fails below
        super().__init__(action_parser=action_parser, render_mode=render_mode)
        self.task_types = catalog.select_task_types(task_types)
        self.simplifications = _check_simplifications(simplifications, self.task_types)
        self.admissible_actions = bool(admissible_actions)
        self.expert = bool(expert)
        self.java = java
        self.java_options = tuple(java_options)
        self._task_sets: dict[str, TaskSet] = {}
        self._shaping = PotentialShaping(gamma=1.0)
        self._done = True
        self._won = False
        self._potential = 0.0
        self._raw_score = 0
        self._gold: tuple[str, ...] = ()
        self._gold_lower: tuple[str, ...] = ()
        self._gold_index = 0
        self._admissible: list[str] | None = None
        self._engine = ScienceWorldEngine(java, self.java_options)  # boots while the caller goes on

    # ----- tasks ----------------------------------------------------------------------------------
    def splits(self) -> tuple[str, ...]:
        return catalog.SPLITS

    def task_set(self, split: str) -> TaskSet:
        """The split's tasks: every variation of the chosen task types in the engine's split."""
        if split not in catalog.SPLITS:
            raise UnknownTaskError(f"split {split!r} does not exist; ScienceWorld has {list(catalog.SPLITS)}")
        if split not in self._task_sets:
            self._task_sets[split] = TaskSet(
                split,
                (
                    Task(
                        id=catalog.task_id(task_type, variation),
                        env_id=ENV_ID,
                        split=split,
                        data={
                            "task_type": task_type.name,
                            "task_number": task_type.number,
                            "variation": variation,
                            "simplifications": self.simplifications,
                        },
                    )
                    for task_type in self.task_types
                    for variation in task_type.split_variations(split)
                ),
            )
        return self._task_sets[split]

    def select_task(self, seed: int | None, options: dict[str, Any] | None) -> Task:
        """As `Env.select_task`, with errors that say which task types and variations exist."""
        task_id = (options or {}).get("task_id")
        split = (options or {}).get("split", self.default_split)
        if task_id is not None and split in self.splits():
            task_type, variation = catalog.parse_task_id(str(task_id))
            if task_type not in self.task_types:
                raise UnknownTaskError(
                    f"task {task_id!r} is of task type {task_type.name!r}, which this environment leaves "
                    f"out; it offers {[t.name for t in self.task_types]}"
                )
            home = task_type.split_of(variation)
            if home != split:
                wanted = task_type.split_variations(split)
                raise UnknownTaskError(
                    f"task {task_id!r} is in split {home!r}, not {split!r}; the {split} variations of "
                    f"{task_type.name!r} are {wanted.start} to {wanted.stop - 1}"
                )
        return super().select_task(seed, options)

    # ----- episodes -------------------------------------------------------------------------------
    def _start(self, task: Task, seed: int | None) -> tuple[str, dict[str, Any]]:
        engine = self._running_engine()
        name, variation = task.data["task_type"], task.data["variation"]
        key = (self.java_options, name, variation, self.simplifications)
        gold = _cached_gold(key) if self.expert else ()
        engine.load(name, variation, self.simplifications, gold=gold is None)
        if gold is None:
            gold = _remember_gold(key, tuple(engine.gold_actions()))
        # The engine's first move, as scienceworld's own reset makes it: the agent sees where it is.
        look = engine.step("look around")
        instruction = engine.task_description()
        self.task = task.model_copy(update={"instruction": instruction})
        self._raw_score = _raw(engine.score())
        self._potential = _potential(self._raw_score)
        self._shaping.reset(self._potential)
        self._done = self._won = False
        self._gold, self._gold_index = gold, 0
        self._gold_lower = tuple(_normalize(action).lower() for action in gold)
        self._admissible = engine.valid_actions() if self.admissible_actions else None
        info = self._info(0.0, walkthrough=list(gold) if self.expert else None)
        return f"{instruction}\n\n{look.strip()}", info

    def _act(self, action: Action) -> StepResult:
        if self._done:
            admissible = [] if self.admissible_actions else None
            info = self._info(0.0, action_valid=False, success=self._won, admissible_actions=admissible)
            return "The task is over. Reset the environment to play again.", 0.0, True, False, info
        if action.command is None:  # a tool-call parser was configured; this engine reads text commands
            return self._refuse("ScienceWorld takes text commands, such as: look around")
        command = _normalize(action.command)
        if command.lower() in BLOCKED_COMMANDS:
            return self._refuse(f"'{command}' is disabled here; the task goes on.")
        engine = self._engine
        if engine is None:
            raise EnvironmentCrashedError("the ScienceWorld engine was closed mid-episode; reset to go on")
        observation = engine.step(command).strip()  # a JVM that died mid-episode raises here
        valid = not observation.startswith(REFUSALS)
        # The gold path advances when the agent plays its next action, understood or not (a gold action
        # may be one the engine asks to disambiguate, answered by the next one).
        if self._expert_action() is not None and command.lower() == self._gold_lower[self._gold_index]:
            self._gold_index += 1
        self._raw_score = _raw(engine.score())
        failed = self._raw_score < 0
        completed = engine.completed()
        self._won = completed and self._raw_score >= 100
        self._done = completed or failed
        self._potential = 0.0 if failed else _potential(self._raw_score)
        delta = self._shaping.step(self._potential)
        if self._done:
            self._admissible = [] if self.admissible_actions else None
        elif self.admissible_actions:
            self._admissible = engine.valid_actions()
        info = self._info(delta, action_valid=valid)
        if self._done:
            info["success"] = self._won
        return observation, delta, self._done, False, info

    def _expert_action(self) -> str | None:
        if self._done or self._gold_index >= len(self._gold):
            return None
        return self._gold[self._gold_index]

    def _complete_info(self, info: dict[str, Any]) -> dict[str, Any]:
        # A reply that could not be parsed never reaches `_act`: the state stands, and so do its expert
        # action and valid actions.
        if info.get("parse_error"):
            info.setdefault("expert_action", self._expert_action())
            info.setdefault("admissible_actions", self._admissible)
        return super()._complete_info(info)

    def _info(self, delta: float, **extra: Any) -> dict[str, Any]:
        info = {
            "task_type": self.task.data["task_type"] if self.task else None,
            "admissible_actions": self._admissible,
            "expert_action": self._expert_action(),
            "reward_components": {"score": self._potential, "score_delta": delta, "won": float(self._won)},
            "engine_score": self._raw_score,
        }
        info.update(extra)
        return info

    def _refuse(self, message: str) -> StepResult:
        """A turn that never reached the engine: the state is unchanged and nothing is earned."""
        return message, 0.0, False, False, self._info(0.0, action_valid=False)

    # ----- lifecycle ------------------------------------------------------------------------------
    @property
    def engine(self) -> ScienceWorldEngine | None:
        """The engine this environment owns (None once closed)."""
        return self._engine

    def _running_engine(self) -> ScienceWorldEngine:
        """The engine, replaced by a fresh one if it was closed or its JVM died."""
        if self._engine is None or not self._engine.alive:
            if self._engine is not None:
                self._engine.close()
            self._engine = ScienceWorldEngine(self.java, self.java_options)
        return self._engine

    def close(self) -> None:
        """Kill the engine's JVM; safe to call repeatedly (a later reset starts a new one)."""
        engine, self._engine = getattr(self, "_engine", None), None
        if engine is not None:
            engine.close()
        self._done = True
        super().close()

    def __del__(self) -> None:
        # The engine's own finalizer kills the JVM too; this only makes it happen with the env.
        with contextlib.suppress(Exception):
            self.close()


def _raw(score: float) -> int:
    """The engine's score as scienceworld reports it: a whole number up to 100, negative on failure."""
    return int(round(100 * score))


def _potential(raw_score: int) -> float:
    return min(max(raw_score, 0), 100) / 100


def _cached_gold(key: tuple) -> tuple[str, ...] | None:
    """The gold path planned earlier in this process, if any (environments in threads share the cache)."""
    with _gold_lock:
        gold = _gold_paths.get(key)
        if gold is not None:
            _gold_paths.move_to_end(key)
        return gold


def _remember_gold(key: tuple, gold: tuple[str, ...]) -> tuple[str, ...]:
    with _gold_lock:
        _gold_paths[key] = gold
        while len(_gold_paths) > GOLD_CACHE_SIZE:
            _gold_paths.popitem(last=False)
    return gold


def _check_simplifications(
    simplifications: str | Sequence[str], task_types: Sequence[catalog.TaskType]
) -> str:
    """The engine's comma-separated form, after checking every name."""
    names = simplifications.split(",") if isinstance(simplifications, str) else list(simplifications)
    names = [name.strip() for name in names if isinstance(name, str) and name.strip()]
    unknown = [name for name in names if name not in SIMPLIFICATIONS]
    if unknown:
        raise ConfigError(f"unknown simplification(s) {unknown}; expected some of {list(SIMPLIFICATIONS)}")
    electrical = [t.name for t in task_types if t.electrical]
    if "noElectricalAction" in names and electrical:
        raise ConfigError(
            f"simplification 'noElectricalAction' removes the actions that the electrical task types "
            f"{electrical} need; leave it out, or pass task_types without them"
        )
    return ",".join(names)
