//! Scenario comparison: the replicate mean of each series as a line with
//! markers over a translucent 5–95 % band, with official history and an
//! optional goal line.

use super::*;

/// Mean with a 5–95% band over replicates for one year.
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

/// A band chart; see [`render_band_chart`].
#[derive(Debug, Clone, Copy)]
pub struct BandChart<'a> {
    /// File name without extension.
    pub stem: &'a str,
    pub title: &'a str,
    /// Value-axis description with its unit, e.g. "Share of total population (%)".
    pub y_label: &'a str,
    /// Up to ~8 series; each gets the next Okabe–Ito colour.
    pub series: &'a [BandSeries],
    /// Official history, drawn as a solid dark line with markers (may be empty).
    pub official: &'a [(i32, f64)],
    pub official_label: &'a str,
    /// Horizontal goal line (value, label), e.g. `(70.0, "Plan goal ≈70% by 2029")`.
    pub goal: Option<(f64, &'a str)>,
    /// Printed small at the bottom left.
    pub source_note: &'a str,
    /// Start the value axis at 0 (otherwise it covers the data only).
    pub y_from_zero: bool,
}

/// Writes `<stem>.png` and `<stem>.svg` (1200×750) into `dir` (created if
/// missing): per series the mean as a dashed line with hollow markers (the
/// house style for simulated values) over a translucent band from `low` to
/// `high`, official history as a solid dark line, the goal as a dashed grey
/// line, the 2024–2029 plan period shaded. NaN/inf values are skipped (a
/// missing year breaks the line); empty input gives a "No data" frame.
/// Returns the paths, PNG first.
pub fn render_band_chart(dir: &Path, chart: &BandChart) -> Result<Vec<PathBuf>, ChartError> {
    write_chart_in(dir, chart.stem, chart)
}

/// Year-sorted runs of `(year, low, high)` where both bounds are finite
/// (swapped if given the wrong way round).
fn band_runs(points: &[BandPoint]) -> Vec<Vec<(f64, f64, f64)>> {
    let mut points = points.to_vec();
    points.sort_by_key(|p| p.year);
    let mut out: Vec<Vec<(f64, f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for p in points {
        if p.low.is_finite() && p.high.is_finite() {
            let (lo, hi) = (p.low.min(p.high), p.low.max(p.high));
            current.push((f64::from(p.year), lo, hi));
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

impl Drawing for BandChart<'_> {
    fn draw_on<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        ink: Ink,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let means: Vec<Vec<Vec<(f64, f64)>>> = self
            .series
            .iter()
            .map(|s| runs(s.points.iter().map(|p| (p.year, Some(p.mean))).collect()))
            .collect();
        let bands: Vec<Vec<Vec<(f64, f64, f64)>>> =
            self.series.iter().map(|s| band_runs(&s.points)).collect();
        let official = runs(self.official.iter().map(|&(y, v)| (y, Some(v))).collect());
        let goal = self.goal.filter(|(v, _)| v.is_finite());

        let band_values = bands
            .iter()
            .flatten()
            .flatten()
            .flat_map(|&(_, lo, hi)| [lo, hi]);
        let values = means
            .iter()
            .flat_map(|r| flat(r))
            .chain(flat(&official))
            .chain(band_values)
            .chain(goal.map(|(v, _)| v));
        let y = Axis::auto(values, self.y_from_zero);

        let years = means
            .iter()
            .flatten()
            .flatten()
            .map(|&(x, _)| x)
            .chain(bands.iter().flatten().flatten().map(|&(x, _, _)| x))
            .chain(flat_x(&official))
            .map(|x| x as i32);
        let span = year_span(years);
        let years = span.unwrap_or((PLAN_START_YEAR - 1, PLAN_END_YEAR));

        let mut f = Frame::new(root, ink, self.title, years, y, RIGHT_MARGIN_PX)?;
        // Shaded only where the chart also shows years before the plan: over the plan's years
        // alone the whole plot would be shaded, which says nothing.
        if years.0 < PLAN_START_YEAR {
            f.plan_band(PLAN_END_YEAR)?;
        }
        f.axes(self.y_label)?;
        if let Some((v, label)) = goal {
            let label = (!label.is_empty()).then_some(label);
            f.reference_line(v, GOAL_GREY, label)?;
        }

        // All bands first, so no band veils another series' line.
        for (i, runs) in bands.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            for run in runs {
                f.band(run, color)?;
            }
        }
        let mut legend = Vec::new();
        if f.series(&official, OFFICIAL_INK, Look::History)? {
            let label = if self.official_label.is_empty() {
                "Official"
            } else {
                self.official_label
            };
            legend.push(entry(label, Swatch::Series(OFFICIAL_INK, Look::History)));
        }
        for (i, (series, runs)) in self.series.iter().zip(&means).enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let drawn = f.series(runs, color, Look::Projection)?;
            if drawn || !bands[i].is_empty() {
                legend.push(entry(
                    series.label.clone(),
                    Swatch::Band(color, Look::Projection),
                ));
            }
        }
        if span.is_none() {
            f.centre_note("No data")?;
        }
        use Corner::*;
        f.legend(
            &legend,
            &[LowerRight, UpperLeft, LowerLeft, UpperRight, LowerCenter],
        )?;
        draw_footer(&mut f.canvas, self.source_note, "")
    }
}

