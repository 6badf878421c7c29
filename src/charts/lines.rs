//! Several plain lines over years (e.g. urban population of each potential
//! region or metropolitan area).

use super::*;

/// A multi-line chart; see [`render_lines_chart`].
#[derive(Debug, Clone, Copy)]
pub struct LinesChart<'a> {
    /// File name without extension.
    pub stem: &'a str,
    pub title: &'a str,
    /// Value-axis description with its unit.
    pub y_label: &'a str,
    /// `(label, points)`; up to ~20 series stay legible.
    pub series: &'a [(String, Vec<(i32, f64)>)],
    /// Printed small at the bottom left.
    pub source_note: &'a str,
    /// Start the value axis at 0 (otherwise it covers the data only).
    pub y_from_zero: bool,
}

/// Up to this many series are drawn thick with markers, more as thin lines.
const MARKER_MAX_SERIES: usize = 6;
/// Widest direct label (longer ones are shortened with "…").
const LABEL_MAX_W: i32 = 250;
const LABEL_ROW: i32 = 18;
/// Direct-label column: leader, swatch, gap, text.
const LEADER_W: i32 = 16;
const LABEL_SWATCH_W: i32 = SWATCH_W;

/// Writes `<stem>.png` and `<stem>.svg` (1200×750) into `dir` (created if
/// missing). Each series gets an Okabe–Ito colour; past 8 series the
/// colours repeat dashed, then dotted. Up to 6 series are drawn thick with
/// markers, more as thinner lines. Instead of a legend, which would cover
/// some line sooner or later, every series is labelled in a column right of
/// the plot at the height of its last point, labels spread apart and joined
/// to their line by a leader. NaN/inf values are skipped (a missing year
/// breaks the line); series without data get no label. Returns the paths,
/// PNG first.
pub fn render_lines_chart(dir: &Path, chart: &LinesChart) -> Result<Vec<PathBuf>, ChartError> {
    write_chart_in(dir, chart.stem, chart)
}

/// Label centres as close as possible to `targets` (any order; results in
/// the same order), at least `gap` apart and within `lo..=hi`; the gap
/// shrinks if the labels cannot fit otherwise. Overlapping labels are
/// merged into clusters centred on their targets' mean.
fn spread(targets: &[f64], gap: f64, lo: f64, hi: f64) -> Vec<f64> {
    let n = targets.len();
    if n == 0 {
        return Vec::new();
    }
    let (lo, hi) = (lo.min(hi), hi.max(lo));
    let gap = if n > 1 {
        gap.min((hi - lo) / (n - 1) as f64).max(0.0)
    } else {
        gap
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| targets[a].total_cmp(&targets[b]));
    // (first index into `order`, count, sum of targets, start position)
    let mut clusters: Vec<(usize, usize, f64, f64)> = Vec::new();
    let place = |count: usize, sum: f64| {
        let len = (count - 1) as f64 * gap;
        let start = sum / count as f64 - len / 2.0;
        start.max(lo).min(hi - len)
    };
    for (k, &i) in order.iter().enumerate() {
        let t = if targets[i].is_finite() {
            targets[i].clamp(lo, hi)
        } else {
            lo
        };
        clusters.push((k, 1, t, place(1, t)));
        while let [.., a, b] = clusters[..] {
            if a.3 + a.1 as f64 * gap <= b.3 + 1e-9 {
                break;
            }
            let (count, sum) = (a.1 + b.1, a.2 + b.2);
            clusters.pop();
            clusters.pop();
            clusters.push((a.0, count, sum, place(count, sum)));
        }
    }
    let mut out = vec![0.0; n];
    for (first, count, _, start) in clusters {
        for j in 0..count {
            out[order[first + j]] = start + j as f64 * gap;
        }
    }
    out
}

