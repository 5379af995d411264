"""`fpa bulletin` on a tiny hand-made warehouse (support/bulletin_warehouse.py) whose figures are
the newsletters': the sentences of the .md to the character, the Word file as python-docx reads
it (headings, tables, east-asian fonts) and as LibreOffice opens it, the PDF's text, the nulls
that say why, and bad arguments that write nothing. The formatting rules on their own first."""

import re
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from fractions import Fraction

import docx
import pytest
from docx.oxml.ns import qn
from support import office
from support.bulletin_warehouse import FIRST_DAY, NEWEST_DAY, make_warehouse

from fpa.bulletin import figures as fig
from fpa.bulletin import pdf, render
from fpa.cli import main

# -- the figures (BULLETIN.md "How figures are written") ------------------------------------


def test_half_up_on_the_exact_value():
    assert fig.half_up(Decimal("2.675")) == Decimal("2.68")  # round(2.675, 2) == 2.67
    assert fig.half_up(Decimal("2.665")) == Decimal("2.67")
    assert fig.half_up(Decimal("-0.125")) == Decimal("-0.13")  # a half away from zero
    assert fig.half_up(Fraction(1, 3), 4) == Decimal("0.3333")
    # a rate at a tie: 0.15765 is 15.765 %, up to 15.77 % (the float 0.15765 is below it)
    assert fig.percent(Decimal("0.15765")) == "15.77%"
    # never a rounded figure rounded again: 0.0564499… is 5.64 %, not 5.65 % (via 5.645)
    assert fig.percent(Fraction(564499, 10_000_000)) == "5.64%"


def test_the_newsletters_forms():
    assert fig.wan_units(283752) == "28.38万份"
    assert fig.wan_units(180000) == "18.00万份"
    assert fig.units(205029) == "205029份"
    assert fig.money(Decimal("14187700.00")) == "1418.77万元"
    assert fig.money(Decimal("7644400.00")) == "764.44万元"
    assert fig.money(Decimal("15624945")) == "1562.49万元"  # the newsletter's slip, in 元
    assert fig.money(Decimal("132000000.00")) == "1.32亿元"
    assert fig.money(100_000_000) == "1.00亿元"
    # below 1 亿元 by the exact amount, even where 万元 rounds up to 10000.00
    assert fig.money(Decimal("99999999.99")) == "10000.00万元"
    assert fig.percent(Fraction(283752, 180000)) == "157.64%"
    assert fig.percent(Fraction(76444, 141877)) == "53.88%"
    assert fig.points(Fraction(-2431, 10000)) == "24.31个百分点"
    assert fig.count(16584) == "16584" and fig.count(1234567) == "1234567"
    assert fig.day(date(2020, 8, 31)) == "2020年8月31日"
    assert fig.month(date(2022, 4, 1)) == "2022年4月"
    assert fig.signed_wan_units(68000) == "+6.80万份"
    assert fig.signed_wan_units(-5200) == "-0.52万份"
    assert fig.signed_wan_units(-20) == "0.00万份"  # no sign on what reads as nothing
    assert fig.signed_units(-37) == "-37份" and fig.signed_units(0) == "0份"


def test_only_exact_figures_and_no_null():
    for bad in (0.5764, None, True):
        with pytest.raises(TypeError):
            fig.percent(bad)
    with pytest.raises(TypeError):
        fig.count(3.0)
    assert fig.ratio(1, 0) is None and fig.ratio(None, 5) is None and fig.ratio(5, None) is None
    assert fig.ratio(Decimal("1.5"), 3) == Fraction(1, 2)


# -- the bulletin -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return make_warehouse(tmp_path_factory.mktemp("bulletin") / "fpa.duckdb")


def bulletin(warehouse, out, as_of, area=None) -> int:
    args = ["bulletin", "--warehouse", str(warehouse), "--as-of", as_of, "--out", str(out)]
    return main(args + (["--area", area] if area else []))


