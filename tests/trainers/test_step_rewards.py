"""Step rewards in the trainers: where they come from (environment, component, progress estimator, gated chain),
how an online estimator learns from each batch, and the config errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from agentgym.agents import ExpertAgent  # noqa: E402
from agentgym.environments.maze.env import MazeEnv  # noqa: E402
from agentgym.errors import ConfigError  # noqa: E402
from agentgym.registration import register  # noqa: E402
from agentgym.rollout import RolloutConfig, rollout  # noqa: E402
from agentgym.testing import build_tiny_model  # noqa: E402
from agentgym.trainers.advantages import group_advantages  # noqa: E402
from agentgym.trainers.config import MultiTurnGRPOConfig  # noqa: E402
from agentgym.trainers.grpo import MultiTurnGRPOTrainer, episode_reward  # noqa: E402
from agentgym.trainers.step_rewards import gated_chain, turn_step_rewards  # noqa: E402
from agentgym.types import Trajectory, Turn  # noqa: E402
from agentgym.verifiers.progress import ProgressEstimator  # noqa: E402
from tests.trainers.test_grpo_trainer import config, logged  # noqa: E402

pytestmark = pytest.mark.hf

MAZE = "agentgym/Maze-v0"
TASKS = ("maze-4x4-s0000000", "maze-4x4-s0000001")
PARITY = "test/ParityGuess-v0"


class TurnIndexEstimator(ProgressEstimator):
    """Step reward = (t + 1) · scale: distinct per turn, so where each value lands can be checked. Online: it
    records the batches it learns from."""

    name = "index"

    def __init__(self, scale: float = 1.0, online: bool = False):
        self.scale, self.online = scale, online
        self.updates: list[tuple[list[str], int]] = []

    def step_rewards(self, trajectory):
        return [self.scale * (t + 1) for t in range(len(trajectory.turns))]

    def update(self, trajectories, group_size):
        self.updates.append(([t.task_id for t in trajectories], group_size))
        return {"index/updates": float(len(self.updates))}


def trajectory(rewards, components=None, status="ok", success=False):
    turns = [
        Turn(
            index=k,
            agent_text="go north",
            observation="o",
            reward=r,
            reward_components=(components or [{}] * 9)[k],
        )
        for k, r in enumerate(rewards)
    ]
    return Trajectory(env_id=MAZE, task_id="t", turns=turns, status=status, success=success)


def test_step_rewards_come_from_the_environment_a_component_or_an_estimator():
    episodes = [trajectory([0.0, 0.0, 1.0], [{"progress": 1.0}, {"progress": -1.0}, {"progress": 1.0}])]
    assert turn_step_rewards(episodes, [3]) == [[0.0, 0.0, 1.0]]
    assert turn_step_rewards(episodes, [3], step_reward_key="progress") == [[1.0, -1.0, 1.0]]
    assert turn_step_rewards(episodes, [3], estimator=TurnIndexEstimator()) == [[1.0, 2.0, 3.0]]
    # a row that kept two turns (token budget) gets two rewards; a failed episode none
    failed = trajectory([0.0], status="error")
    assert turn_step_rewards([*episodes, failed], [2, 0], estimator=TurnIndexEstimator()) == [[1.0, 2.0], []]


def test_gates_pay_the_estimator_only_where_the_outcome_was_reached():
    gates = gated_chain([["success", 1.0, 1.0], ["index", 0.5]])
    won = trajectory([0.0, 1.0], [{"success": 0.0}, {"success": 1.0}])
    lost = trajectory([0.0, 0.0], [{"success": 0.0}, {"success": 0.0}])
    values = turn_step_rewards([won, lost], [2, 2], estimator=TurnIndexEstimator(), gates=gates)
    assert values == [[0.5 * 1.0, 1.0 + 0.5 * 2.0], [0.0, 0.0]]


def test_an_estimator_must_give_one_reward_per_turn():
    class Short(TurnIndexEstimator):
        def step_rewards(self, trajectory):
            return [0.0]

    with pytest.raises(ConfigError, match="one per turn"):
        turn_step_rewards([trajectory([0.0, 0.0])], [2], estimator=Short())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"step_rewards": "prm"}, "step_rewards must be one of"),
        ({"step_rewards": "oprl"}, "step_reward_weight > 0"),
        ({"step_rewards": "spa", "step_reward_weight": 1.0}, "step_rewards_model"),
        ({"step_rewards": "oprl", "step_reward_weight": 1.0, "step_reward_key": "progress"}, "give one"),
        ({"step_rewards_options": "[1]"}, "step_rewards_options"),
        ({"step_reward_gates": [["success", "heavy"]]}, r"step_reward_gates\[0\]"),
        ({"step_reward_gates": []}, "step_reward_gates"),
        ({"step_reward_gates": "not json"}, "step_reward_gates"),
    ],
)
def test_config_errors_name_the_field(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        MultiTurnGRPOConfig(output_dir=str(tmp_path), env_id=MAZE, use_cpu=True, bf16=False, **overrides)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def make_trainer(model_dir, tmp_path, estimator=None, reward_funcs=None, **overrides):
    # test_grpo_trainer's config, for one step at TRL's learning rate, with unscaled advantages
    settings = {"max_steps": 1, "learning_rate": 1e-6, "scale_rewards": "none", **overrides}
    return MultiTurnGRPOTrainer(
        str(model_dir),
        args=config(tmp_path, **settings),
        progress_estimator=estimator,
        reward_funcs=reward_funcs,
    )


def test_an_online_estimator_learns_from_each_batch_then_sets_the_step_advantages(model_dir, tmp_path):
    estimator = TurnIndexEstimator(online=True)
    trainer = make_trainer(model_dir, tmp_path, estimator, step_reward_weight=1.0)
    trainer.model.train()
    batch = [{"prompt": task, "task_id": task} for task in TASKS for _ in range(2)]
    inputs = trainer._generate_and_score_completions(batch)
    assert estimator.updates == [([TASKS[0], TASKS[0], TASKS[1], TASKS[1]], 2)]
    assert trainer._metrics["train"]["index/updates"] == [1.0]

    # Maze rewards of an untrained model are 0, so A^E = 0 and the advantages are w · A^S: each turn's value
    # minus the mean over all steps of its group (step_advantages, unscaled).
    turn_ids = inputs["turn_ids"]
    trajectories = trainer.rollout.last_trajectories
    for g in range(2):
        rows = range(2 * g, 2 * g + 2)
        steps = [t + 1.0 for i in rows for t in range(int(turn_ids[i].max()) + 1)]
        mean = sum(steps) / len(steps)
        for i in rows:
            assert trajectories[i].total_reward == 0.0
            for t in range(int(turn_ids[i].max()) + 1):
                values = inputs["advantages"][i][turn_ids[i] == t]
                assert torch.allclose(values, torch.full_like(values, t + 1.0 - mean))

    trainer.model.eval()  # evaluation batches are scored, never learnt from
    tests = ["maze-4x4-s1000000", "maze-4x4-s1000001"]
    trainer._generate_and_score_completions([{"prompt": t, "task_id": t} for t in tests for _ in range(2)])
    assert len(estimator.updates) == 1


def test_a_trainer_with_an_estimator_trains(model_dir, tmp_path):
    estimator = TurnIndexEstimator(online=True)
    trainer = make_trainer(model_dir, tmp_path, estimator, step_reward_weight=1.0, learning_rate=1e-2)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    assert trainer.state.global_step == 1 and len(estimator.updates) == 1
    assert any(not torch.equal(p, before[name]) for name, p in trainer.model.named_parameters())


def test_an_estimator_needs_a_step_weight(model_dir, tmp_path):
    with pytest.raises(ConfigError, match="step_reward_weight"):
        make_trainer(model_dir, tmp_path, TurnIndexEstimator())


def test_dropped_groups_do_not_shrink_a_per_row_mean_loss(model_dir, tmp_path):
    """With loss_type 'grpo' (mean over rows), the kept rows' advantages are scaled by B / B_kept."""
    from tests.trainers.test_grpo_trainer import CRASH_TASK, CRASHING, GOOD_TASK, token_sum_reward

    batch = [{"prompt": task, "task_id": task} for task in (CRASH_TASK, GOOD_TASK) for _ in range(2)]
    settings = dict(env_id=CRASHING, env_kwargs={"crash_tasks": [CRASH_TASK]}, max_turns=1)
    for loss_type, factor in (("grpo", 2.0), ("dapo", 1.0)):
        trainer = make_trainer(
            model_dir,
            tmp_path,
            reward_funcs=[episode_reward, token_sum_reward],
            loss_type=loss_type,
            **settings,
        )
        trainer.model.train()
        inputs = trainer._generate_and_score_completions(batch)
        rewards = trainer._rewards_per_func.nansum(dim=1)[2:]
        expected = group_advantages(rewards, 2, scale=False) * factor
        assert torch.allclose(inputs["advantages"][2:, 0], expected)
        assert inputs["advantages"][:2].abs().sum() == 0


