"""Environment worker scaling: throughput with 2 worker processes against 1, on CPU-bound environment steps.

The agent answers the environment's expert action at once (no latency), so the environment is the only
work. Maze steps cost ~35 µs, far too little to show anything, so by default this runs
`bench/CpuBoundMaze-v0`: the Maze, plus a fixed amount of pure-Python arithmetic in every step (a loop of
`--burn` iterations, calibrated once at start to about `--step-ms` milliseconds on this machine and then
identical for every run). It holds the GIL like a real Python environment engine (TextWorld's, for
instance). `--env agentgym/TextWorld-v0` runs the real TextWorld instead (the `textworld` extra): a warm-up
pass generates its games, so only play is timed; its episodes are short, so resets weigh as much as
steps there (`--episodes 20 --samples 5` plays 100 episodes of 20 games).

Each configuration runs on a started backend (worker start-up is not timed), after a warm-up pass.
The main process (event loop, engine, agent) must stay a small share of the work for 2 workers to scale:
`engine_cpu_share` is its CPU time over the wall time of the timed pass. `workers_cpu_share` is the CPU
the workers got over the same time (needs psutil): on a machine whose cores are busy with other work, 2
workers cannot get 2 cores and the speedup says more about the machine than about the engine.

    python benchmarks/rollout_workers.py [--episodes 200] [--samples 1] [--concurrency 16] [--step-ms 2] [--env ID]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import time

from agentgym.agents.base import Agent, AgentOutput
from agentgym.environments.maze.env import MazeEnv
from agentgym.registration import register
from agentgym.rollout import RolloutConfig, make_backend, run_rollouts

CPU_BOUND = "bench/CpuBoundMaze-v0"


def burn(iterations: int) -> int:
    """Pure-Python work that holds the GIL: no sleeping, no C call that releases it."""
    total = 0
    for i in range(iterations):
        total = (total + i * i) % 1_000_003
    return total


class CpuBoundMaze(MazeEnv):
    """The Maze, with `burn` iterations of pure-Python arithmetic in every step."""

    def __init__(self, burn: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.burn = burn

    def _act(self, action):
        burn(self.burn)
        return super()._act(action)


# Worker processes import this file as the module `rollout_workers` (the script's folder is on the path
# they inherit) and find the class through this registration.
register(
    CPU_BOUND,
    entry_point="rollout_workers:CpuBoundMaze",
    max_episode_steps=30,
    kwargs={"width": 4, "height": 4},
)


def calibrate(step_ms: float) -> int:
    """Iterations of `burn` that take about `step_ms` ms here (best of a few tries, so load inflates less)."""
    n = 100_000
    best = min(_timed(burn, n) for _ in range(5))
    return max(1, int(n * step_ms / 1000 / best))


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


class Expert(Agent):
    async def act(self, messages, tools=None, *, info=None) -> AgentOutput:
        return AgentOutput(text=info["expert_action"] or "look")


async def throughput(
    env_id: str, env_kwargs: dict, workers: int, episodes: int, samples: int, concurrency: int
) -> dict:
    config = RolloutConfig(
        env_id,
        env_kwargs=env_kwargs,
        num_tasks=episodes,
        samples=samples,
        concurrency=concurrency,
        workers=workers,
        progress=False,
    )
    async with make_backend(env_id, env_kwargs, workers=workers, threads=concurrency) as backend:
        await run_rollouts(Expert(), config, backend=backend)  # warm-up: imports, environments, games
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        workers_cpu = _cpu_seconds(backend.pids)
        started = time.perf_counter()
        result = await run_rollouts(Expert(), config, backend=backend)
        wall = time.perf_counter() - started
        used = resource.getrusage(resource.RUSAGE_SELF)
        workers_cpu = _cpu_seconds(backend.pids) - workers_cpu
    engine_cpu = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    return {
        "turns_per_s": result.summary.turns / wall,
        "turns": result.summary.turns,
        "errors": result.summary.errors,
        "success_rate": result.summary.success_rate,
        "engine_cpu_share": engine_cpu / wall,
        "engine_cpu_us_per_turn": 1e6 * engine_cpu / result.summary.turns,
        "workers_cpu_share": workers_cpu / wall,  # cores the workers got; 2 workers want 2.0
    }


def _cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by the worker processes (NaN without psutil)."""
    try:
        import psutil
    except ImportError:
        return float("nan")
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=CPU_BOUND, help=f"environment id (default {CPU_BOUND})")
    parser.add_argument("--episodes", type=int, default=200, help="tasks played (each `--samples` times)")
    parser.add_argument("--samples", type=int, default=1, help="episodes per task (seeds differ)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--step-ms", type=float, default=2.0, help="CPU per step of the CPU-bound maze")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()

    env_kwargs: dict = {}
    if args.env == CPU_BOUND:
        env_kwargs = {"burn": calibrate(args.step_ms)}
    one = await throughput(args.env, env_kwargs, 1, args.episodes, args.samples, args.concurrency)
    two = await throughput(args.env, env_kwargs, 2, args.episodes, args.samples, args.concurrency)
    print(
        json.dumps(
            {
                "benchmark": "rollout_workers",
                "env": args.env,
                "env_kwargs": env_kwargs,
                "step_ms_target": args.step_ms if args.env == CPU_BOUND else None,
                "episodes": args.episodes * args.samples,
                "turns": two["turns"],
                "concurrency": args.concurrency,
                "turns_per_s_1_worker": round(one["turns_per_s"], 1),
                "turns_per_s_2_workers": round(two["turns_per_s"], 1),
                "speedup": round(two["turns_per_s"] / one["turns_per_s"], 3),
                "workers_cpu_share_1_worker": round(one["workers_cpu_share"], 2),
                "workers_cpu_share_2_workers": round(two["workers_cpu_share"], 2),
                "engine_cpu_share_2_workers": round(two["engine_cpu_share"], 3),
                "engine_cpu_us_per_turn": round(two["engine_cpu_us_per_turn"], 1),
                "errors": one["errors"] + two["errors"],
                "success_rate": two["success_rate"],
                "cpus": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
