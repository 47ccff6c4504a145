"""The on-disk cache of generated artifacts (games, tasks): where it is, and how an entry is written once.

Entries live under `$AGENTGYM_CACHE/<family>/` (default ``~/.cache/agentgym``). An entry is a directory that
is complete by construction: it is built in a temporary sibling and appears only through an atomic rename,
so a reader never sees half an entry, and when two processes race for one entry, one rename wins and the
other discards its identical copy.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from agentgym.errors import AgentGymError


def cache_root(family: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """`cache_dir` if given, else `$AGENTGYM_CACHE/<family>` (default ~/.cache/agentgym/<family>)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    base = os.environ.get("AGENTGYM_CACHE") or os.path.join("~", ".cache", "agentgym")
    return Path(base).expanduser() / family


def build_once(final: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """The cache entry `final`, built first by `build(directory)` unless its file `marker` is there already."""
    if (final / marker).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        build(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; a cache may be shared
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if not (final / marker).is_file():  # not a lost race: something else is in the way
                raise AgentGymError(
                    f"could not move a new entry into the cache at {final} ({exc}); "
                    "if that directory is left over from an old run, delete it"
                ) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
