"""Multi-turn rollouts for TRL: whole episodes played by the policy being trained, returned as token rows.

TRL's `GRPOTrainer` calls `rollout_func(prompts, trainer)` with each prompt repeated `num_generations`
times; here a prompt is a task id (see `task_dataset`), and its repeats are episodes of that task played
through the agentgym rollout engine (`run_rollouts`), all of them concurrently, with the trainer's own
model generating. Each episode becomes one row:

    prompt_ids      = the first prompt (system + first observation, the chat template's generation prompt)
    completion_ids  = reply_1 · obs_1 · reply_2 · obs_2 · … · reply_n
    env_mask        = 1 on reply tokens (trained), 0 on observation tokens (masked)
    logprobs        = the sampling log-probability of each reply token, 0 on observation tokens
    turn_spans      = [(start, end)) of each reply in completion_ids
    turn_rewards, episode_reward, success, task_id, num_turns, token_truncated, rollout_error

Token fidelity (the ids trained on are the ids sampled): an episode's tokens are kept as one stream
(`EpisodeTokens`). Reply k is sampled from exactly the stream before it, `reply_k` holds the sampled ids as
they came out of `generate`, and `obs_k` is the chat template's text between the end of reply k and the next
generation prompt, tokenized once (`observation_token_ids`). Nothing is decoded and re-encoded: the text
the environment reads is decoded from the ids, never the other way. So the log-probabilities of the
trainer's forward pass over `prompt_ids + completion_ids` equal the sampling log-probabilities (with
`history="full"`).

Lockstep turns: the episodes of a step take their turns together, so each turn is one batched `generate`
over the episodes still playing. The generator is told how many can still ask (`LiveEpisodes`: from the
environment backend's reset and release, less those whose token budget is spent), so a turn starts as soon
as all of them have asked, and it continues from the previous turn's key/value cache, running only the new
ids (the last reply's end and the observation) through the model (`HFAgent(reuse_cache=True)`).

Warm across steps: the rollouts of one `EpisodeRollout` run on one event loop in a thread of its own
(`RolloutLoop`), with one environment backend started once, so environments, worker processes and the
generate thread are built on the first step and reused by the next ones; `close()` (called when training
ends) releases them, and a later call starts them again.

Failures: an episode the engine records as an error (its environment crashed on every retry) gives a
placeholder row (one masked token) with `rollout_error` set; the trainer drops that episode's whole group
from the step (zero advantages and loss mask), since a group missing an episode has a biased baseline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
import queue
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from agentgym.agents.base import Agent, AgentOutput
from agentgym.errors import AgentGymError, ConfigError
from agentgym.rollout import Episode, HistoryPolicy, RolloutConfig, run_rollouts
from agentgym.rollout.workers import EnvBackend, make_backend
from agentgym.types import Message, Trajectory

logger = logging.getLogger(__name__)

#: Most tokenized texts an `EpisodeRollout` keeps across steps before it starts afresh.
ENCODED_LIMIT = 20_000

#: Stands in for an assistant reply when rendering the chat template, to find where the reply's text ends.
REPLY_SENTINEL = "\u2063agentgym-reply\u2063"


def task_dataset(
    env_id: str, split: str, env_kwargs: dict[str, Any] | None = None, num_tasks: int | None = None
):
    """A `datasets.Dataset` of the tasks of `split`: columns `prompt` (the task id, what `rollout_func`
    plays), `task_id` and `instruction`. `num_tasks` keeps the first ones."""
    import datasets

    import agentgym

    env = agentgym.make(env_id, **(env_kwargs or {}))
    try:
        base = env.unwrapped
        if split not in base.splits():
            raise ConfigError(f"split {split!r} does not exist in {env_id}; it has {list(base.splits())}")
        tasks = list(base.task_set(split))
    finally:
        env.close()
    if num_tasks is not None:
        tasks = tasks[:num_tasks]
    if not tasks:
        raise ConfigError(f"split {split!r} of {env_id} has no tasks")
    return datasets.Dataset.from_dict(
        {
            "prompt": [task.id for task in tasks],
            "task_id": [task.id for task in tasks],
            "instruction": [task.instruction for task in tasks],
        }
    )


def observation_token_ids(
    tokenizer: Any,
    messages: list[Message],
    tools: list[dict[str, Any]] | None = None,
    *,
    reply_end_token: str | None = None,
) -> list[int]:
    """The ids between the end of a reply and the next generation prompt: the chat-template delta.

    The template renders `[user, assistant (REPLY_SENTINEL), *messages]` with the generation prompt; the
    delta is the text after the sentinel: the template's end of the assistant turn, then `messages` (the
    observation as a user message, or tool results), then the generation prompt. If the reply was closed
    by a sampled end token whose text opens that delta (`reply_end_token`, e.g. `<|im_end|>`), it is
    already in the stream and is left out. The delta text is tokenized once, with no special tokens added.

    The delta does not depend on the episode's earlier text, so templates that render past turns differently
    from the last one (e.g. dropping reasoning) still give the same ids every time.
    """
    conversation = [
        {"role": "user", "content": "."},
        {"role": "assistant", "content": REPLY_SENTINEL},
        *(m.to_openai() if isinstance(m, Message) else dict(m) for m in messages),
    ]
    text = tokenizer.apply_chat_template(
        conversation, tools=tools or None, add_generation_prompt=True, tokenize=False
    )
    at = text.find(REPLY_SENTINEL)
    if at < 0:
        raise AgentGymError(
            "the chat template dropped the assistant message's content, so the text between turns cannot be "
            "found; multi-turn training needs a template that renders assistant messages"
        )
    delta = text[at + len(REPLY_SENTINEL) :]
    if reply_end_token:
        stripped = delta.lstrip()
        if stripped.startswith(reply_end_token):
            delta = stripped[len(reply_end_token) :]
    return [int(i) for i in tokenizer.encode(delta, add_special_tokens=False)]


class EpisodeTokens(Agent):
    """One episode's token stream, and the agent that plays it: `act` samples the next reply from exactly
    the ids of the stream so far (the opening prompt, then replies and observation deltas), trimmed to the
    last K turns when `history` is "last:K".

    `generator` is what samples: anything with `tokenizer`, `eos_token_ids`, `encode(messages, tools)` and
    `async complete(prompt_ids, order) -> AgentOutput` (an `HFAgent`; `order` is the episode's key, which ranks
    its request among identical prompts so that the same seed gives the same run). Once the completion has used
    `max_episode_tokens`, it stops sampling and replies with nothing (those turns are cut from the row).
    `on_spent()` is called then, once. `encoded` memoizes tokenization across the episodes that share it
    (see `tokens`).
    """

    def __init__(
        self,
        generator: Any,
        history: HistoryPolicy,
        max_episode_tokens: int,
        encoded: dict[tuple, list[int]] | None = None,
        on_spent: Any = None,
        order: Any = None,
    ):
        self.generator, self.history, self.max_episode_tokens = generator, history, max_episode_tokens
        self.order = order
        self.encoded = {} if encoded is None else encoded
        self.on_spent, self.spent = on_spent, False
        self.prompt_ids: list[int] | None = None
        self.replies: list[list[int]] = []  # sampled ids of each turn
        self.logprobs: list[list[float]] = []
        self.observations: list[list[int]] = []  # observations[k]: delta after reply k (known at turn k+1)

    @property
    def completion_length(self) -> int:
        return sum(map(len, self.replies)) + sum(map(len, self.observations))

    async def act(self, messages, tools=None, *, info=None) -> AgentOutput:
        if self.prompt_ids is None:
            encode = self.generator.encode
            self.prompt_ids = self.tokens(("prompt",), messages, tools, lambda: encode(messages, tools))
        else:
            self.observations.append(self._observation(messages, tools))
        if self.completion_length >= self.max_episode_tokens:
            if not self.spent and self.on_spent is not None:
                self.on_spent()
            self.spent = True
            output = AgentOutput(text="", token_ids=[], logprobs=[])
        else:
            output = await self.generator.complete(self.context(), order=self.order)
        self.replies.append(list(output.token_ids or []))
        self.logprobs.append(list(output.logprobs or []))
        return output

    def context(self) -> list[int]:
        """The ids the next reply is sampled from."""
        k = self.history.last_turns
        kept = (
            range(len(self.replies)) if k is None else range(max(0, len(self.replies) - k), len(self.replies))
        )
        ids = list(self.prompt_ids or [])
        for j in kept:
            ids += self.replies[j] + self.observations[j]
        return ids

    def tokens(self, kind: tuple, messages: list[Message], tools, tokenize) -> list[int]:
        """`tokenize()`, run once per distinct (kind, messages, tools) among the episodes sharing `encoded`:
        a group's episodes open with the same prompt, and observations repeat (walls, format errors).
        Tokenizing is deterministic, so the ids are the same either way."""
        key = (
            kind,
            json.dumps([m.to_openai() if isinstance(m, Message) else m for m in messages], default=str),
            json.dumps(tools, default=str) if tools else None,
        )
        ids = self.encoded.get(key)
        if ids is None:
            ids = self.encoded[key] = tokenize()
        return list(ids)

    def _observation(self, messages: list[Message], tools) -> list[int]:
        last_reply = max(i for i, m in enumerate(messages) if m.role == "assistant")
        observation = messages[last_reply + 1 :]
        reply = self.replies[-1]
        closed = bool(reply) and reply[-1] in self.generator.eos_token_ids
        end_token = self.generator.tokenizer.convert_ids_to_tokens(reply[-1]) if closed else None
        tokenizer = self.generator.tokenizer
        return self.tokens(
            ("delta", end_token),
            observation,
            tools,
            lambda: observation_token_ids(tokenizer, observation, tools, reply_end_token=end_token),
        )


class PolicyAgent(Agent):
    """Hands the rollout engine one `EpisodeTokens` per episode attempt (`start_episode`) and keeps the
    latest of each episode, keyed by (task_id, seed, sample), for building rows afterwards. `on_spent(episode)`
    is called when an episode's token budget is spent (`LiveEpisodes.spent`)."""

    def __init__(
        self,
        generator: Any,
        history: str | HistoryPolicy = "full",
        max_episode_tokens: int = 4096,
        on_spent: Any = None,
        encoded: dict[tuple, list[int]] | None = None,
    ):
        self.generator = generator
        self.history = HistoryPolicy.parse(history)
        self.max_episode_tokens = max_episode_tokens
        self.on_spent = on_spent
        self.episodes: dict[tuple[str, int, int], EpisodeTokens] = {}
        # Tokenization shared by the episodes (EpisodeTokens.tokens); a caller may keep it across rollouts.
        self.encoded: dict[tuple, list[int]] = {} if encoded is None else encoded

    def start_episode(self, episode: Episode) -> EpisodeTokens:
        on_spent = None if self.on_spent is None else functools.partial(self.on_spent, episode)
        key = (episode.task_id, episode.seed, episode.sample)
        tokens = EpisodeTokens(
            self.generator, self.history, self.max_episode_tokens, self.encoded, on_spent, order=key
        )
        self.episodes[key] = tokens
        return tokens

    async def act(self, messages, tools=None, *, info=None) -> AgentOutput:
        raise AgentGymError("PolicyAgent plays through start_episode(); run it with the rollout engine")


