"""Generated ALFWorld tasks: ids, splits, and generation into an on-disk cache in ALFWorld's file format.

A task id names everything needed to rebuild its game, so any process holding only the id regenerates
the same files::

    pick_heat_then_place_in_recep-s000042        task type, seed (full floor plan)
    pick_two_obj_and_place-r6-s200007            at most 6 receptacles in the room

Splits are disjoint seed ranges (train 0…, valid 100000…, test 200000…). Train and valid draw rooms from
ALFRED's training floor plans (valid is ALFWorld's "seen" setting: new placements in known rooms); test
draws from ALFRED's test floor plans, rooms never used in train ("unseen"). The task type of the n-th task
of a split is the n-th of the selected types, in turn. Listing tasks only formats strings.

A game is generated on first use (or ahead of time with :func:`pregenerate`) and cached under
``$AGENTGYM_CACHE/alfworld/<task id>--<generator>/`` (default ``~/.cache/agentgym``) as ALFWorld's own pair
of files, `game.tw-pddl` and `traj_data.json`. Generation happens in a temporary directory renamed into
place, so processes generating the same game at once never leave a half-written one.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import alfworld
from alfworld.gen import constants

from agentgym import cache
from agentgym.cache import build_once
from agentgym.errors import AgentGymError, ConfigError, UnknownTaskError

from . import generator, pddl
from .backend import engine_calls, translate
from .engine import AlfredEngine
from .expert import HandCodedExpert
from .generator import TASK_TYPES

SPLITS = ("train", "valid", "test")
SEED_BLOCK = 100_000
#: As many tasks as ALFWorld's official train / valid_seen / valid_unseen splits.
DEFAULT_SPLIT_SIZES = {"train": 3553, "valid": 140, "test": 134}
SPLIT_FLOOR_PLANS = {
    "train": tuple(constants.TRAIN_SCENE_NUMBERS),
    "valid": tuple(constants.TRAIN_SCENE_NUMBERS),
    "test": tuple(constants.TEST_SCENE_NUMBERS),
}
#: The official split a generated split stands for, when exported in ALFWorld's layout.
OFFICIAL_SPLIT = {"train": "train", "valid": "valid_seen", "test": "valid_unseen"}
GENERATOR_VERSION = 1  # bump when the same id would generate another game
EXPERT_STEP_LIMIT = 50  # the registered max_episode_steps: a generated game's expert finishes within it
GAME_FILE, TRAJ_FILE = "game.tw-pddl", "traj_data.json"
DATA_DIR = Path(alfworld.__file__).parent / "data"
MIN_RECEPTACLES, MAX_RECEPTACLES = 2, 99
_TASK_ID = re.compile(r"^([a-z_]+?)(?:-r(\d+))?-s(\d{6})$")


@dataclass(frozen=True)
class GameRecord:
    """A game on disk in ALFWorld's format: `game.tw-pddl`, with `traj_data.json` beside it."""

    task_id: str
    path: Path
    task_type: str

    @property
    def traj_data(self) -> dict:
        return json.loads((self.path.parent / TRAJ_FILE).read_text(encoding="utf-8"))


def check_task_types(task_types: Iterable[str | int] | None) -> tuple[str, ...]:
    """Task type names from names or ALFWorld's numbers 1-6 (None: all six), in ALFWorld's order."""
    if task_types is None:
        return TASK_TYPES
    if isinstance(task_types, str | int):
        task_types = [task_types]
    names = []
    for t in task_types:
        name = TASK_TYPES[t - 1] if isinstance(t, int) and 1 <= t <= len(TASK_TYPES) else t
        if name not in TASK_TYPES:
            raise ConfigError(
                f"unknown ALFWorld task type {t!r}; expected some of {list(TASK_TYPES)} (or 1-6)"
            )
        names.append(name)
    if not names:
        raise ConfigError(f"task_types is empty; expected some of {list(TASK_TYPES)}")
    return tuple(t for t in TASK_TYPES if t in names)


def check_max_receptacles(value: int | None) -> int | None:
    if value is not None and (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_RECEPTACLES <= value <= MAX_RECEPTACLES
    ):
        raise ConfigError(
            f"max_receptacles must be None (whole rooms) or an int between {MIN_RECEPTACLES} and "
            f"{MAX_RECEPTACLES}, got {value!r}"
        )
    return value


