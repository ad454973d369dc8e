"""Consolidation: turn piles of chat turns into summaries and facts, keep them
consistent, and let what no longer matters fade, without losing a word the
user said. Model-agnostic: it takes any :class:`ConsolidationModel`.
"""

from .._forgetting import ForgetReport
from .._jobs import Job, JobState, Run, RunAction, RunChange
from .base import (
    BadModelOutput,
    ConsolidationConfig,
    ConsolidationModel,
    ModelBusy,
    ModelUse,
    RunReport,
)
from .consolidator import Consolidator, Progress, decay_score, undo_run

__all__ = [
    "BadModelOutput",
    "ConsolidationConfig",
    "ConsolidationModel",
    "Consolidator",
    "ForgetReport",
    "Job",
    "JobState",
    "ModelBusy",
    "ModelUse",
    "Progress",
    "Run",
    "RunAction",
    "RunChange",
    "RunReport",
    "decay_score",
    "undo_run",
]
