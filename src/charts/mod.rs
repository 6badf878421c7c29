//! Draws the run's charts from aggregate tables; never sees households.
//!
//! The simulation writes yearly national aggregates (`national.csv`); this
//! module turns those rows, plus the official NBS history, into three
//! charts, each as a 1200×750 PNG and an SVG of the same size:
//!
//! * `urbanization` – resident and hukou urbanization rates, history vs.
//!   projection, with the plan goal and the plan period marked;
//! * `gap` – the gap between the two rates in percentage points;
//! * `settlements` – simulated hukou settlements and movers per year.
//!
//! It also draws stand-alone charts from tables the caller prepares, each
//! written as `<stem>.png` and `<stem>.svg` in the same size and style:
//!
//! * [`render_band_chart`] – replicate means with 5–95 % bands for several
//!   scenarios, official history and a goal line (`band.rs`);
//! * [`render_stacked_chart`] – stacked areas of layers over years
//!   (`stacked.rs`);
//! * [`render_lines_chart`] – up to ~20 labelled lines over years
//!   (`lines.rs`);
//! * [`render_map`] – a choropleth of the prefecture-level units from the
//!   embedded `data/unit_polygons.csv` (`map.rs`).
//!
//! Text is rasterised with the embedded DejaVu Sans font through plotters'
//! `ab_glyph` backend, so rendering never depends on system fonts. All text
//! (titles, ticks, legends) is placed by this module rather than by plotters'
//! mesh/legend helpers; see `Canvas::text` for why. Bad data (NaN/inf
//! values, empty or single-year inputs) is skipped or given a sensible
//! default range rather than causing a panic.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform, register_font};

/// One simulated year of national aggregates (from national.csv).
#[derive(Debug, Clone, PartialEq)]
pub struct NationalPoint {
    pub year: i32,
    pub urbanization_rate_pct: f64,
    pub hukou_urbanization_rate_pct: f64,
    pub gap_pp: f64,
    /// Persons granted local urban hukou that year.
    pub settlements: f64,
    /// Persons who changed residence unit that year.
    pub movers: f64,
}

/// Official NBS history (hukou rate missing for some years).
#[derive(Debug, Clone, PartialEq)]
pub struct OfficialPoint {
    pub year: i32,
    pub urbanization_rate_pct: f64,
    pub hukou_urbanization_rate_pct: Option<f64>,
}

/// Everything the charts need; borrowed so callers keep ownership of their tables.
#[derive(Debug, Clone, Copy)]
pub struct ChartInput<'a> {
    pub scenario_name: &'a str,
    pub simulated: &'a [NationalPoint],
    pub official: &'a [OfficialPoint],
    /// Plan goal for the resident urbanization rate (70.0 in the 2024–2029 plan).
    pub goal_pct: f64,
    /// Year by which the goal should be reached (2029).
    pub goal_year: i32,
    /// Printed small at the bottom of every chart, e.g.
    /// "Source: NBS 2010–2023 (census-revised); migrasim simulation 2023–2029".
    pub source_note: &'a str,
}

/// Why a chart could not be written. Plotters' errors are generic over the
/// backend, so they are flattened to strings; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("cannot create chart directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot register embedded chart font: {0}")]
    Font(String),
    #[error("cannot draw chart {}: {message}", path.display())]
    Draw { path: PathBuf, message: String },
}

/// The charts this module draws; the file stem is the name without extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    Urbanization,
    Gap,
    Settlements,
}

impl ChartKind {
    /// All charts, in the order [`render_run_charts`] writes them.
    pub const ALL: [ChartKind; 3] = [
        ChartKind::Urbanization,
        ChartKind::Gap,
        ChartKind::Settlements,
    ];

    /// File name without extension (`urbanization`, `gap`, `settlements`).
    pub fn file_stem(self) -> &'static str {
        match self {
            ChartKind::Urbanization => "urbanization",
            ChartKind::Gap => "gap",
            ChartKind::Settlements => "settlements",
        }
    }
}

/// Pixel size of every chart (PNG and SVG alike).
pub const CHART_SIZE: (u32, u32) = (1200, 750);

/// Writes urbanization.{png,svg}, gap.{png,svg}, settlements.{png,svg} into
/// `dir` (created if missing). Returns the paths written.
pub fn render_run_charts(dir: &Path, input: &ChartInput) -> Result<Vec<PathBuf>, ChartError> {
    std::fs::create_dir_all(dir).map_err(|source| ChartError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::with_capacity(ChartKind::ALL.len() * 2);
    for kind in ChartKind::ALL {
        written.extend(render_chart(dir, kind, input)?);
    }
    Ok(written)
}

/// Writes one chart as `<dir>/<stem>.png` and `<dir>/<stem>.svg` (the
/// directory must exist). Returns the two paths, PNG first.
pub fn render_chart(
    dir: &Path,
    kind: ChartKind,
    input: &ChartInput,
) -> Result<[PathBuf; 2], ChartError> {
    write_chart(dir, kind.file_stem(), &RunChart { kind, input })
}

/// A chart that can draw itself onto either backend (the whole image,
/// background included).
trait Drawing {
    fn draw_on<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        ink: Ink,
    ) -> Result<(), String>;
}

struct RunChart<'a, 'b> {
    kind: ChartKind,
    input: &'a ChartInput<'b>,
}

impl Drawing for RunChart<'_, '_> {
    fn draw_on<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        ink: Ink,
    ) -> Result<(), String> {
        draw_chart(root, ink, self.kind, self.input)
    }
}

/// Writes `chart` as `<dir>/<stem>.png` and `<dir>/<stem>.svg` (the
/// directory must exist). Returns the two paths, PNG first.
fn write_chart(dir: &Path, stem: &str, chart: &impl Drawing) -> Result<[PathBuf; 2], ChartError> {
    ensure_fonts()?;
    if stem.is_empty() || stem.contains(['/', '\\']) || stem == "." || stem == ".." {
        return Err(ChartError::Draw {
            path: dir.join(stem),
            message: format!("invalid chart file stem {stem:?}"),
        });
    }
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));

    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |message: String| ChartError::Draw { path, message }
    };

    {
        let root = BitMapBackend::new(&png, CHART_SIZE).into_drawing_area();
        chart.draw_on(&root, Ink::Glyphs).map_err(fail(&png))?;
        // `present` is where the PNG is encoded and written; dropping the
        // backend would also write it but would swallow any I/O error.
        root.present().map_err(|e| fail(&png)(e.to_string()))?;
    }
    {
        let root = SVGBackend::new(&svg, CHART_SIZE).into_drawing_area();
        chart.draw_on(&root, Ink::SvgText).map_err(fail(&svg))?;
        root.present().map_err(|e| fail(&svg)(e.to_string()))?;
    }
    Ok([png, svg])
}

/// [`write_chart`] into `dir`, creating it first; the public entry point of
/// every stand-alone chart.
fn write_chart_in(
    dir: &Path,
    stem: &str,
    chart: &impl Drawing,
) -> Result<Vec<PathBuf>, ChartError> {
    std::fs::create_dir_all(dir).map_err(|source| ChartError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(write_chart(dir, stem, chart)?.to_vec())
}

mod band;
mod curve;
mod lines;
mod map;
mod scatter;
mod stacked;
mod tornado;

pub use band::{BandChart, BandPoint, BandSeries, render_band_chart};
pub use curve::{CurveChart, render_curve};
pub use lines::{LinesChart, render_lines_chart};
pub use map::{Extent, MapChart, MapLabel, MapUnit, hover_svg, render_map};
pub use scatter::{ScatterChart, ScatterPoint, render_scatter};
pub use stacked::{DivergingChart, StackedChart, render_diverging_chart, render_stacked_chart};
pub use tornado::{TornadoBar, TornadoChart, render_tornado};

// ---------------------------------------------------------------------------
// Fonts
// ---------------------------------------------------------------------------

/// Family name all text styles use. Registering the embedded font under the
/// generic name also makes the SVGs fall back to the viewer's sans-serif.
const FONT: &str = "sans-serif";

/// With the `ab_glyph` feature plotters has no font until one is registered,
/// and registration is process-global, so do it exactly once. The outcome is
/// cached so a (theoretical) failure is reported by every render call.
fn ensure_fonts() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // `InvalidFont` implements neither Debug nor Display, hence the
            // hand-written messages.
            register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "DejaVu Sans regular is not a valid font".to_string())?;
            register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
                .map_err(|_| "DejaVu Sans bold is not a valid font".to_string())?;
            Ok(())
        })
        .clone()
        .map_err(ChartError::Font)
}

// ---------------------------------------------------------------------------
// Look
// ---------------------------------------------------------------------------

// Font sizes are plotters sizes (line height in px); DejaVu's em is ~0.86 of it.
const TITLE_PX: u32 = 28;
const AXIS_DESC_PX: u32 = 20;
const TICK_PX: u32 = 16;
const LEGEND_PX: u32 = 16;
const NOTE_PX: u32 = 14;

// Frame geometry in pixels. The plot rectangle is whatever is left.
/// Space above the plot for the title.
const TOP_PX: u32 = 62;
/// Strip below the x-axis description for the source note.
const FOOTER_PX: u32 = 34;
const LEFT_MARGIN_PX: u32 = 14;
/// Right margin without / with a secondary axis.
const RIGHT_MARGIN_PX: u32 = 34;
const RIGHT_AXIS_PX: u32 = 100;
/// Below the plot: tick labels, then the axis description.
const X_LABEL_AREA_PX: u32 = 60;
/// Left of the plot: axis description, then tick labels.
const Y_LABEL_AREA_PX: u32 = 86;

