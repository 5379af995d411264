"""The SFTP pull against a real OpenSSH server on loopback (Debian's openssh-server, started by
the test with its own host and user keys): only complete files, a CSV whose .ok arrives later
on the next pull, a partial download resumed, and a second pull lands nothing new."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.sshd import serving as sshd_server

pytestmark = [pytest.mark.sftp, pytest.mark.slow]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    with sshd_server(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def pull(sshd, inbox: Path, warehouse: Path, home: Path) -> dict:
    """The Airflow task function itself, in its own process, with the connection from the
    environment as a deployment defines it."""
    conn = {
        "conn_type": "sftp",
        "host": "127.0.0.1",
        "port": sshd["port"],
        "login": sshd["user"],
        "extra": {"key_file": str(sshd["key"]), "no_host_key_check": True},
    }
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW_CONN_FPA_INSURER_SFTP": json.dumps(conn),
        "FPA_SFTP_CONN_ID": "fpa_insurer_sftp",
        "FPA_INBOX": str(inbox),
        "FPA_WAREHOUSE": str(warehouse),
    }
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from fpa.orchestration.pull import pull_new_files; "
            "print(json.dumps(pull_new_files()))",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def stock(remote: Path, small_inbox: Path, claim_ok: bool) -> tuple[Path, Path, Path]:
    """The server's delivery folder: a policy extract with its .ok, a claim extract (its .ok
    only if claim_ok) and a city report."""
    policy = sorted((small_inbox / "insurer").glob("JS_POLICY_2024*.csv"))[-1]
    claim = sorted((small_inbox / "insurer").glob("JS_CLAIM_2024*.csv"))[-1]
    report = sorted((small_inbox / "reports").glob("*.xls*"))[0]
    (remote / "insurer").mkdir(exist_ok=True)
    (remote / "reports").mkdir(exist_ok=True)
    for f in (policy, policy.with_suffix(".ok"), claim) + (
        (claim.with_suffix(".ok"),) if claim_ok else ()
    ):
        shutil.copy2(f, remote / "insurer" / f.name)
    shutil.copy2(report, remote / "reports" / report.name)
    return policy, claim, report


def test_pull_takes_complete_files_once_and_resumes(sshd, small_inbox, tmp_path):
    remote = sshd["remote"]
    policy, claim, report = stock(remote, small_inbox, claim_ok=False)

    inbox, warehouse, home = tmp_path / "inbox", tmp_path / "wh" / "fpa.duckdb", tmp_path / "af"
    # a pull killed half-way through the policy file left this behind
    part = inbox / "insurer" / f".{policy.name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(policy.read_bytes()[: policy.stat().st_size // 2])

    first = pull(sshd, inbox, warehouse, home)
    assert sorted(first["pulled"]) == sorted([f"insurer/{policy.name}", f"reports/{report.name}"])
    assert first["waiting"] == [f"insurer/{claim.name}"]
    assert (inbox / "insurer" / policy.name).read_bytes() == policy.read_bytes()
    assert (inbox / "insurer" / policy.with_suffix(".ok").name).exists()
    assert (inbox / "reports" / report.name).read_bytes() == report.read_bytes()
    assert not (inbox / "insurer" / claim.name).exists() and not part.exists()
    # the arrival time is the server's: landing orders deliveries by it
    assert int((inbox / "insurer" / policy.name).stat().st_mtime) == int(policy.stat().st_mtime)

    shutil.copy2(claim.with_suffix(".ok"), remote / "insurer" / claim.with_suffix(".ok").name)
    second = pull(sshd, inbox, warehouse, home)
    assert second["pulled"] == [f"insurer/{claim.name}"] and second["already"] == 2
    assert (inbox / "insurer" / claim.name).read_bytes() == claim.read_bytes()

    third = pull(sshd, inbox, warehouse, home)
    assert third["pulled"] == [] and third["already"] == 3 and third["waiting"] == []


def test_a_file_received_before_is_not_placed_again(sshd, small_inbox, tmp_path):
    from fpa.ingest import ingest

    remote = sshd["remote"]
    stock(remote, small_inbox, claim_ok=True)
    inbox, warehouse, home = tmp_path / "inbox", tmp_path / "wh" / "fpa.duckdb", tmp_path / "af"
    first = pull(sshd, inbox, warehouse, home)
    assert len(first["pulled"]) == 3
    ingest(inbox, warehouse)
    shutil.rmtree(inbox)  # the inbox is cleared after landing, the server keeps its files
    again = pull(sshd, inbox, warehouse, home)
    assert again["pulled"] == [] and len(again["landed_before"]) == 3
    assert not list(inbox.rglob("*.csv"))
    assert sorted(p.name for p in (remote / "insurer").glob("*.csv")) == sorted(
        p.rsplit("/", 1)[1] for p in again["landed_before"] if p.endswith(".csv")
    )
