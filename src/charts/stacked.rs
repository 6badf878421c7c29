//! Stacked areas of several non-negative layers over years (e.g. migrants
//! by settlement regime).

use super::*;

/// A stacked-area chart; see [`render_stacked_chart`].
#[derive(Debug, Clone, Copy)]
pub struct StackedChart<'a> {
    /// File name without extension.
    pub stem: &'a str,
    pub title: &'a str,
    /// Value-axis description with its unit, e.g. "Migrants (persons)".
    pub y_label: &'a str,
    pub years: &'a [i32],
    /// `(label, values)`, bottom layer first; `values[i]` belongs to
    /// `years[i]`.
    pub layers: &'a [(String, Vec<f64>)],
    /// Printed small at the bottom left.
    pub source_note: &'a str,
    /// Legend rows to leave room for above the stack (at least the layers): charts of the same
    /// total with different layers pass the same number so their value axes share a top.
    pub headroom_rows: usize,
}

/// Writes `<stem>.png` and `<stem>.svg` (1200×750) into `dir` (created if
/// missing): the layers stacked bottom-up in Okabe–Ito colours (a single
/// year becomes a stacked bar), the total labelled at the first and last
/// year, the legend in stack order, the 2024–2029 plan period shaded.
/// Missing, NaN and negative values count as 0; repeated years keep their
/// first column. Large values get compact tick labels ("150M"). Returns
/// the paths, PNG first.
pub fn render_stacked_chart(dir: &Path, chart: &StackedChart) -> Result<Vec<PathBuf>, ChartError> {
    write_chart_in(dir, chart.stem, chart)
}

/// `(year, cumulative sums bottom-up)` per distinct year, sorted.
fn stack(years: &[i32], layers: &[(String, Vec<f64>)]) -> Vec<(f64, Vec<f64>)> {
    let mut columns: Vec<(i32, usize)> = years.iter().enumerate().map(|(i, &y)| (y, i)).collect();
    // Stable sort, so dedup keeps the first column of a repeated year.
    columns.sort_by_key(|&(y, _)| y);
    columns.dedup_by_key(|&mut (y, _)| y);
    columns
        .into_iter()
        .map(|(year, i)| {
            let mut sum = 0.0;
            let cumulative = layers
                .iter()
                .map(|(_, values)| {
                    let v = values.get(i).copied().unwrap_or(0.0);
                    // Positive finite values only, and a sum that stays finite.
                    if v.is_finite() && v > 0.0 && (sum + v).is_finite() {
                        sum += v;
                    }
                    sum
                })
                .collect();
            (f64::from(year), cumulative)
        })
        .collect()
}

