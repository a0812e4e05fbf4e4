"""The one exception root of sedse.

`SedseError` is raised for every failure sedse itself detects. `SpecError` is the
subclass for bad user input (YAML files, CLI arguments, mappings); its message is one
line of the form ``file: key.path: what was expected, what was found``.
"""

from __future__ import annotations


class SedseError(Exception):
    """Root of every error sedse raises on purpose."""


class SpecError(SedseError):
    """Bad user input: a malformed or inconsistent spec, mapping or argument."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)

    def __reduce__(self):
        # picklable (a search in a worker process hands its MappingError back)
        return (type(self), (self.where, self.message))


class MappingError(SpecError):
    """A mapping that does not fit the layer or the accelerator."""


class InvalidValue(SpecError, ValueError):
    """A value type refused its fields (e.g. a `Layer` with a zero dim or beyond the
    64-bit bound). Also a ValueError, so loaders that wrap ValueErrors keep working."""

    def __init__(self, message: str) -> None:
        super().__init__("", message)

    def __reduce__(self):
        return (type(self), (self.message,))
