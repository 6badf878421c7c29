//! Draws every chart and map from aggregate tables; never sees households.
//!
//! [`render`] writes each chart as `<stem>.png` (1200×750 at the default 100 dpi, more with
//! [`set_png_dpi`]) and `<stem>.svg` of the same logical size whose text is glyph outlines, so
//! it looks the same in every viewer. The run's own charts are here (`urbanization`, `gap`,
//! `settlements`); the others take tables their caller prepares: bands over replicates
//! (`band.rs`), stacked and diverging layers (`stacked.rs`), lines or small multiples
//! (`lines.rs`), predicted against observed (`scatter.rs`), tornado (`tornado.rs`), a
//! probability curve (`curve.rs`) and the map of the prefecture-level units (`map.rs`).
//!
//! Shapes go to plotters' bitmap backend or into SVG through [`canvas::Canvas`]; text is laid
//! out and drawn with ab_glyph from the embedded DejaVu Sans (`text.rs`); axes, legends and
//! the plot frame are shared by all charts (`frame.rs`). Bad data (NaN/inf, empty or one-year
//! inputs) is skipped or given a sensible default range rather than causing a panic.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use plotters::style::{BLACK, RGBColor, WHITE};

mod band;
mod canvas;
mod curve;
mod frame;
mod lines;
mod map;
mod scatter;
mod stacked;
mod text;
mod tornado;

use canvas::*;
use frame::*;
use sealed::Drawing;

pub use band::{BandChart, BandPoint, BandSeries};
pub use curve::CurveChart;
pub use lines::LinesChart;
pub use map::{Extent, MapChart, MapLabel, MapUnit, hover_svg};
pub use scatter::{ScatterChart, ScatterPoint};
pub use stacked::StackedChart;
pub use tornado::{TornadoBar, TornadoChart};

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

/// Everything the run charts need; borrowed so callers keep ownership of their tables.
#[derive(Debug, Clone, Copy)]
pub struct ChartInput<'a> {
    pub scenario_name: &'a str,
    pub simulated: &'a [NationalPoint],
    pub official: &'a [OfficialPoint],
    /// Plan goal for the resident urbanization rate (70.0 in the 2024–2029 plan).
    pub goal_pct: f64,
    /// Year by which the goal should be reached (2029).
    pub goal_year: i32,
    /// Printed small at the bottom of the rate charts.
    pub source_note: &'a str,
}

/// Why a chart could not be written; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("cannot create chart directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot draw chart {}: {message}", path.display())]
    Draw { path: PathBuf, message: String },
}

/// Logical size of every chart in pixels (the SVG size; the PNG at 100 dpi).
pub const CHART_SIZE: (u32, u32) = (1200, 750);

/// PNG resolution in dots per inch, as set by [`set_png_dpi`] (charts are 12 × 7.5 inches).
static PNG_DPI: AtomicU32 = AtomicU32::new(100);
/// Allowed `--dpi` values.
pub const DPI_RANGE: std::ops::RangeInclusive<u32> = 50..=600;

/// Sets the resolution of every PNG written from now on (the CLI's `--dpi`; clamped to
/// [`DPI_RANGE`]). SVGs are vector graphics and do not change.
pub fn set_png_dpi(dpi: u32) {
    PNG_DPI.store(dpi.clamp(*DPI_RANGE.start(), *DPI_RANGE.end()), Ordering::Relaxed);
}

/// Source note of settlement charts: their reference is the Ministry of Public Security's series.
pub const SETTLEMENTS_SOURCE_NOTE: &str =
    "Reference: MPS, about 15M rural migrants a year granted urban hukou 2014–2023; migrasim simulation";

/// A chart [`render`] writes: [`BandChart`], [`CurveChart`], [`LinesChart`], [`MapChart`],
/// [`ScatterChart`], [`StackedChart`] or [`TornadoChart`]. Sealed: only this module draws.
pub trait Chart: sealed::Drawing {}

impl<T: sealed::Drawing> Chart for T {}

/// Nameable only in this module, so no other type can be a [`Chart`]; the trait and the canvas it
/// draws on are `pub` in private modules (reachable through [`render`], private to the crate).
mod sealed {
    use super::*;

