"""The WebShop server: routes over real envs, and a person's purchase clicked through headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from html import escape
from pathlib import Path

import pytest

from agentgym.cli import main
from agentgym.environments.webshop.env import WebShopEnv
from agentgym.environments.webshop.page import SEP
from agentgym.environments.webshop.server import create_app
from tests.environments.webshop.html_reader import read_html

NUM_PRODUCTS = 200
SPLIT = "test"


def make_env() -> WebShopEnv:
    return WebShopEnv(num_products=NUM_PRODUCTS)


def expert_path(env: WebShopEnv, task_id: str) -> tuple[list[str], list[str], float, bool]:
    """The expert's actions on `task_id`, the page kind after each, the reward it ends with, and whether it
    chose an option on the way."""
    _, info = env.reset(options={"task_id": task_id, "split": SPLIT})
    actions, kinds, reward, chose_option = [], [], 0.0, False
    while info.get("expert_action") and len(actions) < 20:
        actions.append(info["expert_action"])
        options = {e.text for e in env.page.elements if e.kind == "option"}
        chose_option |= actions[-1].removeprefix("click[").removesuffix("]") in options
        _, reward, terminated, truncated, info = env.step(actions[-1])
        kinds.append(env.page.kind)
        if terminated or truncated:
            break
    return actions, kinds, reward, chose_option


@pytest.fixture(scope="module")
def expert_run() -> tuple[str, list[str], list[str]]:
    """A test goal on which the expert searches, opens the target, chooses options and earns 1.0 buying it."""
    env = make_env()
    try:
        for task in list(env.task_set(SPLIT))[:30]:
            actions, kinds, reward, chose_option = expert_path(env, task.id)
            if reward == 1.0 and chose_option:
                return task.id, actions, kinds
    finally:
        env.close()
    pytest.fail("no test goal among the first 30 has an expert path with an option click and reward 1.0")


class CountingEnv(WebShopEnv):
    """A real env that counts how often it is closed."""

    closed: list[int] = []

    def close(self) -> None:
        CountingEnv.closed.append(id(self))
        super().close()


@pytest.fixture()
def client():
    from fastapi.testclient import TestClient

    app = create_app(make_env, max_sessions=4)
    with TestClient(app) as test_client:
        yield test_client


def start(client, query: str = "") -> str:
    response = client.get(f"/{query}", follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"].lstrip("/")


def env_of(client, session_id: str) -> WebShopEnv:
    return client.app.state.sessions.get(session_id).env


# ----- routes ---------------------------------------------------------------------------------------
def test_start_opens_a_session_on_the_requested_goal(client, expert_run):
    goal = expert_run[0]
    session_id = start(client, f"?goal={goal}")  # found in its split without ?split=
    env = env_of(client, session_id)
    assert env.task.id == goal and env.page.kind == "search"
    page = client.get(f"/{session_id}")
    assert page.status_code == 200 and 'data-page="search"' in page.text
    assert all(escape(e.text) in page.text for e in env.page.elements)
    assert start(client, "?split=train") != session_id


def test_unknown_sessions_goals_and_splits_are_clear_404s(client):
    for response in (
        client.get("/no-such-session"),
        client.post("/no-such-session/act", data={"action": "x"}),
    ):
        assert response.status_code == 404 and "no-such-session" in response.text
    response = client.get("/?goal=no-such-goal")
    assert response.status_code == 404 and "no-such-goal" in response.text
    response = client.get("/?split=no-such-split")
    assert response.status_code == 404 and "no-such-split" in response.text


def test_posted_actions_step_the_env_and_redirect_back(client, expert_run):
    goal, actions, _ = expert_run
    session_id = start(client, f"?goal={goal}&split={SPLIT}")
    env = env_of(client, session_id)
    keywords = actions[0].removeprefix("search[").removesuffix("]")
    response = client.post(f"/{session_id}/act", data={"search": keywords}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/{session_id}"
    assert env.page.kind == "results"

    before = env.page
    page = client.post(f"/{session_id}/act", data={"action": "click[no such button]"})
    assert env.page == before and 'class="notice"' in page.text  # nothing happened, and the page says so

    for action in actions[1:]:
        page = client.post(f"/{session_id}/act", data={"action": action})
        assert SEP.join(read_html(page.text).texts[:-1]) == env.page.text  # the page the text env shows
    assert env.page.kind == "done"
    shown = read_html(page.text).shown
    assert shown[shown.index("Your score (min 0.0, max 1.0)") + 1] == "1.0"
    assert client.post(f"/{session_id}/act", data={"search": "more"}).status_code == 200
    assert env.page.kind == "done"  # a finished episode takes no more actions
    assert client.post(f"/{session_id}/act", data={}).status_code == 400


def test_sessions_are_bounded_and_evicted_envs_are_closed():
    from fastapi.testclient import TestClient

    CountingEnv.closed.clear()
    app = create_app(lambda: CountingEnv(num_products=NUM_PRODUCTS), max_sessions=2)
    with TestClient(app) as client:
        first, second = start(client), start(client)
        client.get(f"/{first}")  # the first is now the most recently used
        third = start(client)
        assert len(app.state.sessions) == 2 and len(CountingEnv.closed) == 1
        assert client.get(f"/{second}").status_code == 404
        assert client.get(f"/{first}").status_code == 200 and client.get(f"/{third}").status_code == 200
    assert len(CountingEnv.closed) == 3  # shutting the app down closes the rest


def test_the_serve_command_serves_sessions_until_interrupted():
    import httpx

    command = [sys.executable, "-m", "agentgym.cli", "webshop", "serve", "--port", "0"]
    server = subprocess.Popen(
        [*command, "--num-products", str(NUM_PRODUCTS), "--synthetic-goals"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = server.stdout.readline()  # printed once the port is bound, before serving
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert found, f"no address in {first!r}: {server.stderr.read() if server.poll() is not None else ''}"
        url = found.group(0)
        assert int(found.group(1)) > 0
        deadline, response = time.monotonic() + 60, None
        while response is None and server.poll() is None and time.monotonic() < deadline:
            try:
                response = httpx.get(url, follow_redirects=True, timeout=10)
            except httpx.TransportError:
                time.sleep(0.2)
        assert response is not None, (
            f"the server did not answer: {server.stderr.read() if server.poll() is not None else ''}"
        )
        assert response.status_code == 200 and 'data-page="search"' in response.text
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert "Traceback" not in err


def test_serving_on_a_port_in_use_says_so(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["webshop", "serve", "--port", str(port), "--num-products", str(NUM_PRODUCTS)])
    assert code != 0
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "--port" in err


# ----- a person in a browser ------------------------------------------------------------------------
@pytest.fixture()
def live_server():
    """The app under uvicorn on a free localhost port, in a thread; stopped (and checked stopped) after."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(make_env), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive(), "the server thread did not stop"


