"""TextWorld game families: task ids, splits, and offline generation into an on-disk cache.

A task id names everything needed to rebuild its game, so any process holding only the id regenerates
the same game file (TextWorld's generator is deterministic for a given seed)::

    simple-r3-o5-q3-s000042                    rooms, objects, quest length, seed
    cooking-r2-t2-g6-open-cook-cut-train-s000042   recipe, take, go, skills, TextWorld food split, seed

Splits are disjoint seed ranges (train 0…, valid 100000…, test 200000…); for the cooking family each
split also uses TextWorld's own food split of the same name (test foods and preparations are unseen in
train). Listing tasks only formats strings: nothing is generated until a task is first played.

Games are generated on first use (or ahead of time with :func:`pregenerate`) and cached under
``$AGENTGYM_CACHE/textworld/<task id>--textworld-<version>/`` (default ``~/.cache/agentgym``).
Generation happens in a temporary directory that is renamed into place, so processes that generate the
same game at once never leave a half-written one behind.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from agentgym import cache
from agentgym.cache import build_once
from agentgym.errors import AgentGymError, ConfigError, UnknownTaskError, require

SPLITS = ("train", "valid", "test")
#: Seeds of a split are `SEED_BLOCK * index(split) + n` for n < size, so splits can never share a seed.
SEED_BLOCK = 100_000
DEFAULT_SPLIT_SIZES = {"train": 1000, "valid": 200, "test": 200}
COOKING_ROOM_COUNTS = (1, 6, 9, 12)  # the only map sizes TextWorld's cooking generator builds
#: Jericho recognises TextWorld games by the "tw-" file-name prefix; without it the interpreter's status
#: line ("-= Kitchen =-0/3") leaks into every observation.
GAME_FILE = "tw-game.z8"


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ConfigError(f"{name} must be an int {bound}, got {value!r}")


@dataclass(frozen=True)
class SimpleQuests:
    """TextWorld's generic quests: a small house, some objects, one quest of `quest_length` actions.

    Args:
        nb_rooms: rooms in the map.
        nb_objects: objects in the world (distractors are added up to this number).
        quest_length: actions in the winning policy the generator chains backwards.
    """

    nb_rooms: int = 3
    nb_objects: int = 5
    quest_length: int = 3
    name: ClassVar[str] = "simple"

    def __post_init__(self) -> None:
        _check_int("nb_rooms", self.nb_rooms, 1, 20)
        _check_int("nb_objects", self.nb_objects, 0, 50)
        _check_int("quest_length", self.quest_length, 1, 20)

    def prefix(self, split: str) -> str:
        # The split is not part of the id: a simple game depends on its seed only, and seeds are per split.
        return f"simple-r{self.nb_rooms}-o{self.nb_objects}-q{self.quest_length}"

    def make_game(self, seed: int, split: str, options: Any) -> Any:
        """Build (not compile) the game with TextWorld's generator."""
        from textworld.generator import make_game

        options.nb_rooms = self.nb_rooms
        options.nb_objects = self.nb_objects
        options.quest_length = self.quest_length
        return make_game(options)


