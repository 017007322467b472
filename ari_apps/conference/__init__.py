"""Scheduled conferences (Stasis app `conference`): see app.py for its parts, entry.py for the
caller's journey, participants.py for the roles and the admin keys, lifecycle.py for a room's
start, end and recovery. The data rules and the email invitations are shared services
(controller/services/conference/: service.py, invites.py)."""

from ari_apps.conference.app import ConferenceApp

__all__ = ["ConferenceApp"]
