"""Rooms for generated tasks, built from the floor plans that the `alfworld` package ships.

ALFWorld's rooms are AI2-THOR floor plans. Its package carries, per floor plan, the object types present
(`FloorPlanN-objects.json`) and the static receptacles with the agent pose that reaches each
(`FloorPlanN-openable.json`). A pose becomes a PDDL location as ALFRED writes it: `loc|x/0.25|z/0.25|
rotation/90|horizon`. Some receptacle types are present in a room but missing from the openable file
(coffee machines, garbage cans, stove burners, toasters, towel holders...): they get a synthetic id and
location, derived from the floor plan alone so that a room is always built the same way.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path

from alfworld.gen import constants

LAYOUTS = Path(constants.__file__).parent / "layouts"

#: Receptacles that stay put; movable ones (bowls, mugs, pans...) are objects in the text engine.
STATIC_RECEPTACLES = frozenset(constants.RECEPTACLES - constants.MOVABLE_RECEPTACLES_SET)
#: Object types some receptacle can hold, i.e. things the agent can pick up and put down.
PLACEABLE = frozenset().union(*constants.VAL_RECEPTACLE_OBJECTS.values()) - STATIC_RECEPTACLES
LAMPS = frozenset({"DeskLamp", "FloorLamp"})
#: Room kind of each floor plan number ("Kitchen", "LivingRoom", "Bedroom", "Bathroom").
ROOM_KINDS = {n: kind for kind, numbers in constants.SCENE_TYPE.items() for n in numbers}
#: Sinks and bathtubs are named by their basin, in ALFRED's form `Sink|x|y|z|SinkBasin`: ALFWorld's name
#: demangler appends "basin" itself, so `SinkBasin|...` would read "sinkbasinbasin".
BASINS = {"SinkBasin": "Sink", "BathtubBasin": "Bathtub"}
SYNTHETIC_COUNTS = {"StoveBurner": 4}  # a kitchen has several burners; other missing types get one


@dataclass(frozen=True)
class Receptacle:
    id: str  # ALFRED's object id, e.g. "Cabinet|+00.68|+00.50|-02.20"
    type: str  # e.g. "Cabinet"
    location: str  # e.g. "loc|0|-5|2|30"


@dataclass(frozen=True)
class Room:
    floor_plan: int
    kind: str
    receptacles: tuple[Receptacle, ...]
    object_types: tuple[str, ...]  # placeable objects and lamps present in the room, sorted

    @property
    def receptacle_types(self) -> frozenset[str]:
        return frozenset(r.type for r in self.receptacles)

    def of_type(self, receptacle_type: str) -> list[Receptacle]:
        return [r for r in self.receptacles if r.type == receptacle_type]


def floor_plans() -> list[int]:
    """Every floor plan number with a layout in the installed package."""
    return sorted(
        int(p.name[len("FloorPlan") : -len("-objects.json")]) for p in LAYOUTS.glob("*-objects.json")
    )


def coordinate(value: float) -> str:
    """A coordinate as ALFRED writes it in ids: sign, two digits, two decimals."""
    return f"{value:+06.2f}"


def _location(pose: list[float]) -> str:
    x, z, rotation, horizon = pose
    return f"loc|{round(x / 0.25)}|{round(z / 0.25)}|{round(rotation / 90)}|{round(horizon)}"


def _receptacle(raw_id: str, pose: list[float]) -> Receptacle | None:
    parts = raw_id.split("|")
    kind = parts[4] if len(parts) == 5 else parts[0]
    if kind not in STATIC_RECEPTACLES:
        return None
    if kind in BASINS:
        raw_id = "|".join([BASINS[kind], *parts[1:4], kind])
    return Receptacle(raw_id, kind, _location(pose))


def _synthetic(floor_plan: int, kind: str, index: int) -> Receptacle:
    rng = random.Random(f"FloorPlan{floor_plan}/{kind}/{index}")
    x, y, z = (rng.uniform(-3.0, 3.0) for _ in range(3))
    raw_id = "|".join([BASINS.get(kind, kind), coordinate(x), coordinate(y), coordinate(z)])
    if kind in BASINS:
        raw_id += f"|{kind}"
    # Off the 0.25 m grid of real poses, so a synthetic location never coincides with a real one.
    location = (
        f"loc|{rng.randrange(-40, 40)}|{rng.randrange(-40, 40)}|{rng.randrange(4)}|{rng.choice((0, 30))}"
    )
    return Receptacle(raw_id, kind, location + "|s")


@functools.cache
def load_room(floor_plan: int) -> Room:
    """The room of floor plan `floor_plan` (e.g. 1 for `FloorPlan1`), built from the shipped layout files."""
    objects = json.loads((LAYOUTS / f"FloorPlan{floor_plan}-objects.json").read_text())
    openable = json.loads((LAYOUTS / f"FloorPlan{floor_plan}-openable.json").read_text())
    receptacles = [r for r in (_receptacle(i, pose) for i, pose in openable.items()) if r is not None]
    present = {r.type for r in receptacles}
    for kind in sorted(set(objects) & STATIC_RECEPTACLES - present):
        receptacles += [_synthetic(floor_plan, kind, i) for i in range(SYNTHETIC_COUNTS.get(kind, 1))]
    receptacles.sort(key=lambda r: r.id)
    object_types = sorted(set(objects) & (PLACEABLE | LAMPS))
    return Room(floor_plan, ROOM_KINDS[floor_plan], tuple(receptacles), tuple(object_types))
