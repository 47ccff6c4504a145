"""Fixtures for the progress estimators: a tiny model and Maze trajectories with and without policy tokens."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from agentgym.agents import ExpertAgent, HFAgent, RandomAgent  # noqa: E402
from agentgym.rollout import RolloutConfig, rollout, run_rollouts  # noqa: E402
from agentgym.testing import build_tiny_model  # noqa: E402
from agentgym.trainers.rollout import PolicyAgent, episode_row  # noqa: E402

MAZE = "agentgym/Maze-v0"
MAZE_KWARGS = {"width": 3, "height": 3}


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("progress-tiny"), seed=0)


def maze_config(num_tasks: int, samples: int, max_turns: int, seed: int) -> RolloutConfig:
    """Maze 3×3 episodes of the first `num_tasks` train tasks, played in this process."""
    return RolloutConfig(
        MAZE,
        env_kwargs=MAZE_KWARGS,
        num_tasks=num_tasks,
        samples=samples,
        max_turns=max_turns,
        seed=seed,
        workers=0,
        progress=False,
    )


def play_policy_episodes(model_dir, num_tasks: int = 2, samples: int = 2, max_turns: int = 3, seed: int = 0):
    """Episodes sampled by the tiny model with the trainer's exact token stream: every turn carries
    `token_ids` and `logprobs`, and every turn but the last its `observation_token_ids`."""
    generator = HFAgent(str(model_dir), seed=seed, max_new_tokens=6, batch_size=num_tasks * samples)
    agent = PolicyAgent(generator, "full", max_episode_tokens=512)
    result = asyncio.run(run_rollouts(agent, maze_config(num_tasks, samples, max_turns, seed)))
    for t in result.trajectories:
        episode_row(t, agent.episodes[(t.task_id, t.seed, t.sample)], max_episode_tokens=512)
    return result.trajectories


def play_text_episodes(agent, num_tasks: int = 4, samples: int = 1, max_turns: int = 6, seed: int = 0):
    return rollout(agent, maze_config(num_tasks, samples, max_turns, seed)).trajectories


@pytest.fixture(scope="session")
def policy_trajectories(tiny_model_dir):
    return play_policy_episodes(tiny_model_dir)


@pytest.fixture(scope="session")
def mixed_trajectories():
    """Expert episodes (all won) and random-agent episodes (mostly lost) of the same Maze tasks, as text."""
    won = play_text_episodes(ExpertAgent(), num_tasks=6)
    lost = play_text_episodes(RandomAgent(seed=0), num_tasks=6, max_turns=3)
    return won + lost
