"""Expert, random and HTTP-served expert agents playing Maze end to end."""

from __future__ import annotations

import asyncio

import pytest

import agentgym
from agentgym.agents import Agent, ExpertAgent, OpenAIAgent, RandomAgent
from agentgym.errors import AgentError, ConfigError
from agentgym.testing import ExpertPolicy, OpenAICompatibleServer
from agentgym.types import Message

MAZE = "agentgym/Maze-v0"


async def play(
    agent: Agent, task_id: str, split: str = "test", max_turns: int = 30
) -> tuple[bool, int, list[Message]]:
    """One episode driven by hand: system prompt, then observation/reply turns. Returns (success, turns, messages)."""
    env = agentgym.make(MAZE)
    observation, info = env.reset(options={"task_id": task_id, "split": split})
    messages = [
        Message(role="system", content=info["system_prompt"]),
        Message(role="user", content=observation),
    ]
    for turn in range(1, max_turns + 1):
        out = await agent.act(messages, info["tools"], info=info)
        messages.append(Message(role="assistant", content=out.text))
        observation, _, terminated, truncated, info = env.step(out.text)
        if terminated or truncated:
            return bool(info.get("success")), turn, messages
        messages.append(Message(role="user", content=observation))
    return False, max_turns, messages


def distinct_opening_tasks(n: int, split: str = "test") -> list[str]:
    """The first `n` tasks whose opening observations differ (ExpertPolicy tells episodes apart by it)."""
    env = agentgym.make(MAZE)
    chosen: dict[str, str] = {}
    for task_id in env.unwrapped.task_set(split).ids:
        observation, _ = env.reset(options={"task_id": task_id, "split": split})
        chosen.setdefault(observation, task_id)
        if len(chosen) == n:
            break
    return list(chosen.values())


async def test_expert_agent_solves_maze():
    for task_id in ("maze-4x4-s1000000", "maze-4x4-s1000001"):
        success, turns, _ = await play(ExpertAgent(), task_id)
        assert success and turns < 30


async def test_expert_agent_without_expert_action():
    with pytest.raises(AgentError, match="provides no expert action"):
        await ExpertAgent().act([], info={"admissible_actions": ["look"]})
    with pytest.raises(AgentError, match="provides no expert action"):
        await ExpertAgent().act([], info={"expert_action": None})
    with pytest.raises(AgentError, match="info"):
        await ExpertAgent().act([])


async def test_random_agent_picks_admissible_actions_deterministically():
    async def actions(seed):
        env = agentgym.make(MAZE)
        _, info = env.reset(seed=3)
        agent, chosen = RandomAgent(seed=seed), []
        for _ in range(12):
            action = (await agent.act([], info=info)).text
            assert action in info["admissible_actions"]
            chosen.append(action)
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        return chosen

    assert await actions(0) == await actions(0)
    assert await actions(0) != await actions(5)


async def test_random_agent_without_admissible_actions_writes_a_short_command():
    agent = RandomAgent(seed=0)
    texts = [(await agent.act([], info={})).text for _ in range(20)]
    assert all(0 < len(t.split()) <= 2 for t in texts)
    assert len(set(texts)) > 3
    assert (await RandomAgent(seed=0).act([], info={})).text == texts[0]


async def test_expert_policy_over_http_solves_maze_episodes():
    """A real HTTP endpoint, the official openai client, and several episodes in flight at once."""
    task_ids = distinct_opening_tasks(3)
    policy = ExpertPolicy(MAZE, split="test", task_ids=task_ids)
    with OpenAICompatibleServer(policy) as server:
        async with OpenAIAgent("expert", base_url=server.base_url, max_retries=0) as agent:
            results = await asyncio.gather(*[play(agent, task_id) for task_id in task_ids])
        expected_requests = sum(len(policy.episodes[t][1]) for t in task_ids)
        assert server.request_count == expected_requests
    for (success, _, messages), task_id in zip(results, task_ids, strict=True):
        assert success, task_id
        assert [m.content for m in messages if m.role == "assistant"] == policy.episodes[task_id][1]


async def test_expert_policy_reports_unknown_and_ambiguous_episodes():
    """Different mazes can look the same for a few moves; then their experts disagree on the next one."""
    policy = ExpertPolicy(MAZE, split="test")
    next_moves: dict[tuple, set[str]] = {}
    for observations, actions in policy.episodes.values():
        for k in range(1, len(actions)):
            next_moves.setdefault((tuple(observations[: k + 1]), tuple(actions[:k])), set()).add(actions[k])
    observations, actions = min(
        (key for key, moves in next_moves.items() if len(moves) > 1), key=lambda key: len(key[1])
    )
    conversation = [Message(role="user", content=observations[0])]
    for action, observation in zip(actions, observations[1:], strict=True):
        conversation += [Message(role="assistant", content=action), Message(role="user", content=observation)]
    with OpenAICompatibleServer(policy) as server:
        async with OpenAIAgent("expert", base_url=server.base_url, max_retries=3) as agent:
            assert (await agent.act(conversation[:1])).text == actions[0]
            with pytest.raises(AgentError, match="ambiguous"):
                await agent.act(conversation)
            with pytest.raises(AgentError, match="no recorded"):
                await agent.act([Message(role="user", content="You are in a kitchen.")])
        assert server.request_count == 3  # HTTP 400 is not retried


def test_expert_policy_needs_an_expert():
    with pytest.raises(Exception, match="task"):
        ExpertPolicy(MAZE, split="test", task_ids=["no-such-task"])


def test_make_agent():
    from agentgym.agents import AGENTS, make_agent

    assert isinstance(make_agent("expert"), ExpertAgent)
    assert repr(make_agent("random", seed=7)) == "RandomAgent(seed=7)"
    agent = make_agent("openai", model="m", base_url="http://127.0.0.1:9/v1")
    assert isinstance(agent, OpenAIAgent) and agent.base_url == "http://127.0.0.1:9/v1"
    with pytest.raises(ConfigError) as excinfo:
        make_agent("gpt")
    assert all(name in str(excinfo.value) for name in AGENTS)
    with pytest.raises(ConfigError, match="'random'.*colour"):
        make_agent("random", colour="red")


def test_agents_import_does_not_load_torch():
    import subprocess
    import sys

    code = (
        "import sys, agentgym, agentgym.agents, agentgym.testing; "
        "from agentgym.agents import make_agent, OpenAIAgent; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
