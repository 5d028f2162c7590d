"""Qt item models over the core's queries: thin adapters that fetch rows by id."""

from PySide6.QtCore import QModelIndex, QPersistentModelIndex

# What Qt passes to a model's or delegate's overrides: either kind of index.
Index = QModelIndex | QPersistentModelIndex
