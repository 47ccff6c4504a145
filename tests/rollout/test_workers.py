"""Environment worker processes: crashes, replacement, start-up failures and cleanup, for real."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import types

import psutil
import pytest

from agentgym.errors import ConfigError, EnvironmentCrashedError
from agentgym.rollout import (
    BackendError,
    EnvFactory,
    ProcessBackend,
    RolloutConfig,
    ThreadBackend,
    make_backend,
    run_rollouts,
)
from tests.rollout.helpers import SCRIPTED, DiesOnArrival, ExpertAgent, task_of

CRASHER = "maze-4x4-s1000001"


def config(**overrides) -> RolloutConfig:
    return RolloutConfig(**{"env_id": SCRIPTED, "num_tasks": 3, "workers": 1, "progress": False, **overrides})


def worker_pids() -> list[int]:
    return [p.pid for p in psutil.Process().children() if "_worker_main" in " ".join(p.cmdline())]


async def test_a_worker_killed_by_its_environment_is_replaced_and_the_episode_recorded():
    """The agent's 'crash' command SIGKILLs the worker on every attempt of one task."""

    def script(messages, info):
        return "crash" if task_of(info) == CRASHER else None

    result = await run_rollouts(ExpertAgent(script=script), config(concurrency=1, max_retries=1))
    first, crashed, last = result.trajectories
    assert crashed.status == "error" and crashed.metrics["attempts"] == 2
    assert "died (killed by SIGKILL)" in crashed.error and crashed.error.startswith("environment:")
    assert first.status == last.status == "ok" and first.success and last.success  # the run went on


async def test_an_info_that_cannot_cross_processes_fails_its_episode_only():
    def script(messages, info):
        return "unpicklable" if task_of(info) == CRASHER else None

    result = await run_rollouts(ExpertAgent(script=script), config(max_retries=0))
    first, broken, last = result.trajectories
    assert broken.status == "error" and "step() result cannot be pickled" in broken.error
    assert first.status == last.status == "ok"


async def test_episodes_on_a_worker_killed_from_outside_are_replayed_on_its_replacement():
    killed = []

    def script(messages, info):
        if not killed and len(messages) >= 6:  # mid-episode, with other episodes in flight
            killed.extend(worker_pids()[:1])
            os.kill(killed[0], signal.SIGKILL)
        return None

    agent = ExpertAgent(delay=0.002, script=script)
    result = await run_rollouts(agent, config(num_tasks=12, concurrency=6, workers=2))
    assert killed and killed[0] not in worker_pids()
    assert all(t.status == "ok" and t.success for t in result.trajectories)
    assert any(t.metrics["attempts"] == 2 for t in result.trajectories)
    assert len({t.key for t in result.trajectories}) == 12


async def test_workers_that_die_at_start_up_stop_the_backend():
    backend = ProcessBackend(DiesOnArrival("agentgym/Maze-v0"), workers=1)
    async with backend:
        with pytest.raises(EnvironmentCrashedError):
            await backend.task_ids("test")
        for _ in range(200):  # the replacements die too
            if backend._broken is not None:
                break
            await asyncio.sleep(0.05)
        with pytest.raises(
            BackendError, match="3 environment workers .* in a row died before they were ready"
        ):
            await backend.reset(0, 0, None)


async def test_a_factory_that_workers_cannot_import_fails_the_run_at_once(monkeypatch):
    """A class importable here but not in a fresh process (like one defined in a notebook or stdin script)."""
    ghost = types.ModuleType("ghost_module_of_the_parent")
    exec("from agentgym.rollout import EnvFactory\nclass GhostFactory(EnvFactory): pass", ghost.__dict__)
    monkeypatch.setitem(sys.modules, ghost.__name__, ghost)
    backend = ProcessBackend(ghost.GhostFactory("agentgym/Maze-v0"), workers=1)
    started = time.monotonic()
    with pytest.raises(BackendError, match="cannot load the environment factory in a worker process"):
        await run_rollouts(ExpertAgent(), config(env_id="agentgym/Maze-v0"), backend=await _started(backend))
    await backend.aclose()
    assert time.monotonic() - started < 10


