"""textworld's PDDL backend, adapted to many environments in one process, without changing what it computes.

What textworld 1.7.0's `PddlEnv` does that we work around, all inside :func:`engine_calls`:

- Each `PddlEnv` loads its own copy of Fast Downward's native library (copied to a temporary file, loaded
  with ctypes, the file deleted at once) and never unloads it. Unloading is not an option: the library's
  plugin registry is a process-wide unique symbol, so once two copies have been loaded, unloading one
  crashes the process at exit. Instead a closed engine hands its copy back (its task freed with the
  library's own `cleanup()`) to a per-process pool, and the next engine takes it from there: a process
  holds as many copies as it ever had engines open at once, however many it creates and closes.
- It translates the PDDL problem to Fast Downward's SAS format twice per state (once plain, once
  optimized for its planner) and builds a new state on every `load` and every `reset`: four translations,
  0.2-1.5 s each, before the first move. The translation is a pure function of (domain, problem), so it is
  memoized (a small LRU per process); the planner's copy reuses the plain translation, which it accepts as
  well (only the planner reads it, and the hand-coded expert never calls the planner).
- It parses the same grammar snippets and queries with TatSu on every step (~70% of a step). Those parses
  are pure too: memoized, the cached grammar symbols handed out as deep copies (derivation mutates them).
- TatSu, which textworld parses with, keeps the last parse's furthest failure, whose traceback holds the
  calling frames, and so the environment that called, until the next parse: the parsers are emptied after
  each call (what TatSu itself does before every parse), so a dropped environment can be collected.
- The translator sets `sys.argv`, swaps `sys.stdout` to capture its output, and keeps its options in module
  globals: two environments translating at once in threads would clobber each other. Every engine call
  holds one process-wide lock, and `sys.argv` is restored afterwards.

The stand-ins are installed in textworld's modules only while the lock is held, so no other code sees them.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fast_downward
import textworld.envs.pddl.logic as pddl_logic
import textworld.envs.pddl.pddl as pddl_env
import textworld.envs.pddl.textgen as textgen
import textworld.logic
from textworld.logic import Rule

#: Held by every call into an ALFWorld engine in this process (see the module docstring).
ENGINE_LOCK = threading.RLock()
TRANSLATIONS_KEPT = 8  # a whole floor plan's translation takes a few MB

_free_libraries: list[Any] = []  # native libraries of closed engines, ready for the next engine


def library_copies() -> int:
    """Native library copies this process has loaded and keeps (in use or pooled)."""
    return _FastDownward.loaded


def release_library(library: Any) -> None:
    """Free the task held by a closed engine's native library and pool the library for the next engine."""
    with ENGINE_LOCK:
        library.cleanup()
        _free_libraries.append(library)


@dataclass(frozen=True)
class Translation:
    task: Any  # Fast Downward's parsed task (read only)
    sas: str
    solvable: bool  # False when the translator proved the goal unreachable (even relaxed)


_translations: OrderedDict[tuple[str, str], Translation] = OrderedDict()


def translate(domain: str, problem: str) -> Translation:
    """Fast Downward's translation of (domain, problem), memoized; callers hold ENGINE_LOCK."""
    key = (domain, problem)
    cached = _translations.get(key)
    if cached is not None:
        _translations.move_to_end(key)
        return cached
    argv, captured = sys.argv, io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):  # verbose=True prints what it captured: read it here
            task, sas = fast_downward.pddl2sas(domain, problem, verbose=True)
    finally:
        sys.argv = argv
    translation = Translation(task, sas, "Generating unsolvable task" not in captured.getvalue())
    _translations[key] = translation
    while len(_translations) > TRANSLATIONS_KEPT:
        _translations.popitem(last=False)
    return translation


class _FastDownward:
    """Stands in for the `fast_downward` module inside textworld's PDDL backend."""

    loaded = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(fast_downward, name)

    @staticmethod
    def pddl2sas(domain: str, problem: str, verbose: bool = False, optimize: bool = False):
        translation = translate(domain, problem)
        return translation.task, translation.sas

    @staticmethod
    def load_lib() -> Any:
        if _free_libraries:
            return _free_libraries.pop()
        _FastDownward.loaded += 1
        return fast_downward.load_lib()


@functools.lru_cache(maxsize=4096)
def _parse_symbols(text: str, rule_name: str | None) -> Any:
    return _ORIGINAL_PARSE(text, rule_name=rule_name)


def _parse_and_convert(text: str, rule_name: str | None = None, **_: Any) -> Any:
    return copy.deepcopy(_parse_symbols(text, rule_name))


class _Rule:
    """Stands in for `Rule` inside textworld's grammar module: only its query parser is used there."""

    parse_conjunctive_query = staticmethod(functools.lru_cache(maxsize=4096)(Rule.parse_conjunctive_query))


_ORIGINAL_PARSE = textgen._parse_and_convert
_STAND_INS = (
    (pddl_env, "fast_downward", _FastDownward()),
    (pddl_logic, "fast_downward", _FastDownward()),
    (textgen, "_parse_and_convert", _parse_and_convert),
    (textgen, "Rule", _Rule),
)


_PARSERS = (pddl_logic._PARSER, textgen._PARSER, textworld.logic._PARSER)


@contextlib.contextmanager
def engine_calls() -> Iterator[None]:
    """Hold ENGINE_LOCK with the stand-ins installed; restore everything (and `sys.argv`) on the way out."""
    with ENGINE_LOCK:
        saved = [(module, name, getattr(module, name)) for module, name, _ in _STAND_INS]
        argv = sys.argv
        try:
            for module, name, value in _STAND_INS:
                setattr(module, name, value)
            yield
        finally:
            for module, name, value in saved:
                setattr(module, name, value)
            sys.argv = argv
            for parser in _PARSERS:
                parser._initialize_caches()
