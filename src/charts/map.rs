//! Choropleth of the prefecture-level units.
//!
//! Outlines come from `data/unit_polygons.csv` (derived from leiii/census by
//! `tools/derive_polygons.py`, see docs/data.md), embedded in the binary and
//! parsed once. Units are filled from their exterior rings, largest first,
//! so enclaves (嘉峪关 inside 酒泉, the Xinjiang corps cities…) stay visible
//! on top of the unit around them. Neighbouring units share their border
//! vertices exactly (the derivation simplifies each shared border once), so
//! borders are drawn once per edge, and province borders and the outer
//! border are the edges whose two sides lie in different provinces (or that
//! have one side only). The projection is equirectangular with longitudes
//! scaled by cos 35°, which keeps China's proportions close to an
//! equal-area map at chart size.

use super::*;

/// One prefecture-level unit on the map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapUnit {
    /// 2020 administrative code, as in `data/units.csv`.
    pub code: u32,
    /// Seat of government, used when the unit has no polygon.
    pub lon: f64,
    pub lat: f64,
    /// NaN = no data (drawn grey).
    pub value: f64,
}

/// A choropleth; see [`render_map`].
#[derive(Debug, Clone, Copy)]
pub struct MapChart<'a> {
    /// File name without extension.
    pub stem: &'a str,
    pub title: &'a str,
    /// Title of the colour bar, e.g. "Net migration 2024–2029 (persons)".
    pub legend_label: &'a str,
    pub units: &'a [MapUnit],
    /// Printed small at the bottom left.
    pub source_note: &'a str,
    /// The part of the map shown: `None` = the whole country; a zoom (e.g. one province, from
    /// [`Extent::around`]) shows neighbours cut at the frame.
    pub extent: Option<Extent>,
    /// Names printed at units' seats (inside the extent, where they do not overlap).
    pub labels: &'a [MapLabel],
    /// Legend text of the grey fill: units without a value.
    pub no_data_label: &'a str,
}

/// A name printed on the map at a point.
#[derive(Debug, Clone, PartialEq)]
pub struct MapLabel {
    pub lon: f64,
    pub lat: f64,
    pub text: String,
}

/// A longitude × latitude box (degrees).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extent {
    pub lon: (f64, f64),
    pub lat: (f64, f64),
}

impl Extent {
    /// The mainland, Hainan and the Paracels (Sansha's seat); parts further south (the
    /// Spratlys) are left off.
    pub const CHINA: Extent = Extent {
        lon: (73.3, 135.2),
        lat: (16.0, 53.7),
    };

    /// The outlines of the units `codes` with a margin of 8% (at least 0.3°) on every side, or
    /// `None` if none of them has an outline.
    pub fn around(codes: &[u32]) -> Option<Extent> {
        let mut lon = (f64::INFINITY, f64::NEG_INFINITY);
        let mut lat = (f64::INFINITY, f64::NEG_INFINITY);
        for shape in shapes().iter().filter(|s| codes.contains(&s.code)) {
            for &(x, y) in shape.parts.iter().flatten() {
                if Extent::CHINA.contains((x, y)) {
                    lon = (lon.0.min(x), lon.1.max(x));
                    lat = (lat.0.min(y), lat.1.max(y));
                }
            }
        }
        if !lon.0.is_finite() {
            return None;
        }
        let margin = |(a, b): (f64, f64)| ((b - a) * 0.08).max(0.3);
        let (mx, my) = (margin(lon), margin(lat));
        Some(Extent {
            lon: (lon.0 - mx, lon.1 + mx),
            lat: (lat.0 - my, lat.1 + my),
        })
    }

    fn contains(&self, (lon, lat): (f64, f64)) -> bool {
        (self.lon.0..=self.lon.1).contains(&lon) && (self.lat.0..=self.lat.1).contains(&lat)
    }

    /// Whether any part of the bounding box of `points` lies inside.
    fn touches(&self, points: &[(f64, f64)]) -> bool {
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &(x, y) in points {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        x0 <= self.lon.1 && self.lon.0 <= x1 && y0 <= self.lat.1 && self.lat.0 <= y1
    }
}

/// Writes `<stem>.png` and `<stem>.svg` (1200×750) into `dir` (created if
/// missing): every unit filled on a diverging red–white–blue scale (blue =
/// positive, red = negative), symmetric around 0 and saturating at the
/// 95th percentile of |value| rounded up to a round number; the colours
/// follow the square root of |value| so that the many small values stay
/// distinguishable next to a few big cities. A colour bar with compact
/// labels ("−2M … +2M") sits right of the map. Units without a polygon (or
/// too small to see) are drawn as dots at their seat; polygons of units not
/// in `units` (Hong Kong, Macau, omitted units) and NaN values are grey.
/// Returns the paths, PNG first.
pub fn render_map(dir: &Path, chart: &MapChart) -> Result<Vec<PathBuf>, ChartError> {
    write_chart_in(dir, chart.stem, chart)
}

// ---------------------------------------------------------------------------
// Polygon table
// ---------------------------------------------------------------------------

/// Outline of one unit in lon/lat.
#[derive(Debug, Clone, PartialEq)]
struct Shape {
    code: u32,
    /// Exterior rings, largest part first.
    parts: Vec<Vec<(f64, f64)>>,
    /// Interior rings (only used to find borders).
    holes: Vec<Vec<(f64, f64)>>,
    /// Sum of the parts' areas in square degrees (drawing order).
    area: f64,
}

const POLYGON_CSV: &str = include_str!("../../data/unit_polygons.csv");

/// The embedded polygon table, parsed on first use. Rows that do not parse
/// are skipped (the tests check the table is complete).
fn shapes() -> &'static [Shape] {
    static SHAPES: OnceLock<Vec<Shape>> = OnceLock::new();
    SHAPES.get_or_init(|| parse_table(POLYGON_CSV).into_iter().flatten().collect())
}

