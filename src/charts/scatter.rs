//! Predicted against observed (two measurements of one quantity) as translucent dots around
//! the line y = x, on a square plot whose axes share one range, optionally log10.

use super::*;

/// One dot of a [`ScatterChart`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScatterPoint {
    pub x: f64,
    pub y: f64,
}

/// A scatter chart. Dense clusters read darker; the legend counts the dots and what was skipped
/// (NaN/inf, ≤ 0 on a log scale).
#[derive(Debug, Clone, Copy)]
pub struct ScatterChart<'a> {
    pub title: &'a str,
    /// Axis descriptions with their units.
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub points: &'a [ScatterPoint],
    /// Lines in a box in the upper left, e.g. "r = 0.998". Empty: no box.
    pub annotations: &'a [String],
    /// Both axes log10 (non-positive values are then skipped).
    pub log_scale: bool,
    pub source_note: &'a str,
}

/// `v` as "500", "2k", "1.5M", "10B", each label with its own suffix (as suits log axes).
fn si_label(v: f64) -> String {
    let a = v.abs();
    if !(1e-3..1e15).contains(&a) {
        return if a == 0.0 || !a.is_finite() { "0".into() } else { format!("{v:.0e}") };
    }
    let (div, suffix) = SUFFIXES.into_iter().find(|&(d, _)| a >= d).unwrap_or((1.0, ""));
    let body = format!("{:.3}", a / div);
    let sign = if v < 0.0 { "−" } else { "" };
    format!("{sign}{}{suffix}", body.trim_end_matches('0').trim_end_matches('.'))
}

/// Log10 axis over `lo..hi` (log units): labelled decades (1-2-5 when decades are wide,
/// thinned when many), minor lines between; round values when under half a decade.
fn log_axis(lo: f64, hi: f64, px: f64) -> Axis {
    let per_decade = px / (hi - lo);
    let inside = |t: f64| t >= lo - 1e-9 && t <= hi + 1e-9;
    let thin = [1, 2, 3, 5, 10, 20, 50].into_iter().find(|&k| (hi - lo) / f64::from(k) <= 8.0).unwrap_or(100);
    let (mut ticks, mut minor) = (Vec::new(), Vec::new());
    for e in lo.floor() as i32..=hi.ceil() as i32 {
        for m in 1..=9 {
            let t = (f64::from(m) * 10f64.powi(e)).log10();
            let labelled =
                if per_decade * 0.3 >= 55.0 { [1, 2, 5].contains(&m) } else { m == 1 && e.rem_euclid(thin) == 0 };
            if !inside(t) {
            } else if labelled {
                ticks.push((t, si_label(10f64.powf(t))));
            } else if m == 1 || (thin == 1 && per_decade >= 60.0) {
                minor.push(t);
            }
        }
    }
    if ticks.len() < 2 {
        let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
        ticks = value_ticks(a, b, tick_step(b - a))
            .into_iter()
            .filter(|&v| v > 0.0)
            .map(|v| (v.log10(), si_label(v)))
            .collect();
        minor.clear();
    }
    Axis { lo, hi, ticks, minor, step: 1.0 }
}

