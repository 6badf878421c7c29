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
//! Text is rasterised with the embedded DejaVu Sans font through plotters'
//! `ab_glyph` backend, so rendering never depends on system fonts. Bad data
//! (NaN/inf values, empty or single-year inputs) is skipped or given a
//! sensible default range rather than causing a panic.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

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
    ensure_fonts()?;
    let png = dir.join(format!("{}.png", kind.file_stem()));
    let svg = dir.join(format!("{}.svg", kind.file_stem()));

    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |message: String| ChartError::Draw { path, message }
    };

    {
        let root = BitMapBackend::new(&png, CHART_SIZE).into_drawing_area();
        draw_chart(&root, kind, input).map_err(fail(&png))?;
        // `present` is where the PNG is encoded and written; dropping the
        // backend would also write it but would swallow any I/O error.
        root.present().map_err(|e| fail(&png)(e.to_string()))?;
    }
    {
        let root = SVGBackend::new(&svg, CHART_SIZE).into_drawing_area();
        draw_chart(&root, kind, input).map_err(fail(&svg))?;
        root.present().map_err(|e| fail(&svg)(e.to_string()))?;
    }
    Ok([png, svg])
}

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

const TITLE_PX: u32 = 28;
const AXIS_DESC_PX: u32 = 20;
const TICK_PX: u32 = 16;
const LEGEND_PX: u32 = 16;
const NOTE_PX: u32 = 14;
/// Height reserved under the plot for the source note.
const FOOTER_PX: u32 = 34;

const BLUE: RGBColor = RGBColor(22, 64, 128);
const BLUE_LIGHT: RGBColor = RGBColor(74, 134, 214);
const RED: RGBColor = RGBColor(150, 24, 32);
const RED_LIGHT: RGBColor = RGBColor(222, 86, 86);
const GOAL_GREY: RGBColor = RGBColor(110, 110, 110);
const TEXT_GREY: RGBColor = RGBColor(80, 80, 80);
const GRID: RGBColor = RGBColor(228, 228, 228);
const PLAN_SHADE: RGBColor = RGBColor(253, 246, 222);
const BAR_TEAL: RGBColor = RGBColor(42, 140, 128);
const MOVERS_ORANGE: RGBColor = RGBColor(214, 110, 20);

/// First year of the 2024–2029 new-urbanization action plan.
const PLAN_START_YEAR: i32 = 2024;
/// Average annual hukou transfers 2014–2023 reported by the MPS, millions.
const MPS_TRANSFERS_M: f64 = 15.0;

fn font(px: u32) -> TextStyle<'static> {
    (FONT, px).into_font().color(&BLACK)
}

fn font_grey(px: u32) -> TextStyle<'static> {
    (FONT, px).into_font().color(&TEXT_GREY)
}

fn title_font() -> TextStyle<'static> {
    (FONT, TITLE_PX, FontStyle::Bold).into_font().color(&BLACK)
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

/// Year tick positions: every year when labels fit, otherwise every second
/// year counted back from the last one so the goal year is always labelled.
fn year_ticks(first: i32, last: i32, px_per_year: f64) -> Vec<f64> {
    // "2029" at 16 px is about 40 px wide; keep ~10 px between labels.
    let step = if px_per_year >= 50.0 {
        1
    } else if px_per_year >= 25.0 {
        2
    } else {
        5
    };
    let mut ticks: Vec<f64> = (first..=last).rev().step_by(step).map(f64::from).collect();
    ticks.reverse();
    ticks
}

/// Value-axis range covering `values` (and `extra` reference values) with a
/// little headroom, snapped outward to multiples of `snap`. Falls back to
/// `default` when nothing is finite, and never returns an empty range.
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

/// Simulated gap: the reported `gap_pp`, or the difference of the two rates
/// if the column is missing/NaN.
fn simulated_gap(p: &NationalPoint) -> Option<f64> {
    finite(p.gap_pp).or_else(|| finite(p.urbanization_rate_pct - p.hukou_urbanization_rate_pct))
}

/// Official gap, only where both rates are published.
fn official_gap(p: &OfficialPoint) -> Option<f64> {
    let hukou = p.hukou_urbanization_rate_pct.and_then(finite)?;
    finite(p.urbanization_rate_pct - hukou)
}

/// Millions, skipping NaN/inf.
fn millions(v: f64) -> Option<f64> {
    finite(v / 1e6)
}

// ---------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------

