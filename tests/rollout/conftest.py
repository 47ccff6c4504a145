import multiprocessing

import psutil
import pytest

import tests.rollout.helpers  # noqa: F401  (registers the test environments)


@pytest.fixture(autouse=True)
def no_leaked_processes():
    """Every test must leave no worker process behind, whatever happened in it."""
    yield
    assert multiprocessing.active_children() == []
    assert psutil.Process().children(recursive=True) == []