@dataclass(frozen=True)
class CookingRecipes:
    """TextWorld's cooking games (First TextWorld Problems): find the cookbook, gather, prepare, eat.

    Args:
        recipe: ingredients in the recipe (1-5).
        take: ingredients to find in the house (the rest start in the inventory); at most `recipe`.
        go: rooms in the house, one of 1, 6, 9, 12.
        open: containers and doors start closed.
        cook: some ingredients must be cooked (fried, roasted, grilled).
        cut: some ingredients must be cut (chopped, sliced, diced).
        drop: the inventory is limited, so things must be dropped.
    """

    recipe: int = 2
    take: int = 2
    go: int = 6
    open: bool = True
    cook: bool = True
    cut: bool = True
    drop: bool = False
    name: ClassVar[str] = "cooking"

    def __post_init__(self) -> None:
        _check_int("recipe", self.recipe, 1, 5)
        _check_int("take", self.take, 0, self.recipe)
        if self.go not in COOKING_ROOM_COUNTS:
            raise ConfigError(f"go (rooms) must be one of {list(COOKING_ROOM_COUNTS)}, got {self.go!r}")
        for flag in ("open", "cook", "cut", "drop"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be a bool, got {getattr(self, flag)!r}")

    def prefix(self, split: str) -> str:
        skills = "".join(f"-{flag}" for flag in ("open", "cook", "cut", "drop") if getattr(self, flag))
        return f"cooking-r{self.recipe}-t{self.take}-g{self.go}{skills}-{split}"

    def settings(self, split: str) -> dict[str, Any]:
        """The settings dict of `textworld.challenges.tw_cooking.cooking.make`."""
        return {
            "recipe": self.recipe,
            "take": self.take,
            "go": self.go,
            "open": self.open,
            "cook": self.cook,
            "cut": self.cut,
            "drop": self.drop,
            "recipe_seed": 0,  # the recipe comes from the game seed; >0 would resample it separately
            "split": split,  # TextWorld's own food split: our split names are its split names
        }

    def make_game(self, seed: int, split: str, options: Any) -> Any:
        from textworld.challenges.tw_cooking import cooking

        return cooking.make(self.settings(split), options)


Family = SimpleQuests | CookingRecipes
FAMILIES: dict[str, type[SimpleQuests] | type[CookingRecipes]] = {
    "simple": SimpleQuests,
    "cooking": CookingRecipes,
}


def make_family(family: str, **options: Any) -> Family:
    """The family config named `family`, built from its options; unknown names fail with the allowed ones."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown TextWorld family {family!r}; expected one of {sorted(FAMILIES)}")
    cls = FAMILIES[family]
    allowed = [f.name for f in fields(cls)]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} for the {family!r} TextWorld family; expected some of {allowed}"
        )
    return cls(**options)


def split_seeds(split: str, size: int) -> range:
    """The seeds of the first `size` tasks of `split` (a prefix of the split's fixed seed block)."""
    if split not in SPLITS:
        raise UnknownTaskError(f"split {split!r} does not exist; TextWorld has {list(SPLITS)}")
    _check_int(f"the size of split {split!r}", size, 0, SEED_BLOCK)
    start = SPLITS.index(split) * SEED_BLOCK
    return range(start, start + size)


def split_of_seed(seed: int) -> str:
    index = seed // SEED_BLOCK
    if seed < 0 or index >= len(SPLITS):
        raise UnknownTaskError(
            f"seed {seed} is in no split; seeds run from 0 to {len(SPLITS) * SEED_BLOCK - 1}"
        )
    return SPLITS[index]


def task_id(family: Family, split: str, seed: int) -> str:
    return f"{family.prefix(split)}-s{seed:06d}"


_SIMPLE_ID = re.compile(r"^simple-r(\d+)-o(\d+)-q(\d+)-s(\d+)$")
_COOKING_ID = re.compile(
    r"^cooking-r(\d+)-t(\d+)-g(\d+)((?:-open)?(?:-cook)?(?:-cut)?(?:-drop)?)-(train|valid|test)-s(\d+)$"
)


def parse_task_id(task_id_: str) -> tuple[Family, str, int]:
    """(family config, split, seed) from a task id: the id alone is enough to regenerate the game."""
    if match := _SIMPLE_ID.match(task_id_):
        rooms, objects, length, seed = map(int, match.groups())
        family: Family = SimpleQuests(nb_rooms=rooms, nb_objects=objects, quest_length=length)
        split = split_of_seed(seed)
    elif match := _COOKING_ID.match(task_id_):
        recipe, take, go, skills, split, seed_text = match.groups()
        flags = {flag: f"-{flag}" in skills for flag in ("open", "cook", "cut", "drop")}
        family = CookingRecipes(recipe=int(recipe), take=int(take), go=int(go), **flags)
        seed = int(seed_text)
        if split_of_seed(seed) != split:
            raise UnknownTaskError(
                f"task {task_id_!r}: seed {seed} is not in the seed range of split {split!r}"
            )
    else:
        raise UnknownTaskError(
            f"{task_id_!r} is not a TextWorld task id; expected e.g. 'simple-r3-o5-q3-s000042' or "
            f"'cooking-r2-t2-g6-open-cook-cut-train-s000042'"
        )
    if task_id(family, split, seed) != task_id_:  # e.g. zero-padding or flag order differs
        raise UnknownTaskError(
            f"{task_id_!r} is not in canonical form; expected {task_id(family, split, seed)!r}"
        )
    return family, split, seed


# ----- the on-disk cache -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GameRecord:
    """A generated game on disk and what the agent-facing side needs to know about it."""

    task_id: str
    path: Path  # the compiled .z8 file; its .json sits beside it, as TextWorld's state tracking expects
    objective: str
    walkthrough: tuple[str, ...]
    max_score: int
    textworld_uuid: str


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where TextWorld games live: `cache_dir`, else `$AGENTGYM_CACHE/textworld` (default ~/.cache/agentgym)."""
    return cache.cache_root("textworld", cache_dir)


@functools.cache
def _textworld_version() -> str:
    from importlib.metadata import version

    return version("textworld")


def game_dir(task_id_: str, cache_dir: str | os.PathLike | None = None) -> Path:
    # The TextWorld version is part of the key: another generator version may build another game.
    return cache_root(cache_dir) / f"{task_id_}--textworld-{_textworld_version()}"


def _load_record(directory: Path) -> GameRecord:
    meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    return GameRecord(
        task_id=meta["task_id"],
        path=directory / GAME_FILE,
        objective=meta["objective"],
        walkthrough=tuple(meta["walkthrough"]),
        max_score=int(meta["max_score"]),
        textworld_uuid=meta["textworld_uuid"],
    )


def _generate_into(directory: Path, task_id_: str) -> None:
    """Generate and compile the game of `task_id_` into `directory` (tw-game.z8/.json/.ni, meta.json)."""
    textworld = require("textworld", "textworld", "the TextWorld environments")
    from textworld.generator import compile_game

    family, split, seed = parse_task_id(task_id_)
    options = textworld.GameOptions()
    options.seeds = seed  # TextWorld derives its map/objects/quest/grammar seeds from this one
    options.path = str(directory / GAME_FILE)
    options.force_recompile = True
    try:
        game = family.make_game(seed, split, options)
        compile_game(game, options)
    except Exception as exc:
        raise AgentGymError(f"TextWorld could not generate the game of task {task_id_!r}: {exc}") from exc
    meta = {
        "task_id": task_id_,
        "family": {"name": family.name, **asdict(family)},
        "split": split,
        "seed": seed,
        "textworld_version": _textworld_version(),
        "textworld_uuid": game.metadata.get("uuid", ""),
        "objective": game.objective,
        "walkthrough": list(game.walkthrough or []),
        "max_score": int(game.max_score),
    }
    (directory / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def ensure_game(task_id_: str, cache_dir: str | os.PathLike | None = None) -> GameRecord:
    """The cached game of `task_id_`, generated first if it is not in the cache yet (written atomically, so
    racing processes are safe: `agentgym.cache.build_once`)."""
    parse_task_id(task_id_)  # a malformed id fails here, before it names a path
    final = build_once(game_dir(task_id_, cache_dir), "meta.json", lambda tmp: _generate_into(tmp, task_id_))
    return _load_record(final)


def pregenerate(
    task_ids: Iterable[str], cache_dir: str | os.PathLike | None = None, processes: int | None = None
) -> list[GameRecord]:
    """Generate the games of `task_ids` ahead of play, `processes` at a time (default: one per CPU).

    Generation holds the GIL for seconds (about 1 s for a simple game, 2-3 s for a cooking one), so a
    training run should call this before it starts rather than pay for it inside its first resets.
    """
    task_ids = list(task_ids)
    for task_id_ in task_ids:
        parse_task_id(task_id_)  # fail on a bad id before starting any process
    missing = [t for t in task_ids if not (game_dir(t, cache_dir) / "meta.json").is_file()]
    processes = min(processes or os.cpu_count() or 1, len(missing))
    if processes > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(processes) as pool:
            list(pool.map(ensure_game, missing, [cache_dir] * len(missing)))
    return [ensure_game(task_id_, cache_dir) for task_id_ in task_ids]
