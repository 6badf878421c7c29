//! A probability curve: the chance of reaching a target against a lever's value, the points
//! evaluated by goal seeking, the required probability as a dashed line and the answer marked.

use super::*;

/// A probability curve.
#[derive(Debug, Clone, Copy)]
pub struct CurveChart<'a> {
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

impl Drawing for CurveChart<'_> {
    fn draw(&self, c: &mut Canvas) -> Result<(), String> {
        let mut points: Vec<P> = self.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (lo, hi) = match (points.first(), points.last()) {
            (Some(a), Some(b)) if b.0 > a.0 => (a.0, b.0),
            (Some(a), _) => (a.0 - 1.0, a.0 + 1.0),
            _ => (0.0, 1.0),
        };
        let pad = (hi - lo) * 0.04;
        let x = Axis::values(lo - pad, hi + pad);
        let mut y = Axis::values(0.0, 1.0);
        y.ticks = (0..=5).map(|i| (f64::from(i) / 5.0, format!("{}%", 20 * i))).collect();
        let plot = Frame::standard(c, RIGHT_MARGIN_PX + 20.0);
        let mut f = Frame::new(c, self.title, plot, x, y)?;
        f.axes(self.x_label, "Chance of reaching the target")?;
        let decimals = decimals_for(f.x.step) + 2;
        f.reference(self.required.clamp(0.0, 1.0), PALETTE[1], None)?;
        let curve = vec![points.iter().map(|&(v, p)| (v, p.clamp(0.0, 1.0))).collect::<Vec<_>>()];
        f.line(&curve, PALETTE[0], Dash::Solid, 3.0)?;
        for &p in &curve[0] {
            f.c.circle(f.px(p), 5.0, PALETTE[0], None)?;
        }
        f.legend = vec![
            ("evaluated lever values".to_string(), Swatch::Series(PALETTE[0], Dash::Solid)),
            (format!("required: {:.0}%", 100.0 * self.required), Swatch::Line(PALETTE[1], Dash::Dashed, 2.0)),
        ];
        if let Some(answer) = self.answer.filter(|a| a.is_finite()) {
            let xa = f.px((answer, 0.0)).0;
            f.c.stroke(&[(xa, plot.y0), (xa, plot.y1)], PALETTE[2], 2.0, Dash::Solid)?;
            let label = format!("smallest value reaching it: {answer:.decimals$}");
            f.legend.push((label, Swatch::Line(PALETTE[2], Dash::Solid, 2.0)));
        }
        // Lower right, where a rising curve leaves room.
        f.legend(&[(1.0, 1.0), (0.0, 0.0), (1.0, 0.5)])?;
        c.footer(self.source_note, "")
    }
}
