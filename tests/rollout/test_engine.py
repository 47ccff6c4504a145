"""The episode loop, concurrency, history, streaming and failure handling of the rollout engine."""

import asyncio
import json

import pytest

from agentgym.agents.base import AgentOutput
from agentgym.errors import AgentError, ConfigError, UnknownEnvironmentError, UnknownTaskError
from agentgym.rollout import RolloutConfig, rollout, run_rollouts
from agentgym.types import FunctionCall, ToolCall, read_jsonl
from tests.rollout.helpers import SCRIPTED, ExpertAgent, failing_agent, task_of

MAZE = "agentgym/Maze-v0"
GATED_TASK = "maze-4x4-s1000000"


def config(**overrides) -> RolloutConfig:
    fields = {"env_id": MAZE, "num_tasks": 6, "workers": 0, "progress": False, **overrides}
    return RolloutConfig(**fields)


@pytest.mark.parametrize("workers", [0, 1])
async def test_expert_solves_every_maze(workers):
    agent = ExpertAgent()
    result = await run_rollouts(agent, config(num_tasks=20, samples=2, seed=7, workers=workers))
    assert result.played == 40 and len(result.trajectories) == 40
    assert result.summary.success_rate == 1.0 and result.summary.errors == 0
    assert len({t.key for t in result.trajectories}) == 40
    first = result.trajectories[0]
    assert (first.task_id, first.seed, first.sample, first.split) == ("maze-4x4-s1000000", 7, 0, "test")
    assert result.trajectories[1].seed == 8 and result.trajectories[1].sample == 1
    assert [m.role for m in first.messages] == ["system", "user"]
    assert first.success and first.terminated and first.status == "ok"
    assert first.outcome_reward == 1.0 and first.total_reward == 1.0
    assert all(turn.env_seconds > 0 and turn.agent_seconds >= 0 for turn in first.turns)
    assert first.metrics["turns"] == len(first.turns) and first.metrics["attempts"] == 1
    assert first.metrics["prompt_tokens"] == 10 * len(first.turns)
    assert result.summary.prompt_tokens == 10 * result.summary.turns
    assert result.summary.turns_per_second > 0


class GatheringAgent(ExpertAgent):
    """Holds every call until `size` calls have been in flight at once (or 10 s pass), so that reaching
    the bound does not depend on how the calls happen to overlap in time."""

    def __init__(self, size: int):
        super().__init__(delay=0.005)
        self.size, self.gathered = size, asyncio.Event()
        self.holding = self.most_held = 0

    async def act(self, messages, tools=None, *, info=None):
        self.holding += 1
        self.most_held = max(self.most_held, self.holding)
        if self.holding >= self.size:
            self.gathered.set()
        try:
            try:
                await asyncio.wait_for(self.gathered.wait(), 10)
            except TimeoutError:  # never reached: let every call go, and the test fail on most_held
                self.gathered.set()
            return await super().act(messages, tools, info=info)
        finally:
            self.holding -= 1


async def test_concurrency_is_bounded_and_reached():
    agent = GatheringAgent(5)
    await run_rollouts(agent, config(num_tasks=30, concurrency=5))
    assert agent.most_held == 5 and agent.max_in_flight <= 5


@pytest.mark.parametrize("workers", [0, 2])
async def test_a_slow_environment_step_does_not_stall_the_event_loop(workers, tmp_path):
    """One task's first step holds until other episodes have played 6 turns meanwhile: a step that held
    the event loop would never see them (and give up after 30 s)."""
    turns_while_held = 0

    def script(messages, info):
        nonlocal turns_while_held
        if task_of(info) != GATED_TASK and (tmp_path / "held").exists():
            turns_while_held += 1
            if turns_while_held == 6:
                (tmp_path / "released").touch()
        return None

    cfg = config(
        env_id=SCRIPTED,
        env_kwargs={"gated_tasks": (GATED_TASK,), "gate": str(tmp_path)},
        num_tasks=5,
        concurrency=2,
        workers=workers,
        max_turns=3,
    )
    result = await run_rollouts(ExpertAgent(script=script), cfg)
    assert not (tmp_path / "gave-up").exists(), f"{turns_while_held} turns were played while the step held"
    assert result.summary.errors == 0 and len(result.trajectories) == 5