impl Drawing for StackedChart<'_> {
    fn draw_on<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        ink: Ink,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let columns = stack(self.years, self.layers);
        let total = |c: &(f64, Vec<f64>)| c.1.last().copied().unwrap_or(0.0);
        let max_total = columns.iter().map(total).fold(0.0, f64::max);
        let has_data = max_total > 0.0;

        // Headroom keeps the legend above the stack: at least ~35 %, more when the legend has
        // many rows (about 26 px each in a plot about 560 px tall).
        let rows = self.layers.len().max(self.headroom_rows);
        let legend_share = ((rows * 26 + 40) as f64 / 560.0).min(0.6);
        let top = if legend_share > 0.26 {
            let top = max_total.max(1e-9) / (1.0 - legend_share);
            let step = tick_step(top);
            (top / step).ceil() * step
        } else {
            top_with_headroom(max_total)
        };
        let mut y = Axis::new(0.0, top);
        y.compact = (1e4..1e15).contains(&y.hi);
        let span = year_span(columns.iter().map(|c| c.0 as i32));
        let years = span.unwrap_or((PLAN_START_YEAR - 1, PLAN_END_YEAR));

        let mut f = Frame::new(root, ink, self.title, years, y, RIGHT_MARGIN_PX)?;
        f.plan_band(PLAN_END_YEAR)?;
        f.axes(self.y_label)?;

        let mut legend = Vec::new();
        let n = self.layers.len();
        for (i, (label, _)) in self.layers.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let lower = |c: &(f64, Vec<f64>)| if i == 0 { 0.0 } else { c.1[i - 1] };
            let upper: Vec<(f64, f64)> = columns.iter().map(|c| (c.0, c.1[i])).collect();
            let lower: Vec<(f64, f64)> = columns.iter().map(|c| (c.0, lower(c))).collect();
            f.layer(&upper, &lower, color, i + 1 == n)?;
            legend.push(entry(label.clone(), Swatch::Bar(color)));
            // The layer's own value at the last year, inside the area
            // where it is thick enough.
            if let (Some(&(x, hi)), Some(&(_, lo))) = (upper.last(), lower.last()) {
                let (px, top) = f.px(x, hi);
                let bottom = f.px(x, lo).1;
                if bottom - top >= 22 && columns.len() > 1 {
                    let text = compact_number(hi - lo, f.y.step / 10.0, hi - lo, false);
                    let style = anchored(
                        (FONT, LEGEND_PX, FontStyle::Bold).into_font().color(&WHITE),
                        HPos::Right,
                        VPos::Center,
                    );
                    f.canvas
                        .text(&text, (px - 10, (top + bottom) / 2), &style)?;
                }
            }
        }
        if has_data {
            let top: Vec<(f64, f64)> = columns.iter().map(|c| (c.0, total(c))).collect();
            let up: Vec<Px> = top.iter().map(|&(x, v)| f.px(x, v)).collect();
            let base_y = f.px(f.x_lo(), 0.0).1;
            let down: Vec<Px> = up.iter().map(|&(x, _)| (x, base_y)).collect();
            if let [single] = up[..] {
                f.canvas
                    .occupied
                    .push(PxRect::spanning(single, (single.0, base_y)));
            }
            f.canvas.occupy_between(&up, &down);
            // Totals at both ends, so the level reads without the grid.
            let ends = [top.first(), top.last()];
            for (k, &(x, v)) in ends.into_iter().flatten().enumerate() {
                if k == 1 && top.len() == 1 {
                    break;
                }
                let text = format!("Total {}", compact_number(v, f.y.step / 10.0, v, false));
                f.annotate((x, v), &text, TEXT_GREY)?;
            }
        } else {
            f.centre_note("No data")?;
        }
        // Top layer first, as the areas are stacked on screen.
        legend.reverse();
        use Corner::*;
        f.legend(&legend, &[UpperLeft, UpperRight, LowerLeft, LowerRight])?;
        draw_footer(&mut f.canvas, self.source_note, "")
    }
}

/// Stacked bars that may go below zero: per year, the positive layers stack up from zero and
/// the negative ones down from it, and a marker shows the net (the sum). For a decomposition of
/// a change into its sources.
pub struct DivergingChart<'a> {
    /// File name without extension.
    pub stem: &'a str,
    pub title: &'a str,
    /// Value-axis description with its unit.
    pub y_label: &'a str,
    pub years: &'a [i32],
    /// `(label, values)` in legend order; `values[i]` belongs to `years[i]`.
    pub layers: &'a [(String, Vec<f64>)],
    /// Legend label of the net marker.
    pub net_label: &'a str,
    pub source_note: &'a str,
}

/// Writes `<stem>.png` and `<stem>.svg` into `dir`; layers that are zero in every year are left
/// out of the bars and the legend. Returns the paths, PNG first.
pub fn render_diverging_chart(
    dir: &Path,
    chart: &DivergingChart,
) -> Result<Vec<PathBuf>, ChartError> {
    write_chart_in(dir, chart.stem, chart)
}

impl DivergingChart<'_> {
    /// Per year: (year, [(layer, low, high)]) with positives stacked up and negatives down, and
    /// the net.
    #[allow(clippy::type_complexity)]
    fn columns(&self) -> Vec<(f64, Vec<(usize, f64, f64)>, f64)> {
        self.years
            .iter()
            .enumerate()
            .map(|(i, &year)| {
                let (mut up, mut down, mut net) = (0.0, 0.0, 0.0);
                let mut pieces = Vec::new();
                for (l, (_, values)) in self.layers.iter().enumerate() {
                    let v = values
                        .get(i)
                        .copied()
                        .filter(|v| v.is_finite())
                        .unwrap_or(0.0);
                    net += v;
                    if v > 0.0 {
                        pieces.push((l, up, up + v));
                        up += v;
                    } else if v < 0.0 {
                        pieces.push((l, down + v, down));
                        down += v;
                    }
                }
                (f64::from(year), pieces, net)
            })
            .collect()
    }
}