const BLUE: RGBColor = RGBColor(22, 64, 128);
const BLUE_LIGHT: RGBColor = RGBColor(74, 134, 214);
const RED: RGBColor = RGBColor(150, 24, 32);
const RED_LIGHT: RGBColor = RGBColor(222, 86, 86);
const GOAL_GREY: RGBColor = RGBColor(105, 105, 105);
const TEXT_GREY: RGBColor = RGBColor(80, 80, 80);
const AXIS_GREY: RGBColor = RGBColor(120, 120, 120);
const GRID: RGBColor = RGBColor(228, 228, 228);
const PLAN_SHADE: RGBColor = RGBColor(253, 246, 222);
const PLAN_TEXT: RGBColor = RGBColor(150, 120, 40);
const BAR_TEAL: RGBColor = RGBColor(42, 140, 128);
const MOVERS_ORANGE: RGBColor = RGBColor(214, 110, 20);

const MARKER_R: i32 = 4;
const LINE_W: u32 = 3;

/// First year of the 2024–2029 new-urbanization action plan.
const PLAN_START_YEAR: i32 = 2024;
/// Average annual hukou transfers 2014–2023 reported by the MPS, millions.
const MPS_TRANSFERS_M: f64 = 15.0;
/// Last year of the plan period, shaded on the stand-alone year charts.
const PLAN_END_YEAR: i32 = 2029;

/// Okabe–Ito colour-blind-safe palette in line-chart order. Black is kept
/// for official history, and Okabe–Ito yellow (240, 228, 66) is darkened
/// to a mustard that still reads on white.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(181, 160, 20),  // yellow, darkened
    RGBColor(110, 110, 110), // grey
];
/// Official history on the stand-alone charts.
const OFFICIAL_INK: RGBColor = RGBColor(30, 30, 30);

fn font(px: u32) -> TextStyle<'static> {
    (FONT, px).into_font().color(&BLACK)
}

fn font_in(px: u32, color: RGBColor) -> TextStyle<'static> {
    (FONT, px).into_font().color(&color)
}

fn title_font() -> TextStyle<'static> {
    (FONT, TITLE_PX, FontStyle::Bold).into_font().color(&BLACK)
}

fn anchored(style: TextStyle<'static>, h: HPos, v: VPos) -> TextStyle<'static> {
    style.pos(Pos::new(h, v))
}

// ---------------------------------------------------------------------------
// Data preparation (pure, unit-tested)
// ---------------------------------------------------------------------------

/// `Some(v)` if `v` can be plotted.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Sorts by year and splits into runs of present values, so a missing year
/// breaks the line instead of being silently bridged.
fn runs(mut points: Vec<(i32, Option<f64>)>) -> Vec<Vec<(f64, f64)>> {
    points.sort_by_key(|&(year, _)| year);
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (year, value) in points {
        match value.and_then(finite) {
            Some(v) => current.push((f64::from(year), v)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Smallest and largest year, or `None` for no years.
fn year_span(years: impl IntoIterator<Item = i32>) -> Option<(i32, i32)> {
    years.into_iter().fold(None, |acc, y| match acc {
        None => Some((y, y)),
        Some((lo, hi)) => Some((lo.min(y), hi.max(y))),
    })
}

/// Year tick positions: every year when labels fit, otherwise every 2nd,
/// 5th, 10th… year counted back from the last one, so the goal year is
/// always labelled.
fn year_ticks(first: i32, last: i32, px_per_year: f64) -> Vec<f64> {
    // "2029" at 16 px is about 40 px wide; keep ~10 px between labels.
    let step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
        .into_iter()
        .find(|&s| px_per_year * f64::from(s) >= 50.0)
        .unwrap_or(i32::MAX);
    let mut ticks = Vec::new();
    let mut year = i64::from(last);
    while year >= i64::from(first) {
        ticks.push(year as f64);
        year -= i64::from(step);
    }
    ticks.reverse();
    ticks
}

/// Value-axis range covering `values` with a little headroom, snapped
/// outward to multiples of `snap`. Falls back to `default` when nothing is
/// finite (or the data is too extreme to pad), and never returns an empty
/// range.
fn value_range(
    values: impl IntoIterator<Item = f64>,
    snap: f64,
    floor_at_zero: bool,
    default: (f64, f64),
) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return default;
    }
    let pad = ((hi - lo) * 0.05).max(snap * 0.2);
    let mut lo = ((lo - pad) / snap).floor() * snap;
    let hi = ((hi + pad) / snap).ceil() * snap;
    if !(hi - lo).is_finite() {
        return default;
    }
    if floor_at_zero {
        lo = 0.0_f64.min(lo);
    }
    if hi - lo < snap {
        (lo, lo + snap)
    } else {
        (lo, hi)
    }
}

/// Years shown on the urbanization and gap charts: all data plus the goal
/// year, so the plan horizon is always visible.
fn history_span(input: &ChartInput) -> (i32, i32) {
    let years = input
        .official
        .iter()
        .map(|p| p.year)
        .chain(input.simulated.iter().map(|p| p.year))
        .chain(std::iter::once(input.goal_year));
    // `goal_year` is always present, so the span always exists.
    year_span(years).unwrap_or((input.goal_year, input.goal_year))
}

/// A plottable share in percent. Values no share can take (NaN, below 0,
/// above 100) are skipped like missing ones rather than stretching the axis
/// until the real data is a flat line; a small tolerance keeps rounding
/// noise.
fn rate(v: f64) -> Option<f64> {
    (-0.5..=100.5).contains(&v).then_some(v)
}

/// A plottable gap between two shares, in percentage points.
fn gap(v: f64) -> Option<f64> {
    (-100.5..=100.5).contains(&v).then_some(v)
}

/// Simulated gap: the reported `gap_pp`, or the difference of the two rates
/// if the column is missing/NaN.
fn simulated_gap(p: &NationalPoint) -> Option<f64> {
    gap(p.gap_pp)
        .or_else(|| gap(rate(p.urbanization_rate_pct)? - rate(p.hukou_urbanization_rate_pct)?))
}

/// Official gap, only where both rates are published.
fn official_gap(p: &OfficialPoint) -> Option<f64> {
    let hukou = p.hukou_urbanization_rate_pct.and_then(rate)?;
    gap(rate(p.urbanization_rate_pct)? - hukou)
}

/// Persons → millions, skipping NaN/inf and (impossible) negative counts.
fn millions(v: f64) -> Option<f64> {
    finite(v / 1e6).filter(|m| *m >= 0.0)
}

/// Tick label with the axis' decimals; exponent form for absurd magnitudes
/// so a bad input cannot produce a 300-digit label.
fn tick_label(v: f64, decimals: usize) -> String {
    if v.abs() >= 1e9 {
        format!("{v:.2e}")
    } else {
        format!("{v:.decimals$}")
    }
}

/// Tick step giving roughly 5–10 ticks over `span`: 1, 2 or 5 × 10^k.
fn tick_step(span: f64) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(span.log10().floor());
    let r = span / mag;
    if r < 2.0 {
        mag / 5.0
    } else if r < 5.0 {
        mag / 2.0
    } else {
        mag
    }
}

/// Multiples of `step` within `[lo, hi]` (inclusive, float-tolerant).
fn value_ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    if !(step > 0.0 && lo.is_finite() && hi.is_finite()) || hi < lo {
        return Vec::new();
    }
    let eps = step * 1e-6;
    let first = (lo / step - 1e-6).ceil() as i64;
    let last = (hi / step + 1e-6).floor() as i64;
    (first..=last)
        .map(|k| k as f64 * step)
        .filter(|v| *v >= lo - eps && *v <= hi + eps)
        .collect()
}

/// Decimals needed to print multiples of `step` exactly (5 → 0, 2.5 → 1,
/// 0.05 → 2), at most 4.
fn decimals_for(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 0;
    }
    (0..4)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(4)
}

/// Smallest "round" number ≥ `v` from a finer set than [`tick_step`]'s, so
/// a secondary axis can share the primary grid without wasting range.
fn nice_ceil(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&c| c >= v * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag)
}

/// Axis top for the settlements chart: ~35 % headroom above the data so the
/// legend fits above the bars and the movers line.
fn top_with_headroom(max: f64) -> f64 {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let top = max * 1.35;
    let step = tick_step(top);
    let top = (top / step).ceil() * step;
    // Only absurd inputs (near f64::MAX) overflow; they get clamped anyway.
    if top.is_finite() { top } else { max }
}

fn flat(runs: &[Vec<(f64, f64)>]) -> impl Iterator<Item = f64> + '_ {
    runs.iter().flatten().map(|&(_, v)| v)
}

// ---------------------------------------------------------------------------
// Glyph metrics (work-around for plotters 0.3.7 + ab_glyph)
// ---------------------------------------------------------------------------

/// The few TrueType tables needed to know where a glyph's ink starts.
///
/// Plotters 0.3.7's `ab_glyph` text renderer draws every glyph's bitmap at
/// the pen position and drops the glyph's left side bearing, so narrow
/// letters shift left and words look like "mi grasim". [`Canvas::text`]
/// therefore draws PNG text one glyph at a time and adds the bearing back;
/// this struct supplies it from the embedded DejaVu bytes (no extra crate).
struct GlyphMetrics {
    data: &'static [u8],
    /// Offset of the format-4 (Unicode BMP) `cmap` subtable.
    cmap4: usize,
    /// Offset of `hmtx`.
    hmtx: usize,
    num_h_metrics: usize,
    /// Ascender − descender in font units: ab_glyph scales so that this
    /// spans the requested pixel size.
    height_units: f64,
}

