"""The import bundle: spec.py and the marts' dbt YAML -> Superset's export format (YAML files).

`write(folder)` regenerates superset/bundle/; a test keeps the committed files equal to what it
writes. `contents(warehouse)` reads the committed bundle back as the importer wants it, with the
published file's path put into the database's URI.
"""

import json
import re
import uuid
from pathlib import Path
from typing import Any

import yaml

from fpa.dashboards import spec
from fpa.gate import RESULT_COLUMNS
from fpa.paths import PROJECT_ROOT

BUNDLE_DIR = PROJECT_ROOT / "superset" / "bundle"
DBT_MODELS = PROJECT_ROOT / "dbt" / "models"
DATABASE = "fpa_warehouse"
WAREHOUSE_PLACEHOLDER = "${FPA_WAREHOUSE}"
VERSION = "1.0.0"
NAMESPACE = uuid.UUID("0b5c1a52-6d0e-4c55-9f3e-8a8f3c0d1e27")

# columns no dbt model describes: marts.quality_results is written by the gate, which says them
GATE_COLUMNS = list(RESULT_COLUMNS)


def uid(kind: str, key: str) -> str:
    """Stable uuids: a second sync finds the same objects and updates them in place."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


# --- the marts, as dbt describes them ---------------------------------------------------------


def dbt_models() -> dict[str, dict]:
    """The models Superset reads (marts, dashboards) as their YAML describes them."""
    models: dict[str, dict] = {}
    paths = [p for folder in ("marts", "dashboards") for p in (DBT_MODELS / folder).rglob("*.yml")]
    for path in sorted(paths):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for m in doc.get("models", []):
            models[m["name"]] = m
    return models


def _label(description: str) -> str:
    """The Chinese label a column's description starts with: '保费收入（元）— net …'."""
    return re.split(r"\s*(?:—|;|\(| - )", description.strip(), maxsplit=1)[0].strip()


def _is_time(type_: str) -> bool:
    return type_.startswith(("DATE", "TIMESTAMP"))


def _described(model: str, models: dict[str, dict]) -> list[tuple[str, str, str]]:
    if model == "quality_results":
        return GATE_COLUMNS
    return [
        (c["name"], c["data_type"].upper(), _label(c.get("description", "")))
        for c in models.get(model, {}).get("columns", [])
    ]


def columns_of(ds: spec.Dataset, models: dict[str, dict]) -> list[tuple[str, str, str]]:
    """The mart's columns, and a dashboards table's own after them (dbt/models/dashboards)."""
    added = _described(ds.name, models) if ds.name != ds.mart else []
    return _described(ds.mart, models) + added


def metrics_of(ds: spec.Dataset, models: dict[str, dict]) -> list[dict]:
    """The mart's metrics, and a dashboards table's own after them (pickers of its columns)."""
    names = [ds.mart] if ds.name == ds.mart else [ds.mart, ds.name]
    return [
        m
        for name in names
        for m in models.get(name, {}).get("meta", {}).get("superset", {}).get("metrics", [])
    ]


# --- YAML documents ---------------------------------------------------------------------------


def database_doc() -> dict:
    return {
        "database_name": DATABASE,
        "sqlalchemy_uri": f"duckdb:///{WAREHOUSE_PLACEHOLDER}",
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": {
            "allows_virtual_table_explore": True,
            # Each query opens the published file read-only (Superset's NullPool), so a night's
            # os.replace is seen by the next query and never blocked (the DuckDB instance each
            # process holds between queries is let go then: fpa.dashboards.held_instance).
            # From SQL Lab no file outside it is read or written (no COPY, read_csv, ATTACH,
            # INSTALL, LOAD from disk) and there is no temporary folder to write into (DuckDB
            # lets its temp_directory through even so; nothing spills: a query too big fails).
            # superset_config.py then disables the local file system (the file's own .wal
            # siblings are let through otherwise) and locks the configuration (no SET
            # memory_limit, threads, …): locked here, nothing could be disabled after the file
            # is open.
            "engine_params": {
                "connect_args": {
                    "read_only": True,
                    "config": {"enable_external_access": False, "temp_directory": ""},
                }
            },
            "metadata_params": {},
            "schemas_allowed_for_file_upload": [],
        },
        "uuid": uid("database", DATABASE),
        "version": VERSION,
    }


