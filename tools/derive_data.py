#!/usr/bin/env python3
"""Derive migrasim's data files from the public source tables.

Usage (from the project root):

    python3 tools/derive_data.py ../shared/data           # (re)write data/*.csv
    python3 tools/derive_data.py ../shared/data --check   # exit 1 if data/ is stale

The simulator never reads the source folder; it reads only the files written
here into data/.  Standard library only.  Output is deterministic: UTF-8, "\n"
line endings, rows in adcode order (provinces.csv: province code, then year).
See docs/data.md for column definitions, fallbacks and verification status.
"""

import argparse
import csv
import io
import os
import sys
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"

# ---- expected national totals (7th census, 31 provinces, civilians) -------
EXPECTED = {
    "pop_2020": 1_409_778_724,
    "pop_urban_2020": 899_991_162,
    "elsewhere_same_county": 188_482_738,
    "elsewhere_other_county_same_prov": 179_442_615,
    "elsewhere_other_province": 124_837_153,
}

# ---- State Council 2014 city-size standard (urban-district residents) -----
# (lower bound inclusive, class); first match wins.
SIZE_CLASSES = [
    (10_000_000, "super_large"),
    (5_000_000, "mega"),
    (3_000_000, "large_I"),
    (1_000_000, "large_II"),
    (500_000, "medium"),
    (200_000, "small_I"),
    (0, "small_II"),
]

REGIME_MAP = {"open": "open", "relaxed": "relaxed", "points_based": "points"}

# ---- per-year verification status of the columns written to
# official_national.csv, read off national_series_2010_2023.csv status_notes.
# Field names: total urban rate (the revised_* series), hukou, births, deaths,
# birth_rate, death_rate.  Anything not listed is verified by the note.
# The full note text is reproduced in docs/data.md.
NATIONAL_STATUS = {
    2010: {"unverified": "births deaths", "derived": "total urban rate birth_rate death_rate"},
    2011: {"unverified": "total urban rate"},
    2012: {"unverified": "total urban hukou births deaths birth_rate death_rate"},
    2013: {"unverified": "total urban rate hukou births deaths birth_rate death_rate"},
    2014: {"unverified": "total urban rate births deaths birth_rate death_rate"},
    2015: {"unverified": "total urban rate", "derived": "hukou"},
    2016: {"unverified": "total urban rate births deaths birth_rate death_rate", "derived": "hukou"},
    2017: {"unverified": "total urban"},
    2018: {"unverified": "total urban rate"},
    2019: {"unverified": "total urban rate hukou"},
    2020: {"unverified": "deaths birth_rate death_rate"},
    2021: {"unverified": "hukou"},
    2022: {"unverified": "hukou"},
    2023: {},
}
NATIONAL_FIELDS = "total urban rate hukou births deaths birth_rate death_rate".split()

# ---- provincial series (data/provinces.csv).  Years after 2023 are left out
# on purpose: calibration uses figures up to 2023 only.
PROVINCE_YEARS = [2020, 2021, 2022, 2023]
PROVINCE_STATUSES = {"verified", "single-source", "derived", "weak"}
PROVINCE_COLS = ["province_code", "province_en", "year", "population", "urbanization_rate_pct",
                 "population_status", "rate_status"]


# ---------------------------------------------------------------- helpers --
def read_csv(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def to_csv(header, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if r[h] is None else r[h] for h in header])
    return buf.getvalue()


def f2(x):
    """Two-decimal float text (round half away from zero is not needed here)."""
    return f"{x:.2f}"


def num(s):
    return float(s) if s not in ("", None, "NA") else None


def size_class(pop_chengqu):
    for lo, name in SIZE_CLASSES:
        if pop_chengqu >= lo:
            return name
    raise AssertionError


def regime_from_chengqu(pop_chengqu):
    if pop_chengqu >= 5_000_000:
        return "points"
    if pop_chengqu >= 3_000_000:
        return "relaxed"
    return "open"


