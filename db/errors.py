"""The one error a data or service function raises for bad input."""

from __future__ import annotations


class ServiceError(ValueError):
    """Bad input: the message is safe to show to the user."""