def dataset_doc(ds: spec.Dataset, models: dict[str, dict]) -> dict:
    columns = columns_of(ds, models)
    return {
        "table_name": ds.name,
        "main_dttm_col": None,
        "description": ds.description or None,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "catalog": None,
        "schema": ds.schema,
        "sql": None,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": uid("dataset", ds.name),
        "metrics": [
            {
                "metric_name": m["name"],
                "verbose_name": m["label"],
                "metric_type": None,
                "expression": m["sql"],
                "description": f"dbt: {ds.mart}.meta.superset",
                "d3format": m["format"],
                "currency": None,
                "extra": None,
                "warning_text": None,
            }
            for m in metrics_of(ds, models)
        ],
        "columns": [
            {
                "column_name": name,
                "verbose_name": label or None,
                "is_dttm": _is_time(type_),
                "is_active": True,
                "type": type_,
                "advanced_data_type": None,
                "groupby": True,
                "filterable": expression is None,
                "expression": expression,
                "description": None,
                "python_date_format": None,
                "extra": None,
            }
            for name, type_, label, expression in [
                *((name, type_, label, None) for name, type_, label in columns),
                *(MAP_COMPUTED if any(n == MAP_OUTLINE for n, _, _ in columns) else []),
            ]
        ],
        "version": VERSION,
        "database_uuid": uid("database", DATABASE),
    }


VIZ = {
    "big_number_total": "big_number_total",
    "card": "handlebars",
    "bar": "echarts_timeseries_bar",
    "line": "echarts_timeseries_line",
    "pie": "pie",
    "table": "table",
    "pivot": "pivot_table_v2",
    "heatmap": "heatmap_v2",
    "map": "deck_polygon",
}

# A map (deck.gl Polygon) draws one row per part of a county's boundary (of a MultiPolygon it
# would draw only the first polygon, apache/superset#39572, hence a row a part): the part's outer
# ring, a list Superset sends as JSON text (line_type json). The rows come largest part first, so
# an exclave is drawn over the county around it.
MAP_OUTLINE = "outline"  # insurance_county_map's column: the ring as numbers
# The ring as JSON text, made by DuckDB in the map's query: a column of the dataset, not of the
# table (the published file holds numbers, no digit-laden text for the personal-data checks to
# read past). Fetched as DOUBLE[][], each ring became Python lists in Superset, which then wrote
# them as this same JSON text itself: three quarters of a cold map request (~250 of ~300 ms on
# ten years' file), where DuckDB writes the text in a millisecond or two.
MAP_GEOMETRY = "outline_json"
MAP_GEOMETRY_SQL = f"CAST(to_json({MAP_OUTLINE}) AS VARCHAR)"
# the columns a dataset with the outline computes in its query: (name, type, label, SQL)
MAP_COMPUTED = [(MAP_GEOMETRY, "VARCHAR", "边界（JSON 文本）", MAP_GEOMETRY_SQL)]
MAP_PARTS = ["county_code", "part"]
# No tile server: a base map style that is neither mapbox:// nor tile:// nor OpenStreetMap's is
# no base map at all (Superset 6.1's DeckGLContainer), the counties on the dashboard's white.
MAP_NO_BASE = "none"
MAP_SCHEME = "schemeReds"  # light to dark red, the association's colour
BORDER = {"r": 191, "g": 191, "b": 191, "a": 1}  # light grey: a county left white is outlined


