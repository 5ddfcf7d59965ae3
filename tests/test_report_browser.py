"""report.html in a real browser: headless Chromium opens it offline, logs no console error,
requests nothing but the file itself (and data: URIs), and renders; a screenshot is kept."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync"]
EXAMPLE = Path(str(resources.files("ctit").joinpath("examples", "atra-ctit")))

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ctit.pipeline import run_analysis

    out = tmp_path_factory.mktemp("browser")
    run_analysis(EXAMPLE, out, formats=("html",))
    return out / "report.html"


def test_report_opens_offline_without_errors_or_requests(report: Path, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (make browser) to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=ARGS, headless=True,
            viewport={"width": 1100, "height": 900}, offline=True)
        try:
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            n_svg = page.locator("svg").count()
            n_tables = page.locator("table").count()
            title = page.title()
            page.emulate_media(media="print")
            print_height = page.evaluate("document.body.scrollHeight")
        finally:
            context.close()
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    assert shot.stat().st_size > 50_000
    assert n_svg >= 7 and n_tables >= 8
    assert "study report" in title
    assert print_height > 0
