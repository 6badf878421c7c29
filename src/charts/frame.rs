//! Axes and the plot frame shared by every chart with axes: tick choice and labels, grid,
//! mapping data to pixels, and the series, bands, bars, areas and reference lines drawn in it.

use super::canvas::*;
use super::*;

/// One axis: range, labelled ticks (with grid lines) and light minor grid lines.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<(f64, String)>,
    pub minor: Vec<f64>,
    /// Distance between ticks (for labels of values between them).
    pub step: f64,
}

impl Axis {
    /// Round ticks over `lo..hi`; compact labels ("150M") for large magnitudes.
    pub fn values(lo: f64, hi: f64) -> Self {
        let step = tick_step(hi - lo);
        let compact = (1e4..1e15).contains(&lo.abs().max(hi.abs()));
        let label = |v: f64| {
            if compact {
                compact_number(v, step, lo.abs().max(hi.abs()), false)
            } else if v.abs() >= 1e9 {
                format!("{v:.2e}")
            } else {
                format!("{v:.*}", decimals_for(step))
            }
        };
        let ticks = value_ticks(lo, hi, step).into_iter().map(|v| (v, label(v))).collect();
        Axis { lo, hi, ticks, minor: Vec::new(), step }
    }

    /// Covers the finite `values` with ~5 % headroom, snapped to round ticks, from 0 if
    /// `from_zero`; `0..1` without finite data.
    pub fn auto(values: impl IntoIterator<Item = f64>, from_zero: bool) -> Self {
        let (mut lo, mut hi) = min_max(values.into_iter().filter(|v| v.is_finite()));
        if lo > hi || !(hi - lo).is_finite() {
            return Axis::values(0.0, 1.0);
        }
        if from_zero {
            (lo, hi) = (lo.min(0.0), hi.max(0.0));
        }
        let snap = tick_step(if hi > lo { hi - lo } else { hi.abs().max(1.0) });
        let pad = ((hi - lo) * 0.05).max(snap * 0.2);
        let mut a = ((lo - pad) / snap).floor() * snap;
        let mut b = ((hi + pad) / snap).ceil() * snap;
        if from_zero {
            a = if lo >= 0.0 { 0.0 } else { a };
            b = if hi <= 0.0 { 0.0 } else { b };
        }
        if !(b - a).is_finite() || a >= b {
            return Axis::values(0.0, 1.0);
        }
        // The range ends on ticks of the axis' own step.
        let step = tick_step(b - a);
        Axis::values((a / step).floor() * step, (b / step).ceil() * step)
    }

    /// Years `first..=last` with half a year to spare on each side; every year labelled if
    /// labels fit, else every 2nd, 5th… counted back from the last, so the goal year is.
    pub fn years(first: i32, last: i32, px: f64) -> Self {
        let px_per_year = px / (f64::from(last - first) + 1.0);
        let step = [1, 2, 5, 10, 20, 50, 100].into_iter().find(|&s| px_per_year * f64::from(s) >= 50.0).unwrap_or(1000);
        let from = last - (last - first) / step * step;
        let ticks = (from..=last).step_by(step as usize).map(|y| (f64::from(y), y.to_string())).collect();
        Axis { lo: f64::from(first) - 0.5, hi: f64::from(last) + 0.5, ticks, minor: Vec::new(), step: f64::from(step) }
    }

    /// The label a value between ticks gets on this axis.
    pub fn label(&self, v: f64) -> String {
        compact_number(v, self.step / 10.0, self.lo.abs().max(self.hi.abs()), false)
    }
}

/// Plot rectangle with its two axes, over a canvas, and the legend entries of what was drawn.
pub(super) struct Frame<'c, 'a> {
    pub c: &'c mut Canvas<'a>,
    pub plot: Rect,
    pub x: Axis,
    pub y: Axis,
    pub legend: Vec<(String, Swatch)>,
}

impl<'c, 'a> Frame<'c, 'a> {
    /// Title and an empty plot in `plot` (a panel of several is a `Frame` without a title);
    /// callers paint backgrounds before calling [`Frame::axes`].
    pub fn new(c: &'c mut Canvas<'a>, title: &str, plot: Rect, x: Axis, y: Axis) -> Result<Self, String> {
        c.title(title)?;
        Ok(Frame { c, plot, x, y, legend: Vec::new() })
    }