    /// A chart that draws itself onto a canvas (background included).
    pub trait Drawing {
        fn draw(&self, c: &mut Canvas) -> Result<(), String>;
        /// Logical size in pixels.
        const SIZE: (u32, u32) = CHART_SIZE;
    }

    /// A chart of the standard size drawn by a closure (the run's own charts).
    impl<F: Fn(&mut Canvas) -> Result<(), String>> Drawing for F {
        fn draw(&self, c: &mut Canvas) -> Result<(), String> {
            self(c)
        }
    }
}

/// Writes `chart` as `<dir>/<stem>.png` and `.svg`, creating `dir`. Returns the paths, PNG first.
pub fn render<C: Chart>(dir: &Path, stem: &str, chart: &C) -> Result<Vec<PathBuf>, ChartError> {
    let fail = |path: PathBuf| move |message| ChartError::Draw { path, message };
    if stem.is_empty() || stem.contains(['/', '\\']) || stem == "." || stem == ".." {
        return Err(fail(dir.join(stem))(format!("invalid chart file stem {stem:?}")));
    }
    std::fs::create_dir_all(dir).map_err(|source| ChartError::CreateDir { path: dir.to_path_buf(), source })?;
    let (png, svg) = (dir.join(format!("{stem}.png")), dir.join(format!("{stem}.svg")));
    let ((w, h), scale) = (C::SIZE, f64::from(PNG_DPI.load(Ordering::Relaxed)) / 100.0);
    for (path, mut canvas) in [(&png, Canvas::png(&png, (w, h), scale)), (&svg, Canvas::svg((w, h)))] {
        chart.draw(&mut canvas).map_err(fail(path.clone()))?;
        // The PNG is written by its backend; the SVG comes back as a document.
        if let Some(document) = canvas.finish(&format!("width=\"{w}\" height=\"{h}\"")).map_err(fail(path.clone()))? {
            std::fs::write(path, document).map_err(|e| fail(path.clone())(e.to_string()))?;
        }
    }
    Ok(vec![png, svg])
}

// Font sizes in px (ab_glyph's scale, ascent − descent).
const TITLE_PX: f64 = 28.0;
const AXIS_DESC_PX: f64 = 20.0;
const TICK_PX: f64 = 16.0;
const LEGEND_PX: f64 = 16.0;
const NOTE_PX: f64 = 14.0;

// Frame geometry in logical pixels; the plot rectangle is what is left.
const TOP_PX: f64 = 62.0;
const FOOTER_PX: f64 = 34.0;
const LEFT_MARGIN_PX: f64 = 14.0;
const RIGHT_MARGIN_PX: f64 = 34.0;
const RIGHT_AXIS_PX: f64 = 100.0;
const X_LABEL_AREA_PX: f64 = 60.0;
const Y_LABEL_AREA_PX: f64 = 86.0;
const SWATCH_W: f64 = 36.0;
const MARKER_R: f64 = 4.0;
const LINE_W: f64 = 3.0;
const BAND_ALPHA: f64 = 0.22;
/// Half the width of a bar (and of a one-year area), in years.
const BAR_HALF: f64 = 0.32;

// Colours. The resident and hukou pairs differ in hue and lightness, history in darkness.
const BLUE: RGBColor = RGBColor(0, 72, 150);
const BLUE_LIGHT: RGBColor = RGBColor(86, 160, 230);
const RED: RGBColor = RGBColor(160, 20, 30);
const RED_LIGHT: RGBColor = RGBColor(235, 110, 90);
const GOAL_GREY: RGBColor = RGBColor(105, 105, 105);
const TEXT_GREY: RGBColor = RGBColor(80, 80, 80);
const AXIS_GREY: RGBColor = RGBColor(120, 120, 120);
const GRID: RGBColor = RGBColor(228, 228, 228);
const MINOR_GRID: RGBColor = RGBColor(243, 243, 243);
const PLAN_SHADE: RGBColor = RGBColor(253, 246, 222);
const PLAN_TEXT: RGBColor = RGBColor(150, 120, 40);
const BAR_TEAL: RGBColor = RGBColor(42, 140, 128);
const MOVERS_PURPLE: RGBColor = RGBColor(140, 60, 150);
/// Whiskers and the edges of dots.
const INK: RGBColor = RGBColor(60, 60, 60);
/// Official history on the stand-alone charts.
const OFFICIAL_INK: RGBColor = RGBColor(30, 30, 30);

