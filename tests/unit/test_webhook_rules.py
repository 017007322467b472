"""Issue 15, webhooks' pure rules: the signature a receiver checks, the retry schedule, and which
URLs a webhook may have (SSRF: no private, loopback or link-local address for a member's)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from controller.rules import webhooks as rules


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"event":"call.ended"}'
    expected = hmac.new(b"whsec_x", b"1767225600." + body, hashlib.sha256).hexdigest()
    assert rules.signature("whsec_x", "1767225600", body) == expected
    assert rules.signature_header("whsec_x", "1767225600", body) == "v1=" + expected


def test_verify_refuses_another_secret_a_changed_body_and_an_old_timestamp():
    body = b"{}"
    header = rules.signature_header("s", "1000", body)
    assert rules.verify("s", "1000", header, body, now=1000)
    assert not rules.verify("t", "1000", header, body, now=1000)
    assert not rules.verify("s", "1000", header, b"{ }", now=1000)
    assert not rules.verify("s", "1000", header, body, now=1000 + 301)
    assert not rules.verify("s", "1000", "v2=" + header[3:], body, now=1000)
    assert not rules.verify("s", "abc", header, body, now=1000)
    assert not rules.verify("s", "\u00b2", header, body, now=2)  # a digit int() refuses: no crash
    assert not rules.verify("s", "\u0661\u0660\u0660\u0660", header, body, now=1000)  # Arabic-Indic 1000


def test_the_backoff_grows_then_gives_up():
    assert [rules.next_delay(n) for n in range(1, len(rules.BACKOFF) + 1)] == list(rules.BACKOFF)
    assert rules.next_delay(len(rules.BACKOFF) + 1) is None
    assert sum(rules.BACKOFF) >= 20 * 3600  # retried for about a day
    assert list(rules.BACKOFF) == sorted(rules.BACKOFF)
    assert rules.next_delay(2, (1, 2)) == 2 and rules.next_delay(3, (1, 2)) is None


@pytest.mark.parametrize(
    ("url", "member", "operator"),
    [
        ("https://hooks.example.com/x", None, None),
        ("http://93.184.216.34:8080/x?a=1", None, None),
        ("http://203.0.113.9/", "private", None),  # TEST-NET-3: not a public address
        ("ftp://hooks.example.com/", "scheme", "scheme"),
        ("file:///etc/passwd", "scheme", "scheme"),
        ("gopher://x/", "scheme", "scheme"),
        ("http://127.0.0.1/", "private", None),
        ("http://127.1/", "malformed", "malformed"),
        ("http://2130706433/", "malformed", "malformed"),
        ("http://0x7f.0.0.1/", "malformed", "malformed"),
        ("http://0.0.0.0/", "private", None),
        ("http://10.0.0.1/", "private", None),
        ("http://172.16.5.4/", "private", None),
        ("http://192.168.1.1/", "private", None),
        ("http://169.254.169.254/", "private", None),
        ("http://100.64.0.1/", "private", None),
        ("http://[::1]/", "private", None),
        ("http://[fe80::1]/", "private", None),
        ("http://[fd00::1]/", "private", None),
        ("http://[::ffff:10.0.0.1]/", "private", None),
        ("http://[::ffff:7f00:1]/", "private", None),
        ("http://[::]/", "private", None),
        ("http://[::127.0.0.1]/", "private", None),  # IPv4-compatible
        ("http://[64:ff9b::a00:1]/", "private", None),  # NAT64 of 10.0.0.1
        ("http://[2002:7f00:1::1]/", "private", None),  # 6to4 of 127.0.0.1
        ("http://[fe80::1%25eth0]/", "private", None),
        ("http://[2606:4700:4700::1111]/", None, None),
        ("http://localhost./", "private", None),
        ("http://127.0.0.1./", "malformed", "malformed"),
        ("http://0/", "malformed", "malformed"),
        ("http://017700000001/", "malformed", "malformed"),
        ("http://evil@127.0.0.1/", "credentials", "credentials"),
        ("http://hooks.example.com@127.0.0.1/", "credentials", "credentials"),
        ("http://127.0.0.1#@hooks.example.com/", "private", None),
        ("http://localhost:8000/", "private", None),
        ("http://api.localhost/", "private", None),
        ("http://u:p@hooks.example.com/", "credentials", "credentials"),
        ("http:///x", "malformed", "malformed"),
        ("http://exa mple.com/", "malformed", "malformed"),
        ("http://hooks.example.com:0/", "malformed", "malformed"),
        ("http://[::1/", "malformed", "malformed"),
        ("", "empty", "empty"),
        ("https://x.example.com/" + "a" * 500, "too_long", "too_long"),
    ],
)
def test_which_urls_a_webhook_may_have(url, member, operator):
    assert rules.url_problem(url, allow_private=False) == member
    assert rules.url_problem(url, allow_private=True) == operator