async def _started(backend):
    await backend.start()
    return backend


def test_a_factory_that_cannot_be_pickled_is_refused_at_construction():
    class Local(EnvFactory):
        pass

    with pytest.raises(ConfigError, match="cannot be pickled.*workers=0"):
        ProcessBackend(Local("agentgym/Maze-v0"))


async def test_workers_are_shut_down_when_the_run_is_cancelled():
    agent = ExpertAgent(delay=0.01)
    run = asyncio.create_task(run_rollouts(agent, config(num_tasks=50, concurrency=4, workers=2)))
    while agent.calls < 10:
        await asyncio.sleep(0.01)
    assert len(worker_pids()) == 2
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert worker_pids() == []  # the autouse fixture checks every test the same way


async def test_workers_are_shut_down_when_the_run_fails():
    def script(messages, info):
        raise BackendError("no environment can run")  # fatal: ends the run rather than one episode

    with pytest.raises(BackendError, match="no environment can run"):
        await run_rollouts(ExpertAgent(script=script), config())
    assert worker_pids() == []


def test_workers_exit_when_their_parent_dies():
    code = textwrap.dedent(
        """
        import asyncio, time
        from agentgym.rollout import make_backend

        async def main():
            backend = make_backend("agentgym/Maze-v0", workers=2)
            await backend.start()
            await backend.task_ids("test")
            print(" ".join(map(str, backend.pids)), flush=True)
            time.sleep(60)

        asyncio.run(main())
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_running(pid) for pid in pids)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def recording_steps(monkeypatch) -> list[int]:
    """The thread of every environment step, from now on."""
    import threading

    from agentgym.environments.maze.env import MazeEnv

    threads, real_act = [], MazeEnv._act

    def act(self, action):
        threads.append(threading.get_ident())
        return real_act(self, action)

    monkeypatch.setattr(MazeEnv, "_act", act)
    return threads


async def test_thread_backend_runs_environments_in_threads(monkeypatch):
    import threading

    loop_thread = threading.get_ident()
    steps = recording_steps(monkeypatch)
    async with ThreadBackend(EnvFactory("agentgym/Maze-v0"), threads=2) as backend:
        ids = await backend.task_ids("test")
        observation, info = await backend.reset(1, 0, {"task_id": ids[0], "split": "test"})
        assert "Open directions" in observation
        _, _, _, _, info = await backend.step(1, info["expert_action"])
        backend.release(1)
    assert steps and loop_thread not in steps


async def test_inline_backend_steps_on_the_loop_thread_reports_failures_and_closes(monkeypatch):
    """`make_backend(workers=0, threads=0)`: no hand-off, the same failure reports, environments closed."""
    import threading

    from agentgym.rollout import InlineBackend, make_backend

    steps = recording_steps(monkeypatch)
    backend = make_backend(SCRIPTED, workers=0, threads=0)
    assert isinstance(backend, InlineBackend)
    with pytest.raises(RuntimeError, match="not started"):
        await backend.reset(1, 0, None)
    async with backend:
        observation, info = await backend.reset(1, 0, {"task_id": CRASHER, "split": "test"})
        await backend.step(1, info["expert_action"])
        assert steps == [threading.get_ident()]  # stepped right here, on the loop's thread
        with pytest.raises(EnvironmentCrashedError, match="exploded"):
            await backend.step(1, "explode")
        backend.release(1, discard=True)
        _, info = await backend.reset(2, 0, {"task_id": CRASHER, "split": "test"})
        env, closed = backend._host._active[2], []
        real_close = env.close
        env.close = lambda: (closed.append(env), real_close())
    assert closed == [env], "closing the backend closes the environments it built"


async def test_a_rollout_runs_on_the_inline_backend():
    backend = make_backend(SCRIPTED, workers=0, threads=0)
    async with backend:
        result = await run_rollouts(ExpertAgent(), config(workers=0), backend=backend)
    assert [t.status for t in result.trajectories] == ["ok"] * 3
    assert all(t.success for t in result.trajectories)
