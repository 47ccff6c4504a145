"""Do dense step rewards help multi-turn GRPO? Outcome-only GRPO against GRPO with SPA or OPRL step rewards,
at equal samples, from the same SFT start.

The task is the procedural Maze (3 × 3 rooms, at most 8 turns, sparse reward: 1 for reaching the exit). The
policy is a tiny Llama (~80k parameters) built from a config with a tokenizer trained on the spot. For each
seed:

1. SFT warm start on `--sft-episodes` expert episodes (as `multiturn_learning.py`).
2. SPA's estimator: the SFT policy plays `--spa-tasks` train tasks `--spa-samples` times each (temperature
   1, a mix of wins and losses); `train_spa` fits a scalar head on the SFT model's backbone so that
   ``Σ_t c_t`` regresses to the outcome. The correlation of its ``c_t`` with the Maze's true progress (the
   decrease in distance to the exit) on held-out episodes is printed.
3. RL runs of `--steps` optimizer steps with the same rollout batches' size (4 tasks × groups of 8, each
   batch used for `--iterations` updates): `outcome` (episode advantage only), `spa` (``A = A^E + w·A^S``
   with SPA's step rewards, w = `--step-weight`), `oprl` (the same with OPRL's implicit PRM, started from
   the SFT policy and trained online from each batch's groups) and, with `--arms`, `spa_gated` (SPA's step
   rewards through a gated chain: they count only in episodes that reached the exit).
4. Greedy success on `--test-tasks` test tasks (disjoint from train) before and after RL; the training
   success curve (one point per rollout batch) shows the rate at equal samples.

Prints one JSON line per run and a summary with the means over seeds, side by side.

    python benchmarks/step_rewards_learning.py [--seeds 0 1 2] [--steps 300] [--arms outcome,spa,oprl]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from multiturn_learning import ENV_ID, ENV_KWARGS, MAX_TURNS, test_success, warm_start
from multiturn_learning import reinforce as reinforce_grpo  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from agentgym.agents import HFAgent  # noqa: E402
from agentgym.rollout import RolloutConfig, rollout  # noqa: E402
from agentgym.verifiers.progress.spa import SPAConfig, pearson, train_spa  # noqa: E402


def collect(model_dir: Path, num_tasks: int, samples: int, seed: int, split: str = "train"):
    """Episodes of the policy at `model_dir`, sampled at temperature 1."""
    agent = HFAgent(
        str(model_dir), do_sample=True, temperature=1.0, max_new_tokens=4, batch_size=64, seed=seed
    )
    result = rollout(
        agent,
        RolloutConfig(
            ENV_ID,
            env_kwargs=ENV_KWARGS,
            split=split,
            num_tasks=num_tasks,
            samples=samples,
            max_turns=MAX_TURNS,
            seed=seed,
            concurrency=64,
            workers=0,
            progress=False,
        ),
    )
    return result.trajectories


def fit_spa(start: Path, out: Path, seed: int, tasks: int, samples: int, epochs: int) -> dict:
    """Train SPA on the SFT policy's episodes; save it to `out`; report fit and correlation with progress."""
    cpu = time.process_time()
    episodes = collect(start, tasks, samples, seed)
    # held out: train tasks SPA never saw (the Maze has 1,000 train tasks; SPA trains on the first ones)
    held_out = [
        t for t in collect(start, tasks + 50, 2, seed + 1) if t.task_id not in {e.task_id for e in episodes}
    ]
    estimator = train_spa(
        episodes,
        str(start),
        config=SPAConfig(epochs=epochs, learning_rate=3e-3, batch_size=16, seed=seed),
        progress=False,
    )
    estimator.save_pretrained(out)
    contributions = estimator.contributions_batch(held_out)
    truth = [turn.reward_components.get("progress", 0.0) for t in held_out for turn in t.turns]
    estimated = [c for row in contributions for c in row]
    return {
        "spa_train_episodes": len(episodes),
        "spa_train_success_rate": round(sum(t.success for t in episodes) / len(episodes), 3),
        "spa_progress_correlation": round(pearson(estimated, truth) or 0.0, 3),
        "spa_cpu_s": round(time.process_time() - cpu, 1),
    }


