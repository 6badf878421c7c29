//! The outlines of the prefecture-level units and the map's context (Taiwan, Hong Kong and Macau,
//! the South China Sea Islands and the dashed maritime line), embedded from `data/unit_polygons.csv`
//! and `data/map_context.csv` (derived by `tools/derive_polygons.py`, see docs/data.md) and parsed
//! once, and the borders between units. Neighbouring units share their border vertices exactly, so
//! each border is found once; province borders and the coast are the edges whose two sides lie in
//! different provinces (or one side only). Drawing them is the map chart's business.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// A longitude × latitude box (degrees).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extent {
    pub lon: (f64, f64),
    pub lat: (f64, f64),
}

impl Extent {
    /// The national map without the South China Sea Islands (they are in their inset).
    pub const CHINA: Extent = Extent { lon: (73.0, 135.5), lat: (17.5, 54.0) };
    pub(crate) const SOUTH_CHINA_SEA: Extent = Extent { lon: (106.0, 123.0), lat: (3.0, 24.5) };
    pub(crate) const BEIJING_TIANJIN: Extent = Extent { lon: (115.4, 118.1), lat: (38.5, 41.1) };
    pub(crate) const YANGTZE_DELTA: Extent = Extent { lon: (118.6, 122.1), lat: (29.8, 32.6) };
    pub(crate) const PEARL_DELTA: Extent = Extent { lon: (112.3, 114.6), lat: (21.8, 23.8) };

    /// The outlines of the units `codes` with a margin of 8% (at least 0.3°), or `None` if none
    /// of them has an outline.
    pub fn around(codes: &[u32]) -> Option<Extent> {
        let pts = shapes().iter().filter(|s| codes.contains(&s.code)).flat_map(|s| s.parts.iter().flatten());
        let (lon, lat) = pts
            .filter(|&&p| Extent::CHINA.contains(p))
            .fold(((f64::MAX, f64::MIN), (f64::MAX, f64::MIN)), |(a, b), &(x, y)| {
                ((a.0.min(x), a.1.max(x)), (b.0.min(y), b.1.max(y)))
            });
        let margin = |(a, b): (f64, f64)| ((b - a) * 0.08).max(0.3);
        (lon.0 <= lon.1).then(|| Extent {
            lon: (lon.0 - margin(lon), lon.1 + margin(lon)),
            lat: (lat.0 - margin(lat), lat.1 + margin(lat)),
        })
    }

    pub(crate) fn contains(&self, (lon, lat): (f64, f64)) -> bool {
        (self.lon.0..=self.lon.1).contains(&lon) && (self.lat.0..=self.lat.1).contains(&lat)
    }

    /// Points along the box's edges (parallels are arcs in a conic projection).
    pub(crate) fn outline(&self) -> Vec<(f64, f64)> {
        let (Extent { lon: (a, b), lat: (c, d) }, k) = (*self, 24);
        let t = |i: usize| i as f64 / k as f64;
        let bottom = (0..=k).map(|i| (a + (b - a) * t(i), c));
        let top = (0..=k).map(|i| (b - (b - a) * t(i), d));
        bottom.chain(top).chain([(a, c)]).collect()
    }
}

pub(crate) type Line = Vec<(f64, f64)>;

/// Outline of one unit (or context area such as Taiwan) in lon/lat.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    pub code: u32,
    /// Exterior rings, largest first.
    pub parts: Vec<Line>,
    /// Interior rings (only used to find borders).
    pub holes: Vec<Line>,
    /// Sum of the parts' areas in square degrees (drawing order).
    pub area: f64,
}

pub(crate) const POLYGON_CSV: &str = include_str!("../data/unit_polygons.csv");
const CONTEXT_CSV: &str = include_str!("../data/map_context.csv");

/// Every outline, largest first (the drawing order: enclaves end up on top of the unit around
/// them), ties by code.
pub(crate) fn shapes() -> &'static [Shape] {
    static SHAPES: OnceLock<Vec<Shape>> = OnceLock::new();
    SHAPES.get_or_init(|| {
        let mut shapes: Vec<Shape> = parse_table(POLYGON_CSV).into_iter().flatten().collect();
        shapes.sort_by(|a, b| b.area.total_cmp(&a.area).then(a.code.cmp(&b.code)));
        shapes
    })
}

/// One result per data row of a `code,wkt` table.
pub(crate) fn parse_table(text: &str) -> Vec<Result<Shape, String>> {
    rows(text)
        .into_iter()
        .map(|(key, wkt)| {
            let code: u32 = key.trim().parse().map_err(|_| format!("bad unit code {key:?}"))?;
            let mut polygons = parse_wkt(&wkt).map_err(|e| format!("unit {code}: {e}"))?;
            polygons.retain(|p| p.first().is_some_and(|r| r.len() >= 3));
            let mut parts: Vec<Line> = polygons.iter().map(|p| p[0].clone()).collect();
            parts.sort_by(|a, b| ring_area(b).abs().total_cmp(&ring_area(a).abs()));
            let holes = polygons.iter().flat_map(|p| p[1..].to_vec()).collect();
            let area = parts.iter().map(|p| ring_area(p).abs()).sum();
            if parts.is_empty() {
                return Err(format!("unit {code}: no exterior ring"));
            }
            Ok(Shape { code, parts, holes, area })
        })
        .collect()
}

