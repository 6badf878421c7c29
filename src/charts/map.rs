//! Choropleth of the prefecture-level units, drawn as the standard map of China shows the
//! country: the whole national territory (Taiwan as "no data", the model has none) in an
//! Albers equal-area conic projection, the South China Sea Islands and the dashed maritime line
//! in an inset, and zoomed insets of Beijing–Tianjin, the Yangtze and the Pearl River Delta
//! where units are too small to see on the national map.
//!
//! The outlines and borders come from [`crate::boundaries`]; units are filled largest first, so
//! enclaves stay visible on top of the unit around them, then borders are drawn once per edge.

use std::collections::HashMap;

pub use crate::boundaries::Extent;
use crate::boundaries::{Line, borders, context, ring_area, shapes};

use super::*;

/// One prefecture-level unit on the map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapUnit {
    /// 2020 administrative code, as in `data/units.csv`.
    pub code: u32,
    /// Seat of government, used when the unit is too small to see.
    pub lon: f64,
    pub lat: f64,
    /// NaN = no data (drawn grey).
    pub value: f64,
}

/// A choropleth (1200×900): every unit filled on a diverging red–white–blue scale (blue =
/// positive), symmetric around 0, saturating at the 95th percentile of |value| rounded up, colours
/// following the square root of |value| so the many small values stay distinguishable next to a
/// few big cities. Units too small to see also get a dot at their seat; units without a value
/// (Taiwan, Hong Kong, Macau) are grey.
#[derive(Debug, Clone, Copy)]
pub struct MapChart<'a> {
    pub title: &'a str,
    /// Title of the colour bar, e.g. "Net migration 2024–2029 (persons)".
    pub legend_label: &'a str,
    pub units: &'a [MapUnit],
    pub source_note: &'a str,
    /// `None` = the national map with its insets; a zoom (e.g. one province, from
    /// [`Extent::around`]) shows neighbours cut at the frame.
    pub extent: Option<Extent>,
    /// Names printed at units' seats on a zoom, where they do not overlap.
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

/// The same map as an SVG for `report.html`: every unit carries a `<title>` with
/// `tooltip(code, value)` (value NaN without data), the browser's hover text, so units too
/// small to see stay reachable.
pub fn hover_svg(chart: &MapChart, tooltip: &dyn Fn(u32, f64) -> String) -> String {
    let mut c = Canvas::svg(MapChart::SIZE);
    match chart.draw_with(&mut c, Some(tooltip)).and_then(|()| c.finish("class=\"map\" role=\"img\"")) {
        Ok(svg) => svg.unwrap_or_default(),
        Err(e) => format!("<p>map not drawn: {}</p>", super::text::escape(&e)),
    }
}

// --- Projection, views and clipping ---

/// Albers equal-area conic for China (standard parallels 25° N and 47° N, central meridian
/// 105° E), in earth radii with y pointing down.
fn albers((lon, lat): (f64, f64)) -> (f64, f64) {
    let (s1, s2) = (25f64.to_radians(), 47f64.to_radians());
    let n = (s1.sin() + s2.sin()) / 2.0;
    let c = s1.cos().powi(2) + 2.0 * n * s1.sin();
    let rho = |lat: f64| (c - 2.0 * n * lat.to_radians().sin()).max(0.0).sqrt() / n;
    let theta = n * (lon - 105.0).to_radians();
    (rho(lat) * theta.sin(), rho(lat) * theta.cos() - rho(0.0))
}

/// One map panel: a pixel box and the projection that fills it.
#[derive(Debug, Clone, Copy)]
struct View {
    frame: Rect,
    scale: f64,
    offset: P,
}