def reinforce(start: Path, out: Path, seed: int, arm: str, args, spa_dir: Path | None):
    """One RL run of `arm` (`multiturn_learning.reinforce` with the arm's step rewards); returns the trainer
    and wall/CPU seconds."""
    step = {}
    if arm == "spa":
        step = {
            "step_rewards": "spa",
            "step_rewards_model": str(spa_dir),
            "step_reward_weight": args.step_weight,
        }
    elif arm == "spa_gated":  # SPA's step rewards count only in episodes that reached the exit (G-RA)
        step = {
            "step_rewards": "spa",
            "step_rewards_model": str(spa_dir),
            "step_reward_weight": args.step_weight,
            "step_reward_gates": [["success", 1.0, 1.0], ["spa", 1.0]],
        }
    elif arm == "oprl":
        step = {
            "step_rewards": "oprl",
            "step_reward_weight": args.step_weight,
            "step_rewards_options": {"beta": args.oprl_beta, "learning_rate": args.oprl_learning_rate},
        }
    return reinforce_grpo(start, out, seed, args.steps, False, args.learning_rate, args.iterations, **step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arms", default="outcome,spa,oprl")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps of RL per arm")
    parser.add_argument("--iterations", type=int, default=4, help="updates per rollout batch (GRPO's μ)")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--step-weight", type=float, default=0.5, help="w in A = A^E + w·A^S")
    parser.add_argument("--oprl-beta", type=float, default=0.05)
    parser.add_argument("--oprl-learning-rate", type=float, default=1e-4)
    parser.add_argument("--spa-tasks", type=int, default=100)
    parser.add_argument("--spa-samples", type=int, default=4)
    parser.add_argument("--spa-epochs", type=int, default=20)
    parser.add_argument("--sft-episodes", type=int, default=20)
    parser.add_argument("--sft-epochs", type=float, default=30)
    parser.add_argument("--sft-learning-rate", type=float, default=1e-3)
    parser.add_argument("--test-tasks", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    arms = args.arms.split(",")

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            work = Path(tmp) / f"seed{seed}"
            start, sft_cpu = warm_start(
                work, seed, args.sft_episodes, args.sft_epochs, args.sft_learning_rate
            )
            before = test_success(start, args.test_tasks)
            spa = (
                fit_spa(start, work / "spa", seed, args.spa_tasks, args.spa_samples, args.spa_epochs)
                if any(arm.startswith("spa") for arm in arms)
                else {}
            )
            for arm in arms:
                trainer, wall, cpu = reinforce(start, work / f"rl-{arm}", seed, arm, args, work / "spa")
                after = test_success(work / f"rl-{arm}" / "final", args.test_tasks)
                history = [e for e in trainer.state.log_history if "episode/success_rate" in e]
                run = {
                    "benchmark": "step_rewards_learning",
                    "seed": seed,
                    "arm": arm,
                    "test_success_sft": before,
                    "test_success_rl": after,
                    "gain": round(after - before, 3),
                    "rl_cpu_s": round(cpu, 1),
                    "rl_wall_s": round(wall, 1),
                    "sft_cpu_s": round(sft_cpu, 1),
                    "train_success_curve": [round(e["episode/success_rate"], 3) for e in history],
                    **(spa if arm.startswith("spa") else {}),
                }
                if arm == "oprl":
                    accuracy = [e["oprl/accuracy"] for e in history if "oprl/accuracy" in e]
                    run["oprl_batch_pair_accuracy_curve"] = [round(a, 3) for a in accuracy]
                runs.append(run)
                print(json.dumps(run), flush=True)

    summary: dict = {"benchmark": "step_rewards_learning_summary", "seeds": args.seeds, "steps": args.steps}
    for arm in arms:
        rows = [r for r in runs if r["arm"] == arm]
        curves = [r["train_success_curve"] for r in rows]
        quarter = max(1, min(map(len, curves)) // 4)
        summary[arm] = {
            "test_success_sft": round(statistics.mean(r["test_success_sft"] for r in rows), 3),
            "test_success_rl": round(statistics.mean(r["test_success_rl"] for r in rows), 3),
            "gain_per_seed": [r["gain"] for r in rows],
            "mean_gain": round(statistics.mean(r["gain"] for r in rows), 3),
            "train_success_last_quarter": round(
                statistics.mean(statistics.mean(c[-quarter:]) for c in curves), 3
            ),
            "rl_cpu_s_per_run": round(statistics.mean(r["rl_cpu_s"] for r in rows), 1),
        }
    summary["threads"] = args.threads
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