/// Linear year axis with hand-picked tick years.
///
/// Positions are `f64` so bars and the plan band can start half a year
/// before a tick. Plotters' own `WithKeyPoints` wrapper would do, but in
/// 0.3.7 it loses the f64 label formatter, so mesh drawing doesn't compile.
#[derive(Clone)]
struct YearAxis {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for YearAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Light (minor) grid lines would only add clutter; ticks are bold points.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// Every chart uses years on x and a linear value axis on y.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<YearAxis, RangedCoordf64>>;

/// Plotters' errors carry the backend type; flatten them for `ChartError`.
fn msg<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    kind: ChartKind,
    input: &ChartInput,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(msg)?;
    // Reserve a strip at the bottom for the source note so it can never
    // collide with the x-axis description.
    let (body, footer) = root.split_vertically(CHART_SIZE.1 - FOOTER_PX);
    draw_footer(&footer, input)?;
    match kind {
        ChartKind::Urbanization => draw_urbanization(&body, input),
        ChartKind::Gap => draw_gap(&body, input),
        ChartKind::Settlements => draw_settlements(&body, input),
    }
}

/// Source note on the left, scenario name on the right, both small and grey.
fn draw_footer<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    input: &ChartInput,
) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let y = h as i32 / 2;
    let left = font_grey(NOTE_PX).pos(Pos::new(HPos::Left, VPos::Center));
    area.draw(&Text::new(input.source_note.to_string(), (20, y), left))
        .map_err(msg)?;
    if !input.scenario_name.is_empty() {
        let right = font_grey(NOTE_PX).pos(Pos::new(HPos::Right, VPos::Center));
        let label = format!("Scenario: {}", input.scenario_name);
        area.draw(&Text::new(label, (w as i32 - 20, y), right))
            .map_err(msg)?;
    }
    Ok(())
}

const Y_LABEL_AREA_PX: u32 = 80;
const X_LABEL_AREA_PX: u32 = 60;
const MARGIN_PX: u32 = 20;
const RIGHT_MARGIN_PX: u32 = 30;

/// Builds the common frame (title, year axis, value axis) without drawing
/// anything, so callers can paint backgrounds before the grid.
fn build_frame<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    years: (i32, i32),
    y_range: (f64, f64),
    right_axis: bool,
) -> Result<Chart<'a, DB>, String> {
    let right_area = if right_axis { Y_LABEL_AREA_PX } else { 0 };
    // Half a year of padding so markers/bars at the ends don't sit on the axes.
    let x_range = (f64::from(years.0) - 0.5)..(f64::from(years.1) + 0.5);
    let plot_w = f64::from(
        CHART_SIZE.0 - Y_LABEL_AREA_PX - right_area - RIGHT_MARGIN_PX.max(right_area) - MARGIN_PX,
    );
    let ticks = year_ticks(years.0, years.1, plot_w / (x_range.end - x_range.start));

    ChartBuilder::on(area)
        .caption(title, title_font())
        .margin(MARGIN_PX)
        .margin_right(if right_axis {
            MARGIN_PX
        } else {
            RIGHT_MARGIN_PX
        })
        .x_label_area_size(X_LABEL_AREA_PX)
        .y_label_area_size(Y_LABEL_AREA_PX)
        .right_y_label_area_size(right_area)
        .build_cartesian_2d(
            YearAxis {
                inner: x_range.into(),
                ticks,
            },
            y_range.0..y_range.1,
        )
        .map_err(msg)
}

/// Grid, ticks and axis descriptions. Only the year ticks and the value
/// key points get grid lines; plotters' finer "light" lines are too busy.
fn draw_mesh<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    y_desc: &str,
    y_decimals: usize,
) -> Result<(), String> {
    let x_fmt = |x: &f64| format!("{x:.0}");
    let y_fmt = move |y: &f64| format!("{y:.y_decimals$}");
    chart
        .configure_mesh()
        .x_desc("Year")
        .y_desc(y_desc)
        .axis_desc_style(font(AXIS_DESC_PX))
        .label_style(font(TICK_PX))
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_labels(10)
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(TEXT_GREY)
        .draw()
        .map_err(msg)
}

