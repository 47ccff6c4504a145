"""MultiTurnGRPOTrainer / MultiTurnRLOOTrainer: real TRL training steps on Maze with a tiny model (CPU)."""

from __future__ import annotations

import random
import time

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

from agentgym.environments.maze.env import MazeEnv  # noqa: E402
from agentgym.errors import ConfigError  # noqa: E402
from agentgym.registration import register  # noqa: E402
from agentgym.testing import build_tiny_model  # noqa: E402
from agentgym.trainers.advantages import group_advantages  # noqa: E402
from agentgym.trainers.config import MultiTurnGRPOConfig, MultiTurnRLOOConfig  # noqa: E402
from agentgym.trainers.grpo import MultiTurnGRPOTrainer, MultiTurnRLOOTrainer, episode_reward  # noqa: E402
from agentgym.trainers.rollout import EpisodeRow  # noqa: E402

pytestmark = pytest.mark.hf

MAZE = "agentgym/Maze-v0"
CRASHING = "test/CrashingMaze-v0"
JITTERY = "test/JitteryMaze-v0"
CRASH_TASK, GOOD_TASK = "maze-4x4-s0000000", "maze-4x4-s0000001"


class CrashingMaze(MazeEnv):
    """The Maze, except that stepping a task of `crash_tasks` raises (an environment bug, not an agent's)."""

    def __init__(self, crash_tasks: tuple[str, ...] = (), **kwargs):
        super().__init__(**kwargs)
        self.crash_tasks = tuple(crash_tasks)

    def _act(self, action):
        if self.task.id in self.crash_tasks:
            raise RuntimeError("the crashing maze crashed")
        return super()._act(action)


class JitteryMaze(MazeEnv):
    """The Maze with starts and steps that take a random 0–80 ms (from the OS, not the seeded RNGs): episodes
    of a group finish their environment steps in a different order on every run, as they do on a busy machine."""

    def _start(self, task, seed):
        time.sleep(random.SystemRandom().uniform(0.0, 0.08))
        return super()._start(task, seed)

    def _act(self, action):
        time.sleep(random.SystemRandom().uniform(0.0, 0.08))
        return super()._act(action)


register(
    JITTERY, entry_point="tests.trainers.test_grpo_trainer:JitteryMaze", kwargs={"width": 3, "height": 3}
)
register(
    CRASHING,
    entry_point="tests.trainers.test_grpo_trainer:CrashingMaze",
    max_episode_steps=30,
    kwargs={"width": 4, "height": 4},
)