    /// The standard plot rectangle of a year chart, `right` px from the right edge.
    pub fn standard(c: &Canvas, right: f64) -> Rect {
        Rect::new(LEFT_MARGIN_PX + Y_LABEL_AREA_PX, TOP_PX, c.size.0 - right, c.size.1 - FOOTER_PX - X_LABEL_AREA_PX)
    }

    /// A year chart: years on x (the plot width decides the tick spacing).
    pub fn years(c: &'c mut Canvas<'a>, title: &str, years: (i32, i32), y: Axis, right: f64) -> Result<Self, String> {
        let plot = Frame::standard(c, right);
        let x = Axis::years(years.0, years.1, plot.x1 - plot.x0);
        Frame::new(c, title, plot, x, y)
    }

    /// Data → pixels; far-off values are pulled to within one span of the plot.
    pub fn px(&self, (x, y): (f64, f64)) -> P {
        let (t, p) = (|v: f64, a: &Axis| ((v - a.lo) / (a.hi - a.lo)).clamp(-1.0, 2.0), self.plot);
        (p.x0 + t(x, &self.x) * (p.x1 - p.x0), p.y1 - t(y, &self.y) * (p.y1 - p.y0))
    }

    fn pxs(&self, pts: &[P]) -> Vec<P> {
        pts.iter().map(|&p| self.px(p)).collect()
    }

    /// Grid, axis lines, tick labels and the two axis descriptions.
    pub fn axes(&mut self, x_desc: &str, y_desc: &str) -> Result<(), String> {
        self.grid(true, true)?;
        let (p, (mx, my)) = (self.plot, self.plot.mid());
        let desc = font(AXIS_DESC_PX).at(Align::Middle, Align::Start);
        self.c.text(x_desc, (mx, p.y1 + 38.0), desc)?;
        self.c.text(y_desc, (p.x0 - 66.0, my), desc.at(Align::Middle, Align::Middle).vertical()).map(|_| ())
    }

    /// Grid lines, the axis lines and (if asked) the tick labels.
    pub fn grid(&mut self, x_labels: bool, y_labels: bool) -> Result<(), String> {
        let p = self.plot;
        for &v in &self.x.minor {
            let x = self.px((v, self.y.lo)).0;
            self.c.stroke(&[(x, p.y0), (x, p.y1)], MINOR_GRID, 1.0, Dash::Solid)?;
        }
        for &v in &self.y.minor {
            let y = self.px((self.x.lo, v)).1;
            self.c.stroke(&[(p.x0, y), (p.x1, y)], MINOR_GRID, 1.0, Dash::Solid)?;
        }
        let tick = font(TICK_PX);
        for (v, label) in self.x.ticks.clone() {
            let x = self.px((v, self.y.lo)).0;
            self.c.stroke(&[(x, p.y0), (x, p.y1)], GRID, 1.0, Dash::Solid)?;
            if x_labels {
                self.c.text(&label, (x, p.y1 + 12.0), tick.at(Align::Middle, Align::Start))?;
            }
        }
        for (v, label) in self.y.ticks.clone() {
            let y = self.px((self.x.lo, v)).1;
            self.c.stroke(&[(p.x0, y), (p.x1, y)], GRID, 1.0, Dash::Solid)?;
            if y_labels {
                self.c.text(&label, (p.x0 - 10.0, y), tick.at(Align::End, Align::Middle))?;
            }
        }
        self.c.stroke(&[(p.x0, p.y0), (p.x0, p.y1), (p.x1, p.y1)], AXIS_GREY, 1.0, Dash::Solid)
    }

    /// The axes of a year chart over a light band behind the 2024–`goal_year` plan period,
    /// labelled top right; the band only where the chart also shows earlier years (over plan
    /// years alone it would say nothing).
    pub fn year_axes(&mut self, goal_year: i32, y_desc: &str) -> Result<(), String> {
        let (start, end) = (f64::from(PLAN_START_YEAR).max(self.x.lo + 0.5), f64::from(goal_year).min(self.x.hi - 0.5));
        if start <= end && self.x.lo + 0.5 < f64::from(PLAN_START_YEAR) {
            let (a, b) = (self.px((start - 0.5, self.y.hi)), self.px((end + 0.5, self.y.lo)));
            self.c.rect(Rect::new(a.0, a.1, b.0, b.1), Some((PLAN_SHADE, 1.0)), None)?;
            let f = font(LEGEND_PX).in_color(PLAN_TEXT).at(Align::End, Align::Start);
            self.c.label(&format!("Plan period {PLAN_START_YEAR}–{goal_year}"), (b.0 - 8.0, a.1 + 8.0), f)?;
        }
        self.axes("Year", y_desc)
    }

