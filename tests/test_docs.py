"""The docs stay true: their commands run, their links lead somewhere, and the README keeps the
promises of its first screen.

Every ```bash block of docs/*.md says on its fence which of two kinds it is:

    ```bash runnable [exit=N] [setup=NAME] [expect=TEXT ...]
    ```bash manual

A `runnable` block is run here, with bash, in the order its page gives it: `fpa` and `python`
are this interpreter (`python -m fpa.cli`), the working folder is a fresh one per page, each
block is its own script (`set -euo pipefail`: a variable the page does not set is an error),
and a page that uses a warehouse gets a copy of the session's small published night
(`small_night`), named by `FPA_WAREHOUSE` and `FPA_INBOX`. A block must exit N (0 unless
said) and print each TEXT; `setup` first plants the situation the page describes (SETUPS),
since no command can. A `manual` block is not run: it needs what a test cannot start here
(Airflow, a deployment's paths), or it is a whole rebuild another test runs
(`fpa load --from-archive`: tests/test_marts.py) and would make this one slow. The `fpa`
command lines of every block, manual ones and the README's included, are still parsed by
fpa's own argument parser, so a renamed flag fails here. A plain ```bash block fails: each
one chooses.
"""

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from support.deliveries import write_policies
from support.nights import copy_night

from fpa.cli import parser
from fpa.paths import PROJECT_ROOT