fn be_u16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn be_i16(data: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

impl GlyphMetrics {
    fn parse(data: &'static [u8]) -> Option<Self> {
        let num_tables = usize::from(be_u16(data, 4)?);
        let table = |tag: &[u8; 4]| {
            (0..num_tables).find_map(|i| {
                let record = 12 + 16 * i;
                if data.get(record..record + 4)? == tag {
                    Some(be_u32(data, record + 8)? as usize)
                } else {
                    None
                }
            })
        };
        let hhea = table(b"hhea")?;
        let hmtx = table(b"hmtx")?;
        let cmap = table(b"cmap")?;

        // Same choice as ttf-parser (which ab_glyph uses): OS/2 typographic
        // metrics if the font sets USE_TYPO_METRICS, else hhea.
        let mut ascender = be_i16(data, hhea + 4)?;
        let mut descender = be_i16(data, hhea + 6)?;
        if let Some(os2) = table(b"OS/2") {
            let version = be_u16(data, os2)?;
            let fs_selection = be_u16(data, os2 + 62)?;
            if version >= 4 && fs_selection & (1 << 7) != 0 {
                ascender = be_i16(data, os2 + 68)?;
                descender = be_i16(data, os2 + 70)?;
            }
        }
        let height_units = f64::from(ascender) - f64::from(descender);

        let num_subtables = usize::from(be_u16(data, cmap + 2)?);
        let cmap4 = (0..num_subtables).find_map(|i| {
            let record = cmap + 4 + 8 * i;
            let platform = be_u16(data, record)?;
            let encoding = be_u16(data, record + 2)?;
            let offset = cmap + be_u32(data, record + 4)? as usize;
            let unicode = platform == 0 || (platform == 3 && encoding == 1);
            (unicode && be_u16(data, offset)? == 4).then_some(offset)
        })?;

        (height_units > 0.0).then_some(Self {
            data,
            cmap4,
            hmtx,
            num_h_metrics: usize::from(be_u16(data, hhea + 34)?),
            height_units,
        })
    }

    /// Glyph id via the format-4 segment map; 0 (`.notdef`) if unmapped.
    fn glyph_id(&self, c: char) -> u16 {
        let Ok(code) = u16::try_from(u32::from(c)) else {
            return 0;
        };
        self.lookup(code).unwrap_or(0)
    }

    fn lookup(&self, code: u16) -> Option<u16> {
        let (d, t) = (self.data, self.cmap4);
        let segments = usize::from(be_u16(d, t + 6)?) / 2;
        let ends = t + 14;
        let starts = ends + 2 * segments + 2;
        let deltas = starts + 2 * segments;
        let range_offsets = deltas + 2 * segments;
        for i in 0..segments {
            if be_u16(d, ends + 2 * i)? < code {
                continue;
            }
            let start = be_u16(d, starts + 2 * i)?;
            if start > code {
                return None;
            }
            let delta = be_u16(d, deltas + 2 * i)?;
            let at = range_offsets + 2 * i;
            let range_offset = usize::from(be_u16(d, at)?);
            if range_offset == 0 {
                return Some(code.wrapping_add(delta));
            }
            let gid = be_u16(d, at + range_offset + 2 * usize::from(code - start))?;
            return (gid != 0).then(|| gid.wrapping_add(delta));
        }
        None
    }

    fn left_side_bearing(&self, gid: u16) -> i16 {
        let gid = usize::from(gid);
        let at = if gid < self.num_h_metrics {
            self.hmtx + 4 * gid + 2
        } else {
            self.hmtx + 4 * self.num_h_metrics + 2 * (gid - self.num_h_metrics)
        };
        be_i16(self.data, at).unwrap_or(0)
    }

    /// Pixels between the pen position and the glyph's ink at plotters font
    /// `size`, floored like ab_glyph's `px_bounds`.
    fn ink_offset_px(&self, c: char, size: f64) -> i32 {
        let lsb = f64::from(self.left_side_bearing(self.glyph_id(c)));
        (lsb * size / self.height_units).floor() as i32
    }
}

/// Metrics of the registered font for `style` (regular or bold), parsed once.
fn glyph_metrics(style: FontStyle) -> Option<&'static GlyphMetrics> {
    static REGULAR: OnceLock<Option<GlyphMetrics>> = OnceLock::new();
    static BOLD: OnceLock<Option<GlyphMetrics>> = OnceLock::new();
    match style {
        FontStyle::Bold => BOLD
            .get_or_init(|| GlyphMetrics::parse(dejavu::sans::bold()))
            .as_ref(),
        _ => REGULAR
            .get_or_init(|| GlyphMetrics::parse(dejavu::sans::regular()))
            .as_ref(),
    }
}

// ---------------------------------------------------------------------------
// Canvas: text, shapes and free-space bookkeeping in absolute pixels
// ---------------------------------------------------------------------------

/// Plotters' errors carry the backend type; flatten them for `ChartError`.
fn msg<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

type Px = (i32, i32);
/// A polyline or ring in data (or lon/lat) coordinates.
type Line = Vec<(f64, f64)>;

/// Axis-aligned pixel rectangle, `x0 <= x1`, `y0 <= y1`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PxRect {
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
}

impl PxRect {
    fn spanning(a: Px, b: Px) -> Self {
        Self {
            x0: a.0.min(b.0),
            y0: a.1.min(b.1),
            x1: a.0.max(b.0),
            y1: a.1.max(b.1),
        }
    }

    fn around(p: Px, r: i32) -> Self {
        Self::spanning((p.0 - r, p.1 - r), (p.0 + r, p.1 + r))
    }

    fn contains(&self, (x, y): Px) -> bool {
        (self.x0..=self.x1).contains(&x) && (self.y0..=self.y1).contains(&y)
    }

    fn intersects(&self, other: &PxRect) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }
}

/// How text reaches the file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ink {
    /// Rasterise glyph by glyph with corrected bearings (PNG).
    Glyphs,
    /// One `<text>` element per string; the viewer lays it out (SVG).
    SvgText,
}

/// The whole image in pixel coordinates, plus everything drawn so far that a
/// legend must not cover.
struct Canvas<'r, DB: DrawingBackend> {
    root: &'r DrawingArea<DB, Shift>,
    ink: Ink,
    occupied: Vec<PxRect>,
}

impl<DB: DrawingBackend> Canvas<'_, DB> {
    /// Draws `text` anchored at `pos` per `style.pos`; returns its box.
    ///
    /// For PNGs each glyph is drawn separately at pen position + side
    /// bearing (see [`GlyphMetrics`]), and the vertical anchor is corrected
    /// so that `Top`/`Center`/`Bottom` mean cap top / cap middle / baseline
    /// (plotters puts ab_glyph text several pixels too high).
    fn text(&mut self, text: &str, pos: Px, style: &TextStyle<'static>) -> Result<PxRect, String> {
        let font = &style.font;
        let size = font.get_size();
        let ((x0, _), (x1, _)) = font.layout_box(text).map_err(msg)?;
        let width = x1 - x0;
        let trans = font.get_transform();
        let dx = match style.pos.h_pos {
            HPos::Left => 0,
            HPos::Center => -width / 2,
            HPos::Right => -width,
        };
        // DejaVu: cap height 0.73 em, em = 0.86 × plotters size.
        let cap = (0.63 * size).round() as i32;
        let baseline = match style.pos.v_pos {
            VPos::Top => cap,
            VPos::Center => cap / 2,
            VPos::Bottom => 0,
        };
        // Text-space box: cap top to a little below the baseline (descenders).
        let descent = (0.2 * size).round() as i32;
        let corners = [
            trans.transform(dx, baseline - cap - 2),
            trans.transform(dx + width, baseline + descent),
        ];
        let rect = PxRect::spanning(
            (pos.0 + corners[0].0, pos.1 + corners[0].1),
            (pos.0 + corners[1].0, pos.1 + corners[1].1),
        );

        match self.ink {
            Ink::SvgText => {
                self.root
                    .draw(&Text::new(text.to_string(), pos, style.clone()))
                    .map_err(msg)?;
            }
            Ink::Glyphs => {
                // plotters draws a glyph anchored Left/Top with its baseline
                // size/2 below the anchor.
                let top = baseline - (size / 2.0).round() as i32;
                let metrics = glyph_metrics(font.get_style());
                let glyph_style = style.pos(Pos::new(HPos::Left, VPos::Top));
                const FINE: f64 = 64.0;
                let fine_font = font.resize(size * FINE);
                // Pen positions are measured from the start of a chunk of
                // at most CHUNK characters, whose own offset accumulates
                // chunk by chunk: linear time in the text's length (the
                // kerning pair across a chunk boundary is dropped, < 1/2 px;
                // labels shorter than a chunk are measured exactly).
                const CHUNK: usize = 32;
                let (mut chunk_start, mut chunk_offset, mut in_chunk) = (0usize, 0i32, 0usize);
                for (i, c) in text.char_indices() {
                    if in_chunk == CHUNK {
                        chunk_offset += text_width(&fine_font, &text[chunk_start..i])?;
                        chunk_start = i;
                        in_chunk = 0;
                    }
                    in_chunk += 1;
                    if c.is_whitespace() {
                        continue;
                    }
                    let end = i + c.len_utf8();
                    // Pen position: advances plus kerning up to and
                    // including the pair before `c`. plotters only reports
                    // truncated widths, so measure at 64× size (layout is
                    // linear in size) and round, keeping the error < 1/2 px.
                    let fine = chunk_offset + text_width(&fine_font, &text[chunk_start..end])?
                        - text_width(&fine_font, &text[i..end])?;
                    let pen = (f64::from(fine) / FINE).round() as i32;
                    let bearing = metrics.map_or(0, |m| m.ink_offset_px(c, size));
                    let (ox, oy) = trans.transform(dx + pen + bearing, top);
                    self.root
                        .draw(&Text::new(
                            c.to_string(),
                            (pos.0 + ox, pos.1 + oy),
                            glyph_style.clone(),
                        ))
                        .map_err(msg)?;
                }
            }
        }
        Ok(rect)
    }

    /// Draws text and reserves its box against the legend.
    fn label(&mut self, text: &str, pos: Px, style: &TextStyle<'static>) -> Result<(), String> {
        let rect = self.text(text, pos, style)?;
        self.occupied.push(rect);
        Ok(())
    }

    fn draw<E>(&self, element: &E) -> Result<(), String>
    where
        E: Drawable<DB>,
        for<'b> &'b E: PointCollection<'b, Px>,
    {
        self.root.draw(element).map_err(msg)
    }

    /// Reserves a polyline (sampled every few pixels) against the legend.
    fn occupy_polyline(&mut self, points: &[Px], radius: i32) {
        // Off-canvas points only matter up to the edge; clamping also keeps
        // the sampling below bounded and overflow-free.
        let clamp = |(x, y): Px| (x.clamp(-100, 1400), y.clamp(-100, 1000));
        let points: Vec<Px> = points.iter().copied().map(clamp).collect();
        for pair in points.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let len = (b.0 - a.0).abs().max((b.1 - a.1).abs()).max(1);
            let steps = len / 3 + 1;
            for s in 0..=steps {
                let t = f64::from(s) / f64::from(steps);
                let x = f64::from(a.0) + t * f64::from(b.0 - a.0);
                let y = f64::from(a.1) + t * f64::from(b.1 - a.1);
                self.occupied
                    .push(PxRect::around((x.round() as i32, y.round() as i32), radius));
            }
        }
        if let [p] = points[..] {
            self.occupied.push(PxRect::around(p, radius));
        }
    }

    /// Reserves the area between two polylines sampled at the same x
    /// positions (a filled band, a stacked layer) against the legend.
    fn occupy_between(&mut self, upper: &[Px], lower: &[Px]) {
        let clamp = |(x, y): Px| (x.clamp(-100, 1400), y.clamp(-100, 1000));
        let at = |a: Px, b: Px, t: f64| {
            (
                f64::from(a.0) + t * f64::from(b.0 - a.0),
                f64::from(a.1) + t * f64::from(b.1 - a.1),
            )
        };
        for (u, l) in upper.windows(2).zip(lower.windows(2)) {
            let (u0, u1, l0, l1) = (clamp(u[0]), clamp(u[1]), clamp(l[0]), clamp(l[1]));
            let steps = ((u1.0 - u0.0).abs() / 6).max(1);
            for s in 0..steps {
                let (t0, t1) = (
                    f64::from(s) / f64::from(steps),
                    f64::from(s + 1) / f64::from(steps),
                );
                let (a, b, c, d) = (
                    at(u0, u1, t0),
                    at(u0, u1, t1),
                    at(l0, l1, t0),
                    at(l0, l1, t1),
                );
                let top = a.1.min(b.1).min(c.1).min(d.1);
                let bottom = a.1.max(b.1).max(c.1).max(d.1);
                self.occupied.push(PxRect::spanning(
                    (a.0.round() as i32, top.round() as i32),
                    (b.0.round() as i32, bottom.round() as i32),
                ));
            }
        }
    }

    fn hits(&self, rect: &PxRect) -> usize {
        self.occupied.iter().filter(|o| o.intersects(rect)).count()
    }
}

