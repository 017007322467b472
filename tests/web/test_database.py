"""webpanel.database.writing: a view's write transaction, committed or rolled back as a whole.

Each test writes audit entries tagged with a fresh id in a request context and reads back,
on another session, what was committed."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from db.audit import audit
from db.errors import ServiceError
from db.models import AuditLog
from webpanel.database import db, writing


class _Refused(ServiceError):
    pass


@pytest.fixture()
def tag() -> str:
    return f"test.writing.{uuid.uuid4().hex[:12]}"


def _stored(factory, tag: str) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == tag)) or 0


def test_the_block_s_writes_are_committed_when_it_ends(app, factory, tag):
    with app.test_request_context():
        with writing():
            audit(db(), tag)
            assert _stored(factory, tag) == 0  # not before the block ends
        assert _stored(factory, tag) == 1


def test_an_exception_rolls_the_block_back_and_reaches_the_view(app, factory, tag):
    with app.test_request_context():
        with pytest.raises(ServiceError, match="refused"), writing():
            audit(db(), tag)
            raise ServiceError("refused")
        with pytest.raises(ZeroDivisionError), writing():
            audit(db(), tag)
            _ = 1 / 0
        with writing():  # the session is usable again
            pass
    assert _stored(factory, tag) == 0


def test_a_kept_refusal_commits_what_the_block_wrote_and_is_raised_all_the_same(app, factory, tag):
    with app.test_request_context():
        with pytest.raises(_Refused), writing(keep=(_Refused,)):
            audit(db(), tag)
            raise _Refused("counted")
        with pytest.raises(ServiceError), writing(keep=(_Refused,)):  # another error: rolled back
            audit(db(), tag)
            raise ServiceError("not counted")
    assert _stored(factory, tag) == 1


def test_discard_rolls_back_a_block_that_ends_normally(app, factory, tag):
    with app.test_request_context():
        with writing() as write:
            audit(db(), tag)
            write.discard()
        assert write.discarded
    assert _stored(factory, tag) == 0
