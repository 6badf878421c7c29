//! A tornado chart: one horizontal bar per factor, largest effect on top, coloured by the kind
//! of factor, with a whisker for the spread of its effect (sensitivity analysis).

use super::*;

/// One bar of a [`TornadoChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct TornadoBar {
    pub label: String,
    /// Bar length (non-negative, e.g. Morris μ*).
    pub value: f64,
    /// Whisker drawn from the bar's end (e.g. Morris σ); NaN for none.
    pub spread: f64,
    /// Index into `kinds` (the colour and legend entry).
    pub kind: usize,
}

/// A tornado chart.
#[derive(Debug, Clone, Copy)]
pub struct TornadoChart<'a> {
    pub title: &'a str,
    /// Value-axis description with its unit.
    pub x_label: &'a str,
    /// Bars in any order; drawn largest first (at most [`MAX_BARS`]).
    pub bars: &'a [TornadoBar],
    /// Legend labels of the kinds of factor.
    pub kinds: &'a [&'a str],
    /// Legend label of the whisker.
    pub spread_label: &'a str,
    pub source_note: &'a str,
}

/// Bars drawn at most; the rest are left out (the table has them).
pub const MAX_BARS: usize = 20;

impl Drawing for TornadoChart<'_> {
    fn draw(&self, c: &mut Canvas) -> Result<(), String> {
        let mut bars: Vec<&TornadoBar> = self.bars.iter().filter(|b| b.value.is_finite()).collect();
        bars.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.label.cmp(&b.label)));
        bars.truncate(MAX_BARS);
        let max = bars.iter().map(|b| b.value + if b.spread.is_finite() { b.spread } else { 0.0 }).fold(0.0, f64::max);
        let x = Axis::values(0.0, if max > 0.0 { nice_ceil(max * 1.05) } else { 1.0 });
        // Rows top to bottom: bar i at y = n − i − 0.5, labelled as a tick.
        let n = bars.len().max(1) as f64;
        let mut y = Axis::values(0.0, n);
        y.ticks = bars.iter().enumerate().map(|(i, b)| (n - i as f64 - 0.5, b.label.clone())).collect();
        let plot = Rect::new(400.0, TOP_PX + 10.0, c.size.0 - RIGHT_MARGIN_PX - 20.0, c.size.1 - FOOTER_PX - 84.0);
        let mut f = Frame::new(c, self.title, plot, x, y)?;
        f.axes(self.x_label, "")?;
        f.centre_note(bars.is_empty(), "No data")?;
        let thickness = ((plot.y1 - plot.y0) / n * 0.62).clamp(4.0, 28.0);
        for (i, bar) in bars.iter().enumerate() {
            let (x0, yc) = f.px((0.0, n - i as f64 - 0.5));
            let end = f.px((bar.value.max(0.0), 0.0)).0.max(x0 + 1.0);
            let color = PALETTE[bar.kind % PALETTE.len()];
            f.c.rect(Rect::new(x0, yc - thickness / 2.0, end, yc + thickness / 2.0), Some((color, 1.0)), None)?;
            if bar.spread.is_finite() && bar.spread > 0.0 {
                let w = f.px((bar.value + bar.spread, 0.0)).0;
                f.c.stroke(&[(end, yc), (w, yc)], INK, 2.0, Dash::Solid)?;
                f.c.stroke(&[(w, yc - thickness / 3.0), (w, yc + thickness / 3.0)], INK, 2.0, Dash::Solid)?;
            }
        }
        // Legend below the axis: the kinds, then the whisker.
        let (mut x, y) = (plot.x0, c.size.1 - FOOTER_PX - 12.0);
        let kinds = self.kinds.iter().enumerate().map(|(k, &kind)| (kind, Swatch::Bar(PALETTE[k % PALETTE.len()])));
        let whisker = (self.spread_label, Swatch::Line(INK, Dash::Solid, 2.0));
        for (label, swatch) in kinds.chain([whisker]) {
            c.swatch(swatch, (x, y))?;
            c.text(label, (x + SWATCH_W + 8.0, y), font(LEGEND_PX))?;
            x += SWATCH_W + 38.0 + font(LEGEND_PX).width(label);
        }
        c.footer(self.source_note, "")
    }
}
