"""Where environments run during a rollout: an `EnvBackend` keeps every environment call off the event loop.

The engine addresses environments by episode number: `reset(episode, seed, options)` opens an episode,
`step(episode, action)` plays it, `release(episode)` ends it. Environment instances are reused across
episodes (an episode starts with `reset`), so an expensive constructor runs once per instance, not once
per episode. Failures of an environment, or of the process hosting it, raise `EnvironmentCrashedError`.

- `ProcessBackend` (`workers >= 1`, the default): worker processes, each a fresh interpreter (as with
  multiprocessing's `spawn`: the parent runs an event loop and threads, which `fork` would copy half-way),
  each hosting many environments. Requests `(request id, episode, method, args)` and answers travel over
  a socket pair as length-prefixed pickles; the event loop reads answers through an asyncio transport, so
  it never blocks on a worker. A worker that dies fails the episodes it hosted and is replaced. Workers
  ignore Ctrl-C (the parent shuts them down, closing their environments) and exit on their own when the
  parent dies (end of file on the socket, and a parent-pid watchdog for a worker stuck in a step).
- `ThreadBackend` (`workers=0`): environments in a thread pool of this process. Only steps that release
  the GIL (I/O, subprocesses, C code) run in parallel; handy for debugging and for envs that cannot be
  pickled or imported in a fresh process.
- `InlineBackend` (`workers=0, threads=0`): environments stepped on the event loop's own thread. For fast
  pure-Python environments, whose steps the GIL serialises anyway and for which handing each call to a
  thread and back costs more than the call; a slow step holds up every other episode meanwhile.

A Ray backend would implement the same methods with actors; `EnvFactory` is picklable for that.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
import weakref
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter
from typing import Any

import gymnasium

from agentgym.env import StepResult
from agentgym.errors import ConfigError, EnvironmentCrashedError, UnknownEnvironmentError, UnknownTaskError
from agentgym.registration import EnvCard, card, make, register_card

logger = logging.getLogger(__name__)

#: The host times each env call where it runs and adds the seconds to `info` under this key, so that a
#: turn's env time is the environment's own, not time spent queued behind other episodes in a worker.
TIMING_KEY = "env_call_seconds"
_HEADER = struct.Struct("!Q")  # frame = 8-byte big-endian length + pickle
_PICKLE = pickle.HIGHEST_PROTOCOL


class BackendError(EnvironmentCrashedError):
    """The backend cannot run environments at all (its workers die as they start); the run stops."""


class EnvFactory:
    """Builds the environments of a run: `agentgym.make(env_id, **env_kwargs)`, in any process.

    It carries the environment's card, so an id registered at run time (in a test, a notebook or a script)
    is registered again in a fresh worker process, where only the built-in ids exist. Its entry point
    must be importable there.
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None):
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.card: EnvCard = card(env_id)  # an unknown id fails here, in the caller's process

    def __call__(self) -> gymnasium.Env:
        try:
            card(self.env_id)
        except UnknownEnvironmentError:
            register_card(self.card)
        return make(self.env_id, **self.env_kwargs)

    def __repr__(self) -> str:
        return f"EnvFactory({self.env_id!r}, {self.env_kwargs!r})"