/// One result per data row of a `code,wkt` table.
fn parse_table(text: &str) -> Vec<Result<Shape, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .map(|record| {
            let record = record.map_err(|e| e.to_string())?;
            let code = record.get(0).unwrap_or("");
            let code: u32 = code
                .trim()
                .parse()
                .map_err(|_| format!("bad unit code {code:?}"))?;
            let (parts, holes) =
                parse_wkt(record.get(1).unwrap_or("")).map_err(|e| format!("unit {code}: {e}"))?;
            let area = parts.iter().map(|p| ring_area(p).abs()).sum();
            Ok(Shape {
                code,
                parts,
                holes,
                area,
            })
        })
        .collect()
}

type Rings = Vec<Vec<(f64, f64)>>;

/// Exterior and interior rings of a WKT `POLYGON` or `MULTIPOLYGON`.
fn parse_wkt(wkt: &str) -> Result<(Rings, Rings), String> {
    let wkt = wkt.trim();
    let upper = wkt.get(..12).unwrap_or(wkt).to_ascii_uppercase();
    let (body, ring_depth) = if upper.starts_with("MULTIPOLYGON") {
        (&wkt[12..], 3)
    } else if upper.starts_with("POLYGON") {
        (&wkt[7..], 2)
    } else {
        return Err("not a POLYGON or MULTIPOLYGON".into());
    };
    let (mut exteriors, mut holes) = (Vec::new(), Vec::new());
    let mut depth = 0;
    // Whether the next ring opened is the first (exterior) of its polygon.
    let mut exterior = false;
    let mut ring: Option<Vec<(f64, f64)>> = None;
    let mut number = String::new();
    let mut coords: Vec<f64> = Vec::new();
    let flush = |number: &mut String, coords: &mut Vec<f64>| -> Result<(), String> {
        if !number.is_empty() {
            let v: f64 = number
                .parse()
                .map_err(|_| format!("bad number {number:?}"))?;
            if !v.is_finite() {
                return Err(format!("non-finite coordinate {number:?}"));
            }
            coords.push(v);
            number.clear();
        }
        Ok(())
    };
    for c in body.chars() {
        match c {
            '(' => {
                depth += 1;
                if depth == ring_depth - 1 {
                    exterior = true;
                } else if depth == ring_depth {
                    ring = Some(Vec::new());
                } else if depth > ring_depth {
                    return Err("unexpected '('".into());
                }
            }
            ',' | ')' => {
                flush(&mut number, &mut coords)?;
                if depth == ring_depth {
                    if let Some(ring) = ring.as_mut() {
                        match coords[..] {
                            [x, y] => ring.push((x, y)),
                            [] if c == ')' => {}
                            _ => return Err("point without exactly two coordinates".into()),
                        }
                    }
                    coords.clear();
                }
                if c == ')' {
                    if depth == ring_depth {
                        let done = ring.take().unwrap_or_default();
                        if done.len() >= 3 {
                            if exterior {
                                exteriors.push(done);
                            } else {
                                holes.push(done);
                            }
                        }
                        exterior = false;
                    }
                    if depth == 0 {
                        return Err("unbalanced ')'".into());
                    }
                    depth -= 1;
                }
            }
            c if c.is_whitespace() => flush(&mut number, &mut coords)?,
            c if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E') => {
                if depth != ring_depth {
                    return Err(format!("number outside a ring: {c:?}"));
                }
                number.push(c);
            }
            _ => return Err(format!("unexpected character {c:?}")),
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    if exteriors.is_empty() {
        return Err("no exterior ring".into());
    }
    Ok((exteriors, holes))
}

/// A vertex in thousandths of a degree: the table has 3 decimals, so equal
/// vertices of neighbouring units compare equal.
type Milli = (i64, i64);

fn milli((lon, lat): (f64, f64)) -> Milli {
    ((lon * 1000.0).round() as i64, (lat * 1000.0).round() as i64)
}

fn from_milli((x, y): Milli) -> (f64, f64) {
    (x as f64 / 1000.0, y as f64 / 1000.0)
}

/// Every border edge once, chained into polylines: `inner` separates units
/// of one province, `outer` separates provinces or has a unit on one side
/// only (the coast and the outer border).
struct Borders {
    inner: Vec<Vec<(f64, f64)>>,
    outer: Vec<Vec<(f64, f64)>>,
}

fn borders() -> &'static Borders {
    static BORDERS: OnceLock<Borders> = OnceLock::new();
    BORDERS.get_or_init(|| find_borders(shapes()))
}

fn find_borders(shapes: &[Shape]) -> Borders {
    // Edge → (province of the first ring using it, rings using it, whether
    // a ring of another province uses it too).
    let mut edges: std::collections::BTreeMap<(Milli, Milli), (u32, u32, bool)> =
        Default::default();
    for shape in shapes {
        let province = shape.code / 10_000;
        for ring in shape.parts.iter().chain(&shape.holes) {
            let n = ring.len();
            for i in 0..n {
                let (a, b) = (milli(ring[i]), milli(ring[(i + 1) % n]));
                if a == b {
                    continue;
                }
                let e = edges
                    .entry((a.min(b), a.max(b)))
                    .or_insert((province, 0, false));
                e.1 += 1;
                e.2 |= e.0 != province;
            }
        }
    }
    let (mut inner, mut outer) = (Vec::new(), Vec::new());
    for (edge, (_, count, mixed)) in edges {
        if count == 1 || mixed {
            outer.push(edge);
        } else {
            inner.push(edge);
        }
    }
    Borders {
        inner: chain(inner),
        outer: chain(outer),
    }
}

