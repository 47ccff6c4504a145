"""ALFWorld's official game files (`alfworld-download`), with their official splits.

The layout is ALFWorld's: ``<root>/json_2.1.1/<split>/<task>/<trial>/`` holding `game.tw-pddl` and
`traj_data.json`, for the splits train, valid_seen and valid_unseen. As alfworld's own loader does, games
not marked `"solvable": true`, and the movable-receptacle and sliced variants it does not support, are left
out. A task id is `<task>/<trial>`, e.g. `pick_and_place_simple-Book-None-SideTable-329/trial_T2019...`.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from pathlib import Path

from agentgym.errors import ConfigError, UnknownTaskError

from .games import GAME_FILE, TRAJ_FILE, GameRecord
from .generator import TASK_TYPES

SPLITS = ("train", "valid_seen", "valid_unseen")
DATA_DIR = "json_2.1.1"
ENV_VAR = "ALFWORLD_DATA"
SOURCES = ("auto", "official", "generated")
#: Importing alfworld sets $ALFWORLD_DATA to this when it is unset; its downloader puts the files there.
ALFWORLD_DEFAULT_DATA = os.path.expanduser(os.path.join("~", ".cache", "alfworld"))
_SOLVABLE = re.compile(r'"solvable"\s*:\s*true')


def expected_layout(where: str) -> str:
    return (
        f"ALFWorld's game files were expected under {where}: "
        f"{DATA_DIR}/{{{','.join(SPLITS)}}}/<task>/<trial>/{GAME_FILE} with {TRAJ_FILE} beside each, "
        f"as `alfworld-download` installs them in ${ENV_VAR}"
    )


def find_root(path: str | os.PathLike) -> Path | None:
    """The `json_2.1.1` folder at or under `path`, if it holds at least one official split."""
    path = Path(path).expanduser()
    for root in (path / DATA_DIR, path):
        if any((root / split).is_dir() for split in SPLITS):
            return root
    return None


def require_root(path: str | os.PathLike) -> Path:
    root = find_root(path)
    if root is None:
        raise ConfigError(
            f"{expected_layout(str(path))}, but none are there. Without data_path and without the files in "
            f"${ENV_VAR}, agentgym/ALFWorld-v0 generates its tasks offline (source='generated')."
        )
    return root


def locate(source: str, data_path: str | os.PathLike | None) -> Path | None:
    """The official files' root for `source` ("auto", "official", "generated"); None: generate tasks.

    `data_path` must hold the files when given. Otherwise `$ALFWORLD_DATA` (or alfworld's default) is
    searched; a path set there without the files is reported, and generated tasks are used.
    """
    if source not in SOURCES:
        raise ConfigError(f"source must be one of {list(SOURCES)}, got {source!r}")
    if source == "generated":
        return None
    if data_path is not None:
        return require_root(data_path)
    env_path = os.environ.get(ENV_VAR) or ALFWORLD_DEFAULT_DATA
    root = find_root(env_path)
    if root is None and source == "official":
        return require_root(env_path)
    if root is None and os.path.abspath(os.path.expanduser(env_path)) != ALFWORLD_DEFAULT_DATA:
        warnings.warn(
            f"{expected_layout(env_path)} (${ENV_VAR}), but none are there; generated tasks are used instead.",
            stacklevel=4,
        )
    return root


def task_type_of(task_dir: str) -> str | None:
    """The task type from ALFRED's task folder name `<type>-<object>-<movable>-<receptacle>-<scene>`."""
    name = task_dir.split("-", 1)[0]
    return name if name in TASK_TYPES else None


@functools.cache
def scan(root: Path, split: str) -> tuple[GameRecord, ...]:
    """The playable games of `split` under `root`, sorted by id (cached per process)."""
    if split not in SPLITS:
        raise UnknownTaskError(f"split {split!r} does not exist; ALFWorld's game files have {list(SPLITS)}")
    records = []
    for game in sorted((root / split).glob(f"*/*/{GAME_FILE}")):
        trial = game.parent
        task_type = task_type_of(trial.parent.name)
        if task_type is None or "movable" in trial.parent.name or "Sliced" in trial.parent.name:
            continue
        if not (trial / TRAJ_FILE).is_file() or not _SOLVABLE.search(game.read_text(encoding="utf-8")):
            continue
        records.append(GameRecord(f"{trial.parent.name}/{trial.name}", game, task_type))
    return tuple(records)
