//! Scenario comparison: each series' mean over runs as a dashed line with hollow markers over
//! a translucent band of the runs' 5–95 % range, with official history and a goal line.

use super::*;

/// Mean with a 5–95% band over runs for one year.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandPoint {
    pub year: i32,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// One scenario (or other group) of [`BandPoint`]s.
#[derive(Debug, Clone, PartialEq)]
pub struct BandSeries {
    pub label: String,
    pub points: Vec<BandPoint>,
}

/// A band chart: NaN/inf values are skipped (a missing year breaks the line); empty input gives a
/// "No data" frame.
#[derive(Debug, Clone, Copy)]
pub struct BandChart<'a> {
    pub title: &'a str,
    /// Value-axis description with its unit.
    pub y_label: &'a str,
    /// Up to ~8 series; each gets the next palette colour.
    pub series: &'a [BandSeries],
    /// Official history, a solid dark line with markers (may be empty).
    pub official: &'a [(i32, f64)],
    pub official_label: &'a str,
    /// Horizontal goal line (value, label).
    pub goal: Option<(f64, &'a str)>,
    pub source_note: &'a str,
    /// Start the value axis at 0.
    pub y_from_zero: bool,
    /// Runs behind each band (replicates × parameter sets), named in the legend.
    pub runs: usize,
}

/// What the shaded band is, for the legend: with few runs the 5th and 95th percentiles are
/// close to the smallest and largest run, and the legend says so.
pub(super) fn band_meaning(runs: usize) -> String {
    match runs {
        0 | 1 => "one run: no band".to_string(),
        2..=19 => format!("band: 5–95% of {runs} runs (≈ min–max with so few)"),
        _ => format!("band: 5–95% of {runs} runs"),
    }
}

impl Drawing for BandChart<'_> {
    fn draw(&self, c: &mut Canvas) -> Result<(), String> {
        let means: Vec<_> = self.series.iter().map(|s| runs(s.points.iter().map(|p| (p.year, Some(p.mean))))).collect();
        let bounds = |s: &BandSeries, pick: fn(&BandPoint) -> f64| {
            runs(s.points.iter().map(|p| (p.year, Some(pick(p)).filter(|_| p.low.is_finite() && p.high.is_finite()))))
        };
        let lows: Vec<_> = self.series.iter().map(|s| bounds(s, |p| p.low.min(p.high))).collect();
        let highs: Vec<_> = self.series.iter().map(|s| bounds(s, |p| p.low.max(p.high))).collect();
        let official = runs(self.official.iter().map(|&(y, v)| (y, Some(v))));
        let goal = self.goal.filter(|(v, _)| v.is_finite());
        let all = || means.iter().chain(&lows).chain(&highs).chain([&official]);
        let y = Axis::auto(all().flat_map(|r| flat(r)).chain(goal.map(|g| g.0)), self.y_from_zero);
        let span = year_span(all().flatten().flatten().map(|p| p.0 as i32));
        let mut f = Frame::years(c, self.title, span.unwrap_or(PLAN_YEARS), y, RIGHT_MARGIN_PX)?;
        f.year_axes(PLAN_END_YEAR, self.y_label)?;
        if let Some((v, label)) = goal {
            f.reference(v, GOAL_GREY, Some(label).filter(|l| !l.is_empty()))?;
        }
        // All bands first, so no band veils another series' line.
        for (i, (lo, hi)) in lows.iter().zip(&highs).enumerate() {
            for (lo, hi) in lo.iter().zip(hi) {
                f.area(hi, lo, (PALETTE[i % PALETTE.len()], BAND_ALPHA), None)?;
            }
        }
        let official_label = if self.official_label.is_empty() { "Official" } else { self.official_label };
        f.series(&official, OFFICIAL_INK, Dash::Solid, official_label)?;
        for (i, (s, runs)) in self.series.iter().zip(&means).enumerate() {
            let (color, label) = (PALETTE[i % PALETTE.len()], format!("{} (mean)", s.label));
            // A series with a band but no mean still gets its entry.
            if !f.series(runs, color, Dash::Dashed, &label)? && !lows[i].is_empty() {
                f.legend.push((label, Swatch::Series(color, Dash::Dashed)));
            }
        }
        if !self.series.is_empty() && self.runs > 1 {
            f.legend.push((band_meaning(self.runs), Swatch::Band(GOAL_GREY)));
        }
        f.centre_note(span.is_none(), "No data")?;
        f.legend(&[(1.0, 1.0), (0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (0.5, 1.0)])?;
        c.footer(self.source_note, "")
    }
}
