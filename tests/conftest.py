"""Fixtures shared across test packages."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def agentgym_cache(tmp_path_factory):
    """A session-wide cache for generated games, so tests never touch (or depend on) the user's cache.

    Subprocesses inherit it through the environment variable.
    """
    root = tmp_path_factory.mktemp("agentgym-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGENTGYM_CACHE", str(root))
        yield root
