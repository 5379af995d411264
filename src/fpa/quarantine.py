"""Why a row or a file is set aside: the reason codes every stage and the truth file share."""

from enum import StrEnum


class Reason(StrEnum):
    # rows (quarantined; the rest of the file loads)
    BAD_ID_CHECKSUM = "bad_id_checksum"
    CLAIM_ABOVE_CEILING = "claim_above_ceiling"
    PREMIUM_UNIT_MISMATCH = "premium_unit_mismatch"
    COUNTY_OF_OTHER_CITY = "county_of_other_city"
    UNKNOWN_REGION = "unknown_region"
    UNKNOWN_PRODUCT = "unknown_product"
    UNREADABLE_VALUE = "unreadable_value"
    UNKNOWN_VALUE = "unknown_value"  # a 活动类型, 所属项目, 培训对象 or 培训方式 outside its list
    SUBTOTAL_ROW = "subtotal_row"  # a 小计/合计/总计/累计 row among the data rows
    MERGED_CELLS = "merged_cells"  # a number cell merged over several data rows
    # files (rejected whole)
    TRAILER_MISSING = "trailer_missing"
    TRAILER_MISMATCH = "trailer_mismatch"
    WORKBOOK_CORRUPT = "workbook_corrupt"
    TITLE_FILENAME_MISMATCH = "title_filename_mismatch"
    ENCODING = "encoding"
    UNKNOWN_LAYOUT = "unknown_layout"
    UNKNOWN_FILE = "unknown_file"
    UNSAFE_FILE = "unsafe_file"  # a symlink or special file in the inbox: never followed
    WORKBOOK_TOO_LARGE = "workbook_too_large"  # over a reader limit (configuration)
    READER_CRASHED = "reader_crashed"  # reading it killed a run: never read again
    PERIOD_OUT_OF_RANGE = "period_out_of_range"  # a report month after this month, before 2017
    SET_ASIDE = "set_aside"  # an operator set the file aside (fpa set-aside)
    TOTAL_MISMATCH = "total_mismatch"  # a population 合计 that is not the sum of its counties
    # files neither loaded nor rejected
    DUPLICATE = "duplicate"
    SUPERSEDED = "superseded"
    NO_OK_MARKER = "no_ok_marker"


DESCRIPTIONS = {
    Reason.BAD_ID_CHECKSUM: "ID number fails the GB 11643 check digit",
    Reason.CLAIM_ABOVE_CEILING: "claim paid above the product's ceiling",
    Reason.PREMIUM_UNIT_MISMATCH: "premium 1,000× or more away from units × unit price (万元/元)",
    Reason.COUNTY_OF_OTHER_CITY: "county belongs to another city than the report's",
    Reason.UNKNOWN_REGION: "region name not in the region seeds or aliases",
    Reason.UNKNOWN_PRODUCT: "product code not in the product seed",
    Reason.UNREADABLE_VALUE: "a date or number that cannot be read",
    Reason.UNKNOWN_VALUE: "a value outside the contract's list",
    Reason.SUBTOTAL_ROW: "a subtotal or total row among the data rows, not loaded as data",
    Reason.MERGED_CELLS: "a cell merged over rows or fields it cannot be split between",
    Reason.ENCODING: "neither GB18030 nor UTF-8",
    Reason.UNKNOWN_LAYOUT: "not the layout the contract describes",
    Reason.UNKNOWN_FILE: "a file the contracts do not name",
    Reason.UNSAFE_FILE: "a symbolic link or special file, not a regular file: never followed",
    Reason.WORKBOOK_TOO_LARGE: "the workbook is over a reader limit",
    Reason.READER_CRASHED: "reading this file stopped an earlier run: it is not read again",
    Reason.PERIOD_OUT_OF_RANGE: "the report's month is after the current month or before 2017",
    Reason.SET_ASIDE: "set aside by an operator",
    Reason.TOTAL_MISMATCH: "a 合计 row differs from the sum of the rows it totals",
    Reason.TRAILER_MISSING: "no TRAILER line: the transfer was cut",
    Reason.TRAILER_MISMATCH: "TRAILER row count or money sum does not match the rows",
    Reason.WORKBOOK_CORRUPT: "the workbook cannot be opened",
    Reason.TITLE_FILENAME_MISMATCH: "title and file name name different cities or months",
    Reason.DUPLICATE: "same content already received",
    Reason.SUPERSEDED: "replaced by a later report for the same city and month",
    Reason.NO_OK_MARKER: "no .ok marker yet: still being transferred",
}
