"""Signing a Flask test client in without the login form (issue 13: panel sessions are rows).

A panel session is a row in panel_sessions whose token the signed cookie carries
(webpanel/auth/sessions.py); putting a user id into the cookie alone opens nothing.
"""

from __future__ import annotations

from flask.testing import FlaskClient


def sign_in_user(client: FlaskClient, user_id: int) -> str:
    """A server-side session row for `user_id`, as access.login_session writes it, and its
    token in the client's cookie. Returns the token."""
    from db.models import User
    from webpanel import access, database
    from webpanel.auth import sessions

    app = client.application
    with app.extensions[database.EXTENSION].factory() as s:
        user = s.get_one(User, user_id)
        token = sessions.start(s, user, remote_addr="127.0.0.1", user_agent="test client")
        version = user.session_version
        s.commit()
    with client.session_transaction() as sess:
        sess.clear()
        sess.permanent = True
        sess[access.SESSION_USER_ID] = user_id
        sess[access.SESSION_VERSION] = version
        sess[access.SESSION_TOKEN] = token
    return token
