"""Editors generated from the settings schema: one widget per field, chosen by its type.

The dialog never names a field: it walks ``Settings.model_fields`` and asks
:func:`editor_for` for a widget, so a field added to the schema appears in
the dialog by itself, with its limits, default and description. Limits the
widget can hold (number ranges, text length) make a wrong value impossible
to type; the rest (URL patterns) are checked by the schema on OK.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from mneme.assistant.settings import Settings

HIDDEN = frozenset({"version", "ui.first_run_done"})
"""Kept by the app itself, never edited by hand."""

LONG_TEXT = 1000
"""Text fields allowed more characters than this get a multi-line editor."""

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_WORDS = {"url": "URL", "gpu": "GPU", "api": "API", "ui": "UI", "p": "p", "k": "k"}
_UNITS = {"s": "(seconds)", "ms": "(ms)"}
_KINDS: dict[Any, str] = {bool: "bool", int: "int", float: "float", str: "text"}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What the schema says about one setting, in the terms a widget needs."""

    dotted: str
    label: str
    description: str
    kind: str
    """"bool", "int", "float", "choice" or "text"."""
    optional: bool
    choices: tuple[str, ...]
    minimum: float | None
    maximum: float | None
    exclusive_minimum: bool
    exclusive_maximum: bool
    max_length: int | None
    default: Any
    everyday: bool = False
    """Shown with the everyday settings (the rest are under "Advanced")."""
    switch: str | None = None
    """For an optional number: the tick box that turns it on, said positively."""
    labels: tuple[tuple[str, str], ...] = ()
    """For a choice: (value, words shown), where plain capitals will not do."""


def label_for(name: str, info: FieldInfo) -> str:
    """``timeout_s`` → "Timeout (seconds)", ``server_url`` → "Server URL"."""
    if info.title:
        return info.title
    words = name.split("_")
    unit = _UNITS.get(words[-1]) if len(words) > 1 else None
    if unit:
        words = words[:-1]
    text = " ".join(_WORDS.get(w, w) for w in words)
    text = text[:1].upper() + text[1:]
    return f"{text} {unit}" if unit else text


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """``int | None`` → (int, True)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], optional
    return annotation, False


def spec_for(dotted: str, name: str, info: FieldInfo) -> FieldSpec:
    annotation, optional = _unwrap(info.annotation)
    choices: tuple[str, ...] = ()
    if typing.get_origin(annotation) is Literal:
        choices = tuple(str(a) for a in typing.get_args(annotation))
        kind = "choice"
    elif annotation in _KINDS:
        kind = _KINDS[annotation]
    else:
        raise TypeError(f"the settings dialog has no editor for {dotted} ({info.annotation})")
    lo = hi = None
    lo_open = hi_open = False
    max_length = None
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    for item in info.metadata:
        if getattr(item, "ge", None) is not None:
            lo = item.ge
        if getattr(item, "gt", None) is not None:
            lo, lo_open = item.gt, True
        if getattr(item, "le", None) is not None:
            hi = item.le
        if getattr(item, "lt", None) is not None:
            hi, hi_open = item.lt, True
        if getattr(item, "max_length", None) is not None:
            max_length = item.max_length
    labels = extra.get("labels")
    if not isinstance(labels, dict):
        labels = {}
    return FieldSpec(
        dotted=dotted,
        label=label_for(name, info),
        description=info.description or "",
        kind=kind,
        optional=optional,
        choices=choices,
        minimum=lo,
        maximum=hi,
        exclusive_minimum=lo_open,
        exclusive_maximum=hi_open,
        max_length=max_length,
        everyday=bool(extra.get("everyday")),
        switch=str(extra["switch"]) if extra.get("switch") else None,
        labels=tuple((str(k), str(v)) for k, v in labels.items()),
        default=info.get_default(call_default_factory=True),
    )


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    model: type[BaseModel] | None
    """The section's own model (None for settings at the top level)."""
    fields: tuple[FieldSpec, ...]

    @property
    def description(self) -> str:
        doc = self.model.__dict__.get("__doc__") if self.model is not None else None
        return (doc or "").strip()


def schema_sections(schema: type[BaseModel] = Settings) -> list[Section]:
    """Every editable setting, grouped by section in schema order; top-level ones first."""
    top: list[FieldSpec] = []
    sections: list[Section] = []
    for name, info in schema.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            specs = tuple(
                spec_for(f"{name}.{sub}", sub, sub_info)
                for sub, sub_info in annotation.model_fields.items()
                if f"{name}.{sub}" not in HIDDEN
            )
            if specs:
                sections.append(Section(name, annotation, specs))
        elif name not in HIDDEN:
            top.append(spec_for(name, name, info))
    return ([Section("", None, tuple(top))] if top else []) + sections


def lookup(settings: BaseModel, dotted: str) -> Any:
    value: Any = settings
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


# -- editors --------------------------------------------------------------------------


class FieldEditor(QWidget):
    """One setting's widget: ``value()`` is what the person chose, in the schema's type."""

    changed = Signal()

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.setObjectName(f"setting:{spec.dotted}")
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def input(self) -> QWidget:
        """The widget that takes the value (a spin box, a check box, …)."""
        raise NotImplementedError

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def _finish(self, widget: QWidget) -> None:
        widget.setToolTip(self.spec.description)
        widget.setAccessibleName(self.spec.label)
        self._layout.addWidget(widget, 1)


