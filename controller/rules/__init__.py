"""Floor 1, the rules: pure decisions with no I/O (docs/architecture.md)."""
