"""WebShop in a browser: each session is one `WebShopEnv`, and every click is the env's own text action.

    GET  /                    start a session (random goal, or ?goal=<task id>, ?split=, ?seed=)
    GET  /{session_id}        the session's current page, as HTML
    POST /{session_id}/act    step the env with the posted action, then redirect back (post/redirect/get)

The pages are `render_html` of the env's `page`, the same page model the text observation is read from,
so what a person sees and clicks here is exactly what an agent sees and types. Sessions are kept in a
bounded least-recently-used table; an evicted session's env is closed.

    agentgym webshop serve --port 3000     # then open http://127.0.0.1:3000 (--port 0: any free port)
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from agentgym.environments.webshop.html import ACTION_FIELD, SEARCH_FIELD, render_html
from agentgym.errors import AgentGymError, ConfigError, UnknownTaskError, require

if TYPE_CHECKING:
    import fastapi

    from agentgym.environments.webshop.env import WebShopEnv
    from agentgym.environments.webshop.page import Page

DEFAULT_MAX_SESSIONS = 64


@dataclass
class Session:
    """One shopper: the env, and what the last step said that its page does not show."""

    env: "WebShopEnv"
    lock: threading.Lock
    done: bool = False
    notice: str | None = None  # why the last action changed nothing

    @property
    def page(self) -> "Page":
        return self.env.unwrapped.page


class Sessions:
    """A bounded table of sessions, least recently used evicted first (its env closed)."""

    def __init__(self, make_env: Callable[[], "WebShopEnv"], max_sessions: int = DEFAULT_MAX_SESSIONS):
        if max_sessions < 1:
            raise ConfigError(f"max_sessions must be at least 1, got {max_sessions}")
        self.make_env = make_env
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def start(self, goal: str | None = None, split: str | None = None, seed: int | None = None) -> str:
        """Make a new env and reset it to `goal` (a task id) or to one drawn from `split`; return the new
        session's id. A bad goal or split raises, and nothing is kept."""
        env = self.make_env()
        try:
            env.reset(seed=seed, options=goal_options(env, goal, split) or None)
        except BaseException:
            env.close()
            raise
        session_id = uuid.uuid4().hex[:16]
        evicted: list[Session] = []
        with self._lock:
            self._sessions[session_id] = Session(env=env, lock=threading.Lock())
            while len(self._sessions) > self.max_sessions:
                evicted.append(self._sessions.popitem(last=False)[1])
        for session in evicted:
            _close(session)
        return session_id

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                self._sessions.move_to_end(session_id)
            return session

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            _close(session)


def _close(session: Session) -> None:
    with session.lock:
        session.env.close()


def goal_options(env: "WebShopEnv", goal: str | None, split: str | None) -> dict[str, Any]:
    """Reset options for `?goal=&split=`; a goal given without a split is looked up in every split."""
    options: dict[str, Any] = {}
    if split is not None:
        options["split"] = split
    if goal is None:
        return options
    options["task_id"] = goal
    if split is None:
        for name in env.splits():
            if goal in env.task_set(name):
                options["split"] = name
                break
        else:
            raise UnknownTaskError(f"goal {goal!r} is in no split of WebShop ({', '.join(env.splits())})")
    return options


def posted_action(body: bytes) -> str | None:
    """The text action of a form post: the `action` field as is, or `search[<keywords>]`."""
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    if fields.get(ACTION_FIELD):
        return fields[ACTION_FIELD][0]
    if fields.get(SEARCH_FIELD):
        return f"search[{fields[SEARCH_FIELD][0].strip()}]"
    return None


def create_app(
    make_env: Callable[[], "WebShopEnv"], *, max_sessions: int = DEFAULT_MAX_SESSIONS
) -> "fastapi.FastAPI":
    """A FastAPI app serving WebShop sessions, each on a fresh env from `make_env`."""
    fastapi = require("fastapi", "webshop", "the WebShop web server")
    from fastapi import HTTPException, Request
    from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
    from starlette.concurrency import run_in_threadpool

    sessions = Sessions(make_env, max_sessions)

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            sessions.close()

    app = fastapi.FastAPI(title="WebShop", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.sessions = sessions

    @app.exception_handler(AgentGymError)
    async def bad_request(request: Request, exc: AgentGymError):
        status = 404 if isinstance(exc, UnknownTaskError) else 400
        return PlainTextResponse(str(exc), status_code=status)

    def session_or_404(session_id: str) -> Session:
        session = sessions.get(session_id)
        if session is None:
            raise HTTPException(
                status_code=404,
                detail=f"session {session_id!r} does not exist (it may have expired); start one at /",
            )
        return session

    @app.get("/")
    def start(goal: str | None = None, split: str | None = None, seed: int | None = None):
        session_id = sessions.start(goal, split, seed)
        return RedirectResponse(f"/{quote(session_id, safe='')}", status_code=303)

    @app.get("/{session_id}", response_class=HTMLResponse)
    def show(session_id: str):
        session = session_or_404(session_id)
        with session.lock:
            html = render_html(session.page, session_id=session_id, notice=session.notice)
        return HTMLResponse(html)

    @app.post("/{session_id}/act")
    async def act(session_id: str, request: Request):
        session = session_or_404(session_id)
        action = posted_action(await request.body())
        if action is None:
            raise HTTPException(
                status_code=400, detail=f"expected a form field {ACTION_FIELD!r} or {SEARCH_FIELD!r}"
            )
        await run_in_threadpool(step, session, action)  # a search can take a while: keep the loop free
        return RedirectResponse(f"/{quote(session_id, safe='')}", status_code=303)

    return app


def step(session: Session, action: str) -> None:
    """Step the session's env with `action`; a finished episode ignores further actions."""
    with session.lock:
        if session.done:
            return
        _, _, terminated, truncated, info = session.env.step(action)
        session.done = terminated or truncated
        session.notice = _notice(info)


def _notice(info: dict[str, Any]) -> str | None:
    if info.get("parse_error"):
        return str(info["parse_error"])
    if info.get("action_valid") is False:
        return f"Nothing happened: {info.get('action')!r} is not available on this page."
    return None


def serve(
    host: str = "127.0.0.1", port: int = 3000, *, max_sessions: int = DEFAULT_MAX_SESSIONS, **env_kwargs
):
    """Run the WebShop server with uvicorn until interrupted; `env_kwargs` go to every `WebShopEnv`."""
    uvicorn = require("uvicorn", "webshop", "the WebShop web server")
    from agentgym.environments.webshop.env import WebShopEnv

    def make_env() -> WebShopEnv:
        return WebShopEnv(**env_kwargs)

    sock = _listening_socket(host, port)  # bound first: a taken port fails before the catalog loads
    port = sock.getsockname()[1]  # the one given, or the free one that port 0 got
    try:
        warm = make_env()  # load the catalog and build its search index before the first shopper waits
        warm.reset(seed=0)
        warm.close()
    except BaseException:
        sock.close()
        raise
    shown = f"[{host}]" if ":" in host else host
    print(f"WebShop on http://{shown}:{port}/  (Ctrl+C to stop)", flush=True)
    config = uvicorn.Config(create_app(make_env, max_sessions=max_sessions), log_level="warning")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl+C it stopped on; stopping is what was asked
        pass
    finally:
        sock.close()


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(
            f"cannot serve WebShop on {host}:{port}: {e.strerror or e}; pick another --port (0: any free one)"
        ) from e
    return sock
