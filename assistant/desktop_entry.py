"""Put Mneme into a Linux desktop's application menu, and take it out again.

People who install with pip or pipx get a ``mneme`` command but no menu entry.
``mneme --install-desktop-entry`` writes a freedesktop ``.desktop`` file and the
app icon into the user's own XDG folders (``$XDG_DATA_HOME``, normally
``~/.local/share``), pointing at the ``mneme`` of the interpreter that runs
this, so the entry opens the same installation. Nothing outside the user's
data home is touched and no root is needed. Running it again rewrites nothing
that is already right; ``--uninstall-desktop-entry`` removes only what it
wrote (the ``.desktop`` file carries a marker line, the icons carry the app id).

The text of the entry is made in one place, :func:`desktop_file_text`;
``packaging/linux/`` holds the same entry with a plain ``Exec=mneme`` for
distribution packages, and a test keeps the two equal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

APP_ID = "org.mneme.Mneme"
"""Reverse-DNS id: the .desktop file's name, the icon's name, the AppStream id."""
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
MARKER = "# Written by mneme --install-desktop-entry; mneme --uninstall-desktop-entry removes it."

_ENTRY = """\
[Desktop Entry]
Type=Application
Version=1.4
Name=Mneme
GenericName=Offline Assistant
Comment=An offline assistant with a lifelong, editable memory
Exec={exec_line}
{try_exec}Icon={app_id}
Terminal=false
Categories=Utility;
Keywords=assistant;chat;memory;AI;LLM;offline;
StartupNotify=true
StartupWMClass=Mneme
"""


class DesktopEntryError(OSError):
    """The entry could not be written or removed; the message says why."""


@dataclass(frozen=True, slots=True)
class Change:
    """What one install or uninstall did, path by path."""

    changed: tuple[Path, ...]
    """Files written or removed."""
    unchanged: tuple[Path, ...]
    """Files that were already right (install) or were not ours to remove (uninstall)."""


def data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` when it is unset or not absolute (XDG spec)."""
    configured = os.environ.get("XDG_DATA_HOME", "")
    if configured and os.path.isabs(configured):
        return Path(configured)
    return Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """The command that opens this installation of Mneme.

    A frozen bundle is its own launcher (an AppImage is the file named by
    ``$APPIMAGE``, not its temporary mount); otherwise the ``mneme`` script beside
    this interpreter (a venv's or pipx's ``bin``), then one on ``PATH``, then
    ``python -m mneme.ui``.
    """
    if getattr(sys, "frozen", False):
        return [os.environ.get("APPIMAGE") or sys.executable]
    beside = Path(sys.executable).parent / "mneme"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("mneme")
    if found:
        return [found]
    return [sys.executable, "-m", "mneme.ui"]


_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def _string_value(text: str) -> str:
    """A desktop-entry string value: a backslash is written as two."""
    return text.replace("\\", "\\\\")


def _exec_argument(arg: str) -> str:
    """Quote one argument for an ``Exec`` key (Desktop Entry spec, "The Exec key").

    Arguments with reserved characters go in double quotes with ``"`` `` ` `` ``$``
    and ``\\`` backslash-escaped; ``%`` is doubled. The key's value is then a
    string, whose own escaping doubles each backslash again.
    """
    arg = arg.replace("%", "%%")
    if arg and not (set(arg) & _RESERVED):
        quoted = arg
    else:
        inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        quoted = f'"{inner}"'
    return _string_value(quoted)


def desktop_file_text(command: Sequence[str], *, marker: bool = False) -> str:
    """The ``.desktop`` entry that runs ``command``.

    An absolute program also gets ``TryExec``, so menus hide the entry once that
    installation is gone instead of showing one that fails.
    """
    if not command:
        raise ValueError("the command must name a program")
    exec_line = " ".join(_exec_argument(a) for a in command)
    program = command[0]
    # TryExec is a plain string value (a path, no Exec quoting): only backslashes escape.
    try_exec = f"TryExec={_string_value(program)}\n" if os.path.isabs(program) else ""
    text = _ENTRY.format(exec_line=exec_line, try_exec=try_exec, app_id=APP_ID)
    return f"{MARKER}\n{text}" if marker else text


def desktop_file_path(home: Path | None = None) -> Path:
    return (home or data_home()) / "applications" / f"{APP_ID}.desktop"


