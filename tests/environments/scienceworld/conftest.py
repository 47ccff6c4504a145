"""Fixtures of the ScienceWorld tests: one engine for the package, and a check that no JVM outlives it.

The JVM takes seconds to start, so the episode tests share one environment (`shared`); every test resets
it first. Tests that are about engines starting and stopping make their own. After the last of these tests no
JVM started by this process may be left (`no_leaked_jvms`).
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from .helpers import ENV_ID, FAST_TYPES, children


@pytest.fixture(scope="package", autouse=True)
def no_leaked_jvms():
    """Set up first, torn down last: after every environment of these tests is closed, no JVM is left."""
    yield
    if Path("/proc").is_dir():
        gc.collect()
        assert children() == set(), "JVMs started by the ScienceWorld tests outlived them"


@pytest.fixture(scope="package")
def shared():
    import agentgym

    env = agentgym.make(ENV_ID, task_types=FAST_TYPES)
    yield env
    env.close()
