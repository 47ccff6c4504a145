"""`agentgym progress`: train step-level progress estimators on collected trajectories, and score episodes.

agentgym progress train spa --trajectories runs/x/trajectories.jsonl --model MODEL --out runs/spa [--epochs 3]
agentgym progress train oprl --trajectories runs/x/trajectories.jsonl --model MODEL --out runs/prm
agentgym progress train qvalue agentgym/Maze-v0 --model POLICY --out runs/q [-n 16] [--iterations 50]
agentgym progress score --estimator runs/spa --trajectories runs/y/trajectories.jsonl

`train KIND` has one subcommand per estimator kind (`TRAIN_COMMANDS`); each adds its Config's fields as
flags (``learning_rate`` → ``--learning-rate``, with ``--lr`` as a short alias), so a flag's help is the
field's help. `train qvalue` makes its own data: it searches an environment's tasks with an agent (MCTS,
`annotate_tree_search`), turns the trees into step-level preference pairs and fits a Q-value model to them
with step-level DPO (`train_q_model`); its search and training flags are those functions' arguments, with
their defaults. `score` loads any saved estimator (the kind is read from its ``progress_estimator.json``) and
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


def add_qvalue_train_parser(kinds: Any) -> None:
    import inspect

    from agentgym.verifiers.progress.qvalue import train_q_model
    from agentgym.verifiers.progress.tree_search import annotate_tree_search

    search = inspect.signature(annotate_tree_search).parameters
    training = inspect.signature(train_q_model).parameters
    p = kinds.add_parser(
        "qvalue",
        help="step-level Q-value model: value an agent's actions by tree search, then step-level DPO",
        description="Zhai et al.'s step-level Q-value model: MCTS over the tasks of ENV_ID with an agent "
        "values every action it tries; the best and worst action of each state become a preference pair, "
        "and a causal LM is trained on the pairs with DPO against a frozen reference. The result scores "
        "candidate actions in `agentgym eval ENV_ID --agent q-guided --q-model OUT`.",
    )
    p.add_argument("env_id", help="environment to search, e.g. agentgym/Maze-v0")
    p.add_argument("--out", required=True, help="folder for the Q-value model (and step_pairs.jsonl)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    agent = p.add_argument_group("the agent that proposes and plays actions (it must sample)")
    agent.add_argument("--agent", choices=("hf", "openai", "random"), default="hf")
    agent.add_argument("--model", default=None, help="hf: model folder; openai: model name")
    agent.add_argument("--base-url", default=None, help="openai: endpoint; default $OPENAI_BASE_URL")
    agent.add_argument("--api-key", default=None, help="openai: default $OPENAI_API_KEY")
    agent.add_argument(
        "--temperature", type=float, default=None, help="sampling temperature (default: the agent's)"
    )
    agent.add_argument("--max-tokens", type=int, default=None, help="most tokens per reply")

    tree = p.add_argument_group("tree search (annotate_tree_search)")
    tree.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="environment kwarg")
    tree.add_argument("--split", default=search["split"].default, help="split the tasks come from")
    tree.add_argument(
        "-n", "--num-tasks", type=int, default=16, help="first tasks of the split (default: 16)"
    )
    tree.add_argument("--task-id", action="append", default=None, help="search these tasks (repeatable)")
    for name, help_text in (
        ("iterations", "MCTS iterations per task"),
        ("branching", "actions sampled at each expansion"),
        ("max_depth", "most actions from the root (None: the environment's step limit)"),
        ("exploration", "c of UCT"),
        ("seed", "reset seed of every task, and the random agent's seed"),
        ("history", "what the agent sees: 'full' or 'last:K' turns"),
        ("concurrency", "tasks searched at once (1 makes a seeded search reproducible)"),
    ):
        default = search[name].default
        tree.add_argument(
            "--" + name.replace("_", "-"),
            type=type(default) if default is not None else int,
            default=argparse.SUPPRESS,
            help=f"{help_text} (default: {default!r})",
        )
    tree.add_argument(
        "--min-gap", type=float, default=0.0, help="keep pairs whose Q values differ by more (default: 0.0)"
    )

    fit = p.add_argument_group("step-level DPO (train_q_model)")
    fit.add_argument("--q-init", default=None, help="causal LM the Q-model starts from (default: --model)")
    fit.add_argument("--reference", default=None, help="frozen reference model (default: --q-init)")
    for name, alias, help_text in (
        ("beta", None, "β of the DPO loss and of Q = β log π_θ/π_ref"),
        ("learning_rate", "--lr", "TRL's default suits pretrained LLMs; a tiny model needs about 1e-3"),
        ("epochs", None, "passes over the pairs"),
        ("batch_size", None, "pairs per step"),
        ("max_length", None, "most tokens of a pair"),
        ("reduce", None, "how the saved model reduces an action's log-ratios: 'sum' or 'mean'"),
    ):
        default = training[name].default
        flags = ["--" + name.replace("_", "-"), *([alias] if alias else [])]
        fit.add_argument(
            *flags,
            dest=name,
            type=type(default),
            default=argparse.SUPPRESS,
            help=f"{help_text} (default: {default!r})",
        )
    p.set_defaults(func=cmd_train_qvalue)


#: `agentgym progress train KIND`: estimator kind -> function adding its subcommand to the KIND subparsers.
TRAIN_COMMANDS: dict[str, Callable[[Any], None]] = {
    "spa": add_spa_train_parser,
    "oprl": add_oprl_train_parser,
    "qvalue": add_qvalue_train_parser,
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


def cmd_train_qvalue(args: argparse.Namespace) -> int:
    import asyncio

    import agentgym
    from agentgym.cli import build_agent, parse_env_args
    from agentgym.verifiers.progress.qvalue import step_preference_pairs, train_q_model
    from agentgym.verifiers.progress.tree_search import search_tasks

    q_init = args.q_init or (args.model if args.agent == "hf" else None)
    if not q_init:
        raise ConfigError(f"--agent {args.agent} needs --q-init MODEL, the causal LM the Q-model starts from")
    env_kwargs = parse_env_args(args.env_arg)
    task_ids = args.task_id
    if not task_ids:
        env = agentgym.make(args.env_id, **env_kwargs)
        try:
            splits = env.unwrapped.splits()
            if args.split not in splits:
                raise ConfigError(
                    f"--split {args.split!r} does not exist in {args.env_id}; it has {list(splits)}"
                )
            task_ids = list(env.unwrapped.task_set(args.split).ids)[: args.num_tasks]
        finally:
            env.close()
    given = vars(args)
    search_fields = ("iterations", "branching", "max_depth", "exploration", "seed", "history", "concurrency")
    search = {k: given[k] for k in search_fields if k in given}
    training_fields = ("beta", "learning_rate", "epochs", "batch_size", "max_length", "reduce")
    training = {k: given[k] for k in training_fields if k in given}

    async def search_with_agent():
        agent = build_agent(argparse.Namespace(**{"seed": given.get("seed", 0), "q_model": None, **given}))
        try:
            return await search_tasks(
                args.env_id,
                task_ids,
                agent,
                env_kwargs=env_kwargs,
                split=args.split,
                progress=not args.no_progress,
                **search,
            )
        finally:
            await agent.aclose()

    trees = asyncio.run(search_with_agent())
    pairs = step_preference_pairs(trees, min_gap=args.min_gap)
    solved = sum(1 for tree in trees if tree.solved)
    nodes = sum(1 for tree in trees for _ in tree.nodes())
    print(
        f"searched {len(trees)} tasks ({solved} solved), {nodes} states; {len(pairs)} step preference pairs"
    )
    out = train_q_model(
        pairs, q_init, args.out, reference=args.reference, progress=not args.no_progress, **training
    )
    pairs.to_json(str(Path(out) / "step_pairs.jsonl"), lines=True)
    player = f" --model {args.model}" if args.agent == "hf" else ""
    print(f"Q-value model saved to {out}")
    print(f"play with it: agentgym eval {args.env_id} --agent q-guided{player} --q-model {out}")
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