impl Drawing for ScatterChart<'_> {
    fn draw(&self, c: &mut Canvas) -> Result<(), String> {
        let finite: Vec<P> =
            self.points.iter().map(|p| (p.x, p.y)).filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
        let points: Vec<P> = if self.log_scale {
            finite.iter().filter(|p| p.0 > 0.0 && p.1 > 0.0).map(|p| (p.0.log10(), p.1.log10())).collect()
        } else {
            finite.clone()
        };
        let (invalid, non_positive) = (self.points.len() - finite.len(), finite.len() - points.len());
        let side = c.size.1 - TOP_PX - X_LABEL_AREA_PX - FOOTER_PX;
        let x0 = (c.size.0 - side) / 2.0;
        let plot = Rect::new(x0, TOP_PX, x0 + side, TOP_PX + side);
        let values = points.iter().flat_map(|&(x, y)| [x, y]);
        let axis = if self.log_scale {
            let (lo, hi) = min_max(values);
            let pad = if hi > lo { ((hi - lo) * 0.05).max(0.05) } else { 0.5 };
            if lo > hi { log_axis(0.0, 5.0, side) } else { log_axis(lo - pad, hi + pad, side) }
        } else {
            Axis::auto(values, points.iter().all(|&(x, y)| x >= 0.0 && y >= 0.0))
        };
        let mut f = Frame::new(c, self.title, plot, axis.clone(), axis)?;
        f.axes(self.x_label, self.y_label)?;
        let (lo, hi) = (f.x.lo, f.x.hi);
        let within = |v: f64| v >= lo && v <= hi;
        let out_of_range = points.iter().filter(|p| !(within(p.0) && within(p.1))).count();
        for &p in points.iter().filter(|p| within(p.0) && within(p.1)) {
            let at = f.px(p);
            f.c.fill(&circle_ring(at, 3.0), PALETTE[0], 0.45)?;
            f.c.occupied.push(Rect::around(at, 5.0));
        }
        let counts = [(non_positive, "≤ 0"), (invalid, "invalid"), (out_of_range, "out of range")];
        let skipped: Vec<String> =
            counts.iter().filter(|(n, _)| *n > 0).map(|(n, what)| format!("{n} {what}")).collect();
        let shown = points.len() - out_of_range;
        if shown == 0 {
            f.centre_note(true, if out_of_range == 0 { "No data" } else { "Values too extreme to plot" })?;
        } else {
            let diagonal = [f.px((lo, lo)), f.px((hi, hi))];
            f.c.stroke(&diagonal, GOAL_GREY, 2.0, Dash::Dashed)?;
            f.c.occupy_line(&diagonal, 3.0);
        }
        if !self.annotations.iter().all(|a| a.is_empty()) {
            note_box(f.c, self.annotations, plot)?;
        }
        if shown > 0 {
            let count = if shown == 1 { "1 point".to_string() } else { format!("{shown} points") };
            let count = if skipped.is_empty() { count } else { format!("{count} ({} not shown)", skipped.join(", ")) };
            f.legend = vec![
                (count, Swatch::Dot(PALETTE[0])),
                ("y = x".to_string(), Swatch::Line(GOAL_GREY, Dash::Dashed, 2.0)),
            ];
            f.legend(&[(1.0, 1.0), (1.0, 0.0), (0.0, 1.0)])?;
        } else if !skipped.is_empty() {
            let (x, y) = plot.mid();
            let grey = font(LEGEND_PX).in_color(TEXT_GREY).at(Align::Middle, Align::Middle);
            f.c.text(&format!("Not shown: {}", skipped.join(", ")), (x, y + 28.0), grey)?;
        }
        c.footer(self.source_note, "")
    }
}

/// Lines of text in a box in the upper left of `plot` (no keys).
fn note_box(c: &mut Canvas, lines: &[String], plot: Rect) -> Result<(), String> {
    let f = font(LEGEND_PX);
    let w = lines.iter().map(|l| f.width(l)).fold(0.0, f64::max) + 24.0;
    let r =
        Rect::new(plot.x0 + 10.0, plot.y0 + 10.0, plot.x0 + 10.0 + w, plot.y0 + 28.0 + 24.0 * lines.len() as f64 - 6.0);
    c.boxed(r)?;
    for (i, line) in lines.iter().enumerate() {
        c.text(line, (r.x0 + 12.0, r.y0 + 21.0 + 24.0 * i as f64), f)?;
    }
    Ok(())
}

/// A small circle as a polygon (translucent dots: plotters' circles cannot blend).
fn circle_ring((x, y): P, r: f64) -> Vec<P> {
    (0..12).map(|k| f64::from(k) * std::f64::consts::PI / 6.0).map(|a| (x + r * a.cos(), y + r * a.sin())).collect()
}
