"""ALFWorldEnv: ALFWorld's household tasks on its real text engine, official game files or generated ones.

The engine is ALFWorld's TextWorld one: textworld's PDDL backend playing the shipped `alfred.pddl` domain
with the `alfred.twl2` grammar (:mod:`.engine`). Tasks come from ALFWorld's official game files when they
are there (`data_path`, else `$ALFWORLD_DATA`, in the `json_2.1.1` layout), with the official splits
train / valid_seen / valid_unseen; otherwise they are generated offline (:mod:`.games`) with splits
train / valid (rooms seen in train) / test (unseen rooms).

Reward is the engine's goal check: 1.0 on the step that completes the task, which ends the episode; 0.0
otherwise. `info` carries the task type, the admissible commands (`admissible_actions`), the next action
of ALFWorld's hand-coded expert (`expert_action`, :mod:`.expert`), and `action_valid`, False when the
engine answers "Nothing happens.".

>>> import agentgym
>>> env = agentgym.make("agentgym/ALFWorld-v0")                                       # doctest: +SKIP
>>> obs, info = env.reset(options={"task_id": "pick_heat_then_place_in_recep-s000003"})  # doctest: +SKIP
>>> obs, reward, terminated, truncated, info = env.step(info["expert_action"])          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from agentgym.env import Env, StepResult
from agentgym.errors import ConfigError, UnknownTaskError, require
from agentgym.parsers import Action, ActionParser, ReActParser
from agentgym.tasks import TaskSet
from agentgym.types import Task

require("alfworld", "alfworld", "the ALFWorld environment")
require("fast_downward", "alfworld", "the ALFWorld environment (textworld's PDDL backend)")

from . import games, official  # noqa: E402
from .engine import AlfredEngine  # noqa: E402
from .expert import HandCodedExpert  # noqa: E402

ENV_ID = "agentgym/ALFWorld-v0"
NOTHING_HAPPENS = "Nothing happens."
_BANNER = "-= Welcome to TextWorld, ALFRED! =-"
_TASK_PREFIX = "Your task is to: "


def _command(text: str) -> str:
    """The engine matches commands exactly: lower case, single spaces, no trailing period."""
    return " ".join(text.lower().split()).rstrip(".")


def _instruction(intro: str) -> str:
    start = intro.rfind(_TASK_PREFIX)
    return intro[start + len(_TASK_PREFIX) :].strip().rstrip(".") if start >= 0 else ""


class ALFWorldEnv(Env):
    """An ALFWorld game per task, with ALFWorld's admissible commands and hand-coded expert in `info`.

    Args:
        source: "auto" (official game files when found, else generated), "official" or "generated".
        data_path: where ALFWorld's game files are (the folder holding `json_2.1.1`, or that folder);
            default `$ALFWORLD_DATA`. Giving it means the files must be there.
        task_types: task types to keep (names or ALFWorld's numbers 1-6); default all six.
        split_sizes: generated tasks per split (a prefix of each split's fixed seed range, so ids never
            change); default as many as ALFWorld's official splits (train 3553, valid 140, test 134).
        max_receptacles: generated rooms keep at most this many receptacles (those the task needs, then
            others at random): smaller, faster games. Default: the whole floor plan.
        cache_dir: where generated games are kept; default `$AGENTGYM_CACHE/alfworld`.
        action_parser: default ReAct with plain commands accepted ("go to fridge 1" or "...\\nAction: ...").
        render_mode: "ansi" or "human".
    """

    description = (
        "ALFWorld household tasks on ALFWorld's TextWorld engine (official games or generated offline)."
    )
    system_prompt = (
        "You are in a house, in a room full of furniture and objects, and must complete a household task. "
        "Each turn, reply with one command, such as: go to countertop 1, open fridge 1, take apple 1 from "
        "countertop 1, move apple 1 to fridge 1, heat apple 1 with microwave 1, cool mug 2 with fridge 1, "
        "clean spoon 1 with sinkbasin 1, use desklamp 1, examine drawer 2, inventory, look. You must go to a "
        "receptacle before using it, and open it if it is closed. The episode ends when the task is done."
    )
    default_parser: ClassVar[type[ActionParser]] = ReActParser

    def __init__(
        self,
        *,
        source: str = "auto",
        data_path: str | os.PathLike | None = None,
        task_types: Iterable[str | int] | str | int | None = None,
        split_sizes: Mapping[str, int] | None = None,
        max_receptacles: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        action_parser: str | ActionParser | None = None,
        render_mode: str | None = None,
    ):
        self._engine: AlfredEngine | None = None  # first, so close() works whatever fails below
        super().__init__(action_parser=action_parser, render_mode=render_mode)
        self.task_types = games.check_task_types(task_types)
        self.max_receptacles = games.check_max_receptacles(max_receptacles)
        self.cache_dir = cache_dir
        self.data_root = official.locate(source, data_path)
        self.source = "official" if self.data_root is not None else "generated"
        if self.source == "official" and (split_sizes or max_receptacles is not None):
            raise ConfigError(
                "split_sizes and max_receptacles apply to generated tasks, not to official game files"
            )
        unknown = sorted(set(split_sizes or {}) - set(games.SPLITS))
        if unknown:
            raise ConfigError(
                f"split_sizes names unknown split(s) {unknown}; expected some of {list(games.SPLITS)}"
            )
        self.split_sizes = {**games.DEFAULT_SPLIT_SIZES, **(split_sizes or {})}
        for split, size in self.split_sizes.items():
            games.split_seeds(split, size)  # validates the size
        self._task_sets: dict[str, TaskSet] = {}
        self._records: dict[str, games.GameRecord] = {}
        self._expert: HandCodedExpert | None = None
        self._expert_action: str | None = None
        self._admissible: list[str] = []
        self._done = True
        self._won = False

    # ----- tasks ----------------------------------------------------------------------------------
    def splits(self) -> tuple[str, ...]:
        return official.SPLITS if self.source == "official" else games.SPLITS

    def task_set(self, split: str) -> TaskSet:
        """The split's tasks; for generated tasks ids are formatted from seeds, nothing is generated here."""
        if split not in self._task_sets:
            if split not in self.splits():
                raise UnknownTaskError(
                    f"split {split!r} does not exist; this environment has {list(self.splits())}"
                )
            if self.source == "official":
                records = [r for r in official.scan(self.data_root, split) if r.task_type in self.task_types]
                self._records.update((r.task_id, r) for r in records)
                entries = [(r.task_id, r.task_type) for r in records]
            else:
                ids = games.task_ids(split, self.split_sizes[split], self.task_types, self.max_receptacles)
                entries = [(i, games.parse_task_id(i)[0]) for i in ids]
            self._task_sets[split] = TaskSet(
                split,
                (
                    Task(id=i, env_id=ENV_ID, split=split, data={"task_type": t, "source": self.source})
                    for i, t in entries
                ),
            )
        return self._task_sets[split]

    def game(self, task_id: str) -> games.GameRecord:
        """The game files of `task_id` (for generated tasks, generated and cached on first use)."""
        record = self._records.get(task_id)
        if record is None:
            if self.source == "official":
                raise UnknownTaskError(f"task {task_id!r} is not among the listed official ALFWorld games")
            record = self._records[task_id] = games.ensure_game(task_id, self.cache_dir)
        return record

    # ----- episodes -------------------------------------------------------------------------------
    def _start(self, task: Task, seed: int | None) -> tuple[str, dict[str, Any]]:
        record = self.game(task.id)
        if self._engine is None:
            self._engine = AlfredEngine()
        self._engine.load(str(record.path))
        state = self._engine.reset()
        expert_seed = seed if seed is not None else int(self.np_random.integers(2**31))
        self._expert = HandCodedExpert(record.traj_data, expert_seed)
        self._done = self._won = False
        self._remember(state, self._expert.first_action(state))
        intro = state.feedback
        self.task = task.model_copy(update={"instruction": _instruction(intro)})
        observation = intro.replace(_BANNER, "").strip()
        return observation, self._info(walkthrough=self._engine.walkthrough)

    def _act(self, action: Action) -> StepResult:
        if self._done:
            info = {"action_valid": False, "admissible_actions": [], "success": self._won}
            info["reward_components"] = {"won": float(self._won)}
            return "The episode is over. Reset the environment to play again.", 0.0, True, False, info
        if action.command is None:  # a tool-call parser was configured; this game reads text commands
            info = self._info(action_valid=False)
            return "This game takes text commands, such as: go to countertop 1", 0.0, False, False, info
        command = _command(action.command)
        state = self._engine.step(command)
        self._won = bool(state["won"])
        self._done = self._won
        self._remember(state, None if self._done else self._expert.next_action(state, command))
        info = self._info(action_valid=state.feedback.strip() != NOTHING_HAPPENS)
        if self._done:
            info["success"] = True
        return state.feedback.strip(), float(self._won), self._done, False, info

    def _remember(self, state: Any, expert_action: str | None) -> None:
        self._admissible = [] if self._done else list(state["admissible_commands"])
        self._expert_action = expert_action

    def _info(self, **extra: Any) -> dict[str, Any]:
        record = self._records.get(self.task.id) if self.task else None
        info = {
            "task_type": record.task_type if record else None,
            "admissible_actions": list(self._admissible),
            "expert_action": self._expert_action,
            "reward_components": {"won": float(self._won)},
        }
        info.update(extra)
        return info

    # ----- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the engine (its native Fast Downward library); safe to call repeatedly."""
        engine, self._engine = getattr(self, "_engine", None), None
        if engine is not None:
            engine.close()
        self._done = True
        super().close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
