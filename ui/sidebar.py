"""The left panel: which model, on which phone, with which settings, and will it fit.

The fit badge comes from the predictor before anything runs. Models found on disk
(Hugging Face cache, LM Studio, Ollama) are looked up on a background thread.
"""

from __future__ import annotations

import threading
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from profiler.errors import ProfilerError
from profiler.model import gguf_meta, models
from profiler.phone import HOW_PREDICTIONS_WORK, measured, predict
from profiler.phone.profiles import DEFAULT_PROFILE, Profile, load_all
from profiler.report import describe
from profiler.run.config import RunConfig

RECENT_LIMIT = 8
BADGES = {
    "fits": ("fits", "#1f7a1f", "#e3f4e1"),
    "tight": ("tight", "#8a5a00", "#fff1cc"),
    "killed": ("will be killed", "#a11b1b", "#fde2e1"),
}


class _Found(QObject):
    sig_found = Signal(list)


def _spin(low: int, high: int, value: int, special: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setGroupSeparatorShown(True)
    if special:
        box.setSpecialValueText(special)
    return box


def _dspin(low: float, high: float, value: float, step: float, decimals: int, special: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    if special:
        box.setSpecialValueText(special)
    return box


class Sidebar(QWidget):
    """Pickers and settings; emits ``sig_model_error`` when a chosen model cannot be read."""

    sig_model_error = Signal(str)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.profiles: dict[str, Profile] = {p.id: p for p in load_all()}
        self.model_info: gguf_meta.ModelInfo | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._model_box())
        layout.addWidget(self._profile_box())
        layout.addWidget(self._settings_box())
        layout.addStretch(1)
        self._found = _Found(self)
        self._found.sig_found.connect(self._add_found)
        self._restore()

    # -- building ------------------------------------------------------------------
    def _model_box(self) -> QGroupBox:
        box = QGroupBox("Model")
        layout = QVBoxLayout(box)
        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(16)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        for name, builtin in models.BUILTINS.items():
            self.model_combo.addItem(f"{builtin.title} (built-in)", name)
        self.open_button = QPushButton("Open GGUF…")
        self.open_button.clicked.connect(self.open_model_dialog)
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.open_button)
        layout.addLayout(row)
        self.model_label = QLabel("")
        self.model_label.setWordWrap(True)
        self.model_label.setStyleSheet("color:#444;")
        layout.addWidget(self.model_label)
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        return box

    def _profile_box(self) -> QGroupBox:
        box = QGroupBox("Phone profile")
        layout = QVBoxLayout(box)
        self.profile_combo = QComboBox()
        phones = sorted((p for p in self.profiles.values() if not p.is_host), key=lambda p: p.name)
        for profile in [*phones, *(p for p in self.profiles.values() if p.is_host)]:
            self.profile_combo.addItem(profile.name, profile.id)
        layout.addWidget(self.profile_combo)
        self.profile_label = QLabel("")
        self.profile_label.setWordWrap(True)
        self.profile_label.setStyleSheet("color:#444;")
        layout.addWidget(self.profile_label)
        self.fit_badge = QLabel("")
        self.fit_badge.setWordWrap(True)
        layout.addWidget(self.fit_badge)
        self.profile_combo.currentIndexChanged.connect(self.update_fit)
        return box

    def _settings_box(self) -> QGroupBox:
        box = QGroupBox("Run settings")
        form = QFormLayout(box)
        self.max_tokens = _spin(1, 100_000, 128)
        self.ctx = _spin(64, 1_048_576, 2048)
        self.ctx.setSingleStep(512)
        self.threads = _spin(0, 256, 0, "profile's")
        self.mmap = QCheckBox("map the weights (mmap)")
        self.mmap.setChecked(True)
        self.mmap.setToolTip("Mapped weights are file-backed and not counted in the footprint; unmapped ones are.")
        self.temperature = _dspin(0.0, 2.0, 0.7, 0.1, 2)
        self.budget = _spin(0, 1_048_576, 0, "profile's")
        self.budget.setSuffix(" MB")
        self.budget.setSingleStep(256)
        self.speed = _dspin(0.0, 1.0, 0.0, 0.05, 2, "emulate phone")
        self.speed.setToolTip("Fraction of this machine's speed; 'emulate phone' sets it from the profile.")
        form.addRow("max tokens", self.max_tokens)
        form.addRow("context", self.ctx)
        form.addRow("threads", self.threads)
        form.addRow("", self.mmap)
        form.addRow("temperature", self.temperature)
        form.addRow("memory budget", self.budget)
        form.addRow("speed", self.speed)
        for widget in (self.ctx, self.budget, self.mmap):
            signal = widget.toggled if isinstance(widget, QCheckBox) else widget.valueChanged
            signal.connect(self.update_fit)
        return box

    # -- models --------------------------------------------------------------------
    def start_discovery(self) -> None:
        """Look for GGUF files in the usual folders without blocking the window."""
        from profiler.model import discover

        def work() -> None:
            try:
                found = discover.find_models()
            except Exception:  # a strange folder must not matter to the app
                found = []
            self._found.sig_found.emit(found)

        threading.Thread(target=work, name="pocketprof-discover", daemon=True).start()

    @Slot(list)
    def _add_found(self, found: list[Any]) -> None:
        known = {self.model_combo.itemData(i) for i in range(self.model_combo.count())}
        fresh = [f for f in found if str(f.path) not in known]
        if fresh:
            self.model_combo.insertSeparator(self.model_combo.count())
        for item in fresh:
            self.model_combo.addItem(f"{item.name} ({item.source}, {item.size_bytes / 2**20:,.0f} MB)", str(item.path))
            self.model_combo.setItemData(self.model_combo.count() - 1, str(item.path), Qt.ItemDataRole.ToolTipRole)

    def add_model_path(self, path: str) -> None:
        """Select a file (adding it to the list and the recent files)."""
        index = self.model_combo.findData(path)
        if index < 0:
            self.model_combo.addItem(f"{Path(path).name} (recent)", path)
            index = self.model_combo.count() - 1
            self.model_combo.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        recent = [p for p in self._recent() if p != path]
        self.settings.setValue("recent_models", [path, *recent][:RECENT_LIMIT])
        self.model_combo.setCurrentIndex(index)

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a GGUF model", str(Path.home()), "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.add_model_path(path)

    def _recent(self) -> list[str]:
        value = self.settings.value("recent_models", [])
        return [value] if isinstance(value, str) else list(value or [])

    @Slot()
    def _model_changed(self) -> None:
        self.model_info = None
        choice = self.model_name()
        try:
            self.model_info = gguf_meta.read_metadata(models.resolve(choice))
        except ProfilerError as exc:
            self.model_label.setText(f"<span style='color:#a11b1b'>{escape(str(exc))}</span>")
            self.update_fit()
            self.sig_model_error.emit(str(exc))
            return
        self.model_label.setText(describe.model_line(self.model_info.to_dict()))
        self.model_label.setToolTip(self.model_info.path)
        self.update_fit()

    def choices(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(label, name or path) of every model offered, and (name, id) of every profile."""
        combo = self.model_combo
        models = [(combo.itemText(i), str(combo.itemData(i))) for i in range(combo.count()) if combo.itemData(i)]
        profiles = [(p.name, p.id) for p in sorted(self.profiles.values(), key=lambda p: p.name)]
        return models, profiles

    def model_name(self) -> str:
        return str(self.model_combo.currentData() or models.DEFAULT_MODEL)

    # -- profiles and the fit badge ------------------------------------------------
    def profile(self) -> Profile:
        return self.profiles[str(self.profile_combo.currentData())]

    @Slot()
    def update_fit(self) -> None:
        profile = self.profile()
        self.profile_label.setText(describe.profile_line(profile.to_dict()))
        if profile.is_host:
            self._badge("", "no phone limits: this machine as it is", "#444", "#eee")
            return
        if self.model_info is None:
            self._badge("", "pick a readable model to see whether it fits", "#444", "#eee")
            return
        try:
            estimate = predict.predict(profile, model=self.model_info, ctx=self.ctx.value())
        except ProfilerError as exc:
            self._badge("", str(exc), "#444", "#eee")
            return
        budget = float(self.budget.value() or profile.app_memory_budget_mb or 0) or None
        weights = estimate.memory.weights_mb
        total = estimate.memory.total_mb
        verdict = predict.verdict(total, budget)
        word, fg, bg = BADGES[verdict]
        detail = f"predicted {total:,.0f} MB of {budget:,.0f} MB budget" if budget else f"predicted {total:,.0f} MB"
        detail += f" (weights {weights:,.0f}) · {describe.speed_phrase(estimate.speed)}"
        row = measured.yardstick(estimate.measured)
        if row is not None:
            detail += f" · measured on {row.device}: {row.decode_tps or 0:,.1f} tok/s decode ({row.runtime})"
        self._badge(word, detail, fg, bg)
        self.fit_badge.setProperty("verdict", verdict)
        notes = estimate.notes()
        this = "This prediction:\n" + "\n".join(f"• {n}" for n in notes) + "\n\n" if notes else ""
        self.fit_badge.setToolTip(this + HOW_PREDICTIONS_WORK)

    def _badge(self, word: str, detail: str, fg: str, bg: str) -> None:
        self.fit_badge.setProperty("verdict", word or None)
        head = f"<b style='color:{fg}'>{word.upper()}</b> · " if word else ""
        self.fit_badge.setText(f"{head}<span style='color:#444'>{escape(detail)}</span>")
        self.fit_badge.setStyleSheet(f"QLabel {{ background:{bg}; padding:5px; border-radius:4px; }}")

    # -- settings in and out --------------------------------------------------------
    def config(self, prompt: str) -> RunConfig:
        return RunConfig(
            model=self.model_name(),
            profile=self.profile().id,
            prompt=prompt,
            max_tokens=self.max_tokens.value(),
            ctx=self.ctx.value(),
            threads=self.threads.value() or None,
            mmap=self.mmap.isChecked(),
            temperature=self.temperature.value(),
            memory_budget_mb=float(self.budget.value()) or None,
            speed_factor=self.speed.value() or None,
            reserve_cores=1,  # drawing the window must never take a core from llama.cpp's threads
        )

    def save(self) -> None:
        s = self.settings
        s.setValue("model", self.model_name())
        s.setValue("profile", self.profile().id)
        for name in ("max_tokens", "ctx", "threads", "budget"):
            s.setValue(name, getattr(self, name).value())
        s.setValue("temperature", self.temperature.value())
        s.setValue("speed", self.speed.value())
        s.setValue("mmap", self.mmap.isChecked())

    def _restore(self) -> None:
        s = self.settings
        for path in reversed(self._recent()):
            if self.model_combo.findData(path) < 0:
                self.model_combo.addItem(f"{Path(path).name} (recent)", path)
        index = self.profile_combo.findData(s.value("profile", DEFAULT_PROFILE))
        self.profile_combo.setCurrentIndex(
            max(0, index if index >= 0 else self.profile_combo.findData(DEFAULT_PROFILE))
        )
        for name in ("max_tokens", "ctx", "threads", "budget"):
            if s.contains(name):
                getattr(self, name).setValue(int(s.value(name)))
        if s.contains("temperature"):
            self.temperature.setValue(float(s.value("temperature")))
        if s.contains("speed"):
            self.speed.setValue(float(s.value("speed")))
        if s.contains("mmap"):
            self.mmap.setChecked(str(s.value("mmap")).lower() in ("true", "1"))
        model = str(s.value("model", models.DEFAULT_MODEL))
        index = self.model_combo.findData(model)
        self.model_combo.setCurrentIndex(max(0, index))
        self._model_changed()

    def select(self, *, model: str | None = None, profile: str | None = None) -> None:
        """Choose a model (name or path) and a profile from outside (the command line)."""
        if profile is not None:
            index = self.profile_combo.findData(profile)
            if index >= 0:
                self.profile_combo.setCurrentIndex(index)
        if model is not None:
            if model in models.BUILTINS:
                self.model_combo.setCurrentIndex(self.model_combo.findData(model))
            else:
                self.add_model_path(str(Path(model).expanduser().resolve()))
