"""Headless Chromium on the Dagster UI, for the UI tests (market_data_tests/test_ui.py) and
the README's pictures (``make screenshots``, ``market_data_local/screenshots.py``).

Playwright drives Debian's ``chromium`` package (no ``playwright install``); the UI's
content security policy forbids Playwright's evaluated waits, so a page is awaited by
polling its rendered text, with a deadline and an error naming the page.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_SECONDS = 60.0


class PageDidNotRender(RuntimeError):
    """A page of the UI did not show what was awaited in time."""


def chromium_path() -> str:
    """Debian's chromium, or an error saying how to install it."""
    path = shutil.which("chromium")
    if path is None:
        raise PageDidNotRender(
            "no chromium on PATH: ./scripts/install-system-packages.sh --browser installs it"
        )
    return path


def launch_chromium(playwright: Any) -> Any:
    """A headless Chromium browser (Playwright's ``Browser``)."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)


def wait_for_text(
    page: Any,
    text: str,
    where: str,
    timeout: float = WAIT_SECONDS,
    failure_shot: Path | None = None,
) -> str:
    """Poll the rendered text of ``page`` until it holds ``text``; the text. Past the
    deadline: a screenshot to ``failure_shot`` if given, and an error naming ``where``
    (the page, as a person would), the URL and what the page shows instead."""
    deadline = time.monotonic() + timeout
    while text not in (rendered := page.inner_text("body")):
        if time.monotonic() > deadline:
            if failure_shot is not None:
                failure_shot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(failure_shot))
            shot = f"; screenshot: {failure_shot}" if failure_shot else ""
            raise PageDidNotRender(
                f"{where}: {text!r} did not render within {timeout:.0f}s ({page.url}{shot});"
                f" the page shows:\n{rendered[:2000]}"
            )
        page.wait_for_timeout(250)
    return rendered


def dismiss_first_visit_dialog(page: Any, ready: str, timeout: float = WAIT_SECONDS) -> None:
    """Wait for ``ready`` to render, clicking away the first visit's newsletter dialog if
    it covers the page (it shows once per Dagster instance)."""
    skip = page.get_by_role("button", name="Skip")
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < timeout:
        if skip.count():
            skip.first.click()
            return
        if elapsed > 3 and ready in page.inner_text("body"):
            return  # rendered for a while, and no dialog
        page.wait_for_timeout(250)
    raise PageDidNotRender(f"the first page: {ready!r} did not render within {timeout:.0f}s")


def open_markdown(page: Any, entry: str, timeout: float = 30.0) -> Any:
    """Open a markdown metadata entry (an image) of the metadata panel; its dialog, with the
    image loaded."""
    page.locator("tr", has_text=entry).get_by_text("[Show Markdown]").click(timeout=timeout * 1000)
    dialog = page.get_by_role("dialog")
    dialog.locator("img").wait_for(timeout=timeout * 1000)  # the image, not the info icon
    page.wait_for_timeout(500)
    return dialog


def close_dialog(page: Any) -> None:
    page.get_by_role("button", name="Close").last.click()