fn flat_x(runs: &[Vec<(f64, f64)>]) -> impl Iterator<Item = f64> + '_ {
    runs.iter().flatten().map(|&(x, _)| x)
}

impl<DB: DrawingBackend> Frame<'_, DB> {
    /// Translucent area between `low` and `high`; a single year becomes a
    /// narrow bar.
    fn band(&mut self, run: &[(f64, f64, f64)], color: RGBColor) -> Result<(), String> {
        let (upper, lower): (Line, Line) = if let [(x, lo, hi)] = run {
            (
                vec![self.clamp((x - 0.15, *hi)), self.clamp((x + 0.15, *hi))],
                vec![self.clamp((x - 0.15, *lo)), self.clamp((x + 0.15, *lo))],
            )
        } else {
            run.iter()
                .map(|&(x, lo, hi)| (self.clamp((x, hi)), self.clamp((x, lo))))
                .unzip()
        };
        let outline: Vec<(f64, f64)> = upper.iter().chain(lower.iter().rev()).copied().collect();
        self.chart
            .draw_series(std::iter::once(Polygon::new(outline, band_style(color))))
            .map_err(msg)?;
        let up: Vec<Px> = upper.iter().map(|&(x, y)| self.px(x, y)).collect();
        let down: Vec<Px> = lower.iter().map(|&(x, y)| self.px(x, y)).collect();
        self.canvas.occupy_between(&up, &down);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn official_history() -> Vec<(i32, f64)> {
        let resident = [
            49.95, 51.83, 53.10, 54.49, 55.75, 57.33, 58.84, 60.24, 61.50, 62.71, 63.89, 64.72,
            65.22, 66.16,
        ];
        (2010..=2023).zip(resident).collect()
    }

    /// Three scenarios 2023–2029 from 66.16 % with ±0.3 pp bands.
    pub(crate) fn scenarios() -> Vec<BandSeries> {
        [("baseline", 0.65), ("reform", 0.80), ("status quo", 0.50)]
            .into_iter()
            .map(|(label, slope)| BandSeries {
                label: label.to_string(),
                points: (2023..=2029)
                    .map(|year| {
                        let t = f64::from(year - 2023);
                        let mean = 66.16 + slope * t;
                        let w = 0.05 * t;
                        BandPoint {
                            year,
                            mean,
                            low: mean - w,
                            high: mean + w,
                        }
                    })
                    .collect(),
            })
            .collect()
    }

    pub(crate) fn chart<'a>(series: &'a [BandSeries], official: &'a [(i32, f64)]) -> BandChart<'a> {
        BandChart {
            stem: "band",
            title: "Resident urbanization rate by scenario, 2010–2029",
            y_label: "Share of total population (%)",
            series,
            official,
            official_label: "Official (NBS)",
            goal: Some((70.0, "Plan goal ≈70% by 2029")),
            source_note: "Source: NBS 2010–2023; migrasim, mean and 5–95% range of replicates",
            y_from_zero: false,
        }
    }

    #[test]
    fn writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let (series, official) = (scenarios(), official_history());
        let paths = render_band_chart(dir.path(), &chart(&series, &official)).unwrap();
        assert_eq!(paths.len(), 2);
        assert!(paths[0].ends_with("band.png") && paths[1].ends_with("band.svg"));
        let png = std::fs::read(&paths[0]).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000);
        let svg = std::fs::read_to_string(&paths[1]).unwrap();
        assert!(svg.len() > 10_000);
        for text in [
            "Resident urbanization rate by scenario",
            "status quo",
            "Plan goal",
        ] {
            assert!(svg.contains(text), "svg lacks {text:?}");
        }
    }

    #[test]
    fn empty_nan_and_odd_input_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let empty = BandChart {
            stem: "empty",
            title: "",
            y_label: "",
            series: &[],
            official: &[],
            official_label: "",
            goal: None,
            source_note: "",
            y_from_zero: true,
        };
        render_band_chart(dir.path(), &empty).unwrap();

        let nan = BandPoint {
            year: 2025,
            mean: f64::NAN,
            low: f64::INFINITY,
            high: f64::NEG_INFINITY,
        };
        let odd = vec![
            BandSeries {
                label: "nan".into(),
                points: vec![nan; 3],
            },
            BandSeries {
                label: "single, reversed band".into(),
                points: vec![BandPoint {
                    year: 2026,
                    mean: 5.0,
                    low: 6.0,
                    high: 4.0,
                }],
            },
            BandSeries {
                label: "no points".into(),
                points: vec![],
            },
            BandSeries {
                label: "huge".into(),
                points: vec![BandPoint {
                    year: 2027,
                    mean: 1e300,
                    low: -1e300,
                    high: 1e300,
                }],
            },
        ];
        let official = [(2020, f64::NAN), (2021, 3.0)];
        let mut c = chart(&odd, &official);
        c.stem = "odd";
        c.goal = Some((f64::NAN, "goal"));
        render_band_chart(dir.path(), &c).unwrap();
        c.series = &odd[..2];
        c.y_from_zero = true;
        render_band_chart(dir.path(), &c).unwrap();
    }

    #[test]
    fn band_runs_split_at_gaps_and_order_bounds() {
        let p = |year, low, high| BandPoint {
            year,
            mean: 0.0,
            low,
            high,
        };
        let r = band_runs(&[p(2026, 3.0, 1.0), p(2024, 0.0, 1.0), p(2025, f64::NAN, 1.0)]);
        assert_eq!(r, vec![vec![(2024.0, 0.0, 1.0)], vec![(2026.0, 1.0, 3.0)]]);
    }

    #[test]
    fn bad_stem_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = chart(&[], &[]);
        c.stem = "../escape";
        assert!(render_band_chart(dir.path(), &c).is_err());
        c.stem = "";
        assert!(render_band_chart(dir.path(), &c).is_err());
    }

    /// Writes samples to `$MIGRASIM_CHART_PREVIEW/band` (if set); see
    /// `charts::tests::preview`.
    #[test]
    fn preview() {
        let Some(dir) = std::env::var_os("MIGRASIM_CHART_PREVIEW") else {
            return;
        };
        let dir = PathBuf::from(dir).join("band");
        let (series, official) = (scenarios(), official_history());
        render_band_chart(&dir, &chart(&series, &official)).unwrap();
        let mut eight = Vec::new();
        for k in 0..8 {
            let mut s = series[k % 3].clone();
            s.label = format!("Scenario {k}");
            for p in &mut s.points {
                let d = 0.3 * k as f64 * f64::from(p.year - 2023) / 6.0;
                p.mean += d;
                p.low += d - 0.2;
                p.high += d + 0.2;
            }
            eight.push(s);
        }
        let mut c = chart(&eight, &[]);
        c.stem = "band-eight";
        c.title = "Eight scenarios, no history";
        render_band_chart(&dir, &c).unwrap();
        let mut c = chart(&series, &[]);
        c.stem = "band-zero";
        c.y_from_zero = true;
        c.goal = None;
        render_band_chart(&dir, &c).unwrap();
        c.stem = "band-empty";
        c.series = &[];
        render_band_chart(&dir, &c).unwrap();
    }
}
