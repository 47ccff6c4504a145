"""The progress-estimator interface and what every estimator shares: how a trajectory is read as tokens.

A progress estimator turns a finished episode into one reward per turn:

    estimator.step_rewards(trajectory) -> [r_0, r_1, ..., r_{T-1}]

so that a sparse outcome (1 at the end of a won episode, 0 otherwise) becomes a dense signal the trainers'
step-level advantages use (`agentgym.trainers.advantages.step_advantages`). Offline estimators (SPA, a
step-level Q-value model) are trained once on collected trajectories; online ones (OPRL) learn from every
rollout batch as the policy trains: the trainer calls `update(trajectories, group_size)` before asking for
step rewards.

Reading a trajectory as tokens (`encode_trajectory`). Estimators are causal LMs, and each reads the
episode as one token stream with the range of every agent reply marked:

- **Policy tokens** (`use_policy_tokens=True`): when the estimator shares the policy's tokenizer and the
  trajectory carries the sampled ids (a trainer's rollout), the stream is the opening prompt (encoded with
  the chat template, as the policy's agent encodes it), then each reply's sampled `token_ids` and the
  observation ids between replies (`observation_token_ids`). The reply tokens line up one for one with
  the sampling `logprobs`, which OPRL's implicit reward needs.
- **Text** (otherwise): the conversation (opening messages, then each reply's `agent_text` as an assistant
  message and its `observation` as a user message) is rendered with the estimator's own chat template and
  tokenized; a reply's range is found by encoding the conversation up to it. This is how an estimator
  with a different tokenizer from the policy reads the episode (re-encoding the text, never mapping ids
  across vocabularies). Tool results are read from `Turn.observation`, as one user message per turn.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym.errors import AgentGymError, ConfigError
from agentgym.types import Message, Trajectory

logger = logging.getLogger(__name__)

#: Written beside the model by `save_pretrained`: which estimator it is and its options.
ESTIMATOR_FILE = "progress_estimator.json"


class ProgressEstimatorError(AgentGymError, ValueError):
    """Trajectories an estimator cannot read or learn from (no turns, no token ids, no outcome contrast)."""


class NoContrastError(ProgressEstimatorError):
    """Training data in which every trajectory has the same outcome: nothing tells progress from no progress."""


class ProgressEstimator:
    """Base class: one reward per turn of a trajectory.

    Subclasses implement `step_rewards` (or `step_rewards_batch`, for batched models). Online estimators set
    `online = True` and implement `update`, which the trainer calls with each rollout batch (consecutive
    groups of `group_size` episodes of the same task) before computing that batch's step rewards.
    """

    #: The name under which the trainer adds this estimator's reward to a turn's reward components.
    name: str = "progress"
    online: bool = False

    def step_rewards(self, trajectory: Trajectory) -> list[float]:
        """One reward per turn of `trajectory` (an empty list for an episode with no turns)."""
        raise NotImplementedError

    def step_rewards_batch(self, trajectories: Sequence[Trajectory]) -> list[list[float]]:
        """`step_rewards` of each trajectory; estimators with a model override this to batch forward passes."""
        return [self.step_rewards(t) for t in trajectories]

    def update(self, trajectories: Sequence[Trajectory], group_size: int) -> dict[str, float]:
        """Learn from one rollout batch (online estimators); returns metrics to log. Offline: nothing."""
        return {}

    def save_pretrained(self, path: str | os.PathLike) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")


def write_estimator_file(path: str | os.PathLike, kind: str, options: dict[str, Any]) -> None:
    """Record `kind` ("spa", "oprl", ...) and its options in `path/progress_estimator.json`."""
    Path(path).mkdir(parents=True, exist_ok=True)
    record = {"kind": kind, "options": options}
    (Path(path) / ESTIMATOR_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def read_estimator_file(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """The options saved with an estimator; checks the folder holds one (of `kind`, when given)."""
    file = Path(path) / ESTIMATOR_FILE
    if not file.is_file():
        raise ConfigError(
            f"{str(path)!r} is not a saved progress estimator: it has no {ESTIMATOR_FILE} "
            "(save one with estimator.save_pretrained(path))"
        )
    record = json.loads(file.read_text(encoding="utf-8"))
    if kind is not None and record.get("kind") != kind:
        raise ConfigError(f"{str(path)!r} holds a {record.get('kind')!r} estimator, expected {kind!r}")
    return dict(record.get("options") or {})


# ----- reading a trajectory as tokens ------------------------------------------------------------------
@dataclass
class EncodedTrajectory:
    """A trajectory as the estimator's token stream.

    `turn_spans[t] = (start, end)` is the half-open range of reply `t` in `input_ids`; `reply_logprobs[t]`
    the policy's sampling log-probabilities of those tokens (policy tokens only; None when re-encoded).
    Turns that did not fit in `max_length` are left out: `len(turn_spans)` may be less than the turns.
    """

    input_ids: list[int]
    turn_spans: list[tuple[int, int]]
    reply_logprobs: list[list[float]] | None = None
    num_turns: int = 0  # turns of the trajectory (kept or not)
    policy_tokens: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def last_tokens(self) -> list[int]:
        """Index of the last token of each kept reply (where SPA reads its head)."""
        return [end - 1 for start, end in self.turn_spans]


def chat_ids(tokenizer: Any, conversation: list[dict[str, Any]], *, generation_prompt: bool) -> list[int]:
    """The chat template's ids for `conversation` (OpenAI-style dicts)."""
    encoded = tokenizer.apply_chat_template(
        conversation, add_generation_prompt=generation_prompt, tokenize=True
    )
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded  # transformers 5: a BatchEncoding
    if ids and isinstance(ids[0], list):
        ids = ids[0]
    return [int(i) for i in ids]


