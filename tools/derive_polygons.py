#!/usr/bin/env python3
"""Derive data/unit_polygons.csv (simplified outlines of migrasim's units).

Usage (from the project root):

    python3 tools/derive_polygons.py ../shared/data           # (re)write data/unit_polygons.csv
    python3 tools/derive_polygons.py ../shared/data --check   # exit 1 if the file is stale

Reads raw/leiii_census/census_city_2010-2020_v1.csv from the source folder
(github.com/leiii/census, MIT, (c) 2022 Lei Dong): one row per prefecture-level
unit with its boundary as WKT in lon/lat (column `coord`).  Rows are matched to
data/units.csv by administrative code (`city_code` = `code`), falling back to
the Chinese name (the four municipalities are coded 110100 etc. in the source
and 110000 etc. in units.csv).

Borders are simplified with Douglas-Peucker (tolerance TOLERANCE_DEG degrees
of lon/lat) once per shared border (arc), so neighbouring units keep sharing
their vertices exactly; rings that collapse are dropped, small islands are
dropped (only the largest parts of a multipolygon are kept), coordinates are
rounded to 3 decimals, exterior rings are made counter-clockwise and holes
clockwise.
Output: `code,wkt`, sorted by code; UTF-8, "\\n" line endings, deterministic.
Hong Kong and Macau are not simulated units but are kept (codes 810000,
820000) so maps can draw them as "no data" context.

Standard library only.  See docs/data.md ("data/unit_polygons.csv").
"""

import argparse
import csv
import io
import math
import re
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
OUT_NAME = "unit_polygons.csv"
SOURCE_REL = Path("raw") / "leiii_census" / "census_city_2010-2020_v1.csv"

# Douglas-Peucker tolerance in degrees (~2 km; a pixel of a 1200 px wide map
# of China is ~0.07 degrees, so this is invisible at chart size).
TOLERANCE_DEG = 0.02
DECIMALS = 3
# Parts (islands) and holes smaller than this many square degrees (~5 km2 at
# 35 N) are dropped; the largest part of every unit is always kept.
MIN_RING_AREA = 0.0005
# At most this many parts per unit (largest first).
MAX_PARTS = 12
# Source rows that are not migrasim units but are kept as map context.
CONTEXT_CODES = {"810000": "Hong Kong", "820000": "Macau"}
# Sanity targets.
MIN_MATCHED_UNITS = 360
MAX_FILE_BYTES = 2_000_000


# ------------------------------------------------------------------ WKT ----
_TOKEN = re.compile(r"\s*([A-Za-z]+|\(|\)|,|[-+0-9.eE]+)")


def parse_wkt(text):
    """POLYGON / MULTIPOLYGON -> list of polygons, each a list of rings,
    each a list of (lon, lat) tuples."""
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

    def ring():
        take("(")
        pts = []
        while True:
            x = float(take())
            y = float(take())
            pts.append((x, y))
            if take() == ")":
                return pts

    def polygon():
        take("(")
        rings = [ring()]
        while take() == ",":
            rings.append(ring())
        return rings

    kind = take().upper()
    if kind == "POLYGON":
        polys = [polygon()]
    elif kind == "MULTIPOLYGON":
        take("(")
        polys = [polygon()]
        while take() == ",":
            polys.append(polygon())
    else:
        raise ValueError(f"unsupported geometry {kind}")
    if pos != len(tokens):
        raise ValueError("trailing text after WKT geometry")
    return polys


def fmt_num(v):
    s = f"{v:.{DECIMALS}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("-0", ""):
        s = "0"
    return s


def to_wkt(polys):
    def ring(pts):
        return "(" + ",".join(f"{fmt_num(x)} {fmt_num(y)}" for x, y in pts) + ")"

    def polygon(rings):
        return "(" + ",".join(ring(r) for r in rings) + ")"

    if len(polys) == 1:
        return "POLYGON" + polygon(polys[0])
    return "MULTIPOLYGON(" + ",".join(polygon(p) for p in polys) + ")"


# ------------------------------------------------------------- geometry ----
def signed_area(pts):
    """Shoelace area; positive for counter-clockwise rings."""
    s = 0.0
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1]):
        s += x0 * y1 - x1 * y0
    return s / 2.0


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


def open_ring(pts):
    """Ring without the closing point and without repeated vertices."""
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


