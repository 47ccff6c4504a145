"""Does SPA recover true progress? Correlation of its per-turn contributions with the Maze's distance decrease.

The task is the procedural Maze (3 × 3 rooms, at most `--max-turns` turns). Episodes come from a weak
stochastic policy, an ε-expert: each turn it plays the Maze oracle's move with probability 1 − ε, and
otherwise a noise action, which gives a mix of won and lost episodes. Two kinds of noise (`--noise`):

- `admissible`: a uniformly random admissible action (a move through an open passage, or "look"). The Maze
  hides where the exit is, so whether a move gets closer to it cannot be read from the episode before the
  environment answers: only what follows can tell.
- `look`: the agent wastes the turn with "look" (progress 0). Here a turn's progress can be read from the
  reply itself.

For each seed and kind of noise:

1. `--train-episodes` episodes on train-split mazes; SPA (`train_spa`) fits a tiny Llama (~80k parameters,
   built on the spot, scalar head on its backbone) so that Σ_t ĉ_t regresses to each episode's outcome.
2. `--test-episodes` held-out episodes on test-split mazes (disjoint from train). Over all their turns:
   Pearson and Spearman correlation of ĉ_t with the true progress of turn t, the Maze's
   `reward_components["progress"]` (the drop in shortest-path distance to the exit: +1, 0 or −1).
   Also the within-episode correlation (both sides centred on their episode's mean): whether ĉ_t tells an
   episode's better turns from its worse ones, which is what step-level credit adds to the outcome; and
   the correlation of ĉ_t with the turn's index (how much of it is mere timing).
3. Baseline: the same correlations for the uniform split of the outcome over the turns, R(τ)/T, which is the
   per-turn credit that outcome-only credit assignment implies (within an episode it is constant, so its
   within-episode correlation is undefined: it ranks no turn above another).

Prints one JSON line per seed and kind of noise, and a summary line with the means over seeds.

    nice -n 10 python benchmarks/progress_spa_correlation.py [--seeds 0 1 2] [--noise admissible look]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from transformers.utils import logging as hf_logging

from agentgym.agents import Agent, AgentOutput, ExpertAgent, RandomAgent
from agentgym.rollout import RolloutConfig, rollout
from agentgym.testing import build_tiny_model
from agentgym.types import Message, Trajectory
from agentgym.verifiers.progress.base import outcome
from agentgym.verifiers.progress.spa import SPAConfig, pearson, train_spa

ENV_ID = "agentgym/Maze-v0"
ENV_KWARGS = {"width": 3, "height": 3}


NOISE = ("admissible", "look")


class EpsilonExpertAgent(Agent):
    """The environment oracle's move with probability 1 − ε, else a noise action: a random admissible action
    (`noise="admissible"`) or "look" (`noise="look"`)."""

    name = "epsilon-expert"

    def __init__(self, epsilon: float, seed: int, noise: str = "admissible"):
        if noise not in NOISE:
            raise ValueError(f"noise must be one of {NOISE}, got {noise!r}")
        self.epsilon, self.noise = epsilon, noise
        self.expert, self.random = ExpertAgent(), RandomAgent(seed=seed)
        self.rng = random.Random(seed)

    async def act(
        self, messages: list[Message], tools: Any = None, *, info: dict[str, Any] | None = None
    ) -> AgentOutput:
        if self.rng.random() >= self.epsilon:
            return await self.expert.act(messages, tools, info=info)
        if self.noise == "look":
            return AgentOutput(text="look")
        return await self.random.act(messages, tools, info=info)


def play(
    split: str, episodes: int, epsilon: float, noise: str, seed: int, max_turns: int
) -> list[Trajectory]:
    config = RolloutConfig(
        ENV_ID,
        env_kwargs=ENV_KWARGS,
        split=split,
        num_tasks=episodes,
        max_turns=max_turns,
        seed=seed,
        concurrency=1,  # one episode at a time: the agent's random draws do not depend on scheduling
        workers=0,
        progress=False,
    )
    return rollout(EpsilonExpertAgent(epsilon, seed, noise), config).trajectories


def ranks(values: list[float]) -> list[float]:
    """Ranks from 1, ties given their average rank (as Spearman's coefficient needs)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(xs: list[float], ys: list[float]) -> float | None:
    return pearson(ranks(xs), ranks(ys))


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def centred(groups: list[list[float]]) -> list[float]:
    return [x - sum(g) / len(g) for g in groups for x in g]


def run_seed(args: argparse.Namespace, seed: int, noise: str, work: Path) -> dict[str, Any]:
    train = play("train", args.train_episodes, args.epsilon, noise, seed, args.max_turns)
    test = play("test", args.test_episodes, args.epsilon, noise, 10_000 + seed, args.max_turns)
    model = build_tiny_model(work / "base", seed=seed)
    config = SPAConfig(
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=seed,
        device="cpu",
    )
    wall, cpu = time.perf_counter(), time.process_time()
    estimator = train_spa(train, model, config=config, progress=False)
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu

    contributions = estimator.contributions_batch(test)
    progress = [[turn.reward_components.get("progress", 0.0) for turn in t.turns] for t in test]
    spa = [c for cs in contributions for c in cs]
    truth = [p for ps in progress for p in ps]
    uniform = [outcome(t) / len(t.turns) for t in test for _ in t.turns]
    fit = estimator.regression_metrics(test)
    return {
        "benchmark": "progress_spa_correlation",
        "seed": seed,
        "noise": noise,
        "epsilon": args.epsilon,
        "train_episodes": len(train),
        "test_episodes": len(test),
        "test_turns": len(truth),
        "train_success_rate": round(statistics.mean(t.success for t in train), 3),
        "test_success_rate": round(statistics.mean(t.success for t in test), 3),
        "spa_pearson": rounded(pearson(spa, truth)),
        "spa_spearman": rounded(spearman(spa, truth)),
        "spa_within_episode_pearson": rounded(pearson(centred(contributions), centred(progress))),
        # how much of ĉ_t is timing: its correlation with the turn's index
        "spa_turn_index_pearson": rounded(
            pearson(spa, [float(k) for cs in contributions for k in range(len(cs))])
        ),
        "uniform_pearson": rounded(pearson(uniform, truth)),
        "uniform_spearman": rounded(spearman(uniform, truth)),
        "test_outcome_mse": rounded(fit["loss"]),
        "test_outcome_correlation": rounded(fit["correlation"]),
        "train_loss_first_epoch": rounded(estimator.history[0]["loss"]),
        "train_loss_last_epoch": rounded(estimator.history[-1]["loss"]),
        "train_wall_s": round(train_wall, 1),
        "train_cpu_s": round(train_cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epsilon", type=float, default=0.5, help="probability of a noise action")
    parser.add_argument(
        "--noise", nargs="+", choices=NOISE, default=list(NOISE), help="kinds of noise action"
    )
    parser.add_argument("--train-episodes", type=int, default=200)
    parser.add_argument("--test-episodes", type=int, default=100)
    parser.add_argument("--max-turns", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    started = time.process_time()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for noise in args.noise:
            for seed in args.seeds:
                run = run_seed(args, seed, noise, Path(tmp) / f"{noise}-seed{seed}")
                runs.append(run)
                print(json.dumps(run), flush=True)

    def mean(noise: str, key: str) -> float | None:
        values = [r[key] for r in runs if r["noise"] == noise and r[key] is not None]
        return round(statistics.mean(values), 4) if values else None

    keys = (
        "spa_pearson",
        "spa_spearman",
        "spa_within_episode_pearson",
        "spa_turn_index_pearson",
        "uniform_pearson",
        "uniform_spearman",
        "test_outcome_correlation",
        "test_success_rate",
    )
    summary = {
        "benchmark": "progress_spa_correlation_summary",
        "seeds": args.seeds,
        "policy": f"epsilon-expert (epsilon={args.epsilon})",
        **{noise: {key: mean(noise, key) for key in keys} for noise in args.noise},
        "total_cpu_s": round(time.process_time() - started, 1),
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