/// Light band behind the 2024–goal_year plan period, labelled at the top.
fn shade_plan_period<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    years: (i32, i32),
    y_range: (f64, f64),
    goal_year: i32,
) -> Result<(), String> {
    let start = PLAN_START_YEAR.max(years.0);
    let end = goal_year.min(years.1);
    if start > end {
        return Ok(()); // plan period not on this chart
    }
    let x0 = f64::from(start) - 0.5;
    let x1 = f64::from(end) + 0.5;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(x0, y_range.0), (x1, y_range.1)],
            PLAN_SHADE.filled(),
        )))
        .map_err(msg)?;
    let label = format!("Plan period {PLAN_START_YEAR}–{goal_year}");
    let style = font_grey(LEGEND_PX).pos(Pos::new(HPos::Left, VPos::Top));
    chart
        .draw_series(std::iter::once(
            EmptyElement::at((x0, y_range.1)) + Text::new(label, (8, 8), style),
        ))
        .map_err(msg)?;
    Ok(())
}

/// Horizontal dashed reference line across the whole chart. If `label` is
/// given it is written just above the line's left end.
fn reference_line<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    years: (i32, i32),
    value: f64,
    color: RGBColor,
    label: Option<&str>,
) -> Result<(), String> {
    let x0 = f64::from(years.0) - 0.5;
    let x1 = f64::from(years.1) + 0.5;
    let style = color.stroke_width(2);
    chart
        .draw_series(DashedLineSeries::new(
            [(x0, value), (x1, value)],
            12,
            8,
            style,
        ))
        .map_err(msg)?;
    if let Some(label) = label {
        let text = font(LEGEND_PX)
            .color(&color)
            .pos(Pos::new(HPos::Left, VPos::Bottom));
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x0, value)) + Text::new(label.to_string(), (10, -6), text),
            ))
            .map_err(msg)?;
    }
    Ok(())
}

/// How a line series is drawn: recorded history is solid with filled
/// markers, the projection is dashed and lighter with hollow markers, so the
/// two read apart even in greyscale.
#[derive(Clone, Copy)]
enum Look {
    History,
    Projection,
}

const MARKER_R: i32 = 4;
const LINE_W: u32 = 3;

/// Draws `runs` (pieces of one series) and attaches `label` to the legend
/// once, and only if there is something to show.
fn draw_runs<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    runs: &[Vec<(f64, f64)>],
    color: RGBColor,
    look: Look,
    label: &str,
) -> Result<(), String> {
    let line = color.stroke_width(LINE_W);
    let mut labelled = false;
    for run in runs {
        match look {
            Look::History => chart
                .draw_series(LineSeries::new(run.iter().copied(), line))
                .map_err(msg)?,
            Look::Projection => chart
                .draw_series(DashedLineSeries::new(run.iter().copied(), 10, 6, line))
                .map_err(msg)?,
        };
        let markers = run.iter().map(|&p| {
            let fill = match look {
                Look::History => color.filled(),
                Look::Projection => WHITE.filled(),
            };
            EmptyElement::at(p)
                + Circle::new((0, 0), MARKER_R, fill)
                + Circle::new((0, 0), MARKER_R, color.stroke_width(2))
        });
        let anno = chart.draw_series(markers).map_err(msg)?;
        if !labelled {
            labelled = true;
            anno.label(label)
                .legend(move |(x, y)| legend_glyph(x, y, color, look));
        }
    }
    Ok(())
}

/// Legend swatch matching [`draw_runs`]: a short (dashed) line with a marker.
fn legend_glyph<'a, DB: DrawingBackend + 'a>(
    x: i32,
    y: i32,
    color: RGBColor,
    look: Look,
) -> impl IntoDynElement<'a, DB, (i32, i32)> + 'a {
    let line = color.stroke_width(LINE_W);
    // Always two segments so both looks share one element type; history's
    // segments simply meet under the marker.
    let (left_end, right_start, fill) = match look {
        Look::History => (17, 17, color.filled()),
        Look::Projection => (9, 25, WHITE.filled()),
    };
    EmptyElement::at((x, y))
        + PathElement::new(vec![(0, 0), (left_end, 0)], line)
        + PathElement::new(vec![(right_start, 0), (34, 0)], line)
        + Circle::new((17, 0), MARKER_R, fill)
        + Circle::new((17, 0), MARKER_R, color.stroke_width(2))
}

/// Legend box in the chosen corner, white and slightly opaque so any line
/// that does pass beneath stays faintly visible.
fn draw_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(font(LEGEND_PX))
        .legend_area_size(44)
        .margin(12)
        .background_style(WHITE.mix(0.92))
        .border_style(RGBColor(190, 190, 190))
        .draw()
        .map_err(msg)
}