def map_columns(c: spec.Chart) -> list[str]:
    """A map's query columns, in the order its buildQuery puts them (Superset 6.1's deck.gl
    Polygon: the form's groupby, the polygon, then the tooltip's columns)."""
    groupby = [*MAP_PARTS, c.order_by]
    return [*groupby, MAP_GEOMETRY, *(col for col in c.columns if col not in groupby)]


def _formats(ds: spec.Dataset, models: dict[str, dict]) -> dict[str, str]:
    return {m["name"]: m["format"] for m in metrics_of(ds, models)}


def chart_params(c: spec.Chart, ds: spec.Dataset, models: dict[str, dict]) -> dict:
    formats = _formats(ds, models)
    fmt = c.fmt or (formats[c.metrics[0]] if c.metrics else "SMART_NUMBER")
    types = {name: type_ for name, type_, _ in columns_of(ds, models)}
    labels = {name: label for name, _, label in columns_of(ds, models)}
    where = spec.where_of(c)
    p: dict[str, Any] = {
        "datasource": "0__table",
        "viz_type": VIZ[c.viz],
        "adhoc_filters": (
            [
                {
                    "expressionType": "SQL",
                    "sqlExpression": where,
                    "clause": "WHERE",
                    "subject": None,
                    "operator": None,
                    "comparator": None,
                    "filterOptionName": f"filter_{c.key}",
                    "isExtra": False,
                    "isNew": False,
                }
            ]
            if where
            else []
        ),
        "extra_form_data": {},
        "dashboards": [],
        "row_limit": c.row_limit,
    }
    if c.viz == "big_number_total":
        p |= {
            "metric": c.metrics[0],
            "y_axis_format": fmt,
            "subtitle": c.unit,
            "header_font_size": 0.4,
            "subtitle_font_size": 0.15,
            "time_format": "smart_date",
        }
    elif c.viz == "card":
        p |= {
            "query_mode": "aggregate",
            "groupby": list(c.groupby),
            "metrics": list(c.metrics),
            "all_columns": [],
            "percent_metrics": [],
            "order_by_cols": [json.dumps([c.order_by, False])] if c.order_by else [],
            "order_desc": True,
            "include_time": False,
            "handlebarsTemplate": c.template,
            "styleTemplate": "",
        }
    elif c.viz in ("bar", "line"):
        p |= {
            "x_axis": c.x,
            "groupby": list(c.groupby),
            "metrics": list(c.metrics),
            "y_axis_format": fmt,
            "orientation": "vertical",
            "show_legend": True,
            "legendOrientation": "top",
            "legendType": "scroll",
            "rich_tooltip": True,
            # the sum of different metrics (units and target, a rate and the time share) means
            # nothing, and Superset labels it in English ("Total"): only a metric's series add up
            "showTooltipTotal": len(c.metrics) == 1,
            "truncate_metric": True,
            "show_empty_columns": True,
            "comparison_type": "values",
            "x_axis_time_format": "%Y-%m" if _is_time(types[c.x]) else "smart_date",
            "color_scheme": "supersetColors",
            "y_axis_title_position": "Left",
            "x_axis_title_margin": 15,
            "y_axis_title_margin": 15,
            "only_total": True,
            "order_desc": True,
        }
        if _is_time(types[c.x]):
            p["time_grain_sqla"] = c.grain or ("P1M" if types[c.x] == "DATE" else "P1D")
        elif types[c.x].upper() in ("INTEGER", "BIGINT"):
            # years are names on the axis, not a scale (two years were ticked 2022, 2022.2 …)
            p["xAxisForceCategorical"] = True
        elif c.width <= 6:
            # names on a half-width chart: level, ECharts hid every other one (培训对象)
            p["xAxisLabelRotation"] = 45
        if c.grain == "P1D":
            # a line of one year's days: the axis says month and day, a point its whole day
            p |= {"x_axis_time_format": "%m-%d", "tooltipTimeFormat": "%Y-%m-%d"}
        if c.order_by:
            p |= {"x_axis_sort": c.order_by, "x_axis_sort_asc": False}
        else:
            p |= {"x_axis_sort_asc": True}
        if c.viz == "line":
            # a point a day would draw a bead chain: a day's line has no markers
            p |= {"markerEnabled": c.grain != "P1D", "markerSize": 6, "seriesType": "line"}
    elif c.viz == "pie":
        p |= {
            "groupby": list(c.groupby),
            "metric": c.metrics[0],
            "number_format": fmt,
            "show_labels": True,
            "label_type": "key_percent",
            "labels_outside": True,
            "show_legend": True,
            "legendOrientation": "top",
            "legendType": "scroll",
            "sort_by_metric": True,
            "innerRadius": 30,
            "outerRadius": 70,
            "donut": False,
            "color_scheme": "supersetColors",
        }
    elif c.viz == "table":
        raw = not c.metrics
        p |= {
            "query_mode": "raw" if raw else "aggregate",
            "groupby": list(c.groupby),
            "metrics": list(c.metrics),
            "all_columns": list(c.columns),
            "order_by_cols": [],
            "order_desc": True,
            "server_pagination": False,
            "server_page_length": 10,
            "table_timestamp_format": "%Y-%m-%d %H:%M",
            "show_cell_bars": False,
            "color_pn": True,
            "allow_render_html": False,
            "percent_metrics": [],
            "column_config": {m: {"d3NumberFormat": formats[m]} for m in c.metrics},
        }
        if c.order_by and raw:  # a column, newest first
            p["order_by_cols"] = [json.dumps([c.order_by, False])]
        elif c.order_by:
            p["timeseries_limit_metric"] = c.order_by
    elif c.viz == "pivot":
        p |= {
            "groupbyRows": list(c.groupby),
            "groupbyColumns": list(c.columns),
            "metrics": list(c.metrics),
            "metricsLayout": "COLUMNS",
            "aggregateFunction": "Sum",
            "valueFormat": "SMART_NUMBER",
            "rowOrder": "key_a_to_z",
            "colOrder": "key_a_to_z",
            "order_desc": True,
            "rowTotals": False,
            "colTotals": False,
        }
    elif c.viz == "heatmap":
        p |= {
            "x_axis": c.x,
            "groupby": c.groupby[0],
            "metric": c.metrics[0],
            # diverging: the low end red, the middle pale yellow, the high end blue (a sequential
            # scheme ends near black, and a matrix of 1s read as a black block)
            "linear_color_scheme": "red_yellow_blue",
            "normalize_across": "heatmap",
            "legend_type": "continuous",
            "show_legend": False,
            "show_values": False,
            "show_percentage": False,
            "sort_x_axis": "alpha_asc",
            "sort_y_axis": "alpha_asc",
            "value_bounds": list(c.bounds),
            "xscale_interval": -1,
            "yscale_interval": -1,
            "left_margin": "auto",
            "bottom_margin": "auto",
            "y_axis_format": fmt,
        }
    elif c.viz == "map":
        p |= {
            "line_column": MAP_GEOMETRY,
            "line_type": "json",
            "reverse_long_lat": False,
            "metric": c.metrics[0],
            # the parts (and their area, to draw the largest first) are the rows
            "groupby": [*MAP_PARTS, c.order_by],
            "order_by_cols": [json.dumps([c.order_by, False])],
            # every county is drawn, a county without the figure uncoloured
            "filter_nulls": False,
            "tooltip_contents": [
                {"item_type": "column", "column_name": col, "verbose_name": labels[col]}
                for col in c.columns
            ],
            "tooltip_template": c.tooltip,
            "js_columns": [],
            "mapbox_style": MAP_NO_BASE,
            # fitted to the counties drawn (the province's, a city's); Guangxi until then
            "autozoom": True,
            "viewport": {"longitude": 108.8, "latitude": 23.8, "zoom": 5.5, "bearing": 0,
                         "pitch": 0},
            "color_scheme_type": "linear_palette",
            "linear_color_scheme": MAP_SCHEME,
            "num_buckets": 5,
            "break_points": [],
            "opacity": 90,
            "filled": True,
            "stroked": True,
            "extruded": False,
            "multiplier": 1,
            "fill_color_picker": {"r": 200, "g": 16, "b": 46, "a": 1},
            "stroke_color_picker": BORDER,
            "line_width": 1,
            "line_width_unit": "pixels",
            "legend_position": "br",
            "legend_format": fmt,
            "table_filter": False,
        }  # fmt: skip
    return p


