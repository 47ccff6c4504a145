"""Checkpoint, restore, reset and diff a sandbox's working tree with git, as shell scripts run through the
sandbox's own `exec`, so every backend shares them.

How. A checkpoint is a commit on a private ref (`refs/agentgym/checkpoints/<name>`) whose tree is the whole
working tree (tracked and untracked files; ignored files are left out, as `git status` would), built with a
private index (`<git dir>/agentgym/index`) so that the task's own index, HEAD and branches are untouched.
Where the working directory is not inside a repository, one is created at the first checkpoint.

Restore is `git add -A` into the private index (cheap: stat information makes it a refresh) followed by
`git read-tree --reset -u <checkpoint>`: git rewrites only the files that differ and deletes files that
did not exist at the checkpoint, so a reset costs milliseconds for a typical repository. No stash, no
`reset --hard` (which would move HEAD) and no full `checkout-index` (which would rewrite every file). The
task's HEAD, current branch and index are put back as they were at the checkpoint too, so an agent that
committed or switched branches is undone as well. Ignored files (build outputs, caches) are not touched.

Git runs with a private identity, hooks disabled and `safe.directory=*` (the tree may be owned by another
uid, as seen from inside the sandbox).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from agentgym.sandboxes.base import ExecResult, SandboxError

#: The `exec` of a sandbox: `exec(cmd, timeout=...) -> ExecResult`.
ExecFn = Callable[..., ExecResult]

#: `reset()` goes back to this one: the first checkpoint ever taken of the tree.
FIRST = "first"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")

_PRELUDE = r"""
set -e
command -v git >/dev/null 2>&1 || { echo "git is not installed in the sandbox" >&2; exit 127; }
g() {
  git -c user.name=agentgym -c user.email=agentgym@localhost -c safe.directory='*' \
      -c core.hooksPath=/dev/null -c core.fsmonitor=false -c core.autocrlf=false -c core.safecrlf=false \
      -c gc.auto=0 -c commit.gpgsign=false -c advice.addEmbeddedRepo=false "$@"
}
cd -- {workdir} 2>/dev/null || { echo "the working directory {workdir} does not exist" >&2; exit 2; }
if [ "$(g rev-parse --is-inside-work-tree 2>/dev/null)" != true ]; then
  [ {create} = 1 ] || { echo "no checkpoint: {workdir} is not a git repository yet" >&2; exit 3; }
  g init -q
fi
cd -- "$(g rev-parse --show-toplevel)"
G=$(g rev-parse --absolute-git-dir)
D=$G/agentgym
mkdir -p "$D/checkpoints"
"""

_CHECKPOINT = r"""
C=$D/checkpoints/{name}
rm -rf "$C.new"; mkdir -p "$C.new"
{ g symbolic-ref -q HEAD || echo; g rev-parse -q --verify HEAD || echo; } > "$C.new/head"
if [ -f "$G/index" ]; then cp -p "$G/index" "$C.new/index"; fi
GIT_INDEX_FILE=$D/index g add -A . >/dev/null
tree=$(GIT_INDEX_FILE=$D/index g write-tree)
parent=$(sed -n 2p "$C.new/head")
commit=$(g commit-tree "$tree" ${parent:+-p "$parent"} -m "agentgym checkpoint {name}")
rm -rf "$C"; mv "$C.new" "$C"
g update-ref refs/agentgym/checkpoints/{name} "$commit"
if ! g rev-parse -q --verify refs/agentgym/{first} >/dev/null; then
  rm -rf "$D/{first}"; cp -r "$C" "$D/{first}"
  g update-ref refs/agentgym/{first} "$commit"
fi
echo "$commit"
"""

_RESTORE = r"""
ref={ref}; C=$D/{meta}
commit=$(g rev-parse -q --verify "$ref") || { echo "no checkpoint named {name}" >&2; exit 3; }
GIT_INDEX_FILE=$D/index g add -A . >/dev/null
GIT_INDEX_FILE=$D/index g read-tree --reset -u "$commit"
headref=$(sed -n 1p "$C/head"); sha=$(sed -n 2p "$C/head")
if [ -n "$headref" ]; then
  if [ -n "$sha" ]; then g update-ref "$headref" "$sha"; else g update-ref -d "$headref" 2>/dev/null || true; fi
  g symbolic-ref HEAD "$headref"
else
  g update-ref --no-deref HEAD "$sha"
fi
if [ -f "$C/index" ]; then cp -p "$C/index" "$G/index"; else rm -f "$G/index"; fi
"""

_DIFF = r"""
commit=$(g rev-parse -q --verify refs/agentgym/checkpoints/{name}) || { echo "no checkpoint named {name}" >&2; exit 3; }
GIT_INDEX_FILE=$D/index g add -A . >/dev/null
GIT_INDEX_FILE=$D/index g diff --cached --no-color --no-ext-diff --no-renames "$commit"
"""


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"checkpoint name must be letters, digits, '.', '_' or '-' (starting with a letter or digit), "
            f"got {name!r}"
        )
    return name


def _run(exec: ExecFn, workdir: str, body: str, what: str, timeout: float, *, create: bool = False) -> str:
    script = _PRELUDE.replace("{workdir}", shlex.quote(workdir)).replace("{create}", "1" if create else "0")
    result = exec(script + body, timeout=timeout)
    if result.timed_out:
        raise SandboxError(f"{what} in {workdir} took longer than {timeout:g}s")
    if result.exit_code != 0:
        raise SandboxError(
            f"{what} in {workdir} failed (exit code {result.exit_code}): {result.output.strip()}"
        )
    return result.output


def checkpoint(exec: ExecFn, workdir: str, name: str = "default", *, timeout: float = 300.0) -> str:
    """Record the working tree under `name` (replacing an older checkpoint of that name); returns the
    checkpoint's commit id. The first checkpoint of a tree is also what `reset` returns to."""
    _check_name(name)
    body = _CHECKPOINT.replace("{name}", name).replace("{first}", FIRST)
    out = _run(exec, workdir, body, f"checkpoint {name!r}", timeout, create=True)
    lines = out.strip().splitlines()
    if not lines or not _SHA.match(lines[-1].strip()):
        raise SandboxError(f"checkpoint {name!r} in {workdir} printed no commit id: {out.strip()!r}")
    return lines[-1].strip()


def restore(exec: ExecFn, workdir: str, name: str = "default", *, timeout: float = 300.0) -> None:
    """Put the working tree, HEAD, the current branch and the index back as they were at `name`."""
    _check_name(name)
    body = _RESTORE.replace("{ref}", f"refs/agentgym/checkpoints/{name}").replace(
        "{meta}", f"checkpoints/{name}"
    )
    _run(exec, workdir, body.replace("{name}", name), f"restore of checkpoint {name!r}", timeout)


def reset(exec: ExecFn, workdir: str, *, timeout: float = 300.0) -> None:
    """Back to the first checkpoint ever taken of this tree."""
    body = _RESTORE.replace("{ref}", f"refs/agentgym/{FIRST}").replace("{meta}", FIRST)
    _run(exec, workdir, body.replace("{name}", "(the first)"), "reset to the first checkpoint", timeout)


def diff(exec: ExecFn, workdir: str, name: str = "default", *, timeout: float = 300.0) -> str:
    """The working tree against checkpoint `name` as a `git diff` patch; new and deleted files included."""
    _check_name(name)
    return _run(exec, workdir, _DIFF.replace("{name}", name), f"diff against checkpoint {name!r}", timeout)
