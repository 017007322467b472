"""Times written into file names (issue 16): in the account's zone, with the zone named, so a
file downloaded from a page that shows local times does not carry a UTC time unsaid."""

from __future__ import annotations

import datetime as dt


def zone_tag(when: dt.datetime) -> str:
    """The zone of an aware time as a file name can carry it: its abbreviation when it has
    one (PST, CET, UTC), else its offset (UTC+0300 for zones tzdata names "+03")."""
    abbreviation = when.strftime("%Z")
    if abbreviation.isalpha():
        return abbreviation
    return "UTC" + when.strftime("%z")


def file_stamp(when: dt.datetime, zone: dt.tzinfo, *, pattern: str = "%Y%m%d-%H%M%S") -> str:
    """`when` (stored as UTC; a naive value is UTC) in `zone`: 20260115-233000-PST."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    local = aware.astimezone(zone)
    return f"{local.strftime(pattern)}-{zone_tag(local)}"
