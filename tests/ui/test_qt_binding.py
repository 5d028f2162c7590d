"""The Qt binding itself must not crash the app over time.

PySide6 6.12.0 on Python 3.11 drops a reference to None on every call that returns nothing
(QPainter.save, setPen...); the window paints thousands of times a minute, None's count
reaches zero and the interpreter aborts ("deallocating None"). pyproject pins it out; this
fails if an installed binding has that fault again."""

from __future__ import annotations

import sys

from musthave import require_module

require_module("PySide6")


def test_calls_returning_nothing_keep_none_alive(qapp):
    from PySide6.QtGui import QColor, QImage, QPainter

    image = QImage(32, 32, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    try:
        colour = QColor("red")
        calls = 500
        before = sys.getrefcount(None)
        for _ in range(calls):
            painter.save()
            painter.setPen(colour)
            painter.restore()
        lost = before - sys.getrefcount(None)
    finally:
        painter.end()
    # Other code may create or drop a few Nones meanwhile; a faulty binding loses 3 per loop.
    assert lost < calls, f"the Qt binding lost {lost} references to None in {calls * 3} calls"
