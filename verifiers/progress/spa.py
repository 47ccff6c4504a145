"""SPA: stepwise progress attribution (Wang et al. 2025, "SPA-RL: Reinforcing LLM Agents via Stepwise
Progress Attribution").

A progress estimator ``P_θ`` (an LM backbone with a scalar head) reads an episode
``τ = (u, a_1, o_1, …, a_T, o_T)`` and gives each action ``a_t`` a contribution

    ĉ_t = P_θ(u, a_1, o_1, …, a_t)          the head at the last token of reply a_t (causal: no o_t, no future)

trained so that the contributions of an episode add up to its outcome ``R(τ)``:

    L(θ) = 1/|D| Σ_{τ∈D} ( R(τ) − Σ_{t=1}^{T} ĉ_t )²

Each turn's reward for the policy fuses the contribution with a grounding signal ``g_t`` (1 when the
environment executed the action, `Turn.action_valid is True`; 0 when it rejected it or cannot tell):

    r_t = α · ĉ_t + β · g_t                  α = contribution_weight, β = grounding_weight (0.5 in the paper)

The backbone is a plain transformers `AutoModelForTokenClassification` with ``num_labels=1`` (for a Llama:
`LlamaForTokenClassification`), initialised from a causal LM checkpoint (the paper starts from the SFT
policy); the token-classification head is the scalar head, read only at the last token of each reply, and
starts at zero (every ĉ_t = 0 before training). Trajectories are read with
`encode_trajectory`: as re-encoded text by default, or as the policy's own sampled ids
(`use_policy_tokens=True`, when the estimator's tokenizer is the policy's). Replies past `max_length` tokens
are not read: their ``ĉ_t`` is 0 (their grounding term still counts), and in training the contributions of
the replies that fit are regressed to the whole episode's outcome.

>>> estimator = train_spa(trajectories, "path/to/causal-lm", config=SPAConfig(epochs=3))  # doctest: +SKIP
>>> estimator.step_rewards(trajectory)                                                    # doctest: +SKIP
[0.61, 0.02, 0.83]
>>> estimator.save_pretrained("spa"); SPAEstimator.from_pretrained("spa")                 # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from agentgym.errors import ConfigError, require
from agentgym.types import Trajectory
from agentgym.verifiers.progress.base import (
    ESTIMATOR_FILE,
    EncodedTrajectory,
    ProgressEstimator,
    ProgressEstimatorError,
    check_contrast,
    encode_trajectory,
    outcome,
    read_estimator_file,
    usable,
    write_estimator_file,
)

logger = logging.getLogger(__name__)

LR_SCHEDULES = ("linear", "constant")


@dataclass
class SPAConfig:
    """Every hyperparameter of SPA's progress estimator: the reward it gives and how it is trained."""

    # ----- the step reward r_t = α·ĉ_t + β·g_t ------------------------------------------------------------
    contribution_weight: float = field(
        default=1.0, metadata={"help": "α: weight of the estimated contribution ĉ_t in the step reward."}
    )
    grounding_weight: float = field(
        default=0.5,
        metadata={
            "help": "β: bonus for an action the environment executed (Turn.action_valid is True); the paper's "
            "grounding signal, 0.5."
        },
    )
    # ----- reading trajectories ---------------------------------------------------------------------------
    max_length: int = field(
        default=2048,
        metadata={"help": "Most tokens of an episode read; later replies get contribution 0."},
    )
    use_policy_tokens: bool = field(
        default=False,
        metadata={
            "help": "Read the policy's sampled token ids instead of re-encoding the text; only when the "
            "estimator's tokenizer is the policy's and trajectories come from a trainer's rollout."
        },
    )
    inference_batch_size: int = field(
        default=16, metadata={"help": "Episodes per forward pass when scoring (step_rewards_batch)."}
    )
    # ----- training: L(θ) = mean over episodes of (R(τ) − Σ_t ĉ_t)² ----------------------------------------
    learning_rate: float = field(default=1e-5, metadata={"help": "AdamW's peak learning rate."})
    lr_schedule: str = field(
        default="constant",
        metadata={
            "help": "'constant' after warmup (the paper's warmup-then-constant schedule), or 'linear': decay "
            "to 0 over training."
        },
    )
    warmup_ratio: float = field(
        default=0.0, metadata={"help": "Fraction of the optimizer steps spent ramping the rate up from 0."}
    )
    epochs: int = field(default=3, metadata={"help": "Passes over the training trajectories."})
    batch_size: int = field(default=8, metadata={"help": "Episodes per optimizer step."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(
        default=1.0, metadata={"help": "Gradient clipping norm (0 turns clipping off)."}
    )
    seed: int = field(
        default=0,
        metadata={"help": "Seeds the order of episodes in training (and dropout, if the model has any)."},
    )
    device: str | None = field(
        default=None,
        metadata={"help": "Torch device of the model, e.g. 'cpu' or 'cuda'; None: cuda when available."},
    )

    def __post_init__(self) -> None:
        for name in ("contribution_weight", "grounding_weight"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                raise ConfigError(f"SPAConfig.{name} must be a finite number, got {value!r}")
        for name, low in (("max_length", 2), ("inference_batch_size", 1), ("epochs", 1), ("batch_size", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"SPAConfig.{name} must be an int >= {low}, got {value!r}")
        if not _is_number(self.learning_rate) or not 0 < self.learning_rate < math.inf:
            raise ConfigError(
                f"SPAConfig.learning_rate must be a positive number, got {self.learning_rate!r}"
            )
        for name in ("weight_decay", "max_grad_norm"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value < math.inf:
                raise ConfigError(f"SPAConfig.{name} must be a number >= 0, got {value!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                f"SPAConfig.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}"
            )
        if not _is_number(self.warmup_ratio) or not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"SPAConfig.warmup_ratio must be a number in [0, 1), got {self.warmup_ratio!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"SPAConfig.seed must be an int, got {self.seed!r}")
        if not isinstance(self.use_policy_tokens, bool):
            raise ConfigError(
                f"SPAConfig.use_policy_tokens must be true or false, got {self.use_policy_tokens!r}"
            )
        if self.device is not None and not isinstance(self.device, str):
            raise ConfigError(
                f"SPAConfig.device must be a device name such as 'cpu' or None, got {self.device!r}"
            )

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> SPAConfig:
        """A config from a dict of field values (a saved estimator's options, a trainer's options)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown SPA option(s) {unknown}; expected fields of SPAConfig: {sorted(known)}"
            )
        return cls(**options)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ----- the estimator ---------------------------------------------------------------------------------
class SPAEstimator(ProgressEstimator):
    """Per-turn rewards ``r_t = α·ĉ_t + β·g_t`` from a trained progress estimator (see the module docstring).

    Args:
        model: a transformers token-classification model with one label (the scalar head).
        tokenizer: its tokenizer, with a chat template.
        config: the `SPAConfig` (rewards and reading options; training fields matter to `train_spa` only).
    """

    name = "spa"

    def __init__(self, model: Any, tokenizer: Any, config: SPAConfig | None = None):
        self.config = config if config is not None else SPAConfig()
        if getattr(model.config, "num_labels", None) != 1:
            raise ConfigError(
                f"SPA needs a model with a scalar head (AutoModelForTokenClassification with num_labels=1), "
                f"got {type(model).__name__} with num_labels={getattr(model.config, 'num_labels', None)}; "
                "to start from a causal LM, use SPAEstimator.from_causal_lm(path) or pass train_spa its path"
            )
        self.model = model.to(_device(self.config))
        self.model.eval()
        self.tokenizer = tokenizer
        #: One entry per training epoch: {"epoch": k, "loss": mean of the epoch's batch losses}.
        self.history: list[dict[str, float]] = []

    # ----- reading ------------------------------------------------------------------------------------
    def encode(self, trajectory: Trajectory) -> EncodedTrajectory:
        return encode_trajectory(
            trajectory,
            self.tokenizer,
            use_policy_tokens=self.config.use_policy_tokens,
            max_length=self.config.max_length,
        )

    def contributions(self, trajectory: Trajectory) -> list[float]:
        """ĉ_t for every turn of `trajectory`; 0 for turns past `max_length` tokens."""
        return self.contributions_batch([trajectory])[0]

    def contributions_batch(self, trajectories: Sequence[Trajectory]) -> list[list[float]]:
        """`contributions` of each trajectory, in batches of `inference_batch_size` (no gradient)."""
        import torch

        encoded = {i: self.encode(t) for i, t in enumerate(trajectories) if t.turns}
        out: list[list[float]] = [[0.0] * len(t.turns) for t in trajectories]
        order = sorted(encoded, key=lambda i: len(encoded[i].input_ids))  # similar lengths pad less
        size = self.config.inference_batch_size
        with torch.no_grad():
            for k in range(0, len(order), size):
                rows = order[k : k + size]
                values = turn_values(self.model, [encoded[i] for i in rows], self._pad_id)
                for i, row_values in zip(rows, values, strict=True):
                    out[i][: len(row_values)] = [float(v) for v in row_values]
        return out

    def step_rewards(self, trajectory: Trajectory) -> list[float]:
        """``r_t = α·ĉ_t + β·1[action_valid is True]`` for every turn."""
        return self.step_rewards_batch([trajectory])[0]

    def step_rewards_batch(self, trajectories: Sequence[Trajectory]) -> list[list[float]]:
        """`step_rewards` of each trajectory, with batched forward passes."""
        alpha, beta = self.config.contribution_weight, self.config.grounding_weight
        return [
            [alpha * c + beta * float(turn.action_valid is True) for c, turn in zip(cs, t.turns, strict=True)]
            for cs, t in zip(self.contributions_batch(trajectories), trajectories, strict=True)
        ]

    def regression_metrics(self, trajectories: Sequence[Trajectory]) -> dict[str, Any]:
        """How well ``Σ_t ĉ_t`` fits the outcomes of `trajectories`: the loss L(θ) on them (mean squared
        error) and the Pearson correlation (None when either side is constant)."""
        data = usable(trajectories)
        sums = [sum(cs) for cs in self.contributions_batch(data)]
        targets = [outcome(t) for t in data]
        loss = sum((s - r) ** 2 for s, r in zip(sums, targets, strict=True)) / max(1, len(data))
        return {"loss": loss, "correlation": pearson(sums, targets), "trajectories": len(data)}

    @property
    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else (self.tokenizer.eos_token_id or 0))

    # ----- saving ------------------------------------------------------------------------------------
    def save_pretrained(self, path: str | os.PathLike) -> None:
        """The model and tokenizer (transformers' `save_pretrained`) and `progress_estimator.json`."""
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        write_estimator_file(path, self.name, asdict(self.config))

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **config_overrides: Any) -> SPAEstimator:
        """Load an estimator saved by `save_pretrained`; keyword arguments override its saved config."""
        transformers = require("transformers", "hf", "SPA progress estimators")
        options = read_estimator_file(path, cls.name)
        config = SPAConfig.from_options({**options, **config_overrides})
        model = transformers.AutoModelForTokenClassification.from_pretrained(str(path))
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
        return cls(model, tokenizer, config)

    @classmethod
    def from_causal_lm(
        cls, path: str | os.PathLike, tokenizer: Any = None, config: SPAConfig | None = None
    ) -> SPAEstimator:
        """An untrained estimator: the backbone of the causal LM checkpoint at `path` under a new scalar head.

        The head starts at zero, so every ĉ_t starts at 0. (A randomly initialised head would start Σ_t ĉ_t
        as a sum of T random values, far from any outcome for long episodes, and the first updates would go
        into undoing that rather than into telling progress apart.)
        """
        transformers = require("transformers", "hf", "SPA progress estimators")
        import torch

        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()  # the head missing from the checkpoint is expected
        try:
            model, loading = transformers.AutoModelForTokenClassification.from_pretrained(
                str(path), num_labels=1, output_loading_info=True
            )
        except ValueError as exc:
            raise ConfigError(
                f"cannot put a token-level scalar head on {str(path)!r}: {exc}; SPA needs a model type that "
                "AutoModelForTokenClassification supports"
            ) from exc
        finally:
            transformers.logging.set_verbosity(verbosity)
        new = set(loading["missing_keys"])  # the head's weights: the checkpoint has none
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name in new:
                    parameter.zero_()
        return cls(model, tokenizer or transformers.AutoTokenizer.from_pretrained(str(path)), config)

    def __repr__(self) -> str:
        return f"SPAEstimator({type(self.model).__name__}, {self.config})"


def turn_values(model: Any, batch: Sequence[EncodedTrajectory], pad_id: int) -> list[Any]:
    """ĉ_t of each kept reply of each encoded episode: one right-padded forward pass, the head read at each
    reply's last token. Returns one 1-D tensor per episode (empty for an episode with no kept reply); a reply
    with no tokens (a policy that was out of token budget) gets 0."""
    import torch

    device = next(model.parameters()).device
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids, dtype=torch.long)
        mask[row, : len(e.input_ids)] = 1
    head = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits[..., 0]  # (B, L)
    out = []
    for row, e in enumerate(batch):
        last = torch.tensor([max(end - 1, 0) for start, end in e.turn_spans], dtype=torch.long, device=device)
        read = torch.tensor([end > start for start, end in e.turn_spans], dtype=head.dtype, device=device)
        out.append(head[row, last] * read)
    return out


# ----- training ----------------------------------------------------------------------------------------
def train_spa(
    trajectories: Sequence[Trajectory],
    model: Any,
    tokenizer: Any = None,
    config: SPAConfig | None = None,
    progress: bool = True,
) -> SPAEstimator:
    """Fit SPA's progress estimator: minimise ``L(θ) = mean_τ (R(τ) − Σ_t ĉ_t)²`` with AdamW.

    Args:
        trajectories: finished episodes (from the rollout engine) with both successes and failures;
            errored and empty ones are skipped. Raises `NoContrastError` when every outcome is the same.
        model: a causal LM checkpoint path (a new scalar head is put on its backbone), a saved
            `SPAEstimator` folder or instance (training continues), or a token-classification model with
            ``num_labels=1``.
        tokenizer: the model's tokenizer; by default loaded from the path or taken from the estimator.
        config: hyperparameters and reward options (`SPAConfig`), saved with the estimator.
        progress: show a tqdm bar over the epochs.

    Returns the trained estimator, with its per-epoch losses in `estimator.history`.
    """
    torch = require("torch", "hf", "training SPA progress estimators")
    from tqdm.auto import tqdm

    config = config if config is not None else SPAConfig()
    data = usable(trajectories)
    check_contrast(data, "SPA training")
    estimator = _starting_estimator(model, tokenizer, config)

    encoded = [estimator.encode(t) for t in data]
    kept = [i for i, e in enumerate(encoded) if e.turn_spans]
    if len(kept) < len(data):
        logger.warning(
            "SPA training: %d of %d episodes have no reply within max_length=%d tokens and are skipped",
            len(data) - len(kept),
            len(data),
            config.max_length,
        )
        check_contrast([data[i] for i in kept], "SPA training (episodes that fit in max_length)")
    encoded = [encoded[i] for i in kept]
    targets = torch.tensor([outcome(data[i]) for i in kept], dtype=torch.float32)

    net = estimator.model
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_factor(config, config.epochs * math.ceil(len(encoded) / config.batch_size))
    )
    order_rng = torch.Generator().manual_seed(config.seed)
    bar = tqdm(range(config.epochs), desc="SPA", unit="epoch", disable=not progress)
    with torch.random.fork_rng(devices=[]):  # dropout draws stay reproducible and leave global RNG alone
        torch.manual_seed(config.seed)
        net.train()
        for epoch in bar:
            total, count = 0.0, 0
            for batch in torch.randperm(len(encoded), generator=order_rng).split(config.batch_size):
                values = turn_values(net, [encoded[i] for i in batch.tolist()], estimator._pad_id)
                predicted = torch.stack([v.sum() for v in values])  # Σ_t ĉ_t per episode
                loss = torch.nn.functional.mse_loss(predicted, targets[batch].to(predicted.device))
                optimizer.zero_grad()
                loss.backward()
                if config.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm)
                optimizer.step()
                schedule.step()
                total += loss.item() * len(batch)
                count += len(batch)
            estimator.history.append({"epoch": float(epoch + 1), "loss": total / count})
            bar.set_postfix(loss=f"{total / count:.4f}")
        net.eval()
    return estimator


def _lr_factor(config: SPAConfig, steps: int):
    """The learning rate's multiplier at each optimizer step: linear warmup, then constant or linear decay."""
    warmup = int(config.warmup_ratio * steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.lr_schedule == "constant":
            return 1.0
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return factor


def _starting_estimator(model: Any, tokenizer: Any, config: SPAConfig) -> SPAEstimator:
    """The estimator training starts from (see `train_spa`'s `model` argument)."""
    transformers = require("transformers", "hf", "training SPA progress estimators")

    if isinstance(model, SPAEstimator):
        return SPAEstimator(model.model, tokenizer or model.tokenizer, config)
    if isinstance(model, str | os.PathLike):
        path = str(model)
        if not os.path.isfile(os.path.join(path, ESTIMATOR_FILE)):
            return SPAEstimator.from_causal_lm(path, tokenizer, config)
        read_estimator_file(path, SPAEstimator.name)  # a saved estimator of another kind fails here
        net = transformers.AutoModelForTokenClassification.from_pretrained(path)
        return SPAEstimator(net, tokenizer or transformers.AutoTokenizer.from_pretrained(path), config)
    if tokenizer is None:
        raise ConfigError(
            f"train_spa got a {type(model).__name__} model without its tokenizer; pass tokenizer=..., or "
            "pass the model's path"
        )
    return SPAEstimator(model, tokenizer, config)


def _device(config: SPAConfig) -> str:
    import torch

    if config.device is not None:
        return config.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's correlation of two equally long sequences; None when either is constant or too short."""
    if len(xs) != len(ys):
        raise ProgressEstimatorError(f"pearson: {len(xs)} values against {len(ys)}")
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)
