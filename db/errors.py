"""The one error a data or service function raises for bad input."""

from __future__ import annotations


class ServiceError(ValueError):
    """Bad input: the message is safe to show to the user."""


class FieldErrors(ServiceError):
    """Bad input on several fields at once; `errors` maps each form field to its messages so
    the page can show every problem next to its field in one round trip (issue 16)."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(" ".join(m for msgs in errors.values() for m in msgs))