impl Drawing for DivergingChart<'_> {
    fn draw_on<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        ink: Ink,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let columns = self.columns();
        let shown: Vec<usize> = (0..self.layers.len())
            .filter(|&l| self.layers[l].1.iter().any(|v| v.is_finite() && *v != 0.0))
            .collect();
        let extremes = columns.iter().flat_map(|(_, pieces, net)| {
            pieces
                .iter()
                .flat_map(|&(_, lo, hi)| [lo, hi])
                .chain(std::iter::once(*net))
                .collect::<Vec<_>>()
        });
        let (lo, hi) = extremes.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        // Room above for the legend (about 26 px a row in a plot about 560 px tall).
        let legend_share = (((shown.len() + 1) * 26 + 40) as f64 / 560.0).min(0.6);
        let span = (hi - lo).max(1e-9);
        let top = hi + span * legend_share / (1.0 - legend_share);
        let step = tick_step(top - lo);
        let y = Axis::new((lo / step).floor() * step, (top / step).ceil() * step);
        let span = year_span(columns.iter().map(|c| c.0 as i32));
        let years = span.unwrap_or((PLAN_START_YEAR - 1, PLAN_END_YEAR));
        let mut f = Frame::new(root, ink, self.title, years, y, RIGHT_MARGIN_PX)?;
        f.plan_band(PLAN_END_YEAR)?;
        f.axes(self.y_label)?;
        for (x, pieces, _) in &columns {
            for &(l, lo, hi) in pieces {
                let color =
                    PALETTE[shown.iter().position(|&s| s == l).unwrap_or(l) % PALETTE.len()];
                let a = f.clamp((x - 0.32, lo));
                let b = f.clamp((x + 0.32, hi));
                f.chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [a, b],
                        tint(color, 0.85).filled(),
                    )))
                    .map_err(msg)?;
                f.chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [a, b],
                        WHITE.stroke_width(1),
                    )))
                    .map_err(msg)?;
                let rect = PxRect::spanning(f.px(a.0, a.1), f.px(b.0, b.1));
                f.canvas.occupied.push(rect);
            }
        }
        // The zero line and the net of each year.
        let zero = [f.clamp((f.x_lo(), 0.0)), f.clamp((f.x_hi(), 0.0))];
        f.chart
            .draw_series(LineSeries::new(zero, BLACK.stroke_width(1)))
            .map_err(msg)?;
        for (x, _, net) in &columns {
            let (px, py) = f.px(*x, *net);
            f.canvas.draw(&Rectangle::new(
                [(px - 22, py - 2), (px + 22, py + 2)],
                BLACK.filled(),
            ))?;
            f.canvas
                .occupied
                .push(PxRect::spanning((px - 22, py - 3), (px + 22, py + 3)));
        }
        if columns.is_empty() {
            f.centre_note("No data")?;
        }
        let mut legend: Vec<LegendEntry> = shown
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                entry(
                    self.layers[l].0.clone(),
                    Swatch::Bar(PALETTE[i % PALETTE.len()]),
                )
            })
            .collect();
        legend.push(entry(self.net_label, Swatch::Line(BLACK, Dash::Solid)));
        use Corner::*;
        f.legend(&legend, &[UpperLeft, UpperRight, LowerLeft, LowerRight])?;
        draw_footer(&mut f.canvas, self.source_note, "")
    }
}

impl<DB: DrawingBackend> Frame<'_, DB> {
    /// One stacked layer between `lower` and `upper` (same years), in an
    /// opaque tint (the plan band must not shift its colour) with a white
    /// separator on top, or a darker edge if it is the `topmost`; a single
    /// year becomes a bar.
    fn layer(
        &mut self,
        upper: &[(f64, f64)],
        lower: &[(f64, f64)],
        color: RGBColor,
        topmost: bool,
    ) -> Result<(), String> {
        let (upper, lower): (Line, Line) = match (upper, lower) {
            ([], _) | (_, []) => return Ok(()),
            ([(x, hi)], [(_, lo)]) => (
                vec![(x - 0.32, *hi), (x + 0.32, *hi)],
                vec![(x - 0.32, *lo), (x + 0.32, *lo)],
            ),
            _ => (upper.to_vec(), lower.to_vec()),
        };
        let upper: Vec<(f64, f64)> = upper.iter().map(|&p| self.clamp(p)).collect();
        let lower: Vec<(f64, f64)> = lower.iter().map(|&p| self.clamp(p)).collect();
        let outline: Vec<(f64, f64)> = upper.iter().chain(lower.iter().rev()).copied().collect();
        self.chart
            .draw_series(std::iter::once(Polygon::new(
                outline,
                tint(color, 0.85).filled(),
            )))
            .map_err(msg)?;
        let edge = if topmost { color } else { WHITE };
        self.chart
            .draw_series(LineSeries::new(upper, edge.stroke_width(2)))
            .map_err(msg)?;
        Ok(())
    }
}

