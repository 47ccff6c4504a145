"""ScienceWorld episodes on the real engine: the expert, rewards, validity, failure, determinism, crashes."""

from __future__ import annotations

import os
import signal
import warnings

import pytest

pytest.importorskip("scienceworld")

import agentgym  # noqa: E402
from agentgym.errors import AgentGymError, EnvironmentCrashedError  # noqa: E402

from .helpers import gone, needs_java  # noqa: E402

pytestmark = [pytest.mark.scienceworld, needs_java]

#: Test variations across the shared env's task types (first, middle or last of each test split).
EXPERT_SAMPLE = [
    "find-non-living-thing-var299",
    "find-animal-var262",
    "chemistry-mix-paint-tertiary-color-var27",
    "lifespan-longest-lived-var109",
    "lifespan-longest-lived-then-shortest-lived-var93",
    "identify-life-stages-2-var8",
]


def play_expert(env, task_id: str, split: str = "test", react: bool = False):
    """Follow `info["expert_action"]` to the end; return (rewards, first info, last info, observations)."""
    observation, first = env.reset(options={"task_id": task_id, "split": split})
    info, rewards, observations, done = first, [], [observation], False
    while not done:
        action = info["expert_action"]
        assert action is not None, f"{task_id}: the gold path ran out before the task ended"
        observation, reward, terminated, truncated, info = env.step(
            f"Thought: the gold path says so.\nAction: {action}" if react else action
        )
        rewards.append(reward)
        observations.append(observation)
        done = terminated or truncated
    return rewards, first, info, observations


def test_expert_completes_sampled_test_variations(shared, monkeypatch):
    monkeypatch.setattr(shared.unwrapped, "admissible_actions", False)  # not needed here; saves most time
    wins = []
    for n, task_id in enumerate(EXPERT_SAMPLE):
        rewards, first, last, _ = play_expert(shared, task_id, react=n % 2 == 1)
        wins.append(last["success"])
        if last["success"]:
            start = first["reward_components"]["score"]
            assert sum(rewards) == pytest.approx(1.0 - start) and last["engine_score"] == 100
            assert last["reward_components"] == {"score": 1.0, "score_delta": rewards[-1], "won": 1.0}
            assert len(rewards) <= len(first["walkthrough"]) and all(r >= 0 for r in rewards)
            assert last["expert_action"] is None
    assert sum(wins) / len(wins) >= 0.95, dict(zip(EXPERT_SAMPLE, wins, strict=True))


def test_reset_shows_the_task_and_the_room(shared, monkeypatch):
    monkeypatch.setattr(shared.unwrapped, "render_mode", "ansi")
    observation, info = shared.reset(options={"task_id": "find-animal-var225", "split": "test"})
    assert shared.unwrapped.render() == observation
    assert info["instruction"].startswith("Your task is to find a(n) animal")
    assert observation.startswith(info["instruction"]) and "This room is called" in observation
    assert info["task"].instruction == info["instruction"] and info["task"].split == "test"
    assert "science task" in info["system_prompt"] and "Action:" in info["system_prompt"]
    assert info["walkthrough"][0] == info["expert_action"] == "open door to hallway"
    assert info["reward_components"] == {"score": 0.0, "score_delta": 0.0, "won": 0.0}
    assert info["engine_score"] == 0 and info["success"] is False and info["task_type"] == "find-animal"
    admissible = info["admissible_actions"]
    assert len(admissible) > 100 and len(set(admissible)) == len(admissible)
    assert {"look around", "inventory", "open door", "focus on orange"} <= set(admissible)


def test_expert_false_skips_planning(shared, monkeypatch):
    from agentgym.environments.scienceworld import env as sw_env

    monkeypatch.setattr(shared.unwrapped, "expert", False)
    cached = dict(sw_env._gold_paths)
    observation, info = shared.reset(options={"task_id": "find-plant-var226", "split": "test"})
    assert info["expert_action"] is None and info["walkthrough"] is None
    assert dict(sw_env._gold_paths) == cached  # nothing was planned
    _, _, _, _, info = shared.step("look around")
    assert info["action_valid"] is True and info["expert_action"] is None


def test_validity_ambiguity_and_blocked_commands(shared):
    _, info = shared.reset(options={"task_id": "find-animal-var225", "split": "test"})
    observation, reward, terminated, _, info = shared.step("dance with the cupboard")
    assert observation == "No known action matches that input." and reward == 0.0 and not terminated
    assert info["action_valid"] is False and info["expert_action"] == "open door to hallway"
    observation, reward, _, _, info = shared.step("  OPEN   Door To Hallway ")  # case and spacing
    assert observation == "The door is now open." and reward == pytest.approx(0.08)
    assert info["action_valid"] is True and info["expert_action"] == "go to hallway"
    shared.step("go to hallway")
    observation, _, _, _, info = shared.step("open door")  # the hallway has several doors
    assert observation.startswith("Ambiguous request") and "1:\topen door between" in observation
    assert info["action_valid"] is False
    observation, _, _, _, info = shared.step("1")  # the answer picks one
    assert observation == "The door is now open." and info["action_valid"] is True
    observation, reward, terminated, _, info = shared.step("reset task")
    assert "disabled" in observation and info["action_valid"] is False and not terminated
    observation, *_ = shared.step("look\x00 around\x1b")  # control characters cannot reach the engine
    assert observation.startswith("This room is called the hallway")


