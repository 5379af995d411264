"""Free loopback ports for the servers the tests start (sshd, SMTP, Superset, the scale-out
profile's services)."""

import socket


def free_port() -> int:
    """A port nothing listens on, on loopback (for the servers the tests start)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
