//! Predicted vs. observed (or any two measurements of the same quantity) as
//! a scatter of dots around the line y = x, on a square plot whose two axes
//! share one range, optionally log10-scaled.

use super::*;

/// One dot of a [`ScatterChart`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScatterPoint {
    pub x: f64,
    pub y: f64,
}

/// A scatter chart; see [`render_scatter`].
#[derive(Debug, Clone, Copy)]
pub struct ScatterChart<'a> {
    /// File name without extension.
    pub stem: &'a str,
    pub title: &'a str,
    /// Axis descriptions with their units.
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub points: &'a [ScatterPoint],
    /// Text lines drawn in a box in the upper left inside the plot, e.g.
    /// "r = 0.998", "MAE = 12.3k". Empty: no box.
    pub annotations: &'a [String],
    /// Both axes log10 (non-positive values are then skipped).
    pub log_scale: bool,
    /// Printed small at the bottom left.
    pub source_note: &'a str,
}

/// Writes `<stem>.png` and `<stem>.svg` (1200×750) into `dir` (created if
/// missing): every point as a small translucent dot (so dense clusters read
/// darker) on a square plot whose x and y axes share one range (the data of
/// both axes with a little padding), so the dashed grey line y = x runs at
/// 45° from corner to corner. With `log_scale` both axes are log10 with
/// labels like "10k", "1M" at the decades (plus 2 and 5 when few decades
/// are shown) and light grid lines at the intermediate multiples; the linear
/// axes start at 0 for non-negative data and use compact labels ("5M").
/// `annotations` go in a box in the upper left, the legend (dots with their
/// count, and y = x) in the lower right unless points are in the way.
/// NaN/inf values, and non-positive ones in log scale, are skipped (the
/// legend says how many); without points the frame (axes, annotations,
/// footer) says "No data" instead of showing the line and legend.
/// Returns the paths, PNG first.
pub fn render_scatter(dir: &Path, chart: &ScatterChart) -> Result<Vec<PathBuf>, ChartError> {
    write_chart_in(dir, chart.stem, chart)
}

const DOT_R: i32 = 3;
const DOT_ALPHA: f64 = 0.45;
const DOT_INK: RGBColor = PALETTE[0];
const MINOR_GRID: RGBColor = RGBColor(243, 243, 243);
/// Box geometry shared by the annotation box and the legend.
const BOX_PAD: i32 = 12;
const BOX_ROW: i32 = 24;
const BOX_INSET: i32 = 10;

/// Points that can be drawn, in axis space (log10 of the value on a log
/// scale), and how many were skipped for which reason.
#[derive(Debug, Default, PartialEq)]
struct Prepared {
    points: Vec<(f64, f64)>,
    not_finite: usize,
    not_positive: usize,
    /// Outside the axis range; only data too extreme to pad ends up here.
    out_of_range: usize,
}

fn prepare(points: &[ScatterPoint], log: bool) -> Prepared {
    let mut out = Prepared::default();
    for p in points {
        if !(p.x.is_finite() && p.y.is_finite()) {
            out.not_finite += 1;
        } else if log && (p.x <= 0.0 || p.y <= 0.0) {
            out.not_positive += 1;
        } else if log {
            out.points.push((p.x.log10(), p.y.log10()));
        } else {
            out.points.push((p.x, p.y));
        }
    }
    out
}

/// One axis (both axes are the same): range and ticks in axis space, with
/// the labels of the major ticks.
#[derive(Debug, PartialEq)]
struct ScatterAxis {
    lo: f64,
    hi: f64,
    /// `(position, label)`, with grid lines.
    major: Vec<(f64, String)>,
    /// Light grid lines only.
    minor: Vec<f64>,
}

/// Range shown when there is nothing to plot.
const EMPTY_LINEAR: (f64, f64) = (0.0, 1.0);
/// 1 to 100 000 on a log scale.
const EMPTY_LOG: (f64, f64) = (0.0, 5.0);

impl ScatterAxis {
    /// Shared axis over all coordinates of `points` (axis space).
    /// `px` is the plot side in pixels (for tick density).
    fn new(points: &[(f64, f64)], log: bool, px: f64) -> Self {
        let values = points.iter().flat_map(|&(x, y)| [x, y]);
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if log {
            let (lo, hi) = if lo > hi {
                EMPTY_LOG
            } else {
                // Log10 values are within ±330, so nothing overflows here.
                let span = hi - lo;
                let pad = if span > 0.0 {
                    (span * 0.05).max(0.05)
                } else {
                    0.5
                };
                (lo - pad, hi + pad)
            };
            Self::log(lo, hi, px)
        } else {
            Self::linear(lo, hi)
        }
    }