def token_sum_reward(completion_ids, **kwargs):
    """A reward that differs between neighbouring episodes (Maze rewards of a random tiny model are all 0), so
    every group of two or more has a non-zero policy gradient. The token sum alone tied within a group now and
    then (one chance in seven), which left a step with no gradient; the half point for odd rows breaks ties."""
    return [float(sum(ids) % 7) + 0.5 * (i % 2) for i, ids in enumerate(completion_ids)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def config(tmp_path, config_class=MultiTurnGRPOConfig, **overrides):
    settings = dict(
        output_dir=str(tmp_path / "out"),
        env_id=MAZE,
        max_turns=2,
        use_cpu=True,
        bf16=False,
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=6,
        max_episode_tokens=64,
        learning_rate=1e-2,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
    )
    settings.update(overrides)
    return config_class(**settings)


def logged(trainer) -> dict[str, list]:
    keys: dict[str, list] = {}
    for entry in trainer.state.log_history:
        for key, value in entry.items():
            keys.setdefault(key, []).append(value)
    return keys


@pytest.mark.parametrize(
    ("trainer_class", "config_class", "epo"),
    [
        (MultiTurnGRPOTrainer, MultiTurnGRPOConfig, False),
        (MultiTurnGRPOTrainer, MultiTurnGRPOConfig, True),
        (MultiTurnRLOOTrainer, MultiTurnRLOOConfig, False),
        (MultiTurnRLOOTrainer, MultiTurnRLOOConfig, True),
    ],
)
def test_two_optimizer_steps_on_maze_change_the_parameters(
    model_dir, tmp_path, trainer_class, config_class, epo
):
    args = config(tmp_path, config_class, epo=epo, epo_config={"entropy_coef": 0.01})
    trainer = trainer_class(str(model_dir), args=args, reward_funcs=[episode_reward, token_sum_reward])
    assert trainer.args.advantage == ("rloo" if trainer_class is MultiTurnRLOOTrainer else "grpo")
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    assert trainer.state.global_step == 2
    changed = [name for name, p in trainer.model.named_parameters() if not torch.equal(p, before[name])]
    assert changed
    # Gradient checkpointing (TRL's default) is turned off and on around each step's sampling and scoring; the
    # input-embedding hook every turn-on adds must not pile up (one more per step, run by every forward pass).
    assert trainer.args.gradient_checkpointing
    assert len(trainer.accelerator.unwrap_model(trainer.model).get_input_embeddings()._forward_hooks) == 1
    logs = logged(trainer)
    assert len(logs["loss"]) == 2
    assert {
        "rewards/episode_reward/mean",
        "episode/success_rate",
        "episode/turns",
        "episode/dropped_groups",
    } <= set(logs)
    assert logs["episode/dropped_groups"] == [0.0, 0.0]
    epo_keys = {"epo/entropy", "epo/smooth_penalty", "epo/phase_weight", "epo/loss"}
    if epo:
        assert epo_keys <= set(logs)
        assert all(value > 0 for value in logs["epo/entropy"])
        assert len(trainer.epo_history) == 1  # step 0 closed when step 1 was recorded
    else:
        assert not epo_keys & set(logs)


def test_the_same_seed_trains_the_same_weights_however_the_environment_steps_are_timed(model_dir, tmp_path):
    """Bit for bit: a group's episodes open with the same prompt, and the order their requests reach the
    sampler follows thread timing; neither which draw an episode gets nor which episodes share a batch may."""

    def weights(run: str, seed: int) -> dict[str, torch.Tensor]:
        args = config(
            tmp_path / run,
            env_id=JITTERY,
            max_turns=3,
            per_device_train_batch_size=8,
            num_generations=4,
            seed=seed,
        )
        trainer = MultiTurnGRPOTrainer(
            str(model_dir), args=args, reward_funcs=[episode_reward, token_sum_reward]
        )
        trainer.train()
        return {name: p.detach().clone() for name, p in trainer.model.state_dict().items()}

    first, again, other_seed = weights("a", 0), weights("b", 0), weights("c", 1)
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert any(not torch.equal(first[name], other_seed[name]) for name in first)


def epo_gradients(model_dir, tmp_path, rewards) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss gradient of one batch with EPO's term and without it, and the batch's advantages."""
    args = config(tmp_path, epo=True, epo_config={"entropy_coef": 1.0}, max_steps=1)
    trainer = MultiTurnGRPOTrainer(
        str(model_dir), args=args, reward_funcs=[lambda completions, **kw: rewards[: len(completions)]]
    )
    trainer.model.train()
    batch = [{"prompt": task, "task_id": task} for task in (CRASH_TASK, GOOD_TASK) for _ in range(2)]
    inputs = trainer._generate_and_score_completions(batch)
    trainer.state.max_steps, trainer.current_gradient_accumulation_steps = 1, 1  # as the training loop sets

    def gradient() -> torch.Tensor:
        trainer.model.zero_grad()
        trainer.compute_loss(trainer.model, inputs).backward()
        return torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])

    with_epo = gradient()
    trainer.epo_config = None
    return with_epo, gradient(), inputs["advantages"]


def test_epo_term_carries_gradient(model_dir, tmp_path):
    with_epo, without, advantages = epo_gradients(model_dir, tmp_path, [0.0, 1.0, 1.0, 0.0])
    assert torch.count_nonzero(advantages) > 0
    assert (with_epo - without).abs().sum() > 0  # the entropy term adds its own gradient


def test_epo_takes_no_step_on_a_batch_without_policy_gradient(model_dir, tmp_path):
    """Every group tied: Adam would blow EPO's small term up to a full-size step, so it is left out."""
    with_epo, without, advantages = epo_gradients(model_dir, tmp_path, [0.0, 0.0, 0.0, 0.0])
    assert torch.count_nonzero(advantages) == 0
    assert with_epo.abs().sum() == 0 and without.abs().sum() == 0


def test_evaluation_plays_the_eval_split(model_dir, tmp_path):
    args = config(tmp_path, max_steps=1, eval_every=1, eval_episodes=2, per_device_eval_batch_size=2)
    trainer = MultiTurnGRPOTrainer(str(model_dir), args=args)
    trainer.train()
    assert {"eval_episode/success_rate", "eval_rewards/episode_reward/mean"} <= set(logged(trainer))
    assert [t.split for t in trainer.rollout.last_trajectories] == ["test", "test"]


class FixedRollout:
    """A rollout_func that returns the same rows every time: two tasks × two episodes of two turns."""

    def __init__(self):
        #            reply 0 (3 tokens) · observation (2) · reply 1 (3 tokens)
        spans = [(0, 3), (5, 8)]
        self.rows = [
            EpisodeRow(
                [1, 2], [5, 6, 7, 1, 2, 8, 9, 3], [1, 1, 1, 0, 0, 1, 1, 1], [-1.0] * 8, spans, rewards, reward
            )
            for rewards, reward in [
                ([0.0, 1.0], 1.0),
                ([0.0, 0.0], 0.0),
                ([0.5, 0.0], 2.0),
                ([0.0, 0.0], 0.0),
            ]
        ]
        for row in self.rows:
            row.num_turns = 2

    def __call__(self, prompts, trainer):
        assert len(prompts) == len(self.rows)
        columns = [row.__dict__ for row in self.rows]
        return {key: [column[key] for column in columns] for key in columns[0]}


def test_advantages_are_per_token_and_step_rewards_move_their_turns(model_dir, tmp_path):
    batch = [{"prompt": task, "task_id": task} for task in (CRASH_TASK, GOOD_TASK) for _ in range(2)]
    advantages = {}
    for weight in (0.0, 0.5):
        args = config(tmp_path, step_reward_weight=weight, scale_rewards="none")
        trainer = MultiTurnGRPOTrainer(str(model_dir), args=args, rollout_func=FixedRollout())
        trainer.model.train()
        inputs = trainer._generate_and_score_completions(batch)
        width = inputs["completion_ids"].shape[1]
        assert inputs["advantages"].shape == (4, width)
        assert inputs["turn_ids"][0].tolist() == [0, 0, 0, -1, -1, 1, 1, 1]
        assert inputs["tool_mask"][0].tolist() == [1, 1, 1, 0, 0, 1, 1, 1]
        advantages[weight] = inputs["advantages"]
    episode = group_advantages(torch.tensor([1.0, 0.0, 2.0, 0.0]), 2, scale=False)
    assert torch.allclose(advantages[0.0], episode.unsqueeze(1).expand(4, 8))  # A^E on every token
    moved = advantages[0.5] != advantages[0.0]
    # Step rewards of group 1: turn 1 of row 0 (1.0) against the others (0): every turn of the group moves.
    # Group 2: row 2 turn 0 has 0.5: its group moves too. Observation tokens never do.
    assert not moved[:, 3:5].any()
    assert moved[0, 5:8].all() and moved[2, 0:3].all()
    step_0 = 0.5 * (1.0 - 0.25)  # w · (r − mean of the group's four steps)
    assert torch.allclose(advantages[0.5][0, 5:8] - advantages[0.0][0, 5:8], torch.full((3,), step_0))


def test_a_crashing_environment_drops_its_group_and_training_goes_on(model_dir, tmp_path):
    dataset = datasets.Dataset.from_dict(
        {"prompt": [CRASH_TASK, GOOD_TASK], "task_id": [CRASH_TASK, GOOD_TASK]}
    )
    args = config(tmp_path, env_id=CRASHING, env_kwargs={"crash_tasks": [CRASH_TASK]})
    trainer = MultiTurnGRPOTrainer(
        str(model_dir), args=args, train_dataset=dataset, reward_funcs=[episode_reward, token_sum_reward]
    )
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    assert trainer.state.global_step == 2
    logs = logged(trainer)
    assert logs["episode/dropped_groups"] == [1.0, 1.0] and logs["episode/errors"] == [2.0, 2.0]
    assert any(not torch.equal(p, before[name]) for name, p in trainer.model.named_parameters())

    trainer.model.train()
    batch = [{"prompt": task, "task_id": task} for task in (CRASH_TASK, GOOD_TASK) for _ in range(2)]
    inputs = trainer._generate_and_score_completions(batch)
    assert inputs["advantages"][:2].abs().sum() == 0 and inputs["tool_mask"][:2].sum() == 0
    assert inputs["tool_mask"][2:].sum() > 0
    assert inputs["num_items_in_batch"] == (inputs["completion_mask"] * inputs["tool_mask"]).sum()
    failed = [row for row in batch if row.get("rollout_error")]
    assert len(failed) == 2 and all("crashed" in row["rollout_error"] for row in failed)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"advantage": "ppo"}, "advantage"),
        ({"history": "recent"}, "history"),
        ({"max_episode_tokens": 0}, "max_episode_tokens"),
        ({"max_episode_tokens": 4, "max_completion_length": 8}, "max_episode_tokens"),
        ({"env_id": "agentgym/Nowhere-v0"}, "env_id"),
        ({"env_kwargs": "[1, 2]"}, "env_kwargs"),
        ({"max_turns": 0}, "max_turns"),
        ({"step_reward_weight": -1.0}, "step_reward_weight"),
        ({"step_reward_key": ""}, "step_reward_key"),
        ({"epo_config": {"band_high": 0.5}}, "band_high"),
        ({"epo_config": {"bogus": 1}}, "epo_config"),
        ({"eval_every": 0}, "eval_every"),
        ({"scale_rewards": "batch"}, "scale_rewards"),
        ({"use_vllm": True}, "use_vllm"),
        ({"env_threads": -1}, "env_threads"),
        ({"env_threads": 0, "env_workers": 2}, "env_threads"),
    ],
)
def test_config_errors_name_the_field(tmp_path, overrides, field):
    with pytest.raises(ConfigError, match=field):
        config(tmp_path, **overrides)