class EnvHost:
    """The environments of one process: one per episode in flight, idle ones kept for the next episode.

    An environment whose method raised is closed and dropped, never reused.
    """

    def __init__(self, factory: EnvFactory):
        self.factory = factory
        self._idle: list[gymnasium.Env] = []
        self._active: dict[int, gymnasium.Env] = {}
        self._lock = threading.Lock()  # the thread backend calls in from several threads

    def _take(self) -> gymnasium.Env:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self.factory()

    def _put_back(self, env: gymnasium.Env) -> None:
        with self._lock:
            self._idle.append(env)

    def task_ids(self, episode: int, split: str) -> list[str]:
        env = self._take()
        try:
            splits = env.unwrapped.splits()
            if split not in splits:
                raise UnknownTaskError(
                    f"split {split!r} does not exist; {self.factory.env_id} has {list(splits)}"
                )
            return list(env.unwrapped.task_set(split).ids)
        finally:
            self._put_back(env)

    def reset(self, episode: int, seed: int | None, options: dict[str, Any] | None) -> tuple[str, dict]:
        with self._lock:
            env = self._active.get(episode)
        if env is None:
            env = self._take()
            with self._lock:
                self._active[episode] = env
        started = perf_counter()
        try:
            observation, info = env.reset(seed=seed, options=options)
        except BaseException:
            self.release(episode, discard=True)
            raise
        info[TIMING_KEY] = perf_counter() - started
        return str(observation), info

    def step(self, episode: int, action: str) -> StepResult:
        with self._lock:
            env = self._active.get(episode)
        if env is None:
            raise EnvironmentCrashedError(f"episode {episode} has no environment (step before reset?)")
        started = perf_counter()
        try:
            observation, reward, terminated, truncated, info = env.step(action)
        except BaseException:
            self.release(episode, discard=True)
            raise
        info[TIMING_KEY] = perf_counter() - started
        return str(observation), float(reward), bool(terminated), bool(truncated), info

    def release(self, episode: int, discard: bool = False) -> None:
        with self._lock:
            env = self._active.pop(episode, None)
        if env is None:
            return
        if discard:
            _close_quietly(env)
        else:
            self._put_back(env)

    def close(self) -> None:
        with self._lock:
            envs = [*self._idle, *self._active.values()]
            self._idle.clear()
            self._active.clear()
        for env in envs:
            _close_quietly(env)


def _close_quietly(env: gymnasium.Env) -> None:
    try:
        env.close()
    except Exception:  # a broken environment must not stop the others from closing
        logger.warning("closing %r failed", env, exc_info=True)


def _environment_failure(method: str, type_name: str, message: str) -> EnvironmentCrashedError:
    return EnvironmentCrashedError(f"the environment's {method}() raised {type_name}: {message}")


class EnvBackend(abc.ABC):
    """Runs a rollout's environments off the event loop, addressed by episode number (see module doc).

    Use as an async context manager, or call `start()` and `aclose()`. `release` never blocks, so cleanup
    code (also on cancellation) can call it; `discard=True` closes the environment instead of reusing it.
    """

    def __init__(self, factory: EnvFactory):
        self.factory = factory

    @property
    def env_id(self) -> str:
        return self.factory.env_id

    @abc.abstractmethod
    async def start(self) -> None:
        """Acquire threads or processes."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close every environment and release threads or processes. Safe to call twice."""

    @abc.abstractmethod
    async def task_ids(self, split: str) -> list[str]:
        """The task ids of `split`, in the environment's order."""

    @abc.abstractmethod
    async def reset(self, episode: int, seed: int | None, options: dict[str, Any] | None) -> tuple[str, dict]:
        """Start `episode` on an environment of its own; returns (observation, info)."""

    @abc.abstractmethod
    async def step(self, episode: int, action: str) -> StepResult:
        """Play `action` in `episode`; returns (observation, reward, terminated, truncated, info)."""

    @abc.abstractmethod
    def release(self, episode: int, *, discard: bool = False) -> None:
        """End `episode`: its environment goes back to the pool (or is closed, with `discard`)."""

    async def __aenter__(self) -> EnvBackend:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.factory!r})"


def make_backend(
    env_id: str, env_kwargs: dict[str, Any] | None = None, *, workers: int = 1, threads: int = 8
):
    """`ProcessBackend` with `workers` processes; if `workers == 0`, a `ThreadBackend` of `threads` threads, or
    an `InlineBackend` if `threads == 0` too."""
    factory = EnvFactory(env_id, env_kwargs)
    if workers == 0:
        return InlineBackend(factory) if threads == 0 else ThreadBackend(factory, threads=threads)
    return ProcessBackend(factory, workers=workers)