# the tests marked libreoffice write a PDF with it (the fixtures below, or bulletin() == 0)
@pytest.fixture(scope="module")
def hechi(warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("hechi")
    assert bulletin(warehouse, out, "2022-12-31", "451200") == 0
    return out, "河池市计生协统计通报_2022年12月31日"


@pytest.fixture(scope="module")
def province(warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("province")
    assert bulletin(warehouse, out, "2022-12-31") == 0
    return out, "自治区计生协统计通报_2022年12月31日"


def md(written) -> str:
    out, stem = written
    return (out / f"{stem}.md").read_text(encoding="utf-8")


@pytest.mark.libreoffice
def test_three_files_and_nothing_else(hechi, province):
    for out, stem in (hechi, province):
        assert sorted(p.name for p in out.iterdir()) == sorted(
            f"{stem}.{ext}" for ext in ("docx", "pdf", "md")
        )


@pytest.mark.libreoffice
def test_a_citys_insurance_as_the_newsletter_wrote_it(hechi):
    text = md(hechi)
    assert text.startswith("# 河池市计生协统计通报\n\n（截至2022年12月31日）\n")
    assert (
        "截至2022年12月31日，全市计生家庭关爱保险共承保28.38万份（236460件），保费收入"
        "1418.77万元，参保255376人。完成自治区计生协下达18.00万份任务的157.64%，序时进度为"
        "100.00%，超序时进度57.64个百分点。承保份数占全市常住人口的6.46%。" in text
    )
    assert (
        "累计理赔16584件，理赔金额764.44万元，赔付率为53.88%。上年同期（2021年12月31日）承保"
        "28.10万份，同比增加0.28万份（增长0.98%）；赔付率比上年同期上升8.88个百分点。" in text
    )
    # the other products, one sentence each; a zero premium last year has no growth rate
    assert "计生家庭爱心保险：截至2022年12月31日，全市承保0.52万份（4333件）" in text
    assert "上年同期（2021年12月31日）承保0.00万份，同比增加0.03万份。" in text


@pytest.mark.libreoffice
def test_a_citys_counties(hechi):
    text = md(hechi)
    assert "## 三、各县（市、区）关爱保险工作情况" in text
    assert "全市关爱保险承保份数最多的是金城江区，承保52000份。" in text
    assert (
        "完成数占常住人口比例超过全市水平（6.46%）的县（市、区）有：金城江区（14.86%）、"
        "巴马瑶族自治县（10.42%）、宜州区（8.57%）" in text
    )
    # a county without population: no figure, and the sentence says why
    assert "大化瑶族自治县常住人口数据暂缺，未参与比较。" in text
    assert "| 5 | 大化瑶族自治县 | 24000份 | -18000份 | — | 54.00万元 | 45.00% |" in text
    assert "“—”表示该项无数值：常住人口数据暂缺" in text
    assert (
        "与2021年同期相比，投保份数增加超过1万份的有：金城江区、都安瑶族自治县，其中金城江区"
        "较上年同期增加了12000份，位于全市增幅第一。" in text
    )
    assert "从县级来看，投保份数超过5万份的有：金城江区（52000份）。" in text
    # counties have no target: no target or completion column
    assert (
        "| 序号 | 县（市、区） | 承保份数 | 同比增减 | 占常住人口比例 | 理赔金额 | 赔付率 |" in text
    )


@pytest.mark.libreoffice
def test_the_province_and_its_cities(province):
    text = md(province)
    assert text.startswith("# 自治区计生协统计通报\n")
    assert "全区计生家庭关爱保险共承保321.42万份" in text
    assert "保费收入1.61亿元" in text  # from 1 亿元 on
    assert "承保份数占全区常住人口的5.61%。" in text
    assert "全区关爱保险工作完成最好的是钦州市，承保44.64万份，完成任务的178.57%。" in text
    assert (
        "完成数占常住人口比例超过全区水平（5.61%）的市有：钦州市（13.77%）、百色市（11.52%）、"
        "北海市（7.93%）、崇左市（6.49%）、来宾市（6.47%）、河池市（6.46%）、柳州市（6.05%）。"
        in text
    )
    assert (
        "与2021年同期相比，投保份数增加超过1万份的有：贵港市、百色市、来宾市、柳州市，其中"
        "贵港市较上年同期增加了6.80万份，位于全区增幅第一。" in text
    )
    assert (
        "从县级来看，投保份数超过5万份的有：浦北县（205029份）、灵山县（166915份）、桂平市"
        "（81334份）、西乡塘区（65951份）、金城江区（52000份）。" in text
    )
    # the three products together, as the newsletters' 系列保险 sentence: 3214179 + 52000 +
    # 3000 units, 160709050 + 1040000 + 1200000 元, 163105 + 1040 + 60 claims, 73579008 +
    # 346666 + 400000 元 paid (74325674 / 162949050 = 45.61 %)
    assert (
        "计生家庭系列保险合计：截至2022年12月31日，全区共承保326.92万份，保费收入1.63亿元；"
        "理赔164205件，理赔金额7432.57万元，综合赔付率45.61%。" in text
    )
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \| ", line)]
    assert len(rows) == 14  # every city, by completion
    assert rows[0].startswith("| 1 | 钦州市 | 44.64万份 | 25.00万份 | 178.57% |")
    assert rows[1] == (
        "| 2 | 河池市 | 28.38万份 | 18.00万份 | 157.64% | +0.28万份 | 6.46% | 764.44万元 | 53.88% |"
    )


@pytest.mark.libreoffice
def test_activities_training_and_reporting(province, hechi):
    text = md(province)
    assert (
        "2022年12月（已收到2个市的月报），全区开展活动10场次，参与600人，服务1040人次，投入经费"
        "4.70万元；举办培训3班次，培训156人次、252人天。" in text
    )
    assert "2022年1月至12月，全区累计开展活动14场次" in text
    assert "| 暖心行动 | 2 | 80 | 90 | 1.20万元 | 2 | 80 | 90 | 1.20万元 |" in text
    assert "| 协保员 | 2 | 96 | 192 | 2 | 96 | 192 |" in text
    assert (
        "2022年11月的月报（报送期限2022年12月10日）应报14份，实报13份，报送率92.86%，按时报送"
        "12份，及时率85.71%。未报送的市：南宁市；迟报的市：梧州市（月末后15天报送）。" in text
    )
    assert "2022年1月至11月的月报应报154份，实报153份，报送率99.35%" in text
    # open issues per provider; the resolved one is not counted
    assert "目前尚未解决的数据问题共8个：中国人寿3个；南宁市1个；梧州市1个；河池市3个。" in text
    assert "本市该月月报按时报送。" in md(hechi)
    assert "本市3个（文件未能入库1个、数据行被隔离2个），中国人寿涉及本市的2个" in md(hechi)


@pytest.mark.libreoffice
def test_the_last_line_says_how_fresh(province):
    last = md(province).rstrip().splitlines()[-1]
    assert last == (
        "本通报由数据仓库自动生成，所用数据仓库文件生成于2023年1月6日 10:00，其中最新的数据文件为"
        "reports/河池市计生协2022年12月工作月报.xlsx（2023年1月5日 09:30收到）。"
    )


@pytest.mark.libreoffice
def test_no_target_no_last_year_no_data_say_why(warehouse, tmp_path):
    assert bulletin(warehouse, tmp_path, "2024-03-31") == 0
    text = (tmp_path / "自治区计生协统计通报_2024年3月31日.md").read_text(encoding="utf-8")
    assert "2024年自治区计生协未下达关爱保险指导性任务数（自2024年起不再下达）" in text
    assert "完成率" not in text.split("## 三")[0].replace("不计算任务完成率", "")
    assert "0.00%" not in text and "没有数据" not in text
    assert "（按2023年常住人口计算）" in text
    assert "上年同期（2023年3月31日）无数据，不作同比。" in text
    assert "计生家庭爱心保险：截至2024年3月31日，全区本年度尚无承保数据。" in text  # no row
    assert "计生特殊家庭综合保险：截至2024年3月31日，全区本年度尚无承保数据。" in text  # zeros
    assert "全区关爱保险承保份数最多的是钦州市" in text  # by units, no target
    assert "| 序号 | 市 | 承保份数 | 占常住人口比例 | 理赔金额 | 赔付率 |" in text
    assert "| 1 | 钦州市 | 11.16万份 | 3.44% | 251.12万元 | 45.00% |" in text
    assert "2023年同期无数据，不列同比增减" in text
    assert "2024年3月的月报尚未报送（报送期限为2024年4月10日）" in text
    assert "2024年1月至3月的月报均尚未收到，暂无本年活动和培训数据。" in text


@pytest.mark.libreoffice
def test_behind_the_schedule(warehouse, tmp_path):
    assert bulletin(warehouse, tmp_path, "2022-06-30", "451200") == 0
    text = (tmp_path / "河池市计生协统计通报_2022年6月30日.md").read_text(encoding="utf-8")
    # 7.09万份 of 18万份 on day 181 of 365 (49.59 %)
    assert (
        "完成自治区计生协下达18.00万份任务的39.41%，序时进度为49.59%，慢序时进度10.18个百分点。"
        in text
    )


@pytest.mark.libreoffice
def test_the_word_file(hechi):
    out, stem = hechi
    d = docx.Document(str(out / f"{stem}.docx"))
    headings = [p.text for p in d.paragraphs if p.style.name == "Heading 1"]
    assert headings == [
        "一、计生家庭关爱保险",
        "二、计生家庭爱心保险和计生特殊家庭综合保险",
        "三、各县（市、区）关爱保险工作情况",
        "四、活动和培训",
        "五、月报报送和数据质量",
    ]
    assert d.paragraphs[0].style.name == "Title" and d.paragraphs[0].text == "河池市计生协统计通报"
    # real tables, the same cells as the Markdown
    assert len(d.tables) == 3
    first = d.tables[0]
    assert [c.text for c in first.rows[0].cells][:3] == ["序号", "县（市、区）", "承保份数"]
    assert [c.text for c in first.rows[1].cells][:3] == ["1", "金城江区", "52000份"]
    # Chinese fonts, as w:eastAsia, with no theme font to override them
    for name, font in (("Normal", "宋体"), ("Heading 1", "黑体"), ("Title", "黑体")):
        fonts = d.styles[name].element.rPr.rFonts
        assert fonts.get(qn("w:eastAsia")) == font, name
        assert fonts.get(qn("w:eastAsiaTheme")) is None and fonts.get(qn("w:asciiTheme")) is None
    defaults = d.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault"))
    rpr = defaults.find(qn("w:rPr"))
    assert rpr.find(qn("w:rFonts")).get(qn("w:eastAsia")) == "宋体"
    assert rpr.find(qn("w:lang")).get(qn("w:eastAsia")) == "zh-CN"
    # what the figures read like in the Word file is what the Markdown says
    body = "\n".join(p.text for p in d.paragraphs)
    assert "完成自治区计生协下达18.00万份任务的157.64%" in body


@pytest.mark.libreoffice
def test_libreoffice_opens_the_word_file(hechi, tmp_path):
    out, stem = hechi
    office.convert(out / f"{stem}.docx", "odt", tmp_path)
    assert (tmp_path / f"{stem}.odt").stat().st_size > 0


def pdf_text(path) -> str:
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return re.sub(r"\s+", "", done.stdout.decode("utf-8"))


@pytest.mark.libreoffice
def test_the_pdf_has_the_chinese_text(hechi):
    out, stem = hechi
    text = pdf_text(out / f"{stem}.pdf")
    assert "河池市计生协统计通报" in text
    for figure in ("28.38万份", "1418.77万元", "157.64%", "764.44万元", "53.88%", "16584件"):
        assert figure in text, figure
    assert "超序时进度57.64个百分点" in text
    fonts = subprocess.run(
        ["pdffonts", str(out / f"{stem}.pdf")], capture_output=True, text=True, check=True
    ).stdout
    # 宋体 as a serif Chinese face, 黑体 as a sans one (fontconfig's substitutes), embedded
    assert "NotoSerifCJK" in fonts and "NotoSansCJK" in fonts


@pytest.mark.libreoffice
def test_without_libreoffice_the_word_file_and_text_but_exit_1(
    warehouse, hechi, tmp_path, monkeypatch, capsys
):
    # an earlier run's PDF is not left beside the new files
    _, stem = hechi
    (tmp_path / f"{stem}.pdf").write_bytes(b"old")
    monkeypatch.setattr(pdf, "soffice", lambda: None)
    assert bulletin(warehouse, tmp_path, "2022-12-31", "451200") == 1
    assert "no PDF: LibreOffice is not installed" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}.docx", f"{stem}.md"]


def test_without_a_chinese_font_no_pdf(warehouse, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pdf, "chinese_faces", set)
    assert bulletin(warehouse, tmp_path, "2022-12-31", "451200") == 1
    assert "fonts-noto-cjk" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, says",
    [
        (["--as-of", "2021-12-30"], f"the warehouse's figures start on {FIRST_DAY}"),
        (["--as-of", "2024-04-01"], f"the newest day the warehouse holds is {NEWEST_DAY}"),
        (["--as-of", "2023-06-30"], "holds no figures"),
        (["--as-of", "2022-12-31", "--area", "451202"], "--area 451202: neither the province"),
        (["--as-of", "2022-13-01"], "not a day (YYYY-MM-DD)"),
        (["--as-of", "20221231"], "not a day (YYYY-MM-DD)"),
    ],
)
def test_bad_arguments_write_nothing(warehouse, tmp_path, capsys, args, says):
    out = tmp_path / "out"
    assert main(["bulletin", "--warehouse", str(warehouse), "--out", str(out), *args]) == 2
    assert says in capsys.readouterr().err
    assert not out.exists()