/// `text` shortened with "…" to at most `max_w` pixels in `font`, in time linear in the
/// length of `text`: no glyph of a chart font is narrower than a pixel, so at most `max_w`
/// characters can fit, and the longest fitting prefix of those is found by bisection.
fn fit_label(font: &FontDesc<'_>, text: &str, max_w: i32) -> Result<String, String> {
    if text_width(font, text)? <= max_w {
        return Ok(text.to_string());
    }
    let limit = usize::try_from(max_w.max(0)).unwrap_or(0) + 1;
    let chars: Vec<char> = text.chars().take(limit).collect();
    let shortened = |keep: usize| {
        chars[..keep]
            .iter()
            .collect::<String>()
            .trim_end()
            .to_string()
            + "…"
    };
    // Invariant: `lo` characters fit (0 always does, as "…" alone is the fallback); more than
    // `hi` do not.
    let (mut lo, mut hi) = (0usize, chars.len().saturating_sub(1).min(limit));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if text_width(font, &shortened(mid))? <= max_w {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(shortened(lo))
}

impl Drawing for LinesChart<'_> {
    fn draw_on<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        ink: Ink,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(msg)?;
        let all: Vec<Vec<Vec<(f64, f64)>>> = self
            .series
            .iter()
            .map(|(_, points)| runs(points.iter().map(|&(y, v)| (y, Some(v))).collect()))
            .collect();
        let drawn = all.iter().filter(|r| !r.is_empty()).count();
        let markers = drawn <= MARKER_MAX_SERIES;

        let y = Axis::auto(all.iter().flat_map(|r| flat(r)), self.y_from_zero);
        let span = year_span(all.iter().flatten().flatten().map(|&(x, _)| x as i32));
        let years = span.unwrap_or((PLAN_START_YEAR - 1, PLAN_END_YEAR));

        // Direct labels: measure them first, the plot gets what is left.
        let label_font = font(LEGEND_PX);
        let labels: Vec<String> = self
            .series
            .iter()
            .map(|(label, _)| fit_label(&label_font.font, label, LABEL_MAX_W))
            .collect::<Result<_, _>>()?;
        let mut widest = 0;
        for (label, runs) in labels.iter().zip(&all) {
            if !runs.is_empty() {
                widest = widest.max(text_width(&label_font.font, label)?);
            }
        }
        let right = if widest > 0 {
            (4 + LEADER_W + 2 + LABEL_SWATCH_W + 8 + widest + 14) as u32
        } else {
            RIGHT_MARGIN_PX
        };

        let mut f = Frame::new(root, ink, self.title, years, y, right)?;
        f.plan_band(PLAN_END_YEAR)?;
        f.axes(self.y_label)?;

        let mut ends: Vec<(usize, Px)> = Vec::new();
        for (i, runs) in all.iter().enumerate() {
            if runs.is_empty() {
                continue;
            }
            let (color, dash) = series_look(i);
            if markers {
                // Few series: the look of the run charts' history lines.
                f.series(runs, color, Look::History)?;
            } else {
                f.line(runs, color, dash, 2)?;
            }
            let last = runs.iter().flatten().max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some(&(x, v)) = last {
                ends.push((i, f.px(x, v)));
            }
        }

        {
            let p = f.plot;
            let targets: Vec<f64> = ends
                .iter()
                .map(|&(_, (_, y))| f64::from(y.clamp(p.y0, p.y1)))
                .collect();
            let placed = spread(
                &targets,
                f64::from(LABEL_ROW),
                f64::from(p.y0 + LABEL_ROW / 2),
                f64::from(p.y1 - LABEL_ROW / 2),
            );
            let text_style = anchored(label_font, HPos::Left, VPos::Center);
            for (&(i, end), &ly) in ends.iter().zip(&placed) {
                let (color, dash) = series_look(i);
                let ly = ly.round() as i32;
                let x0 = p.x1 + 4;
                let end = (end.0.clamp(p.x0, p.x1), end.1.clamp(p.y0, p.y1));
                // Leader: along the line's level to the plot edge, then to
                // the label.
                let gap = if markers { MARKER_R + 4 } else { 6 };
                f.canvas.draw(&PathElement::new(
                    vec![(end.0 + gap, end.1), (x0, end.1), (x0 + LEADER_W, ly)],
                    color.mix(0.8).stroke_width(1),
                ))?;
                let sx = x0 + LEADER_W + 2;
                if markers {
                    draw_swatch(&f.canvas, Swatch::Series(color, Look::History), (sx, ly))?;
                } else {
                    draw_swatch(&f.canvas, Swatch::Line(color, dash), (sx, ly))?;
                }
                f.canvas
                    .label(&labels[i], (sx + LABEL_SWATCH_W + 8, ly), &text_style)?;
            }
        }
        if span.is_none() {
            f.centre_note("No data")?;
        }
        draw_footer(&mut f.canvas, self.source_note, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fitting is linear in the label's length: a 100,000-character label (quadratic fitting
    /// took minutes at 30,000) is cut to the width like a short one.
    #[test]
    fn fitting_a_huge_label_is_linear_and_fits() {
        ensure_fonts().unwrap();
        let label_font = font(LEGEND_PX);
        let huge = "Metropolitan area ".repeat(100_000 / 18);
        let fitted = fit_label(&label_font.font, &huge, LABEL_MAX_W).unwrap();
        assert!(fitted.ends_with('…'));
        assert!(text_width(&label_font.font, &fitted).unwrap() <= LABEL_MAX_W);
        // One more character would not fit: the cut is the longest that does.
        let kept = fitted.trim_end_matches('…').chars().count();
        let longer: String = huge
            .chars()
            .take(kept + 2)
            .collect::<String>()
            .trim_end()
            .to_string()
            + "…";
        assert!(
            text_width(&label_font.font, &longer).unwrap() > LABEL_MAX_W
                || longer.len() <= fitted.len()
        );
        let short = fit_label(&label_font.font, "Wuhan", LABEL_MAX_W).unwrap();
        assert_eq!(short, "Wuhan");
    }

    pub(crate) const METROS: [&str; 18] = [
        "Nanjing",
        "Fuzhou",
        "Chengdu",
        "Changzhutan",
        "Xi'an",
        "Chongqing",
        "Wuhan",
        "Hangzhou",
        "Hefei",
        "Jinan",
        "Qingdao",
        "Shenyang",
        "Changchun",
        "Harbin",
        "Zhengzhou",
        "Guangzhou",
        "Shenzhen",
        "Xiamen–Zhangzhou–Quanzhou metropolitan area",
    ];

    /// `n` series 2023–2029 of urban population (persons) between ~5M and ~30M.
    pub(crate) fn metro_series(n: usize) -> Vec<(String, Vec<(i32, f64)>)> {
        (0..n)
            .map(|i| {
                let base = 5.0 + 25.0 * ((i * 7) % 18) as f64 / 17.0;
                let growth = 0.01 + 0.002 * (i % 5) as f64;
                let points = (2023..=2029)
                    .map(|y| (y, base * 1e6 * (1.0 + growth).powi(y - 2023)))
                    .collect();
                (METROS[i % METROS.len()].to_string(), points)
            })
            .collect()
    }

    pub(crate) fn chart(series: &[(String, Vec<(i32, f64)>)]) -> LinesChart<'_> {
        LinesChart {
            stem: "lines",
            title: "Urban population of the 18 metropolitan areas",
            y_label: "Urban residents (persons)",
            series,
            source_note: "Source: migrasim simulation, mean of replicates",
            y_from_zero: true,
        }
    }

    #[test]
    fn writes_png_and_svg_for_many_and_few_series() {
        let dir = tempfile::tempdir().unwrap();
        let many = metro_series(18);
        let paths = render_lines_chart(dir.path(), &chart(&many)).unwrap();
        assert_eq!(paths.len(), 2);
        let png = std::fs::read(&paths[0]).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000);
        let svg = std::fs::read_to_string(&paths[1]).unwrap();
        for text in ["Shenzhen", "Changzhutan", "…", "metropolitan areas"] {
            assert!(svg.contains(text), "svg lacks {text:?}");
        }
        let few = metro_series(3);
        let mut c = chart(&few);
        c.stem = "few";
        let paths = render_lines_chart(dir.path(), &c).unwrap();
        assert!(
            std::fs::read_to_string(&paths[1])
                .unwrap()
                .contains("Fuzhou")
        );
    }

    #[test]
    fn empty_nan_and_odd_input_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        render_lines_chart(dir.path(), &chart(&[])).unwrap();
        let mut odd = metro_series(9);
        odd[0].1 = vec![(2025, f64::NAN)];
        odd[1].1 = vec![];
        odd[2].1 = vec![(2026, 1e300), (2027, -1e300)];
        odd[3].1 = vec![(2028, 5.0)];
        odd[4].0 = String::new();
        let mut c = chart(&odd);
        c.y_from_zero = false;
        render_lines_chart(dir.path(), &c).unwrap();
        let all_nan = vec![("x".to_string(), vec![(2024, f64::NAN)]); 25];
        render_lines_chart(dir.path(), &chart(&all_nan)).unwrap();
        // More series than label rows fit.
        let crowd: Vec<_> = (0..60)
            .map(|i| (format!("s{i}"), vec![(2024, 1.0), (2025, 1.0)]))
            .collect();
        render_lines_chart(dir.path(), &chart(&crowd)).unwrap();
    }

    #[test]
    fn spread_keeps_order_gap_and_bounds() {
        assert!(spread(&[], 10.0, 0.0, 100.0).is_empty());
        assert_eq!(spread(&[50.0], 10.0, 0.0, 100.0), vec![50.0]);
        // Far apart: unchanged.
        assert_eq!(spread(&[80.0, 20.0], 10.0, 0.0, 100.0), vec![80.0, 20.0]);
        // Collision: centred on the mean, in input order.
        assert_eq!(spread(&[52.0, 48.0], 10.0, 0.0, 100.0), vec![55.0, 45.0]);
        // Pushed inside the bounds.
        assert_eq!(
            spread(&[0.0, 0.0, 1.0], 10.0, 0.0, 100.0),
            vec![0.0, 10.0, 20.0]
        );
        // Too many: the gap shrinks to fit.
        let p = spread(&[5.0; 11], 20.0, 0.0, 100.0);
        assert_eq!(p.first(), Some(&0.0));
        assert_eq!(p.last(), Some(&100.0));
        let p = spread(&[f64::NAN, 3.0], 10.0, 0.0, 100.0);
        assert!(p.iter().all(|v| (0.0..=100.0).contains(v)));
    }

    /// Writes samples to `$MIGRASIM_CHART_PREVIEW/lines` (if set); see
    /// `charts::tests::preview`.
    #[test]
    fn preview() {
        let Some(dir) = std::env::var_os("MIGRASIM_CHART_PREVIEW") else {
            return;
        };
        let dir = PathBuf::from(dir).join("lines");
        let many = metro_series(18);
        render_lines_chart(&dir, &chart(&many)).unwrap();
        let few = metro_series(4);
        let mut c = chart(&few);
        c.stem = "lines-few";
        c.title = "Urban population of four metropolitan areas";
        c.y_from_zero = false;
        render_lines_chart(&dir, &c).unwrap();
        let ten = metro_series(10);
        let mut c = chart(&ten);
        c.stem = "lines-ten";
        c.title = "Urban population of ten metropolitan areas";
        render_lines_chart(&dir, &c).unwrap();
        render_lines_chart(
            &dir,
            &LinesChart {
                stem: "lines-empty",
                ..chart(&[])
            },
        )
        .unwrap();
    }
}
