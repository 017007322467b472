"""The ownership helper every view that loads an object by id goes through."""

from __future__ import annotations

import pytest
from flask import g
from werkzeug.exceptions import NotFound

from db.models import User, VirtualNumber
from webpanel.access import owned_or_404, virtual_number_or_404
from webpanel.database import db


def _as(app, user_id):
    ctx = app.test_request_context("/")
    ctx.push()
    g.user = db().get(User, user_id) if user_id is not None else None
    return ctx


def test_owned_or_404_returns_the_accounts_own_virtual_number(app, make_member):
    member = make_member()
    ctx = _as(app, member.user_id)
    try:
        assert owned_or_404(VirtualNumber, member.virtual_number_id).number == member.number
        assert virtual_number_or_404(member.number).id == member.virtual_number_id
    finally:
        ctx.pop()


def test_owned_or_404_answers_404_for_another_accounts_virtual_number(app, make_member):
    member, other = make_member(), make_member()
    ctx = _as(app, member.user_id)
    try:
        with pytest.raises(NotFound):
            owned_or_404(VirtualNumber, other.virtual_number_id)
        with pytest.raises(NotFound):
            virtual_number_or_404(other.number)
        with pytest.raises(NotFound):
            owned_or_404(VirtualNumber, 2_000_000_000)  # no such id: the same answer
    finally:
        ctx.pop()


def test_owned_or_404_limits_a_secondary_user_to_their_own_number(app, make_member, make_secondary):
    member = make_member()
    second = make_secondary(member)
    ctx = _as(app, second.user_id)
    try:
        assert owned_or_404(VirtualNumber, second.virtual_number_id).number == second.number
        with pytest.raises(NotFound):
            owned_or_404(VirtualNumber, member.virtual_number_id)
    finally:
        ctx.pop()


def test_owned_or_404_answers_404_to_an_anonymous_request(app, make_member):
    member = make_member()
    ctx = _as(app, None)  # nobody is logged in
    try:
        assert g.user is None
        with pytest.raises(NotFound):
            owned_or_404(VirtualNumber, member.virtual_number_id)
    finally:
        ctx.pop()
