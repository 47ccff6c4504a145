"""The multi-turn rollout for TRL: the ids trained on are exactly the ids sampled.

A real trainer (tiny model, Maze) plays episodes through `EpisodeRollout`; its rows are checked against
the trajectories the engine recorded, the chat template's observation deltas, and a fresh forward pass.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from agentgym.agents.hf_agent import HFAgent, _KeptBatch  # noqa: E402
from agentgym.environments.maze.env import MazeEnv  # noqa: E402
from agentgym.registration import register  # noqa: E402
from agentgym.rollout import HistoryPolicy  # noqa: E402
from agentgym.testing import build_tiny_model  # noqa: E402
from agentgym.trainers.config import MultiTurnGRPOConfig  # noqa: E402
from agentgym.trainers.grpo import MultiTurnGRPOTrainer  # noqa: E402
from agentgym.trainers.rollout import EpisodeTokens, observation_token_ids, policy_generator  # noqa: E402
from agentgym.types import Message  # noqa: E402

pytestmark = pytest.mark.hf

MAZE = "agentgym/Maze-v0"
SHORT_MAZE = "test/ShortMaze-v0"
WORDY_MAZE = "test/WordyMaze-v0"
TASKS = ["maze-4x4-s0000000", "maze-4x4-s0000001"]
TEMPERATURE = 0.7


class ShortMaze(MazeEnv):
    """The Maze, except that an episode ends after 1 + seed % 3 turns whatever the agent does."""

    def _start(self, task, seed):
        self.turns_left = 1 + (seed or 0) % 3
        return super()._start(task, seed)

    def _act(self, action):
        observation, reward, terminated, truncated, info = super()._act(action)
        self.turns_left -= 1
        return observation, reward, terminated or self.turns_left == 0, truncated, info


class WordyMaze(MazeEnv):
    """The Maze, except that an episode with an odd seed gets every observation ten times over."""

    def _start(self, task, seed):
        self.wordy = (seed or 0) % 2 == 1
        return super()._start(task, seed)

    def _act(self, action):
        observation, reward, terminated, truncated, info = super()._act(action)
        return " ".join([observation] * (10 if self.wordy else 1)), reward, terminated, truncated, info


register(
    WORDY_MAZE,
    entry_point="tests.trainers.test_multiturn_rollout:WordyMaze",
    max_episode_steps=30,
    kwargs={"width": 4, "height": 4},
)
register(
    SHORT_MAZE,
    entry_point="tests.trainers.test_multiturn_rollout:ShortMaze",
    max_episode_steps=30,
    kwargs={"width": 4, "height": 4},
)


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


def record_batches(monkeypatch) -> tuple[list, list]:
    """Records (batch size, callers the agent expected) of every `generate`, and the batch size of every one
    that continued the previous batch's cache."""
    batches, continued = [], []
    real_generate, real_continued = HFAgent._generate, _KeptBatch.continued

    def recording_generate(self, prompts):
        batches.append((len(prompts), self.callers))
        return real_generate(self, prompts)

    def recording_continued(self, rows, prompts, pad_token_id):
        continued.append(len(rows))
        return real_continued(self, rows, prompts, pad_token_id)

    monkeypatch.setattr(HFAgent, "_generate", recording_generate)
    monkeypatch.setattr(_KeptBatch, "continued", recording_continued)
    return batches, continued


def patient_generator(trainer, batch_size, executor):
    generator = policy_generator(trainer, batch_size, executor)
    generator.batch_wait = 5.0  # far longer than a turn here: a batch that waited it out was incomplete
    return generator


