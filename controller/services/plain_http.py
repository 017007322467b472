"""The controller's two small HTTP listeners (`/healthz` in controller/app.py, `/metrics` in
controller/services/metrics.py): one GET per connection, answered and closed. Not a web
server: the request line is read, the headers skipped, anything but the one path is a 404."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

# (status line's code and reason, content type, body) for the request's path
Answer = Callable[[bytes], Awaitable[tuple[str, str, bytes]]]


async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: Answer) -> None:
    """Reads one request (2 s a line), writes `answer(path)` and closes; a client that sends
    nothing useful or goes away is dropped without a trace."""
    try:
        request = await asyncio.wait_for(reader.readline(), 2)
        while await asyncio.wait_for(reader.readline(), 2) not in (b"\r\n", b"\n", b""):
            pass
        parts = request.split(b" ")
        path = parts[1] if len(parts) > 1 and parts[0] == b"GET" else b""
        code, content_type, body = await answer(path)
        writer.write(
            f"HTTP/1.1 {code}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()
