"""Evidence that multi-turn GRPO learns: SFT on a handful of expert episodes, then RL, with and without EPO.

The task is the procedural Maze (3 × 3 rooms, at most 8 turns; the agent sees only the open directions of
the room it stands in). The policy is a tiny Llama (~80k parameters) built from a config with a tokenizer
trained on the spot. For each seed:

1. `--sft-episodes` expert episodes of the train split, then TRL's SFTTrainer on their assistant turns
   (`agentgym.trainers.run.sft`): the warm start. It learns the action format and part of the task.
2. Multi-turn GRPO from that start for `--steps` optimizer steps (`MultiTurnGRPOTrainer`, 4 tasks × groups
   of 8 episodes per rollout batch, each batch used for `--iterations` clipped updates, as GRPO's μ), once
   without and once with EPO's entropy term.
3. Success on the first `--test-tasks` tasks of the test split (disjoint from train), greedy decoding,
   before and after RL.

Prints one JSON line per RL run (success before/after, wall and CPU seconds, the per-step policy entropy
and its variance over the second half of training) and a summary line with the means over seeds. The
target: RL raises test success by at least 0.3 absolute over the SFT start, inside 20 CPU minutes.

    python benchmarks/multiturn_learning.py [--seeds 0 1 2] [--steps 2400] [--iterations 4] [--threads 1]

`--threads` sets torch's intra-op threads: for a model this small a second thread buys nothing, and on a
loaded 2-core machine it costs several times over (OpenMP workers spin against each other).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import torch  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from agentgym.agents import ExpertAgent, HFAgent  # noqa: E402
from agentgym.rollout import RolloutConfig, rollout  # noqa: E402
from agentgym.testing import build_tiny_model  # noqa: E402
from agentgym.trainers import MultiTurnGRPOConfig, MultiTurnGRPOTrainer  # noqa: E402
from agentgym.trainers.run import sft  # noqa: E402

ENV_ID = "agentgym/Maze-v0"
ENV_KWARGS = {"width": 3, "height": 3}
MAX_TURNS = 8


def test_success(model_dir: Path, num_tasks: int) -> float:
    """Greedy success rate on the first `num_tasks` test tasks."""
    agent = HFAgent(str(model_dir), do_sample=False, max_new_tokens=4, batch_size=50)
    result = rollout(
        agent,
        RolloutConfig(
            ENV_ID,
            env_kwargs=ENV_KWARGS,
            split="test",
            num_tasks=num_tasks,
            max_turns=MAX_TURNS,
            concurrency=50,
            workers=0,
            progress=False,
        ),
    )
    return float(result.summary.success_rate or 0.0)


def warm_start(
    work: Path, seed: int, episodes: int, epochs: float, learning_rate: float
) -> tuple[Path, float]:
    """The SFT model of `seed` and the CPU seconds it took (expert episodes, then SFTTrainer)."""
    started = time.process_time()
    base = build_tiny_model(work / "base", seed=seed)
    demos = work / "expert.jsonl"
    rollout(
        ExpertAgent(),
        RolloutConfig(
            ENV_ID,
            env_kwargs=ENV_KWARGS,
            split="train",
            num_tasks=episodes,
            max_turns=MAX_TURNS,
            seed=seed,
            concurrency=1,  # the file's order (finish order under concurrency) would change the SFT model
            workers=0,
            output=demos,
            progress=False,
        ),
    )
    sft(
        demos, str(base), work / "sft", epochs=epochs, learning_rate=learning_rate, batch_size=8, use_cpu=True
    )
    return work / "sft", time.process_time() - started


def reinforce(
    start: Path,
    out: Path,
    seed: int,
    steps: int,
    epo: bool,
    learning_rate: float,
    iterations: int,
    **config_overrides,
):
    """Multi-turn GRPO from `start`; returns the trainer (its log history) and wall/CPU seconds.
    `config_overrides` are further `MultiTurnGRPOConfig` fields (step rewards, say)."""
    wall, cpu = time.perf_counter(), time.process_time()
    args = MultiTurnGRPOConfig(
        output_dir=str(out),
        env_id=ENV_ID,
        env_kwargs=ENV_KWARGS,
        max_turns=MAX_TURNS,
        per_device_train_batch_size=32,
        num_generations=8,
        max_completion_length=4,
        max_episode_tokens=256,
        temperature=1.0,
        learning_rate=learning_rate,
        num_iterations=iterations,
        max_steps=steps,
        seed=seed,
        epo=epo,
        use_cpu=True,
        bf16=False,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        **config_overrides,
    )
    trainer = MultiTurnGRPOTrainer(str(start), args=args)
    trainer.train()
    trainer.save_model(str(out / "final"))
    return trainer, time.perf_counter() - wall, time.process_time() - cpu


def epo_overrides(epo: bool, entropy_coef: float | None) -> dict:
    """`MultiTurnGRPOConfig` fields for the EPO arm's λ, when one is given."""
    return {"epo_config": {"entropy_coef": entropy_coef}} if epo and entropy_coef is not None else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=2400, help="optimizer steps of RL")
    parser.add_argument("--iterations", type=int, default=4, help="updates per rollout batch (GRPO's μ)")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--sft-episodes", type=int, default=20)
    parser.add_argument("--sft-epochs", type=float, default=30)
    parser.add_argument("--sft-learning-rate", type=float, default=1e-3)
    parser.add_argument("--test-tasks", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arms", default="no_epo,epo", help="which RL runs: no_epo, epo, or both")
    parser.add_argument(
        "--entropy-coef",
        type=float,
        default=None,
        help="EPO's λ for the epo arm (default: EPOConfig's, the paper's 1e-3)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            work = Path(tmp) / f"seed{seed}"
            start, sft_cpu = warm_start(
                work, seed, args.sft_episodes, args.sft_epochs, args.sft_learning_rate
            )
            before = test_success(start, args.test_tasks)
            for epo in [arm == "epo" for arm in args.arms.split(",")]:
                trainer, wall, cpu = reinforce(
                    start,
                    work / f"rl-epo{int(epo)}",
                    seed,
                    args.steps,
                    epo,
                    args.learning_rate,
                    args.iterations,
                    **epo_overrides(epo, args.entropy_coef),
                )
                after = test_success(work / f"rl-epo{int(epo)}" / "final", args.test_tasks)
                history = [e for e in trainer.state.log_history if "entropy" in e and "step" in e]
                entropy = [round(e["entropy"], 4) for e in history]
                # only steps that played a new rollout batch (with --iterations > 1, the others reuse one)
                train_success = [
                    round(e["episode/success_rate"], 3) for e in history if "episode/success_rate" in e
                ]
                late = entropy[len(entropy) // 2 :]
                run = {
                    "benchmark": "multiturn_learning",
                    "seed": seed,
                    "epo": epo,
                    "test_success_sft": before,
                    "test_success_rl": after,
                    "gain": round(after - before, 3),
                    "rl_wall_s": round(wall, 1),
                    "rl_cpu_s": round(cpu, 1),
                    "sft_cpu_s": round(sft_cpu, 1),
                    "entropy_variance_late": round(statistics.pvariance(late), 6) if len(late) > 1 else None,
                    "entropy_curve": entropy,
                    "train_success_curve": train_success,
                }
                runs.append(run)
                print(json.dumps(run), flush=True)

    summary: dict = {
        "benchmark": "multiturn_learning_summary",
        "seeds": args.seeds,
        "steps": args.steps,
        "entropy_coef": args.entropy_coef,
    }
    for epo in sorted({run["epo"] for run in runs}):
        arm = [run for run in runs if run["epo"] == epo]
        name = "epo" if epo else "no_epo"
        summary[name] = {
            "test_success_sft": round(statistics.mean(r["test_success_sft"] for r in arm), 3),
            "test_success_rl": round(statistics.mean(r["test_success_rl"] for r in arm), 3),
            "gain_per_seed": [r["gain"] for r in arm],
            "mean_gain": round(statistics.mean(r["gain"] for r in arm), 3),
            "rl_cpu_s_per_run": round(statistics.mean(r["rl_cpu_s"] for r in arm), 1),
            "rl_wall_s_per_run": round(statistics.mean(r["rl_wall_s"] for r in arm), 1),
            "entropy_variance_late": round(
                statistics.mean(r["entropy_variance_late"] or 0.0 for r in arm), 6
            ),
        }
    summary["cpu_count"] = os.cpu_count()
    summary["threads"] = args.threads
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
