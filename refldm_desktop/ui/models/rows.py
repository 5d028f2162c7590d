"""Keep a list model's rows in step with a new list of items without a reset, so that
selection, the current item and an open editor survive a refresh."""

from __future__ import annotations

from typing import Callable, Hashable, Sequence, TypeVar

from PySide6.QtCore import QAbstractItemModel, QModelIndex

T = TypeVar("T")


def sync_rows(
    model: QAbstractItemModel,
    items: list[T],
    new: Sequence[T],
    key: Callable[[T], Hashable],
    columns: int = 1,
) -> None:
    """Make `items` (the model's own list) equal to `new`: rows whose key is gone are
    removed, new keys inserted where `new` has them, changed rows reported as changed.
    Rows that stay keep their relative order (the core's queries order them stably)."""
    new_keys = [key(x) for x in new]
    wanted = set(new_keys)
    # Remove from the bottom up so that earlier row numbers stay valid.
    for row in range(len(items) - 1, -1, -1):
        if key(items[row]) not in wanted:
            model.beginRemoveRows(QModelIndex(), row, row)
            del items[row]
            model.endRemoveRows()
    have = {key(x): i for i, x in enumerate(items)}
    if [k for k in new_keys if k in have] != [key(x) for x in items]:
        # The order of kept rows changed: a move per row would cost more than a reset.
        model.beginResetModel()
        items[:] = list(new)
        model.endResetModel()
        return
    for row, item in enumerate(new):
        k = new_keys[row]
        if row < len(items) and key(items[row]) == k:
            if items[row] != item:
                items[row] = item
                model.dataChanged.emit(model.index(row, 0), model.index(row, columns - 1))
            continue
        model.beginInsertRows(QModelIndex(), row, row)
        items.insert(row, item)
        model.endInsertRows()