def query_context(c: spec.Chart, params: dict) -> dict:
    """The saved query behind the chart-data GET API: the chart's own query with no dashboard
    filter, rows as the database returns them (no pivoting)."""
    if c.viz in ("bar", "line", "heatmap"):
        columns = [c.x, *c.groupby]
    elif c.viz == "pivot":
        columns = [*c.groupby, *c.columns]
    elif c.viz == "table" and not c.metrics:
        columns = list(c.columns)
    elif c.viz == "map":
        columns = map_columns(c)
    else:
        columns = list(c.groupby)
    order = c.order_by or (c.metrics[0] if c.metrics and c.viz != "big_number_total" else None)
    where = spec.where_of(c)
    query = {
        "filters": [],
        "extras": {"having": "", "where": f"({where})" if where else ""},
        "applied_time_extras": {},
        "columns": columns,
        # a raw table sends no metrics at all (as its buildQuery does): an empty list would
        # make Superset group by the columns, merging equal rows
        "metrics": None if c.viz == "table" and not c.metrics else list(c.metrics),
        "orderby": [[order, False]] if order else [],
        "annotation_layers": [],
        "row_limit": c.row_limit,
        "series_limit": 0,
        "order_desc": True,
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
        "post_processing": [],
    }
    return {
        "datasource": {"id": 0, "type": "table"},
        "force": False,
        "queries": [query],
        "form_data": params,
        "result_format": "json",
        "result_type": "full",
    }


