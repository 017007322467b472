"""Scheduled conferences (Stasis app `conference`): see app.py for the caller's journey and the
admin keys, service.py for the data rules, invites.py for the email invitation and its .ics."""

from ari_apps.conference.app import ConferenceApp

__all__ = ["ConferenceApp"]
