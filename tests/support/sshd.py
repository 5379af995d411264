"""A real OpenSSH server on loopback (Debian's openssh-server, installed by tests/run.sh) with
its own host and user keys, serving SFTP only, its session starting in its delivery folder."""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support.ports import free_port

SSHD = "/usr/sbin/sshd"


@contextmanager
def serving(d: Path) -> Iterator[dict]:
    """sshd on a free loopback port, its keys and configuration in the folder d, until the block
    ends; yields the port, the user, the client's key and the delivery folder (remote)."""
    if not Path(SSHD).exists():
        pytest.fail("openssh-server is needed (tests/run.sh installs it)")
    for key in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True
        )
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    remote = d / "outbox"  # the server's delivery folder: the session starts in it
    remote.mkdir()
    port = free_port()
    user = (
        os.environ.get("USER")
        or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    )
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\n"
        f"PidFile {d / 'sshd.pid'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\n"
        f"AllowUsers {user}\nSubsystem sftp internal-sftp\n"
        # no shell, no forwarding: an SFTP session that starts in the delivery folder
        f"ForceCommand internal-sftp -d {remote}\nAllowTcpForwarding no\nX11Forwarding no\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.1)
    try:
        yield {"port": port, "user": user, "key": d / "client_key", "remote": remote}
    finally:
        proc.terminate()
        proc.wait()
