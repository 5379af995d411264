"""The quality gate's test for an ID number or a mobile number in clear (expectations/suites.yml,
suite personal_data), as a Python regex: the tests scan what leaves the warehouse with the very
pattern that guards the published file."""

import re

import yaml

from fpa.paths import PROJECT_ROOT


def gate_pattern() -> re.Pattern:
    suites = yaml.safe_load((PROJECT_ROOT / "expectations" / "suites.yml").read_text("utf-8"))
    (check,) = suites["suites"]["personal_data"]["expectations"]
    sql = check["unexpected_rows"]
    # regexp_matches(value, '<pattern>'): GX's str.format doubles braces, and $ is written $$
    quoted = re.search(r"regexp_matches\(\s*value,\s*'(.*?)'\)", sql, re.S).group(1)
    return re.compile(quoted.replace("{{", "{").replace("}}", "}").replace("$$", "$"))


def in_clear(text: str) -> list[str]:
    """Every ID or phone number in clear in `text` (masked ones do not match)."""
    return [m.group(2) for m in gate_pattern().finditer(text)]
