"""The persistent shell protocol, over a plain local bash (the same protocol every backend uses)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

import pytest

from agentgym.sandboxes.base import SandboxDead, SandboxError
from agentgym.sandboxes.shell import (
    KILL_CHILDREN_SH,
    SHELL_COMMAND,
    OutputBuffer,
    ProcessTransport,
    ShellSession,
    bash_quote,
)


def _kill_children(pid: int) -> None:
    subprocess.run(["sh", "-c", KILL_CHILDREN_SH, "sh", str(pid)])


def _start(kill: Callable[[int], None] = _kill_children) -> ProcessTransport:
    proc = subprocess.Popen(
        SHELL_COMMAND,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # The in-sandbox kill script, run on the host: the shell's pid is the same on both sides here.
    return ProcessTransport(proc, kill)


@pytest.fixture
def shell():
    with ShellSession(_start, output_limit=2000, interrupt_grace=2.0) as s:
        yield s


def test_state_persists_between_commands(shell, tmp_path):
    assert shell.run(f"cd {tmp_path} && export FOO=bar; greet() {{ echo hi $1; }}; declare -A m=([k]=v)").ok
    r = shell.run("pwd; echo $FOO; greet you; echo ${m[k]}")
    assert r.output == f"{tmp_path}\nbar\nhi you\nv\n"
    assert r.exit_code == 0


def test_exit_codes_and_output_without_trailing_newline(shell):
    assert shell.run("printf abc").output == "abc"
    assert shell.run("printf 'abc\\n\\n'").output == "abc\n\n"
    assert shell.run("false").exit_code == 1
    assert shell.run("(exit 42)").exit_code == 42
    assert shell.run("ls /definitely/missing").output.startswith("ls:")  # stderr is captured too


def test_marker_lookalikes_stdin_readers_and_syntax_errors_keep_the_protocol(shell):
    r = shell.run(
        "echo '__AGENTGYM_0123456789abcdef01234567__ 0'; printf '\\n__AGENTGYM_x__ 0\\n'; exit_code=3"
    )
    assert r.exit_code == 0 and "__AGENTGYM_x__ 0" in r.output
    assert shell.run("cat; read line; echo read=$?").output == "read=1\n"  # stdin is empty
    r = shell.run("echo 'unbalanced")
    assert r.exit_code == 2
    assert shell.run("echo fine").output == "fine\n"


def test_multiline_commands_and_heredocs(shell):
    r = shell.run("cat <<'EOF'\nline $1\n  two\nEOF\nfor i in 1 2; do\n  echo $i\ndone")
    assert r.output == "line $1\n  two\n1\n2\n"
    r = shell.run("""printf '%s\\n' 'é 日本 \\ "q" $HOME' "it's" """)
    assert r.output == 'é 日本 \\ "q" $HOME\nit\'s\n'


def test_timeout_interrupts_the_command_and_keeps_the_shell(shell):
    shell.run("X=kept; cd /")
    r = shell.run("echo started; sleep 30; sleep 30", timeout=0.5)
    assert r.timed_out and r.exit_code is None
    assert "started" in r.output
    r = shell.run("echo $X; pwd")
    assert r.output == "kept\n/\n"
    assert shell.restarts == 0


def test_a_kill_slower_than_the_grace_still_keeps_the_shell():
    def slow_kill(pid: int) -> None:
        _kill_children(pid)
        time.sleep(0.6)  # the kill worked, but took past the grace (a busy host, a slow `docker exec`)

    with ShellSession(lambda: _start(slow_kill), interrupt_grace=0.3) as s:
        s.run("X=kept")
        r = s.run("echo started; sleep 30", timeout=0.3)
        assert r.timed_out and "started" in r.output and "restarted" not in r.output
        assert s.run("echo $X").output == "kept\n" and s.restarts == 0


def test_builtin_loop_that_cannot_be_interrupted_restarts_the_shell(shell):
    shell.run("X=lost")
    r = shell.run("while :; do :; done", timeout=0.3)
    assert r.timed_out and "shell restarted" in r.output
    assert shell.run("echo ${X:-fresh}").output == "fresh\n"


def test_exit_reports_its_code_and_next_command_gets_a_new_shell(shell):
    r = shell.run("exit 7")
    assert r.exit_code == 7 and "shell exited" in r.output and "a new one starts" in r.output
    r = shell.run("echo again")
    assert r.ok and r.output.endswith("again\n") and "shell restarted" in r.output


def test_output_flood_is_capped(shell):
    r = shell.run("yes abcdefgh | head -c 3000000; echo; echo END")
    assert r.truncated and r.exit_code == 0
    assert len(r.output) < 2200 and "output truncated" in r.output and r.output.endswith("END\n")


def test_background_job_does_not_break_the_protocol(shell, tmp_path):
    go = tmp_path / "go"  # the job speaks only once the next command has started, however slow the host
    assert shell.run(f"(while [ ! -e {go} ]; do sleep 0.01; done; echo late) & echo now").output == "now\n"
    assert shell.run(f"touch {go}; sleep 0.4; echo next").output.endswith("next\n")


def _running_in_session(sid: int) -> list[int]:
    """Live (not zombie) processes of session `sid`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[3] == str(sid) and fields[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def test_kill_script_spares_the_shell_and_gets_orphans():
    with ShellSession(_start) as s:
        r = s.run("(sleep 300 & sleep 301 &) ; sleep 302 &\necho $!")
        assert r.ok
        assert len(_running_in_session(s.pid)) >= 4  # the shell and three sleeps
        subprocess.run(["sh", "-c", KILL_CHILDREN_SH, "sh", str(s.pid)], check=True)
        deadline = time.monotonic() + 10  # SIGKILLed processes take a moment to become zombies
        while _running_in_session(s.pid) != [s.pid] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _running_in_session(s.pid) == [s.pid]
        assert s.run("echo alive").output.endswith("alive\n")


def test_closed_shell_refuses_and_dead_transport_without_factory_is_reported():
    s = ShellSession(_start())
    s.close()
    s.close()
    with pytest.raises(SandboxError, match="closed"):
        s.run("true")
    # the shell dies during a command: that command's result says so, and the next one is refused
    s = ShellSession(_start())
    r = s.run("kill -9 $$")
    assert "shell exited" in r.output and "cannot start another" in r.output
    with pytest.raises(SandboxDead, match="no way to start another"):
        s.run("true")
    s.close()
    # the shell dies between commands: the next command is refused, not run in a shell that is gone
    s = ShellSession(_start())
    os.kill(s.pid, 9)
    deadline = time.monotonic() + 10
    while s.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not s.alive
    with pytest.raises(SandboxDead, match="no way to start another"):
        s.run("true")
    s.close()


def test_output_buffer_keeps_head_and_tail():
    buf = OutputBuffer(100)
    for i in range(1000):
        buf.feed(f"{i:05d}\n".encode())
    text, cut = buf.text()
    assert cut and text.startswith("00000\n") and text.endswith("00999\n")
    assert "5900 of 6000 characters dropped" in text


def test_bash_quote_rejects_nul():
    with pytest.raises(ValueError, match="NUL"):
        bash_quote("a\0b")
