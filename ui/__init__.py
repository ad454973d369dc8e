"""The Qt desktop app. It shows and commands; the work happens in ``assistant`` and ``memory``."""
