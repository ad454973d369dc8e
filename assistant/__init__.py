"""Everything between the memory engine and the window: models, prompts, chat, settings, CLI.

Never imports Qt, so all of it runs and is tested headless.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mneme")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
