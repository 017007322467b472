"""The extender's new end for a live call (controller/services/holds.py next_timeout, issue 13
sliced holds): never more than granted, and never 0 or less, which Asterisk's TIMEOUT(absolute)
takes as "no limit" (the call would then run on without a hold)."""

from __future__ import annotations

import pytest

from controller.services.holds import next_timeout


def test_the_new_end_is_what_was_left_less_the_time_since_plus_the_slice_rounded_down():
    assert next_timeout(9.456, 0.2, 20) == 29
    assert next_timeout(44.999, 0.0, 300) == 344


@pytest.mark.parametrize(
    ("left", "elapsed", "granted"),
    [(0.4, 0.6, 1), (0.2, 0.1, 0), (1.0, 3.5, 2), (0.0, 0.0, 0)],
)
def test_an_extension_that_comes_too_late_never_lifts_the_limit(left, elapsed, granted):
    # before the fix the extender wrote floor(left - elapsed + granted), here 0 or less:
    # Setvar TIMEOUT(absolute)=0 cancels the channel's hangup, an unlimited call
    assert next_timeout(left, elapsed, granted) is None
