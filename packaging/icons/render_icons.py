"""Render the app icon from its SVG into every raster form a platform wants.

The SVG (``assistant/icons/mneme.svg``) is the only source. This writes, and the
results are committed so that no build needs Qt's SVG renderer or Pillow:

- ``assistant/icons/mneme-<N>.png`` for the freedesktop hicolor sizes (package
  data: ``mneme --install-desktop-entry`` copies them into the icon theme);
- ``packaging/icons/mneme.ico`` for Windows (PNG-compressed entries, Vista+);
- ``packaging/icons/mneme.icns`` for macOS (PNG-compressed entries, 10.7+).

Both container formats are written here by hand: they are a small header and a
table of PNG blobs, and doing it here keeps Pillow out of the build.

    .venv/bin/python packaging/icons/render_icons.py
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SVG = ROOT / "assistant" / "icons" / "mneme.svg"
PNG_DIR = ROOT / "assistant" / "icons"
OUT_DIR = Path(__file__).resolve().parent

# Sizes of the freedesktop hicolor theme that desktops actually look up.
HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# Apple's PNG-capable icns element types and their pixel sizes.
ICNS_TYPES = (
    (b"icp4", 16),
    (b"icp5", 32),
    (b"icp6", 64),
    (b"ic07", 128),
    (b"ic08", 256),
    (b"ic09", 512),
    (b"ic10", 1024),  # 512@2x
    (b"ic11", 32),  # 16@2x
    (b"ic12", 64),  # 32@2x
    (b"ic13", 256),  # 128@2x
    (b"ic14", 512),  # 256@2x
)


def render_png(size: int) -> bytes:
    """The SVG drawn at ``size`` x ``size`` pixels, as PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SVG}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; only str works
    buffer.close()
    return bytes(data.data())


def ico(pngs: dict[int, bytes]) -> bytes:
    """An ICO file whose images are PNG blobs (ICONDIR + ICONDIRENTRY table)."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    table, blobs = b"", b""
    for size in sizes:
        blob = pngs[size]
        edge = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        table += struct.pack("<BBBBHHII", edge, edge, 0, 0, 1, 32, len(blob), offset)
        offset += len(blob)
        blobs += blob
    return header + table + blobs


def icns(pngs: dict[int, bytes]) -> bytes:
    """An ICNS file: 'icns', total length, then (type, length, PNG) elements."""
    body = b""
    for kind, size in ICNS_TYPES:
        blob = pngs[size]
        body += kind + struct.pack(">I", len(blob) + 8) + blob
    return b"icns" + struct.pack(">I", len(body) + 8) + body


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    wanted = set(HICOLOR_SIZES) | set(ICO_SIZES) | {size for _, size in ICNS_TYPES}
    pngs = {size: render_png(size) for size in sorted(wanted)}
    for size in HICOLOR_SIZES:
        (PNG_DIR / f"mneme-{size}.png").write_bytes(pngs[size])
    (OUT_DIR / "mneme.ico").write_bytes(ico({s: pngs[s] for s in ICO_SIZES}))
    (OUT_DIR / "mneme.icns").write_bytes(icns(pngs))
    print(f"wrote {len(HICOLOR_SIZES)} PNGs to {PNG_DIR}, mneme.ico and mneme.icns to {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
