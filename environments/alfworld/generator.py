"""Sample ALFWorld tasks offline: a task in a shipped room, objects placed, goal from ALFWorld's library.

ALFWorld's own games come from ALFRED trajectories recorded in the AI2-THOR simulator. Without the
simulator or the data, a game is built here from what the `alfworld` package ships: a room
(:mod:`.rooms`), the receptacle/object affordances of `alfworld.gen.constants` (which receptacle can hold
what, what can be cleaned, heated, cooled, toggled), and the goal PDDL and task templates of
`alfworld.gen.goal_library`. Every choice draws from one `random.Random`, so a task id (its seed) always
gives the same game.

A task is solvable by construction: its object type can start somewhere other than its goal receptacle,
the appliance it needs (sink basin, microwave, fridge, lamp) is in the room, and no instance starts where
the goal would already hold (a win before the first move). :func:`candidates` yields successive draws; the
caller (:mod:`.games`) keeps the first that the planner's translator finds solvable and that ALFWorld's
expert solves within an episode.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from alfworld.gen import constants, goal_library

from .rooms import LAMPS, Receptacle, Room, coordinate, load_room

TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
#: The state change a task type asks for: (the object's affordance, the receptacle type that applies it).
APPLIANCES = {
    "pick_clean_then_place_in_recep": ("Cleanable", "SinkBasin"),
    "pick_heat_then_place_in_recep": ("Heatable", "Microwave"),
    "pick_cool_then_place_in_recep": ("Coolable", "Fridge"),
}
#: Lamps are in no receptacle's list of what it holds: they stand on furniture. A lamp to look under stands
#: on the first of these the room has (the expert finds it there without searching every shelf)...
LAMP_HOLDERS = ("SideTable", "Desk", "Dresser")
#: ...and lamps in other rooms on any of these.
LAMP_FALLBACKS = (*LAMP_HOLDERS, "Shelf", "CoffeeTable", "DiningTable", "TVStand", "CounterTop")
DUPLICATE_PROBABILITY = 0.3  # an object type present twice, as ALFRED rooms often have
OBJECT_TYPES_PER_RECEPTACLE = 2  # in a capped room: a few objects per receptacle, as in ALFRED's rooms
MAX_ATTEMPTS = 25  # draws before giving up; about one in ten fails the expert check


@dataclass(frozen=True)
class TaskSpec:
    """What a task asks, in ALFRED's terms (types in CamelCase, "" where a role does not apply)."""

    task_type: str
    floor_plan: int
    object_target: str
    parent_target: str = ""
    toggle_target: str = ""


@dataclass(frozen=True)
class GeneratedGame:
    """A sampled game: the task, the room it plays in, where each object starts, and its description."""

    spec: TaskSpec
    room: Room
    objects: dict[str, tuple[str, Receptacle]] = field(default_factory=dict)  # id -> (type, where)
    description: str = ""

    def traj_data(self, task_id: str) -> dict:
        """The `traj_data.json` ALFWorld's hand-coded expert reads beside the game file (the fields it uses)."""
        return {
            "task_id": task_id,
            "task_type": self.spec.task_type,
            "pddl_params": {
                "object_target": self.spec.object_target,
                "parent_target": self.spec.parent_target,
                "toggle_target": self.spec.toggle_target,
                "mrecep_target": "",
                "object_sliced": False,
            },
            "scene": {"floor_plan": f"FloorPlan{self.spec.floor_plan}", "scene_num": self.spec.floor_plan},
            "template": {"task_desc": self.description},
        }


def _holds(receptacle_type: str, object_type: str) -> bool:
    return object_type in constants.VAL_RECEPTACLE_OBJECTS.get(receptacle_type, ())


def lamp_holders(room: Room, holders: tuple[str, ...] = LAMP_HOLDERS) -> list[str]:
    types = room.receptacle_types
    return [t for t in holders if t in types]


def task_specs(room: Room, task_type: str) -> list[TaskSpec]:
    """Every task of `task_type` that `room` supports, in a stable order."""
    types = sorted(room.receptacle_types)
    movable = [o for o in room.object_types if o not in LAMPS]
    if task_type == "look_at_obj_in_light":
        lamps = [lamp for lamp in room.object_types if lamp in LAMPS] if lamp_holders(room) else []
        return [
            TaskSpec(task_type, room.floor_plan, obj, toggle_target=lamp)
            for lamp in lamps
            for obj in movable
            if any(_holds(t, obj) for t in types)
        ]
    affordance, appliance = APPLIANCES.get(task_type, (None, None))
    specs = []
    for obj in movable:
        if affordance and (obj not in constants.VAL_ACTION_OBJECTS[affordance] or appliance not in types):
            continue
        for parent in types:
            if parent == appliance or not _holds(parent, obj):
                continue
            if any(_holds(t, obj) for t in types if t != parent):  # it can start elsewhere
                specs.append(TaskSpec(task_type, room.floor_plan, obj, parent_target=parent))
    return specs


