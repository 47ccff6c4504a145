"""`OpenAIAgent`: any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, SGLang, `transformers serve`).

Retries are ours, not the client's (the `openai` client is built with `max_retries=0`), so what is retried
is explicit and tested:

- retried with exponential backoff and jitter: HTTP 429 (rate limit), 5xx, 408 (request timeout) and 409
  (conflict; OpenAI's lock timeout) — the same transient set the `openai` client itself retries — plus
  timeouts and connection errors. A `Retry-After` header is honoured, capped at `max_backoff`;
- not retried: every other 4xx (bad request, bad key, unknown model...): retrying cannot fix the request,
  so an :class:`AgentError` is raised at once with a message saying what to check.

When retries are exhausted the :class:`AgentError` names the endpoint and the last error; the rollout
engine records it as an infrastructure failure (not an agent mistake) and plays the episode again later.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from typing import Any

import openai

from agentgym.agents.base import Agent, AgentOutput
from agentgym.errors import AgentError, ConfigError
from agentgym.types import FunctionCall, Message, ToolCall, Usage

#: Environment variables read when an argument is not given.
BASE_URL_ENV, API_KEY_ENV, MODEL_ENV = "OPENAI_BASE_URL", "OPENAI_API_KEY", "AGENTGYM_MODEL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: The key sent when none is given: local servers (vLLM, `transformers serve`) accept any key, and the
#: `openai` client refuses to start without one.
PLACEHOLDER_API_KEY = "EMPTY"
RETRY_STATUSES = frozenset({408, 409, 429})  # and every 5xx

_STATUS_HINTS = {
    400: "the server rejected the request as invalid",
    401: f"check the API key (argument api_key or ${API_KEY_ENV})",
    403: "the API key is not allowed to use this model or endpoint",
    404: f"check the model name (argument model or ${MODEL_ENV}) and that base_url is the prefix of /chat/completions",
    413: "the request is too large: shorten the history (a HistoryWindow) or the tools",
    422: "the server could not process the request parameters",
}
_TOKEN_ID = re.compile(r"^token_id:(\d+)$")  # vLLM's `return_tokens_as_token_ids` format


class OpenAIAgent(Agent):
    """Chat with an OpenAI-compatible server; one instance serves many concurrent episodes.

    Args:
        model: model name; default `$AGENTGYM_MODEL`.
        base_url: e.g. "http://localhost:8000/v1"; default `$OPENAI_BASE_URL`, else OpenAI's API.
        api_key: default `$OPENAI_API_KEY`, else the placeholder "EMPTY" (fine for local servers).
        temperature, max_tokens, top_p: sampling parameters sent with every request (None: not sent).
        timeout: seconds per request before it counts as a (retried) timeout.
        max_retries: retries after the first attempt on transient failures (see the module docstring).
        initial_backoff, max_backoff: the backoff before retry i is
            min(max_backoff, initial_backoff * 2**i), of which a random half is jitter.
        extra_body: extra JSON fields for the server (vLLM's `top_k`, `return_tokens_as_token_ids`...).
        logprobs: ask for token log-probabilities; returned in `AgentOutput.logprobs` when the server
            gives them. Token ids are filled when the server returns them (vLLM `return_token_ids`, or
            tokens spelled "token_id:N").

    >>> agent = OpenAIAgent("my-model", base_url="http://localhost:8000/v1")   # doctest: +SKIP
    >>> (await agent.act([Message(role="user", content="hi")])).text            # doctest: +SKIP
    """

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float | None = 0.7,
        max_tokens: int | None = 512,
        top_p: float | None = None,
        timeout: float = 120.0,
        max_retries: int = 5,
        extra_body: dict[str, Any] | None = None,
        logprobs: bool = False,
        *,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ):
        self.model = model or os.environ.get(MODEL_ENV)
        if not self.model:
            raise ConfigError(f"OpenAIAgent needs a model name: pass model=... or set ${MODEL_ENV}")
        self.base_url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"max_retries must be an int >= 0, got {max_retries!r}")
        for field, value in (
            ("timeout", timeout),
            ("initial_backoff", initial_backoff),
            ("max_backoff", max_backoff),
        ):
            if not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"{field} must be a number >= 0, got {value!r}")
        if extra_body is not None and not isinstance(extra_body, dict):
            raise ConfigError(
                f"extra_body must be a dict of extra request fields, got {type(extra_body).__name__}"
            )
        self.temperature, self.max_tokens, self.top_p = temperature, max_tokens, top_p
        self.timeout, self.max_retries = float(timeout), max_retries
        self.initial_backoff, self.max_backoff = float(initial_backoff), float(max_backoff)
        self.extra_body = dict(extra_body or {})
        self.logprobs = logprobs
        self.client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key or os.environ.get(API_KEY_ENV) or PLACEHOLDER_API_KEY,
            timeout=self.timeout,
            max_retries=0,  # we retry, explicitly (see the module docstring)
        )
        self._closed = False

    async def act(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        info: dict[str, Any] | None = None,
    ) -> AgentOutput:
        if self._closed:
            raise AgentError(f"this OpenAIAgent ({self.base_url}) was closed; create a new one")
        request = self._request(messages, tools)
        response = await self._create_with_retries(request)
        return self._output(response)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self.client.close()

    def __repr__(self) -> str:
        return f"OpenAIAgent(model={self.model!r}, base_url={self.base_url!r})"

    # ----- request ----------------------------------------------------------------------------------
    def _request(self, messages: list[Message], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
        payload = [
            Message.model_validate(m).to_openai() if isinstance(m, dict) else m.to_openai() for m in messages
        ]
        request: dict[str, Any] = {"model": self.model, "messages": payload}
        if tools:
            request["tools"] = tools
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.max_tokens is not None:
            request["max_tokens"] = self.max_tokens
        if self.top_p is not None:
            request["top_p"] = self.top_p
        if self.logprobs:
            request["logprobs"] = True
        if self.extra_body:
            request["extra_body"] = self.extra_body
        return request

    async def _create_with_retries(self, request: dict[str, Any]) -> Any:
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                return await self.client.chat.completions.create(**request)
            except openai.APIStatusError as exc:
                if not (exc.status_code in RETRY_STATUSES or exc.status_code >= 500):
                    hint = _STATUS_HINTS.get(
                        exc.status_code, "the request was rejected; retrying would not help"
                    )
                    raise AgentError(
                        f"OpenAI-compatible endpoint {self.base_url} (model {self.model!r}) answered HTTP "
                        f"{exc.status_code}: {_error_message(exc)} — {hint}"
                    ) from exc
                error: Exception = exc
                last = f"HTTP {exc.status_code}: {_error_message(exc)}"
                retry_after = _retry_after(exc.response)
            except openai.APITimeoutError as exc:  # before APIConnectionError, its parent class
                error, last, retry_after = exc, f"the request timed out after {self.timeout:g} s", None
            except openai.APIConnectionError as exc:
                error, last, retry_after = exc, _connection_error(exc), None
            except openai.OpenAIError as exc:  # e.g. a response that is not a chat completion
                raise AgentError(
                    f"OpenAI-compatible endpoint {self.base_url} (model {self.model!r}) failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if attempt == attempts - 1:
                raise AgentError(
                    f"OpenAI-compatible endpoint {self.base_url} (model {self.model!r}) failed after "
                    f"{attempts} attempt(s); last error: {last}"
                ) from error
            await asyncio.sleep(self._backoff(attempt, retry_after))
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with equal jitter; a server's Retry-After wins, up to `max_backoff`."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2**attempt)
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        return delay

    # ----- response ---------------------------------------------------------------------------------
    def _output(self, response: Any) -> AgentOutput:
        if not getattr(response, "choices", None):
            raise AgentError(
                f"OpenAI-compatible endpoint {self.base_url} (model {self.model!r}) returned no choices: {response!r}"
            )
        choice = response.choices[0]
        message = choice.message
        tool_calls = None
        if message.tool_calls:
            tool_calls = [
                ToolCall(
                    id=call.id,
                    function=FunctionCall(name=call.function.name, arguments=call.function.arguments),
                )
                for call in message.tool_calls
                if getattr(call, "function", None) is not None
            ] or None
        usage = None
        if response.usage is not None:
            usage = Usage(
                prompt_tokens=response.usage.prompt_tokens or 0,
                completion_tokens=response.usage.completion_tokens or 0,
            )
        logprobs = token_ids = None
        entries = choice.logprobs.content if choice.logprobs is not None else None
        if entries:
            logprobs = [float(entry.logprob) for entry in entries]
            matches = [_TOKEN_ID.match(entry.token) for entry in entries]
            if all(matches):
                token_ids = [int(m.group(1)) for m in matches]  # type: ignore[union-attr]
        extra_ids = (choice.model_extra or {}).get("token_ids")  # vLLM with return_token_ids
        if isinstance(extra_ids, list) and all(isinstance(i, int) for i in extra_ids):
            token_ids = extra_ids
        return AgentOutput(
            text=message.content or "",
            tool_calls=tool_calls,
            token_ids=token_ids,
            logprobs=logprobs,
            usage=usage,
        )


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return exc.message


def _connection_error(exc: openai.APIConnectionError) -> str:
    """The client says only "Connection error."; the cause (refused, reset, DNS) is what helps."""
    cause = exc.__cause__ or exc.__context__
    return f"{exc}" + (f" ({type(cause).__name__}: {cause})" if cause else "")


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: use our own backoff
