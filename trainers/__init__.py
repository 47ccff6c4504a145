"""agentgym.trainers (see DESIGN.md)."""
