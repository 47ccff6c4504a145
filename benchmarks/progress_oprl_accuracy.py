"""How well an OPRL implicit PRM, trained online on rollout groups, ranks held-out episodes and tracks progress.

The task is the procedural Maze (3 × 3 rooms, at most `--max-turns` turns). Two stochastic weak policies
give a mix of wins and losses within a task (`--policy`):

- `sft` (default, OPRL's own setting): a tiny Llama (~80k parameters) fine-tuned on `--sft-episodes` expert
  episodes (`agentgym.trainers.run.sft`), sampling at temperature 1 through the trainer's token stream, so
  every turn carries its sampled ids and log-probabilities. The PRM starts as a copy of this policy
  (`OPRLEstimator.from_policy`) and its reference is the sampling log-probabilities: r_t = 0 before training.
- `epsilon`: an ε-expert (each turn a uniformly random direction, walls included, with probability ε, the
  oracle's shortest-path move otherwise), text only. The PRM is a randomly initialised tiny Llama reading the
  text with its own tokenizer against a frozen copy of its initial weights.

The policy itself is not trained; the PRM is, online-style. For each seed:

1. Held-out groups: `--group-size` episodes of each of the first `--test-tasks` test tasks; the held-out
   preference pairs are every won episode against every lost one of the same task.
2. `--batches` rollout batches, each `--tasks-per-batch` fresh train tasks × `--group-size` episodes, and
   one `OPRLEstimator.update(batch, group_size)` per batch.
3. Pair accuracy on the held-out pairs (the preferred episode's implicit reward Σ_t r_t is the higher; ties
   count ½) before training (the untrained PRM: every r_t = 0, so 0.5) and after. For scale, the accuracy of
   "the shorter episode wins" (wins end early, so length alone ranks most pairs, and a PRM can learn it as
   a cost per turn) and the PRM's accuracy on the pairs of equal length, which length cannot rank.
4. The Pearson correlation of the per-turn rewards r_t with the Maze's true progress
   (`reward_components["progress"]`: +1 a step closer to the exit, −1 a step away, 0 into a wall or an
   unreadable reply) over every held-out turn, and the mean r_t of each progress value.

Prints one JSON line per seed and a summary line (means over seeds).

    nice -n 10 python benchmarks/progress_oprl_accuracy.py [--seeds 0 1 2] [--policy sft|epsilon] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
import transformers
from transformers.utils import logging as hf_logging

from agentgym.agents import ExpertAgent, HFAgent
from agentgym.agents.base import Agent, AgentOutput
from agentgym.rollout import RolloutConfig, rollout, run_rollouts
from agentgym.testing import build_tiny_model
from agentgym.trainers.rollout import PolicyAgent, episode_row
from agentgym.trainers.run import sft
from agentgym.types import Trajectory
from agentgym.verifiers.progress.oprl import OPRLConfig, OPRLEstimator, preference_pairs

ENV_ID = "agentgym/Maze-v0"
ENV_KWARGS = {"width": 3, "height": 3}
DIRECTIONS = ("north", "south", "east", "west")
MAX_EPISODE_TOKENS = 256
SFT_TASKS = (
    900  # the sft policy's expert demonstrations come from train tasks 900 on; OPRL trains on 0 to 899
)


class EpsilonExpert(Agent):
    """The oracle's move, or with probability ε a uniformly random direction (possibly into a wall)."""

    name = "epsilon-expert"

    def __init__(self, epsilon: float, seed: int):
        self.epsilon, self._rng = epsilon, random.Random(seed)

    async def act(self, messages, tools=None, *, info=None) -> AgentOutput:
        if self._rng.random() < self.epsilon:
            return AgentOutput(text=f"go {self._rng.choice(DIRECTIONS)}")
        return AgentOutput(text=info["expert_action"])


def rollout_config(task_ids: list[str], split: str, args, seed: int, concurrency: int) -> RolloutConfig:
    return RolloutConfig(
        ENV_ID,
        env_kwargs=ENV_KWARGS,
        split=split,
        task_ids=task_ids,
        samples=args.group_size,
        seed=seed,
        max_turns=args.max_turns,
        concurrency=concurrency,
        workers=0,
        progress=False,
    )