async def test_history_window_keeps_the_opening_and_the_last_turns():
    agent = ExpertAgent(script=lambda messages, info: "look")
    await run_rollouts(agent, config(num_tasks=1, max_turns=5, history="last:2", concurrency=1))
    assert agent.seen_lengths == [2, 4, 6, 6, 6]  # system + first observation, then 2 messages per turn
    agent = ExpertAgent(script=lambda messages, info: "look")
    result = await run_rollouts(agent, config(num_tasks=1, max_turns=4, concurrency=1))
    assert agent.seen_lengths == [2, 4, 6, 8]
    assert len(result.trajectories[0].turns) == 4


async def test_max_turns_truncates_the_episode():
    agent = ExpertAgent(script=lambda messages, info: "look")
    result = await run_rollouts(agent, config(num_tasks=2, max_turns=3))
    for trajectory in result.trajectories:
        assert len(trajectory.turns) == 3 and trajectory.truncated and not trajectory.terminated
        assert trajectory.status == "ok" and not trajectory.success
        assert [turn.truncated for turn in trajectory.turns] == [False, False, True]


async def test_trajectories_stream_to_the_file_as_episodes_finish(tmp_path):
    output = tmp_path / "run" / "trajectories.jsonl"
    lines_seen = []

    def script(messages, info):
        if len(messages) == 2:  # first turn of an episode
            lines_seen.append(len(output.read_text().splitlines()))
        return None

    await run_rollouts(ExpertAgent(script=script), config(num_tasks=5, concurrency=1, output=output))
    assert lines_seen == [0, 1, 2, 3, 4]
    assert [t.task_id for t in read_jsonl(output)] == [f"maze-4x4-s100000{i}" for i in range(5)]


async def test_parse_errors_are_turns_not_failures():
    def script(messages, info):
        return "I am not sure.\nLet me think about it." if len(messages) == 2 else None

    agent = ExpertAgent(script=script)
    result = await run_rollouts(agent, config(num_tasks=3))
    for trajectory in result.trajectories:
        first = trajectory.turns[0]
        assert first.parse_error and first.action_valid is False and first.reward == 0.0
        assert "could not be read" in first.observation
        assert trajectory.status == "ok" and trajectory.success and trajectory.metrics["attempts"] == 1
    assert agent.episodes_started == 3


async def test_agent_errors_are_retried_then_recorded():
    bad, flaky = "maze-4x4-s1000001", "maze-4x4-s1000002"
    agent = failing_agent({bad})
    result = await run_rollouts(agent, config(num_tasks=4, max_retries=2))
    by_task = {t.task_id: t for t in result.trajectories}
    assert agent.failures[bad] == 3  # the first try and two retries
    assert by_task[bad].status == "error" and "AgentError" in by_task[bad].error
    assert "after 3 attempts" in by_task[bad].error
    assert all(t.status == "ok" and t.success for task, t in by_task.items() if task != bad)
    assert result.summary.errors == 1 and result.summary.episodes == 3 and result.summary.success_rate == 1.0

    agent = failing_agent({flaky}, times=1)
    result = await run_rollouts(agent, config(num_tasks=4))
    flaky_trajectory = next(t for t in result.trajectories if t.task_id == flaky)
    assert flaky_trajectory.status == "ok" and flaky_trajectory.metrics["attempts"] == 2


async def test_other_agent_exceptions_name_their_type():
    agent = failing_agent({"maze-4x4-s1000000"}, error=ValueError)
    result = await run_rollouts(agent, config(num_tasks=2, max_retries=0))
    assert result.trajectories[0].status == "error"
    assert result.trajectories[0].error.startswith("agent: ValueError: scripted failure 1")
    assert result.trajectories[1].status == "ok"