class Topology:
    """Shared-border-aware simplification.

    The source polygons tile the country exactly: a border between two units
    is the same vertex sequence in both (checked: every edge is used by one
    or two rings).  Each ring is cut at its junctions (vertices where the set
    of rings sharing the edge changes) into arcs; every distinct arc is
    simplified once and reused by both neighbours, so simplified units still
    share their borders exactly: no slivers or gaps, and a renderer can
    dissolve units into provinces by cancelling shared edges."""

    def __init__(self, rings, tol):
        self.rings = [open_ring(r) for r in rings]
        self.tol = tol
        users = {}
        for rid, ring in enumerate(self.rings):
            for a, b in zip(ring, ring[1:] + ring[:1]):
                users.setdefault((min(a, b), max(a, b)), []).append(rid)
        self.edge_use = {}
        for edge, rids in users.items():
            self.edge_use[len(rids)] = self.edge_use.get(len(rids), 0) + 1
        self.users = {e: tuple(sorted(r)) for e, r in users.items()}
        self.arcs = {}

    def _edge(self, a, b):
        return self.users[(min(a, b), max(a, b))]

    def _arc(self, pts):
        key = tuple(pts)
        rev = key[::-1]
        canon = min(key, rev)
        if canon not in self.arcs:
            self.arcs[canon] = douglas_peucker(list(canon), self.tol)
        out = self.arcs[canon]
        return list(out) if canon == key else out[::-1]

    def simplified(self, rid):
        """Simplified ring `rid` as an open vertex list (unrounded)."""
        ring = self.rings[rid]
        n = len(ring)
        if n < 3:
            return ring
        junctions = [
            i for i in range(n)
            if self._edge(ring[i - 1], ring[i]) != self._edge(ring[i], ring[(i + 1) % n])
        ]
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
                self.arcs[key] = simplify_loop(loop, self.tol)
            out = list(self.arcs[key])
            if flipped:
                out = [out[0]] + out[1:][::-1]
            return out
        out = []
        for k, j in enumerate(junctions):
            nxt = junctions[(k + 1) % len(junctions)]
            if nxt > j:
                piece = ring[j : nxt + 1]
            else:
                piece = ring[j:] + ring[: nxt + 1]
            out.extend(self._arc(piece)[:-1])
        return out


def finish_ring(pts):
    """Round, drop repeats; None if fewer than 3 vertices or no area."""
    rounded = []
    for x, y in pts:
        p = (round(x, DECIMALS), round(y, DECIMALS))
        if not rounded or rounded[-1] != p:
            rounded.append(p)
    while len(rounded) > 1 and rounded[0] == rounded[-1]:
        rounded.pop()
    if len(rounded) < 3 or signed_area(rounded) == 0.0:
        return None
    return rounded


def orient(pts, ccw):
    """Ring with the requested orientation, closed (first point repeated)."""
    if (signed_area(pts) > 0) != ccw:
        pts = pts[::-1]
    return pts + pts[:1]


def simplify_unit(polys, stats):
    """`polys` holds simplified but unrounded rings (None if collapsed)."""
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
    if not parts:
        return None
    # Largest first; ties by the first vertex so the order is deterministic.
    parts.sort(key=lambda p: (-p[0], p[1][0]))
    kept = [parts[0]] + [p for p in parts[1:] if p[0] >= MIN_RING_AREA]
    stats["dropped_parts"] += len(parts) - min(len(kept), MAX_PARTS)
    kept = kept[:MAX_PARTS]
    return [[orient(outer, True)] + [orient(h, False) for h in holes] for _, outer, holes in kept]


def shared_edge_stats(rows):
    """(edges used by two rings, edges used once, edges used more often) in
    the output, as a check that neighbours still share their borders."""
    use = {}
    for _, wkt in rows:
        for poly in parse_wkt(wkt):
            for ring in poly:
                for a, b in zip(ring, ring[1:]):
                    e = (min(a, b), max(a, b))
                    use[e] = use.get(e, 0) + 1
    counts = list(use.values())
    return sum(c == 2 for c in counts), sum(c == 1 for c in counts), sum(c > 2 for c in counts)