def _icon_targets(home: Path) -> dict[str, Path]:
    """Bundled icon file name -> where the hicolor theme wants it."""
    theme = home / "icons" / "hicolor"
    targets = {f"mneme-{n}.png": theme / f"{n}x{n}" / "apps" / f"{APP_ID}.png" for n in ICON_SIZES}
    targets["mneme.svg"] = theme / "scalable" / "apps" / f"{APP_ID}.svg"
    return targets


def icon_files() -> list[Path]:
    """The bundled icon files (PNG sizes, then the SVG), e.g. for a window icon."""
    folder = resources.files("mneme.assistant") / "icons"
    names = [f"mneme-{n}.png" for n in ICON_SIZES] + ["mneme.svg"]
    return [Path(str(folder / name)) for name in names if (folder / name).is_file()]


def _write_if_different(path: Path, data: bytes, mode: int) -> bool:
    """Atomically write ``data`` unless the file already holds it; True if written."""
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            if path.stat().st_mode & 0o777 != mode:
                path.chmod(mode)
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    temporary.chmod(mode)  # menus run as the user, but icon caches may be read by others
    os.replace(temporary, path)
    return True


def install(home: Path | None = None, command: Sequence[str] | None = None) -> Change:
    """Write the entry and the icons under ``home`` (default: the XDG data home)."""
    home = home or data_home()
    icons = resources.files("mneme.assistant") / "icons"
    wanted: list[tuple[Path, bytes, int]] = [
        (
            desktop_file_path(home),
            desktop_file_text(command or launcher_command(), marker=True).encode(),
            0o644,
        )
    ]
    for name, target in _icon_targets(home).items():
        source = icons / name
        if not source.is_file():
            raise DesktopEntryError(f"the icon {name} is missing from this installation")
        wanted.append((target, source.read_bytes(), 0o644))
    changed: list[Path] = []
    unchanged: list[Path] = []
    try:
        for path, data, mode in wanted:
            (changed if _write_if_different(path, data, mode) else unchanged).append(path)
    except OSError as exc:
        raise DesktopEntryError(
            f"could not write {exc.filename or home}: {exc.strerror or exc}"
        ) from exc
    return Change(tuple(changed), tuple(unchanged))


def uninstall(home: Path | None = None) -> Change:
    """Remove what :func:`install` wrote; a same-named entry someone else wrote stays."""
    home = home or data_home()
    removed: list[Path] = []
    kept: list[Path] = []
    entry = desktop_file_path(home)
    candidates = list(_icon_targets(home).values())
    try:
        text = entry.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = None
    except OSError as exc:
        raise DesktopEntryError(f"could not read {entry}: {exc.strerror or exc}") from exc
    if text is not None and text.startswith(MARKER):
        candidates.insert(0, entry)
    elif text is not None:
        kept.append(entry)
    try:
        for path in candidates:
            if path.exists():
                path.unlink()
                removed.append(path)
    except OSError as exc:
        raise DesktopEntryError(f"could not remove {exc.filename}: {exc.strerror or exc}") from exc
    return Change(tuple(removed), tuple(kept))


def run(*, remove: bool = False, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """What ``mneme --install-desktop-entry`` / ``--uninstall-desktop-entry`` do: 0 if done."""
    out = out or sys.stdout
    err = err or sys.stderr
    if sys.platform in ("win32", "darwin"):
        err.write(
            "Desktop entries are for Linux and other freedesktop desktops; on Windows and "
            "macOS, install Mneme with its installer to get it in the menu.\n"
        )
        return 2
    try:
        change = uninstall() if remove else install()
    except DesktopEntryError as exc:
        err.write(f"{exc}\n")
        return 1
    entry = desktop_file_path()
    if remove:
        if change.changed:
            out.write(f"Removed Mneme from the application menu ({len(change.changed)} files).\n")
        else:
            out.write("Mneme was not in the application menu; nothing to remove.\n")
        if entry in change.unchanged:
            out.write(f"Kept {entry}: it was not written by Mneme.\n")
    elif change.changed:
        out.write(
            f"Added Mneme to the application menu: {entry}\n"
            f"It opens: {' '.join(launcher_command())}\n"
        )
    else:
        out.write(f"Mneme is already in the application menu: {entry}\n")
    return 0
