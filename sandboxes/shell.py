"""A persistent bash session driven over any duplex byte stream.

The same protocol serves every backend: the backend supplies a `ShellTransport` (a subprocess's pipes, a
container's attached socket) and `ShellSession` does the rest.

Protocol. `bash --noprofile --norc` reads commands from its stdin, non-interactively (no prompts, no echo,
no job control). Each command is sent as one line::

    builtin eval $'<the command, ANSI-C quoted>' </dev/null; builtin printf '\\n%s%s %d\\n' <marker halves> "$?"

- `eval` at the top level (not a subshell, not a function) is what makes `cd`, variables, functions and
  `declare` persist. Quoting the command keeps an unbalanced quote or a heredoc inside it: a syntax error
  fails that command (exit code 2) instead of swallowing the rest of the protocol.
- `</dev/null` gives the command an empty stdin, so nothing it runs can read the protocol's next lines.
- The marker is random per command and sent in two halves, so neither the command's output nor an echo of
  the line (a transport with a terminal) can contain it by accident. The newline printed before it is
  removed again, which recovers the output exactly whether or not it ended with a newline.

A command that runs past its timeout is interrupted through the transport (every process the shell started
is killed; the shell itself survives, with its state). If the marker still does not come (a builtin loop
such as `while :; do :; done` runs inside the shell itself), the shell is replaced and the output says so.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import select
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from agentgym.sandboxes.base import (
    DEFAULT_OUTPUT_LIMIT,
    TRUNCATION_MARKER,
    ExecResult,
    SandboxDead,
    SandboxError,
    Shell,
    truncate_output,
)

#: The command a transport should start. Where the shell would not lead its own session (so that
#: `KILL_CHILDREN_SH` can find what it started by session id), prefix it with `setsid -w`.
SHELL_COMMAND = ["bash", "--noprofile", "--norc"]

#: POSIX sh that kills every process a shell started, except the shell: `sh -c KILL_CHILDREN_SH sh PID`,
#: run where PID is visible (inside the container). Targets are the shell's descendants and every member
#: of the session it leads (orphans of a killed pipeline keep the session id). Targets are stopped first,
#: round after round until no new ones appear, so a fork bomb cannot outrun the kill, then all are killed.
KILL_CHILDREN_SH = r"""
s=$1; me=$$
snap() {
  for f in /proc/[0-9]*/stat; do
    IFS= read -r l < "$f" 2>/dev/null || continue
    p=${f#/proc/}; p=${p%/stat}; r=${l##*) }
    set -- $r
    echo "$p $2 $4"
  done
}
found=" "
round=0
while [ $round -lt 8 ]; do
  round=$((round + 1)); tbl=$(snap); new=""; changed=1
  while [ $changed = 1 ]; do
    changed=0
    while read -r p pp sid; do
      [ "$p" = "$s" ] && continue; [ "$p" = "$me" ] && continue
      case "$found" in *" $p "*) continue ;; esac
      hit=0; [ "$sid" = "$s" ] && hit=1; [ "$pp" = "$s" ] && hit=1
      case "$found" in *" $pp "*) hit=1 ;; esac
      [ $hit = 1 ] && { found="$found$p "; new="$new $p"; changed=1; }
    done <<EOF
$tbl
EOF
  done
  [ -z "$new" ] && break
  kill -STOP $new 2>/dev/null
done
[ "$found" != " " ] && kill -KILL $found 2>/dev/null
exit 0
"""


@runtime_checkable
class ShellTransport(Protocol):
    """A duplex byte stream to a running `SHELL_COMMAND`, with the few controls the session needs."""

    def write(self, data: bytes) -> None:
        """Send bytes to the shell's stdin; raises OSError when the shell is gone."""

    def read(self, timeout: float) -> bytes:
        """Bytes from the shell's stdout (stderr merged), waiting at most `timeout` seconds. Returns b""
        when nothing came in time or the stream ended; after the end `alive` is False."""

    def interrupt(self, shell_pid: int) -> None:
        """Kill every process the shell started, but not the shell. `shell_pid` is the shell's pid as the
        shell itself sees it (`$$`, inside the sandbox's pid namespace)."""

    @property
    def alive(self) -> bool: ...

    def close(self) -> None:
        """Stop the shell and everything it started; idempotent."""


# A transport may also expose `returncode: int | None` (the shell's exit status once it has ended).


