"""Multi-turn trainer overhead: seconds per optimizer step of MultiTurnGRPOTrainer vs TRL's GRPOTrainer.

Same tiny model, same batch (per_device_train_batch_size × num_generations), same prompts and sampling
budget: the plain trainer answers the opening prompt of a Maze episode (the environment's system prompt and
first observation, through the same chat template) with single-turn completions of up to `--tokens`
tokens; the multi-turn trainer plays those episodes for up to `--turns` turns with replies of up to
`--tokens // turns` tokens, so at most `--tokens` sampled tokens per episode too. What remains is what
multi-turn costs: the observations between replies (extra tokens it trains on, masked out of the loss), one
generation call per turn (each continuing from the previous turn's key/value cache), rows of different
lengths after the first turn (replies and observations differ, so every decoding step needs an attention
mask, which the plain trainer's equal-length opening prompts let `generate` skip), and the environment
steps (in a thread per episode by default; `--env-threads 0` steps them on the rollout's event loop, as
suits a fast pure-Python environment like Maze). Per-step time is the median over the steps after
`--warmup`, measured in one process; the trainers alternate `--rounds` times (each round trains both for
`--steps` steps), so that both see the same machine load, and the timed steps of all rounds are pooled;
each round's ratio is listed too (single rounds are noisy). The target is a ratio of at most 1.3.

The split, per step (medians): `generate_s` is the time spent sampling: inside `generate` for the plain
trainer; for the multi-turn trainer, inside its generator's batches (`HFAgent._generate`: agentgym's own
sampling loop, which reproduces `generate` without its per-call setup, and reading its output). For the
multi-turn trainer, `rollout_other_s` is the rest of the rollout (environment steps, tokenizing observations,
hand-offs between the rollout's event loop and the training thread, building the rows); `rest_s` is the
rest of the step (rewards, advantages, the loss's forward and backward passes, the optimizer step).
`loadavg` is the machine's load average at the start and at the end: on a shared machine, compare runs
taken under the same load.

    python benchmarks/trainer_step_overhead.py [--steps 8] [--rounds 8] [--warmup 2] [--tokens 64] [--turns 4]
                                               [--threads 1] [--env-threads 0]

`--threads` sets torch's intra-op threads (0 leaves torch's default): for a model this small a second
thread buys nothing, and on a loaded machine OpenMP workers spinning against each other make steps many
times slower and the ratio noise.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import datasets  # noqa: E402
from transformers import TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from agentgym.agents.hf_agent import HFAgent  # noqa: E402
from agentgym.testing import build_tiny_model  # noqa: E402
from agentgym.trainers import MultiTurnGRPOConfig, MultiTurnGRPOTrainer  # noqa: E402


class Stopwatch:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


class StepTimer(TrainerCallback):
    """Seconds of each optimizer step but the first `warmup` of every `train()` call (a round), and each step's
    share of the `watches` (name → Stopwatch)."""

    def __init__(self, warmup: int, **watches: Stopwatch):
        self.warmup, self.watches = warmup, watches
        self.rounds: list[list[dict[str, float]]] = []

    @property
    def steps(self) -> list[dict[str, float]]:
        return [step for steps in self.rounds for step in steps]

    def on_train_begin(self, args, state, control, **kwargs):
        self.rounds.append([])
        self._seen = 0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = {name: watch.seconds for name, watch in self.watches.items()}
        self._start["step"] = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        step = {name: watch.seconds - self._start[name] for name, watch in self.watches.items()}
        step["step"] = time.perf_counter() - self._start["step"]
        self._seen += 1
        if self._seen > self.warmup:
            self.rounds[-1].append(step)

    def median(self, name: str, steps: list[dict[str, float]] | None = None) -> float:
        return statistics.median(step[name] for step in (self.steps if steps is None else steps))


def length_reward(completion_ids, **kwargs):
    return [float(len(ids) % 5) for ids in completion_ids]


def opening_prompts(count: int) -> list[list[dict]]:
    """The first `count` train episodes' opening messages, as the multi-turn trainer's first turn sees them."""
    import agentgym

    env = agentgym.make("agentgym/Maze-v0")
    prompts = []
    for seed in range(count):
        observation, info = env.reset(seed=seed)
        prompts.append(
            [{"role": "system", "content": info["system_prompt"]}, {"role": "user", "content": observation}]
        )
    env.close()
    return prompts


def common(out: str, steps: int) -> dict:
    return dict(
        output_dir=out,
        use_cpu=True,
        bf16=False,
        max_steps=steps,
        per_device_train_batch_size=8,
        num_generations=4,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument(
        "--env-threads",
        type=int,
        default=None,
        help="the multi-turn trainer's env_threads (default: its own default, a thread per episode; 0 steps "
        "the Maze environments on the rollout's event loop)",
    )
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    loadavg = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_tiny_model(os.path.join(tmp, "model")))

        plain_timer = StepTimer(args.warmup)
        prompts = datasets.Dataset.from_dict({"prompt": opening_prompts(64)})
        plain = GRPOTrainer(
            model=model,
            reward_funcs=[length_reward],
            train_dataset=prompts,
            callbacks=[plain_timer],
            args=GRPOConfig(
                max_completion_length=args.tokens, **common(os.path.join(tmp, "plain"), args.steps)
            ),
        )
        plain_timer.watches["generate"] = plain.model.generate = Stopwatch(plain.model.generate)

        multi_timer = StepTimer(args.warmup)
        multi = MultiTurnGRPOTrainer(
            model,
            callbacks=[multi_timer],
            args=MultiTurnGRPOConfig(
                env_id="agentgym/Maze-v0",
                max_turns=args.turns,
                max_episode_tokens=args.tokens * 8,  # room for the observations between replies
                max_completion_length=max(1, args.tokens // args.turns),
                env_threads=args.env_threads,
                **common(os.path.join(tmp, "multi"), args.steps),
            ),
        )
        # The multi-turn trainer samples through HFAgent (its own loop where it reproduces generate): time its
        # batches, which include reading their outputs.
        sampling = multi_timer.watches["generate"] = Stopwatch(HFAgent._generate)
        HFAgent._generate = lambda agent, prompts: sampling(agent, prompts)
        multi_timer.watches["rollout"] = multi.rollout_func = Stopwatch(multi.rollout_func)
        for _ in range(args.rounds):
            plain.train()
            multi.train()
    loadavg.append(os.getloadavg()[0])

    def mean_length(trainer) -> float:
        values = [
            e["completions/mean_length"] for e in trainer.state.log_history if "completions/mean_length" in e
        ]
        return round(statistics.mean(values), 1) if values else float("nan")

    def split(timer: StepTimer) -> dict[str, float]:
        steps = timer.steps
        generate = [step["generate"] for step in steps]
        rollout = [step.get("rollout", step["generate"]) for step in steps]
        parts = {"generate_s": statistics.median(generate)}
        if "rollout" in timer.watches:
            parts["rollout_other_s"] = statistics.median(
                r - g for r, g in zip(rollout, generate, strict=True)
            )
        parts["rest_s"] = statistics.median(step["step"] - r for step, r in zip(steps, rollout, strict=True))
        return {name: round(value, 4) for name, value in parts.items()}

    plain_s = plain_timer.median("step")
    multi_s = multi_timer.median("step")
    round_ratios = [
        round(multi_timer.median("step", m) / plain_timer.median("step", p), 3)
        for p, m in zip(plain_timer.rounds, multi_timer.rounds, strict=True)
    ]
    print(
        json.dumps(
            {
                "benchmark": "trainer_step_overhead",
                "plain_grpo_s_per_step": round(plain_s, 4),
                "multiturn_grpo_s_per_step": round(multi_s, 4),
                "ratio": round(multi_s / plain_s, 3),
                "round_ratios": round_ratios,
                "plain_split": split(plain_timer),
                "multiturn_split": split(multi_timer),
                "plain_mean_completion_tokens": mean_length(plain),
                "multiturn_mean_completion_tokens": mean_length(multi),
                "steps_timed": len(plain_timer.steps),
                "rounds": args.rounds,
                "env_threads": args.env_threads,
                "batch": 8,
                "cpu_count": os.cpu_count(),
                "threads": args.threads or None,
                "loadavg": [round(value, 2) for value in loadavg],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