def _opening(trajectory: Trajectory) -> list[dict[str, Any]]:
    if not trajectory.messages:
        raise ProgressEstimatorError(
            f"trajectory of task {trajectory.task_id!r} has no opening messages (system prompt and first "
            "observation); estimators read the whole conversation"
        )
    return [m.to_openai() for m in trajectory.messages]


def encode_trajectory(
    trajectory: Trajectory,
    tokenizer: Any,
    *,
    use_policy_tokens: bool = False,
    max_length: int | None = None,
) -> EncodedTrajectory:
    """Read `trajectory` as the estimator's token stream (see the module docstring).

    With `use_policy_tokens=True` every turn must carry `token_ids` (and every turn but the last its
    `observation_token_ids`), else a `ProgressEstimatorError` names the turn. Turns past `max_length` tokens
    are left out (the caller gives them reward 0).
    """
    if tokenizer.chat_template is None:
        raise ConfigError("the estimator's tokenizer needs a chat template (tokenizer.chat_template)")
    opening = _opening(trajectory)
    turns = trajectory.turns
    if use_policy_tokens:
        ids = chat_ids(tokenizer, opening, generation_prompt=True)
        spans, logprobs = [], []
        for k, turn in enumerate(turns):
            if turn.token_ids is None:
                raise ProgressEstimatorError(
                    f"turn {k} of task {trajectory.task_id!r} has no token_ids; policy tokens need a "
                    "trajectory from a trainer's rollout (or read it as text: use_policy_tokens=False)"
                )
            between: list[int] = []
            if k > 0:
                if turns[k - 1].observation_token_ids is None:
                    raise ProgressEstimatorError(
                        f"turn {k - 1} of task {trajectory.task_id!r} has no observation_token_ids"
                    )
                between = list(turns[k - 1].observation_token_ids)
            if max_length is not None and len(ids) + len(between) + len(turn.token_ids) > max_length:
                break
            start = len(ids) + len(between)
            ids = ids + between + list(turn.token_ids)
            spans.append((start, len(ids)))
            logprobs.append(list(turn.logprobs) if turn.logprobs is not None else [])
        if any(len(lp) != end - start for lp, (start, end) in zip(logprobs, spans, strict=True)):
            reply_logprobs = None
        else:
            reply_logprobs = logprobs
        return EncodedTrajectory(ids, spans, reply_logprobs, len(turns), policy_tokens=True)

    conversation = list(opening)
    ids = chat_ids(tokenizer, conversation, generation_prompt=True)
    spans = []
    for turn in turns:
        before = chat_ids(tokenizer, conversation, generation_prompt=True)
        with_reply = chat_ids(
            tokenizer,
            [*conversation, {"role": "assistant", "content": turn.agent_text}],
            generation_prompt=False,
        )
        if with_reply[: len(ids)] != ids:
            raise ProgressEstimatorError(
                "the estimator's chat template renders earlier turns differently once a later turn follows "
                f"(task {trajectory.task_id!r}, turn {turn.index}); reading replies as text needs a template "
                "whose rendering of a conversation starts with its rendering of every shorter one"
            )
        start = _common_prefix(before, with_reply)
        end = _reply_end(tokenizer, with_reply, start, turn.agent_text)
        if end <= start or (max_length is not None and end > max_length):
            break
        spans.append((start, end))
        ids = with_reply
        conversation += [
            {"role": "assistant", "content": turn.agent_text},
            {"role": "user", "content": turn.observation},
        ]
    return EncodedTrajectory(ids, spans, None, len(turns), policy_tokens=False)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _reply_end(tokenizer: Any, ids: list[int], start: int, text: str) -> int:
    """End of the reply's tokens in `ids` (the conversation ending with it): the reply's own tokens, plus
    the template's end-of-turn token when one follows it (that is where a policy's reply ends too)."""
    if not text:
        return min(start + 1, len(ids))
    own = len(tokenizer.encode(text, add_special_tokens=False))
    end = min(len(ids), start + own)
    if end < len(ids) and ids[end] in _end_ids(tokenizer):
        end += 1
    return end