@dataclass
class EpisodeRow:
    """One episode as a TRL row (see the module docstring)."""

    prompt_ids: list[int]
    completion_ids: list[int]
    env_mask: list[int]
    logprobs: list[float]
    turn_spans: list[tuple[int, int]] = field(default_factory=list)
    turn_rewards: list[float] = field(default_factory=list)
    episode_reward: float | None = None
    success: bool = False
    task_id: str = ""
    num_turns: int = 0
    token_truncated: bool = False
    rollout_error: str | None = None


EPISODE_ROW_FIELDS = tuple(f.name for f in fields(EpisodeRow))


def episode_row(
    trajectory: Trajectory,
    tokens: EpisodeTokens | None,
    *,
    max_episode_tokens: int,
    step_reward_key: str | None = None,
    pad_token_id: int = 0,
) -> EpisodeRow:
    """The row of one played episode. Turns are kept while they fit whole in `max_episode_tokens`; the row's
    reward is what the kept turns earned (Σ of their rewards) and `success` holds only if none was cut.
    Fills `observation_token_ids` of the trajectory's turns (all but the last, which no reply follows)."""
    if trajectory.status != "ok" or tokens is None or tokens.prompt_ids is None or not trajectory.turns:
        error = trajectory.error or "the episode produced no tokens"
        prompt = tokens.prompt_ids if tokens is not None and tokens.prompt_ids else [pad_token_id]
        return EpisodeRow(
            prompt_ids=list(prompt),
            completion_ids=[pad_token_id],
            env_mask=[0],
            logprobs=[0.0],
            task_id=trajectory.task_id,
            rollout_error=error,
        )
    completion: list[int] = []
    mask: list[int] = []
    logprobs: list[float] = []
    spans: list[tuple[int, int]] = []
    rewards: list[float] = []
    turn_rewards: list[float] = []
    for k, turn in enumerate(trajectory.turns):
        if turn.token_ids != tokens.replies[k]:  # the engine records what the agent returned; never expected
            raise AgentGymError(
                f"turn {k} of {trajectory.task_id}: recorded ids differ from the sampled stream"
            )
        before = tokens.observations[k - 1] if k > 0 else []
        if not turn.token_ids or len(completion) + len(before) + len(turn.token_ids) > max_episode_tokens:
            break
        if k > 0:  # the last kept turn's stays None: no reply follows its observation, never tokenized
            trajectory.turns[k - 1].observation_token_ids = list(before)
        completion += before
        mask += [0] * len(before)
        logprobs += [0.0] * len(before)
        start = len(completion)
        completion += turn.token_ids
        mask += [1] * len(turn.token_ids)
        logprobs += list(turn.logprobs or [0.0] * len(turn.token_ids))
        spans.append((start, len(completion)))
        rewards.append(turn.reward)
        if step_reward_key is None:
            turn_rewards.append(float(turn.reward))
        else:
            turn_rewards.append(float(turn.reward_components.get(step_reward_key, 0.0)))
    cut = len(spans) < len(trajectory.turns)
    return EpisodeRow(
        prompt_ids=list(tokens.prompt_ids),
        completion_ids=completion,
        env_mask=mask,
        logprobs=logprobs,
        turn_spans=spans,
        turn_rewards=turn_rewards,
        episode_reward=float(sum(rewards)),
        success=bool(trajectory.success and not cut),
        task_id=trajectory.task_id,
        num_turns=len(spans),
        token_truncated=cut,
    )


