r"""EPO: Entropy-regularized Policy Optimization for multi-turn LLM agents.

Xu et al. 2025, "EPO: Entropy-regularized Policy Optimization for LLM Agents Reinforcement Learning",
arXiv:2509.22576; code: github.com/WujiangXu/EPO (verl-agent). Three parts, one function each below, and
:func:`epo_loss` combines them into one term that the trainer ADDS to its policy loss.

Notation. A batch of ``B`` completions of width ``T``; ``H_{i,k}`` is the entropy of the policy's
next-token distribution at completion token ``k`` of row ``i``; ``t = turn(i,k)`` is the turn that token
belongs to; ``M`` is the set of model tokens (``mask = 1`` and ``turn_ids ≥ 0``). Training step ``k`` of
``K`` (``step``, ``total_steps``).

1. Trajectory-level entropy regularization — the entropy of the policy over every model token of every turn
   of every trajectory (the turns share parameters, so they are regularized together)::

       L^H = (1/|M|) Σ_{(i,k)∈M} H_{i,k}

2. Entropy smoothing regularizer — a band around the historical average entropy ``H̄_t`` of the same turn
   index, ``[κ_l·H̄_t, κ_r·H̄_t]``; entropy outside it is penalized by its hinge distance to the band::

       d_{i,k}  = [κ_l·H̄_t − H_{i,k}]₊ + [H_{i,k} − κ_r·H̄_t]₊
       L^smooth = α · (1/|M|) Σ_{(i,k)∈M} d_{i,k}^p          (p = 2: squared hinge, the default)

   ``H̄_t`` is the cumulative mean over past training steps of the mean entropy of turn ``t`` at that step
   (:class:`TurnEntropyHistory`). Tokens whose turn has no history yet are not penalized. With
   ``granularity="turn"`` the distance is taken on the turn's mean entropy and shared by its tokens.

3. Phase-based weighting ``β_k`` of the smoothing term across training: a slow first phase that eases from
   1 towards ``β_mid``, then an exponential decay at rate ``γ`` (:func:`phase_weight`)::

       β_k = 1 − (1 − β_mid)·(1 − exp(−λ_s · k/k_mid))         k ≤ k_mid = ⌊s·K⌋
       β_k = β_mid · exp(−γ · (k − k_mid)/(K − k_mid))         k > k_mid

The objective minimized is ``L = L^PG − λ·(L^H − β_k·L^smooth)``, so :func:`epo_loss` returns::

    ΔL = −λ·L^H + λ·β_k·L^smooth          (add it to the policy loss)

Lower loss = higher entropy (the bonus) and entropy back inside its band (the penalty).

Sources and departures. The structure and symbols (``L^H``; ``L^smooth`` with ``[κ_l·H̄ − H]₊``; a per-turn
``H̄_t`` averaged cumulatively over training; a scheduled, decaying ``β_k`` with rate ``γ``) are the paper's,
as its authors restate them in the notes released with the code; the exact ``β_k`` schedule and the
defaults (λ = 1e-3, κ_l = 0, κ_r = 2, α = 0.1, γ = 3) are the released code's (``dp_actor.py``, README).
Where that code falls short, we depart on purpose:

- its smoothing "penalty" is a constant mask (α outside the band, 0 inside), so the term carries no gradient
  and cannot move entropy back into the band; ours is a hinge distance that does (see
  :func:`smoothing_penalty`);
- its per-turn history left-pads a short rollout's turn list with zeros to ``max_steps``, which shifts turn
  indices and averages zeros in; ours averages each turn index over the steps that reached it;
- it applies smoothing only to micro-batches holding a turn ≥ 25 (a misread config key); ours applies to all;
- the bonus ``L^H`` counts only tokens not above their band (``H ≤ κ_r·H̄_t``). With Adam the step size does
  not shrink with λ, so on a batch whose groups all tie (no policy gradient) the bonus alone moves the
  weights; acting above the band it outpulls the squared hinge (whose slope is 0 at the edge) and drove a
  tiny policy to uniform entropy in a few dozen such steps. Stopping the bonus at the edge keeps the band a
  band;
- for the same reason the trainer leaves the term out of a batch with no policy gradient at all (every
  group tied): a regularizer of the policy-gradient update has nothing to regularize there, and alone it
  still raised entropy to the maximum through the in-band tokens that share its parameters.

A property of the paper's design that the departures keep: the band is relative to ``H̄_t``, the policy's
own running mean, so entropy that the bonus raises also raises the band. With a λ large enough for the bonus
to move entropy at all, nothing bounds it: on the tiny Maze policy of ``benchmarks/multiturn_learning.py``,
λ = 0.02 (the term's gradient about 5% of the policy gradient's) drove entropy to uniform and success to 0
in all three seeds, while at λ = 1e-3 the term is about 0.2% of the update and changes little.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import torch

from agentgym.errors import ConfigError
from agentgym.trainers.advantages import BatchLayoutError

GRANULARITIES = ("token", "turn")


@dataclass
class EPOConfig:
    """Coefficients of EPO. Defaults: the paper's reported runs (ALFWorld; ScienceWorld used α = 0.05) and
    the released code's phase schedule."""

    entropy_coef: float = field(
        default=1e-3,
        metadata={
            "help": "λ: weight of the whole entropy term −λ·(L^H − β·L^smooth) in the loss. 0 turns EPO off "
            "(the smoothing term is nested under λ, as in the released code). The paper's 1e-3 was set for "
            "7B models; on the tiny Maze policy of benchmarks/ the term's gradient is then about 0.2% of the "
            "policy gradient's (benchmarks/epo_gradient_share.py prints it for a given λ), and at 0.02 (about "
            "5%) the bonus drove entropy to uniform in every seed: the band's centre H̄_t is the policy's own "
            "running mean, so it rises with the entropy it bounds. Range [0, inf)."
        },
    )
    smooth_coef: float = field(
        default=0.1,
        metadata={
            "help": "α: weight of the smoothing penalty L^smooth (the code's extra entropy_smooth_coeff = 1 "
            "is folded in). The released code used α as a constant, "
            "gradient-free value; here it scales the hinge distance, so with p = 2 the upper band edge only "
            "outweighs the entropy bonus when 2·α·β·d > 1 (d > 5 nats at α = 0.1): raise α (1–10) for a band "
            "that binds at small deviations. Range [0, inf)."
        },
    )
    band_low: float = field(
        default=0.0,
        metadata={
            "help": "κ_l: lower edge of the band as a fraction of the historical turn entropy H̄_t. The paper's "
            "reported runs use 0 (floor off); 0.5 or 0.8 turn the floor on. Range [0, 1]."
        },
    )
    band_high: float = field(
        default=2.0,
        metadata={"help": "κ_r: upper edge of the band as a multiple of H̄_t. Range [1, inf)."},
    )
    hinge_power: int = field(
        default=2,
        metadata={
            "help": "p: 1 = hinge distance (the paper's [·]₊), 2 = squared hinge (gradient grows with the "
            "distance and vanishes smoothly at the band edge). One of {1, 2}."
        },
    )
    granularity: str = field(
        default="token",
        metadata={
            "help": "'token': each token's entropy must stay in its turn's band; 'turn': the mean entropy of "
            "each (trajectory, turn) must (the code's 'token' and 'seq' modes). One of {'token', 'turn'}."
        },
    )
    phase_weighting: bool = field(
        default=True,
        metadata={"help": "Weight L^smooth by the phase schedule β_k; False keeps β_k = 1."},
    )
    phase_split: float = field(
        default=0.5,
        metadata={"help": "s: fraction of training in the slow first phase (k_mid = ⌊s·K⌋). Range (0, 1)."},
    )
    phase_mid_weight: float = field(
        default=0.8,
        metadata={
            "help": "β_mid: weight the first phase eases towards and the second starts from. Range [0, 1]."
        },
    )
    phase_slow_rate: float = field(
        default=2.0,
        metadata={"help": "λ_s: rate of the first phase's exponential easing. Range [0, inf)."},
    )
    phase_decay_rate: float = field(
        default=3.0,
        metadata={"help": "γ: exponential decay rate of the second phase. Range (0, inf)."},
    )
    history_window: int | None = field(
        default=None,
        metadata={
            "help": "None: H̄_t is the cumulative mean over all past steps (the paper's choice); an int W: "
            "the mean over the last W steps. Range None or [1, inf)."
        },
    )

    def __post_init__(self):
        def need(ok: bool, name: str, allowed: str):
            if not ok:
                raise ConfigError(f"EPOConfig.{name} must be in {allowed}, got {getattr(self, name)!r}")

        def number(name: str) -> float:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"EPOConfig.{name} must be a finite number, got {value!r}")
            return float(value)

        need(number("entropy_coef") >= 0, "entropy_coef", "[0, inf)")
        need(number("smooth_coef") >= 0, "smooth_coef", "[0, inf)")
        need(0 <= number("band_low") <= 1, "band_low", "[0, 1]")
        need(number("band_high") >= 1, "band_high", "[1, inf)")
        need(self.hinge_power in (1, 2) and not isinstance(self.hinge_power, bool), "hinge_power", "{1, 2}")
        need(self.granularity in GRANULARITIES, "granularity", "{'token', 'turn'}")
        need(isinstance(self.phase_weighting, bool), "phase_weighting", "{True, False}")
        need(0 < number("phase_split") < 1, "phase_split", "(0, 1)")
        need(0 <= number("phase_mid_weight") <= 1, "phase_mid_weight", "[0, 1]")
        need(number("phase_slow_rate") >= 0, "phase_slow_rate", "[0, inf)")
        need(number("phase_decay_rate") > 0, "phase_decay_rate", "(0, inf)")
        window = self.history_window
        need(
            window is None or (isinstance(window, int) and not isinstance(window, bool) and window >= 1),
            "history_window",
            "None or [1, inf)",
        )


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    r"""Entropy of the softmax at every position, (B, T, V) → (B, T), differentiable.

    ``H = −Σ_v p_v log p_v`` with ``log p = log_softmax(z)`` (stable for large logits), in float32 or higher;
    ``-inf`` logits (banned tokens) contribute 0.

    >>> token_entropy(torch.zeros(1, 1, 4))  # uniform over 4 tokens: log 4
    tensor([[1.3863]])
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise BatchLayoutError(f"logits must have shape (B, T, V), got {shape}")
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()  # half precision is not enough for Σ p log p
    logp = torch.log_softmax(logits, dim=-1)
    logp = logp.masked_fill(~torch.isfinite(logp), 0.0)  # p = 0 there; avoids 0·(−inf) = nan
    return -(logp.exp() * logp).sum(dim=-1)


class TurnEntropyHistory:
    r"""Historical average entropy per turn index, ``H̄_t``, the centre of the smoothing band.

    Each training step ``k`` contributes ``h_{k,t}``, the mean entropy over all model tokens of turn ``t``
    seen during that step (every micro-batch of the step is pooled). Then::

        H̄_t = (1/|K_t|) Σ_{k∈K_t} h_{k,t}       K_t = past steps that reached turn t (the last W if windowed)

    Values are recorded detached. A step's record is closed when a later step is recorded, and only closed
    steps count, so the band at step ``k`` is built from steps before ``k`` (no band on the first step).

    >>> history = TurnEntropyHistory()
    >>> ent, turns, mask = torch.tensor([[1.0, 3.0, 2.0]]), torch.tensor([[0, 0, 1]]), torch.ones(1, 3)
    >>> history.update(ent, turns, mask, step=0)
    >>> history.means()  # step 0 is still open
    {}
    >>> history.update(ent, turns, mask, step=1)
    >>> history.means()
    {0: 2.0, 1: 2.0}
    """

    def __init__(self, window: int | None = None):
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
            raise ConfigError(f"TurnEntropyHistory.window must be None or an int >= 1, got {window!r}")
        self.window = window
        self._records: deque[dict[int, float]] = deque(maxlen=window)  # closed steps, {turn: h_{k,t}}
        self._sums: dict[int, float] = {}  # cumulative Σ_k h_{k,t} (window=None)
        self._counts: dict[int, int] = {}  # cumulative |K_t| (window=None)
        self._num_closed = 0
        self._open_step: int | None = None
        self._open: dict[int, list[float]] = {}  # turn -> [entropy sum, token count] of the open step

    def __len__(self) -> int:
        """Number of closed steps the averages are built from (the last ``window`` when windowed)."""
        return self._num_closed

    def update(self, entropy: torch.Tensor, turn_ids: torch.Tensor, mask: torch.Tensor, step: int) -> None:
        """Record the (detached) entropies of model tokens at training step ``step`` (never decreasing)."""
        valid = _model_tokens(entropy, turn_ids, mask)
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise BatchLayoutError(f"step must be a non-negative int, got {step!r}")
        if self._open_step is not None and step < self._open_step:
            raise BatchLayoutError(
                f"step went back from {self._open_step} to {step}; steps must not decrease"
            )
        if self._open_step is not None and step > self._open_step:
            self._close()
        self._open_step = step
        turns = turn_ids[valid].long()
        if turns.numel() == 0:
            return
        n = int(turns.max()) + 1
        values = entropy.detach()[valid].double()
        sums = torch.zeros(n, dtype=torch.float64, device=values.device).index_add_(0, turns, values)
        counts = torch.bincount(turns, minlength=n)
        for t, (s, c) in enumerate(zip(sums.tolist(), counts.tolist(), strict=True)):
            if c:
                acc = self._open.setdefault(t, [0.0, 0])
                acc[0] += s
                acc[1] += c

    def _close(self) -> None:
        record = {t: s / c for t, (s, c) in self._open.items() if c}
        self._open = {}
        if not record:
            return
        self._num_closed += 1
        if self.window is None:
            for t, h in record.items():
                self._sums[t] = self._sums.get(t, 0.0) + h
                self._counts[t] = self._counts.get(t, 0) + 1
        else:
            self._records.append(record)
            self._num_closed = len(self._records)

    def means(self) -> dict[int, float]:
        """``{t: H̄_t}`` for every turn index some closed step reached."""
        if self.window is None:
            return {t: self._sums[t] / self._counts[t] for t in sorted(self._sums)}
        sums: dict[int, float] = {}
        counts: dict[int, int] = {}
        for record in self._records:
            for t, h in record.items():
                sums[t] = sums.get(t, 0.0) + h
                counts[t] = counts.get(t, 0) + 1
        return {t: sums[t] / counts[t] for t in sorted(sums)}

    def reference(self, turn_ids: torch.Tensor) -> torch.Tensor:
        """``H̄_{turn(i,k)}`` for every token, shape of ``turn_ids``; NaN where the turn has no history."""
        means = self.means()
        n = max(int(turn_ids.max()) + 1 if turn_ids.numel() else 0, 1)
        table = torch.full((n + 1,), float("nan"), dtype=torch.float32, device=turn_ids.device)
        for t, h in means.items():
            if t < n:
                table[t] = h
        index = torch.where(turn_ids >= 0, turn_ids.long(), torch.full_like(turn_ids.long(), n))
        return table[index]

    def state_dict(self) -> dict:
        """Picklable state, for checkpoints."""
        return {
            "window": self.window,
            "records": [dict(r) for r in self._records],
            "sums": dict(self._sums),
            "counts": dict(self._counts),
            "num_closed": self._num_closed,
            "open_step": self._open_step,
            "open": {t: list(v) for t, v in self._open.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.__init__(window=state["window"])
        self._records.extend(dict(r) for r in state["records"])
        self._sums, self._counts = dict(state["sums"]), dict(state["counts"])
        self._num_closed = state["num_closed"]
        self._open_step = state["open_step"]
        self._open = {t: list(v) for t, v in state["open"].items()}

    def __repr__(self) -> str:
        means = ", ".join(f"{t}: {h:.3f}" for t, h in self.means().items())
        return f"TurnEntropyHistory(window={self.window}, steps={len(self)}, means={{{means}}})"


def _model_tokens(entropy: torch.Tensor, turn_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if entropy.dim() != 2 or turn_ids.shape != entropy.shape or mask.shape != entropy.shape:
        raise BatchLayoutError(
            f"entropy, turn_ids and mask must all have shape (B, T); got {tuple(entropy.shape)}, "
            f"{tuple(turn_ids.shape)} and {tuple(mask.shape)}"
        )
    if turn_ids.is_floating_point():
        raise BatchLayoutError(f"turn_ids must be an integer tensor, got {turn_ids.dtype}")
    return mask.bool() & (turn_ids >= 0)


def _band_distance(
    entropy: torch.Tensor,
    turn_ids: torch.Tensor,
    mask: torch.Tensor,
    history: TurnEntropyHistory,
    low: float,
    high: float,
    granularity: str = "token",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token hinge distance to the band ``d`` (0 where not penalized), the tokens that have a band,
    and the model tokens."""
    if granularity not in GRANULARITIES:
        raise ConfigError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if not 0 <= low <= high:
        raise ConfigError(f"the band needs 0 <= low <= high, got low={low}, high={high}")
    valid = _model_tokens(entropy, turn_ids, mask)
    ref = history.reference(turn_ids).to(entropy.device)
    banded = valid & ~torch.isnan(ref)
    ref = torch.where(banded, ref, torch.zeros_like(ref)).to(entropy.dtype)
    value = torch.where(valid, entropy, torch.zeros_like(entropy))
    if granularity == "turn":  # mean entropy of each (row, turn), shared by the turn's tokens
        n_turns = int(turn_ids.max()) + 1 if valid.any() else 1
        rows = torch.arange(entropy.shape[0], device=entropy.device).unsqueeze(1)
        key = (rows * n_turns + turn_ids.clamp(min=0)).reshape(-1)
        flat_valid = valid.reshape(-1).to(entropy.dtype)
        sums = torch.zeros(entropy.shape[0] * n_turns, dtype=entropy.dtype, device=entropy.device)
        sums = sums.index_add(0, key, value.reshape(-1) * flat_valid)
        counts = torch.zeros_like(sums).index_add(0, key, flat_valid)
        value = (sums / counts.clamp(min=1))[key].reshape(entropy.shape)
    # relu has exactly zero gradient inside the band, so in-band tokens are left alone.
    d = torch.relu(low * ref - value) + torch.relu(value - high * ref)
    d = torch.where(banded, d, torch.zeros_like(d))
    return d, banded, valid


