"""`agentgym progress`: train step-level progress estimators on collected trajectories, and score episodes.

agentgym progress train spa --trajectories runs/x/trajectories.jsonl --model MODEL --out runs/spa [--epochs 3]
agentgym progress train oprl --trajectories runs/x/trajectories.jsonl --model MODEL --out runs/prm
agentgym progress score --estimator runs/spa --trajectories runs/y/trajectories.jsonl

`train KIND` has one subcommand per estimator kind (`TRAIN_COMMANDS`); each adds its Config's fields as
flags (``learning_rate`` → ``--learning-rate``, with ``--lr`` as a short alias), so a flag's help is the
field's help. `score` loads any saved estimator (the kind is read from its ``progress_estimator.json``) and
prints one JSON line per episode with its per-turn rewards.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentgym.errors import ConfigError
from agentgym.types import Trajectory, read_jsonl

#: Extra spellings of Config fields on the command line.
FLAG_ALIASES = {"learning_rate": ["--lr"]}


def add_progress_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `progress` (with `train KIND` and `score`) to the `agentgym` command's subparsers."""
    parser = subparsers.add_parser("progress", help="train step-level progress estimators and score episodes")
    commands = parser.add_subparsers(dest="progress_command", metavar="COMMAND", required=True)

    train = commands.add_parser("train", help="train a progress estimator on trajectories")
    kinds = train.add_subparsers(dest="estimator", metavar="KIND", required=True)
    for add in TRAIN_COMMANDS.values():
        add(kinds)

    p = commands.add_parser("score", help="print per-turn rewards of episodes as JSON lines")
    p.add_argument("--estimator", required=True, help="folder of a saved estimator")
    p.add_argument("--trajectories", action="append", required=True, help="a trajectories.jsonl (repeatable)")
    p.set_defaults(func=cmd_score)
    return parser


def add_spa_train_parser(kinds: Any) -> None:
    from agentgym.verifiers.progress.spa import SPAConfig

    p = kinds.add_parser(
        "spa",
        help="SPA: regress the sum of per-turn contributions to each episode's outcome",
        description="Stepwise progress attribution (SPA-RL): a scalar head on an LM backbone, read at the "
        "last token of each reply, trained so the contributions of an episode add up to its outcome.",
    )
    add_common_train_arguments(
        p, model_help="causal LM path to put the scalar head on, or a saved SPA estimator"
    )
    add_config_arguments(p, SPAConfig)
    p.set_defaults(func=cmd_train_spa, config_class=SPAConfig)


def add_oprl_train_parser(kinds: Any) -> None:
    from agentgym.verifiers.progress.oprl import OPRLConfig

    p = kinds.add_parser(
        "oprl",
        help="OPRL: an implicit process reward model from preferences between episodes of the same task",
        description="Online process reward learning, offline: episodes of each task are grouped, better ones "
        "paired with worse ones, and the PRM (a causal LM) is trained with the trajectory-level DPO loss. "
        "Training beside a policy is the trainer's `step_rewards: oprl`.",
    )
    add_common_train_arguments(p, model_help="causal LM path the PRM starts from (usually the policy)")
    p.add_argument("--epochs", type=int, default=1, help="passes over the task groups (default: 1)")
    p.add_argument("--groups-per-update", type=int, default=4, help="task groups per update (default: 4)")
    add_config_arguments(p, OPRLConfig)
    p.set_defaults(func=cmd_train_oprl, config_class=OPRLConfig)


#: `agentgym progress train KIND`: estimator kind -> function adding its subcommand to the KIND subparsers.
TRAIN_COMMANDS: dict[str, Callable[[Any], None]] = {
    "spa": add_spa_train_parser,
    "oprl": add_oprl_train_parser,
}


