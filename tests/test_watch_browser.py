"""The health port's status page in a real headless browser (Debian's Chromium, driven by
Playwright): it loads with nothing from outside the watch, shows a group drifted after a
console-like edit (made through the emulator's REST API, not the tool), and in sync once the
watch has reverted it. Skipped, with the reason, where no Chromium or Playwright is installed
(`apt-get install chromium`; Playwright is in the test extras)."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest
from conftest import SDKAPPID
from test_watch import GROUPS, start_watch, stop

from reconciler.emulator.testing import RestCaller

CHROMIUM = next(
    (p for name in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(name))),
    None,
)
# As root, Chromium's sandbox cannot start; the rest keep it from reaching out at start-up
# (this machine's network is closed: its attempts are refused, many at a time).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def page():
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium)")
    async_api = pytest.importorskip(
        "playwright.async_api", reason="Playwright not installed (pip install -e '.[test]')"
    )
    async with async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


async def group_state(page, gid: str) -> str:
    """The state cell of ``gid``'s row, as the browser renders the page now."""
    await page.reload()
    row = page.locator("#groups tr").filter(has=page.locator("td", has_text=gid)).first
    return await row.locator("td").nth(1).inner_text()


async def console_edit(w, gid: str, name: str) -> None:
    """As a person in the console: the REST API, not the tool."""
    async with httpx.AsyncClient(base_url=w.server.url) as http:
        caller = RestCaller(http, SDKAPPID, w.server.key)
        body = {"GroupId": gid, "Name": name}
        answer = await caller("group_open_http_svc/modify_group_base_info", body)
    assert answer["ErrorCode"] == 0, answer


async def test_the_status_page_shows_drift_and_its_revert(tmp_path, page) -> None:
    # 300 ms a call: the revert (the group read, the lease read, the write) takes a few
    # seconds, while the page is read again and again.
    w = start_watch(tmp_path, GROUPS[:1], latency_ms=300)
    try:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        answer = await page.goto(f"{w.health_url}/")
        assert answer is not None and answer.status == 200
        assert await page.title() == "tim-reconciler watch"
        assert "role: leader" in await page.locator("#summary").inner_text()
        assert await group_state(page, "club") == "in sync"

        await console_edit(w, "club", "Edited in the console")
        deadline = time.monotonic() + 30  # a hang guard: the revert takes a few seconds
        # Until the callback reaches the watch, the page still shows what the watch knew.
        while (state := await group_state(page, "club")) != "drifted":
            assert time.monotonic() < deadline, f"no drift shown\n{w.text()}"
        assert w.server.dump()["groups"]["club"]["Name"] == "Edited in the console"
        while (state := await group_state(page, "club")) == "drifted":
            assert time.monotonic() < deadline, f"no revert shown\n{w.text()}"
        assert state == "in sync"  # only once the revert is written
        assert w.server.dump()["groups"]["club"]["Name"] == "Club"
        assert all(url.startswith(w.health_url) for url in requested), requested
    finally:
        stop(w)