/// Colour-blind-safe palette (Okabe–Ito order) for series and layers. Okabe–Ito's yellow is
/// replaced by a dark brown and its sky blue by a teal: on white, yellow did not read, and
/// amber next to olive or sky blue next to blue were hard to tell apart.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(120, 70, 30),   // brown
    RGBColor(0, 170, 190),   // teal
    RGBColor(110, 110, 110), // grey
];

/// First and last year of the 2024–2029 new-urbanization action plan.
const PLAN_START_YEAR: i32 = 2024;
const PLAN_END_YEAR: i32 = 2029;
/// Years of a chart without data: the base year and the plan period.
const PLAN_YEARS: (i32, i32) = (PLAN_START_YEAR - 1, PLAN_END_YEAR);
/// Average annual hukou transfers 2014–2023 reported by the MPS, millions.
const MPS_TRANSFERS_M: f64 = 15.0;

/// `color` mixed with white: opaque, `strength` 1 = the colour itself.
fn tint(color: RGBColor, strength: f64) -> RGBColor {
    let mix = |c: u8| (255.0 - strength * (255.0 - f64::from(c))).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// Sorts by year and splits into runs of finite values, so a missing year breaks the line.
fn runs(points: impl IntoIterator<Item = (i32, Option<f64>)>) -> Runs {
    let mut points: Vec<_> = points.into_iter().collect();
    points.sort_by_key(|&(year, _)| year);
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (year, value) in points {
        match value.filter(|v| v.is_finite()) {
            Some(v) => out.last_mut().into_iter().for_each(|r| r.push((f64::from(year), v))),
            None => out.push(Vec::new()),
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

/// Smallest and largest year, or `None` for no years.
fn year_span(years: impl IntoIterator<Item = i32>) -> Option<(i32, i32)> {
    let (lo, hi) = years.into_iter().fold((i32::MAX, i32::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    (lo <= hi).then_some((lo, hi))
}

/// Smallest and largest of `values`; `(∞, −∞)` for none.
fn min_max(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values.into_iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// A series as runs of `(x, y)` points.
type Runs = Vec<Vec<(f64, f64)>>;

fn flat(runs: &[Vec<(f64, f64)>]) -> impl Iterator<Item = f64> + '_ {
    runs.iter().flatten().map(|&(_, v)| v)
}

/// A share in percent that can be plotted; values no share can take are skipped.
fn rate(v: f64) -> Option<f64> {
    (-0.5..=100.5).contains(&v).then_some(v)
}

/// Persons → millions, skipping NaN/inf and (impossible) negative counts.
fn millions(v: f64) -> Option<f64> {
    Some(v / 1e6).filter(|m| m.is_finite() && *m >= 0.0)
}

/// Axis top with ~35 % headroom above `max` for the legend.
fn top_with_headroom(max: f64) -> f64 {
    let max = if max.is_finite() && max > 0.0 { max } else { 1.0 };
    let step = tick_step(max * 1.35);
    let top = (max * 1.35 / step).ceil() * step;
    if top.is_finite() { top } else { max }
}

// --- The run's charts ---

/// Writes urbanization, gap and settlements (PNG and SVG) into `dir`; returns the paths.
pub fn render_run_charts(dir: &Path, input: &ChartInput) -> Result<Vec<PathBuf>, ChartError> {
    let mut written = render(dir, "urbanization", &|c: &mut Canvas| draw_urbanization(c, input))?;
    written.extend(render(dir, "gap", &|c: &mut Canvas| draw_gap(c, input))?);
    written.extend(render(dir, "settlements", &|c: &mut Canvas| draw_settlements(c, input))?);
    Ok(written)
}

/// `prefix` and the scenario's name (in a run chart's title or footer), nothing without a name.
fn scenario(input: &ChartInput, prefix: &str) -> String {
    if input.scenario_name.is_empty() { String::new() } else { format!("{prefix}{}", input.scenario_name) }
}

/// Years on the rate charts: all data plus the goal year, so the plan horizon shows.
fn history_span(input: &ChartInput) -> (i32, i32) {
    let years = input.official.iter().map(|p| p.year).chain(input.simulated.iter().map(|p| p.year));
    year_span(years.chain([input.goal_year])).unwrap_or((input.goal_year, input.goal_year))
}

/// The official hukou rate changes source between 2014 and 2015 (35.9 % → 39.9 %); both
/// rate charts say so, or the step reads as a policy effect. Returns the middle of the step.
fn hukou_break(input: &ChartInput, value: impl Fn(&OfficialPoint) -> Option<f64>) -> Option<P> {
    let at = |year| input.official.iter().find(|p| p.year == year).and_then(&value);
    Some((2014.5, 0.5 * (at(2014)? + at(2015)?)))
}

fn draw_urbanization(c: &mut Canvas, input: &ChartInput) -> Result<(), String> {
    let official = |v: fn(&OfficialPoint) -> Option<f64>| runs(input.official.iter().map(|p| (p.year, v(p))));
    let simulated = |v: fn(&NationalPoint) -> f64| runs(input.simulated.iter().map(|p| (p.year, rate(v(p)))));
    let series = [
        (official(|p| rate(p.urbanization_rate_pct)), BLUE, Dash::Solid, "Resident urbanization rate (NBS)"),
        (simulated(|p| p.urbanization_rate_pct), BLUE_LIGHT, Dash::Dashed, "Resident urbanization rate (simulated)"),
        (official(|p| p.hukou_urbanization_rate_pct.and_then(rate)), RED, Dash::Solid, "Hukou urbanization rate (NBS)"),
        (simulated(|p| p.hukou_urbanization_rate_pct), RED_LIGHT, Dash::Dashed, "Hukou urbanization rate (simulated)"),
    ];
    let goal = rate(input.goal_pct);
    let y = Axis::auto(series.iter().flat_map(|s| flat(&s.0)).chain(goal), false);
    // Shares: never below 0 %.
    let y = if y.lo < 0.0 { Axis::values(0.0, y.hi.max(5.0)) } else { y };
    let years = history_span(input);
    let name = scenario(input, " — ");
    let title = format!("Urbanization rates, {}–{}{name}", years.0, years.1);
    let mut f = Frame::years(c, &title, years, y, RIGHT_MARGIN_PX)?;
    f.year_axes(input.goal_year, "Share of total population (%)")?;
    if let Some(goal) = goal {
        f.reference(goal, GOAL_GREY, Some(&format!("Plan goal ≈{goal:.0}% by {}", input.goal_year)))?;
    }
    for (runs, color, look, label) in &series {
        f.series(runs, *color, *look, label)?;
    }
    f.centre_note(f.legend.is_empty(), "No data")?;
    if let Some((x, y)) = hukou_break(input, |p| p.hukou_urbanization_rate_pct).map(|p| f.px(p)) {
        f.c.label("← series break 2014→2015, not a policy effect", (x + 12.0, y), font(NOTE_PX).in_color(RED))?;
    }
    f.legend(&[(1.0, 1.0), (0.0, 0.0), (0.0, 1.0), (1.0, 0.0)])?;
    c.footer(input.source_note, &scenario(input, "Scenario: "))
}

fn draw_gap(c: &mut Canvas, input: &ChartInput) -> Result<(), String> {
    let gap = |v: f64| (-100.5..=100.5).contains(&v).then_some(v);
    let official_gap =
        |p: &OfficialPoint| gap(rate(p.urbanization_rate_pct)? - p.hukou_urbanization_rate_pct.and_then(rate)?);
    let simulated_gap = |p: &NationalPoint| {
        gap(p.gap_pp).or_else(|| gap(rate(p.urbanization_rate_pct)? - rate(p.hukou_urbanization_rate_pct)?))
    };
    let off = runs(input.official.iter().map(|p| (p.year, official_gap(p))));
    let sim = runs(input.simulated.iter().map(|p| (p.year, simulated_gap(p))));
    // Zero-based: the gap is a magnitude, and a truncated axis would turn a wobble into a swing.
    let y = Axis::auto(flat(&off).chain(flat(&sim)), true);
    let title = "Gap between resident and hukou urbanization rates";
    let mut f = Frame::years(c, title, history_span(input), y, RIGHT_MARGIN_PX)?;
    f.year_axes(input.goal_year, "Gap (percentage points)")?;
    f.series(&off, RED, Dash::Solid, "Gap, NBS (resident − hukou rate)")?;
    f.series(&sim, RED_LIGHT, Dash::Dashed, "Gap, simulated")?;
    // Endpoints labelled, so the level reads without the grid (the last official and first
    // simulated year may coincide).
    let ends = [
        (off.first().and_then(|r| r.first()), RED),
        (off.last().and_then(|r| r.last()), RED),
        (sim.last().and_then(|r| r.last()), RED_LIGHT),
    ];
    let mut labelled = Vec::new();
    for (point, color) in ends {
        if let Some(&(x, v)) = point.filter(|p| !labelled.contains(&p.0)) {
            labelled.push(x);
            f.annotate((x, v), &format!("{v:.1}"), color)?;
        }
    }
    f.centre_note(f.legend.is_empty(), "No data")?;
    if let Some((x, y)) = hukou_break(input, official_gap).map(|p| f.px(p)) {
        let note = font(NOTE_PX).in_color(RED);
        f.c.label("↑ series break 2014→2015 in the official hukou rate", (x - 6.0, y + 62.0), note)?;
    }
    f.legend(&[(1.0, 1.0), (0.0, 1.0), (1.0, 0.0), (0.0, 0.0)])?;
    c.footer(input.source_note, &scenario(input, "Scenario: "))
}

fn draw_settlements(c: &mut Canvas, input: &ChartInput) -> Result<(), String> {
    let sim = input.simulated;
    // Only years with a flow: the base year has none.
    let span = year_span(sim.iter().filter(|p| p.settlements.is_finite() || p.movers.is_finite()).map(|p| p.year));
    let years = span.unwrap_or((PLAN_START_YEAR - 1, input.goal_year.max(PLAN_START_YEAR)));
    let bars: Vec<P> = sim.iter().filter_map(|p| Some((f64::from(p.year), millions(p.settlements)?))).collect();
    let movers = runs(sim.iter().map(|p| (p.year, millions(p.movers))));
    let max_bars = bars.iter().map(|b| b.1).fold(MPS_TRANSFERS_M, f64::max);
    let max_movers = flat(&movers).fold(0.0, f64::max);
    // Movers usually outnumber settlements; past 2.5× they get their own (right-hand) axis.
    let dual = max_movers > 2.5 * max_bars;
    let y = Axis::values(0.0, top_with_headroom(if dual { max_bars } else { max_bars.max(max_movers) }));
    let title = "Settlements: rural migrants granted urban hukou";
    let mut f = Frame::years(c, title, years, y, if dual { RIGHT_AXIS_PX } else { RIGHT_MARGIN_PX })?;
    f.year_axes(input.goal_year, "Persons (millions)")?;
    for &(x, v) in &bars {
        f.bar(x, (0.0, v), BAR_TEAL, None)?;
    }
    if !bars.is_empty() {
        f.legend.push(("Settlements (granted urban hukou)".to_string(), Swatch::Bar(BAR_TEAL)));
    }
    // Over the bars, so it stays visible where they cross it.
    f.reference(MPS_TRANSFERS_M, TEXT_GREY, None)?;
    f.legend.push(("≈15M/yr hukou transfers 2014–2023 (MPS)".to_string(), Swatch::Line(TEXT_GREY, Dash::Dashed, 2.0)));
    let (movers, label) = if dual {
        let k = f.right_axis(max_movers, "Movers (millions)", MOVERS_PURPLE)?;
        let scaled = movers.iter().map(|r| r.iter().map(|&(x, v)| (x, v * k)).collect()).collect();
        (scaled, "Movers (changed residence unit; right axis)")
    } else {
        (movers, "Movers (changed residence unit)")
    };
    f.series(&movers, MOVERS_PURPLE, Dash::Solid, label)?;
    f.centre_note(span.is_none(), "No simulated flows in this run")?;
    f.legend(&[(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])?;
    // Settlements are the MPS's series, not the NBS's: the chart cites what it shows.
    c.footer(SETTLEMENTS_SOURCE_NOTE, &scenario(input, "Scenario: "))
}

#[cfg(test)]
mod tests;
