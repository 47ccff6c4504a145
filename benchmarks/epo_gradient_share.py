"""How much of an update EPO's entropy term makes: its gradient against the policy gradient's, on the learning
benchmark's own rollout batches.

The setup of `multiturn_learning.py` (SFT warm start on the 3 × 3 Maze, then multi-turn GRPO with EPO): after
`--warmup-steps` of RL, which fill EPO's per-turn entropy history, each of `--batches` fresh rollout batches is
scored once, and the loss's gradient is taken with EPO's term and without it. Prints, per batch, the norms of
the policy gradient g_PG and of EPO's part g_EPO (the difference) and their ratio, then the median ratio.

EPO's λ multiplies the whole term, so the ratio tells how large λ must be for the term to shape training at
all on a given model and task; Adam normalises the sum, not the parts.

    python benchmarks/epo_gradient_share.py [--entropy-coef 1e-3] [--seed 0] [--batches 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
from multiturn_learning import reinforce, warm_start
from transformers.utils import logging as hf_logging

from agentgym.trainers import MultiTurnGRPOTrainer

GROUP, TASKS_PER_BATCH = 8, 4  # as in multiturn_learning.reinforce


def gradient(trainer: MultiTurnGRPOTrainer, inputs: dict) -> torch.Tensor:
    trainer.model.zero_grad()
    trainer.compute_loss(trainer.model, inputs).backward()
    return torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entropy-coef", type=float, default=1e-3, help="EPO's λ")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup-steps", type=int, default=40)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start, _ = warm_start(work, args.seed, episodes=20, epochs=30, learning_rate=1e-3)
        trainer, _, _ = reinforce(  # the learning benchmark's RL run, cut short: it fills EPO's history
            start,
            work / "rl",
            args.seed,
            args.warmup_steps,
            epo=True,
            learning_rate=3e-4,
            iterations=1,
            epo_config={"entropy_coef": args.entropy_coef},
        )
        trainer.model.train()
        ratios = []
        for b in range(args.batches):
            rows = trainer.train_dataset.select(range(b * TASKS_PER_BATCH, (b + 1) * TASKS_PER_BATCH))
            inputs = trainer._generate_and_score_completions(
                [dict(row) for row in rows for _ in range(GROUP)]
            )
            with_epo = gradient(trainer, inputs)
            epo_config, trainer.epo_config = trainer.epo_config, None
            policy = gradient(trainer, inputs)
            trainer.epo_config = epo_config
            if policy.norm() == 0:  # every group tied: the trainer leaves EPO's term out too
                continue
            ratio = float((with_epo - policy).norm() / policy.norm())
            ratios.append(ratio)
            print(
                json.dumps(
                    {
                        "batch": b,
                        "policy_gradient_norm": round(float(policy.norm()), 5),
                        "epo_gradient_norm": round(float((with_epo - policy).norm()), 6),
                        "ratio": round(ratio, 5),
                    }
                ),
                flush=True,
            )
    print(
        json.dumps(
            {
                "benchmark": "epo_gradient_share",
                "entropy_coef": args.entropy_coef,
                "seed": args.seed,
                "batches_with_policy_gradient": len(ratios),
                "median_ratio": round(statistics.median(ratios), 5) if ratios else None,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