def test_trainer_checks_its_arguments_before_loading_a_model(tmp_path):
    missing = str(tmp_path / "no-such-model")  # loading it would fail with OSError
    with pytest.raises(ConfigError, match="advantage"):
        MultiTurnRLOOTrainer(missing, args=config(tmp_path))
    with pytest.raises(ConfigError, match="env_id"):
        MultiTurnGRPOTrainer(missing)
    with pytest.raises(ConfigError, match="env_id"):
        MultiTurnGRPOTrainer(missing, env_id="agentgym/Other-v0", args=config(tmp_path))


def test_one_step_moves_probability_towards_the_episodes_that_beat_their_group(model_dir, tmp_path):
    """The sign of the whole chain (rewards → group advantages → per-token advantages → TRL's loss): after one
    step, episodes rewarded above their group's mean gain log-probability relative to those below it."""
    from agentgym.trainers.rollout import EpisodeRollout

    class Recording(EpisodeRollout):
        rows: dict

        def __call__(self, prompts, trainer):
            self.rows = super().__call__(prompts, trainer)
            return self.rows

    rollout = Recording()
    args = config(tmp_path, max_steps=1, per_device_train_batch_size=8, num_generations=4, learning_rate=1e-3)
    trainer = MultiTurnGRPOTrainer(
        str(model_dir), args=args, reward_funcs=[token_sum_reward], rollout_func=rollout
    )
    start = {name: p.detach().clone() for name, p in trainer.model.state_dict().items()}
    trainer.train()
    rows, model = rollout.rows, trainer.model.eval()

    def mean_logprob(i: int) -> float:
        prompt, completion, mask = rows["prompt_ids"][i], rows["completion_ids"][i], rows["env_mask"][i]
        with torch.no_grad():
            logits = model(torch.tensor([prompt + completion])).logits[0, len(prompt) - 1 : -1]
        logps = logits.float().log_softmax(-1).gather(-1, torch.tensor(completion)[:, None])[:, 0]
        return float((logps * torch.tensor(mask)).sum() / max(1, sum(mask)))

    after = [mean_logprob(i) for i in range(len(rows["completion_ids"]))]
    model.load_state_dict(start)  # the same module, so nothing cached on it can differ between the two
    before = [mean_logprob(i) for i in range(len(after))]
    rewards = torch.tensor(token_sum_reward(rows["completion_ids"]))
    advantage = group_advantages(rewards, 4, method="grpo", scale=False)
    up = [a - b for a, b, adv in zip(after, before, advantage.tolist(), strict=True) if adv > 0]
    down = [a - b for a, b, adv in zip(after, before, advantage.tolist(), strict=True) if adv < 0]
    assert up and down, "the rewards must differ within some group"
    assert sum(up) / len(up) > sum(down) / len(down)
