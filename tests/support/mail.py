"""A real SMTP server on loopback (aiosmtpd) keeping what it receives, and the text and subject
of a received mail as a reader sees them."""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.header import decode_header, make_header

from support.ports import free_port


class Mailbox:
    """A real SMTP server on loopback (aiosmtpd) keeping what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Message

        self.received = []
        keep = self.received

        class Keep(Message):
            def handle_message(self, message):
                keep.append(message)

        self.port = free_port()
        self.server = Controller(Keep(), hostname="127.0.0.1", port=self.port)

    def connection(self) -> str:
        """The server as an Airflow SMTP connection (AIRFLOW_CONN_SMTP_DEFAULT's value)."""
        return json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": self.port,
                "extra": {"disable_tls": True, "disable_ssl": True, "timeout": 10},
            }
        )

    def wait(self, count: int = 1, seconds: float = 30) -> list:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.received


@contextmanager
def serving() -> Iterator[Mailbox]:
    """A Mailbox listening until the block ends."""
    box = Mailbox()
    box.server.start()
    try:
        yield box
    finally:
        box.server.stop()


def text_of(mail) -> str:
    parts = [mail] if not mail.is_multipart() else mail.walk()
    return "".join(
        (p.get_payload(decode=True) or b"").decode("utf-8", "replace")
        for p in parts
        if not p.is_multipart() and p.get_content_maintype() == "text"
    )


def subject_of(mail) -> str:
    return str(make_header(decode_header(mail["Subject"])))
