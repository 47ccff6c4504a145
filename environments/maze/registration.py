"""Registers the maze environments."""

from __future__ import annotations

from agentgym.registration import register


def register_maze_envs() -> None:
    register(
        "agentgym/Maze-v0",
        entry_point="agentgym.environments.maze.env:MazeEnv",
        description="Procedural 4x4 grid mazes: find the exit by moving north/south/east/west (no dependencies).",
        action_format="a text command, plain or as 'Action: <command>'",
        example_action="go north",
        max_episode_steps=30,
        kwargs={"width": 4, "height": 4},
    )
