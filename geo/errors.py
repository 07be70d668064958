"""Exceptions raised by ElderMap.

Every error subclasses :class:`ElderMapError` and, where it fits, the builtin
exception a Python caller would expect (``ValueError``, ``FileNotFoundError``),
so ``except ValueError`` still works.

Messages are for the people who caused the problem: civil-affairs staff and
planners. ``str(error)`` is the Simplified Chinese message shown in the app and
the CLI; ``error.en`` is the English text written to logs.
"""

from __future__ import annotations


class ElderMapError(Exception):
    """Base class of all ElderMap errors.

    Parameters
    ----------
    zh
        Message for users, in Simplified Chinese: what was received, what is
        allowed, and how to fix it.
    en
        The same in English, for logs. Defaults to ``zh``.
    """

    def __init__(self, zh: str, en: str | None = None) -> None:
        super().__init__(zh)
        self.zh = zh
        self.en = en if en is not None else zh


class SettingsError(ElderMapError, ValueError):
    """A settings file or value is invalid."""


class InputFileError(ElderMapError, ValueError):
    """An input file cannot be read as a whole (format, encoding, missing columns)."""


class NoCrsError(ElderMapError, ValueError):
    """Geometry arrived without a coordinate reference system."""


class UnknownCrsError(ElderMapError, ValueError):
    """A coordinate system name is not one ElderMap knows."""


class InvalidNameError(ElderMapError, ValueError):
    """A region, scenario or account name breaks its naming rule (data.vocab)."""


class RegionNotFoundError(ElderMapError, FileNotFoundError):
    """A region folder does not exist."""


class ManifestError(ElderMapError, ValueError):
    """A region's manifest does not match its files."""


class RoadNetworkError(ElderMapError, ValueError):
    """A road network source cannot be read or is empty."""


class PlanningInputError(ElderMapError, ValueError):
    """Arguments to a planning computation are inconsistent or out of range."""


class NetworkError(ElderMapError, ValueError):
    """A travel network cannot be built (no usable roads for the mode)."""


class ScenarioError(ElderMapError, ValueError):
    """A planning scenario cannot be saved, found, read or applied."""
