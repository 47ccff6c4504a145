"""agentgym.sandboxes (see DESIGN.md)."""
