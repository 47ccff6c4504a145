"""Does a step-level Q-value model make a weak policy better by best-of-N action selection?

Zhai et al. (2024) train a Q-value model with step-level DPO on MCTS-annotated preferences and let it pick,
at every step, the best of N actions the agent samples. Here, on the procedural Maze (3 × 3 rooms, at most
8 turns), for each seed:

1. A weak policy: a tiny Llama (~80k parameters) briefly fine-tuned on a few expert episodes of the train
   split (`agentgym.trainers.run.sft`), sampled at temperature 1.
2. Annotation: MCTS on other train tasks with that policy as the agent (`annotate_tree_search`), then
   step-level preference pairs (`step_preference_pairs`).
3. The Q-model: step-level DPO from the policy's weights (`train_q_model`; the reference π_ref is the
   policy itself).
4. Single-attempt success on the first `--test-tasks` tasks of the test split (disjoint from train), the
   policy alone and Q-guided best-of-N (`QGuidedAgent`, N = `--candidates`), same sampling seed.

Prints one JSON line per seed and a summary line (means over seeds, and the per-seed gains). Figures vary a
little between runs of the same seed: concurrent requests batch by timing in `HFAgent`, so a seeded agent's
draws depend on it (in the search and in the evaluation alike).

    nice -n 10 python benchmarks/qvalue_best_of_n.py [--seeds 0 1 2] [--candidates 4] [--test-tasks 200]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

import agentgym  # noqa: E402
from agentgym.agents import ExpertAgent, HFAgent, QGuidedAgent  # noqa: E402
from agentgym.rollout import RolloutConfig, rollout  # noqa: E402
from agentgym.testing import build_tiny_model  # noqa: E402
from agentgym.trainers.run import sft  # noqa: E402
from agentgym.verifiers.progress.qvalue import (  # noqa: E402
    QValueEstimator,
    annotate_tree_search,
    step_preference_pairs,
    train_q_model,
)

ENV_ID = "agentgym/Maze-v0"
ENV_KWARGS = {"width": 3, "height": 3}
MAX_TURNS = 8


def policy_agent(model_dir: Path, seed: int) -> HFAgent:
    return HFAgent(str(model_dir), temperature=1.0, max_new_tokens=4, batch_size=64, seed=seed)


def weak_policy(work: Path, seed: int, episodes: int, epochs: float, learning_rate: float) -> Path:
    """The tiny model fine-tuned on `episodes` expert episodes of the first train tasks."""
    base = build_tiny_model(work / "base", seed=seed)
    demos = work / "expert.jsonl"
    config = RolloutConfig(
        ENV_ID,
        env_kwargs=ENV_KWARGS,
        split="train",
        num_tasks=episodes,
        max_turns=MAX_TURNS,
        seed=seed,
        workers=0,
        output=demos,
        progress=False,
    )
    rollout(ExpertAgent(), config)
    sft(
        demos,
        str(base),
        work / "policy",
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=8,
        use_cpu=True,
    )
    return work / "policy"


def success_rate(agent, num_tasks: int, samples: int, seed: int) -> float:
    """Single-attempt success on the first `num_tasks` test tasks (`samples` independent episodes each)."""
    config = RolloutConfig(
        ENV_ID,
        env_kwargs=ENV_KWARGS,
        split="test",
        num_tasks=num_tasks,
        samples=samples,
        max_turns=MAX_TURNS,
        seed=seed,
        concurrency=16,
        workers=0,
        progress=False,
    )
    return float(rollout(agent, config).summary.success_rate or 0.0)


def run_seed(args: argparse.Namespace, seed: int, work: Path) -> dict:
    cpu, wall = time.process_time(), time.perf_counter()
    policy = weak_policy(work, seed, args.sft_episodes, args.sft_epochs, args.sft_learning_rate)
    sft_cpu = time.process_time() - cpu

    train_ids = agentgym.make(ENV_ID, **ENV_KWARGS).unwrapped.task_set("train").ids
    search_ids = train_ids[args.sft_episodes : args.sft_episodes + args.search_tasks]  # not the SFT tasks
    started = time.process_time()
    trees = annotate_tree_search(
        ENV_ID,
        search_ids,
        policy_agent(policy, seed),
        env_kwargs=ENV_KWARGS,
        iterations=args.iterations,
        branching=args.branching,
        max_depth=MAX_TURNS,
        seed=seed,
        concurrency=len(search_ids),
        progress=False,
    )
    pairs = step_preference_pairs(trees)
    search_cpu = time.process_time() - started

    started = time.process_time()
    q_dir = train_q_model(
        pairs,
        str(policy),
        work / "q-model",
        beta=args.beta,
        learning_rate=args.q_learning_rate,
        epochs=args.q_epochs,
        batch_size=16,
        seed=seed,
        use_cpu=True,
        progress=False,
    )
    q_cpu = time.process_time() - started
    estimator = QValueEstimator.from_pretrained(q_dir)
    train_accuracy = statistics.mean(
        float(s[0] > s[1])
        for s in (
            estimator.score_actions(
                row["prompt"], [row["chosen"][0]["content"], row["rejected"][0]["content"]]
            )
            for row in pairs
        )
    )

    started = time.process_time()
    alone = success_rate(policy_agent(policy, seed), args.test_tasks, args.samples, seed)
    guided_agent = QGuidedAgent(policy_agent(policy, seed), estimator, candidates=args.candidates)
    guided = success_rate(guided_agent, args.test_tasks, args.samples, seed)
    eval_cpu = time.process_time() - started
    return {
        "benchmark": "qvalue_best_of_n",
        "seed": seed,
        "candidates": args.candidates,
        "test_episodes": args.test_tasks * args.samples,
        "success_policy": round(alone, 3),
        "success_q_guided": round(guided, 3),
        "gain": round(guided - alone, 3),
        "search_tasks": len(search_ids),
        "search_solved": sum(tree.solved for tree in trees),
        "pairs": len(pairs),
        "q_train_pair_accuracy": round(train_accuracy, 3),
        "cpu_s": {
            "sft": round(sft_cpu, 1),
            "search": round(search_cpu, 1),
            "q_train": round(q_cpu, 1),
            "eval": round(eval_cpu, 1),
            "total": round(time.process_time() - cpu, 1),
        },
        "wall_s": round(time.perf_counter() - wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--candidates", type=int, default=4, help="N of best-of-N")
    parser.add_argument("--test-tasks", type=int, default=200, help="test tasks (the split has 200)")
    parser.add_argument(
        "--samples", type=int, default=2, help="episodes per test task (seeds seed, seed+1..)"
    )
    parser.add_argument("--sft-episodes", type=int, default=20, help="expert episodes of the weak policy")
    parser.add_argument("--sft-epochs", type=float, default=30)
    parser.add_argument("--sft-learning-rate", type=float, default=1e-3)
    parser.add_argument("--search-tasks", type=int, default=96, help="train tasks annotated by MCTS")
    parser.add_argument("--iterations", type=int, default=32, help="MCTS iterations per task")
    parser.add_argument("--branching", type=int, default=4, help="actions sampled per expansion")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--q-learning-rate", type=float, default=3e-4)
    parser.add_argument("--q-epochs", type=float, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            with contextlib.redirect_stdout(
                sys.stderr
            ):  # trainers print their logs: keep stdout to JSON lines
                run = run_seed(args, seed, Path(tmp) / f"seed{seed}")
            runs.append(run)
            print(json.dumps(run), flush=True)
    summary = {
        "benchmark": "qvalue_best_of_n_summary",
        "seeds": args.seeds,
        "candidates": args.candidates,
        "success_policy": round(statistics.mean(r["success_policy"] for r in runs), 3),
        "success_q_guided": round(statistics.mean(r["success_q_guided"] for r in runs), 3),
        "gain_per_seed": [r["gain"] for r in runs],
        "mean_gain": round(statistics.mean(r["gain"] for r in runs), 3),
        "cpu_s_total": round(sum(r["cpu_s"]["total"] for r in runs), 1),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
