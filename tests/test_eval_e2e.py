"""End to end: a model behind a real OpenAI-compatible HTTP endpoint plays TextWorld through `agentgym eval`.

The server (agentgym.testing) answers with the environment's expert actions, so every episode must be
won; an endpoint that is down must yield error records that `--resume` later completes.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from agentgym.agents import OpenAIAgent
from agentgym.rollout import RolloutConfig, run_rollouts
from agentgym.testing import ExpertPolicy, OpenAICompatibleServer
from agentgym.types import read_jsonl

pytest.importorskip("textworld")
ENV = "agentgym/TextWorld-v0"
NUM_TASKS = 3


@pytest.fixture(scope="module")
def expert_server(agentgym_cache):
    import agentgym

    task_ids = agentgym.make(ENV).unwrapped.task_set("test").ids[:NUM_TASKS]
    with OpenAICompatibleServer(ExpertPolicy(ENV, split="test", task_ids=task_ids)) as server:
        yield server


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_eval_with_an_openai_endpoint_wins_every_episode(expert_server, tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentgym.cli",
            "eval",
            ENV,
            "--agent",
            "openai",
            "--model",
            "agentgym-test",
            "--base-url",
            expert_server.base_url,
            "--api-key",
            "EMPTY",
            "-n",
            str(NUM_TASKS),
            "-c",
            "3",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    trajectories = list(read_jsonl(out / "trajectories.jsonl"))
    assert len(trajectories) == NUM_TASKS
    assert all(t.success and t.status == "ok" for t in trajectories)
    assert all(t.turns[-1].reward_components["won"] == 1.0 for t in trajectories)
    assert all(t.turns[0].usage and t.turns[0].usage.completion_tokens > 0 for t in trajectories)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["success_rate"] == 1.0
    assert expert_server.request_count >= sum(len(t.turns) for t in trajectories)


async def test_endpoint_down_is_recorded_then_resume_completes(expert_server, tmp_path):
    output = tmp_path / "trajectories.jsonl"
    config = RolloutConfig(
        ENV, num_tasks=NUM_TASKS, concurrency=3, workers=0, max_retries=1, output=output, progress=False
    )
    down = OpenAIAgent(
        "agentgym-test",
        base_url=f"http://127.0.0.1:{closed_port()}/v1",
        max_retries=1,
        initial_backoff=0.01,
        max_backoff=0.02,
    )
    async with down:
        result = await run_rollouts(down, config)
    assert [t.status for t in result.trajectories] == ["error"] * NUM_TASKS
    assert all("AgentError" in t.error and "127.0.0.1" in t.error for t in result.trajectories)
    assert result.summary.to_dict()["errors"] == NUM_TASKS

    config.resume = True
    async with OpenAIAgent("agentgym-test", base_url=expert_server.base_url) as up:
        resumed = await run_rollouts(up, config)
    assert resumed.played == NUM_TASKS
    records = list(read_jsonl(output))
    assert [r.status for r in records] == ["error"] * NUM_TASKS + ["ok"] * NUM_TASKS
    assert all(t.success for t in resumed.trajectories)
