"""Rollout engine overhead: turns per second against the ideal when the agent is pure latency.

The agent waits a fixed latency per call (asyncio.sleep, as a model endpoint would) and then plays the maze
expert's move; `concurrency` episodes are in flight, so the ideal is concurrency / latency turns per second
(64 / 0.1 s = 640). Maze steps cost ~35 µs, so what is missing from the ideal is the engine's own cost:
scheduling, the round trip to the environment worker, history windows, records, writing the JSONL file.

Two figures:
- `fraction` (steady state): turns per second over the middle of the run, where all `concurrency`
  episodes are in flight, over the ideal;
- `fraction_end_to_end`: every turn over the whole call, worker start-up and the draining tail included.
`engine_cpu_us_per_turn` is the CPU time of this process (event loop, agent stub, engine) per turn.

    python benchmarks/rollout_concurrency.py [--episodes 800] [--concurrency 64] [--latency 0.1] [--workers 1]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import tempfile
import time

from agentgym.agents.base import Agent, AgentOutput
from agentgym.rollout import RolloutConfig, run_rollouts


class LatencyExpert(Agent):
    """Waits `latency` seconds, then answers the environment's expert action; records when each call ended."""

    def __init__(self, latency: float):
        self.latency = latency
        self.finished: list[float] = []

    async def act(self, messages, tools=None, *, info=None) -> AgentOutput:
        await asyncio.sleep(self.latency)
        self.finished.append(time.perf_counter())
        return AgentOutput(text=info["expert_action"] or "look")


def steady_rate(stamps: list[float], trim: float = 0.15) -> float:
    """Calls per second between the `trim` and 1 - `trim` quantiles of the call times (ramp-up and tail cut)."""
    stamps = sorted(stamps)
    lo, hi = int(len(stamps) * trim), int(len(stamps) * (1 - trim))
    return (hi - lo) / (stamps[hi] - stamps[lo])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=800, help="episodes (200 maze tasks x samples)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1, help="agent seconds per call")
    parser.add_argument("--workers", type=int, default=1, help="environment worker processes (0: threads)")
    args = parser.parse_args()

    samples = max(1, -(-args.episodes // 200))
    agent = LatencyExpert(args.latency)
    with tempfile.TemporaryDirectory() as tmp:
        config = RolloutConfig(
            "agentgym/Maze-v0",
            num_tasks=min(200, args.episodes),
            samples=samples,
            concurrency=args.concurrency,
            workers=args.workers,
            output=os.path.join(tmp, "trajectories.jsonl"),
            progress=False,
        )
        started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        result = await run_rollouts(agent, config)
        wall = time.perf_counter() - started
        used = resource.getrusage(resource.RUSAGE_SELF)
        engine_cpu = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime

    ideal = args.concurrency / args.latency
    turns = result.summary.turns
    steady = steady_rate(agent.finished)
    print(
        json.dumps(
            {
                "benchmark": "rollout_concurrency",
                "env": "agentgym/Maze-v0",
                "episodes": result.summary.episodes,
                "errors": result.summary.errors,
                "turns": turns,
                "concurrency": args.concurrency,
                "latency_s": args.latency,
                "workers": args.workers,
                "ideal_turns_per_s": ideal,
                "turns_per_s": round(steady, 1),
                "fraction": round(steady / ideal, 3),
                "turns_per_s_end_to_end": round(turns / wall, 1),
                "fraction_end_to_end": round(turns / wall / ideal, 3),
                "wall_s": round(wall, 2),
                "env_ms_per_turn": round(1000 * result.summary.env_seconds_per_turn, 3),
                "engine_cpu_us_per_turn": round(1e6 * engine_cpu / turns, 1),  # this process, all of it
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
