"""A tiny causal language model and tokenizer, built on the spot, for tests that need a real local model.

Nothing is downloaded: a `tokenizers` WordLevel tokenizer is trained over a small corpus (the words agentgym
environments use, plus any text you add) and a randomly initialised Llama model of ~80k parameters is built
from a config. Both are saved with `save_pretrained`, so they load back through
`AutoTokenizer`/`AutoModelForCausalLM.from_pretrained` like any checkpoint (and `transformers serve` can
serve the folder).

>>> path = build_tiny_model(tmp_path)                     # doctest: +SKIP
>>> agent = agentgym.agents.HFAgent(path, seed=0)         # doctest: +SKIP

The model is a `llama` config on purpose: with a `qwen2` config, AutoTokenizer reloads the tokenizer as
`Qwen2Tokenizer` (transformers overrides the saved class for that model type) and tokenizes wrongly.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

from agentgym.errors import require

UNK, PAD, EOS, BOS = "<unk>", "<pad>", "<|end|>", "<s>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>", "<|tool|>")
SPECIAL_TOKENS = (UNK, PAD, BOS, EOS, *ROLE_TOKENS)

#: One turn is `<|role|> content <|end|>`; the generation prompt is `<|assistant|>`, so a model that
#: emits `<|end|>` (the EOS token) ends its turn.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' }} {{ message['content'] or '' }} {{ '<|end|>' }} "
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)

#: Words of the built-in environments (Maze, TextWorld-style games) and of the action formats, so that a
#: tiny model's tokenizer covers real observations without <unk>.
DEFAULT_CORPUS = """
You are exploring a maze. Each turn you see which directions are open.
Commands: go north, go south, go east, go west, look.
Find the exit of the maze. The maze is 4 by 4 rooms. Open directions: north, south, east, west.
You go north. A wall blocks the way west. I don't understand that.
You step through the exit. You escaped the maze!
Think if you like, then end your reply with one line of the form 'Action: <command>', for example: Action: go north
Reply with a single command on one line, for example: go north
Thought: Action: Observation: Your reply could not be read as an action: the reply is empty.
Call a tool by writing a JSON object: {"name": "<tool>", "arguments": {...}}
Call a tool with: <tool_call> </tool_call> Call one of the provided tools (function calling).
take drop open close unlock lock examine inventory put insert in on into from with the a an and to of it
key door chest box table room kitchen bedroom cellar garden corridor north south east west up down
You are carrying: nothing. You see a closed door. You can't go that way. Taken. Dropped. Opened.
Your task is to win. You win! You lose. Welcome to TextWorld! score moves
"""


def _corpus_lines(corpus: str | list[str] | None) -> list[str]:
    lines = DEFAULT_CORPUS.strip().splitlines()
    lines += list(string.ascii_letters) + list(string.digits) + list(string.punctuation)
    if corpus is not None:
        extra = [corpus] if isinstance(corpus, str) else list(corpus)
        if not all(isinstance(text, str) for text in extra):
            raise TypeError(f"corpus must be a str or a list of str, got {type(corpus).__name__}")
        lines += [line for text in extra for line in text.splitlines()]
    return lines


def build_tiny_tokenizer(corpus: str | list[str] | None = None):
    """A `PreTrainedTokenizerFast` (WordLevel) trained on the default corpus plus `corpus`, with a chat template."""
    tokenizers = require("tokenizers", "hf", "building a tiny test tokenizer")
    transformers = require("transformers", "hf", "building a tiny test tokenizer")

    raw = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token=UNK))
    raw.pre_tokenizer = tokenizers.pre_tokenizers.Sequence(
        [tokenizers.pre_tokenizers.WhitespaceSplit(), tokenizers.pre_tokenizers.Punctuation()]
    )
    trainer = tokenizers.trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS), min_frequency=1)
    raw.train_from_iterator(_corpus_lines(corpus), trainer=trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token=UNK,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        additional_special_tokens=list(ROLE_TOKENS),
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(
    directory: str | os.PathLike,
    corpus: str | list[str] | None = None,
    *,
    seed: int = 0,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    max_position_embeddings: int = 1024,
    max_new_tokens: int = 16,
) -> Path:
    """Train a tokenizer, build a tiny Llama causal LM, save both to `directory` and return its path.

    The weights depend only on `seed` (and the vocabulary), so two builds with the same arguments are
    identical. The global torch RNG is left as it was. The saved `GenerationConfig` samples
    (`do_sample=True`, temperature 1, no top-k/top-p), which is what `transformers serve` needs to sample
    and what log-prob checks expect.
    """
    torch = require("torch", "hf", "building a tiny test model")
    transformers = require("transformers", "hf", "building a tiny test model")

    if hidden_size % num_heads or num_heads % num_kv_heads:
        raise ValueError(
            f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads}), and num_heads by "
            f"num_kv_heads ({num_kv_heads})"
        )
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(corpus)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.LlamaForCausalLM(config)
    model.generation_config = transformers.GenerationConfig(
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        max_new_tokens=max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
