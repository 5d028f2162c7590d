"""Counts in messages: "1 face", "2 faces". Shared by the core, the CLI and the app, which
all said "1 faces" somewhere."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun, singular for exactly one: counted(1, "face") == "1 face"."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def agree(n: int, one: str, many: str) -> str:
    """The verb for a count of `n`: agree(1, "needs", "need") == "needs"."""
    return one if n == 1 else many