/// Small value label centred above a data point.
fn annotate<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    point: (f64, f64),
    text: String,
    color: RGBColor,
) -> Result<(), String> {
    let style = font(LEGEND_PX)
        .color(&color)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    chart
        .draw_series(std::iter::once(
            EmptyElement::at(point) + Text::new(text, (0, -10), style),
        ))
        .map_err(msg)?;
    Ok(())
}

fn flat(runs: &[Vec<(f64, f64)>]) -> impl Iterator<Item = f64> + '_ {
    runs.iter().flatten().map(|&(_, v)| v)
}

fn draw_urbanization<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    input: &ChartInput,
) -> Result<(), String> {
    let years = history_span(input);
    let off = input.official;
    let sim = input.simulated;
    let off_resident = runs(
        off.iter()
            .map(|p| (p.year, Some(p.urbanization_rate_pct)))
            .collect(),
    );
    let off_hukou = runs(
        off.iter()
            .map(|p| (p.year, p.hukou_urbanization_rate_pct))
            .collect(),
    );
    let sim_resident = runs(
        sim.iter()
            .map(|p| (p.year, Some(p.urbanization_rate_pct)))
            .collect(),
    );
    let sim_hukou = runs(
        sim.iter()
            .map(|p| (p.year, Some(p.hukou_urbanization_rate_pct)))
            .collect(),
    );

    let goal = finite(input.goal_pct);
    let values = flat(&off_resident)
        .chain(flat(&off_hukou))
        .chain(flat(&sim_resident))
        .chain(flat(&sim_hukou))
        .chain(goal);
    let (lo, hi) = value_range(values, 5.0, false, (0.0, 100.0));
    // Rates are shares: never show below 0 % or (unless data says so) above 100 %.
    let y_range = (
        lo.max(0.0),
        if hi > 100.0 && lo < 100.0 {
            hi.min(105.0)
        } else {
            hi
        },
    );

    let title = if input.scenario_name.is_empty() {
        format!("Urbanization rates, {}–{}", years.0, years.1)
    } else {
        format!(
            "Urbanization rates, {}–{} — {}",
            years.0, years.1, input.scenario_name
        )
    };
    let mut chart = build_frame(area, &title, years, y_range, false)?;
    shade_plan_period(&mut chart, years, y_range, input.goal_year)?;
    draw_mesh(&mut chart, "Share of total population (%)", 0)?;
    if let Some(goal) = goal {
        let label = format!("Plan goal ≈{goal:.0}% by {}", input.goal_year);
        reference_line(&mut chart, years, goal, GOAL_GREY, Some(&label))?;
    }

    draw_runs(
        &mut chart,
        &off_resident,
        BLUE,
        Look::History,
        "Resident urbanization rate (NBS)",
    )?;
    draw_runs(
        &mut chart,
        &sim_resident,
        BLUE_LIGHT,
        Look::Projection,
        "Resident urbanization rate (simulated)",
    )?;
    draw_runs(
        &mut chart,
        &off_hukou,
        RED,
        Look::History,
        "Hukou urbanization rate (NBS)",
    )?;
    draw_runs(
        &mut chart,
        &sim_hukou,
        RED_LIGHT,
        Look::Projection,
        "Hukou urbanization rate (simulated)",
    )?;
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
}

fn draw_gap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    input: &ChartInput,
) -> Result<(), String> {
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
    let y_range = value_range(values, 5.0, true, (0.0, 25.0));

    let mut chart = build_frame(
        area,
        "Gap between resident and hukou urbanization rates",
        years,
        y_range,
        false,
    )?;
    shade_plan_period(&mut chart, years, y_range, input.goal_year)?;
    draw_mesh(&mut chart, "Gap (percentage points)", 0)?;
    draw_runs(
        &mut chart,
        &off_gap,
        RED,
        Look::History,
        "Gap, NBS (resident − hukou rate)",
    )?;
    draw_runs(
        &mut chart,
        &sim_gap,
        RED_LIGHT,
        Look::Projection,
        "Gap, simulated",
    )?;

    // Label the endpoints so the level can be read without the grid.
    let first_off = off_gap.first().and_then(|r| r.first());
    let last_off = off_gap.last().and_then(|r| r.last());
    let last_sim = sim_gap.last().and_then(|r| r.last());
    for (point, color) in [(first_off, RED), (last_off, RED), (last_sim, RED_LIGHT)] {
        if let Some(&(x, v)) = point {
            annotate(&mut chart, (x, v), format!("{v:.1}"), color)?;
        }
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
}

/// Snap step for an axis whose top is `max`: 1/2/5 × 10^k, about 4–10 steps.
fn nice_step(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 5.0;
    }
    let mag = 10f64.powf(max.log10().floor());
    if max / mag < 2.0 {
        mag / 5.0
    } else if max / mag < 5.0 {
        mag / 2.0
    } else {
        mag
    }
}

