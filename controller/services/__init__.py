"""Floor 3, the services both processes share (docs/architecture.md)."""
