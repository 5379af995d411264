"""Hand-built deliveries for the tests: an insurer extract exactly as the contract describes it
(GB18030, CRLF, header, rows, TRAILER), with made-up people whose ID numbers carry a valid
GB 11643 check digit."""

from datetime import date
from decimal import Decimal
from pathlib import Path

POLICY_HEADER = (
    "保单号,险种代码,险种名称,投保日期,保险起期,保险止期,份数,保费,被保险人姓名,证件类型,"
    "证件号码,联系电话,所属市,所属县区,出单机构,保单状态,批改日期"
)


def id_number(first17: str) -> str:
    """ISO 7064 MOD 11-2: the check character that makes the weighted sum ≡ 1 (mod 11)."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    check = (12 - total % 11) % 11
    return first17 + ("X" if check == 10 else str(check))


def write_policies(
    inbox: Path,
    day: date,
    county: tuple[str, str, str],  # (county code, county name, city name)
    n: int,
    yuan_per_unit: Decimal,
    first_no: int = 900000,
) -> Path:
    """n JSGA policies of 2 units each, written on `day` in one county, with a .ok marker."""
    code, county_name, city_name = county
    lines = [POLICY_HEADER]
    total = Decimal("0.00")
    for i in range(n):
        premium = (yuan_per_unit * 2).quantize(Decimal("0.01"))
        total += premium
        person = id_number(f"{code}1980{(i % 12) + 1:02d}{(i % 28) + 1:02d}{i % 1000:03d}")
        lines.append(
            f"GA{day.year}45{first_no + i:07d},JSGA,计生家庭关爱保险,{day},{day},"
            f"{day.replace(year=day.year + 1)},2,{premium},测试某,身份证,{person},"
            f"1390000{i % 10000:04d},{city_name},{county_name},中国人寿分公司,有效,"
        )
    lines.append(f"TRAILER,{n},{total}")
    path = inbox / "insurer" / f"JS_POLICY_{day:%Y%m%d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    path.with_suffix(".ok").touch()
    return path