impl View {
    /// The largest projection of the lon/lat `points` that fits `frame`, centred in it.
    fn fit(points: impl IntoIterator<Item = (f64, f64)>, frame: Rect) -> View {
        let projected: Vec<P> = points.into_iter().map(albers).collect();
        let (x, y) = (min_max(projected.iter().map(|p| p.0)), min_max(projected.iter().map(|p| p.1)));
        let scale = ((frame.x1 - frame.x0) / (x.1 - x.0).max(1e-9)).min((frame.y1 - frame.y0) / (y.1 - y.0).max(1e-9));
        let (cx, cy) = frame.mid();
        View { frame, scale, offset: (cx - scale * (x.0 + x.1) / 2.0, cy - scale * (y.0 + y.1) / 2.0) }
    }

    fn px(&self, p: (f64, f64)) -> P {
        let (x, y) = albers(p);
        (self.offset.0 + self.scale * x, self.offset.1 + self.scale * y)
    }

    fn pxs(&self, line: &[(f64, f64)]) -> Vec<P> {
        line.iter().map(|&p| self.px(p)).collect()
    }
}

/// `ring` clipped to `r` (Sutherland–Hodgman; a ring entirely outside becomes empty).
fn clip_ring(ring: &[P], r: Rect) -> Vec<P> {
    type Edge = (fn(P, Rect) -> bool, fn(P, P, Rect) -> P);
    let edges: [Edge; 4] = [
        (|p, r| p.0 >= r.x0, |a, b, r| (r.x0, a.1 + (b.1 - a.1) * (r.x0 - a.0) / (b.0 - a.0))),
        (|p, r| p.0 <= r.x1, |a, b, r| (r.x1, a.1 + (b.1 - a.1) * (r.x1 - a.0) / (b.0 - a.0))),
        (|p, r| p.1 >= r.y0, |a, b, r| (a.0 + (b.0 - a.0) * (r.y0 - a.1) / (b.1 - a.1), r.y0)),
        (|p, r| p.1 <= r.y1, |a, b, r| (a.0 + (b.0 - a.0) * (r.y1 - a.1) / (b.1 - a.1), r.y1)),
    ];
    let mut out = ring.to_vec();
    for (inside, cross) in edges {
        let input = std::mem::take(&mut out);
        for (i, &b) in input.iter().enumerate() {
            let a = input[(i + input.len() - 1) % input.len()];
            match (inside(a, r), inside(b, r)) {
                (true, true) => out.push(b),
                (true, false) => out.push(cross(a, b, r)),
                (false, true) => out.extend([cross(a, b, r), b]),
                (false, false) => {}
            }
        }
    }
    out
}

/// The pieces of a polyline inside `r` (each segment clipped on its own).
fn clip_line(line: &[P], r: Rect) -> Vec<Vec<P>> {
    let mut pieces: Vec<Vec<P>> = Vec::new();
    for w in line.windows(2) {
        // Liang–Barsky: the part t0..t1 of segment a→b inside r.
        let (a, d) = (w[0], (w[1].0 - w[0].0, w[1].1 - w[0].1));
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (p, q) in [(-d.0, a.0 - r.x0), (d.0, r.x1 - a.0), (-d.1, a.1 - r.y0), (d.1, r.y1 - a.1)] {
            if p == 0.0 && q < 0.0 {
                t0 = 2.0;
            } else if p < 0.0 {
                t0 = t0.max(q / p);
            } else if p > 0.0 {
                t1 = t1.min(q / p);
            }
        }
        if t0 > t1 {
            continue;
        }
        let (s, e) = ((a.0 + t0 * d.0, a.1 + t0 * d.1), (a.0 + t1 * d.0, a.1 + t1 * d.1));
        match pieces.last_mut() {
            Some(last) if last.last() == Some(&s) => last.push(e),
            _ => pieces.push(vec![s, e]),
        }
    }
    pieces
}

// --- Colours ---

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
const BORDER: RGBColor = RGBColor(140, 140, 140);
const UNIT_BORDER: RGBColor = RGBColor(165, 165, 165);
const PROVINCE_BORDER: RGBColor = RGBColor(70, 70, 70);
const SEA_LINE: RGBColor = RGBColor(40, 40, 40);