fn rows(text: &str) -> Vec<(String, String)> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .flatten()
        .map(|r| (r.get(0).unwrap_or("").to_string(), r.get(1).unwrap_or("").to_string()))
        .collect()
}

/// The context lines and islands of `data/map_context.csv` by feature name.
pub(crate) fn context(feature: &str) -> &'static [Line] {
    static CONTEXT: OnceLock<BTreeMap<String, Vec<Line>>> = OnceLock::new();
    let all = CONTEXT.get_or_init(|| {
        rows(CONTEXT_CSV).into_iter().filter_map(|(k, wkt)| Some((k, parse_wkt(&wkt).ok()?.concat()))).collect()
    });
    all.get(feature).map_or(&[], |v| v.as_slice())
}

/// The coordinate lists of any WKT geometry, grouped by their innermost parent: a
/// `MULTIPOLYGON`'s polygons (exterior ring first), a `POLYGON`'s rings, a line's points.
pub(crate) fn parse_wkt(wkt: &str) -> Result<Vec<Vec<Line>>, String> {
    let body = wkt.trim_start_matches(|c: char| c.is_ascii_alphabetic() || c.is_whitespace());
    // Per open parenthesis: its points, whether it holds lists, and its group.
    let mut open: Vec<(Line, bool, Option<usize>)> = Vec::new();
    let (mut groups, mut number, mut coords): (Vec<Vec<Line>>, String, Vec<f64>) = Default::default();
    for c in body.chars() {
        if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E') {
            number.push(c);
            continue;
        }
        if !number.is_empty() {
            coords.push(number.parse().ok().filter(|v: &f64| v.is_finite()).ok_or(format!("bad number {number:?}"))?);
            number.clear();
        }
        match c {
            '(' => {
                if let Some(top) = open.last_mut() {
                    top.1 = true;
                }
                open.push((Vec::new(), false, None));
            }
            ',' | ')' => {
                let top = open.last_mut().ok_or("unbalanced ')'")?;
                match coords[..] {
                    [x, y] => top.0.push((x, y)),
                    [] => {}
                    _ => return Err("point without exactly two coordinates".into()),
                }
                coords.clear();
                if c == ')' {
                    let (points, nested, _) = open.pop().ok_or("unbalanced ')'")?;
                    if !nested {
                        let group = match open.last_mut() {
                            Some(parent) => *parent.2.get_or_insert_with(|| {
                                groups.push(Vec::new());
                                groups.len() - 1
                            }),
                            None => {
                                groups.push(Vec::new());
                                groups.len() - 1
                            }
                        };
                        groups[group].push(points);
                    }
                }
            }
            c if c.is_whitespace() => {}
            _ => return Err(format!("unexpected character {c:?}")),
        }
    }
    if !open.is_empty() || groups.is_empty() {
        return Err("unbalanced '(' or no coordinates".into());
    }
    Ok(groups)
}

/// A vertex in thousandths of a degree: the table has 3 decimals, so shared vertices compare equal.
type Milli = (i64, i64);

/// Every border edge once, chained into polylines: `inner` separates units of one province,
/// `outer` separates provinces or has a unit on one side only (the coast and outer border).
pub(crate) struct Borders {
    pub inner: Vec<Line>,
    pub outer: Vec<Line>,
}

pub(crate) fn borders() -> &'static Borders {
    static BORDERS: OnceLock<Borders> = OnceLock::new();
    BORDERS.get_or_init(|| {
        let milli = |(x, y): (f64, f64)| ((x * 1000.0).round() as i64, (y * 1000.0).round() as i64);
        // Edge → (province of the first ring using it, rings using it, used by two provinces).
        let mut edges: BTreeMap<(Milli, Milli), (u32, u32, bool)> = BTreeMap::new();
        for shape in shapes() {
            let province = shape.code / 10_000;
            for ring in shape.parts.iter().chain(&shape.holes) {
                for i in 0..ring.len() {
                    let (a, b) = (milli(ring[i]), milli(ring[(i + 1) % ring.len()]));
                    if a != b {
                        let e = edges.entry((a.min(b), a.max(b))).or_insert((province, 0, false));
                        e.1 += 1;
                        e.2 |= e.0 != province;
                    }
                }
            }
        }
        let (mut inner, mut outer) = (Vec::new(), Vec::new());
        for (edge, (_, count, mixed)) in edges {
            if count == 1 || mixed { outer.push(edge) } else { inner.push(edge) }
        }
        Borders { inner: chain(inner), outer: chain(outer) }
    })
}