def split_seeds(split: str, size: int) -> range:
    """The seeds of the first `size` tasks of `split` (a prefix of the split's fixed seed block)."""
    if split not in SPLITS:
        raise UnknownTaskError(
            f"split {split!r} does not exist; generated ALFWorld tasks have {list(SPLITS)}"
        )
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= SEED_BLOCK:
        raise ConfigError(
            f"the size of split {split!r} must be an int between 0 and {SEED_BLOCK}, got {size!r}"
        )
    start = SPLITS.index(split) * SEED_BLOCK
    return range(start, start + size)


def split_of_seed(seed: int) -> str:
    index = seed // SEED_BLOCK
    if not 0 <= index < len(SPLITS):
        raise UnknownTaskError(
            f"seed {seed} is in no split; seeds run from 0 to {len(SPLITS) * SEED_BLOCK - 1}"
        )
    return SPLITS[index]


def task_id(task_type: str, seed: int, max_receptacles: int | None = None) -> str:
    rooms = f"-r{max_receptacles}" if max_receptacles is not None else ""
    return f"{task_type}{rooms}-s{seed:06d}"


def task_ids(
    split: str, size: int, task_types: tuple[str, ...] = TASK_TYPES, max_receptacles: int | None = None
) -> list[str]:
    """The ids of a split: the n-th task has the n-th selected type, in turn, and the n-th seed."""
    seeds = split_seeds(split, size)
    return [task_id(task_types[n % len(task_types)], seed, max_receptacles) for n, seed in enumerate(seeds)]


def parse_task_id(task_id_: str) -> tuple[str, int | None, int]:
    """(task type, max receptacles or None, seed) of a generated task id."""
    match = _TASK_ID.match(task_id_)
    if not match:
        raise UnknownTaskError(
            f"{task_id_!r} is not a generated ALFWorld task id; expected '<task type>-s<6-digit seed>', e.g. "
            f"'pick_heat_then_place_in_recep-s000042', with task types {list(TASK_TYPES)}"
        )
    task_type, rooms, seed = match.group(1), match.group(2), int(match.group(3))
    if task_type not in TASK_TYPES:
        raise UnknownTaskError(
            f"task {task_id_!r} names unknown task type {task_type!r}; expected one of {list(TASK_TYPES)}"
        )
    split_of_seed(seed)
    max_receptacles = check_max_receptacles(int(rooms)) if rooms is not None else None
    if task_id(task_type, seed, max_receptacles) != task_id_:
        raise UnknownTaskError(
            f"{task_id_!r} is not in canonical form; expected {task_id(task_type, seed, max_receptacles)!r}"
        )
    return task_type, max_receptacles, seed


# ----- generation ------------------------------------------------------------------------------------


@functools.cache
def shipped_logic() -> tuple[str, str]:
    """ALFWorld's shipped PDDL domain and text grammar (the grammar's goal still "UNKNOWN GOAL")."""
    return (
        (DATA_DIR / "alfred.pddl").read_text(encoding="utf-8"),
        (DATA_DIR / "alfred.twl2").read_text(encoding="utf-8"),
    )


def expert_walkthrough(engine: AlfredEngine, path: Path, traj_data: dict) -> list[str] | None:
    """The hand-coded expert's actions (seed 0) if it completes the game within EXPERT_STEP_LIMIT steps."""
    engine.load(str(path), reload=True)
    state = engine.reset()
    expert = HandCodedExpert(traj_data, seed=0)
    action, actions = expert.first_action(state), []
    for _ in range(EXPERT_STEP_LIMIT):
        state = engine.step(action)
        actions.append(action)
        if state["won"]:
            return actions
        action = expert.next_action(state, action)
    return None


def _generate_into(directory: Path, task_id_: str) -> None:
    """Write the game of `task_id_`: the first draw that is solvable and that the expert solves in time.

    ALFWorld marks its own games `solvable` by playing its expert on them; generated games are kept on the
    same test, within the step limit of an episode. The number of draws it took is kept in traj_data.
    """
    task_type, max_receptacles, seed = parse_task_id(task_id_)
    split = split_of_seed(seed)
    domain, grammar = shipped_logic()
    rng = random.Random(f"agentgym/alfworld/{task_id_}")  # str seeds hash the same on every machine
    draws = generator.candidates(task_type, list(SPLIT_FLOOR_PLANS[split]), rng, max_receptacles)
    engine = AlfredEngine()
    try:
        for attempt, game in enumerate(draws, start=1):
            problem = pddl.problem(game, name=f"plan_{seed}")
            with engine_calls():
                if not translate(domain, problem).solvable:
                    continue
            game_file = {
                "pddl_domain": domain,
                # What alfworld.agents.utils.misc.add_task_to_grammar does with the task text.
                "grammar": grammar.replace("UNKNOWN GOAL", game.description),
                "pddl_problem": problem,
                "solvable": True,
            }
            traj_data = {**game.traj_data(task_id_), "draws": attempt}
            write_game(directory, game_file, traj_data)
            walkthrough = expert_walkthrough(engine, directory / GAME_FILE, traj_data)
            if walkthrough is not None:
                write_game(directory, {**game_file, "walkthrough": walkthrough}, traj_data)
                return
    finally:
        engine.close()
    raise AgentGymError(f"could not generate a game for task {task_id_!r} that the expert solves")


