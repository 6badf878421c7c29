use super::*;

fn official() -> Vec<OfficialPoint> {
    (2010..=2023)
        .map(|year| OfficialPoint {
            year,
            urbanization_rate_pct: 50.0 + 1.2 * f64::from(year - 2010),
            hukou_urbanization_rate_pct: (year >= 2012)
                .then(|| 35.0 + if year >= 2015 { 4.0 } else { 0.0 } + 0.8 * f64::from(year - 2012)),
        })
        .collect()
}

fn simulated(movers: f64) -> Vec<NationalPoint> {
    (2023..=2029)
        .map(|year| NationalPoint {
            year,
            urbanization_rate_pct: 66.0 + 0.8 * f64::from(year - 2023),
            hukou_urbanization_rate_pct: 48.0 + 1.0 * f64::from(year - 2023),
            gap_pp: 18.0 - 0.2 * f64::from(year - 2023),
            settlements: if year == 2023 { f64::NAN } else { 14e6 },
            movers: if year == 2023 { f64::NAN } else { movers },
        })
        .collect()
}

fn input<'a>(sim: &'a [NationalPoint], off: &'a [OfficialPoint]) -> ChartInput<'a> {
    ChartInput {
        scenario_name: "test",
        simulated: sim,
        official: off,
        goal_pct: 70.0,
        goal_year: 2029,
        source_note: "Source: test",
    }
}

/// Width and height from a PNG's header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG", "{}", path.display());
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn run_charts_are_written_with_their_text_as_glyph_outlines() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, off) = (simulated(25e6), official());
    let written = render_run_charts(dir.path(), &input(&sim, &off)).unwrap();
    assert_eq!(written.len(), 6);
    let svg = std::fs::read_to_string(dir.path().join("urbanization.svg")).unwrap();
    assert!(svg.contains("aria-label=\"Urbanization rates, 2010–2029 — test\""));
    assert!(svg.contains("aria-label=\"← series break 2014→2015, not a policy effect\""));
    // No text element depends on the viewer's fonts: every glyph is a path, defined once.
    assert!(!svg.contains("<text"));
    assert!(svg.contains("<path id=\"g1"), "bold title glyphs are defined");
    let ids: Vec<&str> = svg.match_indices("<path id=\"g").map(|(i, _)| &svg[i..i + 16]).collect();
    assert!(ids.len() > 20 && ids.iter().all(|id| svg.matches(id).count() == 1), "each glyph defined once");
    assert_eq!(png_size(&dir.path().join("gap.png")), CHART_SIZE);
    let settlements = std::fs::read_to_string(dir.path().join("settlements.svg")).unwrap();
    assert!(settlements.contains(&format!("aria-label=\"{SETTLEMENTS_SOURCE_NOTE}\"")));
}

#[test]
fn pngs_scale_with_the_resolution_and_text_is_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, off) = (simulated(25e6), official());
    let path = dir.path().join("gap.png");
    let mut c = Canvas::png(&path, CHART_SIZE, 2.5);
    (ChartKind::Gap, input(&sim, &off)).draw(&mut c).unwrap();
    c.finish("").unwrap();
    assert_eq!(png_size(&path), (3000, 1875));
    // Text changes pixels: a title alone is not a blank image.
    let (blank, titled) = (dir.path().join("blank.png"), dir.path().join("titled.png"));
    Canvas::png(&blank, (200, 60), 1.0).finish("").unwrap();
    let mut c = Canvas::png(&titled, (200, 60), 1.0);
    c.title("Hi").unwrap();
    c.finish("").unwrap();
    assert_ne!(std::fs::read(&blank).unwrap(), std::fs::read(&titled).unwrap());
}

#[test]
fn text_layout_uses_the_fonts_metrics() {
    let f = font(16.0);
    assert!(f.width("mi") > 0.0 && f.width("mmmm") > 2.0 * f.width("mi"));
    assert!(f.bold().width("Migration") > f.width("Migration"));
    // Kerning: "AV" is narrower than "A" and "V" apart.
    assert!(f.width("AV") < f.width("A") + f.width("V"));
    assert_eq!(lines::fit("short", f, 500.0), "short");
    let fitted = lines::fit("A very long label that cannot fit the space", f, 120.0);
    assert!(fitted.ends_with('…') && f.width(&fitted) <= 120.0, "{fitted}");
}

