"""OpenAIAgent against a real local HTTP server, through the real openai client."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from agentgym.agents import OpenAIAgent
from agentgym.errors import AgentError, ConfigError
from agentgym.testing import OpenAICompatibleServer
from agentgym.types import FunctionCall, Message, ToolCall

HELLO = [Message(role="system", content="Be brief."), Message(role="user", content="say hello please")]


def fast_agent(base_url: str, **kwargs) -> OpenAIAgent:
    kwargs.setdefault("max_retries", 3)
    return OpenAIAgent("test-model", base_url=base_url, initial_backoff=0.001, max_backoff=0.01, **kwargs)


async def test_basic_reply_and_usage(server):
    async with fast_agent(server.base_url) as agent:
        out = await agent.act(HELLO)
    assert out.text == "echo: say hello please"
    assert out.tool_calls is None
    assert out.usage is not None
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (5, 4)  # whitespace words
    request = server.requests[-1]
    assert request["model"] == "test-model"
    assert request["messages"] == [m.to_openai() for m in HELLO]
    assert "tools" not in request and "logprobs" not in request


async def test_sampling_parameters_and_extra_body_are_sent(server):
    async with fast_agent(
        server.base_url, temperature=0.3, max_tokens=7, top_p=0.9, extra_body={"top_k": 5}
    ) as agent:
        await agent.act(HELLO)
    request = server.requests[-1]
    assert (request["temperature"], request["max_tokens"], request["top_p"], request["top_k"]) == (
        0.3,
        7,
        0.9,
        5,
    )


async def test_logprobs_when_requested(server):
    async with fast_agent(server.base_url, logprobs=True) as agent:
        out = await agent.act(HELLO)
    assert server.requests[-1]["logprobs"] is True
    assert out.logprobs is not None and len(out.logprobs) == len(out.text.split())
    assert all(lp <= 0 for lp in out.logprobs)
    assert out.token_ids is None  # plain OpenAI logprobs carry no ids


async def test_token_ids_from_vllm_style_responses():
    def respond(request):
        return "go north"

    def hook(request):  # what vLLM returns with return_token_ids
        return 200, {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "token_ids": [7, 8, 2],
                    "message": {"role": "assistant", "content": "go north"},
                    "logprobs": {
                        "content": [
                            {"token": t, "logprob": -0.5, "top_logprobs": []}
                            for t in ("go", " north", "</s>")
                        ]
                    },
                }
            ],
        }

    with OpenAICompatibleServer(respond, hook=hook) as srv:
        async with fast_agent(srv.base_url, logprobs=True) as agent:
            out = await agent.act(HELLO)
    assert out.token_ids == [7, 8, 2]
    assert out.logprobs == [-0.5, -0.5, -0.5]


async def test_tool_calls_round_trip():
    tools = [
        {
            "type": "function",
            "function": {
                "name": "move",
                "parameters": {"type": "object", "properties": {"direction": {"type": "string"}}},
            },
        }
    ]

    def respond(request):
        assert request["tools"] == tools
        if request["messages"][-1]["role"] == "tool":
            return "done: " + request["messages"][-1]["content"]
        return {
            "content": None,
            "tool_calls": [
                {"id": "call_1", "function": {"name": "move", "arguments": {"direction": "north"}}}
            ],
        }

    with OpenAICompatibleServer(respond) as srv:
        async with fast_agent(srv.base_url) as agent:
            out = await agent.act(HELLO, tools)
            assert out.text == ""
            assert out.tool_calls == [
                ToolCall(id="call_1", function=FunctionCall(name="move", arguments='{"direction": "north"}'))
            ]
            history = [
                *HELLO,
                Message(role="assistant", tool_calls=out.tool_calls),
                Message(role="tool", tool_call_id="call_1", content="moved"),
            ]
            final = await agent.act(history, tools)
        sent = srv.requests[-1]["messages"]
    assert final.text == "done: moved"
    assert sent[2]["tool_calls"][0]["function"] == {"name": "move", "arguments": '{"direction": "north"}'}
    assert sent[3] == {"role": "tool", "tool_call_id": "call_1", "content": "moved"}


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_transient_errors_are_retried_then_succeed(server, status):
    server.fail_next(2, status=status)
    async with fast_agent(server.base_url, max_retries=3) as agent:
        out = await agent.act(HELLO)
    assert out.text == "echo: say hello please"
    assert server.request_count == 3  # two failures, then success


async def test_retries_exhausted_raise_agent_error_naming_endpoint(server):
    server.fail_next(10, status=502, message="upstream exploded")
    async with fast_agent(server.base_url, max_retries=2) as agent:
        with pytest.raises(AgentError) as excinfo:
            await agent.act(HELLO)
    assert server.request_count == 3
    message = str(excinfo.value)
    assert server.base_url in message and "3 attempt" in message
    assert "502" in message and "upstream exploded" in message


@pytest.mark.parametrize(("status", "hint"), [(400, "invalid"), (401, "API key"), (404, "model name")])
async def test_client_errors_are_not_retried(server, status, hint):
    server.fail_next(1, status=status)
    async with fast_agent(server.base_url, max_retries=5) as agent:
        with pytest.raises(AgentError) as excinfo:
            await agent.act(HELLO)
    assert server.request_count == 1
    assert str(status) in str(excinfo.value) and hint in str(excinfo.value)
    assert server.base_url in str(excinfo.value)


async def test_timeouts_are_retried(server):
    server.delay_next(1, seconds=3)  # the first request times out; the retry gets a whole second, ample
    async with fast_agent(server.base_url, timeout=1.0, max_retries=2) as agent:
        out = await agent.act(HELLO)
    assert out.text.startswith("echo")
    assert server.request_count == 2


async def test_endpoint_down_raises_after_retries(closed_port):
    base_url = f"http://127.0.0.1:{closed_port}/v1"
    async with fast_agent(base_url, max_retries=2) as agent:
        with pytest.raises(AgentError) as excinfo:
            await agent.act(HELLO)
    assert base_url in str(excinfo.value) and "3 attempt" in str(excinfo.value)
    assert isinstance(excinfo.value.__cause__, openai.APIConnectionError)


async def test_concurrent_calls(server):
    async with fast_agent(server.base_url) as agent:
        outs = await asyncio.gather(*[agent.act([Message(role="user", content=f"n{i}")]) for i in range(32)])
    assert [o.text for o in outs] == [f"echo: n{i}" for i in range(32)]
    assert server.request_count == 32


def test_configuration_from_environment(monkeypatch, server):
    monkeypatch.setenv("AGENTGYM_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    agent = OpenAIAgent()
    assert (agent.model, agent.base_url) == ("env-model", server.base_url)
    assert agent.client.api_key == "EMPTY"
    out = asyncio.run(_act_and_close(agent))
    assert out.text.startswith("echo") and server.requests[-1]["model"] == "env-model"


async def _act_and_close(agent):
    async with agent:
        return await agent.act(HELLO)


def test_missing_model_is_a_config_error(monkeypatch):
    monkeypatch.delenv("AGENTGYM_MODEL", raising=False)
    with pytest.raises(ConfigError, match="AGENTGYM_MODEL"):
        OpenAIAgent(base_url="http://127.0.0.1:1/v1")


async def test_closed_agent_refuses(server):
    agent = fast_agent(server.base_url)
    await agent.aclose()
    await agent.aclose()  # idempotent
    with pytest.raises(AgentError, match="closed"):
        await agent.act(HELLO)


def test_server_streams_and_lists_models(server):
    """The test server speaks what real clients use: streaming SSE and /v1/models."""
    client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
    assert [m.id for m in client.models.list()] == ["agentgym-test"]
    chunks = list(
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "a b c"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: a b c"
    assert chunks[-1].usage.completion_tokens == 4
    client.close()


def test_server_close_is_idempotent_and_frees_the_port():
    srv = OpenAICompatibleServer(lambda r: "x")
    client = openai.OpenAI(base_url=srv.base_url, api_key="EMPTY", max_retries=0)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])  # keep-alive open
    srv.close()
    srv.close()
    assert not srv._thread.is_alive()
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    client.close()


def test_server_reports_responder_errors(server):
    def respond(request):
        raise KeyError("no such episode")

    server.respond = respond
    client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="no such episode"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    client.close()
    assert json.loads(json.dumps(server.requests[-1]))["messages"][0]["content"] == "hi"


def test_backoff_is_exponential_with_jitter_and_honours_retry_after():
    agent = OpenAIAgent("m", base_url="http://127.0.0.1:9/v1", initial_backoff=1.0, max_backoff=8.0)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 8.0)]:
        delays = [agent._backoff(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert agent._backoff(0, retry_after=5.0) == 5.0
    assert agent._backoff(0, retry_after=100.0) == 8.0  # capped at max_backoff


async def test_rate_limit_retry_after_header_is_waited_for(server):
    server.fail_next(1, status=429, retry_after=0.2)
    async with fast_agent(server.base_url, max_retries=1) as agent:
        agent.max_backoff = 0.3
        start = asyncio.get_running_loop().time()
        await agent.act(HELLO)
        assert asyncio.get_running_loop().time() - start >= 0.2
    assert server.request_count == 2
