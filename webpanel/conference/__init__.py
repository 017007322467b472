"""The help page's "Conference" section: schedule, edit and delete conferences, guests and invites."""
