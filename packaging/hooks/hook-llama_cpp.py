"""llama-cpp-python: its C libraries, where it looks for them.

``llama_cpp/llama_cpp.py`` and ``_ggml.py`` load ``libllama`` and ``libggml`` with
ctypes from ``<package>/lib`` (``llama.dll`` / ``libllama.dylib`` elsewhere), not
through the import system, so PyInstaller's analysis never sees them and a
frozen app fails with "Shared library with base name 'llama' not found".
They are collected here to ``llama_cpp/lib`` in the bundle. On Linux the
loader then needs each library's soname (``libggml.so.0``...): the files are
copies, not symlinks, so the plain ``.so`` and the ``.so.<major>`` are taken
and the fully versioned duplicates left out.
"""

from PyInstaller.utils.hooks import PY_DYLIB_PATTERNS, collect_dynamic_libs

binaries = collect_dynamic_libs("llama_cpp", search_patterns=[*PY_DYLIB_PATTERNS, "lib*.so.?"])

# The OpenAI-compatible server needs FastAPI and uvicorn; Mneme only talks to
# such servers over HTTP and never runs one from the app.
excludedimports = ["llama_cpp.server"]
