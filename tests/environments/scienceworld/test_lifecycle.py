"""ScienceWorld engine lifecycle: every JVM ends with its environment, or with its owner even by SIGKILL.

The lesson these tests keep: an anchor project's unclosed environments grew one JVM to 1,764 threads
and ran out of memory after hours of training.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("scienceworld")

import agentgym  # noqa: E402
from agentgym.environments.scienceworld.engine import EngineStartError, JavaNotFoundError  # noqa: E402
from agentgym.errors import MissingExtraError  # noqa: E402

from .helpers import (  # noqa: E402
    ENV_ID,
    children,
    gone,
    needs_java,
    needs_proc,
    open_fds,
    os_threads,
    python_threads,
)

pytestmark = [pytest.mark.scienceworld, needs_proc]

QUICK_TASK = {"task_id": "lifespan-longest-lived-var93", "split": "test"}  # a 4-step gold path


@needs_java
def test_100_environments_leave_no_process_thread_or_descriptor_behind(shared):
    """Each environment starts a JVM when made; closing it (or dropping it) must end that JVM.

    Most are closed while their JVM boots. Two play a step first: one is closed, the other dropped
    without close(), and garbage collection must end its JVM.
    """
    shared.reset(options=QUICK_TASK)  # the gold path is cached: later resets only load the world
    gc.collect()
    before = (children(), python_threads(), os_threads(), open_fds())
    for n in range(100):
        env = agentgym.make(ENV_ID, task_types="lifespan-longest-lived", admissible_actions=False)
        pid = env.unwrapped.engine.pid
        assert pid in children()
        if n % 50 == 0:
            _, info = env.reset(options=QUICK_TASK)
            env.step(info["expert_action"])
        if n == 50:
            del env
            gc.collect()
        else:
            env.close()
        assert gone(pid, within=0) and pid not in children()
    gc.collect()
    assert (children(), python_threads(), os_threads(), open_fds()) == before


@needs_java
def test_reset_reuses_the_jvm_and_its_threads_stay_flat(shared):
    """Many resets and steps, called from different Python threads: one JVM, a constant thread count."""
    shared.reset(options=QUICK_TASK)
    engine = shared.unwrapped.engine
    baseline = os_threads(engine.pid)
    tasks = [QUICK_TASK, {"task_id": "find-plant-var225", "split": "test"}]
    with ThreadPoolExecutor(max_workers=8) as pool:  # the thread backend steps envs from a pool
        for n in range(8):
            _, info = pool.submit(shared.reset, options=tasks[n % 2]).result()
            for _ in range(2):
                *_, info = pool.submit(shared.step, info["expert_action"] or "look around").result()
    assert shared.unwrapped.engine is engine and engine.alive
    # HotSpot may add a JIT compiler thread or two as code warms up; a thread per calling Python thread
    # (a new gateway connection each) would add 8.
    assert os_threads(engine.pid) <= baseline + 3


@needs_java
def test_the_jvm_dies_with_its_owner_even_by_sigkill_and_despite_a_fork():
    """SIGKILL the owning process: its JVM goes too, although a forked child of the owner lives on."""
    script = textwrap.dedent(
        f"""
        import os, sys, time
        import agentgym
        from agentgym.environments.scienceworld.registration import register_scienceworld_envs

        register_scienceworld_envs()
        env = agentgym.make({ENV_ID!r}, task_types="lifespan-longest-lived", admissible_actions=False)
        env.reset(options={QUICK_TASK!r})
        child = os.fork()  # holds a copy of everything the owner had open, the JVM's stdin pipe included
        if child == 0:
            time.sleep(120)
            os._exit(0)
        print(env.unwrapped.engine.pid, child, flush=True)
        time.sleep(120)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    jvm = forked = None
    try:
        jvm, forked = map(int, owner.stdout.readline().split())
        assert not gone(jvm, within=0)
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert not gone(forked, within=0)  # the fork is alive ...
        assert gone(jvm, within=15)  # ... and the JVM ended all the same
    finally:
        owner.kill()
        owner.wait()
        for pid in (forked, jvm):
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@needs_java
def test_a_jvm_that_cannot_start_says_why():
    env = agentgym.make(ENV_ID, java_options=["-XX:+NoSuchOption"])
    try:
        with pytest.raises(EngineStartError, match=r"(?s)JVM exited.*NoSuchOption"):
            env.reset(options=QUICK_TASK)
    finally:
        env.close()


def test_missing_java_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without java
    with pytest.raises(JavaNotFoundError, match="Java was not found.*install a Java runtime"):
        agentgym.make(ENV_ID)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaNotFoundError, match="JAVA_HOME is .* but it has no bin/java"):
        agentgym.make(ENV_ID)
    monkeypatch.delenv("JAVA_HOME")
    with pytest.raises(JavaNotFoundError, match="java='/no/java' is not an executable"):
        agentgym.make(ENV_ID, java="/no/java")


def test_missing_scienceworld_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scienceworld.constants", None)  # makes the import fail
    for module in ("env", "engine"):
        monkeypatch.delitem(sys.modules, f"agentgym.environments.scienceworld.{module}")
    with pytest.raises(MissingExtraError, match=r'pip install "agentgym\[scienceworld\]"'):
        agentgym.make(ENV_ID)
