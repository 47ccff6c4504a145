"""Test helpers that users of agentgym need too: a local OpenAI-compatible server and a tiny local model.

Nothing here reaches the network. `build_tiny_model` needs the `hf` extra (torch, transformers, tokenizers),
imported only when it is called.
"""

from agentgym.testing.openai_server import ExpertPolicy, OpenAICompatibleServer
from agentgym.testing.tiny_model import build_tiny_model, build_tiny_tokenizer

__all__ = ["ExpertPolicy", "OpenAICompatibleServer", "build_tiny_model", "build_tiny_tokenizer"]
