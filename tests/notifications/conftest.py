from __future__ import annotations

from tests.support.smtp import smtp_server  # noqa: F401
