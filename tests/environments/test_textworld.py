"""TextWorld environments on the real engine: generation, cache, splits, episodes, oracle, API checks.

Games are generated once per session into a temporary cache (a handful of games, a few seconds each), and
the tests share them; nothing here reads ~/.cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium
import pytest

pytest.importorskip("textworld")

import agentgym  # noqa: E402
from agentgym.environments.textworld import games  # noqa: E402
from agentgym.errors import AgentGymError, ConfigError, MissingExtraError, UnknownTaskError  # noqa: E402
from agentgym.tasks import check_disjoint  # noqa: E402

pytestmark = [
    pytest.mark.textworld,
    # Jericho's own warnings (TextWorld silences them at import, but pytest resets filters per test): it
    # cannot list valid actions itself (TextWorld supplies them), and the cooking generator's scratch games.
    pytest.mark.filterwarnings("ignore:Unable to find valid actions"),
    pytest.mark.filterwarnings("ignore:Game .* is not fully supported"),
]

SIMPLE, COOKING = "agentgym/TextWorld-v0", "agentgym/TextWorldCooking-v0"
SIMPLE_TRAIN = ["simple-r3-o5-q3-s000000", "simple-r3-o5-q3-s000001"]
SIMPLE_TEST = "simple-r3-o5-q3-s200000"
COOKING_TRAIN = "cooking-r2-t2-g6-open-cook-cut-train-s000000"
COOKING_TEST = "cooking-r2-t2-g6-open-cook-cut-test-s200000"
# check_env resets without a task id many times; one task per split keeps that to one game per family.
ONE_PER_SPLIT = {"train": 1, "valid": 1, "test": 1}


@pytest.fixture(scope="session")
def cache(agentgym_cache) -> Path:
    """The session-wide game cache (tests/conftest.py): AGENTGYM_CACHE points at it before any generation."""
    return agentgym_cache / "textworld"


@pytest.fixture(scope="module")
def simple(cache):
    env = agentgym.make(SIMPLE)
    yield env
    env.close()


@pytest.fixture(scope="module")
def cooking(cache):
    env = agentgym.make(COOKING)
    yield env
    env.close()


def play_expert(env, task_id: str, split: str = "train", seed: int = 0, react: bool = False):
    """Follow `info["expert_action"]` to the end; return (rewards, last info, observations)."""
    observation, info = env.reset(seed=seed, options={"task_id": task_id, "split": split})
    rewards, observations, terminated, truncated = [], [observation], False, False
    while not (terminated or truncated):
        action = (
            f"Thought: the oracle knows.\nAction: {info['expert_action']}" if react else info["expert_action"]
        )
        observation, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        observations.append(observation)
    return rewards, info, observations


# ----- tasks and splits ----------------------------------------------------------------------------


def test_listing_generates_nothing_and_ids_are_stable(cache, tmp_path):
    env = agentgym.make(SIMPLE, cache_dir=tmp_path)
    tasks = {split: env.unwrapped.task_set(split) for split in ("train", "valid", "test")}
    assert {split: len(t) for split, t in tasks.items()} == {"train": 1000, "valid": 200, "test": 200}
    assert tasks["train"][0].id == SIMPLE_TRAIN[0] and tasks["train"][-1].id == "simple-r3-o5-q3-s000999"
    assert tasks["test"][0].id == SIMPLE_TEST and tasks["test"][0].split == "test"
    assert tasks["train"][42].data == {
        "family": "simple",
        "nb_rooms": 3,
        "nb_objects": 5,
        "quest_length": 3,
        "seed": 42,
    }
    assert list(tmp_path.iterdir()) == []  # listing touched no game
    cooking = agentgym.make(COOKING, cache_dir=tmp_path).unwrapped
    assert cooking.task_set("test")[0].id == COOKING_TEST
    assert agentgym.make(SIMPLE, nb_rooms=4).unwrapped.task_set("train")[7].id == "simple-r4-o5-q3-s000007"


@pytest.mark.parametrize("env_id", [SIMPLE, COOKING])
def test_splits_are_disjoint_by_id_and_by_textworld_seeds(env_id):
    import textworld

    env = agentgym.make(env_id).unwrapped
    task_sets = {split: env.task_set(split) for split in env.splits()}
    check_disjoint(task_sets)

    def textworld_seeds(task):  # the seeds TextWorld derives for map, objects, quest and grammar
        options = textworld.GameOptions()
        options.seeds = task.data["seed"]
        return tuple(sorted(options.seeds.items()))

    check_disjoint(task_sets, key=textworld_seeds)


def test_generated_games_differ_across_splits(cache):
    records = [
        games.ensure_game(task_id) for task_id in [*SIMPLE_TRAIN, SIMPLE_TEST, COOKING_TRAIN, COOKING_TEST]
    ]
    contents = {hashlib.sha256(record.path.read_bytes()).hexdigest() for record in records}
    assert len(contents) == len(records)
    assert len({(record.objective, record.walkthrough) for record in records[:3]}) == 3
    meta = json.loads((records[-1].path.parent / "meta.json").read_text())
    assert meta["split"] == "test"  # cooking's test split uses TextWorld's own test foods
    assert all(record.walkthrough and record.max_score >= 1 for record in records)


def test_task_ids_name_everything_needed_to_regenerate():
    for task_id in [SIMPLE_TRAIN[0], SIMPLE_TEST, COOKING_TEST, "cooking-r1-t0-g1-valid-s100007"]:
        family, split, seed = games.parse_task_id(task_id)
        assert games.task_id(family, split, seed) == task_id
    drop_only = games.CookingRecipes(recipe=1, take=0, go=1, open=False, cook=False, cut=False, drop=True)
    assert games.parse_task_id("cooking-r1-t0-g1-drop-valid-s100007") == (drop_only, "valid", 100007)
    for bad in ["simple-r3-o5-q3-s42", "cooking-r2-t2-g6-test-s000001", "maze-s000001"]:
        with pytest.raises(UnknownTaskError):
            games.parse_task_id(bad)


def test_unknown_task_and_bad_configuration_fail_clearly(cache):
    # Not the shared env: Gymnasium's PassiveEnvChecker breaks the first step after a failed first reset.
    env = agentgym.make(SIMPLE).unwrapped
    with pytest.raises(UnknownTaskError, match="did you mean 'simple-r3-o5-q3-s000042'"):
        env.reset(options={"task_id": "simple-r3-05-q3-s000042"})
    with pytest.raises(UnknownTaskError, match="not in split 'train'"):
        env.reset(options={"task_id": SIMPLE_TEST})  # a test task is not a train task
    with pytest.raises(
        ConfigError, match=r"unknown TextWorld family 'maze'; expected one of \['cooking', 'simple'\]"
    ):
        agentgym.make(SIMPLE, family="maze")
    with pytest.raises(ConfigError, match="expected some of .*'recipe'"):
        agentgym.make(COOKING, nb_rooms=3)
    with pytest.raises(ConfigError, match="go"):
        agentgym.make(COOKING, go=5)
    with pytest.raises(ConfigError, match="split_sizes"):
        agentgym.make(SIMPLE, split_sizes={"dev": 3})


def test_missing_textworld_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "textworld", None)  # makes `import textworld` fail
    monkeypatch.delitem(sys.modules, "agentgym.environments.textworld.env")
    with pytest.raises(MissingExtraError, match=r'pip install "agentgym\[textworld\]"'):
        agentgym.make(SIMPLE)


# ----- the cache -----------------------------------------------------------------------------------


def test_concurrent_generation_is_atomic_and_deterministic(cache, tmp_path):
    """Two processes (different hash seeds) generate one game into one cache at once: same bytes, no debris."""
    reference = games.ensure_game(SIMPLE_TRAIN[0])
    code = f"from agentgym.environments.textworld import games; games.ensure_game({SIMPLE_TRAIN[0]!r})"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env={**os.environ, "AGENTGYM_CACHE": str(tmp_path), "PYTHONHASHSEED": str(hash_seed)},
            stderr=subprocess.PIPE,
        )
        for hash_seed in (1, 2)
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr.decode()
    entries = list((tmp_path / "textworld").iterdir())
    assert [entry.name for entry in entries] == [reference.path.parent.name]  # no temporary directories left
    for name in ("tw-game.z8", "tw-game.json", "meta.json"):
        assert (entries[0] / name).read_bytes() == (reference.path.parent / name).read_bytes()


def test_pregenerate_fills_the_cache_in_parallel(tmp_path):
    task_ids = ["simple-r1-o1-q1-s000000", "simple-r1-o1-q1-s000001"]  # tiny games: fast to generate
    records = games.pregenerate(task_ids, cache_dir=tmp_path, processes=2)
    assert [record.task_id for record in records] == task_ids
    assert all(record.path.is_file() and record.walkthrough for record in records)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        games.game_dir(t, tmp_path).name for t in task_ids
    ]
    with pytest.raises(UnknownTaskError):
        games.pregenerate(["simple-r1-o1-q1-s1"], cache_dir=tmp_path)


# ----- episodes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", [SIMPLE, COOKING])
def test_registered_ids_pass_gymnasium_env_checker(cache, env_id):
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make(env_id, split_sizes=ONE_PER_SPLIT)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unable to find valid actions")
        check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize(
    "fixture, task_id, split, react",
    [
        ("simple", SIMPLE_TRAIN[0], "train", False),
        ("simple", SIMPLE_TEST, "test", True),
        ("cooking", COOKING_TRAIN, "train", True),
        ("cooking", COOKING_TEST, "test", False),
    ],
)
def test_expert_wins_with_dense_normalized_reward(request, fixture, task_id, split, react):
    env = request.getfixturevalue(fixture)
    _, info = env.reset(options={"task_id": task_id, "split": split})
    walkthrough = info["walkthrough"]
    assert walkthrough and info["max_score"] >= 1
    rewards, info, observations = play_expert(env, task_id, split, react=react)
    assert info["success"] is True and info["reward_components"]["won"] == 1.0
    assert sum(rewards) == pytest.approx(1.0) and info["reward_components"]["score"] == pytest.approx(1.0)
    assert all(reward >= 0 for reward in rewards) and len(rewards) <= len(walkthrough)
    assert info["expert_action"] is None and info["admissible_actions"] == []
    assert "*** The End ***" in observations[-1] and "RESTART" not in observations[-1]
    assert len(set(observations)) > 1 and all(observations)


def test_reset_shows_objective_and_first_room(simple):
    observation, info = simple.reset(options={"task_id": SIMPLE_TRAIN[0]})
    assert observation.startswith(info["instruction"]) and len(info["instruction"]) > 20
    assert "-= " in observation and "$$$$" not in observation  # the room header, not the ASCII banner
    assert info["task"].instruction == info["instruction"]
    assert "text adventure" in info["system_prompt"] and "Action:" in info["system_prompt"]
    assert info["reward_components"] == {"score": 0.0, "score_delta": 0.0, "won": 0.0}


def test_admissible_actions_and_validity(simple):
    _, info = simple.reset(options={"task_id": SIMPLE_TRAIN[0]})
    admissible = info["admissible_actions"]
    assert isinstance(admissible, list) and {"look", "inventory", info["expert_action"]} <= set(admissible)
    observation, reward, terminated, _, info = simple.step("dance with the wardrobe")
    assert info["action_valid"] is False and reward == 0.0 and not terminated
    assert "not a verb" in observation  # the game itself answered
    _, _, _, _, info = simple.step("  LOOK ")  # case and spacing do not matter
    assert info["action_valid"] is True and info["parse_error"] is None


def test_parse_error_costs_a_turn_and_earns_nothing(simple):
    _, info = simple.reset(options={"task_id": SIMPLE_TRAIN[0]})
    expert = info["expert_action"]
    observation, reward, terminated, truncated, info = simple.step(
        "I am not sure.\nMaybe I should look around"
    )
    assert info["parse_error"] and "Action:" in observation
    assert (reward, terminated, truncated, info["action_valid"]) == (0.0, False, False, False)
    _, _, _, _, info = simple.step(f"Action: {expert}")
    assert info["parse_error"] is None and info["action_valid"] is True


@pytest.mark.timeout(60, method="thread")  # a NUL byte reaching the interpreter hangs it in C code
def test_interpreter_commands_and_control_characters_cannot_break_the_game(simple):
    _, info = simple.reset(options={"task_id": SIMPLE_TRAIN[0]})
    expert = info["expert_action"]
    for command in ["restart", "quit", "Q", "restore"]:
        observation, reward, terminated, _, info = simple.step(command)
        assert "disabled" in observation and info["action_valid"] is False and not terminated
    observation, *_ = simple.step("go\x00 north")  # a NUL byte would hang the interpreter
    assert observation
    _, _, _, _, info = simple.step(expert)
    assert info["action_valid"] is True and info["expert_action"] != expert  # progress was tracked


def test_losing_terminates_without_success(cooking):
    _, info = cooking.reset(options={"task_id": COOKING_TRAIN})
    while True:
        command = info["expert_action"]
        _, _, _, _, info = cooking.step(command)
        if command.startswith("take ") and "knife" not in command:
            break
    ingredient = command.removeprefix("take ").split(" from ")[0]
    observation, reward, terminated, _, info = cooking.step(f"eat {ingredient}")
    assert terminated and info["success"] is False and info["reward_components"]["won"] == 0.0
    assert "You lost" in observation and reward == 0.0
    observation, reward, terminated, _, info = cooking.step("look")
    assert terminated and reward == 0.0 and "game is over" in observation


def test_replay_is_deterministic(simple):
    record = simple.unwrapped.game(SIMPLE_TRAIN[1])
    actions = ["look", "jump around", *record.walkthrough[:-1], "inventory", record.walkthrough[-1]]
    first = agentgym.replay(simple, SIMPLE_TRAIN[1], 7, actions)
    second = agentgym.replay(simple, SIMPLE_TRAIN[1], 7, actions)
    fresh = agentgym.make(SIMPLE)
    third = agentgym.replay(fresh, SIMPLE_TRAIN[1], 7, actions)
    fresh.close()
    for other in (second, third):
        assert (other.observation, other.rewards, other.terminated) == (
            first.observation,
            first.rewards,
            first.terminated,
        )
        assert other.info["reward_components"] == first.info["reward_components"]
    assert first.terminated and sum(first.rewards) == pytest.approx(1.0)


def test_switching_games_in_one_env_matches_fresh_envs(cache, monkeypatch):
    from agentgym.environments.textworld import env as tw_env

    monkeypatch.setattr(tw_env, "GAMES_PER_ENGINE", 2)  # exercise both loading and replacing the engine
    tasks = [SIMPLE_TRAIN[0], SIMPLE_TRAIN[1], SIMPLE_TRAIN[0], SIMPLE_TRAIN[1], SIMPLE_TRAIN[0]]
    env = agentgym.make(SIMPLE)
    switched = [play_expert(env, task_id, seed=3) for task_id in tasks]
    env.close()
    for task_id, episode in zip(tasks, switched, strict=True):
        fresh = agentgym.make(SIMPLE)
        assert play_expert(fresh, task_id, seed=3) == episode  # rewards, last info and every observation
        fresh.close()
        assert episode[1]["success"] and episode[1]["task"].id == task_id


def test_close_is_idempotent_and_reset_reopens(cache):
    env = agentgym.make(SIMPLE)
    env.reset(options={"task_id": SIMPLE_TRAIN[0]})
    assert env.unwrapped._engine is not None
    env.close()
    env.close()
    assert env.unwrapped._engine is None
    _, info = env.reset(options={"task_id": SIMPLE_TRAIN[0]})
    assert info["expert_action"]
    env.unwrapped.__del__()  # what garbage collection does: releases the engine, raises nothing
    assert env.unwrapped._engine is None


def test_step_before_reset_is_an_error(cache):
    with pytest.raises(AgentGymError, match="before reset"):
        agentgym.make(SIMPLE).unwrapped.step("look")


_GARBAGE_PLAYER = """
import random, string, sys
import agentgym
env = agentgym.make("agentgym/TextWorld-v0", split_sizes={"train": 1, "valid": 1, "test": 1})
rng = random.Random(0)
env.reset(seed=0)
actions = ["\\\\help", "\\\\x", "look \\\\D", "\\\\", "go\\\\north", "\\x00", "#", "$verify"]
actions += ["".join(rng.choice(string.printable) for _ in range(rng.randint(0, 64))) for _ in range(150)]
for action in actions:
    observation, reward, terminated, truncated, info = env.step(action)
    assert isinstance(observation, str), repr(action)
    if terminated or truncated:
        env.reset(seed=0)
env.close()
print("survived")
"""


def test_any_text_is_an_observation_never_a_crash_or_a_hang(cache, tmp_path):
    """Arbitrary model output (backslashes open the interpreter's hot-key menu, which hangs printing help
    forever or crashes the process) reaches the game as a harmless command. In a subprocess whose output
    goes to a file, so a crash or a hang fails cleanly."""
    env = {**os.environ, "AGENTGYM_CACHE": str(cache.parent)}
    log = tmp_path / "player.log"
    with log.open("w") as out:
        try:
            code = subprocess.run(
                [sys.executable, "-c", _GARBAGE_PLAYER], stdout=out, stderr=out, timeout=240, env=env
            ).returncode
        except subprocess.TimeoutExpired:
            code = None
    tail = log.read_bytes()[-2000:].decode(errors="replace")
    assert code == 0, f"the player {'hung' if code is None else f'exited with {code}'}: {tail}"
    assert tail.strip().endswith("survived")
