"""User-facing errors: each says, in one line, what is wrong and how to fix it."""


class EcomtuneError(Exception):
    """Base class for errors the CLI prints as one line (no traceback unless --debug)."""


class RecipeError(EcomtuneError):
    """A recipe key is unknown, missing or has a bad value."""


class DataError(EcomtuneError):
    """Input data is unreadable or invalid (names the file, row and column)."""


class BackboneError(EcomtuneError):
    """A backbone cannot be found, installed or loaded."""


class RunDirError(EcomtuneError):
    """A run directory is missing files or has an unsupported format version."""
