"""Notifications by email (issue 16): which emails the account gets, and the low balance amount."""
