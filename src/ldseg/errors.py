"""Errors that the CLI reports as one line, without a traceback."""


class LDSegError(Exception):
    """A problem with the user's input, configuration or run folder; the message names the file."""


class DataError(LDSegError):
    """An input file or folder that cannot be used: unreadable, mismatched or mislabelled."""


class RunFolderError(LDSegError):
    """A run folder that is missing files, has an invalid config or unsafe weights."""
