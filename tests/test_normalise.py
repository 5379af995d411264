"""Each written form the contract lists, by name, with the value it must give."""

import hashlib
import hmac
from datetime import date
from decimal import Decimal

import pytest

from fpa.normalise.dates import DateError, parse_date_range
from fpa.normalise.ids import check_digit, is_valid, normalise
from fpa.normalise.numbers import NumberError, parse_number
from fpa.normalise.regions import resolve
from fpa.personal import PersonHasher, mask_id


@pytest.mark.parametrize(
    "written, value, approximate",
    [
        ("1,200", "1200", False),  # thousands separator
        ("１２００", "1200", False),  # full width
        ("30余", "30", True),
        ("200多", "200", True),
        ("约500", "500", True),
        ("3千多", "3000", True),
        ("1.5万", "15000", False),
        ("12.5万元", "125000", False),
        (35, "35", False),
        (2.5, "2.5", False),
    ],
)
def test_numbers_as_text(written, value, approximate):
    p = parse_number(written)
    assert p.value == Decimal(value) and p.approximate is approximate


@pytest.mark.parametrize("none", ["—", "/", "", None, " "])
def test_none_markers_are_no_value(none):
    assert parse_number(none).value is None


def test_a_word_is_not_a_number():
    with pytest.raises(NumberError):
        parse_number("很多")


@pytest.mark.parametrize(
    "written, start, end",
    [
        (45067, date(2023, 5, 21), date(2023, 5, 21)),  # Excel serial
        (date(2023, 5, 21), date(2023, 5, 21), date(2023, 5, 21)),  # a date cell
        ("2023-05-21", date(2023, 5, 21), date(2023, 5, 21)),
        ("2023/5/21", date(2023, 5, 21), date(2023, 5, 21)),
        ("2023.5.21", date(2023, 5, 21), date(2023, 5, 21)),
        ("2023年5月21日", date(2023, 5, 21), date(2023, 5, 21)),
        ("5月21日", date(2023, 5, 21), date(2023, 5, 21)),  # the report's year
        ("11月10日—11日", date(2023, 11, 10), date(2023, 11, 11)),
        ("11月10日-12日", date(2023, 11, 10), date(2023, 11, 12)),
        ("2023年5月28日—29日", date(2023, 5, 28), date(2023, 5, 29)),
        ("5月30日—6月1日", date(2023, 5, 30), date(2023, 6, 1)),
    ],
)
def test_dates_in_every_listed_form(written, start, end):
    assert parse_date_range(written, 2023) == (start, end)


@pytest.mark.parametrize("bad", ["5月32日", "下旬", "11月12日-10日"])
def test_impossible_dates_are_errors(bad):
    with pytest.raises(DateError):
        parse_date_range(bad, 2023)


@pytest.mark.parametrize(
    "written, code",
    [
        ("秀峰区", "450302"),  # short form of 桂林市秀峰区
        ("河池", "451200"),  # short city
        ("横县", "450181"),  # old name (横州市 since 2021)
        ("平果县", "451082"),
        ("田阳县", "451003"),
        ("荔浦县", "450381"),
        ("河池市金城江区", "451202"),  # city prefixed
        (" 金城江区 ", "451202"),  # stray spaces
        ("都安县", "451228"),  # 都安瑶族自治县
    ],
)
def test_region_names(written, code):
    assert resolve(written).code == code


def test_a_county_knows_its_city_and_an_unknown_name_is_none():
    assert resolve("金城江区").city_code == "451200"
    assert resolve("火星县") is None


def test_id_numbers_lower_case_x_and_check_digit():
    body = "45120219850612011"
    assert check_digit(body) == "X"
    assert normalise(" 45120219850612011x ") == "45120219850612011X"
    assert is_valid("45120219850612011x")
    assert not is_valid("451202198506120110")  # a wrong check digit
    assert mask_id("45120219850612011X") == "451202************"


def test_person_key_is_hmac_sha256():
    h = PersonHasher(b"demo-key")
    assert h("45120219850612011X") == h.reference("45120219850612011X")
    assert h("45120219850612011X") != PersonHasher(b"other")("45120219850612011X")
    full = hmac.new(b"demo-key", b"45120219850612011X", hashlib.sha256).hexdigest()
    assert h("45120219850612011X") == int(full[:32], 16)  # the first 128 bits, as an integer


def test_a_state_with_hex_person_keys_keeps_each_persons_key(tmp_path):
    """A state written before keys were truncated held the 64 hex digits; opening it converts
    them, and a person loaded again gets the very key the conversion gave."""
    import duckdb

    from fpa.state import StatePaths, writer

    h = PersonHasher(b"demo-key")
    full = hmac.new(b"demo-key", b"45120219850612011X", hashlib.sha256).hexdigest()
    paths = StatePaths(tmp_path / "fpa.duckdb")
    paths.root.mkdir()
    with duckdb.connect(str(paths.db)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.insurer_claims (claim_no VARCHAR, person_key VARCHAR NOT NULL)"
        )
        con.execute("INSERT INTO raw.insurer_claims VALUES ('LP1', ?)", [full])
    with writer(paths) as con:
        got = con.execute("SELECT person_key FROM raw.insurer_claims").fetchall()
        kinds = con.execute(
            "SELECT DISTINCT data_type FROM duckdb_columns() WHERE column_name = 'person_key'"
        ).fetchall()
    assert got == [(h("45120219850612011X"),)]
    assert kinds == [("UHUGEINT",)]