def test_parse_error_costs_a_turn_and_earns_nothing(shared):
    _, info = shared.reset(options={"task_id": "find-plant-var225", "split": "test"})
    expert = info["expert_action"]
    observation, reward, terminated, truncated, info = shared.step("Hmm.\nI should think about plants")
    assert info["parse_error"] and "Action:" in observation
    assert (reward, terminated, truncated, info["action_valid"]) == (0.0, False, False, False)
    assert info["expert_action"] == expert
    _, reward, _, _, info = shared.step(f"Action: {expert}")
    assert info["parse_error"] is None and info["action_valid"] is True and reward > 0


def test_failing_the_task_ends_it_and_takes_back_the_score(shared):
    _, info = shared.reset(options={"task_id": "find-animal-var225", "split": "test"})
    earned = [shared.step(action)[1] for action in info["walkthrough"][:2]]
    assert sum(earned) == pytest.approx(0.17)
    observation, reward, terminated, truncated, info = shared.step("focus on air")  # air is no animal
    assert terminated and not truncated and info["success"] is False
    assert info["engine_score"] < 0 and reward == pytest.approx(-0.17)
    assert info["reward_components"] == {"score": 0.0, "score_delta": reward, "won": 0.0}
    assert info["expert_action"] is None and info["admissible_actions"] == []
    observation, reward, terminated, _, info = shared.step("look around")
    assert terminated and reward == 0.0 and "task is over" in observation and info["success"] is False


def test_registered_id_passes_gymnasium_env_checker(shared, monkeypatch):
    from gymnasium.utils.env_checker import check_env

    # The checker resets to tasks of its choosing, a dozen times: planning their gold paths and listing
    # valid actions would only slow it down; it checks the API, not them. Its render check makes a new
    # environment (a JVM) per render mode; test_reset_shows_the_task_and_the_room renders instead.
    monkeypatch.setattr(shared.unwrapped, "expert", False)
    monkeypatch.setattr(shared.unwrapped, "admissible_actions", False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(shared.unwrapped, skip_render_check=True)


def test_gold_planning_is_deterministic(shared):
    """The engine's planner iterates over objects in identity-hash order; the default JVM options fix it.

    Without them the second plan of melt's variation 21 in a JVM differs from the first (and boil's
    variation 22 plans a path that fails, now and then).
    """
    engine = shared.unwrapped.engine
    plans = []
    for other in ("find-plant", "lifespan-longest-lived"):
        engine.load("melt", 21, gold=True)
        plans.append(engine.gold_actions())
        engine.load(other, 0)
    assert plans[0] == plans[1] and len(plans[0]) > 30


def play(env, task_id: str, actions: list[str]) -> list[tuple]:
    """Every (observation, reward, terminated, reward components) of an episode, up to its end."""
    observation, info = env.reset(options={"task_id": task_id, "split": "test"})
    record = [(observation, 0.0, False, info["reward_components"])]
    for action in actions:
        observation, reward, terminated, _, info = env.step(action)
        record.append((observation, reward, terminated, info["reward_components"]))
        if terminated:
            break
    return record


def test_replay_is_deterministic_across_resets_and_jvms(shared, monkeypatch):
    """Same task and actions, same observations: in one JVM after other tasks, and in a fresh JVM.

    The shared env's JVM is killed under it: the step fails as an infrastructure error, and the next
    reset starts a fresh engine, where the episode must come out the same.
    """
    monkeypatch.setattr(shared.unwrapped, "admissible_actions", False)  # saves time, changes nothing else
    task = "find-animal-var262"  # animals wander outside, drawing on the engine's random generator
    _, info = shared.reset(options={"task_id": task, "split": "test"})
    gold = info["walkthrough"]
    actions = ["look around", "wait", "jump", *gold[:6], "wait", "look around", "inventory", *gold[6:]]
    first = play(shared, task, actions)
    shared.reset(options={"task_id": "find-plant-var262", "split": "test"})
    second = play(shared, task, actions)

    shared.reset(options={"task_id": task, "split": "test"})
    shared.step(gold[0])
    engine = shared.unwrapped.engine
    os.kill(engine.pid, signal.SIGKILL)  # mid-episode
    assert gone(engine.pid)
    with pytest.raises(EnvironmentCrashedError, match=f"JVM, pid {engine.pid}"):
        shared.step("look around")
    third = play(shared, task, actions)
    assert shared.unwrapped.engine.pid != engine.pid and not engine.alive
    assert second == first and third == first
    assert len({observation for observation, *_ in first}) > 10


def test_step_before_reset_and_after_close(shared):
    env = agentgym.make("agentgym/ScienceWorld-v0", task_types="find-plant")
    with pytest.raises(AgentGymError, match="before reset"):
        env.unwrapped.step("look around")
    env.close()
    env.close()
    assert env.unwrapped.engine is None
