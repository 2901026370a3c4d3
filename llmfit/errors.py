"""One error hierarchy: each error knows its CLI exit code and HTTP status."""

from __future__ import annotations


class LlmfitError(Exception):
    """Base of every error llmfit raises on purpose."""

    exit_code = 1
    http_status = 500


class UsageError(LlmfitError):
    """A bad option, query parameter or override value from the user."""

    exit_code = 2
    http_status = 400


class CatalogError(LlmfitError):
    """A catalog file or row that breaks the schema."""

    exit_code = 1
    http_status = 500


class NotFoundError(LlmfitError):
    """Something asked for by name does not exist."""

    exit_code = 1
    http_status = 404
