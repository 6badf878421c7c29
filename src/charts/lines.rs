//! Several series over years: up to six as lines in one plot with a legend, more as small
//! multiples (one panel per series on a shared scale, the others faint behind it), so a chart
//! of 18 metropolitan areas stays readable.

use super::*;

/// A multi-line chart. NaN/inf values are skipped (a missing year breaks the line); series without
/// data are left out.
#[derive(Debug, Clone, Copy)]
pub struct LinesChart<'a> {
    pub title: &'a str,
    /// Value-axis description with its unit.
    pub y_label: &'a str,
    /// `(label, points)`.
    pub series: &'a [(String, Vec<(i32, f64)>)],
    pub source_note: &'a str,
    /// Start the value axis at 0.
    pub y_from_zero: bool,
}

/// More series than this are drawn as small multiples.
const ONE_PLOT_MAX: usize = 6;

/// Columns and rows of the small-multiples grid for `n` panels (wider than tall).
pub(super) fn grid_shape(n: usize) -> (usize, usize) {
    let cols = ((n as f64 * 1.8).sqrt().ceil() as usize).clamp(1, n.max(1));
    (cols, n.div_ceil(cols).max(1))
}

/// `text` shortened with "…" to at most `max_w` px.
pub(super) fn fit(text: &str, f: Font, max_w: f64) -> String {
    if f.width(text) <= max_w {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let shortened = |k: usize| chars[..k].iter().collect::<String>().trim_end().to_string() + "…";
    // The longest prefix that fits ("…" alone if none does).
    (1..chars.len()).rev().map(shortened).find(|s| f.width(s) <= max_w).unwrap_or_else(|| shortened(0))
}

impl Drawing for LinesChart<'_> {
    fn draw(&self, c: &mut Canvas) -> Result<(), String> {
        let all: Vec<(&String, Runs)> = self
            .series
            .iter()
            .map(|(label, pts)| (label, runs(pts.iter().map(|&(y, v)| (y, Some(v))))))
            .filter(|(_, r)| !r.is_empty())
            .collect();
        let y = Axis::auto(all.iter().flat_map(|(_, r)| flat(r)), self.y_from_zero);
        let span = year_span(all.iter().flat_map(|(_, r)| r.iter().flatten().map(|p| p.0 as i32)));
        let years = span.unwrap_or(PLAN_YEARS);
        if all.len() <= ONE_PLOT_MAX {
            let mut f = Frame::years(c, self.title, years, y, RIGHT_MARGIN_PX)?;
            f.year_axes(PLAN_END_YEAR, self.y_label)?;
            for (i, (label, runs)) in all.iter().enumerate() {
                f.series(runs, PALETTE[i], Dash::Solid, label)?;
            }
            f.centre_note(all.is_empty(), "No data")?;
            f.legend(&[(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])?;
            return c.footer(self.source_note, "");
        }

        c.title(self.title)?;
        let (cols, rows) = grid_shape(all.len());
        let area = Rect::new(LEFT_MARGIN_PX + 76.0, TOP_PX, c.size.0 - RIGHT_MARGIN_PX, c.size.1 - FOOTER_PX - 34.0);
        let (pw, ph) = ((area.x1 - area.x0) / cols as f64, (area.y1 - area.y0) / rows as f64);
        let label_font = font(NOTE_PX).bold();
        for (i, (label, own)) in all.iter().enumerate() {
            let (col, row) = ((i % cols) as f64, (i / cols) as f64);
            let (x0, y0, x1, y1) =
                (area.x0 + col * pw, area.y0 + row * ph, area.x0 + (col + 1.0) * pw, area.y0 + (row + 1.0) * ph);
            let plot = Rect::new(x0 + 6.0, y0 + 24.0, x1 - 10.0, y1 - 22.0);
            let mut x = Axis::years(years.0, years.1, plot.x1 - plot.x0);
            // First and last year only: panels are narrow.
            x.ticks.drain(1..x.ticks.len().max(2) - 1);
            let bottom = i + cols >= all.len();
            let mut f = Frame { c, plot, x, y: y.clone(), legend: Vec::new() };
            f.grid(bottom, col == 0.0)?;
            for (_, other) in all.iter().filter(|(l, _)| l != label) {
                f.line(other, RGBColor(205, 205, 205), Dash::Solid, 1.0)?;
            }
            f.line(own, PALETTE[0], Dash::Solid, 2.5)?;
            if let Some(&(x, v)) = own.last().and_then(|r| r.last()) {
                let (at, value) = (f.px((x, v)), f.y.label(v));
                f.c.circle(at, 3.0, PALETTE[0], None)?;
                let ink = font(NOTE_PX).in_color(PALETTE[0]).at(Align::End, Align::End);
                f.c.text(&value, (at.0 - 4.0, at.1 - 8.0), ink)?;
            }
            f.c.text(&fit(label, label_font, plot.x1 - plot.x0), (plot.x0, plot.y0 - 12.0), label_font)?;
        }
        let desc = font(AXIS_DESC_PX).at(Align::Middle, Align::Middle).vertical();
        c.text(self.y_label, (LEFT_MARGIN_PX + 14.0, area.mid().1), desc)?;
        let n = all.len();
        let note = format!("Each panel: one series (blue, last value labelled) over all {n} in grey; shared scale");
        let grey = font(NOTE_PX).in_color(TEXT_GREY).at(Align::Middle, Align::Middle);
        c.text(&note, (area.mid().0, area.y1 + 20.0), grey)?;
        c.footer(self.source_note, "")
    }
}
