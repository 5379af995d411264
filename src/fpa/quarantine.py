"""Why a row or a file is set aside: the reason codes every stage and the truth file share.

The codes, their level (row: quarantined, the rest of the file loads; file: rejected whole, or
neither loaded nor rejected) and their descriptions are dbt/seeds/reason_codes.csv's, read here:
the one list, which dbt also tests marts.quarantine against and the data issues, the dashboards
and `fpa feedback` take their Chinese from. A new reason is a row of the seed; the code that
raises it names it as Reason.<CODE IN CAPITALS> (tests/test_data_issues.py checks each name the
code uses is in the seed).
"""

from enum import StrEnum

from fpa import reference

Reason = StrEnum(
    "Reason",
    [(r["reason_code"].upper(), r["reason_code"]) for r in reference.reason_codes()],
    module=__name__,  # picklable: the workbook reader's process sends them back
)

# the English prefix of every audit reason ("<description>: <detail>"), which the data issues
# take apart again (dbt/models/intermediate/issues)
DESCRIPTIONS = {Reason(r["reason_code"]): r["description"] for r in reference.reason_codes()}
