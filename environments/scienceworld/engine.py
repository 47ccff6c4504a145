"""ScienceWorldEngine: one ScienceWorld simulator in its own JVM, owned by one Python process.

The `scienceworld` package's own wrapper starts its JVM through py4j's `launch_gateway`, which leaves two
reader threads per JVM in Python, a callback server we never use, and nothing that stops the JVM when
the owner is killed by a signal that skips Python's clean-up. Here the JVM is started directly, and every
way the owner can go ends it:

- `close()` (or garbage collection, or interpreter exit, through `weakref.finalize`) kills the JVM and
  reaps it;
- the JVM runs py4j's `GatewayServer --die-on-broken-pipe`, which exits when its stdin reaches end of
  file. Only the owner holds the other end of that pipe, so when the owner dies (SIGKILL included) the
  kernel closes it and the JVM exits. A process forked from the owner would inherit the pipe and keep the
  JVM alive; an at-fork hook closes the inherited copies in the child, which never owns the engine.

No Python thread is started: the JVM's stdout and stderr are read until the gateway port (and its auth
token: the gateway only answers this process) has been printed, then closed; the JVM's later prints
fail silently. The JVM itself starts ~17 threads with the serial collector, plus one per py4j connection
(one, as long as calls do not overlap).

The default JVM options make the engine deterministic. ScienceWorld seeds its random generator with the
variation number on every load, but its objects define `equals` without `hashCode`, so sets of them
iterate in identity-hash order, which HotSpot draws from a per-thread random sequence. The gold-path
planner depends on that order: with HotSpot's defaults, planning boil's variation 22 twice in one JVM
gives two different 174-step paths, and the first fails. `-XX:hashCode=2` makes every identity hash
equal, so the order follows the engine's own operations only (no cost to steps could be measured).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentgym.errors import AgentGymError, EnvironmentCrashedError, require

py4j_gateway = require("py4j.java_gateway", "scienceworld", "the ScienceWorld environment")
scienceworld_constants = require("scienceworld.constants", "scienceworld", "the ScienceWorld environment")

DEFAULT_JAVA_OPTIONS: tuple[str, ...] = (
    "-XX:+UseSerialGC",  # one collector thread, and a smaller heap footprint than G1
    "-Xmx1g",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:hashCode=2",  # deterministic object order (see the module docstring)
)
#: Seconds to wait for the JVM to print its port; it takes ~0.3 s on an idle machine.
START_TIMEOUT = 60.0
JAR_PATH = Path(scienceworld_constants.JAR_PATH)


class JavaNotFoundError(AgentGymError, FileNotFoundError):
    """No Java runtime: ScienceWorld's engine is a jar and needs one (Java 8 or newer)."""


class EngineStartError(EnvironmentCrashedError):
    """The JVM did not start, or did not open its gateway."""


def find_java(java: str | os.PathLike | None = None) -> str:
    """The java executable: `java` if given, else `$JAVA_HOME/bin/java`, else `java` on PATH."""
    if java is not None:
        path = shutil.which(os.fspath(java))
        if path is None:
            raise JavaNotFoundError(f"java={os.fspath(java)!r} is not an executable Java runtime")
        return path
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        path = shutil.which(os.path.join(java_home, "bin", "java"))
        if path is None:
            raise JavaNotFoundError(
                f"JAVA_HOME is {java_home!r} but it has no bin/java; ScienceWorld's engine needs a Java "
                "runtime (8 or newer): fix JAVA_HOME, unset it to use the java on PATH, or pass java=PATH"
            )
        return path
    path = shutil.which("java")
    if path is None:
        raise JavaNotFoundError(
            "Java was not found (no JAVA_HOME, no java on PATH); ScienceWorld's engine runs on the JVM: "
            "install a Java runtime 8 or newer (e.g. apt-get install openjdk-17-jre-headless), "
            "or pass java=PATH"
        )
    return path


