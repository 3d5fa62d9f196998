"""The HTML page in a real headless Chromium: pick a photo, type a prompt, submit, see the overlay."""

from __future__ import annotations

import shutil
import tempfile

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")


@pytest.fixture
def browser_page():
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download)")
    profile = tempfile.mkdtemp(prefix="ilid-chromium-")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield context.new_page()
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def test_page_segments_an_uploaded_photo(serve_app, photo, browser_page, tmp_path):
    page = browser_page
    external = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith((serve_app.base, "data:")) else None)
    page.goto(f"{serve_app.base}/")
    page.set_input_files("#image", str(photo))
    page.fill("#prompts", "levelling foot; screw")
    page.fill("#threshold", "0")
    page.click("#submit")
    overlay = page.locator("#overlay")
    overlay.wait_for(state="visible", timeout=90_000)
    size = page.evaluate("() => { const i = document.getElementById('overlay');"
                         " return [i.complete, i.naturalWidth, i.naturalHeight]; }")
    assert size[0] and size[1] > 0 and size[2] > 0  # a decoded PNG, not a broken image
    assert page.get_attribute("#overlay", "src").startswith("data:image/png;base64,")
    status = page.inner_text("#status")
    assert "candidate masks kept" in status and "Error" not in status
    assert page.locator("#results tbody tr").count() >= 1
    page.screenshot(path=str(tmp_path / "page.png"))
    assert external == []  # the page loads nothing from outside (the machine is offline)


def test_page_shows_the_api_error(serve_app, browser_page, tmp_path):
    page = browser_page
    page.goto(f"{serve_app.base}/")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_bytes(b"just some text")
    page.set_input_files("#image", str(not_an_image))
    page.fill("#prompts", "knob")
    page.click("#submit")
    page.wait_for_function("() => document.getElementById('status').classList.contains('error')",
                           timeout=60_000)
    assert "415" in page.inner_text("#status") and not page.is_visible("#overlay")
