"""A small procedural maze: a dependency-free text environment for smoke tests, benchmarks and tiny RL runs."""
