"""Registers the ScienceWorld environment (strings only: `scienceworld` is imported when it is made)."""

from __future__ import annotations

from agentgym.registration import register

#: Long enough for the gold path of every sampled test variation (the longest, inclined-plane friction
#: tasks that wait for blocks to slide, take a few hundred steps); pass max_episode_steps to make() for less.
MAX_EPISODE_STEPS = 400


def register_scienceworld_envs() -> None:
    register(
        "agentgym/ScienceWorld-v0",
        entry_point="agentgym.environments.scienceworld.env:ScienceWorldEnv",
        description=(
            "ScienceWorld's 30 elementary-science task types (boil, grow, wire, measure...) on its real "
            "simulator (a JVM per environment), with the engine's train/dev/test variation splits, "
            "dense score-based reward and the gold path as expert."
        ),
        action_format="a text command, plain or as 'Action: <command>'",
        example_action="open door to kitchen",
        max_episode_steps=MAX_EPISODE_STEPS,
        extra="scienceworld",
    )