class ScienceWorldEngine:
    """The ScienceWorld simulator (`scienceworld.runtime.pythonapi.PythonInterface`) in a JVM of its own.

    The JVM process starts at construction and boots while the caller does other work; the first call
    waits for it. One engine plays any number of tasks in turn (`load` replaces the world). It is not
    thread-safe: one call at a time.

    Args:
        java: the java executable (see :func:`find_java`).
        java_options: options for the JVM; the defaults make the engine deterministic.
        start_timeout: seconds to wait for the JVM's gateway.
    """

    def __init__(
        self,
        java: str | os.PathLike | None = None,
        java_options: Sequence[str] = DEFAULT_JAVA_OPTIONS,
        start_timeout: float = START_TIMEOUT,
    ):
        self.java = find_java(java)
        self.start_timeout = start_timeout
        classpath = os.pathsep.join([py4j_gateway.find_jar_path(), str(JAR_PATH)])
        self.command = [
            self.java,
            *java_options,
            "-cp",
            classpath,
            "py4j.GatewayServer",
            "--die-on-broken-pipe",
            "--enable-auth",
            "0",
        ]
        self._process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=JAR_PATH.parent,
            start_new_session=True,  # Ctrl-C in a terminal goes to Python, which closes the engine
        )
        self._owner_pid = os.getpid()
        self._gateway: Any = None
        self._server: Any = None
        self._join: Any = None
        self._resources: dict[str, Any] = {"process": self._process}
        self._finalizer = weakref.finalize(self, _release, self._resources, self._owner_pid)
        _LIVE_ENGINES.add(self)

    # ----- lifecycle ------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        """The JVM's process id."""
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._finalizer.alive and self._process.poll() is None

    def close(self) -> None:
        """Kill the JVM and reap it; safe to call repeatedly."""
        self._finalizer()

    def _connect(self) -> Any:
        """The simulator object in the JVM, connecting to the gateway on first use."""
        if self._server is not None:
            return self._server
        if not self._finalizer.alive:
            raise EnvironmentCrashedError("the ScienceWorld engine was closed")
        port, token = _read_gateway_address(self._process, self.start_timeout, self.command)
        for stream in (self._process.stdout, self._process.stderr):
            stream.close()  # the JVM's later prints go nowhere, and no thread has to drain them
        parameters = py4j_gateway.GatewayParameters(port=port, auth_token=token, auto_close=True)
        # Our own client, so that closing can mark it disconnected: Java objects collected later then do
        # not try to reach a JVM that is gone (py4j would log a connection error for each).
        self._resources["client"] = client = py4j_gateway.GatewayClient(gateway_parameters=parameters)
        self._gateway = py4j_gateway.JavaGateway(gateway_parameters=parameters)
        self._gateway.set_gateway_client(client)
        self._join = self._gateway.jvm.java.lang.String.join
        self._server = self._gateway.jvm.scienceworld.runtime.pythonapi.PythonInterface()
        return self._server

    @contextlib.contextmanager
    def _guard(self, what: str):
        """A dead JVM or a broken gateway becomes an EnvironmentCrashedError, and the engine is closed."""
        try:
            yield
        except py4j_gateway.Py4JError as exc:
            running = self._process.poll() is None
            try:  # a Java exception's text is fetched from the JVM: before closing it
                detail = str(exc)
            except Exception:
                detail = type(exc).__name__
            self.close()
            state = "was running" if running else f"had exited with code {self._process.returncode}"
            raise EnvironmentCrashedError(
                f"the ScienceWorld engine failed in {what} (its JVM, pid {self.pid}, {state}): {detail}"
            ) from exc

    def _call(self, method: str, *args: Any) -> Any:
        with self._guard(f"{method}{args!r}"):
            return getattr(self._connect(), method)(*args)

    def _call_joined(self, method: str, separator: str) -> list[str]:
        """A method returning a Java list, fetched as one joined string (one round trip, not one per item)."""
        with self._guard(method):
            joined = self._join(separator, getattr(self._connect(), method)())
        return joined.split(separator) if joined else []

    # ----- the simulator --------------------------------------------------------------------------
    def load(self, task_type: str, variation: int, simplifications: str = "", gold: bool = False) -> None:
        """Build a fresh world for the variation; `gold=True` also plans the gold path (seconds)."""
        error = self._call("load", task_type, int(variation), simplifications, bool(gold))
        if error:
            raise AgentGymError(f"ScienceWorld could not load {task_type!r} variation {variation}: {error}")

    def gold_actions(self) -> list[str]:
        """The gold path planned by the last `load(..., gold=True)`."""
        return self._call_joined("getGoldActionSequence", "\n")

    def step(self, command: str) -> str:
        return self._call("step", command)

    def score(self) -> float:
        """The task's score in [0, 1], or negative once the task has failed."""
        return float(self._call("getScore"))

    def completed(self) -> bool:
        return bool(self._call("getCompleted"))

    def task_description(self) -> str:
        return self._call("getTaskDescription")

    def valid_actions(self) -> list[str]:
        """Every action the engine accepts in the current state (computing it costs several steps)."""
        payload = json.loads(self._call("getValidActionObjectCombinationsJSON"))
        return list(dict.fromkeys(entry["action"] for entry in payload["validActions"]))

    def max_variations(self, task_type: str) -> int:
        return int(self._call("getTaskMaxVariations", task_type))

    def split_variations(self) -> dict[str, list[int]]:
        """The loaded task's own train/dev/test variations."""
        methods = {"train": "getVariationsTrain", "dev": "getVariationsDev", "test": "getVariationsTest"}
        splits = {}
        for split, method in methods.items():
            with self._guard(method):
                text = getattr(self._connect(), method)().toString()  # "[0, 1, 2]": one round trip
            splits[split] = [int(v) for v in text.strip("[]").split(",") if v.strip()]
        return splits

    def __repr__(self) -> str:
        state = "running" if self.alive else "closed"
        return f"<ScienceWorldEngine pid={self.pid} {state}>"