/// Joins edges into as few polylines as a greedy walk finds (from dead ends
/// and junctions first, then around loops); deterministic for sorted input.
fn chain(edges: Vec<(Milli, Milli)>) -> Vec<Vec<(f64, f64)>> {
    let mut at: std::collections::HashMap<Milli, Vec<usize>> = Default::default();
    for (i, &(a, b)) in edges.iter().enumerate() {
        at.entry(a).or_default().push(i);
        at.entry(b).or_default().push(i);
    }
    let mut starts: Vec<Milli> = edges.iter().flat_map(|&(a, b)| [a, b]).collect();
    starts.sort_by_key(|p| (at[p].len() == 2, *p));
    starts.dedup();
    let mut used = vec![false; edges.len()];
    let mut lines = Vec::new();
    for start in starts {
        loop {
            let mut line = vec![from_milli(start)];
            let mut cur = start;
            while let Some(&e) = at[&cur].iter().find(|&&e| !used[e]) {
                used[e] = true;
                let (a, b) = edges[e];
                cur = if a == cur { b } else { a };
                line.push(from_milli(cur));
            }
            if line.len() < 2 {
                break;
            }
            lines.push(line);
        }
    }
    lines
}

/// Shoelace area (positive if counter-clockwise), any closed or open ring.
fn ring_area(ring: &[(f64, f64)]) -> f64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum::<f64>()
        / 2.0
}

// ---------------------------------------------------------------------------
// Projection and colours
// ---------------------------------------------------------------------------

/// Longitude scale of the equirectangular projection: cos 35°.
const X_SCALE: f64 = 0.819_152_044_288_992;

/// Degrees → pixels, keeping the aspect ratio inside a pixel box.
#[derive(Debug, Clone, Copy)]
struct Projection {
    extent: Extent,
    x0: f64,
    y0: f64,
    px_per_deg: f64,
}

impl Projection {
    /// Largest projection of `extent` that fits `b`, aligned top-left.
    fn fit(extent: Extent, b: PxRect) -> Self {
        let w = (extent.lon.1 - extent.lon.0) * X_SCALE;
        let h = extent.lat.1 - extent.lat.0;
        let px_per_deg = (f64::from(b.x1 - b.x0) / w).min(f64::from(b.y1 - b.y0) / h);
        Projection {
            extent,
            x0: f64::from(b.x0),
            y0: f64::from(b.y0),
            px_per_deg,
        }
    }

    fn px(&self, (lon, lat): (f64, f64)) -> Px {
        let Extent {
            lon: lons,
            lat: lats,
        } = self.extent;
        let lon = lon.clamp(lons.0 - 10.0, lons.1 + 10.0);
        let lat = lat.clamp(lats.0 - 10.0, lats.1 + 10.0);
        let x = self.x0 + (lon - lons.0) * X_SCALE * self.px_per_deg;
        let y = self.y0 + (lats.1 - lat) * self.px_per_deg;
        (x.round() as i32, y.round() as i32)
    }

    fn width(&self) -> i32 {
        ((self.extent.lon.1 - self.extent.lon.0) * X_SCALE * self.px_per_deg).round() as i32
    }

    fn height(&self) -> i32 {
        ((self.extent.lat.1 - self.extent.lat.0) * self.px_per_deg).round() as i32
    }
}

/// ColorBrewer RdBu (11 classes), from strongest loss to strongest gain.
const RDBU: [RGBColor; 11] = [
    RGBColor(103, 0, 31),
    RGBColor(178, 24, 43),
    RGBColor(214, 96, 77),
    RGBColor(244, 165, 130),
    RGBColor(253, 219, 199),
    RGBColor(247, 247, 247),
    RGBColor(209, 229, 240),
    RGBColor(146, 197, 222),
    RGBColor(67, 147, 195),
    RGBColor(33, 102, 172),
    RGBColor(5, 48, 97),
];
const NO_DATA: RGBColor = RGBColor(205, 205, 205);
/// Colour-bar frame and key outlines.
const BORDER: RGBColor = RGBColor(140, 140, 140);
/// Between units of one province.
const UNIT_BORDER: RGBColor = RGBColor(165, 165, 165);
/// Between provinces, and the coast / outer border.
const PROVINCE_BORDER: RGBColor = RGBColor(70, 70, 70);