/// Colour of scale position `t` in −1…1 (−1 strongest loss).
fn ramp(t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(-1.0, 1.0) } else { 0.0 };
    let pos = (t + 1.0) / 2.0 * (RDBU.len() - 1) as f64;
    let i = (pos.floor() as usize).min(RDBU.len() - 2);
    let (a, b, f) = (RDBU[i], RDBU[i + 1], pos - i as f64);
    let mix = |a: u8, b: u8| (f64::from(a) + f * (f64::from(b) - f64::from(a))).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Symmetric square-root scale saturating at ±`clip`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    clip: f64,
}

impl Scale {
    /// `clip` = 95th percentile of |value| (nearest rank) rounded up; 1 without data.
    fn from_values(values: impl IntoIterator<Item = f64>) -> Self {
        let mut abs: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).map(f64::abs).collect();
        abs.sort_by(f64::total_cmp);
        let p95 = abs.get(((0.95 * abs.len() as f64).ceil() as usize).max(1) - 1).copied().unwrap_or(0.0);
        let clip = if p95 > 0.0 { nice_ceil(p95) } else { 1.0 };
        Scale { clip: if clip.is_finite() { clip } else { f64::MAX } }
    }

    /// Position in −1…1.
    fn position(&self, v: f64) -> f64 {
        let t = (v / self.clip).clamp(-1.0, 1.0);
        t.signum() * t.abs().sqrt()
    }

    fn color(&self, v: f64) -> RGBColor {
        if v.is_finite() { ramp(self.position(v)) } else { NO_DATA }
    }

    /// Positive tick values: `clip` and smaller 1-2-5 numbers at least 0.2 of the half-bar
    /// apart, largest first.
    fn ticks(&self) -> Vec<f64> {
        let mut ticks = vec![self.clip];
        let mag = 10f64.powf(self.clip.log10().floor());
        for v in (0..6).flat_map(|k| [5.0, 2.0, 1.0].map(|m| m * mag / 10f64.powi(k))) {
            let (p, last) = (self.position(v), self.position(*ticks.last().unwrap_or(&self.clip)));
            if v < self.clip && p <= last - 0.2 && p >= 0.2 {
                ticks.push(v);
            }
        }
        ticks
    }
}

// --- Drawing ---

/// Units whose outline covers fewer square pixels in a view also get a dot at their seat.
const MIN_VISIBLE_PX2: f64 = 12.0;

impl Drawing for MapChart<'_> {
    /// Taller than the other charts, for the insets.
    const SIZE: (u32, u32) = (1200, 900);

    fn draw(&self, c: &mut Canvas) -> Result<(), String> {
        self.draw_with(c, None)
    }
}

/// What one view draws, and what it found.
struct Panel<'a> {
    values: &'a HashMap<u32, &'a MapUnit>,
    scale: Scale,
    tooltip: Option<&'a dyn Fn(u32, f64) -> String>,
    /// Whether the South China Sea line and islands are drawn (the main national view leaves
    /// them to their inset).
    sea: bool,
    /// Whether units too small to see get a dot (not in the small-scale sea inset).
    dots: bool,
}