DOCS = sorted((PROJECT_ROOT / "docs").glob("*.md"))
README = PROJECT_ROOT / "README.md"
# every Markdown file a reader is sent to from the README
LINKED = [README, *DOCS, *sorted(PROJECT_ROOT.glob("*/README.md"))]
FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>```+)(?P<info>.*)$")
PREAMBLE = """set -euo pipefail
fpa() { "$FPA_TEST_PYTHON" -m fpa.cli "$@"; }
python() { "$FPA_TEST_PYTHON" "$@"; }
"""
# what the runbook must show being done, each by a block that runs
RUNBOOK_COMMANDS = {"load", "set-aside", "allow", "rollback", "feedback", "bulletin"}


def bad_extract(inbox: Path, warehouse: Path) -> None:
    """河池市's first policies of 2025 with the premium keyed in 分: the city-year's premium per
    unit is 100 times its band, which the gate blocks (a year with nothing else in it)."""
    write_policies(inbox, date(2025, 1, 5), ("451202", "金城江区", "河池市"), 40, Decimal("5000"))


SETUPS = {"bad-extract": bad_extract}


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    tags: list[str]
    text: str
    options: dict[str, list[str]] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(PROJECT_ROOT)}:{self.line}"

    @property
    def runnable(self) -> bool:
        return "runnable" in self.tags

    @property
    def exit(self) -> int:
        return int(self.options.get("exit", ["0"])[-1])


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file (indented ones, inside list items, too)."""
    found, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, ticks, words = len(m["indent"]), m["ticks"], shlex.split(m["info"])
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(ticks):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        tags = [w for w in words[1:] if "=" not in w]
        options: dict[str, list[str]] = {}
        for w in words[1:]:
            if "=" in w:
                key, _, value = w.partition("=")
                options.setdefault(key, []).append(value)
        found.append(
            Block(path, i + 1, words[0] if words else "", tags, "\n".join(body) + "\n", options)
        )
        i = j + 1
    return found


def bash_blocks(paths: list[Path]) -> list[Block]:
    return [b for p in paths for b in blocks(p) if b.lang in ("bash", "sh", "shell")]


def command_lines(block: Block) -> list[list[str]]:
    """The `fpa …` commands of a block, each as the words fpa's parser gets (continued lines
    joined; a heredoc's body, comments and what follows a shell operator left out)."""
    out, heredoc = [], None
    for line in block.text.replace("\\\n", " ").splitlines():
        if heredoc is not None:
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        if m := re.search(r"<<-?'?(\w+)'?", line):
            heredoc = m[1]
        words = shlex.split(line, comments=True)
        for stop in ("|", "||", "&&", ";", ">", "<", "2>"):
            if stop in words:
                words = words[: words.index(stop)]
        if words[:2] == ["uv", "run"]:
            words = words[2:]
        if words[:1] == ["fpa"]:
            out.append(words[1:])
    return out


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = heading.strip().lower().replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)  # no headings in code
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_every_bash_block_of_the_docs_says_whether_it_runs():
    for b in bash_blocks(DOCS):
        assert ("runnable" in b.tags) != ("manual" in b.tags), (
            f"{b.where}: mark the block `bash runnable` (tests/test_docs.py runs it) or "
            "`bash manual` (not run; its fpa lines are still parsed)"
        )
        unknown = set(b.options) - {"exit", "setup", "expect"}
        assert not unknown, f"{b.where}: unknown option(s) {unknown}"
        for name in b.options.get("setup", []):
            assert name in SETUPS, f"{b.where}: no setup {name!r} in tests/test_docs.py"


def test_every_fpa_command_in_the_docs_and_the_readme_parses():
    commands = [(b, argv) for b in bash_blocks([README, *DOCS]) for argv in command_lines(b)]
    assert commands
    for b, argv in commands:
        try:
            parser().parse_args(argv)
        except SystemExit as e:
            pytest.fail(f"{b.where}: `fpa {shlex.join(argv)}` does not parse (exit {e.code})")


def test_the_runbook_runs_every_command_it_teaches():
    ran = {argv[0] for b in bash_blocks(DOCS) if b.runnable for argv in command_lines(b)}
    assert RUNBOOK_COMMANDS <= ran, RUNBOOK_COMMANDS - ran


def test_every_link_leads_to_a_file_and_heading_that_exist():
    for page in LINKED:
        text = re.sub(r"^ *```.*?^ *```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # a URL
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            assert dest.exists(), f"{page.relative_to(PROJECT_ROOT)}: no {file}"
            if anchor:
                assert anchor in anchors(dest), f"{page.relative_to(PROJECT_ROOT)}: no #{anchor}"


def test_the_readme_is_short_and_its_first_screen_has_what_a_newcomer_needs():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, len(lines)
    first = "\n".join(lines[:50])  # a screen
    assert "uv run fpa demo" in first and "bash tests/run.sh" in first
    assert "──►" in first, "the picture of one night"
    assert "(docs/operations.md#the-gate-blocked-the-night)" in first
    # CI runs the README's test command (.ci/run): the same script
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec bash tests/run.sh" in ci


def test_the_readmes_count_of_charts_is_the_specs():
    from fpa.dashboards import spec

    charts = sum(len(row) for d in spec.DASHBOARDS for row in d.rows)
    assert f"{charts} charts on {len(spec.DASHBOARDS)} dashboards" in README.read_text("utf-8")


@pytest.mark.slow
@pytest.mark.libreoffice
@pytest.mark.parametrize(
    "page", [p for p in DOCS if any(b.runnable for b in bash_blocks([p]))], ids=lambda p: p.name
)
def test_the_runnable_blocks_of_a_page_run_in_order(page, request, tmp_path):
    runnable = [b for b in bash_blocks([page]) if b.runnable]
    env = {k: v for k, v in os.environ.items() if k not in ("FPA_WAREHOUSE", "FPA_INBOX")}
    env["FPA_TEST_PYTHON"] = sys.executable
    inbox = warehouse = None
    if any("$FPA_" in b.text or "setup" in b.options for b in runnable):
        # a copy of the session's published night: the page's commands change it
        published, _ = request.getfixturevalue("small_night")
        inbox, warehouse = copy_night(published, request.getfixturevalue("small_inbox"), tmp_path)
        env.update(FPA_WAREHOUSE=str(warehouse), FPA_INBOX=str(inbox))
    work = tmp_path / "work"
    work.mkdir()
    for b in runnable:
        for name in b.options.get("setup", []):
            SETUPS[name](inbox, warehouse)
        r = subprocess.run(
            ["bash", "-c", PREAMBLE + b.text],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        said = r.stdout + r.stderr
        assert r.returncode == b.exit, (
            f"{b.where}: exit {r.returncode}, the page says {b.exit}\n{b.text}\n{said[-4000:]}"
        )
        for text in b.options.get("expect", []):
            assert text in said, f"{b.where}: {text!r} not printed\n{said[-4000:]}"
