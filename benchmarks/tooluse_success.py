"""Tool-use suites: expert and random-agent success per suite and split.

The expert replays each task's reference calls and answers (target: 100% on every task); the random
agent calls random tools with arguments of the right types drawn from the conversation (the chance
level a trained policy must beat). Episodes run through the rollout engine, as `agentgym eval` does.

    python benchmarks/tooluse_success.py [--splits train test] [--random-samples 1] [--workers 2]

Prints one JSON line per (suite, split, agent), and before them one per (suite, split) with the seconds
that generating the split's tasks took (the fastest of 3, on a fresh suite each time).
"""

from __future__ import annotations

import argparse
import json
import time

from agentgym.agents import ExpertAgent, RandomAgent
from agentgym.environments.tooluse.suites import builtin_suites
from agentgym.rollout import RolloutConfig, rollout

SUITE_ENVS = {
    "store": "agentgym/ToolUseStore-v0",
    "calendar": "agentgym/ToolUseCalendar-v0",
    "units": "agentgym/ToolUseUnits-v0",
    "files": "agentgym/ToolUseFiles-v0",
}


def generation_seconds(suite: str, split: str, tries: int = 3) -> float:
    """Seconds the fastest of `tries` generations of a split took, each by a new suite (no cache)."""
    best = float("inf")
    for _ in range(tries):
        fresh = builtin_suites()[suite]()
        started = time.perf_counter()
        fresh.task_set(split)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", default=["train", "test"])
    parser.add_argument("--random-samples", type=int, default=1, help="random-agent episodes per task")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    for suite in SUITE_ENVS:
        for split in args.splits:
            print(
                json.dumps(
                    {
                        "benchmark": "tooluse_generation",
                        "suite": suite,
                        "split": split,
                        "seconds": round(generation_seconds(suite, split), 3),
                    }
                ),
                flush=True,
            )
    for suite, env_id in SUITE_ENVS.items():
        for split in args.splits:
            for name, agent, samples in (
                ("expert", ExpertAgent(), 1),
                ("random", RandomAgent(seed=0), args.random_samples),
            ):
                config = RolloutConfig(
                    env_id, split=split, samples=samples, concurrency=16, workers=args.workers, progress=False
                )
                started = time.perf_counter()
                result = rollout(agent, config)
                seconds = time.perf_counter() - started
                trajectories = result.trajectories
                n = len(trajectories)
                print(
                    json.dumps(
                        {
                            "benchmark": "tooluse_success",
                            "suite": suite,
                            "split": split,
                            "agent": name,
                            "episodes": n,
                            "errors": sum(t.status == "error" for t in trajectories),
                            "success_rate": round(sum(t.success for t in trajectories) / max(n, 1), 4),
                            "mean_reward": round(sum(t.total_reward for t in trajectories) / max(n, 1), 4),
                            "mean_turns": round(sum(len(t.turns) for t in trajectories) / max(n, 1), 2),
                            "episodes_per_second": round(n / seconds, 1),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
