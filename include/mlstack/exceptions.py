"""The one error hierarchy of mlstack: every error says what is wrong and what to do."""

from __future__ import annotations


class MlstackError(Exception):
    """Base class of every error mlstack raises on purpose."""


class SettingsError(MlstackError):
    """A setting is missing or has a value that cannot work."""


class SpecError(MlstackError):
    """A use-case spec (usecase.yaml) is invalid: names the file, field and what is allowed."""


class PluginError(MlstackError):
    """A plugin name is unknown, or a plugin could not be loaded."""


class SourceError(MlstackError):
    """A source could not deliver a day's data (missing, empty or unreadable file)."""


class SchemaError(MlstackError):
    """Incoming data breaks the spec's schema as a whole (missing column, changed type)."""


class InvalidInput(MlstackError):
    """Rows or values do not satisfy the spec (or a statistic's input is unusable)."""


class DatasetNotFound(MlstackError):
    """A dataset or dataset version is not in the catalog."""


class TrainingError(MlstackError):
    """Training cannot produce a meaningful model (no rows in a window, one class, ...)."""


class NotEnoughData(TrainingError):
    """Too little (labelled) data to train yet: a scheduled run skips, a requested one fails."""


class ModelNotFound(MlstackError):
    """A registered model, version or alias does not exist in the model registry."""


class PromotionRefused(MlstackError):
    """A promotion, override or rollback was refused; the message gives the reason."""


class RolloutError(MlstackError):
    """A rollout cannot start, continue or stop as asked; the message says why."""


class NoModelServed(MlstackError, LookupError):
    """The gateway has no champion loaded for a use case (none registered, or not loaded yet)."""


class ApiKeyError(MlstackError):
    """A gateway API key cannot be created or revoked as asked (unknown id, bad scope, ...)."""


class ModelIntegrityError(MlstackError):
    """A model version's files do not match the digest mlstack recorded for it, or it has no
    recorded digest (registered or aliased outside mlstack): it is not loaded."""


class BackupError(MlstackError):
    """A backup or restore cannot go on: a dump failed, a file does not match the manifest,
    the target stack is not empty, or a restored stack misses what its records name."""


class StopRun(MlstackError):
    """Raised by a use case's extra task (a ``tasks`` plugin) to stop the DAG run it is in:
    the message is the reason, shown on the failed task; nothing downstream runs."""