/// Colour of scale position `t` in −1…1 (−1 strongest loss).
fn ramp(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let pos = (t + 1.0) / 2.0 * (RDBU.len() - 1) as f64;
    let i = (pos.floor() as usize).min(RDBU.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (RDBU[i], RDBU[i + 1]);
    let mix = |a: u8, b: u8| (f64::from(a) + f * (f64::from(b) - f64::from(a))).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Symmetric square-root scale saturating at ±`clip`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    clip: f64,
}

impl Scale {
    /// `clip` = 95th percentile of |value| (nearest rank) rounded up to a
    /// round number; 1 without non-zero finite values.
    fn from_values(values: impl IntoIterator<Item = f64>) -> Self {
        let mut abs: Vec<f64> = values
            .into_iter()
            .filter(|v| v.is_finite())
            .map(f64::abs)
            .collect();
        abs.sort_by(f64::total_cmp);
        let p95 = match abs.len() {
            0 => 0.0,
            n => abs[((0.95 * n as f64).ceil() as usize).clamp(1, n) - 1],
        };
        let clip = if p95 > 0.0 { nice_ceil(p95) } else { 1.0 };
        Scale {
            clip: if clip.is_finite() { clip } else { f64::MAX },
        }
    }

    /// Position in −1…1.
    fn position(&self, v: f64) -> f64 {
        let t = (v / self.clip).clamp(-1.0, 1.0);
        t.signum() * t.abs().sqrt()
    }

    fn color(&self, v: f64) -> RGBColor {
        if v.is_finite() {
            ramp(self.position(v))
        } else {
            NO_DATA
        }
    }

    /// Positive tick values: `clip` and smaller 1-2-5 numbers at least
    /// 0.13 of the half-bar apart, largest first.
    fn ticks(&self) -> Vec<f64> {
        let mut ticks = vec![self.clip];
        let mut last = 1.0;
        let mag = 10f64.powf(self.clip.log10().floor());
        for k in 0..6 {
            for m in [5.0, 2.0, 1.0] {
                let v = m * mag / 10f64.powi(k);
                let p = self.position(v);
                if v < self.clip && p <= last - 0.13 && p >= 0.15 {
                    ticks.push(v);
                    last = p;
                }
            }
        }
        ticks
    }
}

// ---------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------

/// Right-hand column with the colour bar and notes.
const LEGEND_COL_W: i32 = 270;
const BAR_W: i32 = 24;
const BAR_H: i32 = 300;
/// Units whose projected outline covers fewer pixels also get a dot.
const MIN_VISIBLE_PX2: f64 = 12.0;
const DOT_R: i32 = 4;

/// Greedy word wrap to `max_w` pixels.
fn wrap(font: &FontDesc<'_>, text: &str, max_w: i32) -> Result<Vec<String>, String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if line.is_empty() || text_width(font, &candidate)? <= max_w {
            line = candidate;
        } else {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    Ok(lines)
}

/// Integer pixel ring without repeated points; `None` if it has no area.
fn pixel_ring(proj: &Projection, ring: &[(f64, f64)]) -> Option<Vec<Px>> {
    let mut out: Vec<Px> = Vec::with_capacity(ring.len());
    for &p in ring {
        let q = proj.px(p);
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    (out.len() >= 3).then_some(out)
}

impl Drawing for MapChart<'_> {
    fn draw_on<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        ink: Ink,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let mut canvas = Canvas {
            root,
            ink,
            occupied: Vec::new(),
        };
        let (w, h) = (CHART_SIZE.0 as i32, CHART_SIZE.1 as i32);

        let map_box = PxRect {
            x0: LEFT_MARGIN_PX as i32 + 10,
            y0: TOP_PX as i32,
            x1: w - LEGEND_COL_W - 20,
            y1: h - FOOTER_PX as i32 - 8,
        };
        let extent = self.extent.unwrap_or(Extent::CHINA);
        let zoomed = self.extent.is_some();
        // Drawn: a part with a vertex inside; when zoomed, also a part reaching across the frame.
        let shown = |points: &[(f64, f64)]| {
            points.iter().any(|&p| extent.contains(p)) || (zoomed && extent.touches(points))
        };
        let proj = Projection::fit(extent, map_box);
        // Centre the map in its box.
        let proj = Projection {
            x0: proj.x0 + f64::from((map_box.x1 - map_box.x0 - proj.width()) / 2),
            y0: proj.y0 + f64::from((map_box.y1 - map_box.y0 - proj.height()) / 2),
            ..proj
        };

        let mut values: std::collections::HashMap<u32, &MapUnit> = Default::default();
        for u in self.units {
            values.entry(u.code).or_insert(u);
        }
        let scale = Scale::from_values(self.units.iter().map(|u| u.value));

        // Largest first, so enclaves end up on top.
        let mut shapes: Vec<&Shape> = shapes().iter().collect();
        shapes.sort_by(|a, b| b.area.total_cmp(&a.area).then(a.code.cmp(&b.code)));
        let mut drawn = std::collections::HashSet::new();
        let mut any_no_data = false;
        let mut dots: Vec<(Px, RGBColor)> = Vec::new();
        for shape in shapes {
            let unit = values.get(&shape.code);
            let value = unit.map_or(f64::NAN, |u| u.value);
            let color = scale.color(value);
            let mut px_area = 0.0;
            for part in &shape.parts {
                if !shown(part) {
                    continue;
                }
                let Some(ring) = pixel_ring(&proj, part) else {
                    continue;
                };
                let area: f64 = ring_area(
                    &ring
                        .iter()
                        .map(|&(x, y)| (f64::from(x), f64::from(y)))
                        .collect::<Vec<_>>(),
                );
                px_area += area.abs();
                canvas.draw(&Polygon::new(ring, color.filled()))?;
            }
            if px_area > 0.0 {
                drawn.insert(shape.code);
                any_no_data |= !value.is_finite();
            }
            if px_area < MIN_VISIBLE_PX2
                && let Some(u) = unit
            {
                let at = if extent.contains((u.lon, u.lat)) {
                    (u.lon, u.lat)
                } else {
                    shape.parts[0][0]
                };
                if extent.contains(at) {
                    dots.push((proj.px(at), color));
                    drawn.insert(shape.code);
                }
            }
        }
        // Borders once per edge, over all fills (which also hides any
        // hairline seams between neighbouring fills).
        let borders = borders();
        for (lines, color) in [
            (&borders.inner, UNIT_BORDER),
            (&borders.outer, PROVINCE_BORDER),
        ] {
            for line in lines {
                if !shown(line) {
                    continue;
                }
                let mut px: Vec<Px> = Vec::with_capacity(line.len());
                for &p in line {
                    let q = proj.px(p);
                    if px.last() != Some(&q) {
                        px.push(q);
                    }
                }
                if px.len() >= 2 {
                    canvas.draw(&PathElement::new(px, color.stroke_width(1)))?;
                }
            }
        }

        // Units without any outline on the map: a dot at the seat.
        let mut missing: Vec<&MapUnit> = values
            .values()
            .filter(|u| !drawn.contains(&u.code) && extent.contains((u.lon, u.lat)))
            .copied()
            .collect();
        missing.sort_by_key(|u| u.code);
        for u in missing {
            dots.push((proj.px((u.lon, u.lat)), scale.color(u.value)));
            any_no_data |= !u.value.is_finite();
        }
        for &(p, color) in &dots {
            canvas.draw(&Circle::new(p, DOT_R, color.filled()))?;
            canvas.draw(&Circle::new(p, DOT_R, RGBColor(60, 60, 60).stroke_width(1)))?;
        }

        if zoomed {
            // Neighbours reach past the frame: cut them there.
            let (x0, y0) = (proj.x0.round() as i32, proj.y0.round() as i32);
            let (x1, y1) = (x0 + proj.width(), y0 + proj.height());
            for [a, b] in [
                [(0, 0), (w, y0)],
                [(0, y1), (w, h)],
                [(0, y0), (x0, y1)],
                [(x1, y0), (w, y1)],
            ] {
                canvas.draw(&Rectangle::new([a, b], WHITE.filled()))?;
            }
            canvas.draw(&Rectangle::new(
                [(x0, y0), (x1, y1)],
                BORDER.stroke_width(1),
            ))?;
            // Names where they fit, largest units' seats first (the caller's order).
            let style = anchored(
                font_in(NOTE_PX, RGBColor(30, 30, 30)),
                HPos::Center,
                VPos::Center,
            );
            for label in self.labels {
                if !extent.contains((label.lon, label.lat)) {
                    continue;
                }
                let at = proj.px((label.lon, label.lat));
                let width = text_width(&style.font, &label.text)?;
                let rect = PxRect {
                    x0: at.0 - width / 2 - 3,
                    y0: at.1 - 9,
                    x1: at.0 + width / 2 + 3,
                    y1: at.1 + 9,
                };
                if rect.x0 < x0 || rect.x1 > x1 || rect.y0 < y0 || rect.y1 > y1 {
                    continue;
                }
                if canvas.occupied.iter().any(|o| o.intersects(&rect)) {
                    continue;
                }
                canvas.occupied.push(rect);
                // A light plate keeps the name legible on dark fills.
                canvas.draw(&Rectangle::new(
                    [(rect.x0, rect.y0), (rect.x1, rect.y1)],
                    WHITE.mix(0.65).filled(),
                ))?;
                canvas.text(&label.text, at, &style)?;
            }
        }
        let title_style = anchored(title_font(), HPos::Center, VPos::Top);
        canvas.text(self.title, (w / 2, 18), &title_style)?;
        self.colour_bar(&mut canvas, &scale, any_no_data, !dots.is_empty())?;
        if values.is_empty() {
            let style = anchored(font_in(AXIS_DESC_PX, TEXT_GREY), HPos::Center, VPos::Center);
            let mid = ((map_box.x0 + map_box.x1) / 2, (map_box.y0 + map_box.y1) / 2);
            canvas.text("No data", mid, &style)?;
        }
        draw_footer(&mut canvas, self.source_note, "")
    }
}

