"""Summary figures: Wilson intervals on known numbers, means over finished episodes, the last record per key."""

import json

import pytest

from agentgym.rollout import summarize, wilson_interval
from agentgym.types import Trajectory, Turn, Usage


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),  # textbook values (e.g. Newcombe 1998; statsmodels proportion_confint)
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
        (1, 1, 0.2065, 1.0),
    ],
)
def test_wilson_interval_on_known_numbers(successes, n, low, high):
    lo, hi = wilson_interval(successes, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(5, 5)[1] == 1.0 and wilson_interval(0, 5)[0] == 0.0
    with pytest.raises(ValueError):
        wilson_interval(6, 5)


def trajectory(
    task: str, *, success: bool, turns: int = 2, status: str = "ok", reward: float = 0.0
) -> Trajectory:
    return Trajectory(
        env_id="agentgym/Maze-v0",
        task_id=task,
        seed=0,
        turns=[
            Turn(
                index=i,
                agent_text="go",
                observation="o",
                reward=reward if i == turns - 1 else 0.0,
                env_seconds=0.001,
                agent_seconds=0.1,
                usage=Usage(prompt_tokens=100, completion_tokens=5),
            )
            for i in range(turns)
        ],
        success=success,
        total_reward=reward,
        outcome_reward=reward,
        status=status,
        error="endpoint down" if status == "error" else None,
    )


def test_summary_of_known_trajectories():
    records = [
        trajectory(f"t{i}", success=i < 8, turns=2 + i % 2, reward=1.0 if i < 8 else 0.0) for i in range(10)
    ]
    records.append(trajectory("t10", success=False, status="error", turns=1))
    summary = summarize(records)
    assert (summary.episodes, summary.errors, summary.successes) == (10, 1, 8)
    assert summary.success_rate == 0.8
    assert summary.success_ci95 == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert summary.mean_total_reward == pytest.approx(0.8) and summary.mean_outcome_reward == pytest.approx(
        0.8
    )
    assert summary.turns == 25 and summary.mean_turns == 2.5  # the error's turn is not counted
    assert (summary.prompt_tokens, summary.completion_tokens) == (2500, 125)
    assert summary.env_seconds_per_turn == pytest.approx(0.001)
    assert summary.agent_seconds_per_turn == pytest.approx(0.1)
    assert summary.wall_seconds is None and summary.env_ids == ["agentgym/Maze-v0"]
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["success_ci95"] == pytest.approx([0.4902, 0.9433], abs=1e-4)
    table = summary.table()
    assert "success rate" in table and "80.0%  (8/10)" in table and "49.0% - 94.3%" in table
    assert "10  (1 errors)" in table and "wall time" not in table


def test_the_last_record_of_a_key_counts():
    records = [trajectory("a", success=False, status="error"), trajectory("b", success=True)]
    records.append(trajectory("a", success=True))  # a resumed run replayed it
    summary = summarize(records)
    assert (summary.episodes, summary.errors, summary.successes) == (2, 0, 2)


def test_summary_of_nothing():
    summary = summarize([])
    assert summary.episodes == 0 and summary.success_rate is None
    assert "-" in summary.table()
    json.dumps(summary.to_dict())
