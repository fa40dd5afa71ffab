"""proxmo's own error for bad user input: the CLI prints it as one line (``proxmo CMD: error: ...``).

It subclasses ``ValueError`` so callers that already catch ``ValueError`` keep working.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input (an argument, a config value, a file) named with what is wrong and where."""