fn text_width(font: &FontDesc<'_>, text: &str) -> Result<i32, String> {
    let ((x0, _), (x1, _)) = font.layout_box(text).map_err(msg)?;
    Ok(x1 - x0)
}

// ---------------------------------------------------------------------------
// Legend
// ---------------------------------------------------------------------------

/// How a line series is drawn: recorded history is solid with filled
/// markers, the projection is dashed and lighter with hollow markers, so the
/// two read apart even in greyscale.
#[derive(Clone, Copy)]
enum Look {
    History,
    Projection,
}

#[derive(Clone, Copy)]
enum Swatch {
    Series(RGBColor, Look),
    Bar(RGBColor),
    Reference(RGBColor),
    /// Mean line with markers over a translucent band.
    Band(RGBColor, Look),
    /// Plain line in one of the [`Dash`] patterns, no markers.
    Line(RGBColor, Dash),
}

struct LegendEntry {
    label: String,
    swatch: Swatch,
}

fn entry(label: impl Into<String>, swatch: Swatch) -> LegendEntry {
    LegendEntry {
        label: label.into(),
        swatch,
    }
}

#[derive(Clone, Copy)]
enum Corner {
    UpperLeft,
    UpperRight,
    LowerLeft,
    LowerRight,
    /// Bottom middle: a last resort when every corner covers data.
    LowerCenter,
}

const SWATCH_W: i32 = 36;

fn draw_swatch<DB: DrawingBackend>(
    canvas: &Canvas<'_, DB>,
    swatch: Swatch,
    (x, y): Px,
) -> Result<(), String> {
    let mid = x + SWATCH_W / 2;
    match swatch {
        Swatch::Series(color, look) => {
            let line = color.stroke_width(LINE_W);
            match look {
                Look::History => {
                    canvas.draw(&PathElement::new(vec![(x, y), (x + SWATCH_W, y)], line))?
                }
                Look::Projection => {
                    canvas.draw(&PathElement::new(vec![(x, y), (x + 10, y)], line))?;
                    canvas.draw(&PathElement::new(
                        vec![(x + 26, y), (x + SWATCH_W, y)],
                        line,
                    ))?;
                }
            }
            draw_marker(canvas, (mid, y), color, look)
        }
        Swatch::Bar(color) => canvas.draw(&Rectangle::new(
            [(x + 6, y - 8), (x + SWATCH_W - 6, y + 8)],
            bar_style(color),
        )),
        Swatch::Reference(color) => {
            let line = color.stroke_width(2);
            canvas.draw(&PathElement::new(vec![(x, y), (x + 13, y)], line))?;
            canvas.draw(&PathElement::new(
                vec![(x + 23, y), (x + SWATCH_W, y)],
                line,
            ))
        }
        Swatch::Band(color, look) => {
            canvas.draw(&Rectangle::new(
                [(x, y - 8), (x + SWATCH_W, y + 8)],
                band_style(color),
            ))?;
            draw_swatch(canvas, Swatch::Series(color, look), (x, y))
        }
        Swatch::Line(color, dash) => {
            let style = color.stroke_width(LINE_W);
            for (a, b) in dash.segments(SWATCH_W) {
                canvas.draw(&PathElement::new(vec![(x + a, y), (x + b, y)], style))?;
            }
            Ok(())
        }
    }
}

/// Line patterns that, with the palette's colours, tell up to ~20 series
/// apart.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dash {
    Solid,
    Dashed,
    Dotted,
}

impl Dash {
    /// (on, off) lengths in pixels, `None` for solid.
    fn pattern(self) -> Option<(u32, u32)> {
        match self {
            Dash::Solid => None,
            Dash::Dashed => Some((12, 6)),
            Dash::Dotted => Some((4, 5)),
        }
    }

    /// Pixel segments `(from, to)` drawn along a swatch `len` pixels long.
    fn segments(self, len: i32) -> Vec<(i32, i32)> {
        match self.pattern() {
            None => vec![(0, len)],
            Some((on, off)) => {
                let (on, off) = (on as i32, off as i32);
                (0..len)
                    .step_by((on + off) as usize)
                    .map(|a| (a, (a + on).min(len)))
                    .collect()
            }
        }
    }
}

/// The `i`-th series' colour and pattern: the palette first in solid, then
/// dashed, then dotted lines.
fn series_look(i: usize) -> (RGBColor, Dash) {
    let dash = match (i / PALETTE.len()) % 3 {
        0 => Dash::Solid,
        1 => Dash::Dashed,
        _ => Dash::Dotted,
    };
    (PALETTE[i % PALETTE.len()], dash)
}

/// Translucent fill of a 5–95 % band.
fn band_style(color: RGBColor) -> ShapeStyle {
    color.mix(0.22).filled()
}

fn draw_marker<DB: DrawingBackend>(
    canvas: &Canvas<'_, DB>,
    p: Px,
    color: RGBColor,
    look: Look,
) -> Result<(), String> {
    let fill = match look {
        Look::History => color.filled(),
        Look::Projection => WHITE.filled(),
    };
    canvas.draw(&Circle::new(p, MARKER_R, fill))?;
    canvas.draw(&Circle::new(p, MARKER_R, color.stroke_width(2)))
}

fn bar_style(color: RGBColor) -> ShapeStyle {
    color.mix(0.85).filled()
}

// ---------------------------------------------------------------------------
// Frame: one chart's axes, grid and data drawing
// ---------------------------------------------------------------------------

/// Linear axis with hand-picked ticks.
///
/// Plotters' own `WithKeyPoints` wrapper would do, but in 0.3.7 it loses the
/// f64 label formatter so the mesh does not compile; and picking ticks here
/// means the labels (drawn by [`Canvas::text`]) match the grid exactly.
#[derive(Clone)]
struct TickAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Minor ("light") grid lines would only add clutter.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

type Chart<'r, DB> = ChartContext<'r, DB, Cartesian2d<TickAxis, TickAxis>>;

/// Value axis: range, tick positions and how many decimals the labels need.
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    decimals: usize,
    step: f64,
    /// Label ticks as "150M" / "20k" instead of plain numbers.
    compact: bool,
}

impl Axis {
    fn new(lo: f64, hi: f64) -> Self {
        let step = tick_step(hi - lo);
        Axis {
            lo,
            hi,
            ticks: value_ticks(lo, hi, step),
            decimals: decimals_for(step),
            step,
            compact: false,
        }
    }

    /// Axis covering the finite `values` with headroom, snapped to round
    /// ticks, from 0 if `from_zero` (or if the data crosses it anyway);
    /// `0..1` without finite data. Large magnitudes get compact labels.
    fn auto(values: impl IntoIterator<Item = f64>, from_zero: bool) -> Self {
        let values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let (lo, hi) = if from_zero && lo <= hi {
            (lo.min(0.0), hi.max(0.0))
        } else {
            (lo, hi)
        };
        let span = hi - lo;
        let snap = if !span.is_finite() {
            1.0
        } else if span > 0.0 {
            tick_step(span)
        } else {
            tick_step(hi.abs().max(1.0))
        };
        let (mut lo, mut hi) = value_range(values, snap, from_zero, (0.0, 1.0));
        if from_zero && hi <= 0.0 && lo < 0.0 {
            hi = 0.0; // all-negative data: the zero line is the top
        }
        if lo.is_nan() || hi.is_nan() || lo >= hi {
            (lo, hi) = (0.0, 1.0);
        }
        let mut axis = Axis::new(lo, hi);
        let mag = lo.abs().max(hi.abs());
        axis.compact = (1e4..1e15).contains(&mag);
        axis
    }

    /// Tick label for `v`, in the axis' format.
    fn label(&self, v: f64) -> String {
        if self.compact {
            compact_number(v, self.step, self.lo.abs().max(self.hi.abs()), false)
        } else {
            tick_label(v, self.decimals)
        }
    }
}

