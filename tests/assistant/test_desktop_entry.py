"""`mneme --install-desktop-entry`: real files in a temporary XDG data home."""

from __future__ import annotations

import io
import os
import shutil
import stat
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mneme.assistant import desktop_entry
from mneme.assistant.desktop_entry import (
    APP_ID,
    ICON_SIZES,
    MARKER,
    desktop_file_path,
    desktop_file_text,
    icon_files,
    install,
    launcher_command,
    run,
    uninstall,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    return data


@pytest.fixture
def private_umask() -> Iterator[None]:
    """The app runs with umask 077; the entry must still be readable by the desktop."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _entry_keys(text: str) -> dict[str, str]:
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "[Desktop Entry]"
    return dict(ln.split("=", 1) for ln in lines[1:])


def test_install_writes_entry_and_every_icon(home: Path, private_umask: None) -> None:
    change = install(command=["/opt/mneme/mneme"])

    entry = home / "applications" / f"{APP_ID}.desktop"
    text = entry.read_text(encoding="utf-8")
    assert text.startswith(MARKER + "\n")
    keys = _entry_keys(text)
    assert keys["Exec"] == "/opt/mneme/mneme"
    assert keys["TryExec"] == "/opt/mneme/mneme"
    assert keys["Icon"] == APP_ID
    assert keys["Type"] == "Application"
    assert keys["Terminal"] == "false"
    for size in ICON_SIZES:
        png = home / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert _png_size(png) == (size, size)
    svg = home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    assert svg.read_bytes().lstrip().startswith(b"<?xml")
    assert len(change.changed) == 1 + len(ICON_SIZES) + 1
    assert change.unchanged == ()
    for path in change.changed:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert not list(home.rglob(".*.tmp")), "no temporary files are left behind"


def test_install_twice_changes_nothing(home: Path) -> None:
    first = install(command=["/opt/mneme/mneme"])
    stamps = {p: p.stat().st_mtime_ns for p in first.changed}

    second = install(command=["/opt/mneme/mneme"])

    assert second.changed == ()
    assert set(second.unchanged) == set(first.changed)
    assert {p: p.stat().st_mtime_ns for p in first.changed} == stamps


def test_install_repairs_only_what_differs(home: Path) -> None:
    install(command=["/opt/mneme/mneme"])
    damaged = home / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png"
    damaged.write_bytes(b"not a png")

    moved = install(command=["/somewhere/else/mneme"])

    assert set(moved.changed) == {damaged, desktop_file_path(home)}
    assert _png_size(damaged) == (48, 48)
    assert "Exec=/somewhere/else/mneme" in desktop_file_path(home).read_text()


def test_uninstall_removes_what_install_wrote_and_nothing_else(home: Path) -> None:
    written = install(command=["/opt/mneme/mneme"]).changed
    neighbour = home / "applications" / "other.desktop"
    neighbour.write_text("[Desktop Entry]\nName=Other\n")
    other_icon = home / "icons" / "hicolor" / "48x48" / "apps" / "other.png"
    other_icon.write_bytes(b"x")

    removed = uninstall()

    assert set(removed.changed) == set(written)
    assert not any(p.exists() for p in written)
    assert neighbour.exists() and other_icon.exists()
    assert uninstall().changed == (), "a second uninstall finds nothing to do"


def test_uninstall_keeps_an_entry_someone_else_wrote(home: Path) -> None:
    entry = desktop_file_path(home)
    entry.parent.mkdir(parents=True)
    entry.write_text("[Desktop Entry]\nName=Mneme (packaged by my distribution)\n")

    change = uninstall()

    assert entry.exists()
    assert change.unchanged == (entry,)


def test_exec_quotes_spaces_and_reserved_characters() -> None:
    text = desktop_file_text(["/opt/my apps/mneme", "--home", '/data/$HOME "x" 100%'])
    keys = _entry_keys(text)
    # Spec: quoted arguments escape " ` $ \ with a backslash, % is doubled, and the
    # whole value then doubles each backslash as a string value.
    assert keys["Exec"] == '"/opt/my apps/mneme" --home "/data/\\\\$HOME \\\\"x\\\\" 100%%"'
    assert keys["TryExec"] == "/opt/my apps/mneme"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils")
def test_written_entries_pass_desktop_file_validate(home: Path) -> None:
    install(command=["/opt/my apps/mneme", "--home", "/data/$HOME 100%"])
    done = subprocess.run(
        ["desktop-file-validate", str(desktop_file_path(home))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_relative_command_has_no_try_exec() -> None:
    assert "TryExec" not in desktop_file_text(["mneme"])
    with pytest.raises(ValueError):
        desktop_file_text([])


def test_packaged_desktop_file_is_the_same_entry() -> None:
    shipped = ROOT / "packaging" / "linux" / f"{APP_ID}.desktop"
    assert shipped.read_text(encoding="utf-8") == desktop_file_text(["mneme"])


def test_data_home_follows_xdg_and_ignores_relative_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert desktop_entry.data_home() == tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/path")
    assert desktop_entry.data_home() == tmp_path / ".local" / "share"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert desktop_entry.data_home() == tmp_path / ".local" / "share"


def test_launcher_is_the_mneme_beside_this_interpreter() -> None:
    beside = Path(sys.executable).parent / "mneme"
    if not beside.is_file():
        pytest.skip("mneme is not installed beside this interpreter")
    assert launcher_command() == [str(beside)]


def test_launcher_in_a_frozen_bundle_is_the_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/mneme/mneme")
    monkeypatch.delenv("APPIMAGE", raising=False)
    assert launcher_command() == ["/opt/mneme/mneme"]
    monkeypatch.setenv("APPIMAGE", "/home/a/Apps/Mneme.AppImage")
    assert launcher_command() == ["/home/a/Apps/Mneme.AppImage"]


def test_launcher_falls_back_to_python_dash_m_ui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = tmp_path / "bin" / "python"
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert launcher_command() == [str(python), "-m", "mneme.ui"]


def test_icon_files_are_the_bundled_sizes() -> None:
    files = icon_files()
    assert [p.name for p in files] == [f"mneme-{n}.png" for n in ICON_SIZES] + ["mneme.svg"]
    assert all(p.is_file() for p in files)


def test_run_reports_in_sentences(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    out, err = io.StringIO(), io.StringIO()
    assert run(out=out, err=err) == 0
    assert "Added Mneme to the application menu" in out.getvalue()
    assert desktop_file_path(home).exists()

    out = io.StringIO()
    assert run(out=out, err=err) == 0
    assert "already in the application menu" in out.getvalue()

    out = io.StringIO()
    assert run(remove=True, out=out, err=err) == 0
    assert "Removed Mneme from the application menu" in out.getvalue()
    assert not desktop_file_path(home).exists()
    assert err.getvalue() == ""


def test_run_explains_failure_without_a_traceback(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    home.mkdir(parents=True)
    (home / "applications").write_text("a file where a folder should be")
    out, err = io.StringIO(), io.StringIO()
    assert run(out=out, err=err) == 1
    assert "could not write" in err.getvalue()


def test_run_refuses_on_windows_and_macos(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("win32", "darwin"):
        monkeypatch.setattr(sys, "platform", name)
        err = io.StringIO()
        assert run(out=io.StringIO(), err=err) == 2
        assert "installer" in err.getvalue()
