"""Two-factor login (issue 16): the login's code step and each user's Two-factor login page."""
