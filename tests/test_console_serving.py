"""Serving the console without a database: the vendor check, and the websocket origin in the CSP."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.applications import Starlette

from skyloom.console import VENDOR_FILES, console_routes


def client(directory: Path, public_url: str | None = None) -> httpx.AsyncClient:
    app = Starlette(routes=console_routes(public_url, directory))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def console_dir(tmp_path: Path, vendor: bool) -> Path:
    (tmp_path / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "vendor").mkdir()
    for name in VENDOR_FILES if vendor else VENDOR_FILES[:1]:
        (tmp_path / "vendor" / name).write_text("/* vendor */")
    return tmp_path


async def test_without_its_vendor_files_the_console_says_what_to_run(tmp_path: Path) -> None:
    r = await client(console_dir(tmp_path, vendor=False)).get("/console/")
    assert r.status_code == 503
    assert "./dev setup" in r.text and "<script" not in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.headers["cache-control"] == "no-cache"


async def test_with_its_vendor_files_the_index_is_served(tmp_path: Path) -> None:
    r = await client(console_dir(tmp_path, vendor=True)).get("/console/index.html")
    assert (r.status_code, r.text) == (200, "<!doctype html><title>console</title>")


async def test_the_websocket_origin_follows_the_public_url_or_the_request(tmp_path: Path) -> None:
    directory = console_dir(tmp_path, vendor=True)

    async def connect_src(c: httpx.AsyncClient, **headers: str) -> str:
        csp = (await c.get("/console/", headers=headers)).headers["content-security-policy"]
        return next(d for d in csp.split("; ") if d.startswith("connect-src"))

    assert await connect_src(client(directory), host="panel.example:8443") == "connect-src 'self' ws://panel.example:8443"
    assert await connect_src(client(directory, "https://panel.example")) == "connect-src 'self' wss://panel.example"
    # A Host that is not a host name adds nothing (it would only shape its own sender's answer anyway).
    assert await connect_src(client(directory), host="evil.example; script-src *") == "connect-src 'self'"


async def test_methods_other_than_get_and_head_are_refused(tmp_path: Path) -> None:
    r = await client(console_dir(tmp_path, vendor=True)).post("/console/index.html")
    assert r.status_code == 405 and "content-security-policy" in r.headers