impl MapChart<'_> {
    /// Vertical colour bar (gain on top) with its title above and the
    /// no-data / dot keys below.
    fn colour_bar<DB: DrawingBackend>(
        &self,
        canvas: &mut Canvas<'_, DB>,
        scale: &Scale,
        no_data: bool,
        dots: bool,
    ) -> Result<(), String> {
        let (w, _) = (CHART_SIZE.0 as i32, CHART_SIZE.1 as i32);
        let x = w - LEGEND_COL_W;
        let mut y = TOP_PX as i32 + 40;

        let title = font(LEGEND_PX);
        for line in wrap(&title.font, self.legend_label, LEGEND_COL_W - 20)? {
            canvas.text(
                &line,
                (x, y),
                &anchored(title.clone(), HPos::Left, VPos::Top),
            )?;
            y += 22;
        }
        let note = font_in(NOTE_PX, TEXT_GREY);
        y += 10;
        canvas.text(
            "net gain",
            (x, y),
            &anchored(note.clone(), HPos::Left, VPos::Top),
        )?;
        y += 24;

        // The bar: one 1-px row per position, top = +clip.
        let (top, bottom) = (y, y + BAR_H);
        for row in top..bottom {
            let t = 1.0 - 2.0 * f64::from(row - top) / f64::from(BAR_H - 1);
            canvas.draw(&Rectangle::new(
                [(x, row), (x + BAR_W, row + 1)],
                ramp(t).filled(),
            ))?;
        }
        canvas.draw(&Rectangle::new(
            [(x, top), (x + BAR_W, bottom)],
            BORDER.stroke_width(1),
        ))?;
        let tick_style = anchored(font(TICK_PX), HPos::Left, VPos::Center);
        let row_of = |v: f64| {
            let t = scale.position(v);
            top + ((1.0 - t) / 2.0 * f64::from(BAR_H - 1)).round() as i32
        };
        let positive = scale.ticks();
        let ticks = positive
            .iter()
            .copied()
            .chain(std::iter::once(0.0))
            .chain(positive.iter().rev().map(|&v| -v));
        for v in ticks {
            let row = row_of(v);
            canvas.draw(&PathElement::new(
                vec![(x + BAR_W, row), (x + BAR_W + 5, row)],
                AXIS_GREY.stroke_width(1),
            ))?;
            let label = compact_number(v, v.abs(), scale.clip, true);
            // Saturated ends: everything beyond gets the end colour.
            let label = if v >= scale.clip {
                format!("≥ {label}")
            } else if v <= -scale.clip {
                format!("≤ {label}")
            } else {
                label
            };
            canvas.text(&label, (x + BAR_W + 10, row), &tick_style)?;
        }
        y = bottom + 10;
        canvas.text(
            "net loss",
            (x, y),
            &anchored(note.clone(), HPos::Left, VPos::Top),
        )?;
        y += 34;

        let key = anchored(font(LEGEND_PX), HPos::Left, VPos::Center);
        if no_data {
            canvas.draw(&Rectangle::new(
                [(x, y - 9), (x + BAR_W, y + 9)],
                NO_DATA.filled(),
            ))?;
            canvas.draw(&Rectangle::new(
                [(x, y - 9), (x + BAR_W, y + 9)],
                BORDER.stroke_width(1),
            ))?;
            canvas.text(self.no_data_label, (x + BAR_W + 10, y), &key)?;
            y += 28;
        }
        if dots {
            let c = (x + BAR_W / 2, y);
            canvas.draw(&Circle::new(c, DOT_R, WHITE.filled()))?;
            canvas.draw(&Circle::new(c, DOT_R, RGBColor(60, 60, 60).stroke_width(1)))?;
            canvas.text("Unit too small to show", (x + BAR_W + 10, y), &key)?;
        }
        Ok(())
    }
}