@pytest.mark.parametrize("workers", [0, 1])
async def test_environment_exceptions_are_retried_then_recorded(workers):
    def script(messages, info):
        return "explode" if task_of(info) == "maze-4x4-s1000000" else None

    result = await run_rollouts(
        ExpertAgent(script=script), config(env_id=SCRIPTED, num_tasks=3, max_retries=1, workers=workers)
    )
    broken, *rest = result.trajectories
    assert broken.status == "error" and broken.metrics["attempts"] == 2
    assert broken.error.startswith(
        "environment: EnvironmentCrashedError: the environment's step() raised RuntimeError"
    )
    assert all(t.status == "ok" and t.success for t in rest)


async def test_tool_calls_are_encoded_and_tool_results_become_tool_messages():
    call = ToolCall(id="call_1", function=FunctionCall(name="look_around", arguments="{}"))

    def script(messages, info):
        if len(messages) == 2:
            return AgentOutput(text=None, tool_calls=[call])
        return "look"

    agent = ExpertAgent(script=script)
    result = await run_rollouts(agent, config(env_id=SCRIPTED, num_tasks=1, max_turns=2, concurrency=1))
    first = result.trajectories[0].turns[0]
    assert first.tool_calls == [call] and first.agent_text == ""
    assert first.observation == "tools ran"
    assert agent.seen_lengths == [2, 4]  # assistant message with tool calls, then one tool message


async def test_the_agent_gets_the_tool_messages_in_its_history():
    call = ToolCall(id="call_7", function=FunctionCall(name="look_around", arguments="{}"))
    seen = []

    def script(messages, info):
        seen.append([m.model_copy() for m in messages])
        return AgentOutput(text="checking", tool_calls=[call]) if len(messages) == 2 else "look"

    await run_rollouts(ExpertAgent(script=script), config(env_id=SCRIPTED, num_tasks=1, max_turns=2))
    assistant, tool = seen[1][2], seen[1][3]
    assert (
        assistant.role == "assistant" and assistant.content == "checking" and assistant.tool_calls == [call]
    )
    assert tool.role == "tool" and tool.tool_call_id == "call_7" and tool.content == "ran look_around"
    assert json.loads(json.dumps(tool.to_openai()))["tool_call_id"] == "call_7"


def test_sync_rollout_and_bad_configs():
    result = rollout(ExpertAgent(), config(num_tasks=2))
    assert result.summary.episodes == 2
    with pytest.raises(UnknownEnvironmentError):
        rollout(ExpertAgent(), config(env_id="agentgym/Mazes-v0"))
    with pytest.raises(UnknownTaskError, match="no-such-task"):
        rollout(ExpertAgent(), config(task_ids=["no-such-task"]))
    with pytest.raises(UnknownTaskError, match="split 'dev' does not exist"):
        rollout(ExpertAgent(), config(split="dev"))
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        config(concurrency=0)
    with pytest.raises(ConfigError, match="history must be"):
        config(history="last:two")
    with pytest.raises(ConfigError, match="resume=True needs `output`"):
        rollout(ExpertAgent(), config(resume=True))  # checked when the run starts: `output` may come later
    changed = config()
    changed.concurrency = -1
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        rollout(ExpertAgent(), changed)
    with pytest.raises(ConfigError, match="samples must be an int"):
        config(samples="3")


async def test_task_ids_and_num_tasks_pick_the_episodes():
    picked = ["maze-4x4-s1000009", "maze-4x4-s1000003", "maze-4x4-s1000005"]
    result = await run_rollouts(ExpertAgent(), config(task_ids=picked, num_tasks=2, samples=2, seed=100))
    assert [(t.task_id, t.seed) for t in result.trajectories] == [
        (picked[0], 100),
        (picked[0], 101),
        (picked[1], 100),
        (picked[1], 101),
    ]


async def test_agent_error_message_survives_to_the_record():
    agent = failing_agent({"maze-4x4-s1000000"}, error=AgentError)
    result = await run_rollouts(agent, config(num_tasks=1, max_retries=0))
    assert result.trajectories[0].error == (
        "agent: AgentError: scripted failure 1 of maze-4x4-s1000000 (after 1 attempt)"
    )
