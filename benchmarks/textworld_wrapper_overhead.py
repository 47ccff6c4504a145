"""TextWorld wrapper overhead: steps per second of `agentgym/TextWorld-v0` against the raw engine.

All three play the same game with the same `EnvInfos` request and the same action sequence (the
walkthrough, each command preceded by "look" and "inventory", so every episode ends in a win):

- `ours`: `agentgym.make("agentgym/TextWorld-v0")`, Gymnasium wrappers, action parsing and info included;
- `textworld_gym`: `textworld.gym.make` on the registered game file (the baseline the issue names);
- `textworld_start`: `textworld.start`, the engine our environment drives (the tightest baseline).

Only `step` calls are timed for steps per second; resets are timed apart (the gym env reloads the game on
every reset, which would otherwise dominate). The three run interleaved, in a rotating order, for
`--rounds` rounds of `--episodes` episodes; `ratio` is the median over rounds of ours / textworld_gym,
`ratio_vs_start` the same against textworld_start. The machine may be shared: run it a few times.

Timings of a ~1.5 ms step on a busy machine wobble by several percent, more than our own cost, so the
script also measures that cost alone: `ours_overhead_us_per_step` is a step of our environment (Gymnasium
wrappers, parser, info) with the engine call stubbed out, and `ratio_from_overhead` is
engine / (engine + overhead), the ratio that overhead implies.

    python benchmarks/textworld_wrapper_overhead.py [--rounds 7] [--episodes 20] [--task-id simple-r3-o5-q3-s000000]

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import agentgym

Runner = Callable[[int], tuple[float, float, int]]  # episodes -> (step seconds, reset seconds, steps)


def action_sequence(walkthrough: Sequence[str]) -> list[str]:
    actions: list[str] = []
    for command in walkthrough:
        actions += ["look", "inventory", command]
    return actions


def timed_episodes(
    episodes: int, actions: list[str], reset: Callable[[], object], step: Callable[[str], bool]
) -> tuple[float, float, int]:
    """Play `actions` from a reset, `episodes` times; `step` returns whether the game ended."""
    step_s = reset_s = 0.0
    for _ in range(episodes):
        t0 = time.perf_counter()
        reset()
        t1 = time.perf_counter()
        done = False
        for action in actions:
            done = step(action)
        t2 = time.perf_counter()
        assert done, "the action sequence should win the game"
        reset_s += t1 - t0
        step_s += t2 - t1
    return step_s, reset_s, episodes * len(actions)


def run_ours(task_id: str, actions: list[str]) -> tuple[Runner, Callable[[], None]]:
    env = agentgym.make("agentgym/TextWorld-v0")
    options = {"task_id": task_id}

    def run(episodes: int) -> tuple[float, float, int]:
        return timed_episodes(
            episodes, actions, lambda: env.reset(seed=0, options=options), lambda a: env.step(a)[2]
        )

    return run, env.close


def run_textworld_gym(game_file: str, actions: list[str], infos: Any) -> tuple[Runner, Callable[[], None]]:
    import textworld.gym

    env = textworld.gym.make(textworld.gym.register_game(game_file, request_infos=infos))

    def run(episodes: int) -> tuple[float, float, int]:
        return timed_episodes(episodes, actions, env.reset, lambda a: env.step(a)[2])

    return run, env.close


def run_textworld_start(game_file: str, actions: list[str], infos: Any) -> tuple[Runner, Callable[[], None]]:
    import textworld

    env = textworld.start(game_file, infos)

    def reset() -> None:
        env.seed(0)
        env.reset()

    def run(episodes: int) -> tuple[float, float, int]:
        return timed_episodes(episodes, actions, reset, lambda a: env.step(a)[2])

    return run, env.close


def wrapper_overhead_us(task_id: str, steps: int = 20_000) -> float:
    """Our per-step cost without the engine: every wrapper, parser and info key, the engine stubbed out.

    The engine call is replaced by one that returns a state recorded from the real engine, so this figure
    does not depend on how busy the machine's other cores are.
    """
    env = agentgym.make("agentgym/TextWorld-v0")
    env.reset(seed=0, options={"task_id": task_id})
    engine = env.unwrapped._engine
    recorded = engine.step("look")
    engine.step = lambda command: recorded  # instance attribute: only this engine is stubbed
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step("look")
    elapsed = time.perf_counter() - t0
    env.close()
    return 1e6 * elapsed / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task-id", default="simple-r3-o5-q3-s000000")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--episodes", type=int, default=20, help="episodes per implementation per round")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Unable to find valid actions")

    probe = agentgym.make("agentgym/TextWorld-v0").unwrapped
    t0 = time.perf_counter()
    record = probe.game(args.task_id)  # generated here on a cold cache, and timed
    prepare_s = time.perf_counter() - t0
    probe.close()
    actions = action_sequence(record.walkthrough)

    from agentgym.environments.textworld.env import REQUEST_INFOS  # exactly what our environment asks for

    runners = {
        "ours": run_ours(args.task_id, actions),
        "textworld_gym": run_textworld_gym(str(record.path), actions, REQUEST_INFOS),
        "textworld_start": run_textworld_start(str(record.path), actions, REQUEST_INFOS),
    }
    names = list(runners)
    for name in names:  # warm-up: first resets load the game, first steps fill caches
        runners[name][0](2)
    rates: dict[str, list[float]] = {name: [] for name in names}
    resets: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate who goes first
            step_s, reset_s, steps = runners[name][0](args.episodes)
            rates[name].append(steps / step_s)
            resets[name].append(reset_s / args.episodes)
    for _, close in runners.values():
        close()

    def median_ratio(other: str) -> float:
        return statistics.median(o / b for o, b in zip(rates["ours"], rates[other], strict=True))

    overhead_us = wrapper_overhead_us(args.task_id)
    engine_us = 1e6 / statistics.median(rates["textworld_start"])
    result = {
        "benchmark": "textworld_wrapper_overhead",
        "task_id": args.task_id,
        "steps_per_episode": len(actions),
        "rounds": args.rounds,
        "episodes_per_round": args.episodes,
        **{f"{name}_steps_per_s": round(statistics.median(rates[name]), 1) for name in names},
        **{f"{name}_reset_ms": round(1000 * statistics.median(resets[name]), 2) for name in names},
        "ratio": round(median_ratio("textworld_gym"), 3),
        "ratio_vs_start": round(median_ratio("textworld_start"), 3),
        "ours_overhead_us_per_step": round(overhead_us, 1),
        "ratio_from_overhead": round(engine_us / (engine_us + overhead_us), 3),
        "game_load_or_generate_s": round(prepare_s, 3),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
