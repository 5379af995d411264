"""What every parser of a source returns or raises: a file's outcome, or its rejection."""

from dataclasses import dataclass

from fpa.personal import scrub
from fpa.quarantine import Reason


@dataclass
class Outcome:
    """A file read: loaded (its rows, the quarantined among them) or rejected (why)."""

    status: str  # loaded | rejected
    reason_code: str = ""
    reason: str = ""
    rows_received: int = 0
    rows_quarantined: int = 0

    def __post_init__(self):
        self.reason = scrub(self.reason)


class Rejected(Exception):
    """The whole file is set aside, for `code`; `detail` says what was found (scrubbed: it is
    recorded in the audit, which readers see)."""

    def __init__(self, code: Reason, detail: str):
        detail = scrub(detail)
        super().__init__(detail)
        self.code, self.detail = code, detail
