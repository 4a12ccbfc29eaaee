"""Typed errors; the CLI and the GUI turn them into words at their edge."""


class ClinidocError(Exception):
    """Base of every error clinidoc raises on purpose."""

    exit_code = 1


class InputError(ClinidocError):
    """An input file is missing, unreadable or not what it claims to be."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None):
        super().__init__(message)
        self.file = file

    def __str__(self) -> str:
        msg = super().__str__()
        return f"{self.file}: {msg}" if self.file else msg


class NoSpeech(InputError):
    """Audio decoded fine but holds no speech."""


class ModelMissing(ClinidocError):
    """A model file for a role could not be found."""


class Cancelled(ClinidocError):
    """The user cancelled a long-running step."""