/// The map as an interactive SVG for `report.html`: every unit a path whose `<title>` (the
/// browser's hover text) is `tooltip(code, value)` (value NaN without data), so units too small
/// to see stay reachable; the same projection, colours and scale as [`render_map`], with a
/// colour bar below. Units without an outline are dots at their seat.
pub fn hover_svg(chart: &MapChart, tooltip: &dyn Fn(u32, f64) -> String) -> String {
    use std::fmt::Write as _;
    const WIDTH: i32 = 960;
    const MAP_H: i32 = 720;
    const BAR_AREA: i32 = 70;
    let extent = chart.extent.unwrap_or(Extent::CHINA);
    let zoomed = chart.extent.is_some();
    let shown = |points: &[(f64, f64)]| {
        points.iter().any(|&p| extent.contains(p)) || (zoomed && extent.touches(points))
    };
    let proj = Projection::fit(
        extent,
        PxRect {
            x0: 0,
            y0: 0,
            x1: WIDTH,
            y1: MAP_H,
        },
    );
    let (w, h) = (proj.width(), proj.height());
    let mut values: std::collections::HashMap<u32, &MapUnit> = Default::default();
    for u in chart.units {
        values.entry(u.code).or_insert(u);
    }
    let scale = Scale::from_values(chart.units.iter().map(|u| u.value));
    let hex = |c: RGBColor| format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2);
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let point = |(lon, lat): (f64, f64)| {
        let x = (lon - extent.lon.0) * X_SCALE * proj.px_per_deg;
        let y = (extent.lat.1 - lat) * proj.px_per_deg;
        (x, y)
    };
    let mut svg = format!(
        "<svg class=\"map\" viewBox=\"0 0 {w} {}\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\"><title>{}</title>",
        h + BAR_AREA,
        escape(chart.title)
    );
    let mut shapes: Vec<&Shape> = shapes().iter().collect();
    shapes.sort_by(|a, b| b.area.total_cmp(&a.area).then(a.code.cmp(&b.code)));
    let mut outlined = std::collections::HashSet::new();
    for shape in shapes {
        let mut d = String::new();
        for part in shape.parts.iter().filter(|p| shown(p)) {
            for (i, &p) in part.iter().enumerate() {
                let (x, y) = point(p);
                let _ = write!(d, "{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" });
            }
            d.push('Z');
        }
        if d.is_empty() {
            continue;
        }
        outlined.insert(shape.code);
        let value = values.get(&shape.code).map_or(f64::NAN, |u| u.value);
        let _ = write!(
            svg,
            "<path d=\"{d}\" fill=\"{}\" stroke=\"{}\" stroke-width=\"0.5\"><title>{}</title></path>",
            hex(scale.color(value)),
            hex(UNIT_BORDER),
            escape(&tooltip(shape.code, value))
        );
    }
    // Province borders and the coast over the units, not catching the pointer.
    let mut lines = String::new();
    for line in borders().outer.iter().filter(|l| shown(l)) {
        for (i, &p) in line.iter().enumerate() {
            let (x, y) = point(p);
            let _ = write!(lines, "{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" });
        }
    }
    let _ = write!(
        svg,
        "<path d=\"{lines}\" fill=\"none\" stroke=\"{}\" stroke-width=\"0.9\" pointer-events=\"none\"/>",
        hex(PROVINCE_BORDER)
    );
    for u in chart.units {
        if outlined.contains(&u.code) || !extent.contains((u.lon, u.lat)) {
            continue;
        }
        let (x, y) = point((u.lon, u.lat));
        let _ = write!(
            svg,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{}\" stroke=\"#3c3c3c\"><title>{}</title></circle>",
            hex(scale.color(u.value)),
            escape(&tooltip(u.code, u.value))
        );
    }
    // Colour bar: −clip … +clip on the same square-root scale, ticks at the chart's values.
    let (bar_x, bar_w, bar_y) = (f64::from(w) * 0.2, f64::from(w) * 0.6, f64::from(h) + 24.0);
    let steps = 60;
    for i in 0..steps {
        let t = -1.0 + 2.0 * (f64::from(i) + 0.5) / f64::from(steps);
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{bar_y:.1}\" width=\"{:.2}\" height=\"14\" fill=\"{}\"/>",
            bar_x + bar_w * f64::from(i) / f64::from(steps),
            bar_w / f64::from(steps) + 0.3,
            hex(ramp(t))
        );
    }
    // Ticks from the ends inward, each at least 60 px from the last one kept.
    let mut ticks: Vec<f64> = Vec::new();
    for v in scale.ticks() {
        let gap =
            bar_w / 2.0 * (scale.position(*ticks.last().unwrap_or(&f64::MAX)) - scale.position(v));
        if ticks.is_empty() || gap >= 60.0 {
            ticks.push(v);
        }
    }
    let ticks: Vec<f64> = ticks
        .iter()
        .flat_map(|&v| [v, -v])
        .chain([0.0])
        .filter(|&v| v == 0.0 || bar_w / 2.0 * scale.position(v.abs()) >= 50.0)
        .collect();
    for v in ticks {
        let x = bar_x + bar_w * (scale.position(v) + 1.0) / 2.0;
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{bar_y:.1}\" y2=\"{:.1}\" stroke=\"#333\"/><text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" font-family=\"DejaVu Sans, sans-serif\">{}</text>",
            bar_y + 18.0,
            bar_y + 32.0,
            compact_number(v, scale.clip / 4.0, scale.clip, true)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\" font-family=\"DejaVu Sans, sans-serif\">{}</text></svg>",
        bar_x + bar_w / 2.0,
        bar_y - 6.0,
        escape(chart.legend_label)
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITS_CSV: &str = include_str!("../../data/units.csv");

    /// `(code, lon, lat, pop_2020)` of every unit in data/units.csv.
    fn units() -> Vec<(u32, f64, f64, f64)> {
        let mut reader = csv::Reader::from_reader(UNITS_CSV.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (code, lon, lat, pop) = (col("code"), col("lon"), col("lat"), col("pop_2020"));
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (
                    r[code].parse().unwrap(),
                    r[lon].parse().unwrap(),
                    r[lat].parse().unwrap(),
                    r[pop].parse().unwrap(),
                )
            })
            .collect()
    }

    /// Plausible net migration 2024–2029: big cities gain up to ~+2M (the
    /// coastal ones most), other units lose up to ~−0.5M, the interior and
    /// the north-east most; everything scales with population.
    pub(crate) fn sample_units() -> Vec<MapUnit> {
        units()
            .into_iter()
            .map(|(code, lon, lat, pop)| {
                let coastal = ((lon - 108.0) / 14.0).clamp(0.0, 1.0);
                let north_east = lat > 40.0 && lon > 118.0;
                let value = if pop > 9e6 {
                    (0.4 + 0.8 * coastal) * pop / 10.0
                } else if north_east {
                    -0.07 * pop
                } else {
                    (-0.06 + 0.05 * coastal) * pop
                };
                MapUnit {
                    code,
                    lon,
                    lat,
                    value,
                }
            })
            .collect()
    }

    fn chart(units: &[MapUnit]) -> MapChart<'_> {
        MapChart {
            stem: "map",
            title: "Net migration by prefecture, 2024–2029",
            legend_label: "Net migration 2024–2029 (persons)",
            units,
            source_note: "Source: migrasim simulation; outlines: leiii/census (MIT), simplified",
            extent: None,
            labels: &[],
            no_data_label: "No data / not simulated",
        }
    }

    #[test]
    fn polygon_table_parses_and_covers_the_units() {
        let results = parse_table(POLYGON_CSV);
        let bad: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(bad.is_empty(), "unparsable rows: {bad:?}");
        let codes: std::collections::HashSet<u32> = shapes().iter().map(|s| s.code).collect();
        let units = units();
        assert_eq!(units.len(), 367);
        let covered = units.iter().filter(|u| codes.contains(&u.0)).count();
        assert!(covered >= 350, "only {covered} of 367 units have polygons");
        // Outlines are in China and every seat lies within its unit's box
        // (a code mix-up would put it elsewhere).
        for s in shapes() {
            assert!(s.area > 0.0, "{}", s.code);
            let (lon, lat): (Vec<f64>, Vec<f64>) = s.parts.iter().flatten().copied().unzip();
            let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert!(min(&lon) > 73.0 && max(&lon) < 136.0, "{}", s.code);
            assert!(min(&lat) > 3.0 && max(&lat) < 54.0, "{}", s.code);
            if let Some(&(_, ulon, ulat, _)) = units.iter().find(|u| u.0 == s.code) {
                assert!(
                    (min(&lon) - 0.1..=max(&lon) + 0.1).contains(&ulon)
                        && (min(&lat) - 0.1..=max(&lat) + 0.1).contains(&ulat),
                    "seat of {} outside its outline",
                    s.code
                );
            }
        }
    }

    #[test]
    fn wkt_parser_separates_exterior_rings_and_holes() {
        let (p, h) =
            parse_wkt("POLYGON((0 0,1 0,1 1,0 0),(0.1 0.1,0.2 0.1,0.2 0.2,0.1 0.1))").unwrap();
        assert_eq!(
            p,
            vec![vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]]
        );
        assert_eq!(h.len(), 1);
        let (m, h) = parse_wkt(
            "MULTIPOLYGON(((0 0, 2 0, 2 2, 0 0), (1 1, 1.5 1, 1.5 1.5, 1 1)), ((5 5, 6 5, 6 6, 5 5)))",
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            h,
            vec![vec![(1.0, 1.0), (1.5, 1.0), (1.5, 1.5), (1.0, 1.0)]]
        );
        assert_eq!(m[1][0], (5.0, 5.0));
        for bad in [
            "",
            "POINT(1 2)",
            "POLYGON((0 0,1 0,1 1,0 0)",
            "POLYGON((0 0,1,1 1,0 0))",
            "POLYGON((0 0,1 0,x 1,0 0))",
            "POLYGON((0 0,1 0,1 inf,0 0))",
            "POLYGON(((0 0,1 0,1 1,0 0)))",
            "POLYGON(())",
        ] {
            assert!(parse_wkt(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn borders_split_by_province_and_chain() {
        let square = |code: u32, x: f64| Shape {
            code,
            parts: vec![vec![(x, 0.0), (x + 1.0, 0.0), (x + 1.0, 1.0), (x, 1.0)]],
            holes: vec![],
            area: 1.0,
        };
        // Two units of one province side by side, a third of another.
        let b = find_borders(&[
            square(110_100, 0.0),
            square(110_200, 1.0),
            square(120_100, 2.0),
        ]);
        assert_eq!(b.inner, vec![vec![(1.0, 0.0), (1.0, 1.0)]]);
        let outer_edges: usize = b.outer.iter().map(|l| l.len() - 1).sum();
        assert_eq!(outer_edges, 3 + 3 + 1 + 1 + 1, "outline, province border");
        assert!(b.outer.len() <= 3, "chained: {:?}", b.outer);

        // The embedded table: neighbours share edges, so most edges are
        // inner or province borders and the outline is a minority.
        let real = borders();
        let count = |lines: &[Vec<(f64, f64)>]| lines.iter().map(|l| l.len() - 1).sum::<usize>();
        let (inner, outer) = (count(&real.inner), count(&real.outer));
        assert!(
            inner > 8_000 && outer < inner,
            "inner {inner}, outer {outer}"
        );
    }

    #[test]
    fn scale_is_symmetric_and_clipped() {
        let s = Scale::from_values((1..=100).map(|i| f64::from(i) * 1e4).chain([f64::NAN]));
        assert_eq!(s.clip, 1e6); // p95 = 950 000 → 1M
        assert_eq!(s.position(4e6), 1.0);
        assert_eq!(s.position(-2.5e5), -0.5);
        assert_eq!(s.color(0.0), RDBU[5]);
        assert_eq!(s.color(-1e9), RDBU[0]);
        assert_eq!(s.color(1e9), RDBU[10]);
        assert_eq!(s.color(f64::NAN), NO_DATA);
        assert_eq!(s.ticks(), vec![1e6, 5e5, 2e5, 1e5]);
        assert_eq!(Scale::from_values([]).clip, 1.0);
        assert_eq!(Scale::from_values([0.0, 0.0]).clip, 1.0);
        assert!(Scale::from_values([f64::MAX]).clip.is_finite());
        assert_eq!(compact_number(-2e6, 2e6, 2e6, true), "−2M");
        assert_eq!(compact_number(5e5, 5e5, 2e6, true), "+0.5M");
    }

    #[test]
    fn hover_map_names_every_unit_it_draws() {
        let units = sample_units();
        let svg = hover_svg(&chart(&units), &|code, value| {
            format!("unit {code}: {value}")
        });
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        for u in &units {
            assert!(
                svg.contains(&format!("<title>unit {}: {}</title>", u.code, u.value)),
                "unit {} has no hover text",
                u.code
            );
        }
    }

    #[test]
    fn writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let units = sample_units();
        let paths = render_map(dir.path(), &chart(&units)).unwrap();
        assert_eq!(paths.len(), 2);
        let png = std::fs::read(&paths[0]).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 50_000);
        let svg = std::fs::read_to_string(&paths[1]).unwrap();
        assert!(svg.matches("<polygon").count() > 360);
        for text in [
            "Net migration by prefecture",
            "Net migration 2024–2029",
            "net loss",
        ] {
            assert!(svg.contains(text), "svg lacks {text:?}");
        }
    }

    #[test]
    fn empty_nan_and_unknown_units_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        render_map(dir.path(), &chart(&[])).unwrap();
        let odd = [
            MapUnit {
                code: 110000,
                lon: 116.4,
                lat: 39.9,
                value: f64::NAN,
            },
            // Not in the polygon table: drawn as a dot.
            MapUnit {
                code: 999_999,
                lon: 100.0,
                lat: 30.0,
                value: 5.0,
            },
            // Off the map and absurd.
            MapUnit {
                code: 999_998,
                lon: f64::NAN,
                lat: 1e300,
                value: f64::INFINITY,
            },
            MapUnit {
                code: 310000,
                lon: 121.5,
                lat: 31.2,
                value: -f64::MAX,
            },
        ];
        let mut c = chart(&odd);
        c.stem = "odd";
        c.legend_label = "";
        render_map(dir.path(), &c).unwrap();
    }

    /// Writes samples to `$MIGRASIM_CHART_PREVIEW/map` (if set); see
    /// `charts::tests::preview`.
    #[test]
    fn preview() {
        let Some(dir) = std::env::var_os("MIGRASIM_CHART_PREVIEW") else {
            return;
        };
        let dir = PathBuf::from(dir).join("map");
        let units = sample_units();
        render_map(&dir, &chart(&units)).unwrap();
        let mut c = chart(&units[..200]);
        c.stem = "map-partial";
        render_map(&dir, &c).unwrap();
        let mut c = chart(&[]);
        c.stem = "map-empty";
        render_map(&dir, &c).unwrap();
    }
}