class OutputBuffer:
    """Collects a byte stream of any length in bounded memory: the first and last `limit` bytes, and the
    count of what came between. `text()` renders it like `truncate_output`."""

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT):
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > 2 * self.limit:  # trim in batches, not on every small chunk
                del self.tail[: len(self.tail) - self.limit]

    def ends_with_newline(self) -> bool:
        return (self.tail or self.head).endswith(b"\n")

    def text(self) -> tuple[str, bool]:
        """The output, cut to `limit` characters with the truncation marker; and whether it was cut."""
        kept = len(self.head) + len(self.tail)
        if kept == self.total:
            return truncate_output(bytes(self.head + self.tail).decode("utf-8", "replace"), self.limit)
        head = self.head.decode("utf-8", "replace")
        tail = self.tail[-self.limit :].decode("utf-8", "replace")
        total = len(head) + len(tail) + (self.total - len(self.head) - len(self.tail[-self.limit :]))
        keep_head = self.limit // 2
        keep_tail = self.limit - keep_head
        marker = TRUNCATION_MARKER.format(dropped=total - self.limit, total=total)
        return head[:keep_head] + marker + tail[-keep_tail:], True


def bash_quote(text: str) -> str:
    """`text` as a bash ANSI-C string (`$'...'`): one line whatever it contains, bytes preserved."""
    if "\0" in text:
        raise ValueError("a shell command cannot contain a NUL character")
    out = []
    for b in text.encode("utf-8", "surrogateescape"):
        if b == 0x5C:
            out.append("\\\\")
        elif b == 0x27:
            out.append("\\'")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "$'" + "".join(out) + "'"


class ShellSession(Shell):
    """A long-lived bash over a `ShellTransport`; see the module docstring for the protocol.

    Args:
        transport: a started transport, or a zero-argument callable that starts one. Only with a callable
            can the session replace a shell that died or could not be interrupted.
        output_limit: characters of output kept per command (head and tail, with a marker between).
        start_timeout: seconds to wait for a new shell to answer.
        interrupt_grace: seconds a timed-out command gets to stop after its processes are killed, before
            the shell is replaced.
    """

    def __init__(
        self,
        transport: ShellTransport | Callable[[], ShellTransport],
        *,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        start_timeout: float = 30.0,
        interrupt_grace: float = 2.0,
    ):
        if output_limit <= 0:
            raise ValueError(f"output_limit must be a positive number of characters, got {output_limit!r}")
        if isinstance(transport, ShellTransport):
            self._factory: Callable[[], ShellTransport] | None = None
            first: ShellTransport | None = transport
        elif callable(transport):
            self._factory = transport
            first = None
        else:
            raise TypeError(
                f"transport must be a ShellTransport or a callable returning one, got {type(transport)!r}"
            )
        self.output_limit = output_limit
        self.start_timeout = start_timeout
        self.interrupt_grace = interrupt_grace
        self._lock = threading.RLock()
        self._transport: ShellTransport | None = None
        self._pending = b""  # bytes that arrived after the last marker (a background job's output)
        self._closed = False
        self._note = ""  # said in the next command's output (why the shell was replaced)
        self.pid: int | None = None  # the shell's pid inside the sandbox
        self.restarts = 0
        self._start(first)

    # ----- lifecycle -----------------------------------------------------------------------------------
    def _start(self, transport: ShellTransport | None = None) -> None:
        if transport is None:
            if self._factory is None:
                raise SandboxDead("the shell is gone and this session was given no way to start another")
            transport = self._factory()
        self._transport = transport
        self._pending = b""
        marker = _new_marker()
        init = (
            "export PS1='' PS2='' PS4='+ '; unset PROMPT_COMMAND HISTFILE; set +o history +m; exec 2>&1; "
            + _marker_printf(marker, "$$")
        )
        try:
            transport.write(init.encode())
        except OSError as e:
            transport.close()
            raise SandboxDead(f"the shell did not start: writing to it failed ({e})") from e
        found, out, _ = self._read_until(marker, time.monotonic() + self.start_timeout, OutputBuffer(4096))
        if found is None:
            transport.close()
            text = out.text()[0].strip()
            raise SandboxDead(
                f"the shell did not answer within {self.start_timeout:g}s: {text or 'no output'}"
            )
        self.pid = found

    def _restart(self, reason: str) -> None:
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        self.restarts += 1
        self._start()
        self._note += f"[shell restarted: {reason}; working directory, variables and functions were reset]\n"

    @property
    def alive(self) -> bool:
        return not self._closed and self._transport is not None and self._transport.alive

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- commands --------------------------------------------------------------------------------------
    def run(self, cmd: str, timeout: float | None = 60.0) -> ExecResult:
        """Run `cmd` in the shell; its exit code is `exit_code`, or None with `timed_out` past `timeout`."""
        if not isinstance(cmd, str):
            raise TypeError(f"cmd must be a str, got {type(cmd)!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive seconds or None, got {timeout!r}")
        line = None
        with self._lock:
            if self._closed:
                raise SandboxError("the shell is closed")
            if self._transport is None or not self._transport.alive:
                self._restart("the previous shell had exited")
            marker = _new_marker()
            line = f"builtin eval {bash_quote(cmd)} </dev/null; {_marker_printf(marker, '$?')}"
            start = time.monotonic()
            try:
                self._transport.write(line.encode())
            except OSError:
                self._restart("the previous shell had exited")
                self._transport.write(line.encode())
            deadline = None if timeout is None else start + timeout
            out = OutputBuffer(self.output_limit)
            code, out, ended = self._read_until(marker, deadline, out)
            timed_out = False
            if code is None and not ended:
                timed_out = True
                self._interrupt(marker, out)
            elif code is None and ended:
                rc = getattr(self._transport, "returncode", None)
                code = rc
                sep = "\n" if out.total and not out.ends_with_newline() else ""
                out.feed(f"{sep}[the shell exited{'' if rc is None else f' with code {rc}'}; ".encode())
                then = (
                    "a new one starts with the next command"
                    if self._factory
                    else "this session cannot start another"
                )
                out.feed(f"{then}]\n".encode())
                self._transport.close()
                self._transport = None
            text, truncated = out.text()
            if self._note:
                text, self._note = self._note + text, ""
            return ExecResult(
                output=text,
                exit_code=code,
                timed_out=timed_out,
                seconds=time.monotonic() - start,
                truncated=truncated,
            )

    def _interrupt(self, marker: str, out: OutputBuffer) -> None:
        """Kill what the timed-out command started and wait for its marker; replace the shell if it never
        comes. The output gathered meanwhile joins `out`."""
        assert self._transport is not None and self.pid is not None
        end = time.monotonic() + self.interrupt_grace
        while True:
            try:
                self._transport.interrupt(self.pid)
            except Exception:  # a failed kill must not lose the result; the restart below still applies
                break
            # Read after every kill, even one that itself outlasted the grace: its marker may be waiting.
            found, out, ended = self._read_until(marker, time.monotonic() + 0.25, out)
            if found is not None:
                return
            if ended or time.monotonic() >= end:
                break
        self._restart("the timed-out command could not be interrupted")

    def _read_until(
        self, marker: str, deadline: float | None, out: OutputBuffer
    ) -> tuple[int | None, OutputBuffer, bool]:
        """Read into `out` until `marker`'s line; returns (its number, out, whether the stream ended)."""
        assert self._transport is not None
        pattern = re.compile(rb"\n" + marker.encode() + rb" (-?\d+)\n")
        keep = len(marker) + 16  # a marker line split across reads must stay searchable
        data, self._pending = self._pending, b""
        while True:
            m = pattern.search(data)
            if m:
                out.feed(data[: m.start()])
                self._pending = data[m.end() :]
                return int(m.group(1)), out, False
            if len(data) > keep:
                out.feed(data[:-keep])
                data = data[-keep:]
            if deadline is None:
                wait = 1.0
            else:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    self._pending = data
                    return None, out, False
            chunk = self._transport.read(min(wait, 1.0))
            if chunk:
                data += chunk
            elif not self._transport.alive:
                out.feed(data)
                return None, out, True


