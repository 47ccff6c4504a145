"""Registers the TextWorld environments (strings only: `textworld` is imported when one is made)."""

from __future__ import annotations

from agentgym.registration import register


def register_textworld_envs() -> None:
    register(
        "agentgym/TextWorld-v0",
        entry_point="agentgym.environments.textworld.env:TextWorldEnv",
        description=(
            "TextWorld quests generated offline: reach rooms, find and use objects (real TextWorld engine; "
            "3 rooms, 5 objects, 3-step quests unless nb_rooms/nb_objects/quest_length say otherwise)."
        ),
        action_format="a text command, plain or as 'Action: <command>'",
        example_action="go east",
        max_episode_steps=50,
        kwargs={"family": "simple"},
        extra="textworld",
    )
    register(
        "agentgym/TextWorldCooking-v0",
        entry_point="agentgym.environments.textworld.env:TextWorldEnv",
        description=(
            "TextWorld cooking recipes (the FTWP family): read the cookbook, gather, prepare, eat "
            "(2 ingredients, 6 rooms, open/cook/cut skills unless recipe/take/go/open/cook/cut/drop say otherwise)."
        ),
        action_format="a text command, plain or as 'Action: <command>'",
        example_action="examine cookbook",
        max_episode_steps=80,
        kwargs={"family": "cooking"},
        extra="textworld",
    )
