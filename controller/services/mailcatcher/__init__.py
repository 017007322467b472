"""The demo's mail catcher: an SMTP server on the loopback port the mailer sends to, which keeps
every message in a mailbox on disk (one .eml file each) for the operator admin's Demo Mail page.

`mailbox` is the mailbox (written by the catcher, read by the panel); `server` the SMTP side
(aiosmtpd); `python -m controller.services.mailcatcher` runs it, as `make up` does through
`scripts/mailcatcher start`. Production sends through a real relay and runs none of this.
"""