def chart_doc(c: spec.Chart, models: dict[str, dict]) -> dict:
    ds = DATASETS[c.dataset]
    params = chart_params(c, ds, models)
    return {
        "slice_name": c.title,
        "description": c.description or None,
        "certified_by": None,
        "certification_details": None,
        "viz_type": VIZ[c.viz],
        "params": params,
        "query_context": json.dumps(query_context(c, params), ensure_ascii=False),
        "cache_timeout": None,
        "uuid": uid("chart", c.key),
        "version": VERSION,
        "dataset_uuid": uid("dataset", c.dataset),
    }


def chart_ids() -> dict[str, int]:
    """Bundle-local chart ids (the importer maps them to its own through the position)."""
    return {c.key: i for i, c in enumerate(all_charts(), start=1)}


def all_charts() -> list[spec.Chart]:
    return [c for d in spec.DASHBOARDS for row in d.rows for c in row]


def filter_id(f: spec.Filter) -> str:
    """A native filter's id (a dashboard's URL sets its value by it: ?native_filters=…)."""
    return f"NATIVE_FILTER-{uid('filter', f.dataset + f.column)[:8]}"


def _filter(f: spec.Filter, ids: dict[str, int]) -> dict:
    default: dict[str, Any] = {"extraFormData": {}, "filterState": {}, "ownState": {}}
    if f.default is not None:
        default = {
            "extraFormData": {"filters": [{"col": f.column, "op": "IN", "val": [f.default]}]},
            "filterState": {"value": [f.default], "label": f.default},
            "ownState": {},
        }
    return {
        "id": filter_id(f),
        "name": f.name,
        "filterType": "filter_select",
        "targets": [{"datasetUuid": uid("dataset", f.dataset), "column": {"name": f.column}}],
        "controlValues": {
            "enableEmptyFilter": f.required,
            "defaultToFirstItem": False,
            "multiSelect": False,
            "searchAllOptions": f.search_all,
            "inverseSelection": False,
            "sortAscending": not f.newest_by_default,
        },
        "defaultDataMask": default,
        "cascadeParentIds": [],
        "scope": {"rootPath": ["ROOT_ID"], "excluded": [ids[k] for k in f.excluded]},
        "type": "NATIVE_FILTER",
        "description": "",
        "tabsInScope": [],
    }