def policy_generator(trainer: Any, batch_size: int, executor: concurrent.futures.Executor | None = None):
    """What samples the replies: the policy being trained, in this process, through transformers (`HFAgent`
    around `trainer.accelerator.unwrap_model(trainer.model)` and the trainer's tokenizer), with TRL's
    sampling settings (temperature, top_p, top_k; `max_completion_length` tokens per reply).

    `executor` runs the blocking `generate` calls: the rollout passes one that runs them on the trainer's
    own thread (see `RolloutLoop`). The episodes of a step advance in lockstep: the rollout tells the agent
    how many are still in flight (`expect_callers`), so a turn's batch starts once each of them has asked,
    and every prompt of a turn extends the episode's prompt and reply of the turn before, so the agent
    continues from the previous turn's key/value cache (`reuse_cache`) instead of running the whole history
    through the model again.

    This is the seam for another backend (vLLM): pass `EpisodeRollout(generator=...)` a function of
    `(trainer, batch_size, executor)` returning an object with `tokenizer`, `eos_token_ids`, `encode(messages, tools)`
    and `async complete(prompt_ids, order) -> AgentOutput` whose `token_ids`/`logprobs` are the exact sampled ids
    and their log-probabilities; `expect_callers(count)`, if it has one, is told the episodes in flight.
    """
    from agentgym.agents.hf_agent import HFAgent

    args = trainer.args
    return HFAgent(
        trainer.accelerator.unwrap_model(trainer.model),
        tokenizer=trainer.processing_class,
        max_new_tokens=args.max_completion_length,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k or 0,
        do_sample=True,
        batch_size=batch_size,
        device=str(trainer.accelerator.device),
        executor=executor,
        # A turn's batch starts once every episode in flight has asked, however long its environment step
        # took: with a time limit, which episodes share a batch (and so which random draws each gets) would
        # follow the machine's load, and the same seed would not give the same run.
        batch_wait=None,
        reuse_cache=True,
    )


