"""What the ScienceWorld tests share: ids, skip marks, and process bookkeeping read from /proc."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

ENV_ID = "agentgym/ScienceWorld-v0"
#: Task types whose gold paths are short and quick to plan: the shared environment offers only
#: these, so that Gymnasium's env checker (which resets to tasks of its choosing) stays quick.
FAST_TYPES = (
    "find-living-thing",
    "find-non-living-thing",
    "find-plant",
    "find-animal",
    "chemistry-mix-paint-tertiary-color",
    "lifespan-longest-lived",
    "lifespan-shortest-lived",
    "lifespan-longest-lived-then-shortest-lived",
    "identify-life-stages-2",
)

needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
needs_java = pytest.mark.skipif(
    not (shutil.which("java") or os.environ.get("JAVA_HOME")), reason="ScienceWorld's engine needs Java"
)


def children(name: str = "java") -> set[int]:
    """Live processes named `name` whose parent is this process."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            comm, rest = fields[0].split("(", 1)[1], fields[1].split()
        except (OSError, IndexError):
            continue
        if comm == name and int(rest[1]) == os.getpid() and rest[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def os_threads(pid: int | str = "self") -> int:
    """Threads of a process, as the kernel counts them."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("Threads:")[1].split()[0])


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def python_threads() -> int:
    return threading.active_count()


def gone(pid: int, within: float = 15.0) -> bool:
    """Whether process `pid` has exited (a zombie counts: it runs nothing), waiting up to `within` s."""
    deadline = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
