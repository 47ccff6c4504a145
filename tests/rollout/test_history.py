"""History policies: the opening messages plus a window of whole turns."""

import pytest

from agentgym.errors import ConfigError
from agentgym.rollout import ChatHistory, HistoryPolicy
from agentgym.types import Message


def turn(n: int) -> list[Message]:
    return [Message(role="assistant", content=f"a{n}"), Message(role="user", content=f"o{n}")]


OPENING = [Message(role="system", content="rules"), Message(role="user", content="o0")]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("full", None), ("last:0", 0), ("last:3", 3), (" Last:12 ", 12), (HistoryPolicy(2), 2)],
)
def test_parse(spec, expected):
    assert HistoryPolicy.parse(spec).last_turns == expected


@pytest.mark.parametrize("spec", ["", "last", "last:-1", "last:two", "first:2", 3, None])
def test_parse_rejects_bad_specs(spec):
    with pytest.raises(ConfigError, match="history must be"):
        HistoryPolicy.parse(spec)


def test_full_history_keeps_everything_in_order():
    history = ChatHistory(OPENING, HistoryPolicy.parse("full"))
    for n in range(1, 4):
        history.add_turn(turn(n))
    assert [m.content for m in history.window()] == ["rules", "o0", "a1", "o1", "a2", "o2", "a3", "o3"]


def test_last_k_keeps_the_opening_and_the_last_k_turns():
    history = ChatHistory(OPENING, HistoryPolicy.parse("last:2"))
    assert [m.content for m in history.window()] == ["rules", "o0"]
    history.add_turn(turn(1))
    assert [m.content for m in history.window()] == ["rules", "o0", "a1", "o1"]
    for n in range(2, 5):
        history.add_turn(turn(n))
    assert [m.content for m in history.window()] == ["rules", "o0", "a3", "o3", "a4", "o4"]


def test_last_zero_shows_the_opening_only():
    history = ChatHistory(OPENING, HistoryPolicy.parse("last:0"))
    history.add_turn(turn(1))
    assert [m.content for m in history.window()] == ["rules", "o0"]


def test_a_turn_with_several_tool_messages_stays_whole():
    history = ChatHistory(OPENING, HistoryPolicy.parse("last:1"))
    history.add_turn(turn(1))
    tools = [Message(role="tool", tool_call_id=f"c{i}", content=f"r{i}") for i in range(3)]
    history.add_turn([Message(role="assistant", content="calls"), *tools])
    assert [m.content for m in history.window()] == ["rules", "o0", "calls", "r0", "r1", "r2"]


def test_the_window_is_a_copy():
    history = ChatHistory(OPENING)
    window = history.window()
    window.append(Message(role="user", content="injected"))
    assert len(history.window()) == 2