/// `v` as "1.5M", "−250k", "+2M" (if `signed`), with the suffix chosen from
/// `magnitude` (the largest value it is shown next to) so all labels of an
/// axis share one unit, and decimals enough to tell multiples of `step`
/// apart. Plain numbers below 10 000; exponent form for absurd values.
fn compact_number(v: f64, step: f64, magnitude: f64, signed: bool) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let magnitude = magnitude.abs().max(v.abs());
    if magnitude >= 1e15 {
        return format!("{v:.2e}");
    }
    let (div, suffix) = if magnitude >= 1e9 {
        (1e9, "B")
    } else if magnitude >= 1e6 {
        (1e6, "M")
    } else if magnitude >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let decimals = if step > 0.0 && step.is_finite() {
        decimals_for(step / div)
    } else {
        1
    };
    let body = format!("{:.decimals$}", v.abs() / div);
    let zero = body.trim_start_matches(['0', '.']).is_empty();
    let sign = if zero {
        ""
    } else if v < 0.0 {
        "−"
    } else if signed {
        "+"
    } else {
        ""
    };
    if zero {
        "0".to_string()
    } else {
        format!("{sign}{body}{suffix}")
    }
}

struct Frame<'r, DB: DrawingBackend> {
    chart: Chart<'r, DB>,
    canvas: Canvas<'r, DB>,
    years: (i32, i32),
    x_ticks: Vec<f64>,
    y: Axis,
    plot: PxRect,
}

impl<'r, DB: DrawingBackend> Frame<'r, DB> {
    /// Title and empty plot area; nothing else is drawn yet so callers can
    /// paint backgrounds (the plan band) under the grid.
    fn new(
        root: &'r DrawingArea<DB, Shift>,
        ink: Ink,
        title: &str,
        years: (i32, i32),
        y: Axis,
        right: u32,
    ) -> Result<Self, String> {
        let mut canvas = Canvas {
            root,
            ink,
            occupied: Vec::new(),
        };
        let title_style = anchored(title_font(), HPos::Center, VPos::Top);
        canvas.text(title, (CHART_SIZE.0 as i32 / 2, 18), &title_style)?;

        // Half a year of padding so markers/bars at the ends don't sit on
        // the axes.
        let x_range = (f64::from(years.0) - 0.5)..(f64::from(years.1) + 0.5);
        let plot_w = f64::from(CHART_SIZE.0 - LEFT_MARGIN_PX - Y_LABEL_AREA_PX - right);
        let x_ticks = year_ticks(years.0, years.1, plot_w / (x_range.end - x_range.start));

        let chart = ChartBuilder::on(root)
            .margin_top(TOP_PX)
            .margin_left(LEFT_MARGIN_PX)
            .margin_right(right)
            .margin_bottom(FOOTER_PX)
            .x_label_area_size(X_LABEL_AREA_PX)
            .y_label_area_size(Y_LABEL_AREA_PX)
            .build_cartesian_2d(
                TickAxis {
                    inner: x_range.into(),
                    ticks: x_ticks.clone(),
                },
                TickAxis {
                    inner: (y.lo..y.hi).into(),
                    ticks: y.ticks.clone(),
                },
            )
            .map_err(msg)?;
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let plot = PxRect {
            x0: xs.start,
            y0: ys.start,
            x1: xs.end,
            y1: ys.end,
        };
        Ok(Frame {
            chart,
            canvas,
            years,
            x_ticks,
            y,
            plot,
        })
    }

    fn x_lo(&self) -> f64 {
        f64::from(self.years.0) - 0.5
    }

    fn x_hi(&self) -> f64 {
        f64::from(self.years.1) + 0.5
    }

    /// Pulls a point to within one axis span of the plot. Only garbage data
    /// gets moved, but plotters 0.3.7 overflows (panics in debug builds)
    /// mapping coordinates far outside the axis range.
    fn clamp(&self, (x, y): (f64, f64)) -> (f64, f64) {
        let (x_lo, x_hi) = (self.x_lo(), self.x_hi());
        let (dx, dy) = (x_hi - x_lo, self.y.hi - self.y.lo);
        (
            x.clamp(x_lo - dx, x_hi + dx),
            y.clamp(self.y.lo - dy, self.y.hi + dy),
        )
    }

    fn px(&self, x: f64, y: f64) -> Px {
        self.chart.backend_coord(&self.clamp((x, y)))
    }

    /// Grid, axis lines and tick marks from plotters; tick labels and axis
    /// descriptions through [`Canvas::text`].
    fn axes(&mut self, y_desc: &str) -> Result<(), String> {
        let no_text = font(TICK_PX).color(&TRANSPARENT);
        self.chart
            .configure_mesh()
            .label_style(no_text)
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS_GREY)
            .draw()
            .map_err(msg)?;

        let tick = font(TICK_PX);
        let below = anchored(tick.clone(), HPos::Center, VPos::Top);
        for x in self.x_ticks.clone() {
            let (px, _) = self.px(x, self.y.lo);
            self.canvas
                .text(&format!("{x:.0}"), (px, self.plot.y1 + 12), &below)?;
        }
        let left = anchored(tick, HPos::Right, VPos::Center);
        for v in self.y.ticks.clone() {
            let (_, py) = self.px(self.x_lo(), v);
            let label = self.y.label(v);
            self.canvas.text(&label, (self.plot.x0 - 10, py), &left)?;
        }