# ------------------------------------------------------------------ I/O ----
def read_csv(path):
    csv.field_size_limit(1 << 30)
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def derive(source_dir):
    report, problems = [], []
    src_path = Path(source_dir) / SOURCE_REL
    rows = read_csv(src_path)
    units = read_csv(DATA_DIR / "units.csv")
    report.append(f"source: {src_path} ({len(rows)} rows); units.csv: {len(units)} units")

    by_code = {u["code"]: u for u in units}
    by_name = {}
    for u in units:
        by_name.setdefault(u["name_zh"], []).append(u)

    matched = {}  # unit code -> source row
    context = {}  # context code -> source row
    unmatched_src = []
    for r in rows:
        code, name = r["city_code"].strip(), r["city"].strip()
        unit = by_code.get(code)
        how = "code"
        if unit is None:
            candidates = by_name.get(name, [])
            unit = candidates[0] if len(candidates) == 1 else None
            how = "name"
        if unit is None:
            if code in CONTEXT_CODES:
                context[code] = r
            else:
                unmatched_src.append(f"{code} {name}")
            continue
        if unit["code"] in matched:
            problems.append(f"unit {unit['code']} matched twice ({code} {name})")
            continue
        if how == "name":
            report.append(f"matched by name: source {code} {name} -> unit {unit['code']}")
        elif unit["name_zh"] != name:
            report.append(f"code match with different name: {code} source {name} / units {unit['name_zh']}")
        matched[unit["code"]] = r
    unmatched_units = [f"{u['code']} {u['name_zh']} ({u['name_en']})" for u in units if u["code"] not in matched]

    stats = {"collapsed_parts": 0, "dropped_holes": 0, "dropped_parts": 0}
    geoms = []
    for code, r in list(matched.items()) + list(context.items()):
        try:
            geoms.append((code, parse_wkt(r["coord"])))
        except ValueError as e:
            problems.append(f"{code}: bad WKT: {e}")
    all_rings = [ring for _, polys in geoms for rings in polys for ring in rings]
    topo = Topology(all_rings, TOLERANCE_DEG)
    if set(topo.edge_use) - {1, 2}:
        problems.append(f"source edges used by more than two rings: {topo.edge_use}")
    report.append(f"source: {topo.edge_use.get(2, 0)} edges shared by two rings, "
                  f"{topo.edge_use.get(1, 0)} on the outer border or coast")
    out_rows = []
    n_vertices = 0
    rid = 0
    for code, polys in geoms:
        simplified = []
        for rings in polys:
            part = []
            for _ in rings:
                ring = topo.simplified(rid)
                part.append(ring if len(ring) >= 3 else None)
                rid += 1
            simplified.append(part)
        simple = simplify_unit(simplified, stats)
        if simple is None:
            problems.append(f"{code}: every part collapsed")
            continue
        n_vertices += sum(len(ring) for part in simple for ring in part)
        out_rows.append((int(code), to_wkt(simple)))
    out_rows.sort()

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["code", "wkt"])
    w.writerows(out_rows)
    text = buf.getvalue()

    n_units = sum(1 for c, _ in out_rows if str(c) in by_code)
    report.append(f"{OUT_NAME}: {len(out_rows)} rows ({n_units} units + "
                  f"{len(out_rows) - n_units} context: {', '.join(CONTEXT_CODES[c] for c in sorted(context))}), "
                  f"{n_vertices} vertices, {len(text.encode('utf-8'))} bytes")
    report.append(f"simplification: tolerance {TOLERANCE_DEG} deg, {DECIMALS} decimals; "
                  f"{stats['collapsed_parts']} parts collapsed, {stats['dropped_parts']} small parts "
                  f"and {stats['dropped_holes']} holes dropped")
    shared, single, multi = shared_edge_stats(out_rows)
    report.append(f"output: {shared} edges shared by two rings, {single} used once "
                  f"(outer border, coast, dropped islands/holes), {multi} used more often")
    report.append("units without a polygon: " + ("; ".join(unmatched_units) or "none"))
    report.append("source rows not matched to a unit: " + ("; ".join(unmatched_src) or "none"))
    if n_units < MIN_MATCHED_UNITS:
        problems.append(f"only {n_units} units have polygons (< {MIN_MATCHED_UNITS})")
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        problems.append(f"{OUT_NAME} exceeds {MAX_FILE_BYTES} bytes")
    if problems:
        report.append("PROBLEMS:")
        report.extend("  " + p for p in problems)
    return text, report, not problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source_dir", help="folder with the public source tables (e.g. ../shared/data)")
    ap.add_argument("--check", action="store_true",
                    help=f"do not write; exit 1 if data/{OUT_NAME} differs from a fresh derivation")
    args = ap.parse_args()

    text, report, ok = derive(args.source_dir)
    print("\n".join(report))
    path = DATA_DIR / OUT_NAME
    if args.check:
        current = path.read_bytes() if path.exists() else None
        if current != text.encode("utf-8"):
            print(f"CHECK FAILED: {path} differs from a fresh derivation")
            sys.exit(1)
        print(f"CHECK OK: {path} is up to date")
        sys.exit(0 if ok else 1)

    path.write_bytes(text.encode("utf-8"))
    print(f"wrote {path}")
    if not ok:
        print("SANITY CHECKS FAILED (see above); the file was written anyway")
        sys.exit(1)
    print("all sanity checks OK")


if __name__ == "__main__":
    main()