def smoothing_penalty(
    entropy: torch.Tensor,
    turn_ids: torch.Tensor,
    mask: torch.Tensor,
    history: TurnEntropyHistory,
    low: float,
    high: float,
    *,
    power: int = 2,
    granularity: str = "token",
) -> torch.Tensor:
    r"""``(1/|M|) Σ_{(i,k)∈M} d_{i,k}^p`` with ``d = [low·H̄_t − H]₊ + [H − high·H̄_t]₊``; differentiable.

    The gradient w.r.t. the entropy (hence the logits) is exactly zero for tokens inside
    ``[low·H̄_t, high·H̄_t]`` and points back towards the band outside it. Tokens of turns without history,
    observation tokens (``turn_ids = −1``) and masked tokens contribute 0. ``α`` and ``β_k`` are applied by
    :func:`epo_loss`.

    The released EPO code builds a constant mask here (α outside the band, 0 inside) that carries no
    gradient, so its "penalty" only shifts the loss value; this version actually pushes entropy back.

    >>> history = TurnEntropyHistory()
    >>> turns, mask = torch.tensor([[0, 0]]), torch.ones(1, 2)
    >>> history.update(torch.tensor([[1.0, 1.0]]), turns, mask, step=0)
    >>> history.update(torch.tensor([[1.0, 1.0]]), turns, mask, step=1)  # H̄_0 = 1
    >>> smoothing_penalty(torch.tensor([[1.5, 3.0]]), turns, mask, history, low=0.5, high=2.0)  # (0 + 1²)/2
    tensor(0.5000)
    """
    if power not in (1, 2):
        raise ConfigError(f"power must be 1 or 2, got {power!r}")
    d, _, valid = _band_distance(entropy, turn_ids, mask, history, low, high, granularity)
    return (d**power).sum() / valid.sum().clamp(min=1)


