"""The `agentgym` command: list, info, play and eval.

agentgym list
agentgym info agentgym/TextWorld-v0
agentgym play agentgym/Maze-v0
agentgym eval agentgym/TextWorld-v0 --agent openai --model M --base-url URL -n 100 -c 32 --out runs/x
agentgym sft runs/x/trajectories.jsonl --model M --out runs/sft
agentgym train CONFIG.yaml [--resume]
agentgym progress train spa --trajectories runs/x/trajectories.jsonl --model M --out runs/spa
agentgym progress train oprl --trajectories runs/x/trajectories.jsonl --model M --out runs/prm
agentgym progress score --estimator runs/spa --trajectories runs/y/trajectories.jsonl
agentgym webshop serve [--port 3000]
agentgym sandbox gc [--all-runs | --run-id ID] [--dry-run]
agentgym sandbox build-image [--name agentgym-base] [--rebuild] [--dockerfile PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from agentgym.errors import AgentGymError, ConfigError

AGENTS = ("openai", "hf", "expert", "random", "q-guided")
DEFAULT_WORKERS = max(1, min(os.cpu_count() or 1, 8))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except AgentGymError as exc:
        print(f"agentgym: error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentgym", description="Environments, evaluation and training for LLM agents."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list registered environments")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="show an environment's spec, splits, action format and an example")
    p.add_argument("env_id")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("play", help="play an episode yourself in the terminal")
    p.add_argument("env_id")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--task-id", default=None)
    p.add_argument("--split", default=None)
    p.add_argument(
        "--env-arg", action="append", default=[], metavar="KEY=VALUE", help="environment kwarg (JSON value)"
    )
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("eval", help="evaluate an agent on an environment")
    p.add_argument("env_id")
    p.add_argument(
        "--agent",
        choices=AGENTS,
        default="openai",
        help="q-guided: best-of-N with a Q-value model; an hf agent of --model proposes the candidates",
    )
    p.add_argument(
        "--model",
        default=None,
        help="model name (openai) or path (hf, and the candidate policy of q-guided); default $AGENTGYM_MODEL",
    )
    p.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint; default $OPENAI_BASE_URL")
    p.add_argument("--api-key", default=None, help="default $OPENAI_API_KEY")
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument(
        "--q-model",
        default=None,
        help="q-guided: folder of a step-level Q-value model (saved by train_q_model) that scores candidates",
    )
    p.add_argument(
        "--q-reference",
        default=None,
        help="q-guided: the Q-model's reference model folder, when not the one recorded with it",
    )
    p.add_argument(
        "--candidates", type=int, default=4, help="q-guided: replies sampled per turn, the best is played"
    )
    p.add_argument(
        "-n", "--num-tasks", type=int, default=None, help="tasks to run (default: the whole split)"
    )
    p.add_argument("--task-id", action="append", default=None, help="run these tasks (repeatable)")
    p.add_argument("--samples", type=int, default=1, help="rollouts per task")
    p.add_argument("-c", "--concurrency", type=int, default=8, help="episodes in flight")
    p.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"environment worker processes (0: threads; default {DEFAULT_WORKERS}, one per core)",
    )
    p.add_argument("--split", default="test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-turns", type=int, default=None, help="default: the environment's step limit")
    p.add_argument("--history", default="full", help="'full' or 'last:K' turns kept in the prompt")
    p.add_argument(
        "--env-arg", action="append", default=[], metavar="KEY=VALUE", help="environment kwarg (JSON value)"
    )
    p.add_argument("--out", default=None, help="run folder: trajectories.jsonl, summary.json, run.json")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out without repeating episodes"
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("train", help="train a policy with a multi-turn RL trainer from a YAML config")
    p.add_argument(
        "config", help="YAML: algorithm, model, output_dir, env_id and the trainer's Config fields"
    )
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output_dir")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "sft", help="fine-tune a model on the assistant turns of trajectories (TRL SFTTrainer)"
    )
    p.add_argument("trajectories", help="a trajectories.jsonl, e.g. from `agentgym eval --agent expert`")
    p.add_argument("--model", required=True, help="model path or id to start from")
    p.add_argument("--out", required=True, help="folder for the fine-tuned model")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--all", action="store_true", help="learn from failed trajectories too")
    p.set_defaults(func=cmd_sft)

    from agentgym.verifiers.progress.cli import add_progress_parser

    add_progress_parser(sub)

    p = sub.add_parser("webshop", help="WebShop tools: shop in a browser on the same pages agents see")
    webshop = p.add_subparsers(dest="webshop_command", metavar="COMMAND", required=True)
    p = webshop.add_parser("serve", help="serve WebShop as web pages, one episode per browser session")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000, help="0 picks a free port (the address is printed)")
    p.add_argument("--num-products", type=int, default=None, help="catalog size (default: the env's)")
    p.add_argument("--data-path", default=None, help="folder of the original data files (default: generated)")
    p.add_argument("--synthetic-goals", action="store_true", help="use synthetic goals instead of human ones")
    p.add_argument("--max-sessions", type=int, default=64, help="sessions kept; the least recent is dropped")
    p.set_defaults(func=cmd_webshop_serve)

    p = sub.add_parser("sandbox", help="sandbox tools: remove leftover containers, build the base image")
    sandbox = p.add_subparsers(dest="sandbox_command", metavar="COMMAND", required=True)
    p = sandbox.add_parser(
        "gc", help="remove sandbox containers whose owner process is gone or whose deadline has passed"
    )
    p.add_argument(
        "--all-runs", action="store_true", help="remove every sandbox container, live owners' included"
    )
    p.add_argument("--run-id", default=None, help="remove every container of this run")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.set_defaults(func=cmd_sandbox_gc)
    p = sandbox.add_parser(
        "build-image", help="build the sandbox image offline (debootstrap + docker import)"
    )
    p.add_argument("--name", default="agentgym-base", help="image name (default agentgym-base)")
    p.add_argument("--rebuild", action="store_true", help="build again even if the image exists")
    p.add_argument("--dockerfile", default=None, help="build from this Dockerfile instead (needs a registry)")
    p.set_defaults(func=cmd_sandbox_build_image)
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from agentgym.trainers.run import train

    print(f"Model saved to {train(args.config, resume=args.resume)}")
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    from agentgym.trainers.run import sft

    out = sft(
        args.trajectories,
        args.model,
        args.out,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        only_success=not args.all,
    )
    print(f"Model saved to {out}")
    return 0


def cmd_webshop_serve(args: argparse.Namespace) -> int:
    from agentgym.environments.webshop.server import serve

    env_kwargs: dict[str, Any] = {"human_goals": not args.synthetic_goals}
    if args.num_products is not None:
        env_kwargs["num_products"] = args.num_products
    if args.data_path is not None:
        env_kwargs["data_path"] = args.data_path
    serve(args.host, args.port, max_sessions=args.max_sessions, **env_kwargs)
    return 0


# ----- sandbox ---------------------------------------------------------------------------------------
def cmd_sandbox_gc(args: argparse.Namespace) -> int:
    from agentgym.sandboxes.base import SandboxError
    from agentgym.sandboxes.reaper import find_orphans, remove

    try:
        found = find_orphans(run_id=args.run_id, all_runs=args.all_runs)
        removed = set() if args.dry_run else set(remove(None, (orphan.id for orphan in found)))
    except SandboxError as exc:
        print(f"agentgym: error: {exc}", file=sys.stderr)
        return 2
    verb = "would remove" if args.dry_run else "removed"
    for orphan in found:
        if args.dry_run or orphan.id in removed:
            print(f"{verb} {orphan.id[:12]} {orphan.name} (run {orphan.run_id}): {orphan.reason}")
    count = len(found) if args.dry_run else len(removed)
    print(f"{verb} {count} container{'s' * (count != 1)}" if count else "nothing to remove")
    return 0


def cmd_sandbox_build_image(args: argparse.Namespace) -> int:
    from agentgym.sandboxes.base import SandboxError
    from agentgym.sandboxes.images import build_base_image, build_image_from_dockerfile

    how = f"from {args.dockerfile}" if args.dockerfile else "offline with debootstrap"
    print(
        f"Building image {args.name} {how} (about a minute; an existing image is reused unless --rebuild)...",
        file=sys.stderr,
        flush=True,
    )
    try:
        if args.dockerfile:
            image_id = build_image_from_dockerfile(args.dockerfile, args.name, rebuild=args.rebuild)
        else:
            image_id = build_base_image(args.name, rebuild=args.rebuild)
    except SandboxError as exc:
        print(f"agentgym: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.name} {image_id}")
    return 0


def parse_env_args(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; values are read as JSON when they parse (3, true, "x"), else as strings."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--env-arg expects KEY=VALUE, got {pair!r}")
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return kwargs


# ----- list / info ----------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    from agentgym.registration import card, registered_ids

    ids = registered_ids()
    width = max(map(len, ids), default=0)
    for env_id in ids:
        print(f"{env_id:<{width}}  {card(env_id).description}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from agentgym.registration import card, make

    c = card(args.env_id)
    print(f"id:                {c.id}")
    print(f"description:       {c.description}")
    print(f"entry point:       {c.entry_point}")
    print(f"kwargs:            {json.dumps(c.kwargs)}")
    print(f"max episode steps: {c.max_episode_steps}")
    print(f"action format:     {c.action_format}")
    print(f"example action:    {c.example_action}")
    env = make(args.env_id)
    try:
        base = env.unwrapped
        print(f"action parser:     {base.action_parser!r}")
        print("splits:")
        for split in base.splits():
            tasks = base.task_set(split)
            example = f" (e.g. {tasks[0].id})" if len(tasks) else ""
            print(f"  {split:<10} {len(tasks):>7} tasks{example}")
        print("system prompt:")
        for line in base.full_system_prompt().splitlines():
            print(f"  {line}")
    finally:
        env.close()
    return 0


# ----- play ----------------------------------------------------------------------------------------
PLAY_HELP = "Type a command. /actions lists admissible actions, /hint shows the expert's move, /quit ends."


def cmd_play(args: argparse.Namespace) -> int:
    from agentgym.registration import make

    env = make(args.env_id, **parse_env_args(args.env_arg))
    options = {k: v for k, v in (("task_id", args.task_id), ("split", args.split)) if v is not None}
    try:
        observation, info = env.reset(seed=args.seed, options=options or None)
        print(f"[{info['task'].id}] {PLAY_HELP}\n")
        print(observation)
        total, turns = 0.0, 0
        while True:
            try:
                line = input("\n> ")
            except EOFError:
                print()
                break
            command = line.strip()
            if command in ("/quit", "/q"):
                break
            if command == "/actions":
                print(", ".join(info.get("admissible_actions") or []) or "(this environment lists none)")
                continue
            if command == "/hint":
                print(info.get("expert_action") or "(no expert hint available)")
                continue
            observation, reward, terminated, truncated, info = env.step(line)
            total += reward
            turns += 1
            print(observation)
            if reward:
                print(f"(reward {reward:+g})")
            if terminated or truncated:
                outcome = (
                    "success" if info.get("success") else ("time limit" if truncated else "episode over")
                )
                print(f"\n{outcome}: total reward {total:g} in {turns} turns")
                break
    finally:
        env.close()
    return 0


# ----- eval ----------------------------------------------------------------------------------------
def build_agent(args: argparse.Namespace):
    from agentgym.agents import make_agent

    kwargs: dict[str, Any] = {}
    if args.agent == "openai":
        kwargs = {"model": args.model, "base_url": args.base_url, "api_key": args.api_key}
        if args.temperature is not None:
            kwargs["temperature"] = args.temperature
        if args.max_tokens is not None:
            kwargs["max_tokens"] = args.max_tokens
    elif args.agent in ("hf", "q-guided"):
        if not args.model:
            raise ConfigError(
                f"--agent {args.agent} needs --model PATH (a local transformers model directory)"
            )
        if args.agent == "q-guided" and not args.q_model:
            raise ConfigError("--agent q-guided needs --q-model DIR (a Q-value model saved by train_q_model)")
        kwargs = {"model_or_path": args.model}
        if args.temperature is not None:
            kwargs["temperature"] = args.temperature
        if args.max_tokens is not None:
            kwargs["max_new_tokens"] = args.max_tokens
        if args.agent == "q-guided":
            proposer = make_agent("hf", **kwargs)
            kwargs = {
                "agent": proposer,
                "q_model": args.q_model,
                "candidates": args.candidates,
                "reference": args.q_reference,
            }
    elif args.agent == "random":
        kwargs = {"seed": args.seed}
    return make_agent(args.agent, **kwargs)


def cmd_eval(args: argparse.Namespace) -> int:
    import asyncio

    from agentgym.registration import card
    from agentgym.rollout import RolloutConfig, run_rollouts

    card(args.env_id)  # unknown ids fail before anything starts
    config = RolloutConfig(
        env_id=args.env_id,
        env_kwargs=parse_env_args(args.env_arg),
        split=args.split,
        task_ids=args.task_id,
        num_tasks=args.num_tasks,
        samples=args.samples,
        seed=args.seed,
        concurrency=args.concurrency,
        workers=args.workers,
        max_turns=args.max_turns,
        history=args.history,
        output=None,
        resume=args.resume,
        progress=not args.no_progress,
    )
    out = Path(args.out) if args.out else None
    if out is not None:
        config.output = out / "trajectories.jsonl"
        prepare_run_folder(out, args, resume=args.resume)

    async def run():
        agent = build_agent(args)
        try:
            return await run_rollouts(agent, config)
        finally:
            await agent.aclose()

    try:
        result = asyncio.run(run())
    except KeyboardInterrupt:
        where = f" in {config.output}" if config.output else ""
        print(
            f"\nInterrupted. Finished episodes are saved{where}; rerun with --resume to continue.",
            file=sys.stderr,
        )
        return 130
    summary = result.summary
    print(summary.table())
    if out is not None:
        (out / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
        print(f"\nTrajectories: {config.output}\nSummary: {out / 'summary.json'}")
    return 0


def prepare_run_folder(out: Path, args: argparse.Namespace, resume: bool) -> None:
    """Create the run folder, or check that a resumed one belongs to the same evaluation."""
    record = {
        "env_id": args.env_id,
        "agent": args.agent,
        "model": args.model,
        "split": args.split,
        "samples": args.samples,
        "seed": args.seed,
        "env_args": args.env_arg,
    }
    run_file = out / "run.json"
    if run_file.exists():
        if not resume:
            raise ConfigError(
                f"{out} already holds a run; pass --resume to continue it, or choose another --out"
            )
        previous = json.loads(run_file.read_text())
        changed = {k: (previous.get(k), v) for k, v in record.items() if previous.get(k) != v}
        if changed:
            details = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            raise ConfigError(f"--resume: {out} holds a different run ({details}); use another --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