        let desc = font(AXIS_DESC_PX);
        let mid_x = (self.plot.x0 + self.plot.x1) / 2;
        let mid_y = (self.plot.y0 + self.plot.y1) / 2;
        self.canvas.text(
            "Year",
            (mid_x, self.plot.y1 + 38),
            &anchored(desc.clone(), HPos::Center, VPos::Top),
        )?;
        let vertical = desc
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Center, VPos::Center));
        self.canvas
            .text(y_desc, (self.plot.x0 - 66, mid_y), &vertical)?;
        Ok(())
    }

    /// Right-hand axis for a second quantity whose values `v` are plotted at
    /// primary height `v * scale`. Returns that scale.
    ///
    /// The secondary ticks are `0, step, …` with one tick per primary grid
    /// line, so both axes share the grid instead of two sets of lines.
    fn right_axis(&mut self, max: f64, desc: &str, color: RGBColor) -> Result<f64, String> {
        let primary = &self.y.ticks;
        let intervals = primary.len().saturating_sub(1).max(1);
        let last = primary
            .last()
            .copied()
            .filter(|t| *t > 0.0)
            .unwrap_or(self.y.hi);
        // Keep the same ~35 % headroom as the primary axis.
        let step = nice_ceil(max.max(f64::MIN_POSITIVE) * 1.35 / intervals as f64);
        let scale = last / (step * intervals as f64);
        let decimals = decimals_for(step);

        let x = self.plot.x1;
        let axis_style = AXIS_GREY.stroke_width(1);
        self.canvas.draw(&PathElement::new(
            vec![(x, self.plot.y0), (x, self.plot.y1)],
            axis_style,
        ))?;
        let label = anchored(font_in(TICK_PX, color), HPos::Left, VPos::Center);
        for i in 0..=intervals {
            let v = step * i as f64;
            let (_, py) = self.px(self.x_hi(), v * scale);
            self.canvas
                .draw(&PathElement::new(vec![(x, py), (x + 5, py)], axis_style))?;
            self.canvas
                .text(&tick_label(v, decimals), (x + 10, py), &label)?;
        }
        // Coloured like the series it belongs to, so the pairing is obvious.
        let vertical = font_in(AXIS_DESC_PX, color)
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Center, VPos::Center));
        let mid_y = (self.plot.y0 + self.plot.y1) / 2;
        self.canvas.text(desc, (x + 72, mid_y), &vertical)?;
        Ok(scale)
    }

    /// Light band behind the plan period, labelled in its top-right corner
    /// (top-left would collide with upper-left legends on short x ranges).
    fn plan_band(&mut self, goal_year: i32) -> Result<(), String> {
        let start = PLAN_START_YEAR.max(self.years.0);
        let end = goal_year.min(self.years.1);
        if start > end {
            return Ok(()); // plan period not on this chart
        }
        let x0 = f64::from(start) - 0.5;
        let x1 = f64::from(end) + 0.5;
        self.chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, self.y.lo), (x1, self.y.hi)],
                PLAN_SHADE.filled(),
            )))
            .map_err(msg)?;
        let label = format!("Plan period {PLAN_START_YEAR}–{goal_year}");
        let (px, py) = self.px(x1, self.y.hi);
        let style = anchored(font_in(LEGEND_PX, PLAN_TEXT), HPos::Right, VPos::Top);
        self.canvas.label(&label, (px - 8, py + 8), &style)
    }

    /// Horizontal dashed line across the plot, optionally labelled above its
    /// left end.
    fn reference_line(
        &mut self,
        value: f64,
        color: RGBColor,
        label: Option<&str>,
    ) -> Result<(), String> {
        let value = self.clamp((self.x_lo(), value)).1;
        let points = [(self.x_lo(), value), (self.x_hi(), value)];
        self.chart
            .draw_series(DashedLineSeries::new(points, 12, 8, color.stroke_width(2)))
            .map_err(msg)?;
        let (a, b) = (self.px(points[0].0, value), self.px(points[1].0, value));
        self.canvas.occupy_polyline(&[a, b], 2);
        if let Some(label) = label {
            let style = anchored(font_in(LEGEND_PX, color), HPos::Left, VPos::Bottom);
            self.canvas.label(label, (a.0 + 10, a.1 - 8), &style)?;
        }
        Ok(())
    }

    /// Draws the pieces of one series; returns whether anything was drawn
    /// (so absent series get no legend entry).
    fn series(
        &mut self,
        runs: &[Vec<(f64, f64)>],
        color: RGBColor,
        look: Look,
    ) -> Result<bool, String> {
        let line = color.stroke_width(LINE_W);
        for run in runs {
            let run: Vec<(f64, f64)> = run.iter().map(|&p| self.clamp(p)).collect();
            match look {
                Look::History => self
                    .chart
                    .draw_series(LineSeries::new(run.iter().copied(), line))
                    .map_err(msg)?,
                Look::Projection => self
                    .chart
                    .draw_series(DashedLineSeries::new(run.iter().copied(), 10, 6, line))
                    .map_err(msg)?,
            };
            let pixels: Vec<Px> = run.iter().map(|&(x, y)| self.px(x, y)).collect();
            // Markers go straight onto the canvas, which (unlike the plot
            // area) does not clip; skip any a clamped outlier pushed outside.
            let inside = PxRect {
                x0: self.plot.x0 - MARKER_R,
                y0: self.plot.y0 - MARKER_R,
                x1: self.plot.x1 + MARKER_R,
                y1: self.plot.y1 + MARKER_R,
            };
            for &p in pixels.iter().filter(|&&p| inside.contains(p)) {
                draw_marker(&self.canvas, p, color, look)?;
            }
            self.canvas.occupy_polyline(&pixels, MARKER_R + 3);
        }
        Ok(!runs.is_empty())
    }

    /// Plain line pieces in a [`Dash`] pattern, no markers; returns whether
    /// anything was drawn.
    fn line(
        &mut self,
        runs: &[Vec<(f64, f64)>],
        color: RGBColor,
        dash: Dash,
        width: u32,
    ) -> Result<bool, String> {
        let style = color.stroke_width(width);
        for run in runs {
            let run: Vec<(f64, f64)> = run.iter().map(|&p| self.clamp(p)).collect();
            match dash.pattern() {
                None => self
                    .chart
                    .draw_series(LineSeries::new(run.iter().copied(), style))
                    .map_err(msg)?,
                Some((on, off)) => self
                    .chart
                    .draw_series(DashedLineSeries::new(run.iter().copied(), on, off, style))
                    .map_err(msg)?,
            };
            let pixels: Vec<Px> = run.iter().map(|&(x, y)| self.px(x, y)).collect();
            self.canvas.occupy_polyline(&pixels, width as i32 + 2);
        }
        Ok(!runs.is_empty())
    }

    fn bars(&mut self, bars: &[(f64, f64)], color: RGBColor) -> Result<bool, String> {
        for &(x, v) in bars {
            let a = self.clamp((x - 0.32, 0.0_f64.max(self.y.lo)));
            let b = self.clamp((x + 0.32, v.max(0.0)));
            self.chart
                .draw_series(std::iter::once(Rectangle::new([a, b], bar_style(color))))
                .map_err(msg)?;
            let rect = PxRect::spanning(self.px(a.0, a.1), self.px(b.0, b.1));
            self.canvas.occupied.push(rect);
        }
        Ok(!bars.is_empty())
    }

    /// Small value label centred above a data point.
    fn annotate(&mut self, (x, v): (f64, f64), text: &str, color: RGBColor) -> Result<(), String> {
        let (px, py) = self.px(x, v);
        let style = anchored(font_in(LEGEND_PX, color), HPos::Center, VPos::Bottom);
        self.canvas.label(text, (px, py - 12), &style)
    }

    /// Text in the middle of the plot (used when there is nothing to show).
    fn centre_note(&mut self, text: &str) -> Result<(), String> {
        let style = anchored(font_in(AXIS_DESC_PX, TEXT_GREY), HPos::Center, VPos::Center);
        let mid = (
            (self.plot.x0 + self.plot.x1) / 2,
            (self.plot.y0 + self.plot.y1) / 2,
        );
        self.canvas.label(text, mid, &style)
    }

    /// Legend box in the first of `corners` that covers nothing already
    /// drawn (or, failing that, the one covering least).
    fn legend(&mut self, entries: &[LegendEntry], corners: &[Corner]) -> Result<(), String> {
        if entries.is_empty() {
            return Ok(());
        }
        const PAD: i32 = 12;
        const ROW: i32 = 26;
        const GAP: i32 = 10;
        const INSET: i32 = 10;
        let style = font(LEGEND_PX);
        let mut text_w = 0;
        for e in entries {
            text_w = text_w.max(text_width(&style.font, &e.label)?);
        }
        let w = PAD + SWATCH_W + GAP + text_w + PAD;
        let h = 2 * PAD + ROW * entries.len() as i32 - 6;
        let p = self.plot;
        let place = |corner: Corner| {
            let x0 = match corner {
                Corner::UpperLeft | Corner::LowerLeft => p.x0 + INSET,
                Corner::UpperRight | Corner::LowerRight => p.x1 - INSET - w,
                Corner::LowerCenter => (p.x0 + p.x1 - w) / 2,
            };
            let y0 = match corner {
                Corner::UpperLeft | Corner::UpperRight => p.y0 + INSET,
                Corner::LowerLeft | Corner::LowerRight | Corner::LowerCenter => p.y1 - INSET - h,
            };
            PxRect {
                x0,
                y0,
                x1: x0 + w,
                y1: y0 + h,
            }
        };
        let candidates = if corners.is_empty() {
            &[Corner::UpperLeft][..]
        } else {
            corners
        };
        let mut best = place(candidates[0]);
        let mut best_hits = usize::MAX;
        for &corner in candidates {
            let rect = place(corner);
            let hits = self.canvas.hits(&rect);
            if hits < best_hits {
                (best, best_hits) = (rect, hits);
            }
            if hits == 0 {
                break;
            }
        }

        let r = best;
        self.canvas.draw(&Rectangle::new(
            [(r.x0, r.y0), (r.x1, r.y1)],
            WHITE.mix(0.93).filled(),
        ))?;
        self.canvas.draw(&Rectangle::new(
            [(r.x0, r.y0), (r.x1, r.y1)],
            RGBColor(190, 190, 190).stroke_width(1),
        ))?;
        let text_style = anchored(style, HPos::Left, VPos::Center);
        for (i, e) in entries.iter().enumerate() {
            let cy = r.y0 + PAD + ROW * i as i32 + (ROW - 6) / 2;
            draw_swatch(&self.canvas, e.swatch, (r.x0 + PAD, cy))?;
            self.canvas
                .text(&e.label, (r.x0 + PAD + SWATCH_W + GAP, cy), &text_style)?;
        }
        self.canvas.occupied.push(r);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The three charts
// ---------------------------------------------------------------------------

/// Source note of settlement charts: their reference is the Ministry of Public Security's series.
pub const SETTLEMENTS_SOURCE_NOTE: &str = "Reference: MPS, about 15M rural migrants a year granted urban hukou 2014–2023; migrasim simulation";

fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    ink: Ink,
    kind: ChartKind,
    input: &ChartInput,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(msg)?;
    let mut frame = match kind {
        ChartKind::Urbanization => draw_urbanization(root, ink, input)?,
        ChartKind::Gap => draw_gap(root, ink, input)?,
        ChartKind::Settlements => draw_settlements(root, ink, input)?,
    };
    let scenario = if input.scenario_name.is_empty() {
        String::new()
    } else {
        format!("Scenario: {}", input.scenario_name)
    };
    // Settlements are the Ministry of Public Security's series, not the NBS's: the chart cites
    // what it shows.
    let source = match kind {
        ChartKind::Settlements => SETTLEMENTS_SOURCE_NOTE,
        _ => input.source_note,
    };
    draw_footer(&mut frame.canvas, source, &scenario)
}

/// Source note bottom-left, `right` (e.g. the scenario name) bottom-right,
/// small and grey. Empty strings are skipped.
fn draw_footer<DB: DrawingBackend>(
    canvas: &mut Canvas<'_, DB>,
    note: &str,
    right: &str,
) -> Result<(), String> {
    let (w, h) = (CHART_SIZE.0 as i32, CHART_SIZE.1 as i32);
    let y = h - FOOTER_PX as i32 / 2;
    let style = font_in(NOTE_PX, TEXT_GREY);
    if !note.is_empty() {
        let left = anchored(style.clone(), HPos::Left, VPos::Center);
        canvas.text(note, (LEFT_MARGIN_PX as i32 + 6, y), &left)?;
    }
    if !right.is_empty() {
        let style = anchored(style, HPos::Right, VPos::Center);
        canvas.text(right, (w - RIGHT_MARGIN_PX as i32, y), &style)?;
    }
    Ok(())
}

