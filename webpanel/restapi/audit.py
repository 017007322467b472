"""The API's own audit entry for every write (api.<action>): the token's user as actor, the
token's id, the method and path, and the remote address; in the write's transaction (it
commits or rolls back with the change). The service the endpoint calls writes its usual entry
too (admin.account_status, forwarding.step1, ...)."""

from __future__ import annotations

from typing import Any

from flask import request

from db.audit import audit
from webpanel.database import db
from webpanel.restapi import auth


def api_audit(
    action: str,
    *,
    account_id: int | None,
    obj: Any = None,
    object_type: str = "",
    object_id: int | str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    caller = auth.caller()
    audit(
        db(),
        f"api.{action}",
        actor=auth.actor(),
        account_id=account_id,
        obj=obj,
        object_type=object_type,
        object_id=object_id,
        details={
            "token_id": caller.token_id,
            "scope": caller.scope,
            "method": request.method,
            "path": request.path,
            **(details or {}),
        },
        remote_addr=auth.remote(),
    )