# ---------------------------------------------------------------------------------------------------------
# Threads


class ThreadBackend(EnvBackend):
    """Environments in a pool of `threads` threads of this process (one call at a time per episode)."""

    def __init__(self, factory: EnvFactory, threads: int = 8, *, shutdown_timeout: float = 10.0):
        super().__init__(factory)
        self.threads = threads
        self.shutdown_timeout = shutdown_timeout
        self._host = EnvHost(factory)
        self._pool: ThreadPoolExecutor | None = None
        self._last: dict[int, ThreadFuture] = {}  # each episode's latest call, so release waits for it

    async def start(self) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="agentgym-env")

    async def _call(self, episode: int, method: str, *args: Any) -> Any:
        if self._pool is None:
            raise RuntimeError(
                "ThreadBackend is not started; use `async with backend:` or `await backend.start()`"
            )
        future = self._pool.submit(getattr(self._host, method), episode, *args)
        self._last[episode] = future
        return await asyncio.wrap_future(future)

    async def task_ids(self, split: str) -> list[str]:
        return await self._call(-1, "task_ids", split)

    async def reset(self, episode: int, seed: int | None, options: dict[str, Any] | None) -> tuple[str, dict]:
        try:
            return await self._call(episode, "reset", seed, options)
        except EnvironmentCrashedError:
            raise
        except Exception as exc:
            raise _environment_failure("reset", type(exc).__name__, str(exc)) from exc

    async def step(self, episode: int, action: str) -> StepResult:
        try:
            return await self._call(episode, "step", action)
        except EnvironmentCrashedError:
            raise
        except Exception as exc:
            raise _environment_failure("step", type(exc).__name__, str(exc)) from exc

    def release(self, episode: int, *, discard: bool = False) -> None:
        last = self._last.pop(episode, None)
        if last is not None and not last.done():
            # A cancelled caller leaves its call running in a thread: release when it returns.
            last.add_done_callback(lambda _: self._host.release(episode, discard))
        elif discard and self._pool is not None:
            with contextlib.suppress(RuntimeError):  # pool already shut down: close right here
                self._pool.submit(self._host.release, episode, True)
                return
            self._host.release(episode, True)
        else:
            self._host.release(episode, discard)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            shutdown = asyncio.ensure_future(asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(shutdown), self.shutdown_timeout)
        self._host.close()
        self._last.clear()


class InlineBackend(ThreadBackend):
    """Environments called on the event loop's own thread, one call at a time (see the module docstring).
    Failures are reported as `ThreadBackend` reports them; there is no pool, so `threads` is 0."""

    def __init__(self, factory: EnvFactory):
        super().__init__(factory, threads=0)
        self._started = False

    async def start(self) -> None:
        self._started = True

    async def _call(self, episode: int, method: str, *args: Any) -> Any:
        if not self._started:
            raise RuntimeError(
                "InlineBackend is not started; use `async with backend:` or `await backend.start()`"
            )
        return getattr(self._host, method)(episode, *args)

    async def aclose(self) -> None:
        self._started = False
        await super().aclose()


# ---------------------------------------------------------------------------------------------------------
# Processes
#
# A worker is a fresh interpreter (`python -c`, like multiprocessing's spawn but without re-importing the
# parent's __main__: scripts need no `if __name__ == "__main__"` guard, and stdin or notebook code works).
# It gets one end of a socket pair. Frames are an 8-byte length and a pickle. The parent's first frame
# carries `sys.path` and the pickled factory. Every answer is (request id, ok, pickled payload): the
# payload is pickled on its own so that one the parent cannot load fails that request, not the worker.
# The first answer (request id None) says the worker is ready (payload: its pid) or could not load the
# factory (payload: the error). Requests are (request id, episode, method, args); a request id of None
# (release, shutdown) expects no answer.

