"""Debian's Chromium driven by Playwright (it cannot download a browser here), as a reader
opens the dashboards: launched with no background connections (this machine's closed network
refuses them, many at a time) and logged in through Superset's own form."""

import warnings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def open_page(playwright):
    """(browser, page): a window the size of a leader's screen, in Chinese."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1600, "height": 1000}, locale="zh-CN")
    return browser, page


_LOGINS: dict[int, tuple[str, str, str]] = {}


def log_in(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/superset/welcome/**", timeout=60_000)
    _LOGINS[id(page)] = (url, username, password)


def goto(page, url: str) -> None:
    """Open a page as the user logged in. On a busy machine Superset has sent a dashboard's
    request, right after a login, to its login page (the session not yet seen): then the user
    logs in once more, as a reader would, and the page is opened again — a second time is a
    failure of the test, not retried."""
    page.goto(url)
    if "/login/" in page.url and id(page) in _LOGINS:
        warnings.warn(f"sent to the login page from {url}: logging in again", stacklevel=2)
        log_in(page, *_LOGINS[id(page)])
        page.goto(url)
