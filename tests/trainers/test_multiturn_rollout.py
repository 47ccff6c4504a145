"""The multi-turn rollout for TRL: the ids trained on are exactly the ids sampled.

A real trainer (tiny model, Maze) plays episodes through `EpisodeRollout`; its rows are checked against
the trajectories the engine recorded, the chat template's observation deltas, and a fresh forward pass.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from agentgym.rollout import HistoryPolicy  # noqa: E402
from agentgym.testing import build_tiny_model  # noqa: E402
from agentgym.trainers.config import MultiTurnGRPOConfig  # noqa: E402
from agentgym.trainers.grpo import MultiTurnGRPOTrainer  # noqa: E402
from agentgym.trainers.rollout import EpisodeTokens, observation_token_ids  # noqa: E402
from agentgym.types import Message  # noqa: E402

pytestmark = pytest.mark.hf

MAZE = "agentgym/Maze-v0"
TASKS = ["maze-4x4-s0000000", "maze-4x4-s0000001"]
TEMPERATURE = 0.7


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def make_trainer(model_dir, tmp_path, **overrides):
    settings = dict(
        output_dir=str(tmp_path / "out"),
        env_id=MAZE,
        max_turns=3,
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=8,
        max_episode_tokens=96,
        temperature=TEMPERATURE,
        report_to="none",
        save_strategy="no",
    )
    settings.update(overrides)
    trainer = MultiTurnGRPOTrainer(str(model_dir), args=MultiTurnGRPOConfig(**settings))
    trainer.model.train()  # as during training: the rollout must leave it so
    return trainer


def play(trainer):
    prompts = [task for task in TASKS for _ in range(trainer.args.num_generations)]
    return trainer.rollout(prompts, trainer), trainer.rollout.last_trajectories


def test_completion_ids_are_the_sampled_ids_and_observations_the_template_delta(model_dir, tmp_path):
    trainer = make_trainer(model_dir, tmp_path)
    tokenizer = trainer.processing_class
    rows, trajectories = play(trainer)
    assert trainer.model.training, "the rollout must give the model back in training mode"
    assert [t.task_id for t in trajectories] == [task for task in TASKS for _ in range(2)]
    assert rows["task_id"] == [t.task_id for t in trajectories]
    round_trip_changes = 0
    for i, trajectory in enumerate(trajectories):
        ids, mask, spans = rows["completion_ids"][i], rows["env_mask"][i], rows["turn_spans"][i]
        assert trajectory.status == "ok" and rows["rollout_error"][i] is None
        assert len(spans) == len(trajectory.turns) == rows["num_turns"][i]
        assert len(mask) == len(ids) == len(rows["logprobs"][i])
        expected_mask = [0] * len(ids)
        for k, (start, end) in enumerate(spans):
            sampled = trajectory.turns[k].token_ids
            assert ids[start:end] == sampled  # exactly what the agent sampled
            assert rows["logprobs"][i][start:end] == trajectory.turns[k].logprobs
            expected_mask[start:end] = [1] * (end - start)
            decoded = tokenizer.decode(sampled, skip_special_tokens=True)
            if tokenizer.encode(decoded, add_special_tokens=False) != sampled:
                round_trip_changes += 1  # decode→encode would have trained on other ids here
            if k + 1 < len(spans):  # the observation: "<|user|> obs <|end|> <|assistant|>", once
                closed = sampled[-1] == tokenizer.eos_token_id
                delta = (
                    "" if closed else "<|end|> "
                ) + f"<|user|> {trajectory.turns[k].observation} <|end|> <|assistant|>"
                observation = ids[end : spans[k + 1][0]]
                assert observation == tokenizer.encode(delta, add_special_tokens=False)
                assert trajectory.turns[k].observation_token_ids == observation
        assert mask == expected_mask  # 1 exactly on sampled tokens
        assert all(lp == 0.0 for lp, m in zip(rows["logprobs"][i], mask, strict=True) if not m)
        assert spans[0][0] == 0 and spans[-1][1] == len(ids)  # starts and ends with a reply
        assert (
            rows["prompt_ids"][i]
            == tokenizer.apply_chat_template(
                [m.to_openai() for m in trajectory.messages], add_generation_prompt=True, tokenize=True
            )["input_ids"]
        )
        assert rows["episode_reward"][i] == trajectory.total_reward
        assert rows["turn_rewards"][i] == [turn.reward for turn in trajectory.turns]
    # The tiny model samples special tokens mid-reply, which decoding drops: the test is not vacuous.
    assert round_trip_changes > 0


def test_recomputed_logprobs_match_the_sampling_logprobs(model_dir, tmp_path):
    trainer = make_trainer(model_dir, tmp_path)
    rows, _ = play(trainer)
    model = trainer.model
    model.eval()
    for prompt, ids, mask, sampled in zip(
        rows["prompt_ids"], rows["completion_ids"], rows["env_mask"], rows["logprobs"], strict=True
    ):
        with torch.no_grad():
            logits = model(torch.tensor([prompt + ids])).logits[0, len(prompt) - 1 : -1].float() / TEMPERATURE
        recomputed = logits.log_softmax(-1).gather(-1, torch.tensor(ids).unsqueeze(1)).squeeze(1)
        model_tokens = torch.tensor(mask, dtype=torch.bool)
        difference = (recomputed[model_tokens] - torch.tensor(sampled)[model_tokens]).abs().max().item()
        assert difference < 1e-4


def test_episode_is_cut_after_the_last_whole_turn_that_fits(model_dir, tmp_path):
    trainer = make_trainer(model_dir, tmp_path, max_completion_length=8, max_episode_tokens=20)
    rows, trajectories = play(trainer)
    for i, trajectory in enumerate(trajectories):
        ids, spans = rows["completion_ids"][i], rows["turn_spans"][i]
        assert len(spans) >= 1 and len(ids) <= 20 and spans[-1][1] == len(ids)  # ends on a whole reply
        cut = len(spans) < len(trajectory.turns)
        assert rows["token_truncated"][i] == cut
        assert rows["episode_reward"][i] == sum(turn.reward for turn in trajectory.turns[: len(spans)])
    assert any(rows["token_truncated"])


class _Generator:
    """Stands in for HFAgent: records the prompts it is asked to continue."""

    def __init__(self, tokenizer):
        self.tokenizer, self.eos_token_ids, self.prompts = tokenizer, {tokenizer.eos_token_id}, []

    def encode(self, messages, tools=None):
        return [1, 2]

    async def complete(self, prompt_ids):
        from agentgym.agents.base import AgentOutput

        self.prompts.append(list(prompt_ids))
        return AgentOutput(
            text="go", token_ids=[10 + len(self.prompts), self.tokenizer.eos_token_id], logprobs=[0, 0]
        )


async def test_last_k_history_trims_the_token_stream_by_whole_turns(model_dir):
    from agentgym.testing import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    generator = _Generator(tokenizer)
    episode = EpisodeTokens(generator, HistoryPolicy.parse("last:1"), max_episode_tokens=1000)
    messages = [Message(role="user", content="start")]
    for observation in ["wall", "exit"]:
        await episode.act(messages)
        messages += [Message(role="assistant", content="go"), Message(role="user", content=observation)]
    await episode.act(messages)
    eos = tokenizer.eos_token_id
    wall = observation_token_ids(tokenizer, [Message(role="user", content="wall")], reply_end_token="<|end|>")
    exit_ = observation_token_ids(
        tokenizer, [Message(role="user", content="exit")], reply_end_token="<|end|>"
    )
    assert generator.prompts[0] == [1, 2]
    assert generator.prompts[1] == [1, 2, 11, eos, *wall]
    assert generator.prompts[2] == [1, 2, 12, eos, *exit_]  # turn 1 left the window, whole
    assert episode.completion_length == 3 * 2 + len(wall) + len(exit_)


def test_rollouts_reuse_warm_environments_generate_on_the_callers_thread_and_release_on_close(
    model_dir, tmp_path, monkeypatch
):
    import threading

    from agentgym.agents.hf_agent import HFAgent
    from agentgym.rollout import workers

    built, generate_threads = [], []
    real_factory_call, real_generate = workers.EnvFactory.__call__, HFAgent._generate

    closed = []

    def counting_factory(self):
        env = real_factory_call(self)
        built.append(env)
        real_close = env.close
        env.close = lambda: (closed.append(env), real_close())
        return env

    def recording_generate(self, prompts):
        generate_threads.append(threading.current_thread())
        return real_generate(self, prompts)

    monkeypatch.setattr(workers.EnvFactory, "__call__", counting_factory)
    monkeypatch.setattr(HFAgent, "_generate", recording_generate)
    trainer = make_trainer(model_dir, tmp_path)
    play(trainer)
    first = len(built)
    assert first >= 1
    play(trainer)
    assert len(built) == first, "the second step must reuse the first step's environments"
    assert generate_threads and set(generate_threads) == {threading.main_thread()}
    loop_thread = trainer.rollout._loop._thread
    assert loop_thread.is_alive()

    trainer.rollout.close()
    assert not loop_thread.is_alive()
    assert len(closed) == len(built), "closing the rollout must close every environment it built"
    trainer.rollout.close()  # idempotent
    rows, _ = play(trainer)  # and usable again
    assert len(rows["completion_ids"]) == len(TASKS) * trainer.args.num_generations
    trainer.rollout.close()


def test_an_interrupted_rollout_cancels_its_episodes_and_reraises():
    import asyncio

    from agentgym.trainers.rollout import RolloutLoop

    loop = RolloutLoop()
    cleaned = []

    def interrupt():
        raise KeyboardInterrupt

    async def episode():
        try:
            loop.executor.submit(interrupt)  # Ctrl-C while the caller's thread generates
            await asyncio.sleep(3600)
        finally:
            cleaned.append(True)

    with pytest.raises(KeyboardInterrupt):
        loop.run(episode())
    assert cleaned == [True], "the coroutine must be cancelled and its cleanup run"
    assert loop.run(asyncio.sleep(0, result=7)) == 7  # the loop stays usable
    loop.stop()
    assert not loop._thread.is_alive()
