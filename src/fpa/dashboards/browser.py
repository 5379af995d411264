"""The browser Superset's reports screenshot the dashboards with: Debian's chromium-headless-shell,
put where Playwright looks for its own.

Playwright cannot download a browser on the association's closed network, and Superset's
Playwright driver (WebDriverPlaywright) launches `playwright.chromium.launch(args=...)` with no
executable path to give it: Playwright then runs the headless shell of the revision its
browsers.json pins, under PLAYWRIGHT_BROWSERS_PATH. A link there to Debian's binary (the package
chromium-headless-shell, in the image and in tests/run.sh) is that browser; Chromium finds its
resources beside the link's target.
"""

import json
import os
from pathlib import Path

DEBIAN_HEADLESS_SHELL = Path("/usr/lib/chromium/chromium-headless-shell")
# where Playwright 1.5x looks for the headless shell on linux-x64, inside its revision's folder
EXECUTABLE = ("chrome-headless-shell-linux64", "chrome-headless-shell")


def _revision() -> str:
    import playwright

    pinned = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    browsers = json.loads(pinned.read_text(encoding="utf-8"))["browsers"]
    return next(b["revision"] for b in browsers if b["name"] == "chromium-headless-shell")


def place_headless_shell(default_root: Path, binary: Path = DEBIAN_HEADLESS_SHELL) -> Path | None:
    """Link Debian's headless shell where Playwright looks for the one it pins: under
    PLAYWRIGHT_BROWSERS_PATH, or `default_root` (then set in this process's environment, which
    the Playwright driver inherits). A browser already there (a Playwright download) is kept.
    Returns the executable Playwright will run, or None when there is none (no Debian package):
    the reports then fail with Playwright's own message."""
    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or default_root)
    os.environ["PLAYWRIGHT_BROWSERS_PATH"] = str(root)
    folder = root / f"chromium_headless_shell-{_revision()}"
    executable = folder.joinpath(*EXECUTABLE)
    if executable.exists():
        return executable
    if not binary.exists():
        return None
    executable.parent.mkdir(parents=True, exist_ok=True)
    if executable.is_symlink():  # a link to a binary since removed
        executable.unlink()
    try:
        executable.symlink_to(binary)
    except FileExistsError:  # another process of the same start (gunicorn, Celery) made it
        pass
    # Playwright's installer takes a browser folder without this marker for an unfinished download
    (folder / "INSTALLATION_COMPLETE").touch()
    return executable
