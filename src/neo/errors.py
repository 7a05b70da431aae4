"""Errors that reach the user as one line (the CLI prints `error: <message>` and exits non-zero)."""

from __future__ import annotations


class NeoError(Exception):
    """Base class: anything the user can act on. str(err) is a complete one-line message."""

    exit_code = 2


class ConfigError(NeoError):
    """Bad settings (neo.toml, NEO_* variables) or a missing token."""


class UsageError(NeoError):
    """Bad command-line input that the argument parser could not catch (e.g. a malformed --param)."""


class SchemaError(NeoError):
    """A batch that cannot be cast to its dataset's declared schema."""