def test_dr_grpo_divides_by_the_episode_budget(model_dir, tmp_path):
    trainer = make_trainer(model_dir, tmp_path, loss_type="dr_grpo", max_episode_tokens=48)
    assert trainer.max_completion_length == 48  # TRL's dr_grpo normalizer: B × |o|, |o| a whole episode


class ParityGuess(MazeEnv):
    """One-turn task: the reply wins when its text has an even length. A random tiny model wins about half its
    episodes, so groups have both outcomes (what OPRL's preference pairs need)."""

    def _act(self, action):
        won = len(action.command or "") % 2 == 0
        info = self._info()
        info["success"] = won
        return "done", float(won), True, False, info


register(PARITY, entry_point="tests.trainers.test_step_rewards:ParityGuess", max_episode_steps=1)


def test_oprl_from_the_config_trains_its_prm_beside_the_policy(model_dir, tmp_path):
    trainer = make_trainer(
        model_dir,
        tmp_path,
        env_id=PARITY,
        max_turns=1,
        per_device_train_batch_size=16,  # two groups of 8: both tie (no pairs) once in about 16,000 runs
        num_generations=8,
        step_rewards="oprl",
        step_reward_weight=1.0,
        step_rewards_options={"learning_rate": 1e-2},
    )
    prm = trainer.progress_estimator.model
    assert prm is not trainer.model  # a copy of the policy, trained on its own
    before = {name: p.detach().clone() for name, p in prm.named_parameters()}
    trainer.train()
    pairs = logged(trainer)["oprl/pairs"]
    assert pairs[0] > 0
    assert any(not torch.equal(p, before[name]) for name, p in prm.named_parameters())