def _required(room: Room, spec: TaskSpec, rng: random.Random) -> list[Receptacle]:
    """Receptacles a capped room must keep for the task to stay solvable."""
    keep: list[Receptacle] = []
    if spec.parent_target:
        keep.append(rng.choice(room.of_type(spec.parent_target)))
    appliance = APPLIANCES.get(spec.task_type, (None, None))[1]
    if appliance:
        keep.append(rng.choice(room.of_type(appliance)))
    if spec.toggle_target:
        keep.append(rng.choice([r for r in room.receptacles if r.type == lamp_holders(room)[0]]))
    starts = [
        r for r in room.receptacles if r.type != spec.parent_target and _holds(r.type, spec.object_target)
    ]
    keep.append(rng.choice(starts))
    return list(dict.fromkeys(keep))


def cap_room(room: Room, spec: TaskSpec, max_receptacles: int, rng: random.Random) -> Room:
    """`room` cut down to at most `max_receptacles` receptacles (more only if the task needs them), and
    to OBJECT_TYPES_PER_RECEPTACLE times as many object types, the task's own always among them."""
    keep = _required(room, spec, rng)
    others = [r for r in room.receptacles if r not in keep]
    rng.shuffle(others)
    keep += others[: max(0, max_receptacles - len(keep))]
    needed = [t for t in (spec.object_target, spec.toggle_target) if t]
    extra = [t for t in room.object_types if t not in needed]
    rng.shuffle(extra)
    types = needed + extra[: max(0, OBJECT_TYPES_PER_RECEPTACLE * max_receptacles - len(needed))]
    return replace(
        room, receptacles=tuple(sorted(keep, key=lambda r: r.id)), object_types=tuple(sorted(types))
    )


def _new_id(object_type: str, taken: set[str], rng: random.Random) -> str:
    while True:
        x, y, z = rng.uniform(-3.0, 3.0), rng.uniform(0.0, 2.0), rng.uniform(-3.0, 3.0)
        object_id = "|".join([object_type, coordinate(x), coordinate(y), coordinate(z)])
        if object_id not in taken:
            taken.add(object_id)
            return object_id


def place_objects(room: Room, spec: TaskSpec, rng: random.Random) -> dict[str, tuple[str, Receptacle]]:
    """Put every object type of the room somewhere that can hold it; the target never starts at its goal."""
    placed: dict[str, tuple[str, Receptacle]] = {}
    taken: set[str] = set()
    lamp_types = lamp_holders(room)[:1] if spec.toggle_target else lamp_holders(room, LAMP_FALLBACKS)
    for object_type in room.object_types:
        if object_type in LAMPS:
            where = [r for r in room.receptacles if r.type in lamp_types]
            count = 1
        else:
            avoid = spec.parent_target if object_type == spec.object_target else None
            where = [r for r in room.receptacles if r.type != avoid and _holds(r.type, object_type)]
            count = 2 if rng.random() < DUPLICATE_PROBABILITY else 1
            if object_type == spec.object_target and spec.task_type == "pick_two_obj_and_place":
                count = rng.choice((2, 2, 3))
        if not where:
            continue
        for _ in range(count):
            placed[_new_id(object_type, taken, rng)] = (object_type, rng.choice(where))
    return placed


def describe(spec: TaskSpec, rng: random.Random) -> str:
    """The task text from ALFWorld's templates, e.g. "put a hot apple in countertop"."""
    template = rng.choice(goal_library.gdict[spec.task_type]["templates"])
    return template.format(
        obj=spec.object_target.lower(),
        recep=spec.parent_target.lower(),
        toggle=spec.toggle_target.lower(),
        mrecep="",
    )


def candidates(
    task_type: str, floor_plans: list[int], rng: random.Random, max_receptacles: int | None = None
) -> Iterator[GeneratedGame]:
    """Successive games of `task_type` drawn with `rng` from rooms in `floor_plans` (kinds that allow it)."""
    allowed = constants.GOALS_VALID[task_type]
    plans = [n for n in floor_plans if load_room(n).kind in allowed]
    for _ in range(MAX_ATTEMPTS):
        room = load_room(rng.choice(plans))
        specs = task_specs(room, task_type)
        if not specs:
            continue
        spec = rng.choice(specs)
        if max_receptacles is not None:
            room = cap_room(room, spec, max_receptacles, rng)
        objects = place_objects(room, spec, rng)
        yield GeneratedGame(spec, room, objects, describe(spec, rng))