def add_common_train_arguments(parser: argparse.ArgumentParser, model_help: str) -> None:
    """The arguments every `progress train KIND` takes: data, starting model, output folder."""
    parser.add_argument(
        "--trajectories",
        action="append",
        required=True,
        help="a trajectories.jsonl, e.g. from `agentgym eval --out` (repeatable)",
    )
    parser.add_argument("--model", required=True, help=model_help)
    parser.add_argument("--out", required=True, help="folder for the trained estimator")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """One flag per field of the dataclass `config_class`, with the field's help; unset flags keep the
    field's default (see `config_from_args`)."""
    hints = typing.get_type_hints(config_class)
    group = parser.add_argument_group(f"{config_class.__name__} fields")
    for f in dataclasses.fields(config_class):
        flags = ["--" + f.name.replace("_", "-"), *FLAG_ALIASES.get(f.name, [])]
        help_text = f"{f.metadata.get('help', '')} (default: {f.default!r})"
        kind = hints[f.name]
        if kind is bool:
            group.add_argument(
                *flags,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
            continue
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        convert = _bool_or_word if set(args) == {bool, str} else (args[0] if args else kind)
        group.add_argument(
            *flags,
            dest=f.name,
            type=convert,
            default=argparse.SUPPRESS,
            metavar=f.name.upper(),
            help=help_text,
        )


def _bool_or_word(text: str) -> bool | str:
    """A field that is True, False or a word (e.g. `use_policy_tokens`: true, false or auto)."""
    return {"true": True, "false": False}.get(text.lower(), text)


def config_from_args(args: argparse.Namespace, config_class: type) -> Any:
    """The config with the fields given on the command line set (its `__post_init__` checks them)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class) if hasattr(args, f.name)}
    return config_class(**given)


def read_trajectories(paths: list[str]) -> list[Trajectory]:
    trajectories: list[Trajectory] = []
    for path in paths:
        if not Path(path).is_file():
            raise ConfigError(f"--trajectories {path!r} is not a file (expected a trajectories.jsonl)")
        trajectories.extend(read_jsonl(path))
    return trajectories


def cmd_train_spa(args: argparse.Namespace) -> int:
    from agentgym.verifiers.progress.base import usable
    from agentgym.verifiers.progress.spa import train_spa

    config = config_from_args(args, args.config_class)
    trajectories = read_trajectories(args.trajectories)
    data = usable(trajectories)
    won = sum(1 for t in data if t.success)
    print(
        f"SPA: {len(data)} episodes ({won} won, {len(data) - won} not; {len(trajectories) - len(data)} unusable "
        f"skipped), {config.epochs} epochs",
        file=sys.stderr,
    )
    estimator = train_spa(data, args.model, config=config, progress=not args.no_progress)
    estimator.save_pretrained(args.out)
    fit = estimator.regression_metrics(data)
    correlation = "undefined" if fit["correlation"] is None else f"{fit['correlation']:.3f}"
    print(f"final training loss {estimator.history[-1]['loss']:.4f} (epoch {len(estimator.history)})")
    print(
        f"fit on the training episodes: mse {fit['loss']:.4f}, correlation of sum(c_t) with outcome {correlation}"
    )
    print(f"Estimator saved to {args.out}")
    return 0


def cmd_train_oprl(args: argparse.Namespace) -> int:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentgym.verifiers.progress.base import usable
    from agentgym.verifiers.progress.oprl import OPRLEstimator, preference_pairs

    config = config_from_args(args, args.config_class)
    data = usable(read_trajectories(args.trajectories))
    estimator = OPRLEstimator(
        AutoModelForCausalLM.from_pretrained(args.model), AutoTokenizer.from_pretrained(args.model), config
    )
    history = estimator.train_offline(
        data, epochs=args.epochs, groups_per_update=args.groups_per_update, progress=not args.no_progress
    )
    estimator.save_pretrained(args.out)
    accuracy = estimator.preference_accuracy(preference_pairs(data))
    print(f"{len(history)} updates; last loss {history[-1]['oprl/loss']:.4f}")
    print(f"preference accuracy on the training pairs: {accuracy:.3f}")
    print(f"Estimator saved to {args.out}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from agentgym.verifiers.progress import estimator_class
    from agentgym.verifiers.progress.base import ESTIMATOR_FILE, usable

    folder = Path(args.estimator)
    record = folder / ESTIMATOR_FILE
    if not record.is_file():
        raise ConfigError(
            f"--estimator {args.estimator!r} is not a saved progress estimator (no {ESTIMATOR_FILE})"
        )
    kind = json.loads(record.read_text(encoding="utf-8")).get("kind")
    estimator = estimator_class(kind).from_pretrained(folder)
    data = usable(read_trajectories(args.trajectories))
    for trajectory, rewards in zip(data, estimator.step_rewards_batch(data), strict=True):
        row = {
            "env_id": trajectory.env_id,
            "task_id": trajectory.task_id,
            "seed": trajectory.seed,
            "sample": trajectory.sample,
            "success": trajectory.success,
            "outcome": trajectory.total_reward,
            "step_rewards": rewards,
        }
        print(json.dumps(row))
    return 0
