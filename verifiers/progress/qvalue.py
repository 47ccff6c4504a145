"""Step-level Q-value models (Zhai et al. 2024, "Enhancing Decision-Making for LLM Agents via Step-Level
Q-Value Models"): tree-search annotation, step-level DPO, and scoring actions for dense rewards or best-of-N.

1. Annotation (`annotate_tree_search`, in `tree_search`): MCTS on training tasks gives every action a_t
   tried in a state s_t (with history h_t) a value Q(s_t, a_t), the mean of the look-ahead returns backed up
   through it (a success's reward, −1 for a failure).
2. Preference pairs (`step_preference_pairs`): at every state with two or more evaluated actions, the one
   with the highest Q is preferred (a_w) and the one with the lowest dispreferred (a_l), when they differ.
3. Step-level DPO (`train_q_model`): a causal LM π_θ, starting from a reference π_ref (frozen), minimises

       L(θ) = − E_(h, a_w, a_l) [ log σ( β log π_θ(a_w|h) / π_ref(a_w|h) − β log π_θ(a_l|h) / π_ref(a_l|h) ) ]

   (TRL's `DPOTrainer`, loss "sigmoid"). As in DPO's reading of the policy as an implicit reward, the
   fitted log-ratio is the Q-value model:

       Q(h, a) = β · log π_θ(a | h) / π_ref(a | h)
               = β · Σ_{k=1}^{|a|} [ log π_θ(y_k | h, y_<k) − log π_ref(y_k | h, y_<k) ]

   over the tokens y_1..y_|a| of the action a (`reduce="sum"`, the default: the quantity DPO trains, as the
   paper uses it). `reduce="mean"` divides by |a|, which stops long actions from scoring by their length.
4. Use (`QValueEstimator`): `score_actions(h, candidates)` gives Q(h, a) of each candidate — the agent
   `agentgym.agents.q_guided.QGuidedAgent` samples N actions per turn and takes the best — and
   `step_rewards(trajectory)` gives r_t = Q(h_t, a_t) for each turn t, as dense rewards for a trainer.

The tokens of an action are those DPO trains on: the chat template rendered with the action as the last
assistant message, minus the longest common prefix with the history rendered with the generation prompt
(the reply's tokens and the template's end-of-turn tokens). The Q-model and its reference share one
tokenizer; the policy whose actions are scored may use any other (actions are read as text).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentgym.errors import ConfigError, require
from agentgym.types import Message, Trajectory
from agentgym.verifiers.progress.base import (
    NoContrastError,
    ProgressEstimator,
    ProgressEstimatorError,
    chat_ids,
    read_estimator_file,
    write_estimator_file,
)
from agentgym.verifiers.progress.tree_search import (
    SearchNode,
    SearchTree,
    annotate_tree_search,
    search_tasks,
    select_child,
    uct,
)

__all__ = [
    "QValueEstimator",
    "SearchNode",
    "SearchTree",
    "annotate_tree_search",
    "search_tasks",
    "select_child",
    "step_preference_pairs",
    "train_q_model",
    "uct",
]

KIND = "qvalue"
#: Folder (inside a saved Q-model) for a copy of the reference, when it had no path of its own.
REFERENCE_FOLDER = "reference"
REDUCTIONS = ("sum", "mean")


# ----- 2. preference pairs ----------------------------------------------------------------------------------
def step_preference_pairs(trees: Sequence[SearchTree], min_gap: float = 0.0):
    """Step-level preference pairs from searched trees, as a `datasets.Dataset` in TRL's conversational
    preference format.

    For every node with at least two evaluated children (all children of a node share its history h), one
    row: `prompt` = h (the messages the agent saw there), `chosen` = [the reply of the child with the highest
    Q], `rejected` = [the reply of the child with the lowest Q], when Q_w − Q_l > `min_gap`. Extra columns
    say where a pair comes from: `task_id`, `depth`, `chosen_q`, `rejected_q`.

    Raises `NoContrastError` when no node has two actions of different value (every simulation ended the
    same way): there is nothing to prefer.
    """
    datasets = require("datasets", "train", "step_preference_pairs")
    if isinstance(min_gap, bool) or not isinstance(min_gap, int | float) or min_gap < 0:
        raise ConfigError(f"min_gap must be a number >= 0, got {min_gap!r}")
    rows = []
    for tree in trees:
        for node in tree.nodes():
            evaluated = [child for child in node.children if child.visits > 0]
            if len(evaluated) < 2:
                continue
            best = max(evaluated, key=lambda child: child.q)  # the first of equals, for reproducibility
            worst = min(evaluated, key=lambda child: child.q)
            if best.q - worst.q <= min_gap:
                continue
            rows.append(
                {
                    "prompt": [m.to_openai() for m in tree.messages(node)],
                    "chosen": [best.reply.to_openai()],
                    "rejected": [worst.reply.to_openai()],
                    "task_id": tree.task_id,
                    "depth": node.depth,
                    "chosen_q": best.q,
                    "rejected_q": worst.q,
                }
            )
    if not rows:
        nodes = sum(1 for tree in trees for _ in tree.nodes())
        raise NoContrastError(
            f"step_preference_pairs: no state among {len(trees)} trees ({nodes} nodes) has two actions "
            f"whose Q values differ by more than {min_gap}; every simulation ended alike. Search longer "
            "(iterations), sample more actions per state (branching), or use a more varied agent."
        )
    return datasets.Dataset.from_list(rows)


# ----- 3. step-level DPO ------------------------------------------------------------------------------------
def train_q_model(
    pairs: Any,
    model: str | os.PathLike | Any,
    output_dir: str | os.PathLike,
    *,
    reference: str | os.PathLike | None = None,
    tokenizer: Any = None,
    beta: float = 0.1,
    learning_rate: float = 1e-6,
    epochs: float = 1.0,
    batch_size: int = 8,
    max_length: int | None = 1024,
    seed: int = 0,
    reduce: str = "sum",
    gradient_checkpointing: bool = False,
    logging_steps: int = 10,
    use_cpu: bool | None = None,
    progress: bool = True,
) -> Path:
    """Fit a Q-value model to step-level preference pairs with DPO; returns `output_dir`.

    Args:
        pairs: a `datasets.Dataset` (or a list of dicts) with `prompt` (messages), `chosen` and `rejected`
            ([one assistant message] each), as `step_preference_pairs` returns.
        model: the initial model, a folder / hub id in the local cache or a loaded `PreTrainedModel`.
        output_dir: where the Q-model is saved (`save_pretrained`, with `progress_estimator.json`).
        reference: the frozen π_ref of the log-ratio; default: the initial model. Its path is recorded; a
            reference with no path (a loaded model) is saved as a copy in `output_dir/reference`.
        tokenizer: default: the model's.
        beta: β of the DPO loss and of Q(h, a) = β log π_θ(a|h)/π_ref(a|h).
        learning_rate, epochs, batch_size, max_length, seed, gradient_checkpointing, logging_steps, use_cpu:
            TRL's `DPOConfig` fields (learning_rate defaults to TRL's 1e-6, for pretrained LLMs; a tiny model
            trained from scratch needs ~1e-3). `use_cpu=None`: the CPU unless CUDA is available.
        reduce: how the saved estimator reduces a per-token log-ratio ("sum" or "mean", see the module
            docstring); DPO itself always trains the sum.
        progress: show TRL's progress bar.
    """
    require("trl", "train", "train_q_model")
    datasets = require("datasets", "train", "train_q_model")
    torch = require("torch", "hf", "train_q_model")
    transformers = require("transformers", "hf", "train_q_model")
    from trl import DPOConfig, DPOTrainer

    _check_reduce(reduce)
    if isinstance(beta, bool) or not isinstance(beta, int | float) or beta <= 0:
        raise ConfigError(f"beta must be a number > 0, got {beta!r}")
    if isinstance(pairs, list):
        pairs = datasets.Dataset.from_list(pairs) if pairs else None
    if pairs is None or len(pairs) == 0:
        raise NoContrastError("train_q_model: no preference pairs to learn from")
    missing = {"prompt", "chosen", "rejected"} - set(pairs.column_names)
    if missing:
        raise ConfigError(
            f"train_q_model: pairs lack the column(s) {sorted(missing)}; expected prompt/chosen/rejected "
            "in TRL's conversational preference format (see step_preference_pairs)"
        )
    pairs = pairs.select_columns(["prompt", "chosen", "rejected"])
    output_dir = Path(output_dir)

    policy, source = _load_model(transformers, model, "model")
    if tokenizer is None or isinstance(tokenizer, str | os.PathLike):
        tokenizer_source = os.fspath(tokenizer) if tokenizer is not None else _name_or_path(policy, source)
        if tokenizer_source is None:
            raise ConfigError(
                "train_q_model was given a model object without a tokenizer: pass tokenizer=..."
            )
        tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_source)
    if reference is not None:
        ref_model, ref_source = _load_model(transformers, reference, "reference")
    elif source is not None:
        ref_model, ref_source = _load_model(transformers, source, "model")
    else:  # a model object with no path: keep a frozen copy of its initial weights
        ref_model, ref_source = copy.deepcopy(policy), None
    ref_model.eval().requires_grad_(False)
    if ref_source is None or not Path(ref_source).is_dir():
        # no local folder to point at (a loaded model, or a hub id): the estimator must carry its reference
        ref_model.save_pretrained(output_dir / REFERENCE_FOLDER)
        tokenizer.save_pretrained(output_dir / REFERENCE_FOLDER)
        recorded = REFERENCE_FOLDER
    else:
        recorded = str(Path(ref_source).resolve())

    args = DPOConfig(
        output_dir=str(output_dir),
        beta=float(beta),
        learning_rate=learning_rate,
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        max_length=max_length,
        seed=seed,
        gradient_checkpointing=gradient_checkpointing,
        logging_steps=logging_steps,
        use_cpu=not torch.cuda.is_available() if use_cpu is None else use_cpu,
        bf16=False,
        report_to="none",
        save_strategy="no",
        disable_tqdm=not progress,
    )
    trainer = DPOTrainer(
        model=policy, ref_model=ref_model, args=args, train_dataset=pairs, processing_class=tokenizer
    )
    trainer.train()
    trainer.save_model(str(output_dir))
    history = trainer.state.log_history
    losses = [entry["loss"] for entry in history if "loss" in entry]
    train_loss = next((entry["train_loss"] for entry in reversed(history) if "train_loss" in entry), None)
    write_estimator_file(
        output_dir,
        KIND,
        {
            "reference": recorded,
            "beta": float(beta),
            "reduce": reduce,
            "training": {
                "pairs": len(pairs),
                "epochs": epochs,
                "learning_rate": learning_rate,
                "train_loss": train_loss,
                "losses": losses,
            },
        },
    )
    return output_dir


def _load_model(transformers: Any, model: Any, what: str) -> tuple[Any, str | None]:
    """(model, the path or id it was loaded from; None for a model object)."""
    if isinstance(model, str | os.PathLike):
        try:
            return transformers.AutoModelForCausalLM.from_pretrained(os.fspath(model)), os.fspath(model)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load the {what} {os.fspath(model)!r} as a causal LM: {exc}") from exc
    if hasattr(model, "save_pretrained") and hasattr(model, "config"):
        return model, None  # its weights may differ from any folder it was loaded from
    raise ConfigError(
        f"the {what} must be a model folder/id or a transformers PreTrainedModel, got {type(model).__name__}"
    )


def _name_or_path(model: Any, source: str | None) -> str | None:
    """Where to find a model's tokenizer: its source, else the folder it was loaded from."""
    path = source or getattr(model, "name_or_path", None)
    return path or None