def phase_weight(step: int, total_steps: int, config: EPOConfig) -> float:
    r"""``β_k``, the weight of the smoothing term at training step ``k = step`` of ``K = total_steps``::

        β_k = 1 − (1 − β_mid)·(1 − exp(−λ_s · k/k_mid))         0 ≤ k ≤ k_mid = ⌊s·K⌋
        β_k = β_mid · exp(−γ · (k − k_mid)/(K − k_mid))         k_mid < k ≤ K

    ``k`` is clamped to ``[0, K]``. With the defaults (s = 0.5, β_mid = 0.8, λ_s = 2, γ = 3) the weight
    eases from 1 to 0.83 over the first half, steps to 0.8 and decays to 0.04 at the end — the schedule of
    the authors' code (the small step at ``k_mid`` included). ``config.phase_weighting=False`` gives 1.

    >>> [round(phase_weight(k, 100, EPOConfig()), 3) for k in (0, 50, 51, 100)]
    [1.0, 0.827, 0.753, 0.04]
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ConfigError(f"total_steps must be a positive int, got {total_steps!r}")
    if not config.phase_weighting:
        return 1.0
    k = min(max(int(step), 0), total_steps)
    k_mid = int(config.phase_split * total_steps)
    if k <= k_mid:
        if k_mid == 0:
            return 1.0
        ease = 1.0 - math.exp(-config.phase_slow_rate * k / k_mid)
        return 1.0 - (1.0 - config.phase_mid_weight) * ease
    return config.phase_mid_weight * math.exp(-config.phase_decay_rate * (k - k_mid) / (total_steps - k_mid))


def epo_loss(
    logits_or_entropy: torch.Tensor,
    turn_ids: torch.Tensor,
    mask: torch.Tensor,
    history: TurnEntropyHistory,
    config: EPOConfig,
    step: int,
    total_steps: int,
    *,
    update_history: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    r"""The EPO term to ADD to the policy loss, and its metrics.

    ::

        ΔL = −λ·L^H + λ·β_k·α·(1/|M|) Σ_{(i,k)∈M} d_{i,k}^p

    Minimizing it raises the entropy of the model tokens of all turns up to their band's upper edge (the
    bonus, which stops there) and pulls entropy that left its turn's band back to the band (the penalty,
    weighted by the phase schedule). `epo/entropy` reports the mean entropy of all model tokens.

    Args:
        logits_or_entropy: (B, T, V) logits of the completion tokens, or (B, T) per-token entropies (e.g. the
            ones TRL computes; they must carry gradient for the term to train anything).
        turn_ids: (B, T) integer turn index of each token, −1 for non-model tokens (ignored).
        mask: (B, T) 1 for tokens in the loss (TRL's completion mask × env mask).
        history: per-turn entropy history; updated here with this batch's detached entropies unless
            ``update_history=False`` (calls for the same ``step`` pool into one record).
        config: :class:`EPOConfig`.
        step, total_steps: training step ``k`` and total ``K`` for ``β_k``.

    Returns:
        ``(loss, metrics)``: a scalar tensor, and floats under ``epo/entropy`` (L^H), ``epo/smooth_penalty``
        (α·mean d^p), ``epo/phase_weight`` (β_k), ``epo/out_of_band_frac`` (fraction of model tokens outside
        their band) and ``epo/loss``.
    """
    if not isinstance(config, EPOConfig):
        raise ConfigError(f"config must be an EPOConfig, got {type(config).__name__}")
    if not isinstance(logits_or_entropy, torch.Tensor) or logits_or_entropy.dim() not in (2, 3):
        shape = (
            tuple(logits_or_entropy.shape)
            if isinstance(logits_or_entropy, torch.Tensor)
            else type(logits_or_entropy).__name__
        )
        raise BatchLayoutError(f"logits_or_entropy must have shape (B, T, V) or (B, T), got {shape}")
    entropy = token_entropy(logits_or_entropy) if logits_or_entropy.dim() == 3 else logits_or_entropy
    valid = _model_tokens(entropy, turn_ids, mask)
    if update_history:
        history.update(entropy, turn_ids, mask, step)
    n_tokens = valid.sum()
    denom = n_tokens.clamp(min=1)

    mean_entropy = torch.where(valid, entropy, torch.zeros_like(entropy)).sum() / denom  # L^H
    d, banded, _ = _band_distance(
        entropy, turn_ids, mask, history, config.band_low, config.band_high, config.granularity
    )
    # The bonus stops at the band's upper edge. Under Adam the update's size does not depend on λ, so in a
    # batch with no policy-gradient signal (every group's rewards equal) the bonus alone sets the step; if
    # it also acted above the band it would outpull the penalty (whose slope starts at 0) and drive entropy
    # to the uniform distribution.
    above = banded & (entropy.detach() > config.band_high * history.reference(turn_ids).to(entropy.device))
    entropy_bonus = torch.where(valid & ~above, entropy, torch.zeros_like(entropy)).sum() / denom
    penalty = config.smooth_coef * (d**config.hinge_power).sum() / denom  # L^smooth
    beta = phase_weight(step, total_steps, config)
    loss = -config.entropy_coef * (entropy_bonus - beta * penalty)

    out_of_band = ((d > 0) & banded).sum()
    metrics = {
        "epo/entropy": float(mean_entropy.detach()),
        "epo/smooth_penalty": float(penalty.detach()),
        "epo/phase_weight": beta,
        "epo/out_of_band_frac": float(out_of_band) / float(denom),
        "epo/loss": float(loss.detach()),
    }
    return loss, metrics
