"""OPRL: online process reward learning with an implicit process reward model.

OPRL (Liu et al. 2025, "Online Process Reward Learning for Agentic Reinforcement Learning") turns
trajectory-level outcome preferences into dense per-turn rewards, with the implicit PRM of Yuan et al. 2024
("Free Process Rewards without Process Labels", used online in PRIME): the PRM is a causal LM π_φ, and the
reward of turn t (reply a_t after the observations o_{1:t} of task x) is its log-ratio against the policy
that sampled the episode,

    r_φ(o_{1:t}, a_t) = β log π_φ(a_t | o_{1:t}, x) / π_θold(a_t | o_{1:t}, x)
                      = β Σ_{k ∈ turn t} [ log π_φ(y_k | y_<k) − log π_θold(y_k | y_<k) ]

over the reply's tokens y_k. The PRM is trained with a trajectory-level DPO loss on pairs (τ⁺, τ⁻) of
episodes of the same task, τ⁺ with the higher outcome:

    J_PRM(φ) = −E_(τ⁺, τ⁻) log σ( β log π_φ(τ⁺)/π_θold(τ⁺) − β log π_φ(τ⁻)/π_θold(τ⁻) )
             = −E_(τ⁺, τ⁻) log σ( Σ_t r_φ(τ⁺)_t − Σ_t r_φ(τ⁻)_t )

(`trajectory_dpo_loss`), where log π(τ) sums over the reply tokens only (observations are the
environment's, not the policy's). The step rewards of a trajectory therefore add up to its implicit
trajectory reward, and training makes them consistent with the preferences. Online, the trainer calls
`update(batch, group_size)` on every rollout batch, pairing each successful episode of a group with each
failed one, before it asks for that batch's step rewards.

The reference π_θold:

- **Policy tokens** (the usual case): when the PRM shares the policy's tokenizer and a turn carries its
  sampled `token_ids` and sampling `logprobs` (a trainer's rollout), the reference log-probabilities are
  those sampling log-probabilities, read in the policy's own token stream (`encode_trajectory(...,
  use_policy_tokens=True)`). Start the PRM from the policy (`OPRLEstimator.from_policy`): then r_t = 0 up
  to float error before the first update. Sampling at a temperature other than 1: set
  `OPRLConfig.temperature` to it, since the sampling log-probabilities are of the tempered distribution
  (with top-k or top-p they are of the truncated one, which the PRM does not reproduce: r_t starts near 0,
  not at 0).
- **Text** (a PRM with another tokenizer, or episodes without log-probabilities): the conversation is
  re-encoded with the PRM's tokenizer and the reference is a frozen `reference_model` over the same ids;
  by default a frozen copy of the PRM's weights as they were before its first update (taken when first
  needed, and saved with the estimator). The reference model must share the PRM's tokenizer.

>>> estimator = OPRLEstimator.from_policy(policy_model, tokenizer, OPRLConfig(beta=0.05))  # doctest: +SKIP
>>> metrics = estimator.update(batch, group_size=8)                                       # doctest: +SKIP
>>> estimator.step_rewards(batch[0])                                                      # doctest: +SKIP
[0.013, -0.002, 0.021]
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym.errors import ConfigError, require
from agentgym.types import Trajectory
from agentgym.verifiers.progress.base import (
    NoContrastError,
    ProgressEstimator,
    ProgressEstimatorError,
    check_contrast,
    encode_trajectory,
    outcome,
    read_estimator_file,
    usable,
    write_estimator_file,
)

torch = require("torch", "hf", "the OPRL progress estimator")
transformers = require("transformers", "hf", "the OPRL progress estimator")

logger = logging.getLogger(__name__)

#: Folder, inside a saved estimator, of its frozen reference model (when it has one).
REFERENCE_DIR = "reference"
#: Implicit rewards this close count as a tie in pair accuracy: a PRM equal to the sampling policy gives
#: r_t = 0 only up to float error (different batching and padding than at sampling time).
TIE_TOLERANCE = 1e-4


# ----- config ----------------------------------------------------------------------------------------
@dataclass
class OPRLConfig:
    """Every hyperparameter of OPRL, with its default. Bad values raise `ConfigError` naming the field."""

    beta: float = field(
        default=0.05,
        metadata={
            "help": "β: scale of the implicit reward r_t = β Σ_k [log π_φ − log π_ref] over a turn's tokens, "
            "and so the temperature of the DPO loss (PRIME uses 0.05)."
        },
    )
    learning_rate: float = field(default=1e-6, metadata={"help": "AdamW learning rate of the PRM."})
    updates_per_batch: int = field(
        default=1, metadata={"help": "AdamW steps on the PRM per `update` call (per rollout batch)."}
    )
    max_pairs_per_group: int | None = field(
        default=None,
        metadata={
            "help": "Most preference pairs drawn from one group (sampled with `seed`); None: every pair of an "
            "episode with a higher outcome and one with a lower outcome."
        },
    )
    max_length: int | None = field(
        default=None,
        metadata={"help": "Most tokens the PRM reads of an episode; later turns get reward 0. None: all."},
    )
    use_policy_tokens: bool | str = field(
        default="auto",
        metadata={
            "help": "True: read the policy's sampled tokens, the reference being their sampling log-probs (the "
            "PRM must share the policy's tokenizer). False: re-encode the text, the reference being a frozen "
            "reference model. 'auto': policy tokens for an episode whose every turn has token_ids and logprobs "
            "that the PRM's tokenizer decodes to the turn's text, text otherwise."
        },
    )
    temperature: float = field(
        default=1.0,
        metadata={
            "help": "Temperature the policy sampled at: the PRM's and the reference model's logits are divided "
            "by it, so that log π_φ is comparable with the sampling log-probs."
        },
    )
    micro_batch_size: int = field(
        default=8, metadata={"help": "Episodes per forward pass of the PRM (memory, not the loss)."}
    )
    max_grad_norm: float | None = field(
        default=1.0, metadata={"help": "Gradient-norm clipping of the PRM's update; None: no clipping."}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    seed: int = field(
        default=0, metadata={"help": "Seeds pair sampling (max_pairs_per_group) and train_offline's order."}
    )
    device: str | None = field(
        default=None,
        metadata={"help": "Torch device of the PRM and reference ('cpu', 'cuda'); None: where the model is."},
    )

    def __post_init__(self) -> None:
        _number("beta", self.beta, positive=True)
        _number("learning_rate", self.learning_rate, positive=True)
        _integer("updates_per_batch", self.updates_per_batch, minimum=1)
        if self.max_pairs_per_group is not None:
            _integer("max_pairs_per_group", self.max_pairs_per_group, minimum=1, none_ok=True)
        if self.max_length is not None:
            _integer("max_length", self.max_length, minimum=2, none_ok=True)
        if not (self.use_policy_tokens == "auto" or isinstance(self.use_policy_tokens, bool)):
            raise ConfigError(
                f"use_policy_tokens must be 'auto', True or False, got {self.use_policy_tokens!r}"
            )
        _number("temperature", self.temperature, positive=True)
        _integer("micro_batch_size", self.micro_batch_size, minimum=1)
        if self.max_grad_norm is not None:
            _number("max_grad_norm", self.max_grad_norm, positive=True, none_ok=True)
        _number("weight_decay", self.weight_decay, positive=False)
        _integer("seed", self.seed, minimum=None)
        if self.device is not None and not isinstance(self.device, str):
            raise ConfigError(f"device must be a torch device name (str) or None, got {self.device!r}")

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> OPRLConfig:
        """The config of `options` (e.g. a trainer's `step_rewards_options`); an unknown name raises."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - names)
        if unknown:
            raise ConfigError(f"unknown OPRL option(s) {unknown}; expected some of {sorted(names)}")
        return cls(**options)


def _number(name: str, value: Any, *, positive: bool, none_ok: bool = False) -> None:
    bad = isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    if bad or (value <= 0 if positive else value < 0):
        expected = "a finite number > 0" if positive else "a finite number >= 0"
        raise ConfigError(f"{name} must be {expected}{' or None' if none_ok else ''}, got {value!r}")


def _integer(name: str, value: Any, *, minimum: int | None, none_ok: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        expected = "an int" if minimum is None else f"an int >= {minimum}"
        raise ConfigError(f"{name} must be {expected}{' or None' if none_ok else ''}, got {value!r}")


# ----- preference pairs and the loss -----------------------------------------------------------------
def trajectory_dpo_loss(chosen_logratio: Any, rejected_logratio: Any, beta: float) -> Any:
    """The trajectory-level DPO loss, averaged over pairs:

        L = −mean_pairs log σ( β [ log π_φ(τ⁺)/π_ref(τ⁺) − log π_φ(τ⁻)/π_ref(τ⁻) ] )

    `chosen_logratio[i]` and `rejected_logratio[i]` are the sequence log-ratios Σ_t Σ_k [log π_φ − log π_ref]
    of pair i's preferred and rejected trajectory (tensors of the same shape, with gradient to the PRM).
    """
    chosen = torch.as_tensor(chosen_logratio)
    rejected = torch.as_tensor(rejected_logratio)
    return -torch.nn.functional.logsigmoid(beta * (chosen - rejected)).mean()


def _groups(
    trajectories: Sequence[Trajectory],
    group_size: int | None,
    group_key: Callable[[Trajectory], Hashable],
) -> list[list[Trajectory]]:
    if group_size is None:
        by_key: dict[Hashable, list[Trajectory]] = {}
        for trajectory in trajectories:
            by_key.setdefault(group_key(trajectory), []).append(trajectory)
        return list(by_key.values())
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ConfigError(f"group_size must be an int >= 1 or None, got {group_size!r}")
    if len(trajectories) % group_size:
        raise ProgressEstimatorError(
            f"{len(trajectories)} trajectories do not split into groups of group_size={group_size}; an OPRL "
            "batch is consecutive groups of group_size episodes of the same task"
        )
    return [list(trajectories[i : i + group_size]) for i in range(0, len(trajectories), group_size)]


def _group_pairs(
    group: Sequence[Trajectory], max_pairs: int | None, rng: random.Random
) -> list[tuple[int, int]]:
    """(chosen, rejected) indices into `group`: every usable episode with a higher outcome against every
    one with a lower outcome (with 0/1 outcomes: each success × each failure). Ties make no pair."""
    kept = [i for i, trajectory in enumerate(group) if trajectory.status == "ok" and trajectory.turns]
    outcomes = {i: outcome(group[i]) for i in kept}
    pairs = [(i, j) for i in kept for j in kept if outcomes[i] > outcomes[j]]
    if max_pairs is not None and len(pairs) > max_pairs:
        pairs = sorted(rng.sample(pairs, max_pairs))
    return pairs


def preference_pairs(
    trajectories: Sequence[Trajectory],
    group_size: int | None = None,
    *,
    group_key: Callable[[Trajectory], Hashable] = lambda t: t.task_id,
    max_pairs_per_group: int | None = None,
    seed: int = 0,
) -> list[tuple[Trajectory, Trajectory]]:
    """(preferred, rejected) pairs of episodes of the same group, as OPRL trains on them.

    Groups are consecutive runs of `group_size` episodes (a rollout batch), or, with `group_size=None`,
    the episodes sharing `group_key` (the task id). Within a group every episode with a higher outcome is
    paired with every one with a lower outcome (`max_pairs_per_group` keeps a seeded sample of them).
    """
    rng = random.Random(seed)
    pairs = []
    for group in _groups(trajectories, group_size, group_key):
        pairs += [(group[i], group[j]) for i, j in _group_pairs(group, max_pairs_per_group, rng)]
    return pairs


# ----- the estimator ---------------------------------------------------------------------------------
@dataclass
class _Encoded:
    """One trajectory as the PRM reads it: ids, the reply positions of each kept turn and, on the policy-token
    view, the reference (sampling) log-probabilities of those positions."""

    input_ids: list[int]
    turn_lengths: list[int]
    positions: list[int]  # every kept reply token's index in input_ids, turn after turn
    reference: list[float] | None  # None: computed by the reference model


class OPRLEstimator(ProgressEstimator):
    """An implicit process reward model: turn t's reward is β times the PRM's log-ratio against the rollout
    policy over the turn's reply tokens, and `update` trains the PRM online on each rollout batch with the
    trajectory-level DPO loss (see the module docstring for both formulas).

    Args:
        model: the PRM π_φ, a transformers causal LM (trained in place by `update`).
        tokenizer: its tokenizer (with a chat template).
        config: an `OPRLConfig`.
        reference_model: the frozen π_ref for episodes read as text (see the module docstring); None: a
            frozen copy of `model` taken before its first update, when first needed.
    """

    name = "oprl"
    online = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        config: OPRLConfig | None = None,
        reference_model: Any = None,
    ):
        if not isinstance(model, torch.nn.Module) or not callable(getattr(model, "forward", None)):
            raise ConfigError(f"model must be a transformers causal LM, got {type(model).__name__}")
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError("the PRM's tokenizer needs a chat template (tokenizer.chat_template)")
        self.config = config if config is not None else OPRLConfig()
        if not isinstance(self.config, OPRLConfig):
            raise ConfigError(f"config must be an OPRLConfig, got {type(self.config).__name__}")
        self.model, self.tokenizer = model, tokenizer
        if self.config.device is not None:
            self.model.to(self.config.device)
        self.model.eval()  # no dropout, as in DPO training; gradients still flow
        self.reference_model = None
        if reference_model is not None:
            self.reference_model = self._freeze(reference_model)
        self.num_updates = 0  # AdamW steps taken (saved, so a reloaded PRM knows it is no longer initial)
        self._optimizer = None
        self._rng = random.Random(self.config.seed)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._pad_id = int(pad) if pad is not None else 0

    @classmethod
    def from_policy(
        cls, policy_model: Any, tokenizer: Any, config: OPRLConfig | None = None, reference_model: Any = None
    ) -> OPRLEstimator:
        """A PRM that starts as a copy of the policy's current weights (the usual choice: r_t ≈ 0 until the
        first update). `tokenizer` is the policy's.

        The copy is a new model of the policy's class loaded with its weights, not a deep copy: a trainer's
        policy may carry a `forward` that accelerate replaced with a closure over the policy itself, which a
        deep copy keeps (the "PRM" would run and train the policy's weights)."""
        model = type(policy_model)(policy_model.config)
        model.load_state_dict(policy_model.state_dict())
        model.generation_config = copy.deepcopy(policy_model.generation_config)
        model.to(next(policy_model.parameters()).device)
        model.requires_grad_(True)
        return cls(model, tokenizer, config, reference_model=reference_model)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **overrides: Any) -> OPRLEstimator:
        """Load an estimator saved by `save_pretrained`; `overrides` replace saved config fields."""
        options = read_estimator_file(path, "oprl")
        num_updates = int(options.pop("num_updates", 0))
        config = OPRLConfig.from_dict({**options, **overrides})
        model = transformers.AutoModelForCausalLM.from_pretrained(os.fspath(path))
        tokenizer = transformers.AutoTokenizer.from_pretrained(os.fspath(path))
        reference = None
        if (Path(path) / REFERENCE_DIR).is_dir():
            reference = transformers.AutoModelForCausalLM.from_pretrained(
                os.fspath(Path(path) / REFERENCE_DIR)
            )
        estimator = cls(model, tokenizer, config, reference_model=reference)
        estimator.num_updates = num_updates
        return estimator

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """The PRM and its tokenizer, the reference model (if any) in `reference/`, and the config."""
        self.model.save_pretrained(os.fspath(path))
        self.tokenizer.save_pretrained(os.fspath(path))
        if self.reference_model is not None:
            self.reference_model.save_pretrained(os.fspath(Path(path) / REFERENCE_DIR))
        options = {**dataclasses.asdict(self.config), "num_updates": self.num_updates}
        write_estimator_file(path, "oprl", options)

    # ----- rewards ------------------------------------------------------------------------------------
    def step_rewards(self, trajectory: Trajectory) -> list[float]:
        return self.step_rewards_batch([trajectory])[0]

    def step_rewards_batch(self, trajectories: Sequence[Trajectory]) -> list[list[float]]:
        """r_t = β Σ_{k ∈ turn t} [log π_φ − log π_ref] for every turn; 0 for turns past `max_length` and for
        the turns of an episode that failed (status "error")."""
        out: list[list[float]] = [[0.0] * len(t.turns) for t in trajectories]
        todo = [i for i, t in enumerate(trajectories) if t.status == "ok" and t.turns]
        encoded = [self._encode(trajectories[i]) for i in todo]
        with torch.no_grad():
            turn_rewards = self._turn_rewards(encoded)
        for i, rewards in zip(todo, turn_rewards, strict=True):
            out[i][: len(rewards)] = rewards
        return out

    def trajectory_rewards(self, trajectories: Sequence[Trajectory]) -> list[float]:
        """Σ_t r_t of each trajectory: β log π_φ(τ)/π_ref(τ), the implicit reward the DPO loss compares."""
        return [sum(rewards) for rewards in self.step_rewards_batch(trajectories)]

    def preference_accuracy(
        self, pairs: Sequence[tuple[Trajectory, Trajectory]], tie_tolerance: float = TIE_TOLERANCE
    ) -> float:
        """Share of (preferred, rejected) pairs whose preferred episode has the higher implicit reward. A tie
        (rewards within `tie_tolerance`) counts one half, so a PRM that cannot tell them apart (r = 0 up to
        float error, as before training) scores 0.5."""
        if not pairs:
            raise ProgressEstimatorError("preference_accuracy needs at least one (preferred, rejected) pair")
        unique: dict[int, Trajectory] = {}
        for chosen, rejected in pairs:
            unique.setdefault(id(chosen), chosen)
            unique.setdefault(id(rejected), rejected)
        rewards = dict(zip(unique, self.trajectory_rewards(list(unique.values())), strict=True))
        scores = [_pair_score(rewards[id(c)], rewards[id(r)], tie_tolerance) for c, r in pairs]
        return sum(scores) / len(scores)

    # ----- training -----------------------------------------------------------------------------------
    def update(self, trajectories: Sequence[Trajectory], group_size: int) -> dict[str, float]:
        """Train the PRM on one rollout batch: consecutive groups of `group_size` episodes of one task.

        Pairs each episode with a higher outcome with each one with a lower outcome in its group, then takes
        `updates_per_batch` AdamW steps on the trajectory-level DPO loss averaged over all pairs. A batch with
        no pair (every group tied) logs a warning and returns `oprl/pairs = 0` without touching the PRM.
        Metrics (of the first step, before it changes the PRM): loss, pair accuracy, mean implicit reward of
        the chosen and of the rejected episodes, gradient norm.
        """
        return self._update_groups(_groups(trajectories, group_size, lambda t: t.task_id))

    def pair_loss(self, chosen: Sequence[Trajectory], rejected: Sequence[Trajectory]) -> Any:
        """The DPO loss of the pairs (chosen[i], rejected[i]) as a tensor with gradient to the PRM."""
        if len(chosen) != len(rejected) or not chosen:
            raise ProgressEstimatorError(
                f"pair_loss needs as many chosen as rejected trajectories (at least one), got "
                f"{len(chosen)} and {len(rejected)}"
            )
        logratio = self._sequence_logratios([self._encode(t) for t in [*chosen, *rejected]])
        return trajectory_dpo_loss(logratio[: len(chosen)], logratio[len(chosen) :], self.config.beta)

    def train_offline(
        self,
        trajectories: Sequence[Trajectory],
        epochs: int = 1,
        *,
        groups_per_update: int = 4,
        progress: bool = True,
    ) -> list[dict[str, float]]:
        """Train on collected episodes: groups are the episodes of one task, `groups_per_update` groups make
        one `update` (in a seeded random order each epoch). Returns each update's metrics.

        Raises `NoContrastError` when no task has episodes with different outcomes.
        """
        _integer("epochs", epochs, minimum=1)
        _integer("groups_per_update", groups_per_update, minimum=1)
        episodes = usable(trajectories)
        check_contrast(episodes, "OPRL training")
        rng = random.Random(self.config.seed)
        groups = [g for g in _groups(episodes, None, lambda t: t.task_id) if _group_pairs(g, None, rng)]
        if not groups:
            raise NoContrastError(
                "OPRL training: no task has episodes with different outcomes; preference pairs are drawn "
                "within a task, so play several episodes of each task (sampling) with mixed results"
            )
        from tqdm.auto import tqdm

        batches = math.ceil(len(groups) / groups_per_update)
        history = []
        with tqdm(total=epochs * batches, desc="OPRL", unit="update", disable=not progress) as bar:
            for _ in range(epochs):
                order = groups[:]
                rng.shuffle(order)
                for start in range(0, len(order), groups_per_update):
                    metrics = self._update_groups(order[start : start + groups_per_update])
                    history.append(metrics)
                    bar.set_postfix(loss=f"{metrics['oprl/loss']:.3f}", acc=f"{metrics['oprl/accuracy']:.2f}")
                    bar.update()
        return history

    def _update_groups(self, groups: list[list[Trajectory]]) -> dict[str, float]:
        pairs = [_group_pairs(group, self.config.max_pairs_per_group, self._rng) for group in groups]
        total = sum(map(len, pairs))
        if total == 0:
            logger.warning(
                "OPRL update skipped: in none of the %d groups do two episodes have different outcomes, so "
                "there is no preference pair (oprl/pairs = 0); the PRM is unchanged",
                len(groups),
            )
            return {"oprl/pairs": 0.0, "oprl/groups_with_pairs": 0.0}
        # Encode once (and run the reference model once) for all steps; only episodes in a pair are read.
        work = []
        for group, group_pairs in zip(groups, pairs, strict=True):
            if not group_pairs:
                continue
            members = sorted({i for pair in group_pairs for i in pair})
            where = {i: n for n, i in enumerate(members)}
            encoded = [self._encode(group[i]) for i in members]
            with torch.no_grad():
                reference = self._reference_logprobs(encoded)
            chosen = [where[i] for i, _ in group_pairs]
            rejected = [where[j] for _, j in group_pairs]
            work.append((encoded, reference, chosen, rejected))

        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ProgressEstimatorError(
                "the PRM has no trainable parameters (requires_grad is off everywhere)"
            )
        if self._optimizer is None:
            self._optimizer = torch.optim.AdamW(
                params, lr=self.config.learning_rate, weight_decay=self.config.weight_decay
            )
        metrics: dict[str, float] = {}
        for step in range(self.config.updates_per_batch):
            self._optimizer.zero_grad(set_to_none=True)
            loss_sum, correct, chosen_sum, rejected_sum = 0.0, 0.0, 0.0, 0.0
            for encoded, reference, chosen, rejected in work:
                logratio = self._sequence_logratios(encoded, reference)
                loss = trajectory_dpo_loss(logratio[chosen], logratio[rejected], self.config.beta)
                (loss * (len(chosen) / total)).backward()  # the mean over all pairs of the batch
                rewards = (self.config.beta * logratio.detach()).tolist()
                loss_sum += float(loss.detach()) * len(chosen)
                correct += sum(
                    _pair_score(rewards[c], rewards[r]) for c, r in zip(chosen, rejected, strict=True)
                )
                chosen_sum += sum(rewards[c] for c in chosen)
                rejected_sum += sum(rewards[r] for r in rejected)
            if self.config.max_grad_norm is not None:
                norm = torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
            else:
                norm = torch.linalg.vector_norm(
                    torch.stack([p.grad.norm() for p in params if p.grad is not None])
                )
            self._optimizer.step()
            self.num_updates += 1
            if step == 0:
                metrics = {
                    "oprl/loss": loss_sum / total,
                    "oprl/accuracy": correct / total,
                    "oprl/chosen_reward": chosen_sum / total,
                    "oprl/rejected_reward": rejected_sum / total,
                    "oprl/grad_norm": float(norm),
                }
        self._optimizer.zero_grad(set_to_none=True)
        return {**metrics, "oprl/pairs": float(total), "oprl/groups_with_pairs": float(len(work))}

    # ----- reading episodes ---------------------------------------------------------------------------
    def uses_policy_tokens(self, trajectory: Trajectory) -> bool:
        """Whether `trajectory` is read in the policy's tokens with its sampling log-probs as the reference
        (else its text is re-encoded and the reference model is the reference)."""
        mode = self.config.use_policy_tokens
        if mode is not True and mode is not False:
            return self._matches_policy(trajectory)
        return mode

    def _matches_policy(self, trajectory: Trajectory) -> bool:
        """'auto': the turns in the policy's token stream carry ids and log-probs, and the PRM's tokenizer
        decodes the ids to the turns' text (so it is the policy's tokenizer)."""
        turns = trajectory.turns[: _token_turns(trajectory)]
        if not turns or any(turn.observation_token_ids is None for turn in turns[:-1]):
            return False
        vocab = len(self.tokenizer)
        for turn in turns:
            ids, logprobs = turn.token_ids, turn.logprobs
            if logprobs is None or len(ids) != len(logprobs) or any(not 0 <= i < vocab for i in ids):
                return False
            if self.tokenizer.decode(ids, skip_special_tokens=True) != turn.agent_text:
                return False
        return True

    def _encode(self, trajectory: Trajectory) -> _Encoded:
        policy = self.uses_policy_tokens(trajectory)
        if policy:
            # The turns a trainer's row kept: it stops at the first reply with no tokens (the episode ran out
            # of max_episode_tokens) and leaves that turn's observation ids unset. The rest get reward 0.
            kept = _token_turns(trajectory)
            if 0 < kept < len(trajectory.turns):
                trajectory = trajectory.model_copy(update={"turns": trajectory.turns[:kept]})
        view = encode_trajectory(
            trajectory, self.tokenizer, use_policy_tokens=policy, max_length=self.config.max_length
        )
        positions = [p for start, end in view.turn_spans for p in range(start, end)]
        if positions and positions[0] < 1:
            raise ProgressEstimatorError(
                f"task {trajectory.task_id!r}: a reply starts at the first token, so nothing predicts it"
            )
        reference = None
        if policy:
            if view.reply_logprobs is None:
                raise ProgressEstimatorError(
                    f"an episode of task {trajectory.task_id!r} has turns without sampling logprobs (or not as "
                    "many as its token_ids); with use_policy_tokens=True they are the OPRL reference. "
                    "Use use_policy_tokens='auto' or False to read such episodes as text against a reference model"
                )
            reference = [lp for turn in view.reply_logprobs for lp in turn]
        else:
            self._text_reference()  # fails early, naming the problem, if there can be no reference model
        lengths = [end - start for start, end in view.turn_spans]
        return _Encoded(view.input_ids, lengths, positions, reference)

    def _text_reference(self) -> Any:
        """The frozen reference model; a copy of the PRM taken now if it has not been updated yet."""
        if self.reference_model is None:
            if self.num_updates:
                raise ProgressEstimatorError(
                    "this episode is read as text (the PRM's tokenizer is not the policy's, or the episode has "
                    "no sampling logprobs), which needs a reference model: by default a frozen copy of the PRM's "
                    f"initial weights, but the PRM has already taken {self.num_updates} update step(s). Pass "
                    "reference_model=..., or use use_policy_tokens=False so that the copy is taken at the start"
                )
            self.reference_model = self._freeze(copy.deepcopy(self.model))
        return self.reference_model

    def _freeze(self, model: Any) -> Any:
        model.requires_grad_(False)
        model.eval()
        return model.to(next(self.model.parameters()).device)

    # ----- the log-ratios -----------------------------------------------------------------------------
    def _token_logprobs(self, model: Any, encoded: Sequence[_Encoded]) -> list[Any]:
        """log π(y_k | y_<k) of every reply token of each episode (1-D tensors), `micro_batch_size` episodes
        per right-padded forward pass, at `temperature`."""
        device = next(model.parameters()).device
        out = []
        for start in range(0, len(encoded), self.config.micro_batch_size):
            chunk = encoded[start : start + self.config.micro_batch_size]
            width = max(len(e.input_ids) for e in chunk)
            ids = torch.full((len(chunk), width), self._pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, e in enumerate(chunk):
                ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids, dtype=torch.long)
                mask[row, : len(e.input_ids)] = 1
            ids, mask = ids.to(device), mask.to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits
            for row, e in enumerate(chunk):
                positions = torch.tensor(e.positions, dtype=torch.long, device=device)
                # Only the rows that predict a reply token: the full (length, vocab) log-softmax is not needed.
                rows = logits[row, positions - 1].float() / self.config.temperature
                targets = ids[row, positions].unsqueeze(-1)
                out.append(rows.log_softmax(-1).gather(-1, targets).squeeze(-1))
        return out

    def _reference_logprobs(self, encoded: Sequence[_Encoded]) -> list[Any]:
        """log π_ref of every reply token: the sampling log-probs, or the reference model's (no gradient)."""
        device = next(self.model.parameters()).device
        out: list[Any] = [None] * len(encoded)
        text = [i for i, e in enumerate(encoded) if e.reference is None]
        if text:
            logprobs = self._token_logprobs(self._text_reference(), [encoded[i] for i in text])
            for i, values in zip(text, logprobs, strict=True):
                out[i] = values.detach().to(device)
        for i, e in enumerate(encoded):
            if e.reference is not None:
                out[i] = torch.tensor(e.reference, dtype=torch.float32, device=device)
        return out

    def _token_logratios(self, encoded: Sequence[_Encoded], reference: list[Any] | None = None) -> list[Any]:
        if reference is None:
            with torch.no_grad():
                reference = self._reference_logprobs(encoded)
        policy = self._token_logprobs(self.model, encoded)
        return [p - r for p, r in zip(policy, reference, strict=True)]

    def _sequence_logratios(self, encoded: Sequence[_Encoded], reference: list[Any] | None = None) -> Any:
        """Σ_t Σ_k [log π_φ − log π_ref] of each episode: a 1-D tensor with gradient to the PRM."""
        return torch.stack([r.sum() for r in self._token_logratios(encoded, reference)])

    def _turn_rewards(self, encoded: Sequence[_Encoded]) -> list[list[float]]:
        """β Σ_{k ∈ turn t} [log π_φ − log π_ref] of each kept turn of each episode."""
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))  # less padding
        ratios = self._token_logratios([encoded[i] for i in order])
        out: list[list[float]] = [[] for _ in encoded]
        for i, ratio in zip(order, ratios, strict=True):
            turns = torch.split(ratio, encoded[i].turn_lengths)
            out[i] = [self.config.beta * float(turn.sum()) for turn in turns]
        return out

    def __repr__(self) -> str:
        source = getattr(self.model, "name_or_path", "") or type(self.model).__name__
        return f"OPRLEstimator({source!r}, beta={self.config.beta}, updates={self.num_updates})"


def _token_turns(trajectory: Trajectory) -> int:
    """How many leading turns a trainer's row keeps in the policy's token stream: it stops at the first reply
    with no tokens, or at the first whose preceding observation ids were left unset (the episode ran out of
    `max_episode_tokens` there). A trajectory with no observation ids at all is not a row: all its turns."""
    turns = trajectory.turns
    is_row = any(turn.observation_token_ids is not None for turn in turns)
    for k, turn in enumerate(turns):
        if not turn.token_ids or (k > 0 and is_row and turns[k - 1].observation_token_ids is None):
            return k
    return len(turns)


def _pair_score(chosen: float, rejected: float, tie_tolerance: float = TIE_TOLERANCE) -> float:
    if abs(chosen - rejected) <= tie_tolerance:
        return 0.5
    return 1.0 if chosen > rejected else 0.0