impl MapChart<'_> {
    fn draw_with(&self, c: &mut Canvas, tooltip: Option<&dyn Fn(u32, f64) -> String>) -> Result<(), String> {
        c.title(self.title)?;
        // The first row of a code counts.
        let values: HashMap<u32, &MapUnit> = self.units.iter().rev().map(|u| (u.code, u)).collect();
        let scale = Scale::from_values(self.units.iter().map(|u| u.value));
        let bottom = c.size.1 - FOOTER_PX - 150.0;
        let panel = |sea, dots| Panel { values: &values, scale, tooltip, sea, dots };
        let mut dots = false;
        match self.extent {
            Some(extent) => {
                let frame = Rect::new(LEFT_MARGIN_PX + 6.0, TOP_PX, c.size.0 - RIGHT_MARGIN_PX, bottom);
                // Filled to the frame: the neighbours reach its edges.
                let view = View::fit(extent.outline(), frame);
                dots |= panel(true, true).draw(c, &view)?;
                c.rect(frame, None, Some(BORDER))?;
                self.labels(c, &view, extent)?;
            }
            None => {
                let main = Rect::new(LEFT_MARGIN_PX + 6.0, TOP_PX, 830.0, bottom);
                let land = shapes().iter().flat_map(|s| s.parts.iter().flatten());
                let land = land.copied().filter(|&p| Extent::CHINA.contains(p));
                // The land fills the frame but for a strip on the right: there, below the
                // north-east and right of Taiwan, the South China Sea Islands get their inset.
                let view = View { frame: main, ..View::fit(land, Rect { x1: main.x1 - 70.0, ..main }) };
                dots |= panel(false, true).draw(c, &view)?;
                let sea = Rect::new(main.x1 - 122.0, main.y1 - 215.0, main.x1, main.y1);
                c.rect(sea, Some((WHITE, 1.0)), None)?;
                panel(true, false).draw(c, &View::fit(Extent::SOUTH_CHINA_SEA.outline(), sea))?;
                c.rect(sea, None, Some(PROVINCE_BORDER))?;
                c.text("South China Sea Islands", (sea.x1 - 4.0, sea.y1 - 6.0), font(11.0).at(Align::End, Align::End))?;
                // Zoomed insets on the right, their areas outlined on the main map.
                let insets = [
                    ("A", "Beijing–Tianjin", Extent::BEIJING_TIANJIN),
                    ("B", "Yangtze River Delta (core)", Extent::YANGTZE_DELTA),
                    ("C", "Pearl River Delta", Extent::PEARL_DELTA),
                ];
                let h = (c.size.1 - FOOTER_PX - TOP_PX - 10.0) / 3.0;
                for (i, (key, name, extent)) in insets.into_iter().enumerate() {
                    let top = TOP_PX + i as f64 * h;
                    let frame = Rect::new(850.0, top + 24.0, c.size.0 - RIGHT_MARGIN_PX, top + h - 6.0);
                    dots |= panel(true, true).draw(c, &View::fit(extent.outline(), frame))?;
                    c.rect(frame, None, Some(BORDER))?;
                    c.text(&format!("{key}  {name}"), (frame.x0, frame.y0 - 10.0), font(LEGEND_PX).bold())?;
                    let outline = view.pxs(&extent.outline());
                    c.stroke(&outline, BLACK, 1.0, Dash::Solid)?;
                    let (east, north) =
                        (min_max(outline.iter().map(|p| p.0)).1, min_max(outline.iter().map(|p| p.1)).0);
                    c.text(key, (east + 3.0, north), font(NOTE_PX).bold().at(Align::Start, Align::End))?;
                }
            }
        }
        self.colour_bar(c, &scale, bottom + 20.0, dots)?;
        if values.is_empty() {
            let grey = font(AXIS_DESC_PX).in_color(TEXT_GREY).at(Align::Middle, Align::Middle);
            c.text("No data", (420.0, c.size.1 / 2.0), grey)?;
        }
        c.footer(self.source_note, "")
    }

    /// Names at units' seats inside the zoom, where they fit without overlapping.
    fn labels(&self, c: &mut Canvas, view: &View, extent: Extent) -> Result<(), String> {
        let f = font(NOTE_PX).in_color(RGBColor(30, 30, 30)).at(Align::Middle, Align::Middle);
        for label in self.labels.iter().filter(|l| extent.contains((l.lon, l.lat))) {
            let at = view.px((label.lon, label.lat));
            let w = f.width(&label.text) / 2.0 + 3.0;
            let plate = Rect::new(at.0 - w, at.1 - 9.0, at.0 + w, at.1 + 9.0);
            let inside = view.frame.contains((plate.x0, plate.y0)) && view.frame.contains((plate.x1, plate.y1));
            if inside && c.hits(&plate) == 0 {
                // A light plate keeps the name legible on dark fills.
                c.block(plate, (WHITE, 0.65), None)?;
                c.text(&label.text, at, f)?;
            }
        }
        Ok(())
    }

    /// The colour bar (horizontal, loss left) with its title above and the keys right of it.
    fn colour_bar(&self, c: &mut Canvas, scale: &Scale, top: f64, dots: bool) -> Result<(), String> {
        let (x0, x1, y) = (LEFT_MARGIN_PX + 40.0, 560.0, top + 34.0);
        c.text(self.legend_label, (x0, top + 6.0), font(LEGEND_PX).bold())?;
        let steps = 120;
        for i in 0..steps {
            let (a, b) = (f64::from(i) / f64::from(steps), f64::from(i + 1) / f64::from(steps));
            let r = Rect::new(x0 + a * (x1 - x0), y, x0 + b * (x1 - x0) + 0.5, y + 18.0);
            c.rect(r, Some((ramp(2.0 * (a + b) / 2.0 - 1.0), 1.0)), None)?;
        }
        c.rect(Rect::new(x0, y, x1, y + 18.0), None, Some(BORDER))?;
        let ticks: Vec<f64> = scale.ticks().iter().flat_map(|&v| [-v, v]).chain([0.0]).collect();
        for v in ticks {
            let x = x0 + (scale.position(v) + 1.0) / 2.0 * (x1 - x0);
            c.stroke(&[(x, y + 18.0), (x, y + 24.0)], AXIS_GREY, 1.0, Dash::Solid)?;
            // The ends stand for everything beyond them.
            let beyond = if v.abs() < scale.clip { "" } else { ["≤", "≥"][usize::from(v > 0.0)] };
            let label = format!("{beyond}{}", compact_number(v, v.abs(), scale.clip, true));
            c.text(&label, (x, y + 30.0), font(TICK_PX).at(Align::Middle, Align::Start))?;
        }
        let grey = font(NOTE_PX).in_color(TEXT_GREY);
        c.text("net loss", (x0, y - 8.0), grey.at(Align::Start, Align::End))?;
        c.text("net gain", (x1, y - 8.0), grey.at(Align::End, Align::End))?;
        let (kx, f) = (600.0, font(LEGEND_PX));
        c.rect(Rect::new(kx, y - 2.0, kx + 28.0, y + 16.0), Some((NO_DATA, 1.0)), Some(BORDER))?;
        c.text(self.no_data_label, (kx + 38.0, y + 7.0), f)?;
        if dots {
            c.swatch(Swatch::Dot(WHITE), (kx - 4.0, y + 37.0))?;
            c.text("Unit too small to show", (kx + 38.0, y + 37.0), f)?;
        }
        Ok(())
    }
}