def _end_ids(tokenizer: Any) -> set[int]:
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def check_contrast(trajectories: Sequence[Trajectory], what: str) -> None:
    """Raise `NoContrastError` when every trajectory has the same outcome (or there are none): an estimator
    trained on them learns nothing about progress, silently (a constant target, no preference pairs)."""
    outcomes = [_outcome(t) for t in trajectories]
    if not outcomes:
        raise NoContrastError(f"{what}: no trajectories to learn from")
    if len(set(outcomes)) == 1:
        raise NoContrastError(
            f"{what}: all {len(outcomes)} trajectories have the same outcome ({outcomes[0]}); an estimator "
            "needs both successes and failures (or different outcome rewards) to tell progress apart. "
            "Collect more varied episodes (sampling temperature, a weaker or stronger policy)."
        )


def _outcome(trajectory: Trajectory) -> float:
    return float(trajectory.total_reward)


def outcome(trajectory: Trajectory) -> float:
    """The episode's outcome as the estimators learn it: the sum of its turn rewards (the environments'
    outcome reward; 1 for a won Maze or TextWorld game)."""
    value = _outcome(trajectory)
    if not math.isfinite(value):
        raise ProgressEstimatorError(f"trajectory of task {trajectory.task_id!r} has outcome {value}")
    return value


def usable(trajectories: Sequence[Trajectory]) -> list[Trajectory]:
    """The finished episodes with at least one turn (errors and empty episodes carry nothing to learn)."""
    return [t for t in trajectories if t.status == "ok" and t.turns]


def as_messages(trajectory: Trajectory) -> list[Message]:
    """The whole conversation as messages (the text view of `encode_trajectory`)."""
    out = list(trajectory.messages)
    for turn in trajectory.turns:
        out.append(Message(role="assistant", content=turn.agent_text))
        out.append(Message(role="user", content=turn.observation))
    return out
