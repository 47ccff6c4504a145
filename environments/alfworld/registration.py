"""Registers the ALFWorld environment (strings only: `alfworld` and `textworld` are imported when it is made)."""

from __future__ import annotations

from agentgym.registration import register


def register_alfworld_envs() -> None:
    register(
        "agentgym/ALFWorld-v0",
        entry_point="agentgym.environments.alfworld.env:ALFWorldEnv",
        description=(
            "ALFWorld household tasks (pick and place, look in light, clean, heat, cool, pick two) on "
            "ALFWorld's TextWorld PDDL engine: official game files from $ALFWORLD_DATA or data_path, "
            "otherwise tasks generated offline from the shipped floor plans."
        ),
        action_format="a text command, plain or as 'Action: <command>'",
        example_action="go to countertop 1",
        max_episode_steps=50,
        kwargs={},
        extra="alfworld",
    )
