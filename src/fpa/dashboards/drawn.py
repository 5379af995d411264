"""When a dashboard open in a browser counts as drawn: what the weekly report's screenshot waits
for (superset_config.py), and the Chromium tests with it.

Superset's own Playwright screenshot lists the chart containers and spinners once, at whatever
moment its 3 s head start ends, then waits 5 s more: on a busy machine the dashboard had not
mounted its charts yet and leadership's Monday mail was a blank page (CI, 14 KB instead of
~270 KB). Drawn here means: at least one chart holder, every holder with its chart (or its
error message), no spinner among them, and all of it still so `steady_s` later (on a busy
machine the grid has been mounted a second time after the charts first rendered).
"""

import logging
import time

log = logging.getLogger(__name__)

# one read of the page: how many chart holders, how many of them show their chart, an error
# instead (Superset draws no chart container then: it is settled all the same, and its message
# is what a reader sees), or a spinner
STATE_JS = """() => {
  const holders = [...document.querySelectorAll('.dashboard-component-chart-holder')];
  const having = (css) => holders.filter((holder) => holder.querySelector(css)).length;
  return {
    holders: holders.length,
    rendered: having(".chart-container, [data-test='chart-container']"),
    failed: having("[data-test='alert-error'], .ant-alert-error"),
    loading: having('.loading'),
  };
}"""


class NotDrawn(TimeoutError):
    """The dashboard was not drawn in time: the report fails (and says so) rather than mail a
    half-empty page."""


def state(page) -> dict[str, int]:
    return page.evaluate(STATE_JS)


def is_drawn(counts: dict[str, int], expected: int | None = None) -> bool:
    holders = counts["holders"]
    if expected is not None and holders != expected:
        return False
    settled = counts["rendered"] + counts["failed"]
    return holders > 0 and settled >= holders and counts["loading"] == 0


def wait_until_drawn(
    page, timeout_s: float = 120, steady_s: float = 1.5, expected: int | None = None, check=None
) -> dict[str, int]:
    """Poll the page until it is drawn (and `check()` holds, if given) for `steady_s` on end;
    the last counts. Raises NotDrawn with what was seen after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    since = None
    counts = state(page)
    while True:
        if is_drawn(counts, expected) and (check is None or check()):
            since = since or time.monotonic()
            if time.monotonic() - since >= steady_s:
                return counts
        else:
            since = None
        if time.monotonic() > deadline:
            raise NotDrawn(
                f"{page.url}: not drawn after {timeout_s:.0f} s: {counts['rendered']} of "
                f"{counts['holders']} charts drawn"
                + (f" ({expected} expected)" if expected is not None else "")
                + f", {counts['loading']} still loading"
            )
        page.wait_for_timeout(300)
        counts = state(page)


def wait_before_superset_screenshots(timeout_s: float) -> None:
    """Superset's Playwright driver takes a dashboard's screenshot in one of two functions: its
    static `_get_screenshot(page, element, element_name)` (called by class name) or, for a
    dashboard of 20 charts or 5000 px and more, `take_tiled_screenshot(page, element_name,
    tile_height)`. Both wrapped here so that they first wait until the dashboard is drawn; a
    chart alone (element_name other than `standalone`) is taken as Superset takes it.
    Idempotent."""
    from superset.utils import webdriver

    driver = webdriver.WebDriverPlaywright
    take = driver.__dict__["_get_screenshot"].__func__
    if getattr(take, "_fpa_waits", False):
        return
    tiled = webdriver.take_tiled_screenshot

    def wait(page, element_name) -> None:
        if element_name == "standalone":
            t0 = time.monotonic()
            counts = wait_until_drawn(page, timeout_s)
            log.info(
                "%s drawn (%d charts, %d of them an error) %.1f s after Superset's own wait",
                page.url,
                counts["holders"],
                counts["failed"],
                time.monotonic() - t0,
            )

    def _get_screenshot(page, element, element_name):
        wait(page, element_name)
        return take(page, element, element_name)

    def take_tiled_screenshot(page, element_name, *args, **kwargs):
        wait(page, element_name)
        return tiled(page, element_name, *args, **kwargs)

    _get_screenshot._fpa_waits = True
    driver._get_screenshot = staticmethod(_get_screenshot)
    webdriver.take_tiled_screenshot = take_tiled_screenshot
