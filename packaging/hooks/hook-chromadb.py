"""ChromaDB: the implementations it imports by name, and its data files.

``chromadb.config`` builds its components from dotted class names in strings
(``chromadb.api.rust.RustBindingsAPI``, ``chromadb.telemetry.product.posthog.Posthog``,
``chromadb.segment.impl...``), which static analysis cannot follow, so every
submodule is collected except the server, the CLI and the tests, which the app
never runs. The Rust bindings (``chromadb_rust_bindings``) are a normal
extension module and are found by analysis.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

_NEVER_RUN = ("chromadb.test", "chromadb.server", "chromadb.cli", "chromadb.app")

hiddenimports = [
    *collect_submodules("chromadb", filter=lambda name: not name.startswith(_NEVER_RUN)),
    "chromadb_rust_bindings",
]
datas = [
    *collect_data_files("chromadb", excludes=["test/**", "**/*.pyi"]),
    *copy_metadata("chromadb"),
]