def grouped(trajectories: list[Trajectory], task_ids: list[str]) -> list[Trajectory]:
    """Task after task, in sample order within a task: the consecutive groups `update` expects."""
    order = {task: i for i, task in enumerate(task_ids)}
    return sorted(trajectories, key=lambda t: (order[t.task_id], t.sample))


class SFTPolicy:
    """The `sft` policy: plays episodes with the trainer's token stream (sampled ids and log-probs)."""

    def __init__(self, work: Path, seed: int, args):
        base = build_tiny_model(work / "base", seed=seed)
        demos = work / "expert.jsonl"
        config = RolloutConfig(
            ENV_ID,
            env_kwargs=ENV_KWARGS,
            split="train",
            task_ids=maze_tasks("train", SFT_TASKS, args.sft_episodes),  # apart from the tasks OPRL trains on
            max_turns=8,
            concurrency=1,  # the file's order (the SFT data order) is then the same on every run
            workers=0,
            output=demos,
            progress=False,
        )
        rollout(ExpertAgent(), config)
        with contextlib.redirect_stdout(io.StringIO()):  # the trainer's log lines
            sft(
                demos,
                str(base),
                work / "sft",
                epochs=args.sft_epochs,
                learning_rate=1e-3,
                batch_size=8,
                use_cpu=True,
            )
        self.model = transformers.AutoModelForCausalLM.from_pretrained(str(work / "sft"))
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(work / "sft"))
        batch = args.tasks_per_batch * args.group_size
        self.generator = HFAgent(
            self.model, tokenizer=self.tokenizer, max_new_tokens=4, batch_size=batch, seed=seed
        )

    def play(self, tasks: list[str], split: str, args, seed: int) -> list[Trajectory]:
        agent = PolicyAgent(self.generator, "full", max_episode_tokens=MAX_EPISODE_TOKENS)
        config = rollout_config(tasks, split, args, seed, concurrency=len(tasks) * args.group_size)
        trajectories = asyncio.run(run_rollouts(agent, config)).trajectories
        for t in trajectories:  # fills each turn's observation_token_ids
            episode_row(
                t, agent.episodes[(t.task_id, t.seed, t.sample)], max_episode_tokens=MAX_EPISODE_TOKENS
            )
        return grouped(trajectories, tasks)


class EpsilonPolicy:
    """The `epsilon` policy: text-only episodes of an ε-expert."""

    def play(self, tasks: list[str], split: str, args, seed: int) -> list[Trajectory]:
        # One episode at a time: the agent's random draws, and so the episodes, are reproducible.
        config = rollout_config(tasks, split, args, seed, concurrency=1)
        return grouped(rollout(EpsilonExpert(args.epsilon, seed), config).trajectories, tasks)


def maze_tasks(split: str, first: int, count: int) -> list[str]:
    base = 0 if split == "train" else 1_000_000
    return [f"maze-3x3-s{base + first + i:07d}" for i in range(count)]


def shorter_wins(pairs) -> float:
    scores = [
        1.0 if len(c.turns) < len(r.turns) else 0.5 if len(c.turns) == len(r.turns) else 0.0 for c, r in pairs
    ]
    return sum(scores) / len(scores)


def progress_report(estimator: OPRLEstimator, trajectories: list[Trajectory]) -> dict:
    rewards, progress = [], []
    for trajectory, turn_rewards in zip(
        trajectories, estimator.step_rewards_batch(trajectories), strict=True
    ):
        for turn, reward in zip(trajectory.turns, turn_rewards, strict=True):
            rewards.append(reward)
            progress.append(turn.reward_components.get("progress", 0.0))
    by_value = {}
    for value in sorted(set(progress)):
        chosen = [r for r, p in zip(rewards, progress, strict=True) if p == value]
        by_value[f"{value:+.0f}"] = {"turns": len(chosen), "mean_reward": statistics.fmean(chosen)}
    correlation = statistics.correlation(rewards, progress) if len(set(rewards)) > 1 else 0.0
    return {"progress_correlation": correlation, "reward_by_progress": by_value}


