"""The Env base and the registry, exercised through the dependency-free Maze environment."""

import subprocess
import sys
import textwrap

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import agentgym
from agentgym.errors import AgentGymError, UnknownEnvironmentError, UnknownTaskError
from agentgym.tasks import check_disjoint
from agentgym.wrappers import HistoryWindow, RewardTransform

MAZE = "agentgym/Maze-v0"


def play_expert(env, **reset_kwargs):
    obs, info = env.reset(**reset_kwargs)
    actions, rewards = [], []
    while True:
        action = info["expert_action"]
        obs, reward, terminated, truncated, info = env.step(action)
        actions.append(action)
        rewards.append(reward)
        if terminated or truncated:
            return actions, rewards, info


def test_make_through_agentgym_and_gymnasium():
    env = agentgym.make(MAZE)
    assert isinstance(env.unwrapped, agentgym.Env)
    assert env.spec.max_episode_steps == 30
    obs, info = env.reset(seed=0)
    assert isinstance(obs, str) and obs
    assert gymnasium.make(MAZE).reset(seed=0)[0] == obs


def test_maze_passes_gymnasium_env_checker():
    check_env(agentgym.make(MAZE).unwrapped, skip_render_check=True)


def test_unknown_id_lists_close_matches():
    with pytest.raises(UnknownEnvironmentError, match="Did you mean: agentgym/Maze-v0"):
        agentgym.make("agentgym/Maz-v0")
    with pytest.raises(UnknownEnvironmentError, match="agentgym/Maze-v0"):
        agentgym.make("maze")


def test_info_carries_the_standard_keys():
    env = agentgym.make(MAZE)
    obs, info = env.reset(seed=1)
    for key in (
        "task",
        "instruction",
        "system_prompt",
        "admissible_actions",
        "tools",
        "expert_action",
        "action_valid",
        "parse_error",
        "reward_components",
    ):
        assert key in info, key
    assert info["task"].env_id == MAZE
    assert "Action:" in info["system_prompt"]  # the parser's format hint reaches the agent
    *_, last = play_expert(env, seed=1)
    assert last["success"] is True


def test_expert_solves_every_test_task():
    env = agentgym.make(MAZE)
    tasks = env.unwrapped.task_set("test")
    for task in tasks[:50]:
        _, rewards, info = play_expert(env, options={"task_id": task.id, "split": "test"})
        assert info["success"] and rewards[-1] == 1.0


def test_unparsable_text_is_an_observation_not_an_exception():
    env = agentgym.make(MAZE)
    env.reset(seed=2)
    obs, reward, terminated, truncated, info = env.step("I will think.\nAnd think more.")
    assert reward == 0.0 and not terminated and not truncated
    assert info["parse_error"] and "Action:" in obs
    assert info["action_valid"] is False
    # the episode goes on, and the failed turn counted towards the time limit
    assert env.step("look")[4]["parse_error"] is None
    assert env.get_wrapper_attr("_elapsed_steps") == 2


def test_time_limit_truncates():
    env = agentgym.make(MAZE, max_episode_steps=3)
    env.reset(seed=0)
    results = [env.step("look") for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]


def test_seed_picks_a_task_deterministically_and_options_pick_by_id():
    env = agentgym.make(MAZE)
    first = env.reset(seed=7)[1]["task"].id
    assert env.reset(seed=7)[1]["task"].id == first
    test_id = env.unwrapped.task_set("test")[3].id
    assert env.reset(options={"task_id": test_id, "split": "test"})[1]["task"].id == test_id


def test_bad_reset_options_are_named():
    env = agentgym.make(MAZE)
    with pytest.raises(UnknownTaskError, match="did you mean"):
        env.reset(options={"task_id": "maze-4x4-s000000"})
    with pytest.raises(UnknownTaskError, match="split 'valid' does not exist"):
        env.reset(options={"split": "valid"})
    with pytest.raises(AgentGymError, match="unknown reset option"):
        env.reset(options={"level": 3})


def test_step_before_reset_and_non_text_actions_are_programming_errors():
    env = agentgym.make(MAZE).unwrapped
    with pytest.raises(AgentGymError, match="before reset"):
        env.step("look")
    env.reset(seed=0)
    with pytest.raises(AgentGymError, match="str"):
        env.step(3)


def test_splits_are_disjoint():
    env = agentgym.make(MAZE).unwrapped
    check_disjoint({split: env.task_set(split) for split in env.splits()})
    with pytest.raises(AgentGymError, match="both split"):
        check_disjoint({"train": env.task_set("train"), "test": env.task_set("train")})


def test_replay_rebuilds_the_same_state():
    env = agentgym.make(MAZE)
    actions, rewards, _ = play_expert(env, seed=5)
    task_id = env.unwrapped.task.id
    replayed = agentgym.replay(env, task_id, 5, actions[:-1])
    assert replayed.info["expert_action"] == actions[-1]
    full = agentgym.replay(env, task_id, 5, actions)
    assert full.rewards == rewards and full.terminated
    with pytest.raises(AgentGymError, match="episode ended"):
        agentgym.replay(env, task_id, 5, [*actions, "look"])


def test_history_window_shows_recent_turns():
    env = HistoryWindow(agentgym.make(MAZE), k=2)
    env.reset(seed=0)
    env.step("look")
    env.step("go nowhere")
    obs = env.step("look")[0]
    assert obs.startswith("Recent history:")
    assert obs.count("> ") == 2 and "> go nowhere" in obs and "[3]" not in obs


def test_reward_transform_keeps_the_raw_reward():
    env = RewardTransform(agentgym.make(MAZE), lambda r: 10 * r)
    obs, info = env.reset(seed=0)
    while True:
        obs, reward, terminated, truncated, info = env.step(info["expert_action"])
        if terminated:
            break
    assert reward == 10.0 and info["reward_components"]["untransformed"] == 1.0


def test_third_party_environment_through_entry_point(tmp_path):
    """A package that declares `agentgym.environments` entry points is found at `import agentgym`."""
    (tmp_path / "echo_plugin.py").write_text(
        textwrap.dedent("""
        import agentgym
        from agentgym.tasks import TaskSet
        from agentgym.types import Task

        class EchoEnv(agentgym.Env):
            def splits(self):
                return ("train",)
            def task_set(self, split):
                return TaskSet(split, [Task(id="echo-0", instruction="Say hello.")])
            def _start(self, task, seed):
                return "Say hello.", {}
            def _act(self, action):
                done = action.command == "hello"
                return action.command, float(done), done, False, {"success": done}

        def register():
            agentgym.register("plugin/Echo-v0", entry_point="echo_plugin:EchoEnv", description="echo")
    """)
    )
    dist = tmp_path / "echo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[agentgym.environments]\necho = echo_plugin:register\n")
    code = (
        "import gymnasium, agentgym; assert 'plugin/Echo-v0' in agentgym.registered_ids();"
        "env = gymnasium.make('plugin/Echo-v0'); env.reset(seed=0); print(env.step('hello')[1])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1.0"


def test_import_agentgym_does_not_import_heavy_packages():
    code = (
        "import sys, agentgym; agentgym.registered_ids();"
        "heavy = [m for m in ('torch', 'transformers', 'textworld', 'trl', 'openai') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