def test_no_warehouse_writes_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    argv = ["bulletin", "--as-of", "2022-12-31", "--out", str(out)]
    assert main([*argv, "--warehouse", str(tmp_path / "missing.duckdb")]) == 2
    assert "no published warehouse there" in capsys.readouterr().err
    (tmp_path / "not.duckdb").write_text("not a database")
    assert main([*argv, "--warehouse", str(tmp_path / "not.duckdb")]) == 2
    assert "not a warehouse DuckDB can open" in capsys.readouterr().err
    monkeypatch.delenv("FPA_WAREHOUSE", raising=False)
    assert main(argv) == 2
    assert "--warehouse (or FPA_WAREHOUSE) is needed" in capsys.readouterr().err
    assert not out.exists()


def test_a_failure_while_writing_leaves_nothing(warehouse, tmp_path, monkeypatch):
    def broken(doc, path):
        path.write_bytes(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr("fpa.bulletin.word", broken)
    with pytest.raises(RuntimeError):
        bulletin(warehouse, tmp_path, "2022-12-31")
    assert list(tmp_path.iterdir()) == []  # not even the hidden staging folder


@pytest.mark.libreoffice
def test_the_markdown_and_the_word_file_are_one_document(hechi):
    """Every paragraph of the Word file is a paragraph of the Markdown (the same model)."""
    out, stem = hechi
    text = md(hechi)
    d = docx.Document(str(out / f"{stem}.docx"))
    for p in d.paragraphs:
        assert p.text in text, p.text
    for t in d.tables:
        for row in t.rows:
            assert "| " + " | ".join(c.text for c in row.cells) + " |" in text


def test_fontconfig_maps_the_word_fonts_to_installed_faces():
    conf = pdf.fontconfig({"Noto Serif CJK SC", "Noto Sans CJK SC"})
    assert "<family>宋体</family><prefer><family>Noto Serif CJK SC</family>" in conf
    assert "<family>黑体</family><prefer><family>Noto Sans CJK SC</family>" in conf
    assert render.BODY_FONT in conf and "SimSun" in conf


def test_a_warehouse_without_the_marts_is_refused(warehouse, tmp_path, capsys):
    import duckdb

    old = tmp_path / "old.duckdb"
    shutil.copy(warehouse, old)
    with duckdb.connect(str(old)) as con:
        con.execute("DROP TABLE marts.insurance_progress")
    out = tmp_path / "out"
    assert bulletin(old, out, "2022-12-31") == 2
    assert "the warehouse has no marts.insurance_progress" in capsys.readouterr().err
    assert not out.exists()