_WORKER_COMMAND = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"  # Ctrl-C hits the process group
    "import sys; from agentgym.rollout.workers import _worker_main; _worker_main(int(sys.argv[1]))"
)


def _read_frame(reader: Any) -> bytes | None:
    header = reader.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None  # end of file
    size = _HEADER.unpack(header)[0]
    frame = reader.read(size)
    return frame if len(frame) == size else None  # cut short: the parent died mid-write


def _worker_main(fd: int) -> None:
    """A worker process: answer requests until told to stop or the parent goes away."""
    sock = socket.socket(fileno=fd)
    reader = sock.makefile("rb")

    def send(request_id: int | None, ok: bool, payload: Any, method: str = "") -> None:
        # The payload is pickled on its own, so one the parent cannot load fails that request only.
        try:
            blob = pickle.dumps(payload, protocol=_PICKLE)
        except Exception as exc:  # an info value that cannot be pickled
            ok, blob = (
                False,
                pickle.dumps(_describe(exc, f"its {method}() result cannot be pickled"), _PICKLE),
            )
        data = pickle.dumps((request_id, ok, blob), protocol=_PICKLE)
        sock.sendall(_HEADER.pack(len(data)) + data)

    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    first = _read_frame(reader)
    if first is None:
        return
    try:
        sys_path, pickled_factory = pickle.loads(first)
        sys.path[:] = sys_path  # import what the parent can import (its entry points, test modules)
        host = EnvHost(pickle.loads(pickled_factory))
    except Exception as exc:
        send(None, False, _describe(exc, "cannot load the environment factory in a worker process"))
        return
    try:
        send(None, True, os.getpid())
        while (frame := _read_frame(reader)) is not None:
            request_id, episode, method, args = pickle.loads(frame)
            if method == "shutdown":
                return
            try:
                ok, payload = True, getattr(host, method)(episode, *args)
            except Exception as exc:
                ok, payload = False, _describe(exc)
            if request_id is not None:
                send(request_id, ok, payload, method)
    except (BrokenPipeError, ConnectionResetError):
        return  # the parent is gone
    finally:
        host.close()