class EpisodeRollout:
    """TRL's `rollout_func`: plays the episodes of `prompts` (task ids, each repeated once per episode of its
    group) with the trainer's policy and returns their rows as columns (see the module docstring).

    Reads everything else from `trainer.args` (a `MultiTurnGRPOConfig`): the environment, the split (train or
    eval by the model's mode), the turn limit, the history, the token budget. `generator` builds what
    samples (default `policy_generator`).
    """

    def __init__(self, generator=policy_generator):
        self.generator = generator
        self.last_trajectories: list[Trajectory] = []  # of the latest call, for inspection and tests
        # Tokenized prompts and observation deltas, kept across steps (tasks and observations recur), for the
        # tokenizer they were made with; emptied when it grows past ENCODED_LIMIT entries.
        self._encoded: dict[tuple, list[int]] = {}
        self._encoded_by: Any = None
        self._loop: RolloutLoop | None = None
        self._backend: EnvBackend | None = None
        self._backend_key: tuple | None = None

    def close(self) -> None:
        """Close the environments and stop the loop thread (idempotent; a later call starts them again)."""
        loop, self._loop = self._loop, None
        backend, self._backend, self._backend_key = self._backend, None, None
        if loop is not None:
            try:
                if backend is not None:
                    loop.run(backend.aclose())
            finally:
                loop.stop()

    def _warm_backend(self, args: Any, threads: int) -> EnvBackend:
        """The started backend for `args`' environment, kept across calls; rebuilt when the environment,
        its options or the worker or thread counts change, or when a batch needs more threads than it has
        (`threads` 0: stepped on the rollout's event loop, `InlineBackend`)."""
        env_kwargs = dict(args.env_kwargs or {})
        if args.max_turns is not None:  # the environment's own time limit must not cut the run shorter
            env_kwargs.setdefault("max_episode_steps", args.max_turns)
        key = (args.env_id, repr(sorted(env_kwargs.items())), args.env_workers, args.env_threads)
        backend = self._backend
        if backend is not None and (
            key != self._backend_key or threads > getattr(backend, "threads", threads)
        ):
            self._backend = None
            self._loop.run(backend.aclose())
            backend = None
        if backend is None:
            backend = make_backend(args.env_id, env_kwargs, workers=args.env_workers, threads=threads)
            self._loop.run(backend.start())
            self._backend, self._backend_key = backend, key
        return backend

    def __call__(self, prompts: list, trainer: Any) -> dict[str, list]:
        from trl.models import unwrap_model_for_generation

        args = trainer.args
        mode = "train" if trainer.model.training else "eval"
        task_ids = [_task_id(prompt) for prompt in prompts]
        counts = Counter(task_ids)
        config = RolloutConfig(
            env_id=args.env_id,
            env_kwargs=dict(args.env_kwargs or {}),
            split=args.train_split if mode == "train" else args.eval_split,
            task_ids=list(counts),
            samples=max(counts.values()),
            seed=args.seed + trainer.state.global_step * max(counts.values()),
            concurrency=len(prompts),
            workers=args.env_workers,
            max_turns=args.max_turns,
            history="full",  # the episode's token stream applies args.history itself
            progress=False,
        )
        with unwrap_model_for_generation(
            trainer.model_wrapped,
            trainer.accelerator,
            gather_deepspeed3_params=args.ds3_gather_for_generation,
            gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs,
        ):
            model = trainer.accelerator.unwrap_model(trainer.model)
            was_training = model.training  # HFAgent switches the model to eval mode; TRL reads the mode after
            try:
                if self._loop is None:
                    self._loop = RolloutLoop()
                generator = self.generator(trainer, len(prompts), self._loop.executor)
                backend = LiveEpisodes(
                    self._warm_backend(args, len(prompts) if args.env_threads is None else args.env_threads),
                    len(counts) * config.samples,
                    getattr(generator, "expect_callers", None),
                )
                if self._encoded_by is not generator.tokenizer or len(self._encoded) > ENCODED_LIMIT:
                    self._encoded, self._encoded_by = {}, generator.tokenizer
                agent = PolicyAgent(
                    generator,
                    args.history,
                    args.max_episode_tokens,
                    on_spent=backend.spent,
                    encoded=self._encoded,
                )
                result = self._loop.run(run_rollouts(agent, config, backend=backend))
            finally:
                model.train(was_training)

        by_key = {(t.task_id, t.sample): t for t in result.trajectories}
        pad = trainer.processing_class.pad_token_id
        seen: Counter = Counter()
        rows, trajectories = [], []
        for task in task_ids:
            trajectory = by_key[(task, seen[task])]
            seen[task] += 1
            tokens = agent.episodes.get((task, trajectory.seed, trajectory.sample))
            rows.append(
                episode_row(
                    trajectory,
                    tokens,
                    max_episode_tokens=args.max_episode_tokens,
                    step_reward_key=args.step_reward_key,
                    pad_token_id=pad if pad is not None else 0,
                )
            )
            trajectories.append(trajectory)
        self.last_trajectories = trajectories
        _check_step_reward_key(args.step_reward_key, trajectories)
        for row in rows:
            if row.rollout_error:
                logger.warning(
                    "episode of %s failed and its group is dropped: %s", row.task_id, row.rollout_error
                )
        return {name: [getattr(row, name) for row in rows] for name in EPISODE_ROW_FIELDS}