/// Joins edges into polylines by a greedy walk (from dead ends and junctions first, then around
/// loops); deterministic for sorted input.
fn chain(edges: Vec<(Milli, Milli)>) -> Vec<Line> {
    let mut at: HashMap<Milli, Vec<usize>> = HashMap::new();
    for (i, &(a, b)) in edges.iter().enumerate() {
        at.entry(a).or_default().push(i);
        at.entry(b).or_default().push(i);
    }
    let mut starts: Vec<Milli> = edges.iter().flat_map(|&(a, b)| [a, b]).collect();
    starts.sort_by_key(|p| (at[p].len() == 2, *p));
    starts.dedup();
    let mut used = vec![false; edges.len()];
    let deg = |(x, y): Milli| (x as f64 / 1000.0, y as f64 / 1000.0);
    let mut lines = Vec::new();
    for start in starts {
        loop {
            let (mut line, mut cur) = (vec![deg(start)], start);
            while let Some(&e) = at[&cur].iter().find(|&&e| !used[e]) {
                used[e] = true;
                cur = if edges[e].0 == cur { edges[e].1 } else { edges[e].0 };
                line.push(deg(cur));
            }
            if line.len() < 2 {
                break;
            }
            lines.push(line);
        }
    }
    lines
}

/// Shoelace area (positive if counter-clockwise).
pub(crate) fn ring_area(ring: &[(f64, f64)]) -> f64 {
    (0..ring.len())
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum::<f64>()
        / 2.0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `(code, lon, lat)` of every unit in data/units.csv.
    pub(crate) fn units() -> Vec<(u32, f64, f64)> {
        let mut reader = csv::Reader::from_reader(include_str!("../data/units.csv").as_bytes());
        let h = reader.headers().unwrap().clone();
        let col = |name: &str| h.iter().position(|x| x == name).unwrap();
        let (code, lon, lat) = (col("code"), col("lon"), col("lat"));
        reader
            .records()
            .map(|r| r.unwrap())
            .map(|r| (r[code].parse().unwrap(), r[lon].parse().unwrap(), r[lat].parse().unwrap()))
            .collect()
    }

    #[test]
    fn outlines_cover_every_unit_and_the_whole_territory() {
        let bad: Vec<String> = parse_table(POLYGON_CSV).into_iter().filter_map(Result::err).collect();
        assert!(bad.is_empty(), "unparsable rows: {bad:?}");
        let units = units();
        assert_eq!(units.len(), 367);
        for (code, lon, lat) in &units {
            let shape = shapes().iter().find(|s| s.code == *code).unwrap_or_else(|| panic!("{code} has no outline"));
            let pts = shape.parts.iter().flatten();
            let (x0, x1, y0, y1) = pts.fold((f64::MAX, f64::MIN, f64::MAX, f64::MIN), |a, p| {
                (a.0.min(p.0), a.1.max(p.0), a.2.min(p.1), a.3.max(p.1))
            });
            assert!(
                (x0 - 0.1..=x1 + 0.1).contains(lon) && (y0 - 0.1..=y1 + 0.1).contains(lat),
                "seat of {code} outside its outline"
            );
        }
        for context in [710000, 810000, 820000] {
            assert!(shapes().iter().any(|s| s.code == context), "{context} (Taiwan, Hong Kong, Macau) is drawn");
        }
        let line = context("south_china_sea_line");
        assert!(line.len() >= 9, "the dashed line has its dashes");
        assert!(line.iter().flatten().all(|&(lon, lat)| (105.0..126.0).contains(&lon) && (2.0..27.0).contains(&lat)));
        assert!(!context("south_china_sea_islands").is_empty());
    }

    #[test]
    fn wkt_of_every_kind_parses_and_garbage_is_refused() {
        assert_eq!(parse_wkt("LINESTRING(1 2,3 4)").unwrap(), vec![vec![vec![(1.0, 2.0), (3.0, 4.0)]]]);
        let multi = parse_wkt("MULTIPOLYGON(((0 0,1 0,1 1,0 0),(0.1 0.1,0.2 0.1,0.2 0.2)),((5 5,6 5,6 6)))").unwrap();
        assert_eq!((multi.len(), multi[0].len(), multi[1].len()), (2, 2, 1));
        for bad in [
            "POLYGON((0 0,1 0,1))",
            "POLYGON((0 0,1 x))",
            "POLYGON((0 0,1 1)",
            "POLYGON(0 0))",
            "POLYGON((1e999 0,1 1,2 2))",
        ] {
            assert!(parse_wkt(bad).is_err(), "{bad}");
        }
    }
}
