"""The weekly report's parts that need no Superset: who gets it and when (the contacts file and
the crontab variable), and Debian's headless shell where Playwright looks for its own
(tests/test_scaleout.py mails the whole report)."""

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