@functools.cache
def _alfworld_version() -> str:
    from importlib.metadata import version

    return version("alfworld")


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where generated games live: `cache_dir`, else `$AGENTGYM_CACHE/alfworld` (default ~/.cache/agentgym)."""
    return cache.cache_root("alfworld", cache_dir)


def game_dir(task_id_: str, cache_dir: str | os.PathLike | None = None) -> Path:
    # The generator and alfworld versions are part of the key: either may change what an id generates.
    return cache_root(cache_dir) / f"{task_id_}--gen{GENERATOR_VERSION}-alfworld-{_alfworld_version()}"


def write_game(directory: Path, game_file: dict, traj_data: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / TRAJ_FILE).write_text(json.dumps(traj_data, indent=1) + "\n", encoding="utf-8")
    (directory / GAME_FILE).write_text(json.dumps(game_file) + "\n", encoding="utf-8")


def ensure_game(task_id_: str, cache_dir: str | os.PathLike | None = None) -> GameRecord:
    """The cached game of `task_id_`, generated first if it is not in the cache yet (written atomically, so
    racing processes are safe: `agentgym.cache.build_once`)."""
    task_type = parse_task_id(task_id_)[0]
    final = build_once(game_dir(task_id_, cache_dir), GAME_FILE, lambda tmp: _generate_into(tmp, task_id_))
    return GameRecord(task_id_, final / GAME_FILE, task_type)


def pregenerate(
    task_ids_: Iterable[str], cache_dir: str | os.PathLike | None = None, processes: int | None = None
) -> list[GameRecord]:
    """Generate the games of `task_ids_` ahead of play, `processes` at a time (default: one per CPU).

    Generation holds the GIL for 0.2-3 s a game (the planner's translation and an expert playthrough; a
    small room takes the least), so a training run should call this before it starts rather than pay for it
    inside its first resets.
    """
    task_ids_ = list(task_ids_)
    for task_id_ in task_ids_:
        parse_task_id(task_id_)  # fail on a bad id before starting any process
    missing = [t for t in task_ids_ if not (game_dir(t, cache_dir) / GAME_FILE).is_file()]
    processes = min(processes or os.cpu_count() or 1, len(missing))
    if processes > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(processes) as pool:
            list(pool.map(ensure_game, missing, [cache_dir] * len(missing)))
    return [ensure_game(task_id_, cache_dir) for task_id_ in task_ids_]


def export_official(
    task_ids_: Iterable[str], root: str | os.PathLike, cache_dir: str | os.PathLike | None = None
) -> list[Path]:
    """Copy generated games into ALFWorld's own layout under `root` (`json_2.1.1/<split>/<task>/<trial>/`).

    The generated splits land in the official ones they stand for (train, valid_seen, valid_unseen), with
    directories named as ALFRED names them (`<type>-<object>-<movable>-<receptacle>-<floor plan>`).
    """
    written = []
    for task_id_ in task_ids_:
        record = ensure_game(task_id_, cache_dir)
        traj = record.traj_data
        params = traj["pddl_params"]
        receptacle = params["parent_target"] or params["toggle_target"]
        task_dir = (
            f"{traj['task_type']}-{params['object_target']}-None-{receptacle}-{traj['scene']['scene_num']}"
        )
        split = OFFICIAL_SPLIT[split_of_seed(parse_task_id(task_id_)[2])]
        target = Path(root) / "json_2.1.1" / split / task_dir / f"trial_agentgym_{task_id_}"
        target.mkdir(parents=True, exist_ok=True)
        for name in (GAME_FILE, TRAJ_FILE):
            shutil.copyfile(record.path.parent / name, target / name)
        written.append(target / GAME_FILE)
    return written