def _task_id(prompt: Any) -> str:
    if not isinstance(prompt, str):
        raise ConfigError(
            "multi-turn trainers expect each dataset prompt to be a task id (str), as task_dataset() builds; "
            f"got {type(prompt).__name__}"
        )
    return prompt


def _check_step_reward_key(key: str | None, trajectories: list[Trajectory]) -> None:
    """Warn when no turn reports the step reward component (a misspelt name reads as 0 everywhere); not an
    error, since a batch of unparsable replies reports no components at all."""
    turns = [turn for t in trajectories if t.status == "ok" for turn in t.turns]
    if key is None or not turns or any(key in turn.reward_components for turn in turns):
        return
    seen = sorted({name for turn in turns for name in turn.reward_components})
    logger.warning(
        "step_reward_key %r is in no turn's reward components (these report %s); step rewards are 0",
        key,
        seen,
    )


class LiveEpisodes:
    """The environment backend of one rollout, counting the episodes that can still ask for a reply: those not
    started yet, and those whose environment is open (the engine resets an episode's environment before its
    first turn and releases it once the episode has ended, failed or been cancelled) and whose token budget
    is not spent (`spent`: it plays on without sampling). Each change is passed to `notify(count)` (the
    generator's `expect_callers`), so a turn's batch can start as soon as every live episode has asked. A
    retried episode counts again from its new reset. Everything else is the backend's.
    """

    def __init__(self, backend: EnvBackend, episodes: int, notify: Any = None):
        self.backend, self.notify = backend, notify
        self.unstarted = episodes
        self._started: set[tuple] = set()
        self._spent: set[tuple] = set()
        self._open: dict[int, tuple] = {}  # backend episode handle → (seed, task id)
        self._report()

    @property
    def live(self) -> int:
        return self.unstarted + sum(key not in self._spent for key in self._open.values())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    async def reset(self, episode: int, seed: int | None, options: dict[str, Any] | None) -> tuple[str, dict]:
        key = (seed, (options or {}).get("task_id"))
        if key not in self._started:
            self._started.add(key)
            self.unstarted = max(0, self.unstarted - 1)
        self._spent.discard(key)  # a retry samples a fresh stream
        self._open[episode] = key
        self._report()
        return await self.backend.reset(episode, seed, options)

    def release(self, episode: int, *, discard: bool = False) -> None:
        self._open.pop(episode, None)
        self._report()
        self.backend.release(episode, discard=discard)

    def spent(self, episode: Episode) -> None:
        """`episode` used its token budget: it plays its remaining turns without asking for replies."""
        self._spent.add((episode.seed, episode.task_id))
        self._report()

    def _report(self) -> None:
        if self.notify is not None:
            self.notify(self.live)


