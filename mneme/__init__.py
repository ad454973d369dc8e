"""Mneme, installed: one import name for the whole application.

The source folders stay at the repository's top level (``memory/``,
``assistant/``, ``ui/``); in a checkout, ``mneme/memory`` and its siblings are
symbolic links to them, and a built wheel holds real copies. Everything imports
as ``mneme.memory``, ``mneme.assistant`` and ``mneme.ui``, so an installed Mneme
claims the one top-level name ``mneme`` and never collides with another
distribution's ``memory`` or ``ui`` package.
"""
