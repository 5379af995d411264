"""The weekly report's parts that need no Superset: who gets it and when (the contacts file and
the crontab variable), Debian's headless shell where Playwright looks for its own, and the
screenshot's wait for every chart drawn (tests/test_scaleout.py mails the whole report)."""

import io
import time

import pytest

from fpa.dashboards import browser, reports


def test_the_weekly_report_is_the_contacts_files_list_on_monday_morning(monkeypatch, tmp_path):
    monkeypatch.delenv(reports.CONTACTS_VAR, raising=False)
    monkeypatch.delenv(reports.CRONTAB_VAR, raising=False)
    (report,) = reports.weekly_reports()  # config/report_contacts.yml
    assert report.name == "计生家庭保险周报" and report.slug == "insurance"
    assert report.recipients == ("leadership@fpa.invalid",)
    assert (report.crontab, report.timezone) == ("0 8 * * 1", "Asia/Shanghai")

    contacts = tmp_path / "contacts.yml"
    contacts.write_text(
        "insurance: [a@fpa.invalid, b@fpa.invalid]\nprogress: []\n", encoding="utf-8"
    )
    monkeypatch.setenv(reports.CONTACTS_VAR, str(contacts))
    monkeypatch.setenv(reports.CRONTAB_VAR, "30 7 * * 1")
    (report,) = reports.weekly_reports()  # an empty list: no report
    assert report.recipients == ("a@fpa.invalid", "b@fpa.invalid")
    assert report.crontab == "30 7 * * 1"

    contacts.write_text("insurence: [a@fpa.invalid]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="insurence"):
        reports.weekly_reports()


@pytest.mark.chromium
def test_playwright_runs_debians_headless_shell_from_where_it_looks(monkeypatch, tmp_path):
    from playwright.sync_api import sync_playwright

    # unset, and unset again after the test (the function sets it for Playwright's driver)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", "")
    monkeypatch.delenv("PLAYWRIGHT_BROWSERS_PATH")
    placed = browser.place_headless_shell(tmp_path / "playwright")
    assert placed is not None and placed.resolve() == browser.DEBIAN_HEADLESS_SHELL
    assert placed.is_relative_to(tmp_path / "playwright")
    # a second start (another process of the same service) finds it there
    assert browser.place_headless_shell(tmp_path / "elsewhere") == placed
    with sync_playwright() as p:
        shell = p.chromium.launch()
        try:
            page = shell.new_page()
            page.set_content("<p style='font-size:40px'>计生家庭保险周报</p>")
            assert page.inner_text("p") == "计生家庭保险周报"
            assert len(page.screenshot()) > 2000
            # the Debian package's version, not the one Playwright would have downloaded
            assert shell.version.split(".")[0] == _debian_major()
        finally:
            shell.close()


def _debian_major() -> str:
    import subprocess

    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "chromium-headless-shell"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split(".")[0].split(":")[-1]


# A dashboard as a busy Superset draws it, on a timeline of milliseconds: its grid of three
# chart holders spinning, the charts drawn, the grid mounted a second time (spinning again), the
# charts drawn for good (red) — one of them an error message, as a failed query shows.
BUSY_DASHBOARD = """
<div class="standalone"><div id="grid"></div></div>
<script>
(() => {
const grid = document.getElementById('grid');
const holder = (inner) => `<div class="dashboard-component-chart-holder">${inner}</div>`;
const chart = (colour) =>
  `<div class="chart-container"><div style="height:300px;background:${colour}"></div></div>`;
const spinning = holder('<div class="chart-container"><div class="loading">…</div></div>');
const error = holder('<div class="ant-alert-error" role="alert">查询超时</div>');
const at = (ms, html) => setTimeout(() => { grid.innerHTML = html; }, ms);
at(500, spinning.repeat(3));
at(1500, holder(chart('blue')).repeat(3));
at(2200, spinning.repeat(3));
at(4000, holder(chart('rgb(255,0,0)')).repeat(2) + error);
})();
</script>
"""


@pytest.mark.chromium
def test_the_reports_screenshot_waits_until_every_chart_is_drawn(monkeypatch, tmp_path):
    """Superset's own screenshot function, wrapped as the worker's app wraps it (_harden in
    superset_config.py), takes the dashboard only once its charts are drawn for good; a
    dashboard that never is makes the report fail, saying what was seen."""
    from PIL import Image
    from playwright.sync_api import sync_playwright
    from superset.utils.webdriver import WebDriverPlaywright

    from fpa.dashboards import drawn

    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "playwright"))
    browser.place_headless_shell(tmp_path / "playwright")
    drawn.wait_before_superset_screenshots(timeout_s=20)
    with sync_playwright() as p:
        shell = p.chromium.launch()
        try:
            page = shell.new_page(viewport={"width": 400, "height": 1000})
            page.set_content(BUSY_DASHBOARD)
            t0 = time.monotonic()
            png = WebDriverPlaywright._get_screenshot(
                page, page.locator(".standalone"), "standalone"
            )
            waited = time.monotonic() - t0
            # the last drawing at 4 s, then 1.5 s unchanged (the first, at 1.5 s, was not enough)
            assert 5.3 <= waited < 12, waited
            colours = dict(
                (rgb, n) for n, rgb in Image.open(io.BytesIO(png)).convert("RGB").getcolors(1 << 16)
            )
            assert colours.get((255, 0, 0), 0) >= 2 * 300 * 300  # both charts, in their red
            assert colours.get((0, 0, 255), 0) == 0  # nothing of the first drawing
            assert drawn.state(page) == {"holders": 3, "rendered": 2, "failed": 1, "loading": 0}

            page.set_content(BUSY_DASHBOARD.replace("at(4000", "// never: at(4000"))
            drawn.wait_before_superset_screenshots(timeout_s=3)  # wrapped once: 20 s still
            with pytest.raises(drawn.NotDrawn, match="3 of 3 charts drawn, 3 still loading"):
                drawn.wait_until_drawn(page, timeout_s=3)
        finally:
            shell.close()