class CallerThreadExecutor(concurrent.futures.Executor):
    """Runs submitted calls in the thread blocked in `RolloutLoop.run` (the trainer's thread), so the
    policy's `generate` shares that thread's warm torch thread pool instead of competing with it."""

    def __init__(self):
        self._work: queue.SimpleQueue = queue.SimpleQueue()

    def submit(self, fn, /, *args, **kwargs) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._work.put((future, fn, args, kwargs))
        return future

    def serve_until(self, done: concurrent.futures.Future, timeout: float | None = None) -> None:
        """Run submitted calls until `done` completes (or `timeout` seconds pass)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done.add_done_callback(lambda _: self._work.put(None))  # wakes the wait below
        while not done.done() and (deadline is None or time.monotonic() < deadline):
            try:
                item = self._work.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is None:
                continue
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:
                    future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise


class RolloutLoop:
    """An event loop in a daemon thread of its own, kept for many `run` calls: what the loop owns (the
    default executor's threads, an env backend's worker transports) stays warm between training steps.

    `run` blocks the calling thread, also where that thread already runs a loop (a notebook), and meanwhile
    runs the calls handed to `executor` (generation) there. Interrupted (Ctrl-C), it cancels the
    coroutine, waits for its cleanup, and re-raises.
    """

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.executor = CallerThreadExecutor()
        self._thread = threading.Thread(target=self.loop.run_forever, name="agentgym-rollout", daemon=True)
        self._thread.start()
        self._finalizer = weakref.finalize(self, _stop_loop, self.loop, self._thread)

    def run(self, coroutine):
        result: concurrent.futures.Future = concurrent.futures.Future()  # settled when the task has ended
        tasks: list[asyncio.Task] = []

        def start() -> None:
            task = self.loop.create_task(coroutine)
            task.add_done_callback(lambda done: _settle(result, done))
            tasks.append(task)

        self.loop.call_soon_threadsafe(start)
        try:
            self.executor.serve_until(result)
        except BaseException:  # Ctrl-C: cancel the task (after start, in order) and let it clean up
            self.loop.call_soon_threadsafe(lambda: tasks[0].cancel())
            self.executor.serve_until(result, timeout=30)
            raise
        return result.result()

    def stop(self) -> None:
        self._finalizer()


def _settle(result: concurrent.futures.Future, task: asyncio.Task) -> None:
    if task.cancelled():
        result.cancel()
    elif task.exception() is not None:
        result.set_exception(task.exception())
    else:
        result.set_result(task.result())


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """Shut the loop's executor down, stop the loop and close it (a finalizer: holds no RolloutLoop)."""
    if loop.is_closed():
        return
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=30)
    if not thread.is_alive():
        loop.close()
