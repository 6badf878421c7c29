//! A probability curve: the chance of reaching a target against a lever's value, the points
//! evaluated by goal seeking, the required probability as a dashed line and the answer marked.

use super::*;

/// A probability curve; see [`render_curve`].
#[derive(Debug, Clone, Copy)]
pub struct CurveChart<'a> {
    pub stem: &'a str,
    pub title: &'a str,
    /// Horizontal-axis description with its unit (the lever).
    pub x_label: &'a str,
    /// `(lever value, probability 0–1)` in any order.
    pub points: &'a [(f64, f64)],
    /// The probability asked for.
    pub required: f64,
    /// The smallest lever value found to reach it, if any.
    pub answer: Option<f64>,
    pub source_note: &'a str,
}

/// Writes `<stem>.png` and `<stem>.svg` (1200×750) into `dir`. Returns the paths, PNG first.
pub fn render_curve(dir: &Path, chart: &CurveChart) -> Result<Vec<PathBuf>, ChartError> {
    write_chart_in(dir, chart.stem, chart)
}

impl Drawing for CurveChart<'_> {
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
        let mut points: Vec<(f64, f64)> = self
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let plot = PxRect {
            x0: LEFT_MARGIN_PX as i32 + 90,
            y0: TOP_PX as i32 + 10,
            x1: w - RIGHT_MARGIN_PX as i32 - 40,
            y1: h - FOOTER_PX as i32 - 70,
        };
        let (lo, hi) = match (points.first(), points.last()) {
            (Some(a), Some(b)) if b.0 > a.0 => (a.0, b.0),
            (Some(a), _) => (a.0 - 1.0, a.0 + 1.0),
            _ => (0.0, 1.0),
        };
        let pad = (hi - lo) * 0.04;
        let (lo, hi) = (lo - pad, hi + pad);
        let x_of =
            |v: f64| plot.x0 + ((v - lo) / (hi - lo) * f64::from(plot.x1 - plot.x0)).round() as i32;
        let y_of =
            |p: f64| plot.y1 - (p.clamp(0.0, 1.0) * f64::from(plot.y1 - plot.y0)).round() as i32;

        let grid = RGBColor(235, 235, 235);
        let tick_x = anchored(font(TICK_PX), HPos::Center, VPos::Top);
        let step = tick_step(hi - lo);
        for v in value_ticks(lo, hi, step) {
            let x = x_of(v);
            canvas.draw(&PathElement::new(
                vec![(x, plot.y0), (x, plot.y1)],
                grid.stroke_width(1),
            ))?;
            canvas.text(
                &tick_label(v, decimals_for(step)),
                (x, plot.y1 + 8),
                &tick_x,
            )?;
        }
        let tick_y = anchored(font(TICK_PX), HPos::Right, VPos::Center);
        for i in 0..=5 {
            let p = f64::from(i) / 5.0;
            let y = y_of(p);
            canvas.draw(&PathElement::new(
                vec![(plot.x0, y), (plot.x1, y)],
                grid.stroke_width(1),
            ))?;
            canvas.text(&format!("{:.0}%", 100.0 * p), (plot.x0 - 10, y), &tick_y)?;
        }
        canvas.draw(&Rectangle::new(
            [(plot.x0, plot.y0), (plot.x1, plot.y1)],
            AXIS_GREY.stroke_width(1),
        ))?;
        canvas.text(
            self.x_label,
            ((plot.x0 + plot.x1) / 2, plot.y1 + 36),
            &anchored(font(AXIS_DESC_PX), HPos::Center, VPos::Top),
        )?;
        canvas.text(
            "Chance of reaching the target",
            (plot.x0 - 75, (plot.y0 + plot.y1) / 2),
            &anchored(font(AXIS_DESC_PX), HPos::Center, VPos::Center)
                .transform(FontTransform::Rotate270),
        )?;

        // The required probability.
        let y_req = y_of(self.required);
        let mut x = plot.x0;
        while x < plot.x1 {
            canvas.draw(&PathElement::new(
                vec![(x, y_req), ((x + 10).min(plot.x1), y_req)],
                PALETTE[1].stroke_width(2),
            ))?;
            x += 18;
        }
        let px: Vec<Px> = points.iter().map(|&(v, p)| (x_of(v), y_of(p))).collect();
        if px.len() > 1 {
            canvas.draw(&PathElement::new(px.clone(), PALETTE[0].stroke_width(3)))?;
        }
        for &p in &px {
            canvas.draw(&Circle::new(p, 5, PALETTE[0].filled()))?;
        }
        // Legend in the lower right, where a rising curve leaves room.
        let key = anchored(font(LEGEND_PX), HPos::Left, VPos::Center);
        let legend_y = plot.y1 - 84;
        let plot = PxRect {
            x0: plot.x1 - 380,
            ..plot
        };
        canvas.draw(&Rectangle::new(
            [(plot.x0 + 6, legend_y - 16), (plot.x1 - 6, legend_y + 70)],
            WHITE.mix(0.85).filled(),
        ))?;
        canvas.draw(&PathElement::new(
            vec![(plot.x0 + 16, legend_y), (plot.x0 + 40, legend_y)],
            PALETTE[0].stroke_width(3),
        ))?;
        canvas.text("evaluated lever values", (plot.x0 + 48, legend_y), &key)?;
        canvas.draw(&PathElement::new(
            vec![(plot.x0 + 16, legend_y + 26), (plot.x0 + 40, legend_y + 26)],
            PALETTE[1].stroke_width(2),
        ))?;
        canvas.text(
            &format!("required: {:.0}%", 100.0 * self.required),
            (plot.x0 + 48, legend_y + 26),
            &key,
        )?;
        if let Some(answer) = self.answer {
            let x = x_of(answer);
            canvas.draw(&PathElement::new(
                vec![(x, plot.y0), (x, plot.y1)],
                PALETTE[2].stroke_width(2),
            ))?;
            canvas.text(
                &format!(
                    "smallest value reaching it: {}",
                    tick_label(answer, decimals_for(step) + 2)
                ),
                (plot.x0 + 48, legend_y + 52),
                &key,
            )?;
            canvas.draw(&PathElement::new(
                vec![(plot.x0 + 28, legend_y + 40), (plot.x0 + 28, legend_y + 64)],
                PALETTE[2].stroke_width(2),
            ))?;
        }
        draw_footer(&mut canvas, self.source_note, "")
    }
}
