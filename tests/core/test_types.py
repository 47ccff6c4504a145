import pytest

from agentgym.types import Message, Trajectory, TrajectoryFileError, Turn, Usage, read_jsonl, write_jsonl


def _trajectory(task_id: str, reward: float = 1.0) -> Trajectory:
    turn = Turn(
        index=0,
        agent_text="Action: go east",
        action="go east",
        observation="You are in the kitchen.",
        reward=reward,
        reward_components={"score": reward},
        usage=Usage(prompt_tokens=10, completion_tokens=3),
        token_ids=[5, 6, 7],
        logprobs=[-0.1, -0.2, -0.3],
    )
    return Trajectory(
        env_id="agentgym/Maze-v0",
        task_id=task_id,
        seed=0,
        messages=[Message(role="system", content="play"), Message(role="user", content="start")],
        turns=[turn],
        total_reward=reward,
        success=True,
    )


def test_jsonl_round_trip(tmp_path):
    path = tmp_path / "t.jsonl"
    items = [_trajectory("a"), _trajectory("b", 0.5)]
    write_jsonl(path, items)
    assert list(read_jsonl(path)) == items
    write_jsonl(path, [_trajectory("c")], append=True)
    assert [t.task_id for t in read_jsonl(path)] == ["a", "b", "c"]


def test_torn_last_line_is_skipped_but_other_bad_lines_are_reported(tmp_path):
    path = tmp_path / "t.jsonl"
    write_jsonl(path, [_trajectory("a")])
    line = _trajectory("b").model_dump_json()
    with open(path, "a") as f:
        f.write(line[: len(line) // 2])  # a writer killed mid-line
    assert [t.task_id for t in read_jsonl(path)] == ["a"]

    path.write_text('{"env_id": 3}\n' + _trajectory("a").model_dump_json() + "\n")
    with pytest.raises(TrajectoryFileError, match=r"t\.jsonl:1"):
        list(read_jsonl(path))


def test_unknown_fields_are_rejected():
    with pytest.raises(ValueError, match="extra"):
        Message(role="user", content="x", colour="red")


def test_message_to_openai_leaves_out_unset_fields():
    assert Message(role="user", content="hi").to_openai() == {"role": "user", "content": "hi"}


def test_trajectory_key_identifies_an_episode():
    t = _trajectory("a")
    assert t.key == ("agentgym/Maze-v0", "a", 0, 0)
