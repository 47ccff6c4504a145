"""ALFWorld on its real engine: speed, memory, and the hand-coded expert's success on the generated test split.

Figures (generated tasks, whole floor plans unless `--max-receptacles`):

- `generation_s_per_game`: generating the test split's games into a fresh cache (`--processes` at a time),
  wall seconds per game; `draws_per_game`: draws the generator took per kept game (a draw is kept when the
  planner's translator finds it solvable and ALFWorld's expert solves it within 50 steps, as ALFWorld marks
  its own games `solvable` by playing its expert).
- One environment in this process, over the first `--single-episodes` test tasks played by the expert:
  `steps_per_s_1_env` (step calls only), `reset_new_game_p50_s` (first reset of a game in the process:
  load, translation, intro) and `reset_p50_s` (a reset of the game already loaded, as GRPO groups do).
- `rss_mb_per_live_env`: resident memory added per open environment, `--live-envs` of them each reset on
  its own game (after a warm-up environment, so imports are not counted).
- The rollout engine playing the whole test split with `ExpertAgent`, 1 then 2 worker processes on a
  started backend: `turns_per_s_1_worker`, `turns_per_s_2_workers` (resets, each a game new to the
  worker, included in the wall time; the machine's other load shows in `load_average_1m`), and
  `expert_success_test_split` from the 2-worker run, with its per-type breakdown.

    python benchmarks/alfworld_speed.py [--single-episodes 24] [--live-envs 8] [--concurrency 8] [--processes 2]

Prints one JSON line. Needs the alfworld extra; takes about ten minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time

import agentgym
from agentgym.agents.expert import ExpertAgent
from agentgym.environments.alfworld import games
from agentgym.environments.alfworld.registration import register_alfworld_envs
from agentgym.rollout import RolloutConfig, make_backend, run_rollouts

ENV_ID = "agentgym/ALFWorld-v0"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def pregenerate(task_ids: list[str], processes: int) -> dict:
    started = time.perf_counter()
    records = games.pregenerate(task_ids, processes=processes)
    wall = time.perf_counter() - started
    draws = [record.traj_data.get("draws", 1) for record in records]
    return {"generation_s_per_game": wall / len(records), "draws_per_game": statistics.mean(draws)}


def single_env(env_kwargs: dict, task_ids: list[str]) -> dict:
    """The expert plays each task with one env; steps and the two kinds of reset are timed apart."""
    env = agentgym.make(ENV_ID, **env_kwargs)
    new_game, same_game, step_s, steps = [], [], 0.0, 0
    for task_id in task_ids:
        options = {"task_id": task_id, "split": "test"}
        t0 = time.perf_counter()
        env.reset(seed=0, options=options)
        t1 = time.perf_counter()
        _, info = env.reset(seed=0, options=options)
        t2 = time.perf_counter()
        new_game.append(t1 - t0)
        same_game.append(t2 - t1)
        done = False
        while not done:
            t = time.perf_counter()
            _, _, terminated, truncated, info = env.step(info["expert_action"])
            step_s += time.perf_counter() - t
            steps += 1
            done = terminated or truncated
    env.close()
    return {
        "steps_per_s_1_env": steps / step_s,
        "step_ms": 1000 * step_s / steps,
        "reset_new_game_p50_s": statistics.median(new_game),
        "reset_p50_s": statistics.median(same_game),
    }


def memory_per_env(env_kwargs: dict, task_ids: list[str]) -> float:
    warm = agentgym.make(ENV_ID, **env_kwargs)
    warm.reset(options={"task_id": task_ids[-1], "split": "test"})
    warm.close()
    before = _rss_mb()
    envs = []
    for task_id in task_ids[:-1]:
        envs.append(agentgym.make(ENV_ID, **env_kwargs))
        envs[-1].reset(options={"task_id": task_id, "split": "test"})
    after = _rss_mb()
    for env in envs:
        env.close()
    return (after - before) / len(envs)


async def rollouts(env_kwargs: dict, workers: int, concurrency: int) -> dict:
    """The whole test split on a started backend (worker start-up and imports are not timed)."""
    config = RolloutConfig(
        ENV_ID, env_kwargs=env_kwargs, split="test", concurrency=concurrency, workers=workers, progress=False
    )
    async with make_backend(ENV_ID, env_kwargs, workers=workers, threads=concurrency) as backend:
        await run_rollouts(ExpertAgent(), dataclasses.replace(config, num_tasks=workers), backend=backend)
        result = await run_rollouts(ExpertAgent(), config, backend=backend)
    by_type = collections.defaultdict(list)
    for trajectory in result.trajectories:
        by_type[trajectory.task_id.split("-")[0]].append(trajectory.success)
    return {
        "turns_per_s": result.summary.turns_per_second,
        "episodes": len(result.trajectories),
        "errors": result.summary.errors,
        "success_rate": result.summary.success_rate,
        "by_type": {t: f"{sum(s)}/{len(s)}" for t, s in sorted(by_type.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single-episodes", type=int, default=24, help="test tasks played by one env")
    parser.add_argument("--live-envs", type=int, default=8, help="open environments for the memory figure")
    parser.add_argument("--concurrency", type=int, default=8, help="episodes in flight in the rollout runs")
    parser.add_argument("--processes", type=int, default=2, help="processes generating games")
    parser.add_argument("--max-receptacles", type=int, default=None, help="small rooms (default: whole)")
    args = parser.parse_args()
    register_alfworld_envs()
    os.environ.setdefault("AGENTGYM_CACHE", tempfile.mkdtemp(prefix="alfworld-bench-"))  # a cold cache
    env_kwargs = {"source": "generated"}
    if args.max_receptacles is not None:
        env_kwargs["max_receptacles"] = args.max_receptacles

    test_ids = agentgym.make(ENV_ID, **env_kwargs).unwrapped.task_set("test").ids
    generation = pregenerate(test_ids, args.processes)
    single = single_env(env_kwargs, test_ids[: args.single_episodes])
    rss = memory_per_env(env_kwargs, test_ids[-(args.live_envs + 1) :])
    one = asyncio.run(rollouts(env_kwargs, 1, args.concurrency))
    two = asyncio.run(rollouts(env_kwargs, 2, args.concurrency))
    print(
        json.dumps(
            {
                "benchmark": "alfworld_speed",
                "env": ENV_ID,
                "env_kwargs": env_kwargs,
                "test_split_tasks": len(test_ids),
                **{k: round(v, 3) for k, v in generation.items()},
                **{k: round(v, 3) for k, v in single.items()},
                "single_env_episodes": min(args.single_episodes, len(test_ids)),
                "rss_mb_per_live_env": round(rss, 1),
                "live_envs": args.live_envs,
                "turns_per_s_1_worker": round(one["turns_per_s"], 2),
                "turns_per_s_2_workers": round(two["turns_per_s"], 2),
                "speedup_2_workers": round(two["turns_per_s"] / one["turns_per_s"], 3),
                "concurrency": args.concurrency,
                "expert_success_test_split": two["success_rate"],
                "expert_success_by_type": two["by_type"],
                "expert_success_1_worker_run": one["success_rate"],
                "rollout_episodes": two["episodes"],
                "rollout_errors": one["errors"] + two["errors"],
                "cpus": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
