"""QGuidedAgent: best-of-N replies chosen by a step-level Q-value model, alone and through `agentgym eval`."""

from __future__ import annotations

import asyncio
import json

import pytest

import agentgym
from agentgym.agents import QGuidedAgent, make_agent
from agentgym.agents.base import Agent, AgentOutput
from agentgym.errors import AgentError, ConfigError
from agentgym.types import Message, Usage

MAZE = "agentgym/Maze-v0"
HISTORY = [
    Message(role="system", content="rules"),
    Message(role="user", content="Open directions: north, south."),
]


class Proposer(Agent):
    """Replies with its `replies` in turn; records how many calls were in flight at once."""

    def __init__(self, replies: list[str]):
        self.replies, self.calls, self.in_flight, self.most_in_flight = replies, 0, 0, 0
        self.closed = False

    async def act(self, messages, tools=None, *, info=None):
        text = self.replies[self.calls % len(self.replies)]
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0)
        self.in_flight -= 1
        return AgentOutput(
            text=text,
            token_ids=[len(text)],
            logprobs=[-0.5],
            usage=Usage(prompt_tokens=10, completion_tokens=2),
        )

    async def aclose(self):
        self.closed = True


class TableScorer:
    """Scores a reply by a fixed table; records what it was asked to score."""

    def __init__(self, table: dict[str, float]):
        self.table, self.asked = table, []

    def score_actions(self, messages, candidates):
        self.asked.append([c.content for c in candidates])
        return [self.table[c.content] for c in candidates]


async def test_the_highest_scored_distinct_candidate_is_played():
    proposer = Proposer(["go south", "go north", "go south", "look"])
    scorer = TableScorer({"go south": 0.2, "go north": 0.9, "look": -1.0})
    agent = QGuidedAgent(proposer, scorer, candidates=4)
    output = await agent.act(HISTORY)
    assert output.text == "go north"
    assert (output.token_ids, output.logprobs) == ([8], [-0.5])  # the chosen candidate's own sample
    assert output.usage == Usage(prompt_tokens=40, completion_tokens=8)  # what all four cost
    assert proposer.calls == 4 and proposer.most_in_flight == 4  # four concurrent act calls
    assert scorer.asked == [["go south", "go north", "look"]]  # identical replies scored once

    scorer.table["look"] = 5.0
    assert (await agent.act(HISTORY)).text == "look"


async def test_identical_candidates_need_no_scoring_and_aclose_closes_the_inner_agent():
    proposer, scorer = Proposer(["go east"]), TableScorer({})
    agent = make_agent("q-guided", agent=proposer, q_model=scorer, candidates=3)
    assert (await agent.act(HISTORY)).text == "go east"
    assert scorer.asked == []
    await agent.aclose()
    await agent.aclose()
    assert proposer.closed
    with pytest.raises(AgentError, match="closed"):
        await agent.act(HISTORY)


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="candidates"):
        QGuidedAgent(Proposer(["x"]), TableScorer({}), candidates=0)
    with pytest.raises(ConfigError, match="Agent"):
        QGuidedAgent("a model path", TableScorer({}))
    with pytest.raises(ConfigError, match="score_actions"):
        QGuidedAgent(Proposer(["x"]), object())


# ----- with a real Q-value model ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    pytest.importorskip("torch")
    from agentgym.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"), seed=0)


@pytest.fixture(scope="module")
def north_q_model(tiny_dir, tmp_path_factory):
    """A Q-model trained by step-level DPO to prefer "go north" over every other move, in Maze openings."""
    pytest.importorskip("trl")
    from agentgym.verifiers.progress.qvalue import train_q_model

    env = agentgym.make(MAZE, width=3, height=3)
    rows = []
    for n, task in enumerate(env.unwrapped.task_set("train").ids[:12]):
        observation, info = env.reset(seed=0, options={"task_id": task})
        prompt = [
            {"role": "system", "content": info["system_prompt"]},
            {"role": "user", "content": observation},
        ]
        rejected = ["go south", "go east", "go west", "look"][n % 4]
        rows.append(
            {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": "go north"}],
                "rejected": [{"role": "assistant", "content": rejected}],
            }
        )
    out = tmp_path_factory.mktemp("north-q")
    return train_q_model(rows, str(tiny_dir), out, learning_rate=3e-3, epochs=3, batch_size=4, progress=False)


@pytest.mark.hf
async def test_a_q_model_trained_toward_one_action_picks_it(north_q_model):
    env = agentgym.make(MAZE, width=3, height=3)
    observation, info = env.reset(seed=0, options={"task_id": "maze-3x3-s1000000", "split": "test"})  # unseen
    history = [
        Message(role="system", content=info["system_prompt"]),
        Message(role="user", content=observation),
    ]
    agent = QGuidedAgent(Proposer(["go south", "look", "go north", "go west"]), north_q_model, candidates=4)
    scores = agent.scorer.score_actions(history, ["go south", "look", "go north", "go west"])
    assert max(range(4), key=scores.__getitem__) == 2
    assert (await agent.act(history)).text == "go north"
    await agent.aclose()


@pytest.mark.hf
def test_agentgym_eval_with_a_q_guided_agent(tiny_dir, north_q_model, tmp_path, capsys):
    from agentgym.cli import main

    out = tmp_path / "run"
    common = ["eval", MAZE, "--agent", "q-guided", "--model", str(tiny_dir), "-n", "2", "--max-turns", "3"]
    common += [
        "--workers",
        "0",
        "--env-arg",
        "width=3",
        "--env-arg",
        "height=3",
        "--max-tokens",
        "4",
        "--no-progress",
    ]
    assert main([*common, "--q-model", str(north_q_model), "--candidates", "3", "--out", str(out)]) == 0
    lines = (out / "trajectories.jsonl").read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        trajectory = json.loads(line)
        assert trajectory["status"] == "ok" and trajectory["turns"]
        for turn in trajectory["turns"]:
            # the played reply is one sample; the usage counts all three
            assert turn["usage"]["completion_tokens"] >= len(turn["token_ids"])
            assert turn["usage"]["prompt_tokens"] % 3 == 0
    assert "success" in capsys.readouterr().out.lower()

    assert main([*common, "--out", str(tmp_path / "other")]) == 2
    assert "--q-model" in capsys.readouterr().err
