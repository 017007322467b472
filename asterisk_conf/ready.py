"""Readiness probe: Asterisk is up when AMI accepts our login and ARI answers /asterisk/info."""

from __future__ import annotations

import asyncio
import time

import httpx

from controller.settings import Settings


async def ami_login(settings: Settings, timeout: float = 3.0) -> bool:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(settings.asterisk_host, settings.ami_port), timeout
    )
    try:
        await asyncio.wait_for(reader.readline(), timeout)  # banner
        writer.write(
            (
                f"Action: Login\r\nUsername: {settings.ami_user}\r\nSecret: {settings.ami_secret}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        block = b""
        while not block.endswith(b"\r\n\r\n"):
            chunk = await asyncio.wait_for(reader.read(4096), timeout)
            if not chunk:
                return False
            block += chunk
        return b"Response: Success" in block
    finally:
        writer.close()


async def ari_info(settings: Settings, timeout: float = 3.0) -> bool:
    async with httpx.AsyncClient(timeout=timeout) as client:
        r = await client.get(
            f"{settings.ari_base_url}/asterisk/info", auth=(settings.ari_user, settings.ari_password)
        )
        return r.status_code == 200


async def wait_ready(settings: Settings, timeout: float) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout
    last = "not tried"
    while time.monotonic() < deadline:
        try:
            if await ami_login(settings) and await ari_info(settings):
                return True, "Asterisk ready: AMI login and ARI /asterisk/info answered"
            last = "AMI or ARI refused our credentials"
        except (TimeoutError, OSError, httpx.HTTPError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(0.3)
    return False, f"Asterisk not ready after {timeout:.0f} s ({last})"