    /// Linear axis over data `lo..hi` with 5 % padding, snapped to round
    /// ticks and from 0 if the data is non-negative; `0..1` without (or
    /// with unplottably extreme) data.
    fn linear(lo: f64, hi: f64) -> Self {
        let (lo, hi) = if lo > hi {
            EMPTY_LINEAR
        } else {
            let span = hi - lo;
            let pad = if span > 0.0 {
                span * 0.05
            } else {
                (lo.abs() * 0.1).max(1.0)
            };
            let (mut a, b) = (lo - pad, hi + pad);
            if lo >= 0.0 {
                a = a.max(0.0);
            }
            let step = tick_step(b - a);
            let (a, b) = ((a / step).floor() * step, (b / step).ceil() * step);
            if (b - a).is_finite() && a < b {
                (a, b)
            } else {
                EMPTY_LINEAR
            }
        };
        let axis = Axis {
            compact: (1e4..1e15).contains(&lo.abs().max(hi.abs())),
            ..Axis::new(lo, hi)
        };
        ScatterAxis {
            lo,
            hi,
            major: axis.ticks.iter().map(|&v| (v, axis.label(v))).collect(),
            minor: Vec::new(),
        }
    }

    /// Log axis over `lo..hi` (log10 units): decades, thinned to at most 8
    /// labels; 1-2-5 labels when decades are wide; plain round values when
    /// the range is less than about half a decade.
    fn log(lo: f64, hi: f64, px: f64) -> Self {
        let span = hi - lo;
        let px_per_decade = px / span;
        let inside = |t: f64| t >= lo - 1e-9 && t <= hi + 1e-9;
        let decades = lo.floor() as i32..=hi.ceil() as i32;
        let mut major: Vec<(f64, String)> = Vec::new();
        let mut minor: Vec<f64> = Vec::new();

        // Labels at 1, 2 and 5 need ~55 px between 1 and 2 (0.3 decade).
        if px_per_decade * 0.3 >= 55.0 {
            for e in decades.clone() {
                for m in 1..=9 {
                    let v = f64::from(m) * 10f64.powi(e);
                    let t = v.log10();
                    if !inside(t) {
                        continue;
                    }
                    if [1, 2, 5].contains(&m) {
                        major.push((t, si_label(v)));
                    } else {
                        minor.push(t);
                    }
                }
            }
        } else {
            let step = [1, 2, 3, 5, 10, 20, 50, 100, 200]
                .into_iter()
                .find(|&k| span / f64::from(k) <= 8.0)
                .unwrap_or(500);
            for e in decades.clone() {
                let t = f64::from(e);
                if !inside(t) {
                    continue;
                }
                if e.rem_euclid(step) == 0 {
                    major.push((t, si_label(10f64.powi(e))));
                } else {
                    minor.push(t);
                }
                // Intermediate multiples only when decades are wide enough
                // for the lines not to blur into grey.
                if step == 1 && px_per_decade >= 60.0 {
                    for m in 2..=9 {
                        let t = (f64::from(m) * 10f64.powi(e)).log10();
                        if inside(t) {
                            minor.push(t);
                        }
                    }
                }
            }
        }

        if major.len() < 2 {
            // Less than ~half a decade: round values as on a linear axis.
            let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
            let step = tick_step(b - a);
            major = value_ticks(a, b, step)
                .into_iter()
                .filter(|&v| v > 0.0)
                .map(|v| (v.log10(), si_label(v)))
                .collect();
            minor.clear();
        }
        ScatterAxis {
            lo,
            hi,
            major,
            minor,
        }
    }
}

