"""ScienceWorld on its real engine: expert success on test variations, steps/s, reset time, memory per env.

1. Expert: one environment plays the gold path of `--per-type` test variations of each of the 30 task
   types (spread evenly over each type's test split, first and last included), within the registered step
   limit. A variation counts as solved when the episode ends in success. Each task is then reset a second
   time: the first reset plans the gold path (ScienceWorld's planner runs the task), the second finds it
   cached and only loads the world. Valid actions are not listed here (`admissible_actions=False`), so
   `steps_per_s_1_env_plain` is the engine's own step.
2. One environment as registered (valid actions listed every step, which the engine enumerates anew for
   each state): `steps_per_s_1_env`, over the first `--steps` expert steps of every third sampled task.
3. The rollout engine with `ExpertAgent`, 1 then 2 worker processes, `--concurrency` episodes in flight, on
   the first test variation of `--rollout-tasks` task types, at most `--max-turns` turns each; each runs
   once untimed first (JVMs started, gold paths cached in the workers), as in rollout_workers.py.
4. Memory: `--live` environments alive at once, each after a reset and a few steps: the resident memory
   of each JVM, plus this process's growth per environment.

    python benchmarks/scienceworld_speed.py [--per-type 5] [--steps 20] [--rollout-tasks 15] [--live 4]

Prints one JSON line. Needs the `scienceworld` extra and Java.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path

import agentgym
from agentgym.agents import ExpertAgent
from agentgym.environments.scienceworld import catalog
from agentgym.environments.scienceworld.registration import register_scienceworld_envs
from agentgym.rollout import RolloutConfig, make_backend, run_rollouts

ENV_ID = "agentgym/ScienceWorld-v0"


def sample_test_tasks(per_type: int) -> list[str]:
    """`per_type` test variations of every task type, evenly spread over its test split."""
    ids = []
    for task_type in catalog.TASK_TYPES:
        variations = task_type.split_variations("test")
        picks = sorted(
            {variations[round(i * (len(variations) - 1) / max(per_type - 1, 1))] for i in range(per_type)}
        )
        ids += [catalog.task_id(task_type, v) for v in picks]
    return ids


def play_expert(env, task_id: str, max_steps: int | None = None) -> dict:
    """Reset (timed), follow the gold path to the end of the episode (or `max_steps`)."""
    started = time.perf_counter()
    _, info = env.reset(options={"task_id": task_id, "split": "test"})
    reset_s = time.perf_counter() - started
    steps, step_s, done, outcome = 0, 0.0, False, "step limit"
    while not done and (max_steps is None or steps < max_steps):
        if info["expert_action"] is None:
            outcome = "gold path spent"
            break
        started = time.perf_counter()
        _, _, terminated, truncated, info = env.step(info["expert_action"])
        step_s += time.perf_counter() - started
        steps += 1
        done = terminated or truncated
        if terminated:
            outcome = "success" if info["success"] else f"failed (engine score {info['engine_score']})"
    return {"task_id": task_id, "reset_s": reset_s, "steps": steps, "step_s": step_s, "outcome": outcome}


def rss_mb(pid: int | str = "self") -> float:
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


def threads(pid: int) -> int:
    return int(Path(f"/proc/{pid}/status").read_text().split("Threads:")[1].split()[0])


def expert_phase(task_ids: list[str]) -> dict:
    env = agentgym.make(ENV_ID, admissible_actions=False)
    try:
        episodes, cached = [], []
        for task_id in task_ids:
            episodes.append(play_expert(env, task_id))
            started = time.perf_counter()
            env.reset(options={"task_id": task_id, "split": "test"})
            cached.append(time.perf_counter() - started)
        engine = env.unwrapped.engine
        jvm = {"jvm_rss_mb": rss_mb(engine.pid), "jvm_threads": threads(engine.pid)}
    finally:
        env.close()
    solved = [e for e in episodes if e["outcome"] == "success"]
    steps = sum(e["steps"] for e in episodes)
    return {
        "expert_episodes": len(episodes),
        "expert_successes": len(solved),
        "expert_success_rate": round(len(solved) / len(episodes), 4),
        "expert_failures": {e["task_id"]: e["outcome"] for e in episodes if e["outcome"] != "success"},
        "expert_steps_max": max(e["steps"] for e in episodes),
        "steps_per_s_1_env_plain": round(steps / sum(e["step_s"] for e in episodes), 1),
        "reset_s_p50_first": round(statistics.median(e["reset_s"] for e in episodes), 3),
        "reset_s_p90_first": round(statistics.quantiles([e["reset_s"] for e in episodes], n=10)[-1], 3),
        "reset_s_p50_cached": round(statistics.median(cached), 3),
        "after_expert_phase": {k: round(v, 1) for k, v in jvm.items()},
    }


def admissible_phase(task_ids: list[str], steps: int) -> dict:
    env = agentgym.make(ENV_ID)  # as registered: valid actions listed every step
    try:
        episodes = [play_expert(env, task_id, max_steps=steps) for task_id in task_ids]
    finally:
        env.close()
    total = sum(e["steps"] for e in episodes)
    return {"steps_per_s_1_env": round(total / sum(e["step_s"] for e in episodes), 1), "steps_timed": total}


async def rollout_phase(task_ids: list[str], workers: int, concurrency: int, max_turns: int) -> dict:
    config = RolloutConfig(
        ENV_ID,
        task_ids=task_ids,
        concurrency=concurrency,
        workers=workers,
        max_turns=max_turns,
        progress=False,
    )
    async with make_backend(ENV_ID, workers=workers) as backend:
        await run_rollouts(ExpertAgent(), config, backend=backend)  # untimed: JVMs, gold paths
        started = time.perf_counter()
        result = await run_rollouts(ExpertAgent(), config, backend=backend)
        wall = time.perf_counter() - started
    summary = result.summary
    return {"turns_per_s": summary.turns / wall, "turns": summary.turns, "errors": summary.errors}


def memory_phase(task_ids: list[str], live: int) -> dict:
    before = rss_mb()
    envs = [agentgym.make(ENV_ID) for _ in range(live)]
    try:
        for env, task_id in zip(envs, task_ids, strict=False):
            play_expert(env, task_id, max_steps=5)
        jvms = [rss_mb(env.unwrapped.engine.pid) for env in envs]
        python_per_env = (rss_mb() - before) / live
    finally:
        for env in envs:
            env.close()
    return {
        "live_envs": live,
        "jvm_rss_mb_mean": round(statistics.mean(jvms), 1),
        "python_rss_mb_per_env": round(python_per_env, 1),
        "memory_per_env_mb": round(statistics.mean(jvms) + python_per_env, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-type", type=int, default=5, help="test variations per task type (expert)")
    parser.add_argument("--steps", type=int, default=20, help="steps per episode timed with valid actions")
    parser.add_argument("--rollout-tasks", type=int, default=15, help="task types in the rollout runs")
    parser.add_argument("--max-turns", type=int, default=20, help="turns per rollout episode")
    parser.add_argument("--concurrency", type=int, default=4, help="rollout episodes in flight")
    parser.add_argument("--live", type=int, default=4, help="environments alive at once (memory)")
    args = parser.parse_args()
    register_scienceworld_envs()  # the workers learn it from the factory's card

    task_ids = sample_test_tasks(args.per_type)
    started = time.perf_counter()
    figures = expert_phase(task_ids)
    figures |= admissible_phase(task_ids[:: 3 * args.per_type], args.steps)
    step = max(len(catalog.TASK_TYPES) // args.rollout_tasks, 1)
    rollout_ids = [catalog.task_id(t, t.split_variations("test")[0]) for t in catalog.TASK_TYPES[::step]]
    rollout_ids = rollout_ids[: args.rollout_tasks]
    one = asyncio.run(rollout_phase(rollout_ids, 1, args.concurrency, args.max_turns))
    two = asyncio.run(rollout_phase(rollout_ids, 2, args.concurrency, args.max_turns))
    figures |= memory_phase(task_ids[:: args.per_type], args.live)
    print(
        json.dumps(
            {
                "benchmark": "scienceworld_speed",
                "env": ENV_ID,
                **figures,
                "rollout_episodes": len(rollout_ids),
                "rollout_turns": two["turns"],
                "rollout_errors": one["errors"] + two["errors"],
                "turns_per_s_1_worker": round(one["turns_per_s"], 1),
                "turns_per_s_2_workers": round(two["turns_per_s"], 1),
                "speedup": round(two["turns_per_s"] / one["turns_per_s"], 3),
                "seconds": round(time.perf_counter() - started, 1),
                "cpus": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
