"""The service_numbers table (controller/rules/service_numbers.py): the operator's list of the
platform's own numbers, and the changes an admin makes to it, each audited. The outbound route
reads it in its one statement (db.calls.CONTEXT_SQL); a change counts from the next call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from controller.rules import service_numbers as rules
from db.audit import audit
from db.errors import ServiceError
from db.models import ServiceNumber, User

# the list's order: the built-in services as the README names them, then the operator's own
_ORDER = case({service: i for i, service in enumerate(rules.SERVICES)}, value=ServiceNumber.service)


def listing(session: Session) -> list[ServiceNumber]:
    return list(session.scalars(select(ServiceNumber).order_by(_ORDER, ServiceNumber.number)))


def find(session: Session, number: str) -> ServiceNumber | None:
    return session.scalar(select(ServiceNumber).where(ServiceNumber.number == number))


def default_target(session: Session, service: str) -> str | None:
    """Where a new number of a built-in service goes when the admin names no target: where the
    service's first number goes (its entry in [incoming]); None for `other` or a service with no
    number yet."""
    if service == rules.OTHER:
        return None
    return session.scalar(
        select(ServiceNumber.target)
        .where(ServiceNumber.service == service)
        .order_by(ServiceNumber.id)
        .limit(1)
    )


def _check(number: str, service: str, target: str, description: str) -> None:
    """The last guard (the panel checks first, with messages in the admin's language)."""
    if not rules.valid_number(number):
        raise ServiceError("A service number is 3 to 15 digits.")
    if service not in rules.SERVICES:
        raise ServiceError(f"Unknown service {service!r}.")
    if not rules.valid_target(target):
        raise ServiceError("A target is context,extension,priority in [incoming] or an admin-... context.")
    if len(description) > rules.MAX_DESCRIPTION:
        raise ServiceError(f"A description has at most {rules.MAX_DESCRIPTION} characters.")


def add(
    session: Session,
    admin: User,
    *,
    number: str,
    service: str,
    target: str,
    description: str = "",
    remote_addr: str = "",
) -> ServiceNumber:
    _check(number, service, target, description)
    if find(session, number) is not None:
        raise ServiceError(f"Service number {number} already exists.")
    row = ServiceNumber(number=number, service=service, target=target, description=description)
    session.add(row)
    session.flush()
    audit(
        session,
        "admin.service_number_add",
        actor=admin,
        obj=row,
        details={"number": number, "service": service, "target": target},
        remote_addr=remote_addr,
    )
    return row


def update(
    session: Session,
    admin: User,
    row: ServiceNumber,
    *,
    target: str,
    description: str,
    enabled: bool,
    remote_addr: str = "",
) -> None:
    _check(row.number, row.service, target, description)
    changes: dict[str, Any] = {
        name: value
        for name, value in (("target", target), ("description", description), ("enabled", enabled))
        if getattr(row, name) != value
    }
    if not changes:
        return
    for name, value in changes.items():
        setattr(row, name, value)
    session.flush()
    audit(
        session,
        "admin.service_number_update",
        actor=admin,
        obj=row,
        details={"number": row.number, **changes},
        remote_addr=remote_addr,
    )