def _read_gateway_address(process: subprocess.Popen, timeout: float, command: list[str]) -> tuple[int, str]:
    """The port and auth token the gateway prints, on a line of digits and the line after it."""
    deadline = time.monotonic() + timeout
    out = process.stdout.fileno()
    received = b""
    while True:
        lines = received.decode(errors="replace").split("\n")
        port_at = next((i for i, line in enumerate(lines[:-1]) if line.strip().isdigit()), None)
        if port_at is not None and port_at + 2 < len(lines):  # the token's line is complete too
            return int(lines[port_at]), lines[port_at + 1].strip()
        remaining = deadline - time.monotonic()
        ready = remaining > 0 and select.select([out], [], [], remaining)[0]
        chunk = os.read(out, 4096) if ready else b""
        if not chunk:
            if not ready:
                process.kill()
            process.wait()
            errors = process.stderr.read().decode(errors="replace").strip()[-2000:]
            what = "exited" if ready else f"did not open its gateway within {timeout:g} s"
            raise EngineStartError(
                f"the ScienceWorld JVM {what} (exit code {process.returncode}); "
                f"command: {' '.join(command)}" + (f"\nits error output:\n{errors}" if errors else "")
            )
        received += chunk


def _release(resources: dict[str, Any], owner_pid: int) -> None:
    """Close the gateway's client, then kill and reap the JVM (only in the process that started it)."""
    if os.getpid() != owner_pid:
        return
    client, process = resources.pop("client", None), resources.pop("process", None)
    if client is not None:
        client.is_connected = False
        client.close()  # its sockets
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.kill()  # the world holds nothing worth a graceful exit
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


# ----- fork safety ------------------------------------------------------------------------------------
_LIVE_ENGINES: weakref.WeakSet[ScienceWorldEngine] = weakref.WeakSet()
#: Engines a forked child inherited: kept referenced so that collecting them never touches the sockets
#: the child shares with its parent (py4j shuts a connection's socket down when it is collected).
_INHERITED: list[ScienceWorldEngine] = []


def _disown_after_fork() -> None:
    """In a forked child: close its copies of the JVMs' stdin, so the JVMs still die with their owner."""
    for engine in list(_LIVE_ENGINES):
        engine._finalizer.detach()
        # dup2 closes the inherited pipe end and leaves the descriptor number valid (on /dev/null), so
        # nothing else can be closed by mistake when the file object is eventually closed.
        with contextlib.suppress(OSError, ValueError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, engine._process.stdin.fileno())
            os.close(null)
        _INHERITED.append(engine)
    _LIVE_ENGINES.clear()


os.register_at_fork(after_in_child=_disown_after_fork)