def run_seed(seed: int, args, work: Path) -> dict:
    started, cpu_started = time.perf_counter(), time.process_time()
    config = OPRLConfig(
        beta=args.beta,
        learning_rate=args.learning_rate,
        updates_per_batch=args.updates_per_batch,
        use_policy_tokens=args.policy == "sft",
        seed=seed,
    )
    if args.policy == "sft":
        policy = SFTPolicy(work, seed, args)
        estimator = OPRLEstimator.from_policy(policy.model, policy.tokenizer, config)
    else:
        policy = EpsilonPolicy()
        model_dir = build_tiny_model(work / "prm", seed=seed)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(model_dir))
        estimator = OPRLEstimator(model, transformers.AutoTokenizer.from_pretrained(str(model_dir)), config)
    sft_cpu = time.process_time() - cpu_started

    held_out = []
    for first in range(0, args.test_tasks, args.tasks_per_batch):
        tasks = maze_tasks("test", first, min(args.tasks_per_batch, args.test_tasks - first))
        held_out += policy.play(tasks, "test", args, seed)
    pairs = preference_pairs(held_out, args.group_size)
    start_rewards = [abs(r) for rewards in estimator.step_rewards_batch(held_out) for r in rewards]
    untrained = estimator.preference_accuracy(pairs)

    history, train = [], []
    for batch in range(args.batches):  # the same train tasks for every seed; the episodes differ
        tasks = maze_tasks("train", batch * args.tasks_per_batch, args.tasks_per_batch)
        episodes = policy.play(tasks, "train", args, seed * 100_003 + batch)
        history.append(estimator.update(episodes, group_size=args.group_size))
        train += episodes
    trained = estimator.preference_accuracy(pairs)
    same_length = [(c, r) for c, r in pairs if len(c.turns) == len(r.turns)]  # length cannot rank these
    online = [m["oprl/accuracy"] for m in history[-20:] if m["oprl/pairs"]]  # on each batch, before its step
    losses = [m["oprl/loss"] for m in history if m["oprl/pairs"]]

    return {
        "seed": seed,
        "policy": args.policy,
        "train_episodes": len(train),
        "train_win_rate": statistics.fmean(t.success for t in train),
        "held_out_episodes": len(held_out),
        "held_out_win_rate": statistics.fmean(t.success for t in held_out),
        "held_out_pairs": len(pairs),
        "start_max_abs_reward": max(start_rewards),
        "untrained_accuracy": untrained,
        "trained_accuracy": trained,
        "shorter_wins_accuracy": shorter_wins(pairs),
        "same_length_pairs": len(same_length),
        "same_length_accuracy": estimator.preference_accuracy(same_length) if same_length else None,
        "online_accuracy_last_20_batches": statistics.fmean(online) if online else None,
        "loss_first_last": [losses[0], losses[-1]] if losses else None,
        "batches_without_pairs": sum(1 for m in history if not m["oprl/pairs"]),
        **progress_report(estimator, held_out),
        "policy_cpu_seconds": round(sft_cpu, 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--policy", choices=["sft", "epsilon"], default="sft", help="see the docstring")
    parser.add_argument("--sft-episodes", type=int, default=40, help="expert episodes of the sft policy")
    parser.add_argument("--sft-epochs", type=float, default=30)
    parser.add_argument("--epsilon", type=float, default=0.5, help="epsilon policy: chance of a random move")
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--group-size", type=int, default=8, help="episodes per task (a group)")
    parser.add_argument("--tasks-per-batch", type=int, default=4)
    parser.add_argument("--batches", type=int, default=100, help="online rollout batches (PRM updates)")
    parser.add_argument("--test-tasks", type=int, default=48)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--updates-per-batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    if args.batches * args.tasks_per_batch > SFT_TASKS:
        parser.error(f"--batches x --tasks-per-batch must be at most {SFT_TASKS} train tasks")
    torch.set_num_threads(args.threads)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()

    results = []
    with tempfile.TemporaryDirectory() as work:
        for seed in args.seeds:
            result = run_seed(seed, args, Path(work))
            results.append(result)
            print(json.dumps(result), flush=True)

    def mean(key):
        values = [r[key] for r in results if r[key] is not None]
        return round(statistics.fmean(values), 4) if values else None

    summary = {
        "summary": True,
        "seeds": args.seeds,
        "policy": args.policy if args.policy == "sft" else f"epsilon (epsilon={args.epsilon})",
        "start_max_abs_reward": max(r["start_max_abs_reward"] for r in results),
        **{
            key: mean(key)
            for key in (
                "train_win_rate",
                "held_out_pairs",
                "untrained_accuracy",
                "trained_accuracy",
                "shorter_wins_accuracy",
                "same_length_accuracy",
                "progress_correlation",
                "cpu_seconds",
            )
        },
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