def read_xlsx_columns(path, wanted):
    """Return a list of dicts (one per data row) for the wanted header names
    of the first worksheet of an .xlsx file, using only the standard library."""
    m = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    z = zipfile.ZipFile(path)
    shared = []
    if "xl/sharedStrings.xml" in z.namelist():
        for si in ET.fromstring(z.read("xl/sharedStrings.xml")).findall(m + "si"):
            shared.append("".join(t.text or "" for t in si.iter(m + "t")))

    def col_of(ref):
        letters = "".join(ch for ch in ref if ch.isalpha())
        n = 0
        for ch in letters:
            n = n * 26 + (ord(ch) - 64)
        return n - 1

    header = None
    want_idx = {}
    out = []
    for _, el in ET.iterparse(z.open("xl/worksheets/sheet1.xml")):
        if el.tag != m + "row":
            continue
        cells = {}
        for c in el.findall(m + "c"):
            v = c.find(m + "v")
            if v is None:
                is_ = c.find(m + "is")
                val = "".join(t.text or "" for t in is_.iter(m + "t")) if is_ is not None else ""
            elif c.get("t") == "s":
                val = shared[int(v.text)]
            else:
                val = v.text or ""
            cells[col_of(c.get("r"))] = val
        el.clear()
        if header is None:
            header = cells
            for i, name in header.items():
                if name in wanted:
                    want_idx[name] = i
            missing = set(wanted) - set(want_idx)
            if missing:
                raise SystemExit(f"xlsx {path}: missing columns {sorted(missing)}")
            continue
        out.append({name: cells.get(i, "") for name, i in want_idx.items()})
    return out


def xint(s):
    """Integer from an xlsx cell ('' / 'NA' -> None)."""
    if s in ("", "NA", None):
        return None
    return int(round(float(s)))


# ------------------------------------------------------------ derivations --
def load_county(src):
    """County-level compact table, plus the long-form (10% sample) household
    count taken from the raw yearbook sheet: 住房来源_租赁 counts long-form
    households, so its denominator is 家庭户户数_长表, not all family households."""
    rows = read_csv(src / "census2020_county_level_compact.csv")
    raw = read_xlsx_columns(
        src / "raw" / "leiii_census" / "census_county_2020_v1.xlsx",
        ["区划代码", "人口数_合计", "家庭户户数_长表", "住房来源_租赁"],
    )
    if len(raw) != len(rows):
        raise SystemExit(f"county table has {len(rows)} rows, raw sheet {len(raw)}")
    for i, (r, x) in enumerate(zip(rows, raw)):
        code = x["区划代码"] if x["区划代码"] not in ("NA",) else ""
        code = str(xint(code)) if code else ""
        if code != r["adcode"] or xint(x["人口数_合计"]) != int(r["pop_total"]) or \
                xint(x["住房来源_租赁"]) != (int(r["housing_source_rent_households"])
                                          if r["housing_source_rent_households"] else None):
            raise SystemExit(f"county row {i} does not line up with raw sheet: {r['adcode']} vs {code}")
        r["longform_households"] = xint(x["家庭户户数_长表"])
    return rows


def county_value(kind, rows):
    """Aggregate one indicator over a list of county-table rows.
    Returns a float or None if no row has the data."""
    if kind == "rent":
        num_, den = 0, 0
        for r in rows:
            rent, lf = r["housing_source_rent_households"], r["longform_households"]
            if rent != "" and lf:
                num_ += int(rent)
                den += lf
        return 100.0 * num_ / den if den else None
    col = {"age014": "share_age_0_14", "school": "avg_years_schooling"}[kind]
    acc, w = 0.0, 0
    for r in rows:
        if r[col] != "":
            acc += float(r[col]) * int(r["pop_total"])
            w += int(r["pop_total"])
    return acc / w if w else None


