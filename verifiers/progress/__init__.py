"""Step-level progress estimators: one reward per turn of an episode, learned from outcomes.

- `SPAEstimator` (SPA-RL, Wang et al. 2025): a scalar head on an LM backbone gives each turn a contribution
  ``c_t``; trained so that ``Σ_t c_t`` regresses to the episode's outcome. Step reward: ``c_t`` plus a
  grounding bonus for actions the environment executed.
- `OPRLEstimator` (OPRL, Liu et al. 2025): an implicit process reward model, a causal LM whose per-token
  log-ratio against the rollout policy, summed over a turn and times β, is the turn's reward; trained online
  from trajectory preferences within each group with a trajectory-level DPO loss.
- `QValueEstimator` / `QGuidedAgent` (Zhai et al. 2024): a step-level Q-value model trained with step-level
  DPO on preference pairs from tree search (`annotate_tree_search`); scores an action as the log-probability
  ratio of the Q-model against its reference, for dense rewards or best-of-N action selection.

All are `ProgressEstimator`s (`step_rewards(trajectory) -> list[float]`), plain transformers models
underneath (`save_pretrained` / `from_pretrained`), and the trainers' `step_rewards: spa | oprl | qvalue`.
Names resolve on first use, so importing this package imports neither torch nor transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

from agentgym.verifiers.progress.base import (
    EncodedTrajectory,
    NoContrastError,
    ProgressEstimator,
    ProgressEstimatorError,
    encode_trajectory,
)

_LAZY = {
    "SPAConfig": "agentgym.verifiers.progress.spa",
    "SPAEstimator": "agentgym.verifiers.progress.spa",
    "train_spa": "agentgym.verifiers.progress.spa",
    "OPRLConfig": "agentgym.verifiers.progress.oprl",
    "OPRLEstimator": "agentgym.verifiers.progress.oprl",
    "trajectory_dpo_loss": "agentgym.verifiers.progress.oprl",
    "preference_pairs": "agentgym.verifiers.progress.oprl",
    "QValueEstimator": "agentgym.verifiers.progress.qvalue",
    "annotate_tree_search": "agentgym.verifiers.progress.qvalue",
    "step_preference_pairs": "agentgym.verifiers.progress.qvalue",
    "train_q_model": "agentgym.verifiers.progress.qvalue",
}

#: `step_rewards` names of the trainer config -> "module:class" of the estimator.
ESTIMATORS: dict[str, str] = {
    "spa": "agentgym.verifiers.progress.spa:SPAEstimator",
    "oprl": "agentgym.verifiers.progress.oprl:OPRLEstimator",
    "qvalue": "agentgym.verifiers.progress.qvalue:QValueEstimator",
}

__all__ = [
    "ESTIMATORS",
    "EncodedTrajectory",
    "NoContrastError",
    "OPRLConfig",
    "OPRLEstimator",
    "ProgressEstimator",
    "ProgressEstimatorError",
    "QValueEstimator",
    "SPAConfig",
    "SPAEstimator",
    "annotate_tree_search",
    "encode_trajectory",
    "estimator_class",
    "preference_pairs",
    "step_preference_pairs",
    "train_q_model",
    "train_spa",
    "trajectory_dpo_loss",
]


def estimator_class(name: str) -> type[ProgressEstimator]:
    """The estimator class registered as `name` ("spa", "oprl", "qvalue")."""
    from agentgym.errors import ConfigError

    if name not in ESTIMATORS:
        raise ConfigError(f"unknown progress estimator {name!r}; expected one of {sorted(ESTIMATORS)}")
    module, _, cls = ESTIMATORS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agentgym.verifiers.progress' has no attribute {name!r}")