/// `color` mixed with white: opaque, `strength` 1 = the colour itself.
fn tint(color: RGBColor, strength: f64) -> RGBColor {
    let mix = |c: u8| (255.0 - strength * (255.0 - f64::from(c))).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migrants by regime 2023–2029, roughly 160M open, 43M relaxed, 130M
    /// points-based.
    pub(crate) fn regimes() -> (Vec<i32>, Vec<(String, Vec<f64>)>) {
        let years: Vec<i32> = (2023..=2029).collect();
        let layer = |label: &str, start: f64, slope: f64| {
            let values = years
                .iter()
                .map(|&y| (start + slope * f64::from(y - 2023)) * 1e6)
                .collect();
            (label.to_string(), values)
        };
        let layers = vec![
            layer("Open (no hukou threshold)", 160.0, 2.5),
            layer("Relaxed", 43.0, 0.6),
            layer("Points-based", 130.0, -0.8),
        ];
        (years, layers)
    }

    pub(crate) fn chart<'a>(
        years: &'a [i32],
        layers: &'a [(String, Vec<f64>)],
    ) -> StackedChart<'a> {
        StackedChart {
            stem: "stacked",
            title: "Rural migrants by settlement regime of their city",
            y_label: "Migrants (persons)",
            years,
            layers,
            source_note: "Source: migrasim simulation, mean of replicates",
            headroom_rows: 0,
        }
    }

    #[test]
    fn writes_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let (years, layers) = regimes();
        let paths = render_stacked_chart(dir.path(), &chart(&years, &layers)).unwrap();
        assert_eq!(paths.len(), 2);
        let png = std::fs::read(&paths[0]).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000);
        let svg = std::fs::read_to_string(&paths[1]).unwrap();
        for text in ["settlement regime", "Points-based", "Total 333M", "300M"] {
            assert!(svg.contains(text), "svg lacks {text:?}");
        }
    }

    #[test]
    fn empty_nan_and_ragged_input_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        render_stacked_chart(dir.path(), &chart(&[], &[])).unwrap();
        let layers = vec![
            ("nan".to_string(), vec![f64::NAN, -1.0, f64::INFINITY]),
            ("short".to_string(), vec![1.0]),
            ("huge".to_string(), vec![f64::MAX, f64::MAX, 1.0]),
        ];
        let mut c = chart(&[2029, 2024, 2024], &layers);
        c.stem = "ragged";
        render_stacked_chart(dir.path(), &c).unwrap();
        c.years = &[2025];
        render_stacked_chart(dir.path(), &c).unwrap();
        let zeros = vec![("zero".to_string(), vec![0.0, 0.0])];
        c.layers = &zeros;
        c.years = &[2024, 2025];
        render_stacked_chart(dir.path(), &c).unwrap();
    }

    #[test]
    fn stack_sorts_dedups_and_sums_bottom_up() {
        let layers = vec![
            ("a".to_string(), vec![1.0, 2.0, 9.0]),
            ("b".to_string(), vec![10.0, f64::NAN]),
        ];
        let s = stack(&[2025, 2024, 2025], &layers);
        assert_eq!(s, vec![(2024.0, vec![2.0, 2.0]), (2025.0, vec![1.0, 11.0])]);
    }

    /// Writes samples to `$MIGRASIM_CHART_PREVIEW/stacked` (if set); see
    /// `charts::tests::preview`.
    #[test]
    fn preview() {
        let Some(dir) = std::env::var_os("MIGRASIM_CHART_PREVIEW") else {
            return;
        };
        let dir = PathBuf::from(dir).join("stacked");
        let (years, layers) = regimes();
        render_stacked_chart(&dir, &chart(&years, &layers)).unwrap();
        let mut c = chart(&years[..1], &layers);
        c.stem = "stacked-one-year";
        render_stacked_chart(&dir, &c).unwrap();
        let mut c = chart(&[], &[]);
        c.stem = "stacked-empty";
        render_stacked_chart(&dir, &c).unwrap();
    }
}
