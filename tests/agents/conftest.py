from __future__ import annotations

import socket

import pytest

from agentgym.testing import OpenAICompatibleServer


def echo(request: dict) -> str:
    """Answers with the last user message, so tests can tell concurrent replies apart."""
    return "echo: " + request["messages"][-1]["content"]


@pytest.fixture
def server():
    with OpenAICompatibleServer(echo) as srv:
        yield srv


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released), so connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
