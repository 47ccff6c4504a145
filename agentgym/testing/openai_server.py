"""A real OpenAI-compatible HTTP server on localhost, for tests that need an LLM endpoint.

`OpenAICompatibleServer` listens on a real socket (stdlib `ThreadingHTTPServer` in a background thread, no
extra dependency), so the official `openai` client, `curl` or the rollout engine talk to it exactly as they
would to vLLM or OpenAI. What it answers comes from a `respond(request_json)` callable; faults (HTTP
errors, slow replies) can be injected to test retries for real.

>>> with OpenAICompatibleServer(lambda request: "go north") as server:   # doctest: +SKIP
...     client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY")
...     client.chat.completions.create(model="test", messages=[...]).choices[0].message.content
'go north'

`ExpertPolicy` is a `respond` callable that plays an environment's expert, so end-to-end tests can drive
a real HTTP model endpoint through environments and expect episodes to be solved.

Endpoints: `POST /v1/chat/completions` (non-streaming and streaming SSE), `GET /v1/models`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agentgym.errors import ConfigError

Respond = Callable[[dict[str, Any]], "str | dict[str, Any]"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass
class _Fault:
    status: int | None  # None: answer normally (after the delay)
    delay: float
    message: str
    retry_after: float | None


def whitespace_tokens(text: str | None) -> list[str]:
    """How this server counts tokens: whitespace-separated words (good enough for usage accounting)."""
    return (text or "").split()


class OpenAICompatibleServer:
    """An OpenAI-compatible chat completions server in a background thread.

    Args:
        respond: called with the request JSON (a dict: `model`, `messages`, `tools`, ...) for each chat
            completion; returns the assistant's content (str) or a dict with `content` and/or `tool_calls`
            (OpenAI format; an `arguments` dict is serialised and a missing `id` is generated). A
            `LookupError` or `ValueError` it raises becomes HTTP 400 with its message (the request is
            one the responder cannot answer); any other exception becomes HTTP 500. Requests are served
            on concurrent threads, so `respond` must be thread-safe (a pure function of the request is).
        host, port: where to listen; port 0 picks a free port (see `base_url`).
        model: the model id listed by `/v1/models` (requests may name any model).

    Usage counts whitespace-separated words of all message contents (prompt) and of the reply
    (completion). When a request sets `logprobs: true`, each whitespace token of the reply gets a
    synthetic log-probability in OpenAI's `choices[0].logprobs.content` format.

    Test hooks: `fail_next(n, status)` answers the next n chat requests with that HTTP error;
    `delay_next(n, seconds)` makes them slow (to test timeouts); `hook(request) -> (status, body) | None`
    intercepts every chat request; `requests` records every chat request body and `request_count`
    counts them (failed ones included).
    """

    def __init__(
        self,
        respond: Respond,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        model: str = "agentgym-test",
        hook: Callable[[dict[str, Any]], tuple[int, dict[str, Any]] | None] | None = None,
    ):
        if not callable(respond):
            raise ConfigError(
                f"respond must be a callable request_json -> str | dict, got {type(respond).__name__}"
            )
        self.respond = respond
        self.model = model
        self.hook = hook
        self.requests: list[dict[str, Any]] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openai-test-server",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    # ----- public API ------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """What to pass as `base_url` to an OpenAI client, e.g. http://127.0.0.1:54321/v1."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def request_count(self) -> int:
        """Chat completion requests received so far, failed ones included."""
        with self._lock:
            return len(self.requests)

    def fail_next(
        self, n: int = 1, status: int = 500, *, message: str | None = None, retry_after: float | None = None
    ) -> None:
        """Answer the next `n` chat requests with HTTP `status` (e.g. 500, 503, 429, 400, 401)."""
        if not 400 <= status <= 599:
            raise ConfigError(f"fail_next status must be an HTTP error code 400-599, got {status!r}")
        text = message or f"injected failure ({status} {HTTPStatus(status).phrase})"
        with self._lock:
            self._faults.extend(_Fault(status, 0.0, text, retry_after) for _ in range(n))

    def delay_next(self, n: int = 1, seconds: float = 1.0) -> None:
        """Make the next `n` chat requests wait `seconds` before answering normally."""
        with self._lock:
            self._faults.extend(_Fault(None, seconds, "", None) for _ in range(n))

    def reset(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()

    def close(self) -> None:
        """Stop serving, drop open keep-alive connections and join the thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # handler threads blocked on an idle keep-alive connection wake up
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAICompatibleServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.base_url
        return f"OpenAICompatibleServer({state})"

    # ----- request handling (called from handler threads) ------------------------------------------
    def _take_fault(self, request: dict[str, Any]) -> _Fault | None:
        with self._lock:
            self.requests.append(request)
            return self._faults.pop(0) if self._faults else None

    def _completion(self, request: dict[str, Any]) -> dict[str, Any]:
        """The chat.completion object for `request` (raises what `respond` raises)."""
        reply = self.respond(request)
        if isinstance(reply, str):
            reply = {"content": reply}
        if not isinstance(reply, dict):
            raise TypeError(f"respond must return a str or a dict, got {type(reply).__name__}")
        content = reply.get("content")
        tool_calls = [_normalise_tool_call(call) for call in reply.get("tool_calls") or []]
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "finish_reason": reply.get("finish_reason") or ("tool_calls" if tool_calls else "stop"),
            "logprobs": _logprobs(content) if request.get("logprobs") else None,
        }
        prompt_tokens = sum(
            len(whitespace_tokens(_text(m.get("content")))) for m in request.get("messages", [])
        )
        completion_tokens = len(whitespace_tokens(content)) + sum(
            len(whitespace_tokens(call["function"]["arguments"])) for call in tool_calls
        )
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:24],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model") or self.model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _text(content: Any) -> str:
    """Message content as text: a string, or the text parts of a list of content parts."""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _normalise_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise TypeError(f"a tool call must be a dict, got {type(call).__name__}")
    function = call.get("function", call)
    arguments = function.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {
        "id": call.get("id") or "call_" + uuid.uuid4().hex[:24],
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments},
    }


def _logprobs(content: str | None) -> dict[str, Any]:
    """Synthetic but deterministic per-token log-probabilities, in OpenAI's format."""
    entries = []
    for i, token in enumerate(whitespace_tokens(content)):
        logprob = -0.01 * (1 + (i + len(token)) % 7)
        entries.append(
            {"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": []}
        )
    return {"content": entries}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default backlog of 5 stalls bursts of concurrent connections for ~1 s
    owner: OpenAICompatibleServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # the client gave up (a timeout under test) or the server is closing: not an error
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.owner._lock:
            self.server.owner._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.owner._lock:
            self.server.owner._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read their own output
        pass

    # ----- routes ----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            owner = self.server.owner
            model = {"id": owner.model, "object": "model", "created": 0, "owned_by": "agentgym"}
            self._send_json(200, {"object": "list", "data": [model]})
        elif self.path.rstrip("/") in ("/health", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._send_error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(404, f"no route POST {self.path}; this server speaks POST /v1/chat/completions")
            return
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            self._send_error(400, f"the request body is not valid JSON: {exc}")
            return
        if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
            self._send_error(400, "the request must be a JSON object with a 'messages' list")
            return
        owner = self.server.owner
        fault = owner._take_fault(request)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                headers = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
                self._send_error(fault.status, fault.message, headers)
                return
        if owner.hook is not None:
            intercepted = owner.hook(request)
            if intercepted is not None:
                self._send_json(*intercepted)
                return
        try:
            completion = owner._completion(request)
        except (LookupError, ValueError) as exc:
            self._send_error(400, f"{type(exc).__name__}: {exc}")
            return
        except Exception as exc:  # a broken responder is a server error, reported to the client
            self._send_error(500, f"respond failed: {type(exc).__name__}: {exc}")
            return
        if request.get("stream"):
            self._send_stream(
                completion, include_usage=bool((request.get("stream_options") or {}).get("include_usage"))
            )
        else:
            self._send_json(200, completion)

    # ----- responses -------------------------------------------------------------------------------
    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self._send_json(
            status, {"error": {"message": message, "type": kind, "param": None, "code": status}}, headers
        )

    def _send_stream(self, completion: dict[str, Any], include_usage: bool) -> None:
        """Server-sent events, chunked: a role chunk, one chunk per word, tool calls, finish, usage, [DONE]."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        choice = completion["choices"][0]
        message = choice["message"]
        base = {k: completion[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
            return base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, **extra}]}

        events = [chunk({"role": "assistant", "content": ""})]
        content = message.get("content") or ""
        logprob_entries = (choice.get("logprobs") or {}).get("content") or []
        words = content.split(" ") if content else []
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            extra = {"logprobs": {"content": logprob_entries[i : i + 1]}} if logprob_entries else {}
            events.append(chunk({"content": piece}, **extra))
        for index, call in enumerate(message.get("tool_calls") or []):
            events.append(chunk({"tool_calls": [{"index": index, **call}]}))
        events.append(chunk({}, choice["finish_reason"]))
        if include_usage:
            events.append(base | {"choices": [], "usage": completion["usage"]})
        for event in events:
            self._write_chunk(f"data: {json.dumps(event)}\n\n".encode())
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")  # the zero-length chunk that ends a chunked body

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class ExpertPolicy:
    """A `respond` callable that answers like an environment's expert, for end-to-end tests over HTTP.

    At construction it plays each task of `split` (or only `task_ids`) by following `info["expert_action"]`
    and records the observations and actions. A request is matched to an episode by its first user message
    (the initial observation), narrowed by the later user messages when the whole history is there; the
    k-th assistant turn (k = assistant messages so far) is answered with the k-th expert action.

    Some environments open many tasks with the same observation (a Maze start "Open directions: north.");
    when the matching episodes disagree on the next action, the request raises `LookupError` (HTTP 400)
    naming the tasks — pass `task_ids` to serve only episodes a test can tell apart. The conversation must
    keep its first user message and all assistant messages (full history).
    """

    def __init__(
        self,
        env_id: str,
        split: str = "test",
        env_kwargs: dict[str, Any] | None = None,
        *,
        task_ids: list[str] | None = None,
        seed: int | None = None,
        max_steps: int = 200,
    ):
        from agentgym.registration import make  # the registry imports an environment only when it is made

        self.env_id, self.split = env_id, split
        env = make(env_id, **(env_kwargs or {}))
        try:
            base = env.unwrapped
            ids = list(task_ids) if task_ids is not None else base.task_set(split).ids
            #: task id -> (observations, actions): observations[k] is the user message before action k.
            self.episodes: dict[str, tuple[list[str], list[str]]] = {}
            for task_id in ids:
                observation, info = env.reset(seed=seed, options={"task_id": task_id, "split": split})
                observations, actions = [observation], []
                while info.get("expert_action") is not None and len(actions) < max_steps:
                    actions.append(info["expert_action"])
                    observation, _, terminated, truncated, info = env.step(info["expert_action"])
                    if terminated or truncated:
                        break
                    observations.append(observation)
                if not actions:
                    raise ConfigError(
                        f"{env_id} task {task_id!r} gives no expert action at reset; ExpertPolicy needs an "
                        f"environment that fills info['expert_action']"
                    )
                self.episodes[task_id] = (observations, actions)
        finally:
            env.close()
        self._by_opening: dict[str, list[str]] = {}
        for task_id, (observations, _) in self.episodes.items():
            self._by_opening.setdefault(observations[0], []).append(task_id)

    def __call__(self, request: dict[str, Any]) -> str:
        messages = request.get("messages") or []
        users = [_text(m.get("content")) for m in messages if m.get("role") in ("user", "tool")]
        k = sum(1 for m in messages if m.get("role") == "assistant")
        if not users:
            raise LookupError("the conversation has no user message to recognise the episode by")
        candidates = self._by_opening.get(users[0], [])
        if not candidates:
            raise LookupError(
                f"no recorded {self.env_id} episode (split {self.split!r}, {len(self.episodes)} tasks) starts "
                f"with the observation {users[0][:200]!r}"
            )
        if len(users) == k + 1:  # full history: later observations tell episodes apart
            candidates = [t for t in candidates if self.episodes[t][0][: k + 1] == users]
        answers = {t: self.episodes[t][1][k] for t in candidates if k < len(self.episodes[t][1])}
        if not answers:
            raise LookupError(
                f"assistant turn {k} is past the end of every matching recorded episode "
                f"({', '.join(candidates) or 'none match the observations so far'})"
            )
        if len(set(answers.values())) > 1:
            raise LookupError(
                f"ambiguous: tasks {sorted(answers)} share this conversation but their experts disagree at turn "
                f"{k}; pass task_ids= to ExpertPolicy to serve only episodes it can tell apart"
            )
        return next(iter(answers.values()))

    def __repr__(self) -> str:
        return f"ExpertPolicy({self.env_id!r}, split={self.split!r}, {len(self.episodes)} episodes)"
