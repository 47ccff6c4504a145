"""Step rewards for the trainers' step-level advantages: the environment's, a reward component, a progress
estimator's, optionally through a gated chain.

For each turn ``t`` of an episode the trainer needs a step reward ``r_t`` (see `advantages.step_advantages`).
Where it comes from, by the config:

- `step_rewards: none` and no `step_reward_key`: the turn's environment reward;
- `step_reward_key: NAME`: that entry of the turn's `reward_components` (e.g. the Maze's ``progress``);
- `step_rewards: spa | oprl | qvalue`: the progress estimator's ``r_t`` (`agentgym.verifiers.progress`);
- with `step_reward_gates` as well: the estimator's ``r_t`` joins the turn's reward components under the
  estimator's name and the gated chain (`agentgym.verifiers.GatedSum`) combines them, gates decided by the
  episode's totals (`trajectory_rewards`): e.g. ``[["success", 1.0, 1.0], ["spa", 1.0]]`` pays the dense
  reward only in episodes that reached the outcome.

Online estimators (OPRL) learn from each training batch first (`update`), then score it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentgym.errors import ConfigError
from agentgym.types import Trajectory

logger = logging.getLogger(__name__)

STEP_REWARD_SOURCES = ("none", "spa", "oprl", "qvalue")


def build_estimator(args: Any, policy_model: Any, policy_tokenizer: Any):
    """The progress estimator `args.step_rewards` names, or None.

    - spa, qvalue: loaded from `args.step_rewards_model` (a folder saved by the estimator's
      `save_pretrained`, e.g. by `agentgym progress train spa`);
    - oprl: the PRM starts from `args.step_rewards_model` (a saved OPRL estimator or any causal LM folder)
      or, by default, from a copy of the policy's current weights (so its rewards start at 0).

    `args.step_rewards_options` go to the estimator's Config. How an estimator reads an episode (the policy's
    own token ids, or its text re-encoded for another tokenizer) is its own option (`use_policy_tokens`).
    """
    kind = args.step_rewards
    if kind == "none":
        return None
    from agentgym.verifiers.progress import estimator_class
    from agentgym.verifiers.progress.base import ESTIMATOR_FILE

    cls = estimator_class(kind)
    options = dict(args.step_rewards_options or {})
    path = args.step_rewards_model
    if kind == "oprl":  # its reference is the sampling log-probs: of the distribution at this temperature
        options.setdefault("temperature", args.temperature)
    if kind != "oprl" or (path is not None and (Path(path) / ESTIMATOR_FILE).is_file()):
        return cls.from_pretrained(path, **options)
    from agentgym.verifiers.progress.oprl import OPRLConfig

    config = OPRLConfig.from_dict(options)
    if path is None:
        return cls.from_policy(policy_model, policy_tokenizer, config)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return cls(AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path), config)


def turn_step_rewards(
    trajectories: Sequence[Trajectory],
    kept_turns: Sequence[int],
    *,
    estimator: Any = None,
    step_reward_key: str | None = None,
    gates: Any = None,
) -> list[list[float]]:
    """One list of step rewards per episode, `kept_turns[i]` long (the turns its training row kept).

    Failed episodes (status "error") get an empty list. See the module docstring for where values come from.
    """
    if len(trajectories) != len(kept_turns):
        raise ConfigError(f"{len(trajectories)} trajectories but {len(kept_turns)} rows")
    ok = [i for i, t in enumerate(trajectories) if t.status == "ok" and t.turns and kept_turns[i] > 0]
    estimated: dict[int, list[float]] = {}
    if estimator is not None and ok:
        values = estimator.step_rewards_batch([kept_view(trajectories[i], kept_turns[i]) for i in ok])
        for i, row in zip(ok, values, strict=True):
            if len(row) != kept_turns[i]:
                raise ConfigError(
                    f"{type(estimator).__name__}.step_rewards gave {len(row)} rewards for an episode of "
                    f"{kept_turns[i]} turns (task {trajectories[i].task_id!r}); one per turn expected"
                )
            estimated[i] = [float(r) for r in row]
    out: list[list[float]] = []
    for i, trajectory in enumerate(trajectories):
        if i not in ok:
            out.append([])
            continue
        turns = trajectory.turns[: kept_turns[i]]
        if gates is not None:
            from agentgym.verifiers import trajectory_rewards

            steps = []
            for k, turn in enumerate(turns):
                components = dict(turn.reward_components)
                if estimator is not None:
                    components[estimator.name] = estimated[i][k]
                steps.append(components)
            out.append(trajectory_rewards(steps, gates))
        elif estimator is not None:
            out.append(estimated[i])
        elif step_reward_key is not None:
            out.append([float(turn.reward_components.get(step_reward_key, 0.0)) for turn in turns])
        else:
            out.append([float(turn.reward) for turn in turns])
    return out


def kept_view(trajectory: Trajectory, kept: int) -> Trajectory:
    """The episode as its training row has it: the first `kept` turns (a row cut at `max_episode_tokens`
    keeps fewer), with the reward they earned, and not a success if turns were cut."""
    if kept >= len(trajectory.turns):
        return trajectory
    turns = trajectory.turns[:kept]
    return trajectory.model_copy(
        update={
            "turns": turns,
            "total_reward": sum(t.reward for t in turns),
            "success": False,
            "truncated": True,
            "terminated": False,
        }
    )


def gated_chain(spec: Any):
    """A `GatedSum` from the config's `step_reward_gates` (a list of [name, weight, threshold] or dicts), or
    None. Raises ConfigError naming the bad level."""
    if spec is None:
        return None
    from agentgym.verifiers import Gate, GatedSum, VerifierError

    if not isinstance(spec, list | tuple) or not spec:
        raise ConfigError(
            "step_reward_gates must be a non-empty list of levels [name, weight, threshold], highest priority "
            f"first; got {spec!r}"
        )
    levels = []
    for n, level in enumerate(spec):
        try:
            if isinstance(level, dict):
                levels.append(Gate(**level))
            elif isinstance(level, list | tuple) and 1 <= len(level) <= 3 and isinstance(level[0], str):
                levels.append(Gate(*level))
            else:
                raise TypeError("expected [name, weight, threshold] or {name, weight, threshold}")
            gate = levels[-1]
            numbers = (gate.weight,) if gate.threshold is None else (gate.weight, gate.threshold)
            if any(isinstance(x, bool) or not isinstance(x, int | float) for x in numbers):
                raise TypeError("weight and threshold must be numbers (threshold may be null)")
        except TypeError as exc:
            raise ConfigError(f"step_reward_gates[{n}] = {level!r}: {exc}") from None
    try:
        return GatedSum(levels)
    except VerifierError as exc:
        raise ConfigError(f"step_reward_gates: {exc}") from None
