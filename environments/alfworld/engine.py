"""One ALFWorld text engine: textworld's PDDL backend with alfworld's name demangler, and its lifecycle.

The engine runs in this process: Python, plus a native library, a copy of Fast Downward's
`libdownward.so` per open engine (engines must not share its global state). It starts no thread and no
process and holds no open file; the library's file is deleted as soon as it is loaded. `close()` (also run
on garbage collection) frees the engine's game state and hands its library copy to the next engine
(:mod:`.backend` says why copies are pooled rather than unloaded). When the process dies the operating
system reclaims everything, and nothing is left on disk.
"""

from __future__ import annotations

import contextlib
from typing import Any

import textworld
from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
from textworld.envs.pddl import PddlEnv

from .backend import engine_calls, release_library

#: What the environment and the hand-coded expert read (the expert reasons over the state's facts).
REQUEST_INFOS = textworld.EnvInfos(won=True, admissible_commands=True, facts=True)


class AlfredEngine:
    """Loads ALFWorld game files (`game.tw-pddl`) and plays them; one game loaded at a time."""

    def __init__(self) -> None:
        self._pddl: Any = None  # first, so close() works whatever fails below
        self.path: str | None = None
        with engine_calls():
            self._pddl = PddlEnv(REQUEST_INFOS)
            self._env = AlfredDemangler(shuffle=False)(self._pddl)

    @property
    def closed(self) -> bool:
        return self._pddl is None

    def load(self, path: str, reload: bool = False) -> None:
        """Load the game at `path` unless it is the one loaded already (or `reload` says the file changed)."""
        if reload or path != self.path:
            self.path = None  # unknown until the load succeeds
            with engine_calls():
                self._env.load(path)
            self.path = path

    @property
    def walkthrough(self) -> list[str]:
        """The winning commands stored in the loaded game file, if it has them."""
        return list(getattr(self._pddl, "walkthrough", None) or [])

    def reset(self) -> Any:
        """Start the loaded game over; returns textworld's GameState."""
        with engine_calls():
            return self._env.reset()

    def step(self, command: str) -> Any:
        """Play `command` (the engine answers "Nothing happens." to one it does not know)."""
        with engine_calls():
            state, _, _ = self._env.step(command)
        return state

    def close(self) -> None:
        """Free the game state and give the native library back to the pool; safe to call repeatedly."""
        pddl, self._pddl, self._env, self.path = self._pddl, None, None, None
        library = getattr(pddl, "downward_lib", None)
        if library is not None:
            pddl.downward_lib = None
            pddl.__dict__.pop("_pddl_state", None)
            release_library(library)

    def __del__(self) -> None:
        # At interpreter shutdown the modules may be gone already; the OS reclaims the library then.
        with contextlib.suppress(Exception):
            self.close()
