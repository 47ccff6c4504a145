import json

import pytest

from agentgym.errors import ActionParseError, ConfigError
from agentgym.parsers import (
    JSONToolCallParser,
    OpenAIToolCallParser,
    PlainCommandParser,
    ReActParser,
    XMLToolCallParser,
    encode_tool_calls,
    get_parser,
)
from agentgym.types import FunctionCall, ToolCall


@pytest.mark.parametrize(
    "text, command",
    [
        ("go east", "go east"),
        ("  go east \n", "go east"),
        ("`open door`", "open door"),
        ("```\ntake key\n```", "take key"),
        ('"look"', "look"),
        ("> inventory", "inventory"),
    ],
)
def test_plain_parser_strips_wrapping(text, command):
    assert PlainCommandParser().parse(text).command == command


@pytest.mark.parametrize("text", ["", "   ", "I think I should go east.\nThen north.", "x" * 600])
def test_plain_parser_rejects_what_is_not_one_command(text):
    with pytest.raises(ActionParseError):
        PlainCommandParser().parse(text)


def test_react_takes_the_last_action_line():
    text = "Thought: maybe Action: west is wrong.\nAction: go north\nThought: no\nAction: go south"
    assert ReActParser().parse(text).command == "go south"


def test_react_accepts_markdown_bold_and_case():
    assert ReActParser().parse("**Action:** take key").command == "take key"
    assert ReActParser().parse("action: look").command == "look"


def test_react_plain_fallback_only_for_single_lines():
    assert ReActParser().parse("go west").command == "go west"
    with pytest.raises(ActionParseError, match="Action:"):
        ReActParser().parse("I am thinking about it.\nStill thinking.")
    with pytest.raises(ActionParseError):
        ReActParser(allow_plain=False).parse("go west")


def test_json_tool_calls_in_prose_and_fences():
    text = 'Let me search.\n```json\n{"name": "search", "arguments": {"q": "red shoes", "k": 3}}\n```'
    (call,) = JSONToolCallParser().parse(text).tool_calls
    assert call.function.name == "search"
    assert json.loads(call.function.arguments) == {"q": "red shoes", "k": 3}


def test_json_tool_call_list_and_string_arguments():
    text = '[{"name": "a", "arguments": "{\\"x\\": 1}"}, {"name": "b", "arguments": {}}]'
    calls = JSONToolCallParser().parse(text).tool_calls
    assert [c.function.name for c in calls] == ["a", "b"]
    assert json.loads(calls[0].function.arguments) == {"x": 1}


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"name": "a", "arguments": {"x": 1}', "no valid JSON tool call"),
        ("no json here", "no JSON tool call"),
        ('{"name": "a", "arguments": "{not json"}', "not valid JSON"),
        ('{"name": "a", "arguments": [1, 2]}', "must be a JSON object"),
    ],
)
def test_json_parser_errors_say_what_failed(text, message):
    with pytest.raises(ActionParseError, match=message):
        JSONToolCallParser().parse(text)


def test_xml_tool_calls():
    text = 'ok <tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call><tool_call>{"name": "done"}</tool_call>'
    calls = XMLToolCallParser().parse(text).tool_calls
    assert [c.function.name for c in calls] == ["add", "done"]
    with pytest.raises(ActionParseError, match="not closed"):
        XMLToolCallParser().parse('<tool_call>{"name": "add"}')
    with pytest.raises(ActionParseError, match="tool call 1 is not valid JSON"):
        XMLToolCallParser().parse("<tool_call>{oops}</tool_call>")


def test_openai_tool_calls_round_trip_through_encoding():
    calls = [ToolCall(id="call_1", function=FunctionCall(name="f", arguments='{"x": 2}'))]
    action = OpenAIToolCallParser().parse(encode_tool_calls("thinking", calls))
    assert action.tool_calls == calls
    assert action.text == "thinking"


def test_openai_parser_falls_back_to_json_text():
    action = OpenAIToolCallParser().parse('{"name": "f", "arguments": {}}')
    assert action.tool_calls[0].function.name == "f"
    with pytest.raises(ActionParseError):
        OpenAIToolCallParser(fallback=None).parse("just text")


def test_get_parser_by_name_and_unknown():
    assert isinstance(get_parser("react"), ReActParser)
    with pytest.raises(ConfigError, match="expected one of"):
        get_parser("yaml")