def test_spa_from_the_config_gives_its_step_rewards(model_dir, tmp_path):
    """A saved SPA estimator named in the config scores the batch: with its head at zero (untrained), the
    step reward is the grounding bonus alone, grounding_weight for every action the environment executed."""
    from agentgym.verifiers.progress.spa import SPAConfig, SPAEstimator

    SPAEstimator.from_causal_lm(model_dir, config=SPAConfig(grounding_weight=0.25)).save_pretrained(
        tmp_path / "spa"
    )
    trainer = make_trainer(
        model_dir,
        tmp_path,
        step_rewards="spa",
        step_rewards_model=str(tmp_path / "spa"),
        step_reward_weight=1.0,
    )
    assert isinstance(trainer.progress_estimator, SPAEstimator)
    trainer.model.train()
    batch = [{"prompt": task, "task_id": task} for task in TASKS for _ in range(2)]
    trainer._generate_and_score_completions(batch)  # plays the episodes; TRL adds their fields to `batch`
    rewards = trainer._turn_rewards(batch, "train", 2)
    for row, trajectory in zip(rewards, trainer.rollout.last_trajectories, strict=True):
        kept = trajectory.turns[: len(row)]
        assert row == [0.25 * (turn.action_valid is True) for turn in kept]
    # the untrained policy rarely makes a valid move; the expert always does
    expert = rollout(
        ExpertAgent(), RolloutConfig(MAZE, split="train", task_ids=[TASKS[0]], workers=0, progress=False)
    )
    turns = expert.trajectories[0].turns
    assert trainer.progress_estimator.step_rewards(expert.trajectories[0]) == [0.25] * len(turns)
