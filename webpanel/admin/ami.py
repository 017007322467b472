"""A short-lived, synchronous AMI session for the panel: log in (events off), run one or more
CLI commands with the Command action, log off. The controller keeps its own long-lived link
(controller.ami); a Flask request only needs a few actions now and then."""

from __future__ import annotations

import socket
import time

from controller.settings import Settings


class AMIError(Exception):
    """Asterisk could not be reached, refused the login, or refused the action."""


class AMISession:
    def __init__(self, settings: Settings, timeout: float = 10.0):
        self.settings, self.timeout = settings, timeout
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._action_id = 0

    def __enter__(self) -> AMISession:
        try:
            self._sock = socket.create_connection(
                (self.settings.asterisk_host, self.settings.ami_port), timeout=self.timeout
            )
            self._readline()  # banner: "Asterisk Call Manager/x.y.z"
        except OSError as exc:
            self.close()
            raise AMIError(
                f"Asterisk's AMI at {self.settings.asterisk_host}:{self.settings.ami_port} "
                f"did not answer ({exc.__class__.__name__})."
            ) from None
        reply = self.action(
            "Login", Username=self.settings.ami_user, Secret=self.settings.ami_secret, Events="off"
        )
        if reply.get("Response") != "Success":
            self.close()
            raise AMIError(f"Asterisk refused the AMI login: {reply.get('Message', '')}")
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if self._sock is not None:
                self.action("Logoff")
        except (AMIError, OSError):
            pass
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def action(self, name: str, **headers: str) -> dict[str, str]:
        """Send one action and return its response (Output lines joined with newlines)."""
        assert self._sock is not None
        self._action_id += 1
        action_id = f"panel-{self._action_id}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        for key, value in headers.items():
            if "\r" in str(value) or "\n" in str(value):
                raise AMIError("AMI header values are one line.")
            lines.append(f"{key}: {value}")
        try:
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            deadline = time.monotonic() + self.timeout
            while True:
                message = self._read_message(deadline)
                if message.get("ActionID") == action_id and "Response" in message:
                    return message
        except OSError as exc:
            raise AMIError(f"The AMI connection failed ({exc.__class__.__name__}).") from None

    def command(self, cli: str, *, check: bool = True) -> str:
        """Run an Asterisk CLI command; its output, or AMIError when Asterisk refuses it (with
        check=False, the output of a command that failed too: `dialplan show` of a context that
        does not exist answers Error)."""
        reply = self.action("Command", Command=cli)
        if check and reply.get("Response") != "Success":
            raise AMIError(f"Asterisk refused '{cli}': {reply.get('Message', '') or reply.get('Output', '')}")
        return reply.get("Output", "")

    def _readline(self, deadline: float | None = None) -> bytes:
        assert self._sock is not None
        while b"\r\n" not in self._buffer:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AMIError("Asterisk did not answer the AMI action in time.")
                self._sock.settimeout(left)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise AMIError("Asterisk closed the AMI connection.")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _read_message(self, deadline: float) -> dict[str, str]:
        message: dict[str, str] = {}
        output: list[str] = []
        while True:
            line = self._readline(deadline).decode("utf-8", "replace")
            if line == "":
                if message or output:
                    if output:
                        message["Output"] = "\n".join(output)
                    return message
                continue
            key, sep, value = line.partition(":")
            if not sep:
                output.append(line)  # pre-13 style command output
            elif key == "Output":
                output.append(value[1:] if value.startswith(" ") else value)
            else:
                message[key] = value.strip()
