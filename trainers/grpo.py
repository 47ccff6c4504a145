"""Multi-turn GRPO and RLOO: TRL's `GRPOTrainer` trained on whole episodes of an agentgym environment.

One training step, top to bottom (TRL's loop, with the hooks overridden here marked *):

    rows     = rollout_func(task ids × num_generations)       episodes played by the policy (rollout.py)
    rewards  = episode_reward(row) (+ your reward functions)  TRL's reward functions, logged by name
  * r_i,t    = step rewards (step_rewards.py)                 the environment's, or a progress estimator's
  * A^E_i    = group_advantages(rewards, G, "grpo" | "rloo")  episode advantage, baseline within the group
  * A^S_i,t  = step_advantages(turn_rewards, G)               step advantage over all steps of the group
  * A_i,k    = A^E_i + w·A^S_i,t on the tokens of turn t      (B, T) per-token advantages, w = step_reward_weight
    loss     = TRL's clipped policy loss over model tokens    observation tokens masked by env_mask
  * loss    += ΔL_EPO(entropies of the same forward pass)     when args.epo (the term carries gradient)

A group with a failed episode (its environment crashed on every retry) is dropped from the step: its
advantages and loss mask are zeroed, `episode/dropped_groups` counts it, and training goes on.

Overridden in TRL 1.16, and why (everything else — sampling of prompts, batching, the loss, logging,
checkpointing — is TRL's):

- `_calculate_rewards`: keeps the gathered per-function rewards, to rebuild advantages from them.
- `_generate_and_score_completions`: calls TRL's, then replaces its (B,) advantages with the (B, T)
  per-token tensor (which TRL's loss accepts), drops failed groups, adds `turn_ids` for EPO and logs
  episode metrics.
- `_get_per_token_logps_and_entropies` / `_compute_loss`: TRL computes per-token entropies with gradient
  in the loss's own forward pass (`compute_entropy=True`, fused LM head) and drops them; the first keeps
  them while `_compute_loss` runs, which then adds the EPO term. No second forward pass.
- `_save_checkpoint` / `_load_optimizer_and_scheduler`: save and restore EPO's per-turn entropy history
  and an online progress estimator (OPRL's PRM).

`loss_type="dr_grpo"` divides by a constant length, which for an episode is `max_episode_tokens` (the
budget of a whole completion), not `max_completion_length` (one reply). With the per-row mean of
`loss_type="grpo"` or `"dr_grpo"`, a dropped group's rows would still count in the mean; the kept rows'
advantages are scaled by B / B_kept so a step with a dropped group has the size it would have without it
(the clipped loss is linear in the advantage). `"dapo"` (TRL's default) and `"bnpo"` count kept tokens only.

>>> trainer = MultiTurnGRPOTrainer("path/to/model", args=MultiTurnGRPOConfig(  # doctest: +SKIP
...     output_dir="out", env_id="agentgym/Maze-v0", max_turns=10, num_generations=4))
>>> trainer.train()                                                               # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from accelerate.utils import gather_object
from trl import GRPOTrainer

from agentgym.errors import ConfigError
from agentgym.trainers.advantages import group_advantages, per_token_advantages, step_advantages
from agentgym.trainers.config import MultiTurnGRPOConfig, MultiTurnRLOOConfig
from agentgym.trainers.epo import TurnEntropyHistory, epo_loss
from agentgym.trainers.rollout import EpisodeRollout, task_dataset
from agentgym.trainers.step_rewards import build_estimator, gated_chain, kept_view, turn_step_rewards

logger = logging.getLogger(__name__)

EPO_STATE_FILE = "epo_history.pt"
ESTIMATOR_FOLDER = "progress_estimator"


def episode_reward(
    completions: list, episode_reward: list[float | None], **kwargs: Any
) -> list[float | None]:
    """TRL reward function: the reward each episode earned (None for a failed episode). Logged by TRL as
    `rewards/episode_reward/mean`."""
    return list(episode_reward)


def episode_advantages(
    rewards: torch.Tensor,
    turn_rewards: Sequence[Sequence[float]],
    group_size: int,
    *,
    method: str = "grpo",
    scale: bool = True,
    step_weight: float = 0.0,
    dropped: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[list[float]] | None]:
    """Episode advantages ``A^E`` (B,) and, when ``step_weight > 0``, step advantages ``A^S`` (one list per
    row, one value per turn), for a whole batch of consecutive groups. Rows in `dropped` (a (B,) bool mask
    that covers whole groups) get ``A^E = 0`` and no steps."""
    dropped = torch.zeros_like(rewards, dtype=torch.bool) if dropped is None else dropped.bool()
    clean = torch.where(dropped, torch.zeros_like(rewards), rewards.float())
    episode = group_advantages(clean, group_size, method=method, scale=scale)
    episode = torch.where(dropped, torch.zeros_like(episode), episode)
    if step_weight == 0:
        return episode, None
    steps = [[] if gone else list(row) for row, gone in zip(turn_rewards, dropped.tolist(), strict=True)]
    return episode, step_advantages(steps, group_size, scale=scale)


def turn_index_tensor(turn_spans: Sequence[Sequence[tuple[int, int]]], width: int) -> torch.Tensor:
    """(B, width) long tensor: the turn index of each model token, -1 elsewhere (observations, padding)."""
    ids = torch.full((len(turn_spans), width), -1, dtype=torch.long)
    for i, spans in enumerate(turn_spans):
        for t, (start, end) in enumerate(spans):
            ids[i, start:end] = t
    return ids


def drop_stale_input_grad_hooks(model: torch.nn.Module) -> int:
    """Remove the input-embedding hooks that gradient checkpointing left behind; returns how many.

    TRL turns gradient checkpointing off and on around generation and scoring, every step. Each time
    transformers turns it on, it adds a forward hook to the input embeddings (so their output requires grad),
    and turning it off leaves that hook in place for a model without adapters: without this, every forward
    pass of step n runs n hooks, and a long run slows down step after step. The hooks the model holds now
    (`_require_grads_hooks`) stay."""
    current = {handle.id for handle in getattr(model, "_require_grads_hooks", None) or []}
    dropped = 0
    for module in model.modules():
        for key, hook in list(module._forward_hooks.items()):
            if getattr(hook, "__name__", "") == "make_inputs_require_grads" and key not in current:
                module._forward_hooks.pop(key)
                module._forward_hooks_with_kwargs.pop(key, None)
                module._forward_hooks_always_called.pop(key, None)
                dropped += 1
    return dropped


class MultiTurnGRPOTrainer(GRPOTrainer):
    """GRPO on whole episodes of an agentgym environment (see the module docstring).

    Args:
        model: a model id/folder or a loaded `PreTrainedModel` (as TRL's `GRPOTrainer`).
        env_id: the environment, unless `args.env_id` names it.
        args: a `MultiTurnGRPOConfig` (default: one with `env_id` and TRL's defaults).
        processing_class: the tokenizer (default: the model's); it needs a chat template.
        reward_funcs: TRL reward functions; default `[episode_reward]`. Yours receive the rollout's fields
            (`episode_reward`, `turn_rewards`, `success`, `task_id`, ...) as keyword arguments.
        train_dataset: prompts that are task ids; default: every task of `args.train_split`.
        eval_dataset: default, when `args.eval_every` is set: the first `args.eval_episodes` tasks of
            `args.eval_split`.
        rollout_func: what plays the episodes; default `EpisodeRollout()` (its `generator` is the seam for
            another generation backend such as vLLM).
        progress_estimator: a `ProgressEstimator` giving the step rewards (default: the one
            `args.step_rewards` names, or none); `args.step_reward_weight` weighs its step advantage.
        callbacks, optimizers, peft_config: as TRL's `GRPOTrainer`.
    """

    config_class = MultiTurnGRPOConfig
    advantage: str | None = None  # a baseline the trainer insists on (None: args.advantage decides)

    def __init__(
        self,
        model: Any,
        env_id: str | None = None,
        args: MultiTurnGRPOConfig | None = None,
        processing_class: Any = None,
        reward_funcs: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        rollout_func: Any = None,
        callbacks: Any = None,
        optimizers: tuple = (None, None),
        peft_config: Any = None,
        progress_estimator: Any = None,
    ):
        args = self._resolve_args(model, env_id, args)
        if train_dataset is None:
            train_dataset = task_dataset(args.env_id, args.train_split, args.env_kwargs)
        if eval_dataset is None and args.eval_every is not None:
            eval_dataset = task_dataset(args.env_id, args.eval_split, args.env_kwargs, args.eval_episodes)
        self.rollout = rollout_func if rollout_func is not None else EpisodeRollout()
        with warnings.catch_warnings():  # we own the rollout function; TRL flags the hook as experimental
            warnings.filterwarnings("ignore", message="You are using 'rollout_func'")
            super().__init__(
                model=model,
                reward_funcs=reward_funcs if reward_funcs is not None else [episode_reward],
                args=args,
                train_dataset=train_dataset,
                eval_dataset=eval_dataset,
                processing_class=processing_class,
                callbacks=callbacks,
                optimizers=optimizers,
                peft_config=peft_config,
                rollout_func=self.rollout,
            )
        self.epo_config = args.epo_options() if args.epo else None
        self.epo_history = TurnEntropyHistory(self.epo_config.history_window if self.epo_config else None)
        self._rewards_per_func: torch.Tensor | None = None
        self._entropy_capture: list[torch.Tensor] | None = None
        self.max_completion_length = args.max_episode_tokens  # |o_i| of an episode, Dr. GRPO's constant
        if progress_estimator is None:
            progress_estimator = build_estimator(
                args, self.accelerator.unwrap_model(self.model), self.processing_class
            )
        elif args.step_reward_weight == 0:
            raise ConfigError(
                "a progress_estimator needs args.step_reward_weight > 0 (its step advantage weight)"
            )
        if progress_estimator is not None and not hasattr(self.rollout, "last_trajectories"):
            raise ConfigError(
                "a progress estimator reads the episodes' trajectories, which this rollout_func does not keep "
                "(give it a `last_trajectories` list, as EpisodeRollout has)"
            )
        self.progress_estimator = progress_estimator
        self.step_reward_gates = gated_chain(args.step_reward_gates)

    @classmethod
    def _resolve_args(
        cls, model: Any, env_id: str | None, args: MultiTurnGRPOConfig | None
    ) -> MultiTurnGRPOConfig:
        config_class = cls.config_class
        if args is None:
            if env_id is None:
                raise ConfigError(
                    "env_id: give the environment as env_id=... or in args (MultiTurnGRPOConfig)"
                )
            name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "model")
            args = config_class(
                output_dir=f"{str(name).rstrip('/').split('/')[-1]}-{cls.__name__}", env_id=env_id
            )
        if not isinstance(args, MultiTurnGRPOConfig):
            raise ConfigError(f"args must be a {config_class.__name__}, got {type(args).__name__}")
        if env_id is not None and args.env_id not in (None, env_id):
            raise ConfigError(f"env_id is {env_id!r} but args.env_id is {args.env_id!r}; give one of them")
        if env_id is not None and args.env_id is None:
            args.env_id = env_id
            args._check_multiturn_fields()
        if args.env_id is None:
            raise ConfigError("env_id: give the environment as env_id=... or in args.env_id")
        if cls.advantage is not None and args.advantage != cls.advantage:
            raise ConfigError(
                f"{cls.__name__} needs args.advantage={cls.advantage!r} (use {config_class.__name__}), "
                f"got {args.advantage!r}"
            )
        return args

    def train(self, *args: Any, **kwargs: Any):
        """TRL's `train`; afterwards the rollout's warm environments and loop thread are released (a later
        evaluation or training call starts them again)."""
        try:
            return super().train(*args, **kwargs)
        finally:
            close = getattr(self.rollout, "close", None)
            if close is not None:
                close()

    # ----- rewards and advantages ---------------------------------------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        self._rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        return self._rewards_per_func

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        # TRL's step: rollout, rewards, (B,) advantages; it also merges the rollout's fields into `inputs`.
        output = super()._generate_and_score_completions(inputs)
        drop_stale_input_grad_hooks(self.accelerator.unwrap_model(self.model))
        mode = "train" if self.model.training else "eval"
        group_size = (
            self.num_generations if mode == "train" else (self.num_generations_eval or self.num_generations)
        )
        device = self.accelerator.device
        args = self.args

        # Whole batch (all processes): rewards as TRL weighs them, failures, step rewards.
        per_func = self._rewards_per_func
        rewards = (per_func * self.reward_weights.to(per_func.device).unsqueeze(0)).nansum(dim=1)
        unscorable = torch.isnan(per_func).all(dim=1)
        failed_local = torch.tensor([x.get("rollout_error") is not None for x in inputs], device=device)
        failed = self.accelerator.gather(failed_local).to(rewards.device) | unscorable
        dropped = failed.view(-1, group_size).any(dim=1).repeat_interleave(group_size)
        turn_rewards = gather_object(self._turn_rewards(inputs, mode, group_size))
        episode, steps = episode_advantages(
            rewards,
            turn_rewards,
            group_size,
            method=args.advantage,
            scale=args.scale_rewards != "none",
            step_weight=args.step_reward_weight,
            dropped=dropped,
        )

        # This process's rows: (B, T) advantages on the completion tokens, failed groups masked out.
        local = slice(
            self.accelerator.process_index * len(inputs), (self.accelerator.process_index + 1) * len(inputs)
        )
        spans = [[tuple(span) for span in x["turn_spans"]] for x in inputs]
        width = output["completion_ids"].size(1)
        output["advantages"] = per_token_advantages(
            episode[local].to(device),
            spans,
            width,
            step=steps[local] if steps is not None else None,
            step_weight=args.step_reward_weight if steps is not None else 0.0,
        )
        if dropped.any() and args.loss_type in ("grpo", "dr_grpo") and not dropped.all():
            output["advantages"] = output["advantages"] * (dropped.numel() / (~dropped).sum().item())
        keep = (~dropped[local]).to(device).unsqueeze(1)
        output["tool_mask"] = output["tool_mask"] * keep.to(output["tool_mask"].dtype)
        loss_mask = output["completion_mask"] * output["tool_mask"]
        output["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        output["turn_ids"] = turn_index_tensor(spans, width).to(device)

        self._log_episodes(inputs, mode, failed, dropped, group_size)
        return output

    def _turn_rewards(self, inputs: list[dict[str, Any]], mode: str, group_size: int) -> list[list[float]]:
        """This process's step rewards, one list per row (see step_rewards.py). An online estimator first
        learns from the batch (training only)."""
        if self.progress_estimator is None and self.step_reward_gates is None:
            return [list(x["turn_rewards"]) for x in inputs]
        trajectories = list(self.rollout.last_trajectories)
        if len(trajectories) != len(inputs) or any(
            t.task_id != x["task_id"] for t, x in zip(trajectories, inputs, strict=True)
        ):
            raise ConfigError("the rollout's trajectories do not line up with the batch rows")
        estimator = self.progress_estimator
        if estimator is not None and estimator.online and mode == "train":
            # an update needs whole groups: leave out the groups that lost an episode
            failed = {t.task_id for t in trajectories if t.status != "ok"}
            rows = [
                kept_view(t, int(x["num_turns"]))
                for t, x in zip(trajectories, inputs, strict=True)
                if t.task_id not in failed
            ]
            # TRL scores a batch under no_grad; the estimator's update needs gradient
            with torch.enable_grad():
                metrics = estimator.update(rows, group_size)
            for name, value in (metrics or {}).items():
                self._metrics[mode][name].append(float(value))
        return turn_step_rewards(
            trajectories,
            [int(x["num_turns"]) for x in inputs],
            estimator=estimator,
            step_reward_key=self.args.step_reward_key,
            gates=self.step_reward_gates,
        )

    def _log_episodes(
        self, inputs, mode: str, failed: torch.Tensor, dropped: torch.Tensor, group_size: int
    ) -> None:
        device = self.accelerator.device
        stats = torch.tensor(
            [[float(x["success"]), float(x["num_turns"]), float(x["token_truncated"])] for x in inputs],
            device=device,
        )
        stats = self.accelerator.gather(stats)[~failed.to(device)]
        metrics = self._metrics[mode]
        if stats.numel():
            metrics["episode/success_rate"].append(stats[:, 0].mean().item())
            metrics["episode/turns"].append(stats[:, 1].mean().item())
            metrics["episode/token_truncated"].append(stats[:, 2].mean().item())
        metrics["episode/errors"].append(float(failed.sum().item()))
        metrics["episode/dropped_groups"].append(float(dropped.sum().item()) / group_size)
        if dropped.any():
            logger.warning(
                "dropped %d of %d groups from this step: an episode failed (see the rollout warnings)",
                int(dropped.sum().item()) // group_size,
                dropped.numel() // group_size,
            )

    # ----- EPO: an entropy term from the loss's own forward pass ----------------------------------------
    def _get_per_token_logps_and_entropies(self, *args, **kwargs):
        logps, entropies, aux_loss = super()._get_per_token_logps_and_entropies(*args, **kwargs)
        if self._entropy_capture is not None and kwargs.get("compute_entropy"):
            self._entropy_capture.append(entropies)
        return logps, entropies, aux_loss

    def _compute_loss(self, model, inputs):
        if self.epo_config is None:
            return super()._compute_loss(model, inputs)
        self._entropy_capture = []
        try:
            loss = super()._compute_loss(model, inputs)
            entropies = self._entropy_capture[-1]  # (B, T), with gradient
        finally:
            self._entropy_capture = None
        mode = "train" if self.model.training else "eval"
        mask = inputs["completion_mask"] * inputs["tool_mask"]
        term, metrics = epo_loss(
            entropies,
            inputs["turn_ids"],
            mask,
            self.epo_history,
            self.epo_config,
            step=self.state.global_step,
            total_steps=max(1, self.state.max_steps),
            update_history=mode == "train",
        )
        accumulation = self.current_gradient_accumulation_steps if mode == "train" else 1
        for name, value in metrics.items():
            value = torch.tensor(value, dtype=torch.float32, device=self.accelerator.device)
            self._metrics[mode][name].append(self.accelerator.gather(value).mean().item())
        if not bool((inputs["advantages"] * mask).any()):
            # Every group tied: no policy gradient. EPO shapes the policy-gradient update; alone, Adam would
            # scale its small term up to full-size steps whatever λ is, and drive entropy to the maximum.
            return loss
        return loss + term / accumulation

    # ----- checkpoints: EPO's history travels with them -------------------------------------------------
    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        estimator = self.progress_estimator if getattr(self.progress_estimator, "online", False) else None
        if (self.epo_config is None and estimator is None) or not self.args.should_save:
            return
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        folder = os.path.join(
            self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        )
        if self.epo_config is not None:
            torch.save(self.epo_history.state_dict(), os.path.join(folder, EPO_STATE_FILE))
        if estimator is not None:
            estimator.save_pretrained(os.path.join(folder, ESTIMATOR_FOLDER))

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if self.epo_config is not None and checkpoint is not None:
            path = os.path.join(checkpoint, EPO_STATE_FILE)
            if os.path.exists(path):
                self.epo_history.load_state_dict(torch.load(path))
        estimator = self.progress_estimator
        if estimator is not None and estimator.online and checkpoint is not None:
            path = os.path.join(checkpoint, ESTIMATOR_FOLDER)
            if os.path.isdir(path):  # the online estimator resumes where it was, not from its start
                self.progress_estimator = type(estimator).from_pretrained(path)


class MultiTurnRLOOTrainer(MultiTurnGRPOTrainer):
    """`MultiTurnGRPOTrainer` with the leave-one-out baseline: ``A^E_i = r_i − mean_{j≠i} r_j`` within the
    group (args: a `MultiTurnRLOOConfig`)."""

    config_class = MultiTurnRLOOConfig
    advantage = "rloo"