def _new_marker() -> str:
    return f"__AGENTGYM_{secrets.token_hex(12)}__"


def _marker_printf(marker: str, value: str) -> str:
    half = len(marker) // 2
    return f"builtin printf '\\n%s%s %d\\n' {marker[:half]} {marker[half:]} \"{value}\"\n"


class ProcessTransport:
    """A `ShellTransport` over a local subprocess's pipes (stdout with stderr merged into it).

    `interrupt` is the backend's way to kill what the shell started, given the shell's pid as the shell
    sees it. `close` kills the subprocess's process group, so start it with `start_new_session=True`.
    """

    def __init__(self, proc: subprocess.Popen, interrupt: Callable[[int], None]):
        if proc.stdin is None or proc.stdout is None:
            raise ValueError("the shell's process needs stdin=PIPE and stdout=PIPE")
        self.proc = proc
        self._interrupt = interrupt
        self._fd = proc.stdout.fileno()
        self._eof = False

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read(self, timeout: float) -> bytes:
        if self._eof:
            return b""
        try:
            ready, _, _ = select.select([self._fd], [], [], max(timeout, 0))
        except (OSError, ValueError):
            self._eof = True
            return b""
        if not ready:
            return b""
        data = os.read(self._fd, 1 << 16)
        if not data:
            self._eof = True
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1)
        return data

    def interrupt(self, shell_pid: int) -> None:
        self._interrupt(shell_pid)

    @property
    def alive(self) -> bool:
        return not self._eof and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._eof = True
