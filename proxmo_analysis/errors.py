"""proxmo's own error for bad user input: the CLI prints it as one line (``proxmo CMD: error: ...``).

It subclasses ``ValueError`` so callers that already catch ``ValueError`` keep working.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input (an argument, a config value, a file) named with what is wrong and where."""


class InputTypeError(InputError, TypeError):
    """Bad input of the wrong kind (a column's dtype, a setting's type). Also a TypeError, for callers that
    catch that; the CLI prints it as one line like any InputError."""


class InputKeyError(InputError, KeyError):
    """Bad input that lacks a needed key or column. Also a KeyError, for callers that catch that."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
