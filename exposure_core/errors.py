"""The one error type for mistakes a user can fix: every ``prep`` command prints it and exits 2.

Library code raises a ``UserError`` (or a subclass) whose message names the file, key or flag
at fault and the reason; the CLI turns it into ``error: <message>`` and exit code 2, never a
traceback. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input, params or flags: the message says which and why."""

    exit_code = 2


class StrictError(UserError):
    """Raised under ``--strict`` at the first unusable input."""

    exit_code = 1


class EngineError(UserError):
    """The engine cannot run the work: Ray missing, its cluster unreachable or lost."""

    exit_code = 1
