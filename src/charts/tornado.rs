//! A tornado chart: one horizontal bar per factor, largest effect on top, coloured by the kind of
//! factor, with a whisker for the spread of its effect (sensitivity analysis).

use super::*;

/// One bar of a [`TornadoChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct TornadoBar {
    pub label: String,
    /// Bar length (non-negative, e.g. Morris μ*).
    pub value: f64,
    /// Whisker half-width drawn from the bar's end (e.g. Morris σ); NaN for none.
    pub spread: f64,
    /// Index into `kinds` (the colour and legend entry).
    pub kind: usize,
}

/// A tornado chart; see [`render_tornado`].
#[derive(Debug, Clone, Copy)]
pub struct TornadoChart<'a> {
    pub stem: &'a str,
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

/// Writes `<stem>.png` and `<stem>.svg` (1200×750) into `dir`. Returns the paths, PNG first.
pub fn render_tornado(dir: &Path, chart: &TornadoChart) -> Result<Vec<PathBuf>, ChartError> {
    write_chart_in(dir, chart.stem, chart)
}

const LABEL_COL_W: i32 = 380;

impl Drawing for TornadoChart<'_> {
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
        canvas.text(
            self.title,
            (w / 2, 18),
            &anchored(title_font(), HPos::Center, VPos::Top),
        )?;
        let mut bars: Vec<&TornadoBar> = self.bars.iter().filter(|b| b.value.is_finite()).collect();
        bars.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.label.cmp(&b.label)));
        bars.truncate(MAX_BARS);

        let plot = PxRect {
            x0: LABEL_COL_W + 20,
            y0: TOP_PX as i32 + 10,
            x1: w - RIGHT_MARGIN_PX as i32 - 20,
            y1: h - FOOTER_PX as i32 - 84,
        };
        let max = bars
            .iter()
            .map(|b| b.value + if b.spread.is_finite() { b.spread } else { 0.0 })
            .fold(0.0, f64::max);
        let hi = if max > 0.0 {
            nice_ceil(max * 1.05)
        } else {
            1.0
        };
        let step = tick_step(hi);
        let x_of = |v: f64| plot.x0 + ((v / hi) * f64::from(plot.x1 - plot.x0)).round() as i32;

        // Grid and value axis.
        let tick_style = anchored(font(TICK_PX), HPos::Center, VPos::Top);
        for v in value_ticks(0.0, hi, step) {
            let x = x_of(v);
            canvas.draw(&PathElement::new(
                vec![(x, plot.y0), (x, plot.y1)],
                RGBColor(235, 235, 235).stroke_width(1),
            ))?;
            canvas.text(
                &tick_label(v, decimals_for(step)),
                (x, plot.y1 + 8),
                &tick_style,
            )?;
        }
        canvas.draw(&PathElement::new(
            vec![(plot.x0, plot.y0), (plot.x0, plot.y1)],
            AXIS_GREY.stroke_width(1),
        ))?;
        canvas.text(
            self.x_label,
            ((plot.x0 + plot.x1) / 2, plot.y1 + 36),
            &anchored(font(AXIS_DESC_PX), HPos::Center, VPos::Top),
        )?;

        if bars.is_empty() {
            let style = anchored(font_in(AXIS_DESC_PX, TEXT_GREY), HPos::Center, VPos::Center);
            canvas.text(
                "No data",
                ((plot.x0 + plot.x1) / 2, (plot.y0 + plot.y1) / 2),
                &style,
            )?;
        }
        let row = f64::from(plot.y1 - plot.y0) / bars.len().max(1) as f64;
        let thickness = (row * 0.62).clamp(4.0, 28.0) as i32;
        let label_style = anchored(font(TICK_PX), HPos::Right, VPos::Center);
        for (i, bar) in bars.iter().enumerate() {
            let y = plot.y0 + (row * (i as f64 + 0.5)).round() as i32;
            let color = PALETTE[bar.kind % PALETTE.len()];
            let end = x_of(bar.value.max(0.0));
            canvas.draw(&Rectangle::new(
                [
                    (plot.x0, y - thickness / 2),
                    (end.max(plot.x0 + 1), y + thickness / 2),
                ],
                color.filled(),
            ))?;
            if bar.spread.is_finite() && bar.spread > 0.0 {
                let whisker = x_of(bar.value + bar.spread);
                canvas.draw(&PathElement::new(
                    vec![(end, y), (whisker, y)],
                    RGBColor(60, 60, 60).stroke_width(2),
                ))?;
                canvas.draw(&PathElement::new(
                    vec![(whisker, y - thickness / 3), (whisker, y + thickness / 3)],
                    RGBColor(60, 60, 60).stroke_width(2),
                ))?;
            }
            canvas.text(&bar.label, (plot.x0 - 10, y), &label_style)?;
        }

        // Legend below the axis: the kinds, then the whisker.
        let key = anchored(font(LEGEND_PX), HPos::Left, VPos::Center);
        let mut x = plot.x0;
        let y = h - FOOTER_PX as i32 - 12;
        for (k, kind) in self.kinds.iter().enumerate() {
            canvas.draw(&Rectangle::new(
                [(x, y - 8), (x + 22, y + 8)],
                PALETTE[k % PALETTE.len()].filled(),
            ))?;
            canvas.text(kind, (x + 30, y), &key)?;
            x += 40 + text_width(&font(LEGEND_PX).font, kind)? + 30;
        }
        canvas.draw(&PathElement::new(
            vec![(x, y), (x + 22, y)],
            RGBColor(60, 60, 60).stroke_width(2),
        ))?;
        canvas.text(self.spread_label, (x + 30, y), &key)?;
        draw_footer(&mut canvas, self.source_note, "")
    }
}