impl Panel<'_> {
    /// Fills, borders, context and dots of one view, clipped to its frame; whether any unit
    /// needed a dot.
    fn draw(&self, c: &mut Canvas, view: &View) -> Result<bool, String> {
        let visible = |pts: &[P]| pts.iter().any(|p| view.frame.contains(*p)) || clip_ring(pts, view.frame).len() >= 3;
        let mut dots = Vec::new();
        for shape in shapes() {
            let unit = self.values.get(&shape.code);
            let value = unit.map_or(f64::NAN, |u| u.value);
            let color = self.scale.color(value);
            let mut area = 0.0;
            let hover = self.tooltip.map(|t| t(shape.code, value));
            for part in shape.parts.iter().filter(|p| self.sea || p.iter().any(|q| q.1 >= Extent::CHINA.lat.0)) {
                let ring = view.pxs(part);
                if !visible(&ring) {
                    continue;
                }
                let ring = clip_ring(&ring, view.frame);
                area += ring_area(&ring).abs();
                c.hover(hover.as_deref(), |c| c.fill(&ring, color, 1.0))?;
            }
            dots.extend(unit.copied().filter(|_| area < MIN_VISIBLE_PX2));
        }
        // Units without any outline also get their dot.
        let mut missing: Vec<&MapUnit> =
            self.values.values().copied().filter(|u| !shapes().iter().any(|s| s.code == u.code)).collect();
        missing.sort_by_key(|u| u.code);
        dots.extend(missing);
        let seat = |u: &MapUnit| view.px((u.lon, u.lat));
        dots.retain(|u| self.dots && view.frame.contains(seat(u)));
        let strokes = |c: &mut Canvas, lines: &[Line], color, width| {
            let mut pieces = lines.iter().flat_map(|line| clip_line(&view.pxs(line), view.frame));
            pieces.try_for_each(|piece| c.stroke(&piece, color, width, Dash::Solid))
        };
        // Borders once per edge, over all fills (which also hides seams between fills).
        strokes(c, &borders().inner, UNIT_BORDER, 1.0)?;
        strokes(c, &borders().outer, PROVINCE_BORDER, 1.0)?;
        if self.sea {
            for island in context("south_china_sea_islands") {
                let ring = clip_ring(&view.pxs(island), view.frame);
                c.fill(&ring, NO_DATA, 1.0)?;
                let closed: Vec<P> = ring.iter().chain(ring.first()).copied().collect();
                c.stroke(&closed, PROVINCE_BORDER, 1.0, Dash::Solid)?;
            }
            strokes(c, context("south_china_sea_line"), SEA_LINE, 1.5)?;
        }
        for u in &dots {
            let (hover, color) = (self.tooltip.map(|t| t(u.code, u.value)), self.scale.color(u.value));
            c.hover(hover.as_deref(), |c| c.circle(seat(u), 4.0, color, Some((INK, 1.0))))?;
        }
        Ok(!dots.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_what_is_inside() {
        let r = Rect::new(0.0, 0.0, 10.0, 10.0);
        let clipped = clip_ring(&[(-5.0, -5.0), (5.0, -5.0), (5.0, 5.0), (-5.0, 5.0)], r);
        assert!((ring_area(&clipped).abs() - 25.0).abs() < 1e-9);
        assert!(clip_ring(&[(20.0, 20.0), (30.0, 20.0), (30.0, 30.0)], r).is_empty());
        assert_eq!(clip_line(&[(-5.0, 5.0), (15.0, 5.0)], r), vec![vec![(0.0, 5.0), (10.0, 5.0)]]);
        assert!(clip_line(&[(-5.0, -5.0), (-1.0, 20.0)], r).is_empty());
    }

    #[test]
    fn the_projection_keeps_east_right_and_north_up_and_areas_equal() {
        let (beijing, shanghai, kashgar) = (albers((116.4, 39.9)), albers((121.5, 31.2)), albers((76.0, 39.5)));
        assert!(kashgar.0 < beijing.0 && beijing.0 < shanghai.0 && beijing.1 < shanghai.1);
        // Equal area: a 1°×1° cell has the same projected area at any longitude.
        let cell = |lon: f64| ring_area(&[(lon, 30.0), (lon + 1.0, 30.0), (lon + 1.0, 31.0), (lon, 31.0)].map(albers));
        assert!((cell(80.0) / cell(120.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_colour_scale_saturates_at_a_round_95th_percentile() {
        assert_eq!(Scale::from_values([f64::NAN]).clip, 1.0);
        let scale = Scale::from_values((0..100).map(f64::from));
        assert_eq!(scale.clip, 100.0);
        assert!(scale.ticks().windows(2).all(|w| w[0] > w[1]));
        assert_eq!((scale.color(1e9), scale.color(-1e9), scale.color(f64::NAN)), (RDBU[10], RDBU[0], NO_DATA));
    }
}
