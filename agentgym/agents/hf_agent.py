"""`HFAgent`: a local transformers causal LM, batched across concurrent episodes.

Concurrent `act` calls queue up; one worker task takes up to `batch_size` of them, left-pads them into one
batch and runs `model.generate` in a thread (`asyncio.to_thread`, or the `executor` given), so a slow generate never
blocks the event loop (environment steps and other agents keep going). Requests that arrive while a batch is generating
form the next batch. A caller that knows how many requests can still come (`expect_callers`, a trainer whose
episodes advance in lockstep) lets a batch start as soon as all of them wait.

With `reuse_cache=True`, the model's key/value cache of the last batch is kept: when every prompt of the next
batch extends a prompt of the last one by its reply and more ids (an episode's token stream, turn after turn),
`generate` continues from that cache and only the new ids are run through the model (see `_generate`).

Token fidelity (what trainers need): `AgentOutput.token_ids` are the exact sampled completion ids (no
padding; up to and including EOS when it was generated) and `AgentOutput.logprobs[i]` is
log_softmax(scores_i)[token_ids[i]], where scores_i are the *processed* scores `generate` returns with
`output_scores=True` — the logits after temperature, top-k and top-p, i.e. the distribution the token was
actually sampled from. With temperature 1 and no top-k/top-p they equal the model's own log-probabilities.
Under greedy decoding (`do_sample=False`) no warper runs, so they are the model's log-probabilities at
temperature 1.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
from dataclasses import dataclass
from typing import Any

from agentgym.agents.base import Agent, AgentOutput
from agentgym.errors import AgentError, ConfigError, require
from agentgym.types import Message, Usage

torch = require("torch", "hf", "HFAgent")
transformers = require("transformers", "hf", "HFAgent")
from transformers.cache_utils import DynamicLayer  # noqa: E402

from agentgym.agents import sampling  # noqa: E402


class HFAgent(Agent):
    """A local Hugging Face causal LM behind the Agent interface.

    Args:
        model_or_path: a model folder or hub id already in the local cache (nothing is downloaded when
            `HF_HUB_OFFLINE=1`), or a loaded `PreTrainedModel` (shared, e.g. with a trainer).
        tokenizer: a tokenizer, or a path to load one from; default: the model's. It must have a chat
            template; it is never modified (padding is done here, on the left).
        max_new_tokens: cap on generated tokens per reply.
        temperature, top_p, top_k: sampling parameters (top_k=0 and top_p=1.0 disable those filters;
            the model's saved `generation_config` defaults, such as top_k=50, are overridden).
        do_sample: sample (True) or decode greedily (False).
        batch_size: most requests generated together.
        device: torch device for the model ("cpu", "cuda", "cuda:1").
        seed: makes sampling reproducible: batch n samples from a torch RNG seeded with seed + n, forked
            so the global RNG state is restored afterwards. The same seed and the same batches of requests
            give the same replies, in whatever order a batch's requests arrived (its rows are ordered by
            their ids, then by `complete`'s `order`). None: use the global RNG.
        batch_wait: seconds the worker waits for more requests before starting a batch, unless
            `batch_size` are already queued (0: only those queued in the same event-loop tick). None: no time
            limit; a batch starts only when full (`batch_size`, or every caller `expect_callers` counts), so
            which requests share a batch never depends on timing. For callers that keep `expect_callers` up
            to date (a trainer's rollout); others could wait forever.
        executor: a `concurrent.futures.Executor` that runs `generate`; default: a thread of the event
            loop's default pool. A trainer passes one that runs it on the training thread itself: torch ops
            on a second thread get a second OpenMP team that competes with the first for the cores (about
            3x slower generation on 2 cores, measured).
        reuse_cache: keep the key/value cache of the last batch and continue from it when every prompt of
            the next batch extends one of the last batch's prompt + reply (exact ids). For callers that build
            prompts from sampled ids (a trainer's episode streams); re-encoded chats rarely extend the ids
            exactly. The cache is held until the next batch (or `expect_callers(0)`). Models whose cache is
            not a plain `DynamicCache` of full-attention layers (sliding windows, state-space layers) never
            reuse it. With it, replies are also sampled by `agentgym.agents.sampling`, a lean loop that gives
            exactly what `generate` gives (same ids for the same RNG state, same log-probs) without its per-call
            setup, for every model and setting it reproduces; others use `generate`.

    The agent serves one event loop at a time (the batching queue belongs to the running loop).
    """

    name = "hf"

    def __init__(
        self,
        model_or_path: str | os.PathLike | Any,
        tokenizer: Any = None,
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
        do_sample: bool = True,
        batch_size: int = 8,
        device: str = "cpu",
        *,
        top_k: int = 0,
        seed: int | None = None,
        batch_wait: float | None = 0.0,
        executor: concurrent.futures.Executor | None = None,
        reuse_cache: bool = False,
    ):
        _check("max_new_tokens", max_new_tokens, int, lambda v: v >= 1, "an int >= 1")
        _check("batch_size", batch_size, int, lambda v: v >= 1, "an int >= 1")
        _check("top_k", top_k, int, lambda v: v >= 0, "an int >= 0 (0 disables top-k)")
        _check("top_p", top_p, (int, float), lambda v: 0 < v <= 1, "a number in (0, 1]")
        _check(
            "temperature",
            temperature,
            (int, float),
            lambda v: v > 0,
            "a number > 0 (use do_sample=False for greedy)",
        )
        if batch_wait is not None:
            _check(
                "batch_wait", batch_wait, (int, float), lambda v: v >= 0, "a number of seconds >= 0 or None"
            )
        self.device = torch.device(device)
        if isinstance(model_or_path, str | os.PathLike):
            try:
                self.model = transformers.AutoModelForCausalLM.from_pretrained(os.fspath(model_or_path))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"cannot load a causal LM from {os.fspath(model_or_path)!r}: {exc}"
                ) from exc
            source: str | None = os.fspath(model_or_path)
        elif isinstance(model_or_path, torch.nn.Module) and hasattr(model_or_path, "generate"):
            self.model = model_or_path
            source = getattr(model_or_path, "name_or_path", None) or None
        else:
            raise ConfigError(
                f"model_or_path must be a model folder/id or a transformers PreTrainedModel, got "
                f"{type(model_or_path).__name__}"
            )
        if tokenizer is None or isinstance(tokenizer, str | os.PathLike):
            tokenizer_source = os.fspath(tokenizer) if tokenizer is not None else source
            if not tokenizer_source:
                raise ConfigError("HFAgent was given a model object without a tokenizer: pass tokenizer=...")
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_source)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot load a tokenizer from {tokenizer_source!r}: {exc}") from exc
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(
                f"the tokenizer of {source or 'the model'} has no chat_template; HFAgent formats conversations "
                f"with tokenizer.apply_chat_template (set tokenizer.chat_template to a Jinja template)"
            )
        self.tokenizer = tokenizer
        self.model.to(self.device)
        self.model.eval()

        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_token_ids: set[int] = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        pad = (
            tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else self.model.generation_config.pad_token_id
        )
        if pad is None:
            pad = min(self.eos_token_ids) if self.eos_token_ids else None
        if pad is None:
            raise ConfigError(
                "the tokenizer has neither a pad token nor an EOS token; set tokenizer.pad_token"
            )
        self.pad_token_id: int = int(pad)

        self.max_new_tokens, self.temperature, self.top_p, self.top_k = (
            max_new_tokens,
            temperature,
            top_p,
            top_k,
        )
        self.do_sample, self.batch_size, self.seed, self.batch_wait = do_sample, batch_size, seed, batch_wait
        self.executor, self.reuse_cache = executor, reuse_cache
        # The trainer's path samples with agentgym's own loop where it reproduces generate (sampling.py).
        self._own_loop = reuse_cache and sampling.supported(self.model)
        self.callers: int | None = None  # requests that can still come (expect_callers); None: unknown
        self.generate_calls = 0  # batches generated so far (tests check that requests were batched)
        self._kept: _KeptBatch | None = None  # the last batch's cache (reuse_cache)
        self._pending: list[tuple[list[int], str, asyncio.Future]] = []  # (ids, repr(order), future)
        self._batch_full: asyncio.Event | None = None  # set when batch_size requests wait (of self._loop)
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # ----- Agent API --------------------------------------------------------------------------------
    async def act(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        info: dict[str, Any] | None = None,
    ) -> AgentOutput:
        return await self.complete(self.encode(messages, tools))

    async def complete(self, prompt_ids: list[int], order: Any = None) -> AgentOutput:
        """One reply to `prompt_ids` taken as they are, batched with concurrent calls like `act` (a trainer
        passes the exact token stream of an episode, which re-encoding the chat would not reproduce).

        `order` ranks this request among identical prompts in the same batch (the episodes of a group open
        with the same prompt): each row draws from the RNG in turn, so without it which episode gets which
        draw follows the order the calls arrived in. Any value; equal prompts are ordered by its `repr`."""
        if self._closed:
            raise AgentError("this HFAgent was closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (e.g. the next asyncio.run): start a fresh queue
            self._loop, self._pending, self._worker = loop, [], None
            self._batch_full = asyncio.Event()
        future: asyncio.Future = loop.create_future()
        self._pending.append((prompt_ids, repr(order), future))
        if len(self._pending) >= self._batch_target():
            self._batch_full.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await future

    def expect_callers(self, count: int | None) -> None:
        """Say how many callers can still send a request (None: unknown, the default). A batch then starts as
        soon as that many wait, without waiting out `batch_wait`: a trainer's episodes advance in lockstep, so
        once every episode still in flight has asked, no other request can come. At 0, the kept cache is
        dropped. Call it from the event loop the agent serves."""
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise ConfigError(f"HFAgent expect_callers needs an int >= 0 or None, got {count!r}")
        self.callers = count
        if count == 0:
            self._kept = None  # nobody can extend it any more
        if self._batch_full is not None and self._pending and len(self._pending) >= self._batch_target():
            self._batch_full.set()

    async def aclose(self) -> None:
        """Stop taking requests; the model stays loaded for whoever else holds it."""
        self._closed = True
        worker = self._worker
        if worker is not None and not worker.done() and self._loop is asyncio.get_running_loop():
            await worker  # let queued requests finish

    def encode(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> list[int]:
        """The prompt ids: the chat template applied to `messages` with the generation prompt."""
        conversation = [
            Message.model_validate(m).to_openai() if isinstance(m, dict) else m.to_openai() for m in messages
        ]
        encoded = self.tokenizer.apply_chat_template(
            conversation, tools=tools or None, add_generation_prompt=True, tokenize=True
        )
        ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded  # transformers 5: a BatchEncoding
        if ids and isinstance(ids[0], list):
            ids = ids[0]
        return [int(i) for i in ids]

    def __repr__(self) -> str:
        source = getattr(self.model, "name_or_path", "") or type(self.model).__name__
        return f"HFAgent({source!r}, device={str(self.device)!r})"

    # ----- batching ---------------------------------------------------------------------------------
    def _batch_target(self) -> int:
        """How many waiting requests start a batch at once."""
        return self.batch_size if self.callers is None else max(1, min(self.batch_size, self.callers))

    async def _drain(self) -> None:
        """Generate queued requests, `batch_size` at a time, until the queue is empty."""
        if len(self._pending) < self._batch_target():
            self._batch_full.clear()
            with contextlib.suppress(asyncio.TimeoutError):  # a zero wait still lets this tick's calls join
                await asyncio.wait_for(self._batch_full.wait(), self.batch_wait)
        while self._pending:
            batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size :]
            batch = [
                (ids, future) for ids, _, future in sorted(batch, key=_request_rank) if not future.done()
            ]
            if not batch:
                continue
            try:
                prompts = [ids for ids, _ in batch]
                if self.executor is None:
                    outputs = await asyncio.to_thread(self._generate, prompts)
                else:
                    outputs = await asyncio.wrap_future(self.executor.submit(self._generate, prompts))
            except Exception as exc:
                error = AgentError(
                    f"{self!r} failed to generate a batch of {len(batch)}: {type(exc).__name__}: {exc}"
                )
                error.__cause__ = exc
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), output in zip(batch, outputs, strict=True):
                if not future.done():
                    future.set_result(output)

    def _generate(self, prompts: list[list[int]]) -> list[AgentOutput]:
        """One batch over `prompts` (runs in a worker thread): left-padded into one batch, or, when every
        prompt extends a row of the kept batch (`reuse_cache`), only their new ids appended to its cache."""
        kept, self._kept = self._kept, None
        rows = kept.rows_for(prompts) if kept is not None else None
        if rows is None:
            input_ids, attention_mask = _left_padded(prompts, self.pad_token_id, self.device)
            past_key_values = None
        else:
            input_ids, attention_mask = kept.continued(rows, prompts, self.pad_token_id)
            past_key_values = kept.cache
        width = input_ids.shape[1]
        batch_index = self.generate_calls
        self.generate_calls += 1
        sample = self._sample_own_loop if self._own_loop else self._sample_generate
        with torch.random.fork_rng(**self._fork_args(), enabled=self.seed is not None):
            if self.seed is not None:
                torch.manual_seed(self.seed + batch_index)
            out, token_logprobs = sample(input_ids, attention_mask, past_key_values)
        sampled = out.sequences[:, width:]
        outputs = []
        for row, prompt in enumerate(prompts):
            ids = sampled[row].tolist()
            end = next((i + 1 for i, t in enumerate(ids) if t in self.eos_token_ids), len(ids))
            ids = ids[:end]
            outputs.append(
                AgentOutput(
                    text=self.tokenizer.decode(ids, skip_special_tokens=True),
                    token_ids=ids,
                    logprobs=token_logprobs[row, :end].tolist(),
                    usage=Usage(prompt_tokens=len(prompt), completion_tokens=len(ids)),
                )
            )
        if self.reuse_cache:
            self._kept = _KeptBatch.after(out, attention_mask, prompts, [o.token_ids for o in outputs])
        return outputs

    def _sample_own_loop(self, input_ids: Any, attention_mask: Any, past_key_values: Any) -> tuple[Any, Any]:
        """agentgym's sampling loop: the output (sequences, cache) and the sampled ids' log-probs (cpu)."""
        with torch.no_grad():
            out = sampling.sample(
                self.model,
                input_ids,
                attention_mask,
                past_key_values=past_key_values,
                max_new_tokens=self.max_new_tokens,
                eos_token_ids=sorted(self.eos_token_ids),
                pad_token_id=self.pad_token_id,
                do_sample=self.do_sample,
                temperature=float(self.temperature),
                top_k=self.top_k,
                top_p=float(self.top_p),
            )
        return out, out.logprobs.float().cpu()

    def _sample_generate(self, input_ids: Any, attention_mask: Any, past_key_values: Any) -> tuple[Any, Any]:
        """`model.generate`: its output and the sampled ids' log-probs under its processed scores (cpu)."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": self.do_sample,
            "pad_token_id": self.pad_token_id,
            "eos_token_id": sorted(self.eos_token_ids) or None,
            "output_scores": True,
            "return_dict_in_generate": True,
        }
        if self.do_sample:
            kwargs.update(temperature=float(self.temperature), top_p=float(self.top_p), top_k=self.top_k)
        if past_key_values is not None:
            kwargs["past_key_values"] = past_key_values
        out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        sampled = out.sequences[:, input_ids.shape[1] :]
        # out.scores[t] is (batch, vocab): step t's processed scores. Reduced one step at a time, so a large
        # vocabulary never needs a second (batch, steps, vocab) tensor.
        logprobs = torch.stack(
            [
                step.float().log_softmax(-1).gather(-1, sampled[:, t : t + 1]).squeeze(-1)
                for t, step in enumerate(out.scores)
            ],
            dim=1,
        ).cpu()
        return out, logprobs

    def _fork_args(self) -> dict[str, Any]:
        if self.device.type == "cpu":
            return {"devices": []}
        return {"devices": [self.device.index or 0], "device_type": self.device.type}


def _left_padded(prompts: list[list[int]], pad_token_id: int, device: Any) -> tuple[Any, Any]:
    """(ids, attention mask), each (len(prompts), longest), the prompts aligned on the right."""
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        if prompt:
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            attention_mask[row, width - len(prompt) :] = 1
    return input_ids.to(device), attention_mask.to(device)


@dataclass
class _KeptBatch:
    """The key/value cache a batch's `generate` left, and what it holds row by row (`reuse_cache`).

    Continuing from it gives each real id the keys, values and position it would get in a fresh pass:
    positions come from the attention mask (its running sum), so the padding columns, masked out, shift
    nothing.

    cache: the model's cache; its length C covers the prompts and the replies, all but the last sampled step
    ids, mask: (rows, C) the ids at the cached positions and the attention mask over them, 0 on padding: the
        left padding and the pad ids `generate` fed a row after its EOS
    streams: per row, the real ids in the cache in order: the prompt, then the reply as far as it was fed
    """

    cache: Any
    ids: Any
    mask: Any
    streams: list[list[int]]

    @classmethod
    def after(cls, out: Any, attention_mask: Any, prompts: list[list[int]], replies: list[list[int]]):
        """What `generate`'s output `out` leaves to continue from, or None when its cache cannot be continued
        with padding inside (sliding windows drop by position, state-space layers fold padding in)."""
        cache = getattr(out, "past_key_values", None)
        if not isinstance(cache, transformers.DynamicCache) or not all(
            type(layer) is DynamicLayer for layer in cache.layers
        ):
            return None
        length, width = cache.get_seq_length(), attention_mask.shape[1]
        generated = attention_mask.new_ones((len(prompts), out.sequences.shape[1] - width))
        mask = torch.cat([attention_mask, generated], dim=1)[:, :length].clone()
        for row, reply in enumerate(replies):
            mask[row, width + len(reply) :] = 0  # pad ids fed after this row's EOS
        fed = length - width
        streams = [prompt + reply[:fed] for prompt, reply in zip(prompts, replies, strict=True)]
        return cls(cache, out.sequences[:, :length], mask, streams)

    def rows_for(self, prompts: list[list[int]]) -> list[int] | None:
        """The kept row each prompt extends by at least one id (each row once), or None if one extends none."""
        free = dict(enumerate(self.streams))
        rows = []
        for prompt in prompts:
            row = next((r for r, s in free.items() if len(s) < len(prompt) and prompt[: len(s)] == s), None)
            if row is None:
                return None
            rows.append(row)
            del free[row]
        return rows

    def continued(self, rows: list[int], prompts: list[list[int]], pad_token_id: int) -> tuple[Any, Any]:
        """`generate`'s inputs that continue the cache: the kept columns of `rows` (the cache keeps only those
        rows, in this order), then each prompt's new ids, left-padded into one block."""
        index = torch.tensor(rows, device=self.ids.device)
        if rows != list(range(len(self.streams))):
            self.cache.batch_select_indices(index)
        new = [prompt[len(self.streams[row]) :] for prompt, row in zip(prompts, rows, strict=True)]
        block_ids, block_mask = _left_padded(new, pad_token_id, self.ids.device)
        return (
            torch.cat([self.ids[index], block_ids], dim=1),
            torch.cat([self.mask[index], block_mask], dim=1),
        )


def _request_rank(request: tuple[list[int], str, asyncio.Future]) -> tuple[list[int], str]:
    """A batch's rows in a fixed order, not arrival order (which follows thread timing): each row draws from
    one RNG stream in turn, so the same requests get the same replies however they arrived."""
    ids, order, _ = request
    return ids, order


def _check(name: str, value: Any, types: type | tuple[type, ...], ok: Any, expected: str) -> None:
    if isinstance(value, bool) or not isinstance(value, types) or not ok(value):
        raise ConfigError(f"HFAgent {name} must be {expected}, got {value!r}")