#[test]
fn bad_and_empty_data_give_honest_frames_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let nan_sim: Vec<NationalPoint> = simulated(f64::NAN)
        .into_iter()
        .map(|p| NationalPoint { urbanization_rate_pct: f64::NAN, gap_pp: 1e300, ..p })
        .collect();
    for (sim, off) in [(vec![], vec![]), (nan_sim, vec![]), (simulated(1e30), official()[..1].to_vec())] {
        render_run_charts(dir.path(), &input(&sim, &off)).unwrap();
    }
    let weird = vec![(2024, f64::NAN), (2025, f64::INFINITY), (2026, -1e300), (2024, 3.0)];
    let series: Vec<(String, Vec<(i32, f64)>)> = (0..9).map(|i| (format!("s{i}"), weird.clone())).collect();
    for n in [0, 1, 9] {
        let chart = LinesChart {
            stem: "lines",
            title: "t",
            y_label: "y",
            series: &series[..n],
            source_note: "",
            y_from_zero: n == 1,
        };
        render_lines_chart(dir.path(), &chart).unwrap();
    }
    let layers = vec![("a".to_string(), vec![f64::NAN, -3.0, 1e308]), ("b".to_string(), vec![1.0])];
    let years = [2024, 2024, 2026];
    render_stacked_chart(
        dir.path(),
        &StackedChart {
            stem: "st",
            title: "t",
            y_label: "y",
            years: &years,
            layers: &layers,
            source_note: "",
            headroom_rows: 0,
        },
    )
    .unwrap();
    render_diverging_chart(
        dir.path(),
        &DivergingChart {
            stem: "dv",
            title: "t",
            y_label: "y",
            years: &years,
            layers: &layers,
            net_label: "net",
            source_note: "",
        },
    )
    .unwrap();
    let band =
        [BandSeries { label: "x".into(), points: vec![BandPoint { year: 2025, mean: f64::NAN, low: 3.0, high: 1.0 }] }];
    render_band_chart(
        dir.path(),
        &BandChart {
            stem: "b",
            title: "t",
            y_label: "y",
            series: &band,
            official: &[],
            official_label: "",
            goal: Some((f64::NAN, "")),
            source_note: "",
            y_from_zero: false,
            runs: 1,
        },
    )
    .unwrap();
    let points =
        [ScatterPoint { x: -1.0, y: 2.0 }, ScatterPoint { x: f64::NAN, y: 1.0 }, ScatterPoint { x: 1e-300, y: 1e300 }];
    for log_scale in [false, true] {
        let chart = ScatterChart {
            stem: "sc",
            title: "t",
            x_label: "x",
            y_label: "y",
            points: &points,
            annotations: &[],
            log_scale,
            source_note: "",
        };
        render_scatter(dir.path(), &chart).unwrap();
    }
    let bars = [TornadoBar { label: "x".into(), value: f64::NAN, spread: 1.0, kind: 9 }];
    render_tornado(
        dir.path(),
        &TornadoChart {
            stem: "to",
            title: "t",
            x_label: "x",
            bars: &bars,
            kinds: &["k"],
            spread_label: "σ",
            source_note: "",
        },
    )
    .unwrap();
    render_curve(
        dir.path(),
        &CurveChart {
            stem: "cu",
            title: "t",
            x_label: "x",
            points: &[(f64::NAN, 0.5)],
            required: 2.0,
            answer: Some(f64::INFINITY),
            source_note: "",
        },
    )
    .unwrap();
    let bad_stem = render_curve(
        dir.path(),
        &CurveChart {
            stem: "../x",
            title: "t",
            x_label: "x",
            points: &[],
            required: 0.5,
            answer: None,
            source_note: "",
        },
    );
    assert!(matches!(bad_stem, Err(ChartError::Draw { .. })));
}

#[test]
fn runs_break_at_missing_values_and_sort_by_year() {
    let r = runs(vec![(2026, Some(3.0)), (2024, Some(1.0)), (2025, None), (2027, Some(f64::NAN)), (2028, Some(5.0))]);
    assert_eq!(r, vec![vec![(2024.0, 1.0)], vec![(2026.0, 3.0)], vec![(2028.0, 5.0)]]);
}

