"""What can go wrong in a training cycle, each with a message a user can act on."""

from __future__ import annotations


class TrainingError(Exception):
    """A training cycle or a registry operation could not be done; nothing was changed."""


class TooLittleCode(TrainingError):
    """The workspace has too few files to hold some out and still learn from the rest."""


class NoTrainingData(TrainingError):
    """Every file was filtered out (loss filter, held out, retired): nothing left to learn from."""


class CycleBusy(TrainingError):
    """Another training cycle is running for the same workspace."""


class TrainerFailed(TrainingError):
    """The trainer or evaluator subprocess crashed, was killed, or reported an error."""


class Cancelled(TrainingError):
    """The cycle was cancelled (SIGTERM to the trainer); its checkpoint is kept for the next run."""


class RegistryError(TrainingError):
    """An unknown adapter version, or nothing to roll back to."""
