"""ALFWorld episodes on the real engine: reward, info, validity, parsing, the expert, determinism, API checks."""

from __future__ import annotations

import sys
import threading

import gymnasium
import pytest

pytest.importorskip("alfworld")
pytest.importorskip("fast_downward")

import agentgym  # noqa: E402
from agentgym.environments.alfworld import backend, games  # noqa: E402
from agentgym.environments.alfworld import expert as expert_module  # noqa: E402
from agentgym.errors import AgentGymError, MissingExtraError, UnknownTaskError  # noqa: E402

from .conftest import ENV_ID, SMALL, play_expert  # noqa: E402

pytestmark = pytest.mark.alfworld

CLEAN = f"pick_clean_then_place_in_recep-r{SMALL}-s000002"
TWO = f"pick_two_obj_and_place-r{SMALL}-s000005"
LOOK = f"look_at_obj_in_light-r{SMALL}-s000001"


def test_registered_id_passes_gymnasium_env_checker(cache):
    from gymnasium.utils.env_checker import check_env

    sizes = {"train": 1, "valid": 1, "test": 1}
    env = gymnasium.make(ENV_ID, source="generated", split_sizes=sizes, max_receptacles=SMALL)
    check_env(env.unwrapped)
    env.close()


def test_reset_shows_the_room_and_the_task_and_fills_info(small):
    observation, info = small.reset(seed=0, options={"task_id": CLEAN})
    assert observation.startswith("You are in the middle of a room") and "Welcome" not in observation
    assert observation.endswith(f"Your task is to: {info['instruction']}.")
    assert info["instruction"].startswith(("put a clean", "clean some")) and info["task"].id == CLEAN
    assert info["task_type"] == "pick_clean_then_place_in_recep"
    assert info["expert_action"] in info["admissible_actions"] and "look" in info["admissible_actions"]
    assert info["walkthrough"] and info["reward_components"] == {"won": 0.0} and info["success"] is False
    assert "household task" in info["system_prompt"] and "Action:" in info["system_prompt"]


def test_nothing_happens_is_an_invalid_action_and_commands_are_normalized(small):
    _, info = small.reset(seed=0, options={"task_id": CLEAN})
    expert = info["expert_action"]
    observation, reward, terminated, truncated, info = small.step("dance with the fridge")
    assert observation == "Nothing happens." and info["action_valid"] is False
    assert (reward, terminated, truncated) == (0.0, False, False) and info["expert_action"]
    _, _, _, _, info = small.step(f"Thought: the expert knows.\nAction: {expert.upper()}.")
    assert info["action_valid"] is True and info["action"] == f"{expert.upper()}."
    observation, *_ = small.step("inventory")
    assert observation == "You are not carrying anything."


def test_parse_error_costs_a_turn_and_earns_nothing(small):
    _, info = small.reset(seed=0, options={"task_id": CLEAN})
    expert = info["expert_action"]
    observation, reward, terminated, truncated, info = small.step("I should look around.\nThen think.")
    assert info["parse_error"] and "Action:" in observation
    assert (reward, terminated, truncated, info["action_valid"]) == (0.0, False, False, False)
    _, _, _, _, info = small.step(f"Action: {expert}")
    assert info["parse_error"] is None and info["action_valid"] is True


@pytest.mark.parametrize("task_id", [CLEAN, TWO, LOOK])
def test_expert_wins_with_reward_one_on_the_last_step(small, task_id):
    actions, rewards, observations, info = play_expert(small, task_id)
    assert info["success"] is True and info["reward_components"] == {"won": 1.0}
    assert rewards[-1] == 1.0 and sum(rewards) == 1.0 and len(actions) <= games.EXPERT_STEP_LIMIT
    assert info["expert_action"] is None and info["admissible_actions"] == []
    observation, reward, terminated, _, info = small.step("look")
    assert terminated and reward == 0.0 and "over" in observation and info["success"] is True
    if task_id == TWO:  # unless a "move" counts as a put (expert.py), alfworld's expert still thinks it holds
        # the first object: it suggests moving it again, which is not admissible, so it falls back to "look"
        assert sum(a.startswith("move ") for a in actions) == 2 and "look" not in actions


def test_expert_solves_generated_tasks_of_every_type_in_whole_rooms(cache):
    """The expert within the step limit, on whole floor plans of the test split (one task per type);
    the benchmark plays the whole split."""
    env = agentgym.make(ENV_ID, source="generated")
    tasks = env.unwrapped.task_set("test")[:6]
    results = {task.data["task_type"]: play_expert(env, task.id, "test", seed=0) for task in tasks}
    env.close()
    assert set(results) == set(games.TASK_TYPES)
    for task_type, (actions, _, _, info) in results.items():
        assert info["success"], task_type
        assert len(actions) <= games.EXPERT_STEP_LIMIT


def test_a_move_reads_as_a_put_for_alfworlds_policy():
    assert expert_module.tracked_command("move mug 1 to coffeemachine 1") == "put mug 1 to coffeemachine 1"
    assert expert_module.tracked_command("go to drawer 2") == "go to drawer 2"


def test_replay_is_deterministic_and_the_expert_too(small):
    actions, *_ = play_expert(small, TWO, seed=3)
    detour = ["look", "jump", *actions[:-1], "inventory", actions[-1]]
    first = agentgym.replay(small, TWO, 3, detour)
    fresh = agentgym.make(ENV_ID, source="generated", max_receptacles=SMALL)
    second = agentgym.replay(fresh, TWO, 3, detour)
    fresh.close()
    assert (first.observation, first.rewards, first.terminated) == (second.observation, second.rewards, True)
    assert play_expert(small, TWO, seed=3) == play_expert(small, TWO, seed=3)


def test_threads_playing_at_once_see_what_one_thread_sees(cache):
    """Engines in threads share textworld's module state (translator options, sys.stdout): the lock holds."""
    task_ids = [CLEAN, LOOK, TWO]
    alone = {}
    env = agentgym.make(ENV_ID, source="generated", max_receptacles=SMALL)
    for task_id in task_ids:
        alone[task_id] = play_expert(env, task_id)[2]
    env.close()
    backend._translations.clear()  # so the threads translate, at once
    stdout = sys.stdout
    together, errors = {}, []

    def play(task_id):
        try:
            env = agentgym.make(ENV_ID, source="generated", max_receptacles=SMALL)
            together[task_id] = play_expert(env, task_id)[2]
            env.close()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=play, args=(task_id,)) for task_id in task_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and together == alone
    assert sys.stdout is stdout  # the translator swaps it while it works


def test_unknown_task_and_step_before_reset(cache):
    env = agentgym.make(ENV_ID, source="generated").unwrapped
    with pytest.raises(
        UnknownTaskError, match=r"not in split 'train' \(3553 tasks, e\.g\. 'pick_and_place_simple-s0"
    ):
        env.reset(options={"task_id": "pick_and_place_simple-s00000"})
    with pytest.raises(UnknownTaskError, match="not in split 'train'"):
        env.reset(options={"task_id": "pick_and_place_simple-s200000"})
    with pytest.raises(AgentGymError, match="before reset"):
        agentgym.make(ENV_ID, source="generated").unwrapped.step("look")


def test_missing_alfworld_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "alfworld", None)  # makes `import alfworld` fail
    monkeypatch.delitem(sys.modules, "agentgym.environments.alfworld.env")
    with pytest.raises(MissingExtraError, match=r'pip install "agentgym\[alfworld\]"'):
        agentgym.make(ENV_ID)
