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
    # files (rejected whole)
    TRAILER_MISSING = "trailer_missing"
    TRAILER_MISMATCH = "trailer_mismatch"
    WORKBOOK_CORRUPT = "workbook_corrupt"
    TITLE_FILENAME_MISMATCH = "title_filename_mismatch"
    ENCODING = "encoding"
    UNKNOWN_LAYOUT = "unknown_layout"
    UNKNOWN_FILE = "unknown_file"
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
    Reason.ENCODING: "neither GB18030 nor UTF-8",
    Reason.UNKNOWN_LAYOUT: "not the layout the contract describes",
    Reason.UNKNOWN_FILE: "a file the contracts do not name",
    Reason.TRAILER_MISSING: "no TRAILER line: the transfer was cut",
    Reason.TRAILER_MISMATCH: "TRAILER row count or money sum does not match the rows",
    Reason.WORKBOOK_CORRUPT: "the workbook cannot be opened",
    Reason.TITLE_FILENAME_MISMATCH: "title and file name name different cities or months",
    Reason.DUPLICATE: "same content already received",
    Reason.SUPERSEDED: "replaced by a later report for the same city and month",
    Reason.NO_OK_MARKER: "no .ok marker yet: still being transferred",
}