fn draw_urbanization<'r, DB: DrawingBackend>(
    root: &'r DrawingArea<DB, Shift>,
    ink: Ink,
    input: &ChartInput,
) -> Result<Frame<'r, DB>, String> {
    let years = history_span(input);
    let (off, sim) = (input.official, input.simulated);
    let off_resident = runs(
        off.iter()
            .map(|p| (p.year, rate(p.urbanization_rate_pct)))
            .collect(),
    );
    let off_hukou = runs(
        off.iter()
            .map(|p| (p.year, p.hukou_urbanization_rate_pct.and_then(rate)))
            .collect(),
    );
    let sim_resident = runs(
        sim.iter()
            .map(|p| (p.year, rate(p.urbanization_rate_pct)))
            .collect(),
    );
    let sim_hukou = runs(
        sim.iter()
            .map(|p| (p.year, rate(p.hukou_urbanization_rate_pct)))
            .collect(),
    );

    let goal = rate(input.goal_pct);
    let values = flat(&off_resident)
        .chain(flat(&off_hukou))
        .chain(flat(&sim_resident))
        .chain(flat(&sim_hukou))
        .chain(goal);
    let (lo, hi) = value_range(values, 5.0, false, (0.0, 100.0));
    // Rates are shares: never show below 0 %; above 100 % only if the data
    // (wrongly) goes there, so the problem stays visible.
    let y = Axis::new(lo.max(0.0), hi.max(lo.max(0.0) + 5.0));

    let span = if years.0 == years.1 {
        years.0.to_string()
    } else {
        format!("{}–{}", years.0, years.1)
    };
    let title = if input.scenario_name.is_empty() {
        format!("Urbanization rates, {span}")
    } else {
        format!("Urbanization rates, {span} — {}", input.scenario_name)
    };
    let mut f = Frame::new(root, ink, &title, years, y, RIGHT_MARGIN_PX)?;
    f.plan_band(input.goal_year)?;
    f.axes("Share of total population (%)")?;
    if let Some(goal) = goal {
        let label = format!("Plan goal ≈{goal:.0}% by {}", input.goal_year);
        f.reference_line(goal, GOAL_GREY, Some(&label))?;
    }

    let mut legend = Vec::new();
    let series = [
        (
            &off_resident,
            BLUE,
            Look::History,
            "Resident urbanization rate (NBS)",
        ),
        (
            &sim_resident,
            BLUE_LIGHT,
            Look::Projection,
            "Resident urbanization rate (simulated)",
        ),
        (
            &off_hukou,
            RED,
            Look::History,
            "Hukou urbanization rate (NBS)",
        ),
        (
            &sim_hukou,
            RED_LIGHT,
            Look::Projection,
            "Hukou urbanization rate (simulated)",
        ),
    ];
    for (runs, color, look, label) in series {
        if f.series(runs, color, look)? {
            legend.push(entry(label, Swatch::Series(color, look)));
        }
    }
    if legend.is_empty() {
        f.centre_note("No data")?;
    }
    // The official hukou rate jumps from 35.9% (2014) to 39.9% (2015) where its source changes:
    // say so on the chart, or the step reads as a policy effect.
    let hukou_at = |year: i32| {
        input
            .official
            .iter()
            .find(|p| p.year == year)
            .and_then(|p| p.hukou_urbanization_rate_pct)
    };
    if let (Some(before), Some(after)) = (hukou_at(2014), hukou_at(2015)) {
        let (x, y) = f.px(2014.5, 0.5 * (before + after));
        f.canvas.text(
            "← series break 2014→2015, not a policy effect",
            (x + 12, y),
            &anchored(font(NOTE_PX).color(&RED), HPos::Left, VPos::Center),
        )?;
    }
    use Corner::*;
    f.legend(&legend, &[LowerRight, UpperLeft, LowerLeft, UpperRight])?;
    Ok(f)
}

fn draw_gap<'r, DB: DrawingBackend>(
    root: &'r DrawingArea<DB, Shift>,
    ink: Ink,
    input: &ChartInput,
) -> Result<Frame<'r, DB>, String> {
    let years = history_span(input);
    let off_gap = runs(
        input
            .official
            .iter()
            .map(|p| (p.year, official_gap(p)))
            .collect(),
    );
    let sim_gap = runs(
        input
            .simulated
            .iter()
            .map(|p| (p.year, simulated_gap(p)))
            .collect(),
    );

    // Zero-based: the gap is a magnitude, and a truncated axis would turn a
    // one-point wobble into a dramatic swing.
    let values = flat(&off_gap).chain(flat(&sim_gap));
    let (lo, hi) = value_range(values, 5.0, true, (0.0, 25.0));
    let mut f = Frame::new(
        root,
        ink,
        "Gap between resident and hukou urbanization rates",
        years,
        Axis::new(lo, hi),
        RIGHT_MARGIN_PX,
    )?;
    f.plan_band(input.goal_year)?;
    f.axes("Gap (percentage points)")?;

    let mut legend = Vec::new();
    if f.series(&off_gap, RED, Look::History)? {
        legend.push(entry(
            "Gap, NBS (resident − hukou rate)",
            Swatch::Series(RED, Look::History),
        ));
    }
    if f.series(&sim_gap, RED_LIGHT, Look::Projection)? {
        legend.push(entry(
            "Gap, simulated",
            Swatch::Series(RED_LIGHT, Look::Projection),
        ));
    }
    // Label the endpoints so the level can be read without the grid.
    let first_off = off_gap.first().and_then(|r| r.first());
    let last_off = off_gap.last().and_then(|r| r.last());
    let last_sim = sim_gap.last().and_then(|r| r.last());
    let mut labelled: Vec<f64> = Vec::new();
    for (point, color) in [(first_off, RED), (last_off, RED), (last_sim, RED_LIGHT)] {
        if let Some(&(x, v)) = point {
            // The last official and first simulated year may coincide.
            if !labelled.contains(&x) {
                labelled.push(x);
                f.annotate((x, v), &format!("{v:.1}"), color)?;
            }
        }
    }
    if legend.is_empty() {
        f.centre_note("No data")?;
    }
    use Corner::*;
    // The same break as in the official hukou series (see `draw_urbanization`).
    let gap_at = |year: i32| {
        input
            .official
            .iter()
            .find(|p| p.year == year)
            .and_then(|p| {
                p.hukou_urbanization_rate_pct
                    .map(|h| p.urbanization_rate_pct - h)
            })
    };
    if let (Some(before), Some(after)) = (gap_at(2014), gap_at(2015)) {
        let (x, y) = f.px(2014.5, 0.5 * (before + after));
        f.canvas.text(
            "↑ series break 2014→2015 in the official hukou rate",
            (x - 6, y + 62),
            &anchored(font(NOTE_PX).color(&RED), HPos::Left, VPos::Center),
        )?;
    }
    f.legend(&legend, &[LowerRight, LowerLeft, UpperRight, UpperLeft])?;
    Ok(f)
}

