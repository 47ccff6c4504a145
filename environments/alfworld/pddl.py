"""Write a generated game as ALFWorld's engine reads it: a PDDL problem for the shipped `alfred.pddl`.

The problem follows ALFWorld's initial-state format: objects of the types agent/object/receptacle/
location/otype/rtype; receptacles with their type, location and whether they open; objects with their
type, receptacle, location and affordances; `canContain` from ALFRED's receptacle lists; the goal from
`alfworld.gen.goal_library`. Ids are mangled as ALFRED mangles them (`|` → `_bar_`, `-` → `_minus_`...),
which ALFWorld's demangler turns back into names such as "cabinet 3".
"""

from __future__ import annotations

from alfworld.gen import constants, goal_library

from .generator import GeneratedGame
from .rooms import LAMPS

#: Type constants the domain's actions name (sinks clean, microwaves heat, fridges cool, knives slice).
DOMAIN_RTYPES = ("SinkBasin", "Microwave", "Fridge")
DOMAIN_OTYPES = ("Knife", "ButterKnife")
AFFORDANCES = {  # PDDL predicate -> key of constants.VAL_ACTION_OBJECTS
    "cleanable": "Cleanable",
    "heatable": "Heatable",
    "coolable": "Coolable",
    "sliceable": "Sliceable",
    "toggleable": "Toggleable",
}
START = "loc|start"  # where the agent stands at first: next to no receptacle, so it looks around the room
_MANGLE = (("-", "_minus_"), ("|", "_bar_"), ("+", "_plus_"), (".", "_dot_"), (",", "_comma_"))


def mangle(name: str) -> str:
    for char, word in _MANGLE:
        name = name.replace(char, word)
    return name


def problem(game: GeneratedGame, name: str) -> str:
    """The PDDL problem text of `game`."""
    room, spec = game.room, game.spec
    receptacles = room.receptacles
    objects = sorted(game.objects.items())
    rtypes = sorted({r.type for r in receptacles} | set(DOMAIN_RTYPES))
    otypes = sorted({t for t, _ in game.objects.values()} | set(DOMAIN_OTYPES))
    locations = sorted({r.location for r in receptacles}) + [START]

    declared = ["agent1 - agent"]
    declared += [f"{mangle(object_id)} - object" for object_id, _ in objects]
    declared += [f"{mangle(r.id)} - receptacle" for r in receptacles]
    declared += [f"{mangle(location)} - location" for location in locations]
    declared += [f"{t}Type - otype" for t in otypes]
    declared += [f"{t}Type - rtype" for t in rtypes]

    facts = [f"(atLocation agent1 {mangle(START)})"]
    for r in receptacles:
        facts += [
            f"(receptacleType {mangle(r.id)} {r.type}Type)",
            f"(receptacleAtLocation {mangle(r.id)} {mangle(r.location)})",
        ]
        if r.type in constants.OPENABLE_CLASS_SET:
            facts.append(f"(openable {mangle(r.id)})")
    for object_id, (object_type, where) in objects:
        o = mangle(object_id)
        facts += [
            f"(objectType {o} {object_type}Type)",
            f"(inReceptacle {o} {mangle(where.id)})",
            f"(objectAtLocation {o} {mangle(where.location)})",
        ]
        if object_type not in LAMPS:
            facts.append(f"(pickupable {o})")
        if object_type in constants.MOVABLE_RECEPTACLES_SET:
            facts.append(f"(isReceptacleObject {o})")
        facts += [
            f"({p} {o})" for p, key in AFFORDANCES.items() if object_type in constants.VAL_ACTION_OBJECTS[key]
        ]
    for rtype in rtypes:
        holds = constants.VAL_RECEPTACLE_OBJECTS.get(rtype, ())
        facts += [f"(canContain {rtype}Type {otype}Type)" for otype in otypes if otype in holds]

    goal = goal_library.gdict[spec.task_type]["pddl"].format(
        obj=spec.object_target, recep=spec.parent_target, toggle=spec.toggle_target, mrecep=""
    )
    indent = "\n        "
    return (
        f"(define (problem {name})\n    (:domain alfred)\n"
        f"    (:objects{indent}{indent.join(declared)}\n    )\n"
        f"    (:init{indent}{indent.join(facts)}\n    )\n"
        # The library's goal closes the `define` itself and writes "#" for PDDL's type dash.
        f"{goal.replace('#', '-').strip()}\n"
    )