/// `v` as "500", "2k", "1.5M", "10B"; each label with its own suffix (as
/// suits log axes); exponent form outside 0.001 … 10¹⁵.
fn si_label(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() {
        return "0".to_string();
    }
    if !(1e-3..1e15).contains(&a) {
        return format!("{v:.0e}");
    }
    let (div, suffix) = if a >= 1e9 {
        (1e9, "B")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let body = format!("{:.3}", v / div);
    let body = body.trim_end_matches('0').trim_end_matches('.');
    let sign = if v < 0.0 { "−" } else { "" };
    format!("{sign}{}{suffix}", body.trim_start_matches('-'))
}

/// What [`prepare`] left out, e.g. "3 ≤ 0, 1 invalid"; `None` if nothing.
fn skipped_label(p: &Prepared) -> Option<String> {
    let mut parts = Vec::new();
    if p.not_positive > 0 {
        parts.push(format!("{} ≤ 0", p.not_positive));
    }
    if p.not_finite > 0 {
        parts.push(format!("{} invalid", p.not_finite));
    }
    if p.out_of_range > 0 {
        parts.push(format!("{} out of range", p.out_of_range));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Number of points for the legend, with what was left out.
fn count_label(p: &Prepared) -> String {
    let n = p.points.len();
    let label = if n == 1 {
        "1 point".to_string()
    } else {
        format!("{n} points")
    };
    match skipped_label(p) {
        Some(skipped) => format!("{label} ({skipped} not shown)"),
        None => label,
    }
}

/// White box with a grey border, as the other charts' legends.
fn draw_box<DB: DrawingBackend>(canvas: &mut Canvas<'_, DB>, r: PxRect) -> Result<(), String> {
    canvas.draw(&Rectangle::new(
        [(r.x0, r.y0), (r.x1, r.y1)],
        WHITE.mix(0.93).filled(),
    ))?;
    canvas.draw(&Rectangle::new(
        [(r.x0, r.y0), (r.x1, r.y1)],
        RGBColor(190, 190, 190).stroke_width(1),
    ))?;
    canvas.occupied.push(r);
    Ok(())
}

impl ScatterChart<'_> {
    /// The annotation lines in a box in the upper left of `plot`.
    fn annotate<DB: DrawingBackend>(
        &self,
        canvas: &mut Canvas<'_, DB>,
        plot: PxRect,
    ) -> Result<(), String> {
        if self.annotations.iter().all(|a| a.is_empty()) {
            return Ok(());
        }
        let text_font = font(LEGEND_PX);
        let text_style = anchored(text_font.clone(), HPos::Left, VPos::Center);
        let mut text_w = 0;
        for a in self.annotations {
            text_w = text_w.max(text_width(&text_font.font, a)?);
        }
        let rows = self.annotations.len() as i32;
        let r = PxRect {
            x0: plot.x0 + BOX_INSET,
            y0: plot.y0 + BOX_INSET,
            x1: plot.x0 + BOX_INSET + 2 * BOX_PAD + text_w,
            y1: plot.y0 + BOX_INSET + 2 * BOX_PAD + BOX_ROW * rows - 6,
        };
        draw_box(canvas, r)?;
        for (i, a) in self.annotations.iter().enumerate() {
            let cy = r.y0 + BOX_PAD + BOX_ROW * i as i32 + (BOX_ROW - 6) / 2;
            canvas.text(a, (r.x0 + BOX_PAD, cy), &text_style)?;
        }
        Ok(())
    }
}

impl Drawing for ScatterChart<'_> {
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
        let title_style = anchored(title_font(), HPos::Center, VPos::Top);
        canvas.text(self.title, (w / 2, 18), &title_style)?;

        // Square plot, centred under the title, as tall as the other charts'.
        let side = h - (TOP_PX + X_LABEL_AREA_PX + FOOTER_PX) as i32;
        let x0 = (w - side) / 2;
        let mut data = prepare(self.points, self.log_scale);
        let axis = ScatterAxis::new(&data.points, self.log_scale, f64::from(side));
        let ticks: Vec<f64> = axis.major.iter().map(|&(t, _)| t).collect();
        let tick_axis = || TickAxis {
            inner: (axis.lo..axis.hi).into(),
            ticks: ticks.clone(),
        };
        let mut chart = ChartBuilder::on(root)
            .margin_top(TOP_PX)
            .margin_bottom(FOOTER_PX)
            .margin_left((x0 - Y_LABEL_AREA_PX as i32).max(0) as u32)
            .margin_right((w - x0 - side).max(0) as u32)
            .x_label_area_size(X_LABEL_AREA_PX)
            .y_label_area_size(Y_LABEL_AREA_PX)
            .build_cartesian_2d(tick_axis(), tick_axis())
            .map_err(msg)?;
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let plot = PxRect {
            x0: xs.start,
            y0: ys.start,
            x1: xs.end,
            y1: ys.end,
        };

        // Minor grid under the major one.
        let (lo, hi) = (axis.lo, axis.hi);
        for &t in &axis.minor {
            for line in [[(t, lo), (t, hi)], [(lo, t), (hi, t)]] {
                chart
                    .draw_series(std::iter::once(PathElement::new(line, MINOR_GRID)))
                    .map_err(msg)?;
            }
        }
        chart
            .configure_mesh()
            .label_style(font(TICK_PX).color(&TRANSPARENT))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS_GREY)
            .draw()
            .map_err(msg)?;

        // Tick labels and axis descriptions, placed as on the other charts.
        let tick = font(TICK_PX);
        let below = anchored(tick.clone(), HPos::Center, VPos::Top);
        let left = anchored(tick, HPos::Right, VPos::Center);
        for (t, label) in &axis.major {
            let (px, py) = chart.backend_coord(&(*t, *t));
            canvas.text(label, (px, plot.y1 + 12), &below)?;
            canvas.text(label, (plot.x0 - 10, py), &left)?;
        }
        let desc = font(AXIS_DESC_PX);
        let (mid_x, mid_y) = ((plot.x0 + plot.x1) / 2, (plot.y0 + plot.y1) / 2);
        canvas.text(
            self.x_label,
            (mid_x, plot.y1 + 38),
            &anchored(desc.clone(), HPos::Center, VPos::Top),
        )?;
        let vertical = desc
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Center, VPos::Center));
        canvas.text(self.y_label, (plot.x0 - 66, mid_y), &vertical)?;

        // Dots; only those inside the range (all of them, unless the data
        // was too extreme to pad) so plotters never maps far-off values.
        let within = |v: f64| v >= lo && v <= hi;
        let before = data.points.len();
        data.points.retain(|&(x, y)| within(x) && within(y));
        data.out_of_range = before - data.points.len();
        let shown = &data.points;
        let dot = DOT_INK.mix(DOT_ALPHA).filled();
        chart
            .draw_series(shown.iter().map(|&p| Circle::new(p, DOT_R, dot)))
            .map_err(msg)?;
        for &p in shown {
            canvas
                .occupied
                .push(PxRect::around(chart.backend_coord(&p), DOT_R + 2));
        }

        if shown.is_empty() {
            let style = anchored(font_in(AXIS_DESC_PX, TEXT_GREY), HPos::Center, VPos::Center);
            let note = if data.out_of_range == 0 {
                "No data"
            } else {
                "Values too extreme to plot"
            };
            canvas.text(note, (mid_x, mid_y), &style)?;
            if let Some(skipped) = skipped_label(&data) {
                let style = anchored(font_in(LEGEND_PX, TEXT_GREY), HPos::Center, VPos::Center);
                let text = format!("Not shown: {skipped}");
                canvas.text(&text, (mid_x, mid_y + 28), &style)?;
            }
            self.annotate(&mut canvas, plot)?;
            return draw_footer(&mut canvas, self.source_note, "");
        }

        // y = x over the dots, so it stays visible through dense clusters.
        let diagonal = [(lo, lo), (hi, hi)];
        chart
            .draw_series(DashedLineSeries::new(
                diagonal,
                12,
                8,
                GOAL_GREY.stroke_width(2),
            ))
            .map_err(msg)?;
        canvas.occupy_polyline(&diagonal.map(|p| chart.backend_coord(&p)), 3);

        self.annotate(&mut canvas, plot)?;

        // Legend: lower right, else the free-est other corner.
        let text_font = font(LEGEND_PX);
        let text_style = anchored(text_font.clone(), HPos::Left, VPos::Center);
        let entries = [count_label(&data), "y = x".to_string()];
        let mut text_w = 0;
        for e in &entries {
            text_w = text_w.max(text_width(&text_font.font, e)?);
        }
        let (bw, bh) = (
            BOX_PAD + SWATCH_W + 10 + text_w + BOX_PAD,
            2 * BOX_PAD + BOX_ROW * 2 - 6,
        );
        let corners = [
            (plot.x1 - BOX_INSET - bw, plot.y1 - BOX_INSET - bh),
            (plot.x1 - BOX_INSET - bw, plot.y0 + BOX_INSET),
            (plot.x0 + BOX_INSET, plot.y1 - BOX_INSET - bh),
        ];
        let mut best: Option<(usize, PxRect)> = None;
        for (x, y) in corners {
            let r = PxRect::spanning((x, y), (x + bw, y + bh));
            let hits = canvas.hits(&r);
            if best.is_none_or(|(b, _)| hits < b) {
                best = Some((hits, r));
            }
            if hits == 0 {
                break;
            }
        }
        if let Some((_, r)) = best {
            draw_box(&mut canvas, r)?;
            let row = |i: i32| r.y0 + BOX_PAD + BOX_ROW * i + (BOX_ROW - 6) / 2;
            let sx = r.x0 + BOX_PAD;
            for k in 0..3 {
                let c = (sx + 6 + k * 12, row(0) + if k == 1 { -3 } else { 2 });
                canvas.draw(&Circle::new(c, DOT_R, DOT_INK.mix(0.7).filled()))?;
            }
            draw_swatch(&canvas, Swatch::Reference(GOAL_GREY), (sx, row(1)))?;
            for (i, e) in entries.iter().enumerate() {
                canvas.text(e, (sx + SWATCH_W + 10, row(i as i32)), &text_style)?;
            }
        }

        draw_footer(&mut canvas, self.source_note, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` points with x log-uniform in 1e3 … 2e7 and y = x × (1 ± 10 %),
    /// from a fixed xorshift sequence.
    pub(crate) fn sample_points(n: usize) -> Vec<ScatterPoint> {
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut uniform = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let (lo, hi) = (3.0, 2e7f64.log10());
        (0..n)
            .map(|_| {
                let x = 10f64.powf(lo + (hi - lo) * uniform());
                let y = x * (1.0 + 0.2 * (uniform() - 0.5));
                ScatterPoint { x, y }
            })
            .collect()
    }

    pub(crate) fn chart<'a>(points: &'a [ScatterPoint], notes: &'a [String]) -> ScatterChart<'a> {
        ScatterChart {
            stem: "scatter",
            title: "Urban population by unit: simulated vs. census 2020",
            x_label: "Census 2020 (persons)",
            y_label: "Simulated (persons)",
            points,
            annotations: notes,
            log_scale: true,
            source_note: "Source: 2020 census; migrasim simulation, mean of replicates",
        }
    }

    fn notes() -> Vec<String> {
        vec![
            "r = 0.998".to_string(),
            "MAE = 12.3k".to_string(),
            "MAPE = 4.9 %".to_string(),
        ]
    }

    #[test]
    fn writes_png_and_svg_log_and_linear() {
        let dir = tempfile::tempdir().unwrap();
        let (points, notes) = (sample_points(367), notes());
        let out = dir.path().join("charts");
        let paths = render_scatter(&out, &chart(&points, &notes)).unwrap();
        assert_eq!(
            paths,
            vec![out.join("scatter.png"), out.join("scatter.svg")]
        );
        let png = std::fs::read(&paths[0]).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000);
        let svg = std::fs::read_to_string(&paths[1]).unwrap();
        assert!(svg.starts_with("<svg") && svg.len() > 20_000);
        for text in [
            "r = 0.998",
            "MAE = 12.3k",
            "y = x",
            "367 points",
            "10k",
            "1M",
        ] {
            assert!(svg.contains(text), "svg lacks {text:?}");
        }
        assert!(svg.matches("<circle").count() >= 367);

        let mut c = chart(&points, &[]);
        c.stem = "linear";
        c.log_scale = false;
        let paths = render_scatter(&out, &c).unwrap();
        let svg = std::fs::read_to_string(&paths[1]).unwrap();
        assert!(svg.contains("20M") && !svg.contains("r = "));
    }

    #[test]
    fn empty_nan_and_odd_input_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let svg = |c: &ScatterChart| {
            let paths = render_scatter(dir.path(), c).unwrap();
            std::fs::read_to_string(&paths[1]).unwrap()
        };
        // Rendering is slow in debug builds, so few renders with
        // everything odd at once; the pieces are unit-tested below.
        let empty = svg(&chart(&[], &[]));
        assert!(empty.contains("No data") && !empty.contains("y = x"));
        let odd = [
            ScatterPoint {
                x: f64::NAN,
                y: 1.0,
            },
            ScatterPoint {
                x: 5.0,
                y: f64::INFINITY,
            },
            ScatterPoint { x: 0.0, y: 0.0 },
            ScatterPoint { x: -5.0, y: 3.0 },
            ScatterPoint {
                x: 1e-300,
                y: 1e300,
            },
            ScatterPoint {
                x: -1e308,
                y: 1e308,
            },
            ScatterPoint { x: 42.0, y: 42.0 },
        ];
        let notes = [String::new(), "n = 7".to_string()];
        let text = svg(&chart(&odd, &notes));
        assert!(text.contains("2 points (3 ≤ 0, 2 invalid not shown)"));
        let mut c = chart(&odd, &notes);
        c.log_scale = false;
        // ±1e308 cannot be padded: the fallback range 0..1 shows (0, 0).
        assert!(svg(&c).contains("1 point (2 invalid, 4 out of range not shown)"));
    }

    #[test]
    fn prepare_skips_and_counts() {
        let p = |x, y| ScatterPoint { x, y };
        let pts = [p(1.0, 10.0), p(0.0, 1.0), p(f64::NAN, 1.0), p(-1.0, -1.0)];
        let log = prepare(&pts, true);
        assert_eq!(log.points, vec![(0.0, 1.0)]);
        assert_eq!((log.not_positive, log.not_finite), (2, 1));
        assert_eq!(count_label(&log), "1 point (2 ≤ 0, 1 invalid not shown)");
        let lin = prepare(&pts, false);
        assert_eq!(lin.points.len(), 3);
        assert_eq!(count_label(&lin), "3 points (1 invalid not shown)");
        assert_eq!(skipped_label(&prepare(&pts[..1], true)), None);
    }

    #[test]
    fn log_axis_ticks() {
        let a = ScatterAxis::log(2.9, 7.4, 594.0);
        let labels: Vec<&str> = a.major.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["1k", "10k", "100k", "1M", "10M"]);
        assert!(a.minor.len() > 30);
        // Few decades: 1-2-5.
        let a = ScatterAxis::log(3.0, 5.0, 594.0);
        let labels: Vec<&str> = a.major.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["1k", "2k", "5k", "10k", "20k", "50k", "100k"]);
        // Less than a decade: round linear values.
        let a = ScatterAxis::log(3.0, 3.2, 594.0);
        assert!(a.major.len() >= 3);
        // Many decades: thinned.
        let a = ScatterAxis::log(-300.0, 300.0, 594.0);
        assert!((2..=9).contains(&a.major.len()));
        assert_eq!(ScatterAxis::new(&[], true, 594.0).lo, EMPTY_LOG.0);
    }

    #[test]
    fn linear_axis_is_shared_padded_and_from_zero() {
        let a = ScatterAxis::new(&[(1e3, 1.1e3), (2e7, 1.9e7)], false, 594.0);
        assert_eq!((a.lo, a.hi), (0.0, 25e6));
        assert_eq!(a.major.last().map(|(_, l)| l.as_str()), Some("25M"));
        let a = ScatterAxis::new(&[(-3.0, 4.0)], false, 594.0);
        assert!(a.lo < -3.0 && a.hi > 4.0);
        let a = ScatterAxis::new(&[(-1e308, 1e308)], false, 594.0);
        assert_eq!((a.lo, a.hi), EMPTY_LINEAR);
    }

    #[test]
    fn si_labels() {
        assert_eq!(si_label(1e3), "1k");
        assert_eq!(si_label(1e4), "10k");
        assert_eq!(si_label(1e5 * 1.0000000001), "100k");
        assert_eq!(si_label(2e7), "20M");
        assert_eq!(si_label(1.5e9), "1.5B");
        assert_eq!(si_label(500.0), "500");
        assert_eq!(si_label(0.01), "0.01");
        assert_eq!(si_label(1e20), "1e20");
    }

    /// Writes samples to `$MIGRASIM_CHART_PREVIEW/scatter` (if set); see
    /// `charts::tests::preview`.
    #[test]
    fn preview() {
        let Some(dir) = std::env::var_os("MIGRASIM_CHART_PREVIEW") else {
            return;
        };
        let dir = PathBuf::from(dir).join("scatter");
        let (points, notes) = (sample_points(367), notes());
        render_scatter(&dir, &chart(&points, &notes)).unwrap();
        let mut c = chart(&points, &notes);
        c.stem = "scatter-linear";
        c.log_scale = false;
        render_scatter(&dir, &c).unwrap();
        let few: Vec<ScatterPoint> = sample_points(40)
            .into_iter()
            .map(|p| ScatterPoint {
                x: 1e3 + p.x / 2e3,
                y: 1e3 + p.y / 2e3,
            })
            .collect();
        let mut c = chart(&few, &notes[..1]);
        c.stem = "scatter-narrow";
        render_scatter(&dir, &c).unwrap();
        let mut c = chart(&[], &[]);
        c.stem = "scatter-empty";
        render_scatter(&dir, &c).unwrap();
        let mut odd = sample_points(30);
        odd[0].x = f64::NAN;
        odd[1].y = -4.0;
        odd[2].x = 0.0;
        let mut c = chart(&odd, &notes);
        c.stem = "scatter-skipped";
        render_scatter(&dir, &c).unwrap();
        c.points = &odd[..2];
        c.stem = "scatter-none-plottable";
        render_scatter(&dir, &c).unwrap();
    }
}
