"""Qt item models: thin adapters over the core's plain values (see ARCHITECTURE.md)."""