def _check_reduce(reduce: str) -> None:
    if reduce not in REDUCTIONS:
        raise ConfigError(f"reduce must be one of {list(REDUCTIONS)}, got {reduce!r}")


# ----- 4. the Q-value model -------------------------------------------------------------------------------
class QValueEstimator(ProgressEstimator):
    """Q(h, a) = β · log π_θ(a | h) / π_ref(a | h) of a Q-model trained by `train_q_model` (module docstring).

    Args:
        model: the Q-model π_θ (a folder or a loaded `PreTrainedModel`).
        reference: its frozen reference π_ref (a folder or a loaded model), the model DPO started from.
        tokenizer: the tokenizer both share; default: the model's. It needs a chat template.
        beta: β (the DPO β the model was trained with, which `from_pretrained` reads back).
        reduce: "sum" (the paper's Q: the log-ratio of the whole action) or "mean" (per action token).
        batch_size: sequences per forward pass.
        max_length: most tokens in one forward pass; a longer history is cut from the left (its oldest
            tokens). Default: the model's `max_position_embeddings`.
        device: torch device of both models.

    >>> q = QValueEstimator.from_pretrained("runs/q-model")                   # doctest: +SKIP
    >>> q.score_actions(messages, ["go north", "go south"])                  # doctest: +SKIP
    [0.84, -1.32]
    """

    name = "qvalue"
    online = False

    def __init__(
        self,
        model: Any,
        reference: Any,
        tokenizer: Any = None,
        *,
        beta: float = 0.1,
        reduce: str = "sum",
        batch_size: int = 8,
        max_length: int | None = None,
        device: str = "cpu",
    ):
        self.torch = require("torch", "hf", "QValueEstimator")
        transformers = require("transformers", "hf", "QValueEstimator")
        _check_reduce(reduce)
        if isinstance(beta, bool) or not isinstance(beta, int | float) or beta <= 0:
            raise ConfigError(f"beta must be a number > 0, got {beta!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.model, self.model_source = _load_model(transformers, model, "Q-model")
        self.reference, self.reference_source = _load_model(transformers, reference, "reference")
        if tokenizer is None or isinstance(tokenizer, str | os.PathLike):
            if tokenizer is not None:
                tokenizer_source = os.fspath(tokenizer)
            else:
                tokenizer_source = _name_or_path(self.model, self.model_source)
            if tokenizer_source is None:
                raise ConfigError(
                    "QValueEstimator was given a model object without a tokenizer: pass tokenizer="
                )
            tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_source)
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError("the Q-model's tokenizer needs a chat template (tokenizer.chat_template)")
        if self.model.config.vocab_size != self.reference.config.vocab_size:
            raise ConfigError(
                f"the Q-model and its reference must share a tokenizer; their vocabularies differ "
                f"({self.model.config.vocab_size} vs {self.reference.config.vocab_size} entries)"
            )
        self.tokenizer = tokenizer
        self.beta, self.reduce, self.batch_size = float(beta), reduce, batch_size
        self.max_length = max_length or getattr(self.model.config, "max_position_embeddings", None)
        self.device = self.torch.device(device)
        for m in (self.model, self.reference):
            m.to(self.device).eval().requires_grad_(False)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_token_id = int(pad or 0)

    # ----- loading and saving -----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, reference: str | os.PathLike | Any = None, **options: Any
    ) -> QValueEstimator:
        """Load a Q-model saved by `train_q_model` or `save_pretrained`.

        The reference is `reference` when given, else the one recorded in `progress_estimator.json` (a copy
        inside `path`, or the path it was trained against). `options` override the saved `beta`/`reduce`
        and set the other constructor arguments (`batch_size`, `max_length`, `device`).
        """
        saved = read_estimator_file(path, KIND)
        allowed = {"beta", "reduce", "batch_size", "max_length", "device"}
        unknown = set(options) - allowed
        if unknown:
            raise ConfigError(
                f"unknown QValueEstimator option(s) {sorted(unknown)}; expected {sorted(allowed)}"
            )
        if reference is None:
            recorded = saved.get("reference")
            if not recorded:
                raise ConfigError(f"{os.fspath(path)!r} records no reference model; pass reference=PATH")
            inside = Path(path) / recorded
            reference = str(inside) if inside.is_dir() else recorded
            if not Path(reference).is_dir():
                raise ConfigError(
                    f"the reference model {recorded!r} recorded in {os.fspath(path)!r} is not a folder here; "
                    "pass reference=PATH (the model the Q-model was trained from)"
                )
        kwargs = {key: saved[key] for key in ("beta", "reduce") if key in saved}
        kwargs.update(options)
        return cls(os.fspath(path), reference, **kwargs)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Save the Q-model and tokenizer to `path`, with `progress_estimator.json` naming the reference
        (its folder, or a copy in `path/reference` when it has none)."""
        path = Path(path)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        if self.reference_source is not None and Path(self.reference_source).is_dir():
            recorded = str(Path(self.reference_source).resolve())
        else:
            self.reference.save_pretrained(path / REFERENCE_FOLDER)
            self.tokenizer.save_pretrained(path / REFERENCE_FOLDER)
            recorded = REFERENCE_FOLDER
        write_estimator_file(path, KIND, {"reference": recorded, "beta": self.beta, "reduce": self.reduce})

    # ----- scoring ------------------------------------------------------------------------------------------
    def score_actions(
        self, messages: Sequence[Message | dict], candidates: Sequence[str | Message]
    ) -> list[float]:
        """Q(h, a) of each candidate action a given the history h = `messages` (batched forward passes).

        A candidate is the reply text, or an assistant `Message` (with tool calls).
        """
        history = [_as_dict(m) for m in messages]
        items = []
        for candidate in candidates:
            reply = (
                {"role": "assistant", "content": candidate}
                if isinstance(candidate, str)
                else _as_dict(candidate)
            )
            ids, start = self._reply_tokens(history, reply)
            items.append((ids, [(start, len(ids))]))
        return [spans[0] for spans in self._span_scores(items)]

    def step_rewards(self, trajectory: Trajectory) -> list[float]:
        """r_t = Q(h_t, a_t) for each turn t: the reply's score given the conversation before it."""
        return self.step_rewards_batch([trajectory])[0]

    def step_rewards_batch(self, trajectories: Sequence[Trajectory]) -> list[list[float]]:
        """`step_rewards` of each trajectory, in batched forward passes (one sequence per trajectory when the
        chat template renders each conversation as a prefix of the longer ones)."""
        items, owners = [], []
        for index, trajectory in enumerate(trajectories):
            for item in self._trajectory_items(trajectory):
                items.append(item)
                owners.append(index)
        rewards: list[list[float]] = [[] for _ in trajectories]
        for index, scores in zip(owners, self._span_scores(items), strict=True):
            rewards[index].extend(scores)
        return rewards

    def _trajectory_items(self, trajectory: Trajectory) -> list[tuple[list[int], list[tuple[int, int]]]]:
        if not trajectory.turns:
            return []
        if not trajectory.messages:
            raise ProgressEstimatorError(
                f"trajectory of task {trajectory.task_id!r} has no opening messages (system prompt and first "
                "observation); the Q-model reads the whole conversation"
            )
        history = [m.to_openai() for m in trajectory.messages]
        per_turn = []
        for turn in trajectory.turns:
            reply: dict[str, Any] = {"role": "assistant", "content": turn.agent_text}
            if turn.tool_calls:
                reply["tool_calls"] = [call.model_dump() for call in turn.tool_calls]
            per_turn.append(self._reply_tokens(history, reply))
            history = [*history, reply, {"role": "user", "content": turn.observation}]
        full = per_turn[-1][0]
        nested = all(full[: len(ids)] == ids for ids, _ in per_turn)
        if nested and (self.max_length is None or len(full) <= self.max_length):
            return [(full, [(start, len(ids)) for ids, start in per_turn])]
        return [(ids, [(start, len(ids))]) for ids, start in per_turn]

    def _reply_tokens(self, history: list[dict[str, Any]], reply: dict[str, Any]) -> tuple[list[int], int]:
        """The ids of history + reply, and where the reply's tokens start (TRL's DPO tokenization)."""
        prompt = chat_ids(self.tokenizer, history, generation_prompt=True)
        full = chat_ids(self.tokenizer, [*history, reply], generation_prompt=False)
        start = 0
        for a, b in zip(prompt, full, strict=False):
            if a != b:
                break
            start += 1
        return full, start

    def _span_scores(self, items: list[tuple[list[int], list[tuple[int, int]]]]) -> list[list[float]]:
        """β · reduce(log π_θ − log π_ref) over each span of each sequence; sequences longer than
        `max_length` lose their oldest tokens (a span that would lose its own tokens keeps what is left)."""
        torch = self.torch
        fitted = [self._fit(ids, spans) for ids, spans in items]
        results: list[list[float]] = [[] for _ in items]
        order = sorted(range(len(fitted)), key=lambda i: len(fitted[i][0]))
        for first in range(0, len(order), self.batch_size):
            batch = order[first : first + self.batch_size]
            width = max(len(fitted[i][0]) for i in batch)
            input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids = fitted[i][0]
                input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                mask[row, : len(ids)] = 1
            input_ids, mask = input_ids.to(self.device), mask.to(self.device)
            with torch.no_grad():
                ratio = _token_logps(self.model, input_ids, mask) - _token_logps(
                    self.reference, input_ids, mask
                )
            ratio = ratio.cpu()
            for row, i in enumerate(batch):
                for start, end in fitted[i][1]:
                    # position p of `ratio` scores token p + 1
                    values = ratio[row, start - 1 : end - 1]
                    if values.numel() == 0:
                        results[i].append(0.0)
                        continue
                    total = float(values.sum() if self.reduce == "sum" else values.mean())
                    results[i].append(self.beta * total if math.isfinite(total) else 0.0)
        return results

    def _fit(self, ids: list[int], spans: list[tuple[int, int]]) -> tuple[list[int], list[tuple[int, int]]]:
        if self.max_length is None or len(ids) <= self.max_length:
            return ids, [(max(start, 1), end) for start, end in spans]
        cut = len(ids) - self.max_length
        return ids[cut:], [(max(start - cut, 1), max(end - cut, 1)) for start, end in spans]


def _token_logps(model: Any, input_ids: Any, mask: Any) -> Any:
    """log p(x_{p+1} | x_≤p) at every position p (one fewer than the tokens)."""
    logits = model(input_ids=input_ids, attention_mask=mask).logits[:, :-1].float()
    return logits.log_softmax(-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)


def _as_dict(message: Message | dict) -> dict[str, Any]:
    return Message.model_validate(message).to_openai() if isinstance(message, dict) else message.to_openai()
