"""agentgym.verifiers (see DESIGN.md)."""
