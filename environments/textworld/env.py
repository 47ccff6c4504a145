"""TextWorldEnv: text adventures generated offline by TextWorld and played on its real engine.

The engine is `textworld.start` (Jericho running the compiled Z-machine game, with TextWorld's state
tracking on top) rather than `textworld.gym`, which wraps one game in a batch of one and reloads it on
every reset (a reset costs ~15 ms there against ~6 ms here; steps cost the same). The same `EnvInfos` is
asked for, so admissible commands and the oracle come from TextWorld itself.

Reward is dense and normalized: each step earns (score gained) / max_score, so an episode's rewards sum
to its normalized final score (1.0 for a win). That is potential-based shaping with Φ = score / max_score
(`agentgym.verifiers.PotentialShaping`); success is the goal-state check {"won": True} on the engine's
state (`agentgym.verifiers.GoalState`). The episode terminates when the game is won or lost.

>>> import agentgym
>>> env = agentgym.make("agentgym/TextWorld-v0")                      # doctest: +SKIP
>>> obs, info = env.reset(options={"task_id": "simple-r3-o5-q3-s000000"})  # doctest: +SKIP
>>> obs, reward, terminated, truncated, info = env.step(info["expert_action"])  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, ClassVar

from agentgym.env import Env, StepResult
from agentgym.errors import ConfigError, require
from agentgym.parsers import Action, ActionParser, ReActParser
from agentgym.tasks import TaskSet
from agentgym.types import Task
from agentgym.verifiers import GoalState, PotentialShaping

from . import games

textworld = require("textworld", "textworld", "the TextWorld environments")

#: What we ask the engine for; the benchmark asks raw `textworld.gym` for exactly the same.
REQUEST_INFOS = textworld.EnvInfos(
    admissible_commands=True,
    policy_commands=True,
    score=True,
    max_score=True,
    won=True,
    lost=True,
    objective=True,
)

#: Games one engine plays before it is replaced. Loading the next game into a running engine takes ~20 ms
#: against ~60 ms for a new one, but Jericho keeps every game file it has loaded in memory (~0.4 MB each).
GAMES_PER_ENGINE = 32

ENV_IDS = {"simple": "agentgym/TextWorld-v0", "cooking": "agentgym/TextWorldCooking-v0"}

#: Interpreter commands that would take the game out from under TextWorld's state tracking: "restart" and
#: "quit" leave the interpreter waiting for a yes/no, "restore" rewinds it. They never reach the engine.
BLOCKED_VERBS = frozenset(
    {"restart", "quit", "q", "save", "restore", "undo", "script", "transcript", "unscript"}
)

# A NUL byte sends the Z-machine interpreter into an endless loop, and a backslash opens its hot-key menu
# (which waits for input forever, or crashes the process); no control character means anything to a game.
_CONTROL_TO_SPACE = str.maketrans({code: " " for code in [*range(32), 127, ord("\\")]})
_BLANK_LINES = re.compile(r"(?:[ \t]*\n){3,}")
_GAME_OVER_PROMPT = "Would you like to RESTART"


def _tidy(text: str, ended: bool = False) -> str:
    """Collapse the engine's runs of blank lines; drop the interpreter's restart prompt after the end."""
    if ended:
        cut = text.find(_GAME_OVER_PROMPT)
        if cut >= 0:
            text = text[:cut]
    return _BLANK_LINES.sub("\n\n", text).strip()


class TextWorldEnv(Env):
    """A TextWorld game per task: the "simple" quest family or the "cooking" recipe family.

    `info` carries TextWorld's admissible commands (`admissible_actions`) and its oracle (`expert_action`,
    the first command of a winning policy replanned from the current state; None once the game is over).

    Args:
        family: "simple" or "cooking".
        split_sizes: tasks per split (a prefix of each split's fixed seed range, so ids never change);
            default train 1000, valid 200, test 200.
        cache_dir: where generated games are kept; default `$AGENTGYM_CACHE/textworld`.
        action_parser: default ReAct with plain commands accepted ("go east" or "...\\nAction: go east").
        render_mode: "ansi" or "human".
        **family_options: the family's generation options (see `games.SimpleQuests`, `games.CookingRecipes`).
    """

    description = "TextWorld text adventures generated offline (simple quests or cooking recipes)."
    system_prompt = (
        "You are playing a text adventure game. Each turn you read what happened and reply with one command "
        "for the game, in a few plain words, such as: go north, open fridge, take key from table, "
        "examine cookbook, inventory, look. Your goal is stated at the start. You earn points as you make "
        "progress; the game ends when you win or lose."
    )
    default_parser: ClassVar[type[ActionParser]] = ReActParser

    def __init__(
        self,
        family: str = "simple",
        *,
        split_sizes: Mapping[str, int] | None = None,
        cache_dir: str | os.PathLike | None = None,
        action_parser: str | ActionParser | None = None,
        render_mode: str | None = None,
        **family_options: Any,
    ):
        self._engine: Any = None  # first, so close() works whatever fails below
        self._engine_path: str | None = None
        self._engine_games = 0
        super().__init__(action_parser=action_parser, render_mode=render_mode)
        self.family = games.make_family(family, **family_options)
        unknown = sorted(set(split_sizes or {}) - set(games.SPLITS))
        if unknown:
            raise ConfigError(
                f"split_sizes names unknown split(s) {unknown}; expected some of {list(games.SPLITS)}"
            )
        self.split_sizes = {**games.DEFAULT_SPLIT_SIZES, **(split_sizes or {})}
        for split, size in self.split_sizes.items():
            games.split_seeds(split, size)  # validates the size
        self.cache_dir = cache_dir
        self.env_id = ENV_IDS[self.family.name]
        self._task_sets: dict[str, TaskSet] = {}
        self._records: dict[str, games.GameRecord] = {}
        self._max_score = 1
        self._shaping = PotentialShaping(gamma=1.0)
        self._goal = GoalState({"won": True})
        self._score = 0
        self._done = True
        self._won = False
        self._admissible: list[str] = []
        self._admissible_lower: frozenset[str] = frozenset()
        self._policy: list[str] = []

    # ----- tasks ----------------------------------------------------------------------------------
    def splits(self) -> tuple[str, ...]:
        return games.SPLITS

    def task_set(self, split: str) -> TaskSet:
        """The split's tasks: ids are formatted from seeds, nothing is generated here."""
        if split not in self._task_sets:
            data = {"family": self.family.name, **asdict(self.family)}
            self._task_sets[split] = TaskSet(
                split,
                (
                    Task(
                        id=games.task_id(self.family, split, seed),
                        env_id=self.env_id,
                        split=split,
                        data={**data, "seed": seed},
                    )
                    for seed in games.split_seeds(split, self.split_sizes[split])
                ),
            )
        return self._task_sets[split]

    def game(self, task_id: str) -> games.GameRecord:
        """The generated game of `task_id` (generated and cached on first use)."""
        record = self._records.get(task_id)
        if record is None:
            record = self._records[task_id] = games.ensure_game(task_id, self.cache_dir)
        return record

    # ----- episodes -------------------------------------------------------------------------------
    def _start(self, task: Task, seed: int | None) -> tuple[str, dict[str, Any]]:
        record = self.game(task.id)
        self._load(str(record.path))
        # Jericho's default seed changes with time, and it reads 0 as "no seed": seed it with 1..2**31-1.
        engine_seed = seed if seed is not None else int(self.np_random.integers(2**31))
        self._engine.seed(engine_seed % (2**31 - 1) + 1)
        state = self._engine.reset()
        self.task = task.model_copy(update={"instruction": record.objective})
        self._max_score = state.max_score or record.max_score or 1
        self._score = state.score or 0
        self._shaping.reset(self._score / self._max_score)
        self._done = self._won = False
        self._remember(state.admissible_commands, state.policy_commands)
        # The intro opens with a large ASCII-art banner; the agent's text starts at the objective.
        feedback = state.feedback
        start = feedback.find(record.objective) if record.objective else -1
        observation = _tidy(feedback[start:] if start > 0 else feedback)
        info = {
            "admissible_actions": list(self._admissible),
            "expert_action": self._policy[0] if self._policy else None,
            "reward_components": {"score": 0.0, "score_delta": 0.0, "won": 0.0},
            "max_score": self._max_score,
            "walkthrough": list(record.walkthrough),
        }
        return observation, info

    def _act(self, action: Action) -> StepResult:
        if self._done:
            info = {
                "action_valid": False,
                "admissible_actions": [],
                "reward_components": self._components(0.0, self._won),
                "success": self._won,
            }
            return "The game is over. Reset the environment to play again.", 0.0, True, False, info
        if action.command is None:  # a tool-call parser was configured; this game reads text commands
            return self._refuse("This game takes text commands, such as: go north")
        command = " ".join(action.command.translate(_CONTROL_TO_SPACE).split())
        lowered = command.lower()
        verb = lowered.partition(" ")[0]
        if verb in BLOCKED_VERBS:
            return self._refuse(f"'{verb}' is an interpreter command and is disabled here; the game goes on.")
        valid = lowered in self._admissible_lower
        state, score, done = self._engine.step(command)
        won = self._won = self._goal.score({"won": bool(state.won)}).value == 1.0
        delta = self._shaping.step(score / self._max_score)
        self._score = score
        self._done = bool(done or won or state.lost)
        if self._done:
            self._remember([], [])
        else:
            self._remember(state.admissible_commands, state.policy_commands)
        info: dict[str, Any] = {
            "admissible_actions": self._admissible,
            "expert_action": self._policy[0] if self._policy else None,
            "action_valid": valid,
            "reward_components": self._components(delta, won),
        }
        if self._done:
            info["success"] = won
        return _tidy(state.feedback, ended=self._done), delta, self._done, False, info

    def _remember(self, admissible: list[str], policy: list[str]) -> None:
        self._admissible = admissible
        self._admissible_lower = frozenset(command.lower() for command in admissible)
        self._policy = policy

    def _components(self, delta: float, won: bool) -> dict[str, float]:
        return {"score": self._score / self._max_score, "score_delta": delta, "won": float(won)}

    def _refuse(self, message: str) -> StepResult:
        """A turn that never reached the engine: the state is unchanged and nothing is earned."""
        info = {
            "admissible_actions": list(self._admissible),
            "expert_action": self._policy[0] if self._policy else None,
            "action_valid": False,
            "reward_components": self._components(0.0, False),
        }
        return message, 0.0, False, False, info

    # ----- lifecycle ------------------------------------------------------------------------------
    def _load(self, path: str) -> None:
        """Point the engine at `path`: load it into the running engine, or start a fresh one."""
        if path == self._engine_path:
            return
        self._engine_path = None  # unknown until the load below succeeds
        if self._engine is None or self._engine_games >= GAMES_PER_ENGINE:
            self._close_engine()
            self._engine = textworld.start(path, REQUEST_INFOS)
            self._engine_games = 1
        else:
            self._engine.load(path)
            self._engine_games += 1
        self._engine_path = path

    def _close_engine(self) -> None:
        engine, self._engine, self._engine_path = self._engine, None, None
        if engine is not None:
            engine.close()

    def close(self) -> None:
        """Release the engine (the Jericho interpreter and TextWorld's state); safe to call repeatedly."""
        if getattr(self, "_engine", None) is not None:
            self._close_engine()
        self._done = True
        super().close()

    def __del__(self) -> None:
        # At interpreter shutdown the engine's modules may be torn down already; nothing is left to free.
        with contextlib.suppress(Exception):
            self.close()
