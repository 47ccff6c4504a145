"""HFAgent with a tiny Llama model built on the spot: token fidelity, batching, determinism."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from agentgym.agents import HFAgent  # noqa: E402
from agentgym.errors import ConfigError  # noqa: E402
from agentgym.testing import build_tiny_model  # noqa: E402
from agentgym.types import Message  # noqa: E402

pytestmark = pytest.mark.hf

SYSTEM = Message(role="system", content="You are exploring a maze. Commands: go north, go south.")
PROMPTS = [
    [SYSTEM, Message(role="user", content="Find the exit of the maze. Open directions: north.")],
    [Message(role="user", content="Open directions: east, west.")],
    [
        SYSTEM,
        Message(role="user", content="You go north."),
        Message(role="assistant", content="go east"),
        Message(role="user", content="A wall blocks the way east. Open directions: south."),
    ],
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def recomputed_logprobs(agent: HFAgent, messages, token_ids, temperature: float = 1.0) -> torch.Tensor:
    """Log-probs of `token_ids` after the prompt, from one plain forward pass of the same weights."""
    prompt = agent.encode(messages)
    ids = torch.tensor([prompt + token_ids])
    with torch.no_grad():
        logits = agent.model(ids).logits[0, len(prompt) - 1 : -1].float() / temperature
    return logits.log_softmax(-1).gather(-1, torch.tensor(token_ids)[:, None]).squeeze(-1)


async def test_output_token_ids_logprobs_and_text(model_dir):
    agent = HFAgent(model_dir, max_new_tokens=10, seed=0)
    outs = await asyncio.gather(*[agent.act(p) for p in PROMPTS])
    for messages, out in zip(PROMPTS, outs, strict=True):
        assert out.token_ids and len(out.token_ids) == len(out.logprobs) <= 10
        assert all(lp <= 0 for lp in out.logprobs)
        assert agent.pad_token_id not in out.token_ids or agent.pad_token_id in agent.eos_token_ids
        assert out.text == agent.tokenizer.decode(out.token_ids, skip_special_tokens=True)
        assert out.usage.prompt_tokens == len(agent.encode(messages))
        assert out.usage.completion_tokens == len(out.token_ids)
        eos = [i for i, t in enumerate(out.token_ids) if t in agent.eos_token_ids]
        assert eos in ([], [len(out.token_ids) - 1])  # EOS, if generated, is the last id


@pytest.mark.parametrize("temperature", [1.0, 0.7])
async def test_logprobs_match_a_forward_pass(model_dir, temperature):
    """The returned log-probs are those of the distribution sampled from, for every row of a padded batch."""
    agent = HFAgent(model_dir, max_new_tokens=12, temperature=temperature, seed=1)
    outs = await asyncio.gather(*[agent.act(p) for p in PROMPTS])
    assert agent.generate_calls == 1  # the prompts (of different lengths) were left-padded into one batch
    for messages, out in zip(PROMPTS, outs, strict=True):
        expected = recomputed_logprobs(agent, messages, out.token_ids, temperature)
        torch.testing.assert_close(torch.tensor(out.logprobs), expected, atol=1e-4, rtol=0)


async def test_eos_ends_the_completion_and_padding_is_dropped(model_dir, monkeypatch):
    """Row 0 of a batch is forced to emit EOS at its 3rd token; row 1 runs on. Forced tokens have log-prob 0."""
    from transformers import LogitsProcessorList

    agent = HFAgent(model_dir, max_new_tokens=8, seed=0)
    eos = agent.tokenizer.eos_token_id
    real_generate = agent.model.generate

    def force_eos_in_row_0(input_ids, scores):
        step = input_ids.shape[1] - width[0]
        if step == 2:
            scores[0] = float("-inf")
            scores[0, eos] = 0.0
        else:
            scores[:, eos] = float("-inf")  # no EOS anywhere else
        return scores

    width = []

    def generate(**kwargs):
        width.append(kwargs["input_ids"].shape[1])
        return real_generate(**kwargs, logits_processor=LogitsProcessorList([force_eos_in_row_0]))

    monkeypatch.setattr(agent.model, "generate", generate)
    short, long = await asyncio.gather(agent.act(PROMPTS[0]), agent.act(PROMPTS[1]))
    assert agent.generate_calls == 1
    assert len(short.token_ids) == 3 and short.token_ids[-1] == eos
    assert short.logprobs[-1] == 0.0  # the processed distribution put all mass on EOS
    assert len(long.token_ids) == 8 and eos not in long.token_ids
    assert short.text == agent.tokenizer.decode(short.token_ids[:2], skip_special_tokens=True)


async def test_concurrent_calls_are_batched(model_dir):
    agent = HFAgent(model_dir, max_new_tokens=4, batch_size=4, seed=0)
    outs = await asyncio.gather(*[agent.act(PROMPTS[i % 3]) for i in range(10)])
    assert len(outs) == 10 and all(o.token_ids for o in outs)
    assert agent.generate_calls == 3  # 4 + 4 + 2


class InlineExecutor(concurrent.futures.Executor):
    """Runs `generate` inside `submit`, so whether a batch started is known without waiting on a thread."""

    def submit(self, fn, /, *args, **kwargs):
        future = concurrent.futures.Future()
        future.set_result(fn(*args, **kwargs))
        return future


async def settle(ticks: int = 20) -> None:
    for _ in range(ticks):
        await asyncio.sleep(0)


@pytest.mark.parametrize("batch_wait", [3600, None], ids=["an-hour", "no-limit"])
async def test_a_batch_starts_once_every_expected_caller_waits(model_dir, batch_wait):
    """With `expect_callers`, a batch never waits out `batch_wait` for callers that cannot come, and with no
    time limit it starts as soon as every expected caller asked."""
    agent = HFAgent(
        model_dir, max_new_tokens=2, batch_size=8, batch_wait=batch_wait, executor=InlineExecutor()
    )
    agent.expect_callers(3)
    first = [asyncio.create_task(agent.act(p)) for p in PROMPTS]
    second: list[asyncio.Task] = []
    try:
        await settle()
        assert agent.generate_calls == 1 and all(task.done() for task in first)
        second = [asyncio.create_task(agent.act(PROMPTS[0]))]
        await settle()
        assert agent.generate_calls == 1  # two callers are still live: the batch waits for the other one
        agent.expect_callers(1)  # the other ended
        await settle()
        assert agent.generate_calls == 2 and second[0].done()
        assert [len(t.result().token_ids) > 0 for t in first + second] == [True] * 4
    finally:
        for task in first + second:
            task.cancel()
    with pytest.raises(ConfigError, match="expect_callers"):
        agent.expect_callers(-1)


@pytest.mark.parametrize("own_loop", [True, False], ids=["own-loop", "generate"])
async def test_reuse_cache_continues_the_last_batch_with_the_same_logprobs(model_dir, monkeypatch, own_loop):
    """Turn 2 extends turn 1's prompts + replies (in another order, one episode gone): sampling continues from
    turn 1's cache, with padding inside it (left padding, and a row that stopped at EOS early), and the
    log-probabilities still match a fresh forward pass over the whole stream. Both samplers: agentgym's own
    loop (what `reuse_cache` uses for this model) and `generate` (for models the loop does not cover)."""
    from agentgym.agents import sampling

    if not own_loop:
        monkeypatch.setattr(sampling, "supported", lambda model: False)
    agent = HFAgent(model_dir, max_new_tokens=6, temperature=0.7, seed=3, reuse_cache=True)
    assert agent._own_loop is own_loop
    eos = agent.tokenizer.eos_token_id
    real_forward = agent.model.forward
    forwards = []  # per forward pass: (batch number, ids run through the model, cached length before)

    @functools.wraps(real_forward)  # generate reads the signature to decide which inputs (positions) to pass
    def forward(*args, **kwargs):
        cache = kwargs.get("past_key_values")
        ids = kwargs["input_ids"]
        forwards.append(
            (agent.generate_calls, ids.shape[1], cache.get_seq_length() if cache is not None else 0)
        )
        out = real_forward(*args, **kwargs)
        step = sum(1 for batch, *_ in forwards if batch == 1)
        if agent.generate_calls == 1 and step == 1:
            out.logits[row, -1, eos] = float("-inf")  # episode 0: no EOS at its first step...
        elif agent.generate_calls == 1 and step == 2:
            out.logits[row, -1] = float("-inf")  # ...and EOS for sure at its second
            out.logits[row, -1, eos] = 0.0
        return out

    monkeypatch.setattr(agent.model, "forward", forward)
    prompts = [agent.encode(p) for p in PROMPTS]
    row = sorted(prompts).index(prompts[0])  # a batch's rows are ordered by their ids
    first = await asyncio.gather(*[agent.complete(p) for p in prompts])
    assert first[0].token_ids == [first[0].token_ids[0], eos]  # stopped early: pads fed after it
    assert first[0].logprobs[1] == 0.0  # all mass was on EOS
    observation = agent.encode([Message(role="user", content="Open directions: north.")])
    streams = [prompts[i] + first[i].token_ids + observation for i in (2, 0)]  # episode 1 ended
    second = await asyncio.gather(*[agent.complete(s) for s in streams])
    batch_1 = [f for f in forwards if f[0] == 1]
    batch_2 = [f for f in forwards if f[0] == 2]
    assert batch_1[0][2] == 0 and batch_2[0][2] > 0  # turn 2 started from turn 1's cache
    # Only the new ids ran through the model: the observation, and the last reply id where it was not fed.
    assert batch_2[0][1] <= len(observation) + 1
    model = agent.model
    for stream, out in zip(streams, second, strict=True):
        with torch.no_grad():
            logits = (
                model(input_ids=torch.tensor([stream + out.token_ids])).logits[0, len(stream) - 1 : -1] / 0.7
            )
        expected = logits.float().log_softmax(-1).gather(-1, torch.tensor(out.token_ids)[:, None]).squeeze(-1)
        torch.testing.assert_close(torch.tensor(out.logprobs), expected, atol=1e-4, rtol=0)

    await agent.complete(prompts[1])  # extends no kept row: a fresh batch
    assert [f for f in forwards if f[0] == 3][0][2] == 0
    agent.expect_callers(0)
    assert agent._kept is None  # nobody can continue it: released


async def test_without_reuse_cache_every_batch_starts_fresh(model_dir, monkeypatch):
    agent = HFAgent(model_dir, max_new_tokens=3, seed=0)
    real_generate, caches = agent.model.generate, []
    monkeypatch.setattr(
        agent.model,
        "generate",
        lambda **kwargs: caches.append(kwargs.get("past_key_values")) or real_generate(**kwargs),
    )
    prompt = agent.encode(PROMPTS[1])
    out = await agent.complete(prompt)
    await agent.complete(prompt + out.token_ids + prompt)
    assert caches == [None, None]


async def test_generation_does_not_block_the_event_loop(model_dir):
    agent = HFAgent(model_dir, max_new_tokens=64, do_sample=True, seed=0)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.create_task(ticker())
    await agent.act(PROMPTS[0])
    task.cancel()
    assert ticks > 1


async def test_seed_makes_sampling_reproducible_and_leaves_global_rng_alone(model_dir):
    async def sample(seed):
        agent = HFAgent(model_dir, max_new_tokens=8, seed=seed)
        first = await asyncio.gather(*[agent.act(p) for p in PROMPTS])
        second = await agent.act(PROMPTS[0])
        return [o.token_ids for o in first] + [second.token_ids]

    state = torch.get_rng_state()
    a, b, c = await sample(0), await sample(0), await sample(1)
    assert a == b
    assert a != c
    assert torch.equal(torch.get_rng_state(), state)


async def test_a_batch_samples_the_same_replies_whatever_order_its_requests_arrive_in(model_dir):
    async def replies(order):
        agent = HFAgent(model_dir, max_new_tokens=8, seed=5)
        outs = await asyncio.gather(*[agent.act(PROMPTS[i]) for i in order])
        assert agent.generate_calls == 1
        return {i: out.token_ids for i, out in zip(order, outs, strict=True)}

    assert await replies([0, 1, 2]) == await replies([2, 0, 1]) == await replies([1, 2, 0])


async def test_identical_prompts_get_their_replies_by_order_not_by_arrival(model_dir):
    """A group's episodes open with the same prompt: `order` (the episode's key) decides which draw each gets."""

    async def replies(keys):
        agent = HFAgent(model_dir, max_new_tokens=8, seed=5)
        prompt = agent.encode(PROMPTS[0])
        outs = await asyncio.gather(*[agent.complete(prompt, order=key) for key in keys])
        assert agent.generate_calls == 1
        return {key: out.token_ids for key, out in zip(keys, outs, strict=True)}

    keys = [("task", 7, sample) for sample in range(4)]
    first = await replies(keys)
    assert len({tuple(ids) for ids in first.values()}) > 1  # the rows drew different replies
    assert first == await replies(keys[::-1]) == await replies([keys[2], keys[0], keys[3], keys[1]])


async def test_greedy_is_deterministic_without_seed(model_dir):
    agent = HFAgent(model_dir, max_new_tokens=6, do_sample=False)
    a, b = await agent.act(PROMPTS[1]), await agent.act(PROMPTS[1])
    assert a.token_ids == b.token_ids
    expected = recomputed_logprobs(agent, PROMPTS[1], a.token_ids)
    torch.testing.assert_close(torch.tensor(a.logprobs), expected, atol=1e-4, rtol=0)
    assert expected.tolist() and all(lp <= 0 for lp in a.logprobs)


async def test_model_object_with_tokenizer_and_close(model_dir):
    base = HFAgent(model_dir, max_new_tokens=3, seed=0)
    shared = HFAgent(base.model, tokenizer=base.tokenizer, max_new_tokens=3, seed=0)
    assert (await shared.act(PROMPTS[1])).token_ids == (await base.act(PROMPTS[1])).token_ids
    await shared.aclose()
    await shared.aclose()
    with pytest.raises(Exception, match="closed"):
        await shared.act(PROMPTS[1])


def test_bad_arguments(model_dir):
    with pytest.raises(ConfigError, match="temperature"):
        HFAgent(model_dir, temperature=0)
    with pytest.raises(ConfigError, match="top_p"):
        HFAgent(model_dir, top_p=1.5)
    with pytest.raises(ConfigError, match="batch_size"):
        HFAgent(model_dir, batch_size=0)
    with pytest.raises(ConfigError, match="cannot load"):
        HFAgent(model_dir / "missing")
    agent = HFAgent(model_dir)
    agent.tokenizer.chat_template = None
    with pytest.raises(ConfigError, match="chat_template"):
        HFAgent(agent.model, tokenizer=agent.tokenizer)


def test_tiny_model_round_trips_and_covers_maze_words(model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert model.config.model_type == "llama" and model.config.tie_word_embeddings
    assert sum(p.numel() for p in model.parameters()) < 200_000
    assert model.generation_config.do_sample is True
    text = "Find the exit of the maze. The maze is 4 by 4 rooms.\nOpen directions: north, east."
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert (
        tokenizer.decode(ids)
        == "Find the exit of the maze . The maze is 4 by 4 rooms . Open directions : north , east ."
    )
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "go north"}], add_generation_prompt=True
    )
    assert tokenizer.convert_ids_to_tokens(chat["input_ids"]) == [
        "<|user|>",
        "go",
        "north",
        "<|end|>",
        "<|assistant|>",
    ]
    # Deterministic given the seed; extra corpus text extends the vocabulary.
    again = build_tiny_model(tmp_path / "again", corpus="xyzzy plugh")
    model2 = AutoModelForCausalLM.from_pretrained(again)
    tokenizer2 = AutoTokenizer.from_pretrained(again)
    assert tokenizer2.unk_token_id not in tokenizer2("xyzzy plugh")["input_ids"]
    rebuilt = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "same"))
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), rebuilt.state_dict().values(), strict=True)
    )
    assert model2.config.vocab_size == model.config.vocab_size + 2
