"""Shared fixtures of the ALFWorld tests: the registered environment, a small-room env, the game fixtures.

Nothing here imports alfworld: each test module skips itself when the extra is missing.

Generated games go to the session-wide cache of tests/conftest.py (never ~/.cache). Small rooms
(`max_receptacles`) keep games fast to generate and play; whole floor plans are played where the claim is
about them (expert success).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import agentgym

ENV_ID = "agentgym/ALFWorld-v0"
FIXTURES = Path(__file__).parent / "fixtures"
SMALL = 4  # receptacles in a small generated room


@pytest.fixture(autouse=True)
def _no_official_data(monkeypatch, tmp_path_factory):
    """No test sees official game files the machine may have, unless it points at some itself."""
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path_factory.getbasetemp() / "no-alfworld-data"))


@pytest.fixture(scope="session")
def cache(agentgym_cache) -> Path:
    return agentgym_cache / "alfworld"


@pytest.fixture(scope="module")
def small(cache):
    """A generated-task env with small rooms, shared by a module's tests."""
    env = agentgym.make(ENV_ID, source="generated", max_receptacles=SMALL)
    yield env
    env.close()


def play_expert(env, task_id: str, split: str = "train", seed: int = 0):
    """Follow `info["expert_action"]` to the end; return (actions, rewards, observations, last info)."""
    observation, info = env.reset(seed=seed, options={"task_id": task_id, "split": split})
    actions, rewards, observations = [], [], [observation]
    terminated = truncated = False
    while not (terminated or truncated):
        actions.append(info["expert_action"])
        observation, reward, terminated, truncated, info = env.step(actions[-1])
        rewards.append(reward)
        observations.append(observation)
    return actions, rewards, observations, info
