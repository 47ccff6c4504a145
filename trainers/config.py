"""Configs of the multi-turn trainers: TRL's `GRPOConfig` plus what a multi-turn episode needs.

One dataclass per trainer, as in TRL (`MultiTurnGRPOConfig` beside `MultiTurnGRPOTrainer`,
`MultiTurnRLOOConfig` beside `MultiTurnRLOOTrainer`). Every added field has a default and a help text, and
`__post_init__` checks them before any model is loaded: a bad value raises `ConfigError` naming the field
and the values it accepts.

Two of TRL's fields change meaning for whole episodes:

- `max_completion_length` caps one model reply (one turn); the whole completion of an episode (every
  reply and the observations between them) is capped by `max_episode_tokens`.
- `num_generations` is the number of episodes played per task: they form the group that the advantage
  baseline is computed over.

>>> config = MultiTurnGRPOConfig(output_dir="out", env_id="agentgym/Maze-v0", max_turns=8)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig

from agentgym.errors import AgentGymError, ConfigError
from agentgym.rollout.history import HistoryPolicy
from agentgym.trainers.advantages import ADVANTAGE_METHODS
from agentgym.trainers.epo import EPOConfig


@dataclass
class MultiTurnGRPOConfig(GRPOConfig):
    """`GRPOConfig` for whole episodes of an agentgym environment (see the module docstring)."""

    # ----- the environment ----------------------------------------------------------------------------
    env_id: str | None = field(
        default=None,
        metadata={
            "help": "Registered environment id, e.g. 'agentgym/Maze-v0' (or pass env_id to the trainer)."
        },
    )
    env_kwargs: dict[str, Any] | str | None = field(
        default=None,
        metadata={"help": "Keyword arguments for the environment's constructor (a dict, or JSON text)."},
    )
    env_workers: int = field(
        default=0,
        metadata={
            "help": "Environment worker processes for rollouts; 0 steps environments in this process "
            "(right for fast, pure-Python environments), in `env_threads` threads."
        },
    )
    env_threads: int | None = field(
        default=None,
        metadata={
            "help": "With env_workers 0: threads that step the environments (None: one per episode of a "
            "batch), or 0 to step them on the rollout's event loop itself, which saves a hand-off per step "
            "for environments whose steps are fast and hold the GIL (Maze); a slow step then holds up the "
            "other episodes."
        },
    )
    train_split: str = field(
        default="train", metadata={"help": "Task split the training dataset is built from."}
    )
    eval_split: str = field(default="test", metadata={"help": "Task split evaluations play."})
    max_turns: int | None = field(
        default=None,
        metadata={
            "help": "Turn limit of an episode (it is truncated there). None: the environment's max_episode_steps."
        },
    )
    history: str = field(
        default="full",
        metadata={
            "help": "What the policy sees when it replies: 'full' (every turn), or 'last:K' (the opening and the "
            "last K turns). Training always scores the full token stream, so with 'last:K' the turns after the "
            "K-th are trained under a longer context than they were sampled with."
        },
    )
    max_episode_tokens: int = field(
        default=4096,
        metadata={
            "help": "Most completion tokens of one episode (replies and the observations between them). An "
            "episode that needs more is cut after the last whole turn that fits, as if it had been truncated "
            "there: its reward is what those turns earned."
        },
    )
    max_completion_length: int | None = field(
        default=256,
        metadata={"help": "Most tokens of one model reply (one turn)."},
    )

    # ----- advantages -----------------------------------------------------------------------------------
    advantage: str = field(
        default="grpo",
        metadata={
            "help": "Episode baseline within a task's group: 'grpo' (group mean) or 'rloo' (mean of the others)."
        },
    )
    step_reward_weight: float = field(
        default=0.0,
        metadata={
            "help": "w: weight of the step advantage added to the tokens of each turn (A = A^E + w·A^S); 0 uses "
            "the episode advantage only."
        },
    )
    step_reward_key: str | None = field(
        default=None,
        metadata={
            "help": "Step rewards for the step advantage: None uses each turn's environment reward; a name "
            "uses that entry of the turn's reward components (e.g. 'progress')."
        },
    )

    step_rewards: str = field(
        default="none",
        metadata={
            "help": "Where step rewards come from: 'none' (the environment's, or step_reward_key's component), or a "
            "progress estimator: 'spa', 'oprl' (trained online beside the policy) or 'qvalue'. Needs "
            "step_reward_weight > 0."
        },
    )
    step_rewards_model: str | None = field(
        default=None,
        metadata={
            "help": "The estimator's folder: a saved SPA or Q-value estimator (required for 'spa' and 'qvalue'); "
            "for 'oprl', the causal LM (or saved OPRL estimator) the PRM starts from, by default a copy of the "
            "policy."
        },
    )
    step_rewards_options: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "Fields of the estimator's Config (SPAConfig, OPRLConfig, ...): a dict or JSON text."
        },
    )
    step_reward_gates: list | str | None = field(
        default=None,
        metadata={
            "help": "A gated chain over each turn's reward components (the estimator's reward joins them under its "
            "name): levels [name, weight, threshold], highest priority first, e.g. "
            '[["success", 1.0, 1.0], ["spa", 1.0]]. None: the step reward as it comes.'
        },
    )

    # ----- entropy control ------------------------------------------------------------------------------
    epo: bool = field(
        default=False,
        metadata={
            "help": "Add the EPO entropy term (trajectory entropy bonus + per-turn smoothing) to the loss."
        },
    )
    epo_config: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "EPO coefficients: keyword arguments of agentgym.trainers.epo.EPOConfig (a dict, JSON text or "
            "an EPOConfig); None uses its defaults."
        },
    )

    # ----- evaluation -----------------------------------------------------------------------------------
    eval_every: int | None = field(
        default=None,
        metadata={
            "help": "Evaluate on `eval_split` every this many optimizer steps (sets eval_strategy='steps'); "
            "None: only when you call trainer.evaluate()."
        },
    )
    eval_episodes: int = field(
        default=16,
        metadata={
            "help": "Tasks of `eval_split` an evaluation plays, each `num_generations_eval` times (1 unless set)."
        },
    )

    def __post_init__(self) -> None:
        # Our fields first, so a bad value fails before TRL's checks and long before a model loads.
        self._check_multiturn_fields()
        if self.eval_every is not None:
            self.eval_strategy = "steps"
            self.eval_steps = self.eval_every
            if self.num_generations_eval is None:
                self.num_generations_eval = 1
        super().__post_init__()

    def _check_multiturn_fields(self) -> None:
        if self.env_id is not None:
            if not isinstance(self.env_id, str) or not self.env_id:
                raise ConfigError(
                    f"env_id must be a registered environment id (str) or None, got {self.env_id!r}"
                )
            from agentgym.registration import card

            try:
                card(self.env_id)
            except AgentGymError as exc:
                raise ConfigError(f"env_id: {exc}") from exc
        self.env_kwargs = _dict_field("env_kwargs", self.env_kwargs)
        _check_int("env_workers", self.env_workers, minimum=0)
        _check_int("env_threads", self.env_threads, minimum=0, optional=True)
        if self.env_threads is not None and self.env_workers:
            raise ConfigError(
                f"env_threads applies to environments stepped in this process (env_workers 0); got env_threads "
                f"{self.env_threads} with env_workers {self.env_workers}: leave one of them unset"
            )
        for name in ("train_split", "eval_split"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{name} must be a split name (str), e.g. 'train' or 'test'; got {value!r}")
        _check_int("max_turns", self.max_turns, minimum=1, optional=True)
        HistoryPolicy.parse(self.history)  # its ConfigError names `history` and 'full' / 'last:K'
        _check_int("max_completion_length", self.max_completion_length, minimum=1)
        _check_int("max_episode_tokens", self.max_episode_tokens, minimum=1)
        if self.max_episode_tokens < self.max_completion_length:
            raise ConfigError(
                f"max_episode_tokens ({self.max_episode_tokens}) must be at least max_completion_length "
                f"({self.max_completion_length}), so that a first reply always fits"
            )
        if self.advantage not in ADVANTAGE_METHODS:
            raise ConfigError(f"advantage must be one of {list(ADVANTAGE_METHODS)}, got {self.advantage!r}")
        if (
            isinstance(self.step_reward_weight, bool)
            or not isinstance(self.step_reward_weight, int | float)
            or not math.isfinite(self.step_reward_weight)
            or self.step_reward_weight < 0
        ):
            raise ConfigError(f"step_reward_weight must be a number >= 0, got {self.step_reward_weight!r}")
        if self.step_reward_key is not None and (
            not isinstance(self.step_reward_key, str) or not self.step_reward_key
        ):
            raise ConfigError(
                f"step_reward_key must be None (the turn's reward) or a reward component name, "
                f"got {self.step_reward_key!r}"
            )
        from agentgym.trainers.step_rewards import STEP_REWARD_SOURCES, gated_chain

        if self.step_rewards not in STEP_REWARD_SOURCES:
            raise ConfigError(
                f"step_rewards must be one of {list(STEP_REWARD_SOURCES)}, got {self.step_rewards!r}"
            )
        if self.step_rewards != "none":
            if self.step_reward_weight == 0:
                raise ConfigError(
                    f"step_rewards={self.step_rewards!r} needs step_reward_weight > 0 (the weight w of its step "
                    "advantage); with 0 the estimator would be computed and never used"
                )
            if self.step_reward_key is not None:
                raise ConfigError(
                    f"step_reward_key={self.step_reward_key!r} and step_rewards={self.step_rewards!r} both choose "
                    "the step reward; give one (to combine them, use step_reward_gates)"
                )
            if self.step_rewards in ("spa", "qvalue") and not self.step_rewards_model:
                raise ConfigError(
                    f"step_rewards={self.step_rewards!r} needs step_rewards_model: the folder of a trained "
                    "estimator (e.g. from `agentgym progress train spa`)"
                )
        if self.step_rewards_model is not None and (
            not isinstance(self.step_rewards_model, str) or not self.step_rewards_model
        ):
            raise ConfigError(
                f"step_rewards_model must be a folder path (str) or None, got {self.step_rewards_model!r}"
            )
        self.step_rewards_options = _dict_field("step_rewards_options", self.step_rewards_options)
        if isinstance(self.step_reward_gates, str):
            try:
                self.step_reward_gates = json.loads(self.step_reward_gates)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"step_reward_gates must be a list or JSON list text ({exc})") from exc
        gated_chain(self.step_reward_gates)
        if not isinstance(self.epo, bool):
            raise ConfigError(f"epo must be True or False, got {self.epo!r}")
        if isinstance(self.epo_config, EPOConfig):
            self.epo_config = self.epo_config.to_dict()
        self.epo_config = _dict_field("epo_config", self.epo_config)
        try:
            EPOConfig(**self.epo_config)
        except TypeError as exc:
            known = sorted(EPOConfig.__dataclass_fields__)
            raise ConfigError(f"epo_config has an unknown key ({exc}); EPOConfig fields are {known}") from exc
        except ConfigError as exc:
            raise ConfigError(f"epo_config: {exc}") from exc
        _check_int("eval_every", self.eval_every, minimum=1, optional=True)
        _check_int("eval_episodes", self.eval_episodes, minimum=1)
        # TRL options that the episode rollout cannot honour
        if self.scale_rewards not in ("group", "none", True, False):
            raise ConfigError(
                f"scale_rewards must be 'group' or 'none' for multi-turn trainers (advantages are normalized "
                f"within a task's group), got {self.scale_rewards!r}"
            )
        if self.multi_objective_aggregation != "sum_then_normalize":
            raise ConfigError(
                f"multi_objective_aggregation must be 'sum_then_normalize' for multi-turn trainers, got "
                f"{self.multi_objective_aggregation!r}"
            )
        if self.use_vllm:
            raise ConfigError(
                "use_vllm=True is not supported yet: multi-turn rollouts generate through transformers. A vLLM "
                "generator plugs in at agentgym.trainers.rollout.policy_generator (see its docstring); use "
                "use_vllm=False"
            )
        if self.use_transformers_continuous_batching:
            raise ConfigError("use_transformers_continuous_batching must be False for multi-turn trainers")
        if self.repetition_penalty != 1.0 or self.min_p is not None:
            raise ConfigError(
                "repetition_penalty and min_p are not supported by the multi-turn rollout (it samples with "
                f"temperature, top_p and top_k); got repetition_penalty={self.repetition_penalty}, min_p={self.min_p}"
            )

    def epo_options(self) -> EPOConfig:
        """The `EPOConfig` that `epo_config` describes."""
        return EPOConfig(**(self.epo_config or {}))


@dataclass
class MultiTurnRLOOConfig(MultiTurnGRPOConfig):
    """`MultiTurnGRPOConfig` with the leave-one-out baseline (`advantage="rloo"`), for `MultiTurnRLOOTrainer`."""

    advantage: str = field(
        default="rloo",
        metadata={"help": "Episode baseline within a task's group: 'rloo' (mean of the others) or 'grpo'."},
    )


def _dict_field(name: str, value: Any) -> dict[str, Any]:
    """A dict field that may arrive as JSON text (the command line) or None."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name} must be a dict or JSON object text, got {value!r} ({exc})") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a dict (or JSON object text), got {type(value).__name__}")
    return dict(value)


def _check_int(name: str, value: Any, *, minimum: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        expected = "an int or None" if optional else "an int"
        raise ConfigError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