def test_each_turn_is_one_batch_of_the_episodes_still_in_flight(model_dir, tmp_path, monkeypatch):
    """Episodes that end at different turns: every turn is one `generate` over exactly the episodes still
    playing, started because all of them had asked (the agent knew how many were live) rather than after
    `batch_wait`, and each turn after the first continues from the previous turn's cache."""
    batches, continued = record_batches(monkeypatch)
    trainer = make_trainer(
        model_dir, tmp_path, env_id=SHORT_MAZE, max_turns=5, per_device_train_batch_size=6, num_generations=3
    )
    trainer.rollout.generator = patient_generator
    rows, trajectories = play(trainer)
    turns = [len(t.turns) for t in trajectories]
    assert sorted(set(turns)) == [1, 2, 3], "the episodes must end at different turns"
    live = [sum(n > k for n in turns) for k in range(max(turns))]  # episodes playing turn k
    assert batches == [(n, n) for n in live]
    assert continued == live[1:]
    assert all(t.status == "ok" for t in trajectories) and rows["num_turns"] == turns
    trainer.rollout.close()


def test_episodes_whose_token_budget_is_spent_are_not_waited_for(model_dir, tmp_path, monkeypatch):
    """An episode past `max_episode_tokens` plays on without asking for replies; the others' next batch does
    not wait for it. Here spent episodes stay in flight until that batch has started, so a batch that waited
    for them would only start after `batch_wait`, with the agent expecting more callers than it got."""
    import asyncio
    import threading

    batches, _ = record_batches(monkeypatch)
    second_batch = threading.Event()
    real_act, real_generate = EpisodeTokens.act, HFAgent._generate

    async def act_then_stall_if_spent(self, messages, tools=None, *, info=None):
        output = await real_act(self, messages, tools, info=info)
        for _ in range(3000):  # at most 30 s, should the batch never come
            if not self.spent or second_batch.is_set():
                break
            await asyncio.sleep(0.01)
        return output

    def generate_then_release(self, prompts):
        outputs = real_generate(self, prompts)
        if len(batches) > 1:
            second_batch.set()
        return outputs

    monkeypatch.setattr(EpisodeTokens, "act", act_then_stall_if_spent)
    monkeypatch.setattr(HFAgent, "_generate", generate_then_release)
    trainer = make_trainer(
        model_dir, tmp_path, env_id=WORDY_MAZE, max_turns=3, max_completion_length=8, max_episode_tokens=40
    )
    trainer.rollout.generator = patient_generator
    _, trajectories = play(trainer)
    asked = [sum(1 for turn in t.turns if turn.token_ids) for t in trajectories]
    assert [n > 1 for n in asked] == [
        t.seed % 2 == 0 for t in trajectories
    ]  # the wordy ones spent it at once
    assert batches[:2] == [(4, 4), (2, 2)]  # turn 2: the two short-winded episodes, not the spent ones
    assert all(size == callers for size, callers in batches)
    trainer.rollout.close()


class _Generator:
    """Stands in for HFAgent: records the prompts it is asked to continue."""

    def __init__(self, tokenizer):
        self.tokenizer, self.eos_token_ids, self.prompts = tokenizer, {tokenizer.eos_token_id}, []

    def encode(self, messages, tools=None):
        return [1, 2]

    async def complete(self, prompt_ids, order=None):
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

    encoded, real_encode = [], HFAgent.encode

    def counting_encode(self, messages, tools=None):
        encoded.append(messages)
        return real_encode(self, messages, tools)

    monkeypatch.setattr(workers.EnvFactory, "__call__", counting_factory)
    monkeypatch.setattr(HFAgent, "_generate", recording_generate)
    monkeypatch.setattr(HFAgent, "encode", counting_encode)
    trainer = make_trainer(model_dir, tmp_path)
    play(trainer)
    first = len(built)
    assert first >= 1
    assert len(encoded) == len(TASKS)  # each task's opening prompt, once for its group
    play(trainer)
    assert len(built) == first, "the second step must reuse the first step's environments"
    assert len(encoded) == len(TASKS), "the same tasks' prompts are tokenized once across steps"
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


def test_env_threads_0_steps_environments_on_the_rollout_loop(model_dir, tmp_path):
    from agentgym.rollout import InlineBackend

    trainer = make_trainer(model_dir, tmp_path, env_threads=0)
    rows, trajectories = play(trainer)
    assert isinstance(trainer.rollout._backend, InlineBackend)
    assert all(t.status == "ok" for t in trajectories) and rows["rollout_error"] == [None] * len(trajectories)
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
