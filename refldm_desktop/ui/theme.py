"""The app's look: the system's, or a light or dark palette on the Fusion style (the same
on every platform, so that a chosen theme looks as chosen)."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleFactory

THEMES = ("system", "light", "dark")

# The system's style name and palette, kept when a theme first replaces them (there is one
# QApplication per process).
_system_look: tuple[str, QPalette] | None = None


def _dark() -> QPalette:
    p = QPalette()
    R, C = QPalette.ColorRole, QColor
    for role, colour in (
        (R.Window, C(45, 45, 48)), (R.WindowText, C(230, 230, 230)), (R.Base, C(30, 30, 32)),
        (R.AlternateBase, C(55, 55, 58)), (R.ToolTipBase, C(60, 60, 64)), (R.ToolTipText, C(230, 230, 230)),
        (R.Text, C(230, 230, 230)), (R.Button, C(55, 55, 58)), (R.ButtonText, C(230, 230, 230)),
        (R.BrightText, C(255, 90, 90)), (R.Highlight, C(60, 120, 200)), (R.HighlightedText, C(255, 255, 255)),
        (R.Link, C(110, 170, 255)), (R.Midlight, C(70, 70, 74)), (R.PlaceholderText, C(150, 150, 150)),
    ):
        p.setColor(role, colour)
    for role in (R.Text, R.ButtonText, R.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, C(130, 130, 130))
    return p


_INDICATORS = (
    QStyle.PrimitiveElement.PE_IndicatorCheckBox,
    QStyle.PrimitiveElement.PE_IndicatorRadioButton,
    QStyle.PrimitiveElement.PE_IndicatorItemViewItemCheck,
)


class ClearIndicators(QProxyStyle):
    """Fusion with check boxes and radio buttons that show when empty.

    Fusion outlines an indicator a shade darker than the window: on a dark window an
    unchecked box (in a dialog or a list) is all but invisible. The outline is drawn again
    in the text colour, faded, which reads on light and dark windows alike."""

    def drawPrimitive(self, element, option, painter, widget=None) -> None:  # noqa: N802 (Qt's name)
        super().drawPrimitive(element, option, painter, widget)
        if element not in _INDICATORS:
            return
        enabled = bool(option.state & QStyle.StateFlag.State_Enabled)
        colour = QColor(option.palette.color(QPalette.ColorRole.Text))
        colour.setAlpha(150 if enabled else 90)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(colour, 1.0))
        painter.setBrush(QColor(0, 0, 0, 0))
        box = QRectF(option.rect).adjusted(0.5, 0.5, -1.5, -1.5)
        if element == QStyle.PrimitiveElement.PE_IndicatorRadioButton:
            painter.drawEllipse(box)
        else:
            painter.drawRoundedRect(box, 1.5, 1.5)
        painter.restore()


def apply_theme(name: str, app: QApplication | None = None) -> None:
    global _system_look
    if app is None:
        running = QApplication.instance()
        app = running if isinstance(running, QApplication) else None
    if app is None or name not in THEMES:
        return
    if name == "system" and _system_look is None:
        return  # never changed: the system look is already there
    if _system_look is None:
        _system_look = (app.style().name(), QPalette(app.palette()))
    if name == "system":
        style, palette = _system_look
        app.setStyle(QStyleFactory.create(style))
        app.setPalette(palette)
    else:
        app.setStyle(ClearIndicators(QStyleFactory.create("Fusion")))
        app.setPalette(_dark() if name == "dark" else app.style().standardPalette())
    # Widgets polished under the app's style sheet keep the palette they had then (the grid
    # stayed white, titles black on dark grey): setting the sheet again polishes them anew.
    sheet = app.styleSheet()
    if sheet:
        app.setStyleSheet("")
        app.setStyleSheet(sheet)
