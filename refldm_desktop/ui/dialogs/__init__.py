"""Dialogs: restore options, first run, errors (and the People engineer's dialogs)."""