@pytest.fixture()
def chromium() -> tuple[str, str]:
    """Paths of the browser and its driver; the test is skipped where they are not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("needs Debian's headless browser: apt-get install -y chromium chromium-driver")
    return browser, driver


def chromium_processes() -> set[int]:
    """Live chromium and chromedriver processes descended from this test process."""
    stats = {pid: stat for pid in _pids() if (stat := _stat(pid)) is not None and stat[1] != "Z"}
    found: set[int] = set()
    for pid, (name, _, _) in stats.items():
        ancestor = pid
        while ancestor in stats and ancestor != os.getpid():
            ancestor = stats[ancestor][2]
        if ancestor == os.getpid() and "chrom" in name:
            found.add(pid)
    return found


def still_running(pids: set[int], wait_s: float = 15) -> set[int]:
    """Those of `pids` still alive (zombies count as gone) after waiting up to `wait_s` for them to exit."""
    deadline = time.monotonic() + wait_s
    while True:
        alive = {pid for pid in pids if (stat := _stat(pid)) is not None and stat[1] != "Z"}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(name, state, parent pid) of a process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    state, parent = text[text.rindex(")") + 2 :].split()[:2]
    return name, state, int(parent)


def open_chromium(browser: str, driver: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def do_in_browser(chrome, action: str) -> None:
    """Perform a text action the way a person does: type into the search bar, or press the right button."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = chrome.find_element(By.TAG_NAME, "html")
    if action.startswith("search["):
        field = chrome.find_element(By.NAME, "search")
        field.send_keys(action.removeprefix("search[").removesuffix("]"))
        field.find_element(By.XPATH, "following-sibling::button").click()
    else:
        fields = chrome.find_elements(By.CSS_SELECTOR, "form input[name=action]")
        values = [f.get_attribute("value") for f in fields]
        exact = [f for f, v in zip(fields, values, strict=True) if v == action]
        loose = [f for f, v in zip(fields, values, strict=True) if v.lower() == action.lower()]
        assert exact or loose, f"no button on the page posts {action!r}; the page offers {values}"
        (exact or loose)[0].find_element(By.XPATH, "following-sibling::button").click()
    WebDriverWait(chrome, 30).until(expected_conditions.staleness_of(page))


@pytest.mark.browser
def test_a_person_buys_the_target_product_in_headless_chromium(chromium, live_server, expert_run):
    from selenium.webdriver.common.by import By

    goal, actions, kinds = expert_run
    chrome = open_chromium(*chromium)
    seen = chromium_processes()
    try:
        assert seen, "no chromium process was found under this test"
        chrome.get(f"{live_server}/?goal={goal}")
        assert chrome.find_element(By.TAG_NAME, "body").get_attribute("data-page") == "search"
        assert chrome.find_element(By.ID, "instruction-text").is_displayed()
        chosen: set[str] = set()
        for action, kind in zip(actions, kinds, strict=True):
            offered = {o.text for o in chrome.find_elements(By.CSS_SELECTOR, ".radio-toolbar button")}
            do_in_browser(chrome, action)
            assert chrome.find_element(By.TAG_NAME, "body").get_attribute("data-page") == kind, action
            if (clicked := action.removeprefix("click[").removesuffix("]")) in offered:
                chosen.add(clicked)
            options = chrome.find_elements(By.CSS_SELECTOR, ".radio-toolbar button")
            assert {o.text for o in options if o.get_attribute("aria-pressed") == "true"} == (
                chosen if options else set()
            )
        assert chosen, "the expert chose no option"
        assert chrome.find_element(By.CSS_SELECTOR, "#reward pre").text == "1.0"
    finally:
        seen |= chromium_processes()
        chrome.quit()
    assert still_running(seen) == set(), "chromium processes outlived the browser"
    assert chromium_processes() == set()