fn draw_settlements<'r, DB: DrawingBackend>(
    root: &'r DrawingArea<DB, Shift>,
    ink: Ink,
    input: &ChartInput,
) -> Result<Frame<'r, DB>, String> {
    let sim = input.simulated;
    // Only years with a flow: the base year of a run has none (NaN) and
    // would otherwise show as an empty slot.
    let span = year_span(
        sim.iter()
            .filter(|p| p.settlements.is_finite() || p.movers.is_finite())
            .map(|p| p.year),
    );
    // Without such years still draw the plan period, so the chart is an
    // honest empty frame rather than an error.
    let years = span.unwrap_or((PLAN_START_YEAR - 1, input.goal_year.max(PLAN_START_YEAR)));

    let mut bars: Vec<(f64, f64)> = sim
        .iter()
        .filter_map(|p| Some((f64::from(p.year), millions(p.settlements)?)))
        .collect();
    bars.sort_by(|a, b| a.0.total_cmp(&b.0));
    let movers = runs(sim.iter().map(|p| (p.year, millions(p.movers))).collect());

    let max_bars = bars.iter().map(|&(_, v)| v).fold(MPS_TRANSFERS_M, f64::max);
    let max_movers = flat(&movers).fold(0.0, f64::max);
    // Movers usually outnumber settlements; on a shared axis the bars would
    // flatten, so past 2.5× movers get their own (right-hand) axis.
    let dual = max_movers > 2.5 * max_bars;
    let y_top = top_with_headroom(if dual {
        max_bars
    } else {
        max_bars.max(max_movers)
    });

    let mut f = Frame::new(
        root,
        ink,
        "Settlements: rural migrants granted urban hukou",
        years,
        Axis::new(0.0, y_top),
        if dual { RIGHT_AXIS_PX } else { RIGHT_MARGIN_PX },
    )?;
    // Shade the plan period only where the chart also shows years outside it: over simulated
    // years alone the whole plot would be shaded, which says nothing.
    if years.0 < PLAN_START_YEAR {
        f.plan_band(input.goal_year)?;
    }
    f.axes("Persons (millions)")?;

    let mut legend = Vec::new();
    if f.bars(&bars, BAR_TEAL)? {
        legend.push(entry(
            "Settlements (granted urban hukou)",
            Swatch::Bar(BAR_TEAL),
        ));
    }
    // Drawn over the bars so it stays visible where they cross it.
    f.reference_line(MPS_TRANSFERS_M, TEXT_GREY, None)?;
    legend.push(entry(
        "≈15M/yr hukou transfers 2014–2023 (MPS)",
        Swatch::Reference(TEXT_GREY),
    ));

    let (movers, movers_label) = if dual {
        // Plot movers in primary units scaled so the right axis reads true
        // values; both axes start at 0, so one factor aligns them.
        let k = f.right_axis(max_movers, "Movers (millions)", MOVERS_ORANGE)?;
        let scaled = movers
            .iter()
            .map(|r| r.iter().map(|&(x, v)| (x, v * k)).collect())
            .collect();
        (scaled, "Movers (changed residence unit; right axis)")
    } else {
        (movers, "Movers (changed residence unit)")
    };
    if f.series(&movers, MOVERS_ORANGE, Look::History)? {
        legend.push(entry(
            movers_label,
            Swatch::Series(MOVERS_ORANGE, Look::History),
        ));
    }

    if span.is_none() {
        f.centre_note("No simulated flows in this run")?;
    }
    use Corner::*;
    f.legend(&legend, &[UpperLeft, UpperRight, LowerLeft, LowerRight])?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "Source: NBS 2010–2023 (census-revised); migrasim simulation 2023–2029";

    fn official() -> Vec<OfficialPoint> {
        let resident = [
            49.95, 51.83, 53.10, 54.49, 55.75, 57.33, 58.84, 60.24, 61.50, 62.71, 63.89, 64.72,
            65.22, 66.16,
        ];
        let hukou = [
            35.33, 35.93, 35.9, 39.90, 41.20, 42.35, 43.37, 44.38, 45.4, 46.7, 47.7, 48.3,
        ];
        (2010..=2023)
            .zip(resident)
            .map(|(year, rate)| OfficialPoint {
                year,
                urbanization_rate_pct: rate,
                // Hukou rate is published from 2012 on.
                hukou_urbanization_rate_pct: usize::try_from(year - 2012).ok().map(|i| hukou[i]),
            })
            .collect()
    }

    /// Plausible projection: resident rate ~66 → ~70, hukou ~48 → ~53,
    /// 15–19M settlements and 21–26M movers a year.
    fn simulated(movers_scale: f64) -> Vec<NationalPoint> {
        (2023..=2029)
            .enumerate()
            .map(|(i, year)| {
                let t = i as f64;
                let resident = 66.16 + 0.65 * t;
                let hukou = 48.3 + 0.8 * t;
                NationalPoint {
                    year,
                    urbanization_rate_pct: resident,
                    hukou_urbanization_rate_pct: hukou,
                    gap_pp: resident - hukou,
                    settlements: (15.2 + 0.6 * t) * 1e6,
                    movers: (26.0 - 0.8 * t) * 1e6 * movers_scale,
                }
            })
            .collect()
    }

    fn input<'a>(sim: &'a [NationalPoint], off: &'a [OfficialPoint]) -> ChartInput<'a> {
        ChartInput {
            scenario_name: "baseline",
            simulated: sim,
            official: off,
            goal_pct: 70.0,
            goal_year: 2029,
            source_note: SOURCE,
        }
    }

    fn assert_charts_written(paths: &[PathBuf], titles: &[&str]) {
        assert_eq!(paths.len(), 6);
        for (kind, pair) in ChartKind::ALL.iter().zip(paths.chunks(2)) {
            let (png, svg) = (&pair[0], &pair[1]);
            assert!(png.ends_with(format!("{}.png", kind.file_stem())));
            assert!(svg.ends_with(format!("{}.svg", kind.file_stem())));
            let bytes = std::fs::read(png).unwrap();
            assert!(
                bytes.len() > 10_000,
                "{} only {} bytes",
                png.display(),
                bytes.len()
            );
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", png.display());
            let text = std::fs::read_to_string(svg).unwrap();
            assert!(
                text.len() > 5_000,
                "{} only {} bytes",
                svg.display(),
                text.len()
            );
            assert!(text.starts_with("<svg"), "{}", svg.display());
        }
        for (title, pair) in titles.iter().zip(paths.chunks(2)) {
            let text = std::fs::read_to_string(&pair[1]).unwrap();
            assert!(
                text.contains(title),
                "{} lacks {title:?}",
                pair[1].display()
            );
        }
    }

    #[test]
    fn renders_all_charts_as_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let (off, sim) = (official(), simulated(1.0));
        // A not-yet-existing subdirectory checks that `dir` is created.
        let out = dir.path().join("charts");
        let paths = render_run_charts(&out, &input(&sim, &off)).unwrap();
        assert_charts_written(
            &paths,
            &[
                "Urbanization rates, 2010–2029 — baseline",
                "Gap between resident and hukou urbanization rates",
                "Settlements: rural migrants granted urban hukou",
            ],
        );
        let svg = std::fs::read_to_string(out.join("urbanization.svg")).unwrap();
        assert!(svg.contains("Plan goal ≈70% by 2029"));
        let svg = std::fs::read_to_string(out.join("settlements.svg")).unwrap();
        assert!(svg.contains("hukou transfers 2014–2023 (MPS)"));
    }

    #[test]
    fn empty_input_does_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let input = ChartInput {
            scenario_name: "",
            simulated: &[],
            official: &[],
            goal_pct: 70.0,
            goal_year: 2029,
            source_note: "",
        };
        let paths = render_run_charts(dir.path(), &input).unwrap();
        assert_eq!(paths.len(), 6);
        assert!(paths.iter().all(|p| p.exists()));
    }

    #[test]
    fn history_only_single_year_nan_and_zeros_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let off = official();
        // No simulation at all.
        render_run_charts(&dir.path().join("history"), &input(&[], &off)).unwrap();

        // One simulated year with every value NaN, and a NaN goal.
        let nan = NationalPoint {
            year: 2024,
            urbanization_rate_pct: f64::NAN,
            hukou_urbanization_rate_pct: f64::NAN,
            gap_pp: f64::NAN,
            settlements: f64::NAN,
            movers: f64::INFINITY,
        };
        let mut one = input(std::slice::from_ref(&nan), &[]);
        one.goal_pct = f64::NAN;
        render_run_charts(&dir.path().join("nan"), &one).unwrap();

        // Absurd but finite values and a far-away goal year.
        let mut wild = simulated(1.0);
        wild[0].urbanization_rate_pct = 1e308;
        wild[1].hukou_urbanization_rate_pct = -1e308;
        wild[2].settlements = 1e300;
        wild[3].movers = -5e9;
        let mut far = input(&wild, &off);
        far.goal_year = -40_000;
        render_run_charts(&dir.path().join("wild"), &far).unwrap();

        // All-zero settlements and movers.
        let mut zeros = simulated(0.0);
        for p in &mut zeros {
            p.settlements = 0.0;
        }
        render_run_charts(&dir.path().join("zeros"), &input(&zeros, &off)).unwrap();
    }

    #[test]
    fn large_mover_counts_get_a_second_axis() {
        let dir = tempfile::tempdir().unwrap();
        let (off, sim) = (official(), simulated(5.0));
        render_run_charts(dir.path(), &input(&sim, &off)).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("settlements.svg")).unwrap();
        assert!(svg.contains("Movers (millions)"));
    }

    #[test]
    fn runs_break_at_missing_values_and_sort_by_year() {
        let r = runs(vec![
            (2012, Some(2.0)),
            (2010, None),
            (2011, Some(1.0)),
            (2013, Some(f64::NAN)),
            (2014, Some(4.0)),
        ]);
        assert_eq!(
            r,
            vec![vec![(2011.0, 1.0), (2012.0, 2.0)], vec![(2014.0, 4.0)]]
        );
        assert!(runs(Vec::new()).is_empty());
    }

    #[test]
    fn value_range_pads_snaps_and_never_collapses() {
        assert_eq!(
            value_range([35.33, 70.0], 5.0, false, (0.0, 1.0)),
            (30.0, 75.0)
        );
        assert_eq!(
            value_range([17.0, 19.9], 5.0, true, (0.0, 1.0)),
            (0.0, 25.0)
        );
        assert_eq!(value_range([f64::NAN], 5.0, true, (0.0, 25.0)), (0.0, 25.0));
        let (lo, hi) = value_range([50.0], 5.0, false, (0.0, 1.0));
        assert!(lo < 50.0 && hi > 50.0);
    }

    #[test]
    fn year_ticks_always_include_last_year() {
        assert_eq!(year_ticks(2023, 2029, 120.0).len(), 7);
        let sparse = year_ticks(2010, 2029, 40.0);
        assert_eq!(sparse.last(), Some(&2029.0));
        assert_eq!(sparse.first(), Some(&2011.0));
        assert_eq!(year_ticks(2024, 2024, 900.0), vec![2024.0]);
    }

    #[test]
    fn axis_helpers_pick_round_ticks() {
        assert_eq!(tick_step(45.0), 5.0);
        assert_eq!(tick_step(25.0), 5.0);
        assert_eq!(tick_step(10.0), 2.0);
        assert_eq!(value_ticks(30.0, 75.0, 5.0).len(), 10);
        assert_eq!(value_ticks(0.0, 0.3, 0.1).len(), 4, "float-tolerant end");
        assert!(value_ticks(1.0, 0.0, 1.0).is_empty());
        assert_eq!(decimals_for(5.0), 0);
        assert_eq!(decimals_for(2.5), 1);
        assert_eq!(decimals_for(0.05), 2);
        assert_eq!(nice_ceil(29.25), 30.0);
        assert_eq!(nice_ceil(0.011), 0.012);
        assert_eq!(top_with_headroom(19.0), 30.0);
        assert!((top_with_headroom(0.0) - 1.4).abs() < 1e-9);
    }

    #[test]
    fn glyph_metrics_read_dejavu_tables() {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let m = glyph_metrics(style).expect("embedded DejaVu parses");
            let (a, i) = (m.glyph_id('A'), m.glyph_id('i'));
            assert!(a != 0 && i != 0 && a != i);
            assert_ne!(m.glyph_id('≈'), 0, "used in chart labels");
            assert_eq!(m.glyph_id('\u{10000}'), 0, "outside the BMP → .notdef");
            // 'i' has a visible left bearing, 'A' almost none: exactly the
            // difference plotters loses.
            assert!(m.left_side_bearing(i) > 5 * m.left_side_bearing(a).max(1));
            assert_eq!(m.ink_offset_px('i', 16.0), 1);
            assert!((4..=5).contains(&m.ink_offset_px('i', 64.0)));
        }
    }

    #[test]
    fn pixel_rects_intersect_only_when_overlapping() {
        let a = PxRect::spanning((10, 10), (0, 0));
        assert_eq!(
            a,
            PxRect {
                x0: 0,
                y0: 0,
                x1: 10,
                y1: 10
            }
        );
        assert!(a.intersects(&PxRect::around((10, 10), 1)));
        assert!(!a.intersects(&PxRect::spanning((10, 0), (20, 10))));
    }

    /// Writes the sample charts to `$MIGRASIM_CHART_PREVIEW` (if set) so a
    /// human can look at them: `MIGRASIM_CHART_PREVIEW=/tmp/charts-preview
    /// cargo test --lib preview` (this test and the stand-alone
    /// charts' `preview` tests, which write to subfolders `band`,
    /// `stacked`, `lines` and `map`).
    #[test]
    fn preview() {
        let Some(dir) = std::env::var_os("MIGRASIM_CHART_PREVIEW") else {
            return;
        };
        let dir = PathBuf::from(dir);
        let off = official();
        let sim = simulated(1.0);
        render_run_charts(&dir.join("baseline"), &input(&sim, &off)).unwrap();
        let sim = simulated(5.0);
        render_run_charts(&dir.join("dual-axis"), &input(&sim, &off)).unwrap();
        render_run_charts(&dir.join("history-only"), &input(&[], &off)).unwrap();
        let mut zeros = simulated(1.0);
        for p in &mut zeros {
            p.settlements = 0.0;
        }
        render_run_charts(&dir.join("zeros"), &input(&zeros, &off)).unwrap();
        let empty = ChartInput {
            scenario_name: "",
            simulated: &[],
            official: &[],
            goal_pct: 70.0,
            goal_year: 2029,
            source_note: "",
        };
        render_run_charts(&dir.join("empty"), &empty).unwrap();
        let mut wild = simulated(1.0);
        wild[0].urbanization_rate_pct = 1e308;
        wild[3].movers = -5e9;
        render_run_charts(&dir.join("wild"), &input(&wild, &off)).unwrap();
    }
}
