"""The engine's lifecycle: nothing grows over many environments, garbage collection releases, death leaves nothing.

The engine runs in-process (Python plus one native Fast Downward library copy per open engine) and starts
no thread or process: these tests count threads, child processes, open files and library copies around
100 environments made, reset and closed, on a small fixture room.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading

import pytest

pytest.importorskip("alfworld")
pytest.importorskip("fast_downward")

import agentgym  # noqa: E402
from agentgym.environments.alfworld import backend  # noqa: E402

from .conftest import ENV_ID, FIXTURES  # noqa: E402

pytestmark = pytest.mark.alfworld

TASK = "look_at_obj_in_light-RemoteControl-None-FloorLamp-209/trial_agentgym_look_at_obj_in_light-r3-s100001"
OPTIONS = {"task_id": TASK, "split": "valid_seen"}


def _children() -> int:
    me = str(os.getpid())
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                count += f.read().rsplit(")", 1)[1].split()[1] == me
        except OSError:
            continue
    return count


def _mapped_libraries() -> int:
    with open("/proc/self/maps") as f:
        return len({line.split(maxsplit=5)[5] for line in f if "libdownward" in line})  # path (deleted)


def _census() -> dict[str, int]:
    return {
        "threads": len(os.listdir("/proc/self/task")),
        "python_threads": threading.active_count(),
        "children": _children(),
        "open_fds": len(os.listdir("/proc/self/fd")),
        "library_copies": backend.library_copies(),
        "mapped_libraries": _mapped_libraries(),
    }


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def test_hundred_environments_made_and_closed_leave_nothing_behind():
    warm = agentgym.make(ENV_ID, data_path=FIXTURES)  # imports, the game's translation, one library copy
    warm.reset(options=OPTIONS)
    warm.close()
    argv = list(sys.argv)
    before, rss = _census(), _rss_mb()
    for _ in range(100):
        env = agentgym.make(ENV_ID, data_path=FIXTURES)
        _, info = env.reset(options=OPTIONS)
        env.step(info["expert_action"])
        env.close()
    assert _census() == before
    assert _rss_mb() - rss < 60  # an unreleased engine alone would add ~30 MB of library each
    assert sys.argv == argv  # Fast Downward's translator overwrites it; the backend puts it back


def test_open_environments_hold_one_library_each_and_closing_pools_them():
    first = agentgym.make(ENV_ID, data_path=FIXTURES)
    first.reset(options=OPTIONS)
    envs = [agentgym.make(ENV_ID, data_path=FIXTURES) for _ in range(3)]
    for env in envs:
        env.reset(options=OPTIONS)
    peak = backend.library_copies()
    assert peak >= 4 and _mapped_libraries() == peak
    for env in [first, *envs]:
        env.close()
    env = agentgym.make(ENV_ID, data_path=FIXTURES)
    env.reset(options=OPTIONS)
    assert backend.library_copies() == peak  # the new engine took a pooled copy
    env.close()


def test_close_is_idempotent_and_reset_reopens():
    env = agentgym.make(ENV_ID, data_path=FIXTURES)
    env.reset(options=OPTIONS)
    engine = env.unwrapped._engine
    env.close()
    env.close()
    assert engine.closed and env.unwrapped._engine is None
    _, info = env.reset(options=OPTIONS)
    assert info["expert_action"] and not env.unwrapped._engine.closed
    env.close()


def test_garbage_collection_releases_an_unclosed_engine():
    env = agentgym.make(ENV_ID, data_path=FIXTURES)
    env.reset(options=OPTIONS)
    engine = env.unwrapped._engine
    pooled = len(backend._free_libraries)
    del env
    gc.collect()
    assert engine.closed and len(backend._free_libraries) == pooled + 1


def test_a_killed_process_leaves_no_files(tmp_path):
    """The library copy is deleted as soon as it is loaded: a process killed mid-episode leaves no trace."""
    code = (
        "import os, signal, agentgym\n"
        "from agentgym.environments.alfworld.registration import register_alfworld_envs\n"
        "register_alfworld_envs()\n"
        f"env = agentgym.make({ENV_ID!r}, data_path={str(FIXTURES)!r})\n"
        f"env.reset(options={OPTIONS!r})\n"
        "print(os.listdir(os.environ['TMPDIR']), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TMPDIR": str(scratch)},
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    assert result.stdout.decode().strip() == "[]" and list(scratch.iterdir()) == []