def parse_metro_tags(s):
    """'南京:full;合肥:full?' -> [('南京', 'full', False), ('合肥', 'full', True)]"""
    out = []
    for tag in filter(None, (t.strip() for t in s.split(";"))):
        unverified = tag.endswith("?")
        tag = tag.rstrip("?")
        name, _, role = tag.partition(":")
        out.append((name.strip(), role.strip(), unverified))
    return out


def pop_persons(s, where):
    """'2189.31' (万人, 10k persons) -> 21893100, exactly (no float rounding)."""
    d = Decimal(s) * 10_000
    if d != d.to_integral_value():
        raise SystemExit(f"{where}: {s} x 10k persons is not a whole number")
    return int(d)


def derive_provinces(src, units, nat_rows, problems):
    """Long-format provincial series from province_urbanization_2020_2023.csv:
    one row per province x year, population in persons, rate as published.
    Returns (rows, report lines); appends problems to `problems`."""
    report = []
    wide = read_csv(src / "province_urbanization_2020_2023.csv")
    cells = read_csv(src / "province_urbanization_2020_2023_sources.csv")

    # provinces must be those of units.csv (first two digits of province_code)
    codes_src = [r["province_code"] for r in wide]
    if len(set(codes_src)) != len(codes_src):
        problems.append("provinces: duplicate province_code in province_urbanization_2020_2023.csv")
    bad = [c for c in codes_src if len(c) != 2 or not c.isdigit()]
    if bad:
        raise SystemExit(f"provinces: province_code not 2 digits: {bad}")
    codes_units = {str(u["province_code"])[:2] for u in units}
    for c in sorted(codes_units - set(codes_src)):
        problems.append(f"provinces: province {c} is in units.csv but missing from province_urbanization_2020_2023.csv")
    for c in sorted(set(codes_src) - codes_units):
        problems.append(f"provinces: province {c} is in province_urbanization_2020_2023.csv but missing from units.csv")

    # per-cell table: (code, year, variable) -> (value, status)
    by_cell = {}
    for r in cells:
        k = (r["province_code"], int(r["year"]), r["variable"])
        if k in by_cell:
            problems.append(f"provinces: cell {k} twice in the _sources file")
        by_cell[k] = (r["value"], r["status"])

    rows, seen = [], set()
    for r in sorted(wide, key=lambda r: int(r["province_code"])):
        code = r["province_code"]
        for y in PROVINCE_YEARS:
            pop_s, pop_st = r[f"pop_10k_{y}"].strip(), r[f"pop_status_{y}"].strip()
            rate_s, rate_st = r[f"urban_rate_pct_{y}"].strip(), r[f"rate_status_{y}"].strip()
            for var, val, st in (("resident_pop_10k", pop_s, pop_st), ("urban_rate_pct", rate_s, rate_st)):
                if bool(val) != bool(st):
                    problems.append(f"provinces: {code} {y} {var}: value {val!r} with status {st!r}")
                if st and st not in PROVINCE_STATUSES:
                    problems.append(f"provinces: {code} {y} {var}: unknown status {st!r}")
                # the one-cell-a-row companion must hold the same figure and status
                other = by_cell.get((code, y, var))
                if val:
                    seen.add((code, y, var))
                    if other is None:
                        problems.append(f"provinces: {code} {y} {var} = {val} not in the _sources file")
                    elif Decimal(other[0]) != Decimal(val) or other[1] != st:
                        problems.append(f"provinces: {code} {y} {var}: {val} {st} vs _sources file {other[0]} {other[1]}")
            if rate_s:
                rate = Decimal(rate_s)
                if not 0 < rate <= 100:
                    problems.append(f"provinces: {code} {y} urbanization rate {rate_s} out of range")
            rows.append({
                "province_code": code,
                "province_en": r["province_en"],
                "year": y,
                "population": pop_persons(pop_s, f"provinces {code} {y}") if pop_s else None,
                "urbanization_rate_pct": rate_s,
                "population_status": pop_st,
                "rate_status": rate_st,
            })
    extra = sorted(set(by_cell) - seen)
    if extra:
        problems.append(f"provinces: _sources file has cells the wide file lacks: {extra}")

    report.append(f"provinces.csv: {len(rows)} rows ({len(wide)} provinces x {len(PROVINCE_YEARS)} years); "
                  f"units.csv provinces: {len(codes_units)}; cross-check with _sources file: "
                  f"{len(seen)} filled cells")
    for y in PROVINCE_YEARS:
        yr = [r for r in rows if r["year"] == y]
        st = {}
        for r in yr:
            for col in ("population_status", "rate_status"):
                if r[col]:
                    st[r[col]] = st.get(r[col], 0) + 1
        report.append(f"  {y}: population {sum(r['population'] is not None for r in yr):2d}/{len(yr)}, "
                      f"rate {sum(bool(r['urbanization_rate_pct']) for r in yr):2d}/{len(yr)}; "
                      f"statuses {dict(sorted(st.items()))}")

    # 2020 is the census: provincial figure (2 decimals of 10k) vs sum of units' census counts
    unit_pop = {}
    for u in units:
        k = str(u["province_code"])[:2]
        unit_pop[k] = unit_pop.get(k, 0) + u["pop_2020"]
    dev = {r["province_code"]: r["population"] - unit_pop[r["province_code"]]
           for r in rows if r["year"] == 2020 and r["population"] is not None and r["province_code"] in unit_pop}
    worst = max(dev.items(), key=lambda kv: abs(kv[1]), default=("-", 0))
    report.append(f"  2020 population vs sum of units.csv pop_2020: max |difference| {abs(worst[1])} persons "
                  f"(province {worst[0]}); net {sum(dev.values()):+d}")
    for c, d in sorted(dev.items()):
        if abs(d) > 50:
            problems.append(f"provinces: {c} 2020 population differs from units.csv by {d} persons (> rounding)")

    # consistency with the national series (printed only, not written)
    nat_by_year = {r["year"]: r for r in nat_rows}
    report.append("  consistency with official_national.csv (provinces with data only):")
    for y in PROVINCE_YEARS:
        n = nat_by_year.get(y)
        if n is None:
            problems.append(f"provinces: year {y} not in official_national.csv")
            continue
        yr = [r for r in rows if r["year"] == y]
        both = [r for r in yr if r["population"] is not None and r["urbanization_rate_pct"]]
        w = sum(r["population"] for r in both)
        rate = sum(r["population"] * Decimal(r["urbanization_rate_pct"]) for r in both) / w
        nat_rate = Decimal(n["urbanization_rate_pct"])
        with_pop = [r for r in yr if r["population"] is not None]
        pop_sum = sum(r["population"] for r in with_pop)
        nat_pop = pop_persons(n["total_pop_10k"], f"national {y}")
        report.append(f"    {y}: weighted rate {rate:.2f}% over {len(both)} provinces "
                      f"(national {nat_rate}%, diff {rate - nat_rate:+.2f} pp); "
                      f"population sum {pop_sum:,d} over {len(with_pop)} provinces "
                      f"(national {nat_pop:,d}, diff {pop_sum - nat_pop:+,d} = {100 * (pop_sum - nat_pop) / nat_pop:+.2f}%)")
        no_pop = [r["province_code"] for r in yr if r["population"] is None]
        no_rate = [r["province_code"] for r in yr if r not in both]
        if no_rate:
            report.append(f"          not in the weighted rate (population or rate empty): {' '.join(no_rate)}")
        if no_pop:
            report.append(f"          not in the population sum (population empty): {' '.join(no_pop)}")
    return rows, report