/// Axis top with room for the legend above the data (~30 % headroom).
fn top_with_headroom(max: f64) -> f64 {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let step = nice_step(max * 1.4);
    (max * 1.4 / step).ceil() * step
}

fn draw_settlements<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    input: &ChartInput,
) -> Result<(), String> {
    let sim = input.simulated;
    let span = year_span(sim.iter().map(|p| p.year));
    // Without simulated years still draw the plan period, so the chart is an
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
    // Movers usually outnumber settlements several times over; on a shared
    // axis the bars would flatten, so past 2.5× they get their own axis.
    let dual = max_movers > 2.5 * max_bars;
    let y_top = top_with_headroom(if dual {
        max_bars
    } else {
        max_bars.max(max_movers)
    });
    let y_range = (0.0, y_top);
    let y2_top = top_with_headroom(max_movers);

    let mut chart = build_frame(
        area,
        "Settlements: rural migrants granted urban hukou",
        years,
        y_range,
        dual,
    )?;
    shade_plan_period(&mut chart, years, y_range, input.goal_year)?;
    draw_mesh(&mut chart, "Persons (millions)", 0)?;

    let bar_style = BAR_TEAL.mix(0.85).filled();
    let anno =
        chart
            .draw_series(bars.iter().map(|&(x, v)| {
                Rectangle::new([(x - 0.32, 0.0), (x + 0.32, v.max(0.0))], bar_style)
            }))
            .map_err(msg)?;
    if !bars.is_empty() {
        anno.label("Settlements (granted urban hukou)")
            .legend(move |(x, y)| Rectangle::new([(x + 5, y - 7), (x + 29, y + 7)], bar_style));
    }

    let ref_label = "≈15M/yr hukou transfers 2014–2023 (MPS)";
    reference_line(&mut chart, years, MPS_TRANSFERS_M, TEXT_GREY, None)?;
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(msg)?
        .label(ref_label)
        .legend(|(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (12, 0)], TEXT_GREY.stroke_width(2))
                + PathElement::new(vec![(22, 0), (34, 0)], TEXT_GREY.stroke_width(2))
        });

    if span.is_none() {
        let (w, h) = chart.plotting_area().dim_in_pixel();
        let style = font_grey(AXIS_DESC_PX).pos(Pos::new(HPos::Center, VPos::Center));
        chart
            .plotting_area()
            .strip_coord_spec()
            .draw(&Text::new(
                "No simulated years in this run",
                (w as i32 / 2, h as i32 / 2),
                style,
            ))
            .map_err(msg)?;
    }

    if dual {
        // Draw movers in primary coordinates scaled so the right axis reads
        // true values: both axes start at 0, so one factor aligns them.
        let k = y_top / y2_top;
        let scaled: Vec<Vec<(f64, f64)>> = movers
            .iter()
            .map(|r| r.iter().map(|&(x, v)| (x, v * k)).collect())
            .collect();
        draw_runs(
            &mut chart,
            &scaled,
            MOVERS_ORANGE,
            Look::History,
            "Movers (right axis)",
        )?;
        let x_range = (f64::from(years.0) - 0.5)..(f64::from(years.1) + 0.5);
        let mut dual_chart = chart.set_secondary_coord(x_range, 0.0..y2_top);
        let y2_fmt = |y: &f64| format!("{y:.0}");
        dual_chart
            .configure_secondary_axes()
            .y_desc("Movers (millions)")
            .axis_desc_style(font(AXIS_DESC_PX))
            .label_style(font(TICK_PX))
            .y_label_formatter(&y2_fmt)
            .axis_style(TEXT_GREY)
            .draw()
            .map_err(msg)?;
        draw_legend(&mut dual_chart, SeriesLabelPosition::UpperLeft)?;
    } else {
        draw_runs(
            &mut chart,
            &movers,
            MOVERS_ORANGE,
            Look::History,
            "Movers (changed residence unit)",
        )?;
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    }

    Ok(())
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

    /// Writes the sample charts to `$MIGRASIM_CHART_PREVIEW` (if set) so a
    /// human can look at them: `MIGRASIM_CHART_PREVIEW=/tmp/charts-preview
    /// cargo test --lib charts::tests::preview`.
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
    }
}