    /// Horizontal dashed line across the plot, optionally labelled above its left end.
    pub fn reference(&mut self, value: f64, color: RGBColor, label: Option<&str>) -> Result<(), String> {
        let line = self.pxs(&[(self.x.lo, value), (self.x.hi, value)]);
        self.c.stroke(&line, color, 2.0, Dash::Dashed)?;
        self.c.occupy_line(&line, 2.0);
        if let Some(label) = label {
            let f = font(LEGEND_PX).in_color(color).at(Align::Start, Align::End);
            self.c.label(label, (line[0].0 + 10.0, line[0].1 - 8.0), f)?;
        }
        Ok(())
    }

    /// A series' runs with markers, and its legend entry if anything was drawn (absent series
    /// get none); whether anything was.
    pub fn series(&mut self, runs: &[Vec<P>], color: RGBColor, look: Dash, label: &str) -> Result<bool, String> {
        // A clamped outlier outside the plot gets no marker.
        let p = self.plot;
        let inside = Rect::new(p.x0 - MARKER_R, p.y0 - MARKER_R, p.x1 + MARKER_R, p.y1 + MARKER_R);
        for run in runs {
            let px = self.pxs(run);
            self.c.stroke(&px, color, LINE_W, look)?;
            for &q in px.iter().filter(|q| inside.contains(**q)) {
                marker(self.c, q, color, look)?;
            }
            self.c.occupy_line(&px, MARKER_R + 3.0);
        }
        if !runs.is_empty() {
            self.legend.push((label.to_string(), Swatch::Series(color, look)));
        }
        Ok(!runs.is_empty())
    }

    /// Plain lines in a dash pattern, no markers.
    pub fn line(&mut self, runs: &[Vec<(f64, f64)>], color: RGBColor, dash: Dash, width: f64) -> Result<bool, String> {
        for run in runs {
            let px = self.pxs(run);
            self.c.stroke(&px, color, width, dash)?;
            self.c.occupy_line(&px, width + 2.0);
        }
        Ok(!runs.is_empty())
    }

    /// A bar from `lo` to `hi` at year `x`.
    pub fn bar(&mut self, x: f64, (lo, hi): (f64, f64), color: RGBColor, edge: Option<RGBColor>) -> Result<(), String> {
        let (a, b) = (self.px((x - BAR_HALF, lo)), self.px((x + BAR_HALF, hi)));
        self.c.block(Rect::new(a.0, a.1, b.0, b.1), (color, 0.85), edge)
    }

    /// The area between `hi` and `lo` (same x positions; one point becomes a narrow bar), with
    /// an optional edge along the top.
    pub fn area(&mut self, hi: &[P], lo: &[P], fill: (RGBColor, f64), edge: Option<RGBColor>) -> Result<(), String> {
        let widen = |pts: &[P]| match pts {
            [(x, v)] => vec![(x - BAR_HALF, *v), (x + BAR_HALF, *v)],
            _ => pts.to_vec(),
        };
        let (up, down) = (self.pxs(&widen(hi)), self.pxs(&widen(lo)));
        let ring: Vec<P> = up.iter().chain(down.iter().rev()).copied().collect();
        self.c.fill(&ring, fill.0, fill.1)?;
        if let Some(edge) = edge {
            self.c.stroke(&up, edge, 2.0, Dash::Solid)?;
        }
        self.c.occupy_between(&up, &down);
        Ok(())
    }

    /// Small value label centred above a data point.
    pub fn annotate(&mut self, at: (f64, f64), text: &str, color: RGBColor) -> Result<(), String> {
        let (x, y) = self.px(at);
        let f = font(LEGEND_PX).in_color(color).at(Align::Middle, Align::End);
        self.c.label(text, (x, y - 12.0), f).map(|_| ())
    }

    /// Text in the middle of the plot if it is `empty` (there is nothing to show).
    pub fn centre_note(&mut self, empty: bool, text: &str) -> Result<(), String> {
        let f = font(AXIS_DESC_PX).in_color(TEXT_GREY).at(Align::Middle, Align::Middle);
        if empty {
            self.c.label(text, self.plot.mid(), f)?;
        }
        Ok(())
    }