class BoolEditor(FieldEditor):
    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.box = QCheckBox(self)
        self.box.toggled.connect(self.changed)
        self._finish(self.box)

    @property
    def input(self) -> QWidget:
        return self.box

    def value(self) -> bool:
        return self.box.isChecked()

    def set_value(self, value: Any) -> None:
        self.box.setChecked(bool(value))


class ChoiceEditor(FieldEditor):
    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.combo = QComboBox(self)
        words = dict(spec.labels)
        for choice in spec.choices:
            self.combo.addItem(words.get(choice, choice.capitalize()), choice)
        self.combo.currentIndexChanged.connect(self.changed)
        self._finish(self.combo)

    @property
    def input(self) -> QWidget:
        return self.combo

    def value(self) -> str:
        return str(self.combo.currentData())

    def set_value(self, value: Any) -> None:
        self.combo.setCurrentIndex(max(0, self.combo.findData(value)))


def _float_format(lo: float, hi: float) -> tuple[int, float]:
    """Decimals and step for a range: fine steps for a 0–1 share, coarse ones for minutes."""
    span = hi - lo
    if span <= 1:
        return 2, 0.01
    if span <= 10:
        return 2, 0.05
    if span <= 100:
        return 1, 0.5
    return 1, 1.0


class NumberEditor(FieldEditor):
    """A spin box limited to the schema's range; an optional number gets a tick box that
    turns it on (ticked: the number is used; unticked: not set)."""

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self._exact: float | None = None
        self.spin: QSpinBox | QDoubleSpinBox
        if spec.kind == "int":
            spin = QSpinBox(self)
            lo = int(spec.minimum) if spec.minimum is not None else _INT_MIN
            hi = int(spec.maximum) if spec.maximum is not None else _INT_MAX
            spin.setRange(
                lo + 1 if spec.exclusive_minimum else lo, hi - 1 if spec.exclusive_maximum else hi
            )
            spin.valueChanged.connect(self.changed)
            self.spin = spin
        else:
            fspin = QDoubleSpinBox(self)
            flo = float(spec.minimum) if spec.minimum is not None else -1e9
            fhi = float(spec.maximum) if spec.maximum is not None else 1e9
            decimals, step = _float_format(flo, fhi)
            smallest = 10.0**-decimals
            fspin.setDecimals(decimals)
            fspin.setSingleStep(step)
            fspin.setRange(
                flo + smallest if spec.exclusive_minimum else flo,
                fhi - smallest if spec.exclusive_maximum else fhi,
            )
            fspin.valueChanged.connect(self.changed)
            self.spin = fspin
        self.switch: QCheckBox | None = None
        if spec.optional:
            self.switch = QCheckBox(spec.switch or "Use this value", self)
            self.switch.setObjectName(f"switch:{spec.dotted}")
            self.switch.setToolTip(spec.description)
            self.switch.toggled.connect(self._switched)
            self._layout.insertWidget(0, self.switch)
        self._finish(self.spin)

    @property
    def input(self) -> QWidget:
        return self.spin

    def _switched(self, on: bool) -> None:
        self.spin.setEnabled(on)
        self.changed.emit()

    def value(self) -> int | float | None:
        if self.switch is not None and not self.switch.isChecked():
            return None
        shown = self.spin.value()
        if isinstance(self.spin, QSpinBox):
            return int(shown)
        exact = self._exact
        if exact is not None and math.isclose(round(exact, self.spin.decimals()), shown):
            return exact  # unchanged, though shown rounded
        return float(shown)

    def set_value(self, value: Any) -> None:
        if self.switch is not None:
            self.switch.setChecked(value is not None)
            self.spin.setEnabled(value is not None)
        if value is None:
            return  # the spin box keeps what it showed, ready for when it is turned on
        self._exact = float(value)
        if isinstance(self.spin, QSpinBox):
            self.spin.setValue(int(value))
        else:
            self.spin.setValue(float(value))


class TextEditor(FieldEditor):
    """One line, or several for long text; for optional text, empty means "not set"."""

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.line: QLineEdit | None = None
        self.text: QPlainTextEdit | None = None
        if spec.max_length is not None and spec.max_length > LONG_TEXT:
            self.text = QPlainTextEdit(self)
            self.text.textChanged.connect(self._limit)
            self.text.textChanged.connect(self.changed)
            self._finish(self.text)
        else:
            self.line = QLineEdit(self)
            if spec.max_length is not None:
                self.line.setMaxLength(spec.max_length)
            if spec.optional:
                self.line.setPlaceholderText("(empty)")
            self.line.textChanged.connect(self.changed)
            self._finish(self.line)

    @property
    def input(self) -> QWidget:
        return self.line if self.line is not None else typing.cast(QWidget, self.text)

    def _limit(self) -> None:
        assert self.text is not None
        limit = self.spec.max_length
        text = self.text.toPlainText()
        if limit is not None and len(text) > limit:
            self.text.setPlainText(text[:limit])

    def value(self) -> str | None:
        if self.line is not None:
            text = self.line.text().strip()
        else:
            assert self.text is not None
            text = self.text.toPlainText()
        return None if self.spec.optional and not text.strip() else text

    def set_value(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if self.line is not None:
            self.line.setText(text)
        elif self.text is not None:
            self.text.setPlainText(text)


def editor_for(spec: FieldSpec, parent: QWidget | None = None) -> FieldEditor:
    if spec.kind == "bool":
        return BoolEditor(spec, parent)
    if spec.kind in ("int", "float"):
        return NumberEditor(spec, parent)
    if spec.kind == "choice":
        return ChoiceEditor(spec, parent)
    return TextEditor(spec, parent)
