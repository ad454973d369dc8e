"""Build Mneme's installable bundle for this platform, and prove it works.

    python packaging/build.py [--skip-build] [--no-smoke] [--no-archive] [--clean]

Steps, each of which stops the build when it fails:

1. check the packaging files agree with pyproject.toml (versions; the desktop
   entry equals what ``mneme --install-desktop-entry`` writes; the Windows
   version resource parses; desktop-file-validate and appstreamcli pass when
   they are installed);
2. run PyInstaller on ``packaging/mneme.spec`` at low CPU priority (one-folder
   bundle in ``dist/mneme/``, work folder ``build/pyinstaller/``);
3. run the smoke test (``packaging/smoke.py``) on the frozen programs;
4. on Linux, pack ``dist/mneme-<version>-linux-<arch>.tar.gz``;
5. print, and write to ``dist/build-report.json``: build time, bundle size and
   its largest parts, start times and the smoke test's results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
BUNDLE = DIST / "mneme"
sys.path.insert(0, str(HERE))

from smoke import SmokeFailure, run_smoke  # noqa: E402


class BuildError(RuntimeError):
    pass


def project_version() -> str:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version: str = data["project"]["version"]
    return version


def _windows_version_resource() -> tuple[tuple[int, ...], dict[str, str]]:
    """Parse packaging/windows/version_info.txt the way PyInstaller will on Windows."""
    # The module imports two Windows-only names at the top; neither is used to parse.
    sys.modules.setdefault("pefile", types.ModuleType("pefile"))
    import PyInstaller.compat as compat

    if not hasattr(compat, "win32api"):
        compat.win32api = None  # type: ignore[attr-defined]
    from PyInstaller.utils.win32.versioninfo import load_version_info_from_text_file

    info = load_version_info_from_text_file(str(HERE / "windows" / "version_info.txt"))
    info.toRaw()  # what PyInstaller writes into the .exe; raises if malformed
    ms, ls = info.ffi.fileVersionMS, info.ffi.fileVersionLS
    numbers = (ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF)
    strings = {s.name: s.val for s in info.kids[0].kids[0].kids}
    return numbers, strings


def check_files(version: str) -> list[str]:
    """Everything that must agree before a build is worth starting; returns notes."""
    notes: list[str] = []
    problems: list[str] = []
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    numbers, strings = _windows_version_resource()
    if numbers[:3] != parts or strings.get("FileVersion") != version:
        problems.append(f"packaging/windows/version_info.txt says {numbers}/{strings}")
    if strings.get("ProductVersion") != version:
        problems.append("packaging/windows/version_info.txt: ProductVersion differs")
    iss = (HERE / "windows" / "mneme.iss").read_text(encoding="utf-8")
    if f'#define AppVersion "{version}"' not in iss:
        problems.append("packaging/windows/mneme.iss: the default AppVersion differs")
    metainfo = (HERE / "linux" / "org.mneme.Mneme.metainfo.xml").read_text(encoding="utf-8")
    if f'<release version="{version}"' not in metainfo:
        problems.append(f"the metainfo file has no <release> for {version}")

    from mneme.assistant.desktop_entry import APP_ID, desktop_file_text

    shipped = HERE / "linux" / f"{APP_ID}.desktop"
    if shipped.read_text(encoding="utf-8") != desktop_file_text(["mneme"]):
        problems.append(f"{shipped.name} differs from assistant.desktop_entry.desktop_file_text")
    for icon in ("mneme.ico", "mneme.icns"):
        if not (HERE / "icons" / icon).is_file():
            problems.append(
                f"packaging/icons/{icon} is missing: run packaging/icons/render_icons.py"
            )

    for tool, argv in (
        ("desktop-file-validate", ["desktop-file-validate", str(shipped)]),
        (
            "appstreamcli",
            ["appstreamcli", "validate", "--no-net", str(shipped.with_suffix(".metainfo.xml"))],
        ),
    ):
        if shutil.which(tool) is None:
            notes.append(f"{tool} not installed: skipped")
            continue
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            problems.append(f"{tool}: {done.stdout}{done.stderr}")
        else:
            notes.append(f"{tool}: passed")
    if problems:
        raise BuildError("the packaging files disagree:\n  " + "\n  ".join(problems))
    return notes


def run_pyinstaller(clean: bool) -> float:
    argv = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level=WARN",
        f"--distpath={DIST}",
        f"--workpath={WORK}",
        *(["--clean"] if clean else []),
        str(HERE / "mneme.spec"),
    ]
    print("build: " + " ".join(argv), flush=True)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise BuildError(f"PyInstaller failed with exit code {done.returncode}")
    return time.perf_counter() - started


def _size(path: Path) -> int:
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def size_report(bundle: Path, top: int = 12) -> dict[str, object]:
    """The bundle's size and its largest parts (symbolic links count nothing).

    Folders under ``_internal`` are counted whole; torch's largest libraries are
    also listed on their own, so those lines overlap the ``torch`` line.
    """
    internal = bundle / "_internal"
    parts: dict[str, int] = {}
    for program in bundle.iterdir():  # each holds the compressed Python modules
        if program.is_file() and not program.is_symlink():
            parts[f"{program.name} (program + Python modules)"] = _size(program)
    for child in internal.iterdir():
        parts[child.name] = _size(child)
    # The largest libraries inside torch/ are worth naming on their own.
    torch_lib = internal / "torch" / "lib"
    if torch_lib.is_dir():
        for lib in torch_lib.iterdir():
            if lib.is_file() and not lib.is_symlink() and lib.stat().st_size > 20 * 2**20:
                parts[f"torch/lib/{lib.name}"] = lib.stat().st_size
    total = _size(bundle)
    largest = sorted(parts.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return {
        "total_mb": round(total / 2**20, 1),
        "files": sum(1 for p in bundle.rglob("*") if p.is_file()),
        "largest_mb": {name: round(size / 2**20, 1) for name, size in largest},
    }


def make_tarball(bundle: Path, version: str) -> Path:
    arch = platform.machine().lower() or "unknown"
    target = DIST / f"mneme-{version}-linux-{arch}.tar.gz"
    partial = target.with_name(target.name + ".part")
    # tar + gzip, not tarfile: the same result at the speed of the C tools.
    done = subprocess.run(
        [
            "tar",
            "-C",
            str(bundle.parent),
            "--transform",  # rename the top folder; S: leave link targets alone
            f"s,^{bundle.name},mneme-{version},S",
            "-czf",
            str(partial),
            bundle.name,
        ],
        check=False,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BuildError("tar failed")
    top = f"mneme-{version}"
    with tarfile.open(partial) as archive:  # the programs are where the README says
        wanted = {f"{top}/mneme", f"{top}/mneme-cli"}
        members = {m.name: m for m in archive if m.name in wanted}
    program, link = members.get(f"{top}/mneme"), members.get(f"{top}/mneme-cli")
    if program is None or not program.isfile() or not program.mode & 0o100:
        raise BuildError(f"{partial.name} does not hold the program {top}/mneme")
    if link is None or not link.issym() or link.linkname != "mneme":
        raise BuildError(f"{partial.name}: {top}/mneme-cli is not a link to mneme")
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-build", action="store_true", help="reuse dist/mneme as it is")
    parser.add_argument("--no-smoke", action="store_true", help="do not run the smoke test")
    parser.add_argument("--no-archive", action="store_true", help="do not pack the tarball")
    parser.add_argument("--clean", action="store_true", help="ignore PyInstaller's cache")
    args = parser.parse_args(argv)
    with contextlib.suppress(AttributeError, OSError):
        os.nice(10)  # two shared cores: the build must not starve anyone else
    version = project_version()
    report: dict[str, object] = {"version": version, "platform": platform.platform()}
    try:
        report["checks"] = check_files(version)
        for note in report["checks"]:  # type: ignore[attr-defined]
            print(f"check: {note}")
        if not args.skip_build:
            seconds = run_pyinstaller(args.clean)
            report["build_s"] = round(seconds, 1)
            print(f"build: PyInstaller took {seconds:.0f} s", flush=True)
        if not BUNDLE.is_dir():
            raise BuildError(f"{BUNDLE} does not exist")
        report["size"] = size_report(BUNDLE)
        print(f"size: {json.dumps(report['size'], indent=1)}", flush=True)
        if not args.no_smoke:
            smoke = run_smoke(BUNDLE)
            report["smoke"] = {
                "steps": smoke.steps,
                "timings": smoke.timings,
                "gui": smoke.gui,
                "cli_reply": smoke.cli_reply,
            }
        if sys.platform.startswith("linux") and not args.no_archive:
            started = time.perf_counter()
            archive = make_tarball(BUNDLE, version)
            report["archive"] = {
                "path": str(archive.relative_to(ROOT)),
                "mb": round(archive.stat().st_size / 2**20, 1),
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(f"archive: {report['archive']}", flush=True)
    except (BuildError, SmokeFailure) as exc:
        print(f"dist FAILED: {exc}", file=sys.stderr)
        return 1
    DIST.mkdir(exist_ok=True)
    (DIST / "build-report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"dist: done; report in {(DIST / 'build-report.json').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