def _exit_when_orphaned(parent: int) -> None:
    """End of file on the socket ends an idle worker; this ends one stuck in a step after its parent died."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _describe(exc: BaseException, context: str = "") -> dict[str, Any]:
    try:
        pickled = pickle.dumps(exc, protocol=_PICKLE)
        pickle.loads(pickled)
    except Exception:
        pickled = None
    return {
        "type": type(exc).__name__,
        "message": f"{context}: {exc}" if context else str(exc),
        "traceback": traceback.format_exc(),
        "pickled": pickled,
    }


def _remote_failure(method: str, error: dict[str, Any]) -> BaseException:
    try:
        original = pickle.loads(error["pickled"]) if error.get("pickled") else None
    except Exception:  # its class cannot be rebuilt in this process
        original = None
    if method == "task_ids" and original is not None:
        exc = original  # a bad split or a missing extra: the user's error, as the environment worded it
    else:
        exc = _environment_failure(method, error["type"], error["message"])
        exc.__cause__ = original
    exc.add_note("In the environment worker process:\n" + error.get("traceback", ""))
    return exc


def _exit_description(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Worker(asyncio.Protocol):
    """One worker process, and the parent's end of its socket (an asyncio protocol)."""

    def __init__(self, backend: ProcessBackend, slot: int, process: subprocess.Popen, sock: socket.socket):
        self.backend, self.slot, self.process, self.sock = backend, slot, process, sock
        self.pid = process.pid
        self.alive = True
        self.ready = False
        self.episodes: set[int] = set()
        self.pending: dict[int, tuple[asyncio.Future, str]] = {}
        self.transport: asyncio.Transport | None = None
        self._backlog: list[bytes] = []  # frames sent before the transport was connected
        self._buffer = bytearray()

    # ----- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        for frame in self._backlog:
            self.transport.write(frame)
        self._backlog.clear()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer)
            end = _HEADER.size + size
            if len(buffer) < end:
                break
            message = pickle.loads(buffer[_HEADER.size : end])
            del buffer[:end]
            self._dispatch(*message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        if self.backend._closing:
            error = EnvironmentCrashedError(f"environment worker {self.pid} was shut down")
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(0.5)  # it closed its socket by dying: reap it for its exit code
            error = EnvironmentCrashedError(
                f"environment worker {self.pid} died ({_exit_description(self.process.returncode)}) "
                f"while hosting {len(self.episodes)} episode(s)"
            )
        for future, _ in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()
        if not self.backend._closing:
            self.backend._worker_lost(self, error)

    # ----- requests ------------------------------------------------------------------------------
    def _dispatch(self, request_id: int | None, ok: bool, blob: bytes) -> None:
        try:
            payload = pickle.loads(blob)
        except Exception as exc:  # e.g. an info value whose class this process cannot import
            ok, payload = False, _describe(exc, "its result cannot be loaded in the engine's process")
        if request_id is None:  # the hello
            if ok:
                self.ready = True
                self.backend._startup_failures = 0
            else:
                self.backend._fail(BackendError(f"{payload['message']}\n{payload.get('traceback', '')}"))
            return
        entry = self.pending.pop(request_id, None)
        if entry is None:
            return
        future, method = entry
        if future.done():  # its caller was cancelled
            return
        if ok:
            future.set_result(payload)
        else:
            future.set_exception(_remote_failure(method, payload))

    def send(self, message: tuple) -> None:
        data = pickle.dumps(message, protocol=_PICKLE)
        frame = _HEADER.pack(len(data)) + data
        if self.transport is None:
            self._backlog.append(frame)
        else:
            self.transport.write(frame)

    def request(self, episode: int, method: str, args: tuple) -> asyncio.Future:
        if not self.alive:
            raise EnvironmentCrashedError(f"environment worker {self.pid} is gone (episode {episode})")
        request_id = next(self.backend._request_ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = (future, method)
        self.send((request_id, episode, method, args))
        return future

    def fail_pending(self, error: BaseException) -> None:
        for future, _ in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Make sure the process is gone (terminate, then kill) and the socket closed."""
        self.alive = False
        for end in (self.process.terminate, self.process.kill):
            if not self.running():
                break
            with contextlib.suppress(ProcessLookupError):
                end()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(2.0)
        if self.transport is not None:
            self.transport.abort()
        else:
            self.sock.close()


def _stop_processes(processes: list[subprocess.Popen]) -> None:
    """Finalizer of a ProcessBackend dropped without `aclose()` (or alive at interpreter exit)."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(OSError):
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(2.0)


class ProcessBackend(EnvBackend):
    """`workers` processes, each hosting the environments of the episodes assigned to it (least loaded
    first). A worker that dies is replaced; the episodes it hosted fail with `EnvironmentCrashedError`.
    """

    #: Consecutive workers that die before they are ready, after which the backend gives up.
    MAX_STARTUP_FAILURES = 3

    def __init__(self, factory: EnvFactory, workers: int = 1, *, shutdown_timeout: float = 5.0):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"ProcessBackend needs workers >= 1 (an int), got {workers!r}")
        super().__init__(factory)
        self.workers = workers
        self.shutdown_timeout = shutdown_timeout
        try:
            pickled_factory = pickle.dumps(factory, protocol=_PICKLE)
        except Exception as exc:
            raise ConfigError(
                f"the environment factory {factory!r} cannot be pickled for worker processes ({exc}); "
                "define it at module level, or run environments in threads with workers=0"
            ) from exc
        self._init_frame = pickle.dumps((list(sys.path), pickled_factory), protocol=_PICKLE)
        self._slots: list[_Worker | None] = [None] * workers
        self._episodes: dict[int, _Worker] = {}
        self._request_ids = itertools.count()
        self._connecting: set[asyncio.Task] = set()
        self._startup_failures = 0
        self._broken: BackendError | None = None
        self._closing = False
        self._started = False
        self._processes: list[subprocess.Popen] = []  # every worker ever started, for the finalizer
        weakref.finalize(self, _stop_processes, self._processes)

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [w.pid for w in self._slots if w is not None and w.alive]

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for slot in range(self.workers):
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        parent_end, child_end = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_COMMAND, str(child_end.fileno())],
                pass_fds=(child_end.fileno(),),  # POSIX; on Windows, use threads (workers=0)
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()  # the worker holds its own copy; ours would hide its death (no end of file)
        self._processes[:] = [p for p in self._processes if p.returncode is None]
        self._processes.append(process)
        worker = _Worker(self, slot, process, parent_end)
        self._slots[slot] = worker
        worker._backlog.append(_HEADER.pack(len(self._init_frame)) + self._init_frame)
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.create_connection(lambda: worker, sock=parent_end))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    def _worker_lost(self, worker: _Worker, error: EnvironmentCrashedError) -> None:
        if self._broken is not None:
            return
        if not worker.ready:
            self._startup_failures += 1
            if self._startup_failures >= self.MAX_STARTUP_FAILURES:
                self._fail(
                    BackendError(
                        f"{self._startup_failures} environment workers for {self.env_id} in a row died before "
                        f"they were ready (last: {error})"
                    )
                )
                return
        if self._slots[worker.slot] is worker:
            logger.warning("%s; starting a replacement", error)
            self._spawn(worker.slot)

    def _fail(self, error: BackendError) -> None:
        """No worker can run this environment: every call from now on raises `error`."""
        self._broken = error
        logger.error("%s", error)
        for worker in self._slots:
            if worker is not None:
                worker.fail_pending(error)

    def _check(self) -> None:
        if self._broken is not None:
            raise self._broken
        if not self._started or self._closing:
            raise RuntimeError(
                "ProcessBackend is not running; use `async with backend:` or `await backend.start()`"
            )

    def _least_loaded(self) -> _Worker:
        alive = [w for w in self._slots if w is not None and w.alive]
        if not alive:
            raise EnvironmentCrashedError(f"no environment worker is running for {self.env_id}")
        return min(alive, key=lambda w: len(w.episodes))

    async def task_ids(self, split: str) -> list[str]:
        self._check()
        return await self._least_loaded().request(-1, "task_ids", (split,))

    async def reset(self, episode: int, seed: int | None, options: dict[str, Any] | None) -> tuple[str, dict]:
        self._check()
        worker = self._episodes.get(episode)
        if worker is None:
            worker = self._least_loaded()
            self._episodes[episode] = worker
            worker.episodes.add(episode)
        return await worker.request(episode, "reset", (seed, options))

    async def step(self, episode: int, action: str) -> StepResult:
        self._check()
        worker = self._episodes.get(episode)
        if worker is None:
            raise EnvironmentCrashedError(f"episode {episode} has no environment (step before reset?)")
        return await worker.request(episode, "step", (action,))

    def release(self, episode: int, *, discard: bool = False) -> None:
        worker = self._episodes.pop(episode, None)
        if worker is None:
            return
        worker.episodes.discard(episode)
        if worker.alive and not self._closing:
            worker.send((None, episode, "release", (discard,)))

    async def aclose(self) -> None:
        if self._closing:
            return
        self._closing = True
        workers = [w for w in self._slots if w is not None]
        try:
            for task in list(self._connecting):
                task.cancel()
            for worker in workers:
                if worker.alive and worker.transport is not None:
                    worker.send((None, -1, "shutdown", ()))
            deadline = time.monotonic() + self.shutdown_timeout
            while any(w.running() for w in workers) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        finally:  # also when cancelled again while waiting: never leave a process behind
            for worker in workers:
                worker.stop()
            self._episodes.clear()