#[test]
fn axes_pick_round_ticks_that_cover_the_data() {
    let a = Axis::auto([17.8, 19.9, 16.9], true);
    assert_eq!((a.lo, a.hi), (0.0, 25.0));
    assert_eq!(a.ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(), ["0", "5", "10", "15", "20", "25"]);
    let a = Axis::auto([49.9, 71.4], false);
    assert!(a.lo <= 49.9 && a.hi >= 71.4 && a.ticks.first().unwrap().0 == a.lo && a.ticks.last().unwrap().0 == a.hi);
    let a = Axis::auto([2.0e8, 3.4e8], true);
    assert_eq!(a.ticks[1].1, "50M");
    assert_eq!(Axis::auto([f64::NAN], false), Axis::values(0.0, 1.0));
    let years = Axis::years(2010, 2029, 300.0);
    assert_eq!(years.ticks.last().unwrap().1, "2029");
    assert!(years.ticks.len() < 10);
    assert_eq!(compact_number(-250_000.0, 50_000.0, 1e6, true), "−0.25M");
    assert_eq!(compact_number(2e6, 1e6, 2e6, true), "+2M");
    assert_eq!(compact_number(0.0001, 1.0, 1.0, true), "0");
    assert_eq!(decimals_for(2.5), 1);
    assert_eq!(nice_ceil(13.0), 15.0);
}

#[test]
fn dashes_alternate_on_and_off_along_the_line() {
    let pieces = canvas::dashes(&[(0.0, 0.0), (50.0, 0.0), (50.0, 50.0)], 11.0, 6.0);
    // 100 px at 17 px a period: 5 whole dashes and a sixth of 15 % … 11 px.
    assert_eq!(pieces.len(), 6);
    let len = |p: &Vec<P>| p.windows(2).map(|w| (w[1].0 - w[0].0).abs() + (w[1].1 - w[0].1).abs()).sum::<f64>();
    assert!(pieces.iter().all(|p| len(p) <= 11.0 + 1e-9));
    assert!((len(&pieces[2]) - 11.0).abs() < 1e-9, "a dash round the corner keeps its length");
}

#[test]
fn legends_go_where_nothing_is_drawn() {
    let mut c = Canvas::svg(CHART_SIZE);
    let plot = Rect::new(100.0, 60.0, 1100.0, 650.0);
    let data = Rect::new(100.0, 60.0, 600.0, 300.0);
    c.occupied.push(data);
    c.legend(&[("a".into(), Swatch::Bar(BLUE))], plot, &[(0.0, 0.0), (1.0, 0.0)]).unwrap();
    let legend = *c.occupied.last().unwrap();
    assert!(!legend.intersects(&data) && legend.x1 <= plot.x1, "{legend:?}");
}

#[test]
fn band_legends_say_what_the_band_covers() {
    assert_eq!(band::band_meaning(1), "one run: no band");
    assert!(band::band_meaning(3).contains("5–95% of 3 runs") && band::band_meaning(3).contains("min–max"));
    assert_eq!(band::band_meaning(200), "band: 5–95% of 200 runs");
}

#[test]
fn many_series_become_small_multiples() {
    assert_eq!(lines::grid_shape(18), (6, 3));
    assert_eq!(lines::grid_shape(8), (4, 2));
    assert_eq!(lines::grid_shape(1), (1, 1));
    let dir = tempfile::tempdir().unwrap();
    let series: Vec<(String, Vec<(i32, f64)>)> = (0..18)
        .map(|i| (format!("Metro {i}"), (2023..=2029).map(|y| (y, 100.0 + f64::from(i * (y - 2023)))).collect()))
        .collect();
    let chart =
        LinesChart { stem: "m", title: "t", y_label: "Index", series: &series, source_note: "", y_from_zero: false };
    render_lines_chart(dir.path(), &chart).unwrap();
    let svg = std::fs::read_to_string(dir.path().join("m.svg")).unwrap();
    assert!((0..18).all(|i| svg.contains(&format!("aria-label=\"Metro {i}\""))), "every panel is titled");
}