def dashboard_doc(d: spec.Dashboard) -> dict:
    ids = chart_ids()
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": d.title}},
    }
    for r, row in enumerate(d.rows):
        row_id = f"ROW-{d.slug}-{r}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": [f"CHART-{c.key}" for c in row],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for c in row:
            position[f"CHART-{c.key}"] = {
                "type": "CHART",
                "id": f"CHART-{c.key}",
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {
                    "chartId": ids[c.key],
                    "width": c.width,
                    "height": c.height,
                    "sliceName": c.title,
                    "uuid": uid("chart", c.key),
                },
            }
    return {
        "dashboard_title": d.title,
        "description": None,
        "css": spec.CARD_CSS,
        "slug": d.slug,
        "certified_by": "",
        "certification_details": "",
        "published": True,
        "uuid": uid("dashboard", d.slug),
        "position": position,
        "metadata": {
            "color_scheme": "supersetColors",
            "refresh_frequency": 0,
            "expanded_slices": {},
            "label_colors": dict(spec.COLORS),
            "shared_label_colors": [],
            "map_label_colors": {},
            "timed_refresh_immune_slices": [],
            "cross_filters_enabled": False,
            "default_filters": "{}",
            "chart_configuration": {},
            "global_chart_configuration": {
                "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                "chartsInScope": [],
            },
            "native_filter_configuration": [_filter(f, ids) for f in d.filters],
        },
        "version": VERSION,
    }


DATASETS = {ds.name: ds for ds in spec.DATASETS}


def documents() -> dict[str, dict]:
    """Every file of the bundle, by its path inside it."""
    models = dbt_models()
    docs: dict[str, dict] = {
        "metadata.yaml": {
            "version": VERSION,
            "type": "Dashboard",
            "timestamp": "2026-01-01T00:00:00+00:00",
        },
        f"databases/{DATABASE}.yaml": database_doc(),
    }
    for ds in spec.DATASETS:
        docs[f"datasets/{DATABASE}/{ds.name}.yaml"] = dataset_doc(ds, models)
    for c in all_charts():
        docs[f"charts/{c.key}.yaml"] = chart_doc(c, models)
    for d in spec.DASHBOARDS:
        docs[f"dashboards/{d.slug}.yaml"] = dashboard_doc(d)
    return docs


HEADER = "# Generated by `fpa superset bundle` from src/fpa/dashboards/spec.py and dbt meta.\n"


def render(doc: dict) -> str:
    return HEADER + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)


def write(folder: Path = BUNDLE_DIR) -> list[Path]:
    """Regenerate the bundle's files (and remove files no longer in it)."""
    docs = documents()
    written = []
    for rel, doc in docs.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(doc), encoding="utf-8")
        written.append(path)
    for old in folder.rglob("*.yaml"):
        if old.relative_to(folder).as_posix() not in docs:
            old.unlink()
    return written


def contents(warehouse: Path, folder: Path = BUNDLE_DIR) -> dict[str, str]:
    """The committed bundle as the importer reads it, pointed at the published file."""
    files = {p.relative_to(folder).as_posix(): p.read_text("utf-8") for p in folder.rglob("*.yaml")}
    if not files:
        raise FileNotFoundError(f"no Superset bundle in {folder}")
    db = f"databases/{DATABASE}.yaml"
    files[db] = files[db].replace(WAREHOUSE_PLACEHOLDER, str(Path(warehouse).resolve()))
    return files