    /// The legend entries in a box in the first free corner of the plot ((0, 0) = upper left).
    pub fn legend(&mut self, corners: &[(f64, f64)]) -> Result<(), String> {
        self.c.legend(&self.legend, self.plot, corners)
    }

    /// Right-hand axis for a second quantity whose values `v` are plotted at `v * scale`;
    /// returns that scale. Its ticks fall on the primary grid lines.
    pub fn right_axis(&mut self, max: f64, desc: &str, color: RGBColor) -> Result<f64, String> {
        let intervals = self.y.ticks.len().saturating_sub(1).max(1);
        let last = self.y.ticks.last().map_or(self.y.hi, |t| t.0).max(f64::MIN_POSITIVE);
        let step = nice_ceil(max.max(f64::MIN_POSITIVE) * 1.35 / intervals as f64);
        let scale = last / (step * intervals as f64);
        let x = self.plot.x1;
        self.c.stroke(&[(x, self.plot.y0), (x, self.plot.y1)], AXIS_GREY, 1.0, Dash::Solid)?;
        let f = font(TICK_PX).in_color(color);
        for i in 0..=intervals {
            let v = step * i as f64;
            let y = self.px((self.x.hi, v * scale)).1;
            self.c.stroke(&[(x, y), (x + 5.0, y)], AXIS_GREY, 1.0, Dash::Solid)?;
            self.c.text(&format!("{v:.*}", decimals_for(step)), (x + 10.0, y), f)?;
        }
        let f = font(AXIS_DESC_PX).in_color(color).at(Align::Middle, Align::Middle).vertical();
        self.c.text(desc, (x + 72.0, self.plot.mid().1), f)?;
        Ok(scale)
    }
}

/// Tick step giving roughly 5–10 ticks over `span`: 1, 2 or 5 × 10^k.
pub(super) fn tick_step(span: f64) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(span.log10().floor());
    mag * [(2.0, 0.2), (5.0, 0.5)].into_iter().find(|&(below, _)| span / mag < below).map_or(1.0, |(_, m)| m)
}

/// Multiples of `step` within `[lo, hi]` (inclusive, float-tolerant).
pub(super) fn value_ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    if !(step > 0.0 && lo.is_finite() && hi.is_finite()) || hi < lo || (hi - lo) / step > 1e4 {
        return Vec::new();
    }
    let first = (lo / step - 1e-6).ceil() as i64;
    let last = (hi / step + 1e-6).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Decimals needed to print multiples of `step` exactly (5 → 0, 2.5 → 1, 0.05 → 2), at most 4.
pub(super) fn decimals_for(step: f64) -> usize {
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

/// Smallest "round" number ≥ `v` from a finer set than [`tick_step`]'s.
pub(super) fn nice_ceil(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    let mantissas = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];
    mantissas.into_iter().map(|m| m * mag).find(|&c| c >= v * (1.0 - 1e-9)).unwrap_or(10.0 * mag)
}

/// Divisors and suffixes of large numbers, largest first.
pub(super) const SUFFIXES: [(f64, &str); 3] = [(1e9, "B"), (1e6, "M"), (1e3, "k")];

/// `v` as "1.5M", "−250k", "+2M" (if `signed`), the suffix chosen from `magnitude` (the largest
/// value it is shown next to) so an axis shares one unit, with decimals enough to tell
/// multiples of `step` apart. Plain numbers below 10 000; exponent form for absurd values.
pub(super) fn compact_number(v: f64, step: f64, magnitude: f64, signed: bool) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let magnitude = magnitude.abs().max(v.abs());
    if magnitude >= 1e15 {
        return format!("{v:.2e}");
    }
    let (div, suffix) = SUFFIXES.into_iter().find(|&(d, _)| magnitude >= d.max(1e4)).unwrap_or((1.0, ""));
    let decimals = if step > 0.0 && step.is_finite() { decimals_for(step / div) } else { 1 };
    let body = format!("{:.decimals$}", v.abs() / div);
    if body.trim_start_matches(['0', '.']).is_empty() {
        return "0".to_string();
    }
    let sign = match (v < 0.0, signed) {
        (true, _) => "−",
        (false, true) => "+",
        (false, false) => "",
    };
    format!("{sign}{body}{suffix}")
}