def derive(src):
    src = Path(src)
    outputs = {}
    report = []  # lines printed to stdout
    problems = []

    prefs = read_csv(src / "cities_prefecture_2020.csv")
    county = load_county(src)
    metros = read_csv(src / "metro_areas_ndrc.csv")
    regions = read_csv(src / "potential_regions_2024_plan.csv")

    by_code = {r["adcode"]: r for r in county if r["adcode"]}
    county_rows_by_pref4 = {}
    for r in county:
        c = r["adcode"]
        if c and not c.endswith("00"):
            county_rows_by_pref4.setdefault(c[:4], []).append(r)

    # potential regions: adcode -> region
    region_of = {}
    for reg in regions:
        for c in reg["adcodes"].split(";"):
            c = c.strip()
            if c in region_of:
                problems.append(f"adcode {c} in two potential regions")
            region_of[c] = reg

    # metro areas: short Chinese name used in the prefecture tags -> metro row
    metro_by_short = {}
    for m in metros:
        metro_by_short[m["metro_area_zh"].removesuffix("都市圈")] = m
        metro_by_short.setdefault(m["core_city_zh"].removesuffix("市"), m)

    agg_counts = {k: {"exact": 0, "prefix": 0, "province": 0} for k in ("age014", "school", "rent")}
    agg_fallbacks = []
    chengqu_basis_counts = {}
    size_derived, regime_derived = [], []
    size_mismatch, regime_mismatch, region_tag_mismatch = [], [], []

    # Urban-population growth 2010->2020 from the local census bulletins (one file, both years on
    # its own boundaries, so the rate is consistent even where 2020 levels differ from the
    # yearbook's).  Municipalities are listed under their first district code (110100).
    bulletins = {}
    with open(src / "raw/leiii_census/census_city_2010-2020_v1.csv", encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            bulletins[r["city_code"]] = r
    growth_missing = []

    def urban_growth(code):
        r = bulletins.get(code) or (bulletins.get(code[:2] + "0100") if code.endswith("0000") else None)
        if r is None or not r["popu_urban_2010"] or not r["popu_urban_2020"]:
            growth_missing.append(code)
            return ""
        u10, u20 = float(r["popu_urban_2010"]), float(r["popu_urban_2020"])
        if u10 <= 0 or u20 <= 0:
            growth_missing.append(code)
            return ""
        return f"{100.0 * ((u20 / u10) ** 0.1 - 1.0):.3f}"

    units = []
    for p in sorted(prefs, key=lambda r: int(r["adcode"])):
        code = p["adcode"]
        # urban-district population and its basis
        if p["pop_chengqu_2020"]:
            cq, basis = int(p["pop_chengqu_2020"]), p["pop_chengqu_basis"] or "prefecture_city"
        elif p["pop_chengqu_largest_city_in_unit"]:
            cq, basis = int(p["pop_chengqu_largest_city_in_unit"]), p["pop_chengqu_basis"] or "largest_county_level_city"
        else:
            cq, basis = 0, "none"
        bkey = basis.split(":")[0]
        chengqu_basis_counts[bkey] = chengqu_basis_counts.get(bkey, 0) + 1

        sc = p["size_class_2014_standard"]
        if not sc:
            sc = size_class(cq)
            size_derived.append(code)
        elif sc != size_class(cq):
            size_mismatch.append(f"{code} {p['name_zh']}: source {sc}, standard {size_class(cq)}")

        pc = p["hukou_policy_class"]
        if pc:
            if pc not in REGIME_MAP:
                raise SystemExit(f"{code}: unknown hukou_policy_class {pc!r}")
            regime = REGIME_MAP[pc]
            if regime != regime_from_chengqu(cq):
                regime_mismatch.append(f"{code} {p['name_zh']}: source {regime}, threshold {regime_from_chengqu(cq)}")
        else:
            regime = regime_from_chengqu(cq)
            regime_derived.append(code)

        # county-table indicators: exact row -> counties with same 4 digits -> province
        vals = {}
        for kind in ("age014", "school", "rent"):
            v, how = None, None
            if code in by_code:
                v, how = county_value(kind, [by_code[code]]), "exact"
            if v is None and county_rows_by_pref4.get(code[:4]):
                v, how = county_value(kind, county_rows_by_pref4[code[:4]]), "prefix"
            if v is None:
                v, how = county_value(kind, [by_code[code[:2] + "0000"]]), "province"
            if v is None:
                raise SystemExit(f"{code}: no value for {kind} even at province level")
            agg_counts[kind][how] += 1
            if how != "exact":
                agg_fallbacks.append(f"{kind} for {code} {p['name_zh']}: {how}")
            vals[kind] = v

        # potential region
        reg = region_of.get(code)
        tag = p["potential_region_2024_plan"]
        if (reg["region_zh"] if reg else "") != tag:
            region_tag_mismatch.append(f"{code} {p['name_zh']}: region file {reg['region_zh'] if reg else '-'}, prefecture tag {tag or '-'}")

        # metro areas
        tags = parse_metro_tags(p["metro_area"])
        metro_names, roles = [], []
        for name, role, _ in tags:
            m = metro_by_short.get(name)
            if m is None:
                raise SystemExit(f"{code}: metro tag {name!r} not in metro_areas_ndrc.csv")
            metro_names.append(m["metro_area_en"])
            roles.append(role)
            if role == "core" and m["core_adcode"] != code:
                problems.append(f"{code} tagged core of {m['metro_area_en']} but core_adcode is {m['core_adcode']}")
        role = "core" if "core" in roles else ("member" if roles else "")

        units.append({
            "code": int(code),
            "name_zh": p["name_zh"],
            "name_en": p["name_en"],
            "province_code": int(code[:2]) * 10000,
            "province_zh": p["province_zh"],
            "province_en": p["province_en"],
            "admin_type": p["admin_type"],
            "lat": f"{float(p['lat']):.4f}",
            "lon": f"{float(p['lon']):.4f}",
            "pop_2020": int(p["pop_2020_census_yearbook"]),
            "pop_urban_2020": int(p["pop_urban_2020"]),
            "urban_growth_2010_2020_pct": urban_growth(code),
            "pop_chengqu_2020": cq,
            "chengqu_basis": basis,
            "size_class": sc,
            "regime_2020": regime,
            "household_size": f2(float(p["household_size_2020"])),
            "share_0_14_pct": f2(vals["age014"]),
            "share_65p_pct": f2(float(p["share_age_65p_2020"])),
            "elsewhere_same_county": int(p["hukou_elsewhere_same_county"]),
            "elsewhere_other_county_same_prov": int(p["hukou_elsewhere_other_county_same_prov"]),
            "elsewhere_other_province": int(p["hukou_elsewhere_other_province"]),
            "avg_years_schooling": f2(vals["school"]),
            "rent_share_pct": f2(vals["rent"]),
            "potential_region": reg["region_en"] if reg else "",
            "metro_area": ";".join(metro_names),
            "metro_role": role,
            "metro_unverified": 1 if any(u for _, _, u in tags) else 0,
        })

    unit_cols = ["code", "name_zh", "name_en", "province_code", "province_zh", "province_en",
                 "admin_type", "lat", "lon", "pop_2020", "pop_urban_2020", "urban_growth_2010_2020_pct",
                 "pop_chengqu_2020",
                 "chengqu_basis", "size_class", "regime_2020", "household_size", "share_0_14_pct",
                 "share_65p_pct", "elsewhere_same_county", "elsewhere_other_county_same_prov",
                 "elsewhere_other_province", "avg_years_schooling", "rent_share_pct",
                 "potential_region", "metro_area", "metro_role", "metro_unverified"]
    outputs["units.csv"] = to_csv(unit_cols, units)

    # ---- sanity totals
    ok = True
    report.append(f"units.csv: {len(units)} rows (source {len(prefs)})")
    report.append(f"  urban_growth_2010_2020_pct: {len(units) - len(growth_missing)} units; "
                  f"no 2010 urban figure for {len(growth_missing)}: {' '.join(growth_missing)}")
    if len(units) != 367:
        ok = False
        report.append("  FAIL expected 367 units")
    for col, exp in EXPECTED.items():
        got = sum(u[col] for u in units)
        flag = "OK" if got == exp else "FAIL"
        ok &= got == exp
        report.append(f"  sum {col:34s} {got:>15,d}  expected {exp:>15,d}  {flag}")
    report.append(f"  chengqu basis: {chengqu_basis_counts}")
    report.append(f"  size_class derived (no source class): {len(size_derived)} -> "
                  f"{sorted(set(u['size_class'] for u in units if str(u['code']) in size_derived))}")
    report.append(f"  regime derived (no source class): {len(regime_derived)}")
    report.append(f"  size_class source vs 2014 standard mismatches: {len(size_mismatch)}")
    report.extend("    " + s for s in size_mismatch)
    report.append(f"  regime source vs thresholds mismatches: {len(regime_mismatch)}")
    report.extend("    " + s for s in regime_mismatch)
    for kind, c in agg_counts.items():
        report.append(f"  county-table {kind:7s}: {c}")
    report.extend("    fallback: " + s for s in agg_fallbacks)
    report.append(f"  potential-region tag mismatches (region file vs prefecture tag): {len(region_tag_mismatch)}")
    report.extend("    " + s for s in region_tag_mismatch)
    rc = {}
    for u in units:
        rc[u["regime_2020"]] = rc.get(u["regime_2020"], 0) + 1
    report.append(f"  regime counts: {dict(sorted(rc.items()))}")
    report.append(f"  metro: {sum(1 for u in units if u['metro_role'] == 'core')} core, "
                  f"{sum(1 for u in units if u['metro_role'] == 'member')} member, "
                  f"{sum(u['metro_unverified'] for u in units)} with an unverified tag, "
                  f"{sum(1 for u in units if ';' in u['metro_area'])} in two areas")

    # ---- official_national.csv
    nat = read_csv(src / "national_series_2010_2023.csv")
    nat_rows = []
    for r in sorted(nat, key=lambda r: int(r["year"])):
        y = int(r["year"])
        st = NATIONAL_STATUS[y]
        unv = st.get("unverified", "").split()
        der = st.get("derived", "").split()
        if "UNVERIFIED" in r["status_notes"] and not (unv or der):
            raise SystemExit(f"national {y}: note says UNVERIFIED but status table says verified")
        if set(unv) >= set(f for f in NATIONAL_FIELDS if not (f == "hukou" and not r["hukou_urbanization_rate_pct"])):
            status = "unverified"
        elif not unv and not der:
            status = "verified"
        else:
            status = "partial"
            if unv:
                status += ";unverified=" + "+".join(unv)
            if der:
                status += ";derived=" + "+".join(der)
        nat_rows.append({
            "year": y,
            "total_pop_10k": r["revised_total_pop_10k"],
            "urban_pop_10k": r["revised_urban_pop_10k"],
            "urbanization_rate_pct": r["revised_urbanization_rate_pct"],
            "hukou_urbanization_rate_pct": r["hukou_urbanization_rate_pct"],
            "births_10k": r["births_10k"],
            "deaths_10k": r["deaths_10k"],
            "birth_rate_permille": r["birth_rate_permille"],
            "death_rate_permille": r["death_rate_permille"],
            "status": status,
        })
    if set(NATIONAL_STATUS) != {r["year"] for r in nat_rows}:
        raise SystemExit("national years differ from NATIONAL_STATUS table; update it")
    outputs["official_national.csv"] = to_csv(
        ["year", "total_pop_10k", "urban_pop_10k", "urbanization_rate_pct",
         "hukou_urbanization_rate_pct", "births_10k", "deaths_10k", "birth_rate_permille",
         "death_rate_permille", "status"], nat_rows)
    report.append(f"official_national.csv: {len(nat_rows)} rows ({nat_rows[0]['year']}-{nat_rows[-1]['year']}), revised series")

    # ---- provinces.csv
    prov_rows, prov_report = derive_provinces(src, units, nat_rows, problems)
    outputs["provinces.csv"] = to_csv(PROVINCE_COLS, prov_rows)
    report.extend(prov_report)

    # ---- straight copies
    for src_name, dst_name in (("migrant_workers_2019_2023.csv", "migrant_workers.csv"),
                               ("policy_facts.csv", "policy_facts.csv")):
        rows = read_csv(src / src_name)
        header = list(rows[0].keys())
        outputs[dst_name] = to_csv(header, rows)
        report.append(f"{dst_name}: {len(rows)} rows, {len(header)} columns (copy of {src_name})")

    # ---- potential_regions.csv
    pr_rows = []
    for reg in regions:
        codes = sorted((c.strip() for c in reg["adcodes"].split(";")), key=int)
        unknown = [c for c in codes if c not in {str(u["code"]) for u in units}]
        if unknown:
            problems.append(f"potential region {reg['region_en']}: adcodes not in units {unknown}")
        pr_rows.append({"region_en": reg["region_en"], "region_zh": reg["region_zh"],
                        "province_zh": reg["province_zh"], "codes": ";".join(codes),
                        "membership_status": reg["membership_status"]})
    pr_rows.sort(key=lambda r: int(r["codes"].split(";")[0]))
    outputs["potential_regions.csv"] = to_csv(
        ["region_en", "region_zh", "province_zh", "codes", "membership_status"], pr_rows)
    report.append(f"potential_regions.csv: {len(pr_rows)} rows, "
                  f"{sum(len(r['codes'].split(';')) for r in pr_rows)} member units")

    # ---- metro_areas.csv
    ma_rows = []
    for m in metros:
        tagged = [u for u in units if m["metro_area_en"] in u["metro_area"].split(";")]
        core = [str(u["code"]) for u in tagged if str(u["code"]) == m["core_adcode"]]
        if not core:
            problems.append(f"metro {m['metro_area_en']}: core {m['core_adcode']} not tagged in units")
        rest = [str(u["code"]) for u in tagged if str(u["code"]) != m["core_adcode"]]
        ma_rows.append({"metro_area_en": m["metro_area_en"], "metro_area_zh": m["metro_area_zh"],
                        "core_code": int(m["core_adcode"]), "approval_year": m["approval_year"],
                        "member_codes": ";".join(core + rest), "scope_status": m["scope_status"]})
    ma_rows.sort(key=lambda r: r["core_code"])
    outputs["metro_areas.csv"] = to_csv(
        ["metro_area_en", "metro_area_zh", "core_code", "approval_year", "member_codes",
         "scope_status"], ma_rows)
    report.append(f"metro_areas.csv: {len(ma_rows)} rows")
    for r in ma_rows:
        report.append(f"  {r['metro_area_en']:28s} {len(r['member_codes'].split(';')):2d} units  {r['scope_status']}")

    if problems:
        ok = False
        report.append("PROBLEMS:")
        report.extend("  " + s for s in problems)
    return outputs, report, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source_dir", help="folder with the public source tables (e.g. ../shared/data)")
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if any file in data/ differs from a fresh derivation")
    args = ap.parse_args()

    outputs, report, ok = derive(args.source_dir)
    print("\n".join(report))

    if args.check:
        stale = []
        for name, text in sorted(outputs.items()):
            path = DATA_DIR / name
            current = path.read_bytes() if path.exists() else None
            if current != text.encode("utf-8"):
                stale.append(name)
        if stale:
            print(f"CHECK FAILED: differs from a fresh derivation: {', '.join(stale)}")
            sys.exit(1)
        print(f"CHECK OK: {len(outputs)} files in {DATA_DIR} are up to date")
        sys.exit(0 if ok else 1)

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(outputs.items()):
        (DATA_DIR / name).write_bytes(text.encode("utf-8"))
    print(f"wrote {len(outputs)} files to {DATA_DIR}")
    if not ok:
        print("SANITY CHECKS FAILED (see above); files were written anyway")
        sys.exit(1)
    print("all sanity checks OK")


if __name__ == "__main__":
    main()
