//! The chart layer through its public API: every chart writes a PNG and an SVG whose text is glyph
//! outlines, bad data gives honest frames instead of panics, and the legends say what they show.

use migrasim::charts::*;
use std::path::Path;

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
        let chart = LinesChart { title: "t", y_label: "y", series: &series[..n], source_note: "", y_from_zero: n == 1 };
        render(dir.path(), "lines", &chart).unwrap();
    }
    let layers = vec![("a".to_string(), vec![f64::NAN, -3.0, 1e308]), ("b".to_string(), vec![1.0])];
    let years = [2024, 2024, 2026];
    for (stem, net_label) in [("st", None), ("dv", Some("net"))] {
        let chart = StackedChart {
            title: "t",
            y_label: "y",
            years: &years,
            layers: &layers,
            source_note: "",
            headroom_rows: 0,
            net_label,
        };
        render(dir.path(), stem, &chart).unwrap();
    }
    let band =
        [BandSeries { label: "x".into(), points: vec![BandPoint { year: 2025, mean: f64::NAN, low: 3.0, high: 1.0 }] }];
    render(
        dir.path(),
        "b",
        &BandChart {
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
            title: "t",
            x_label: "x",
            y_label: "y",
            points: &points,
            annotations: &[],
            log_scale,
            source_note: "",
        };
        render(dir.path(), "sc", &chart).unwrap();
    }
    let bars = [TornadoBar { label: "x".into(), value: f64::NAN, spread: 1.0, kind: 9 }];
    render(
        dir.path(),
        "to",
        &TornadoChart { title: "t", x_label: "x", bars: &bars, kinds: &["k"], spread_label: "σ", source_note: "" },
    )
    .unwrap();
    render(
        dir.path(),
        "cu",
        &CurveChart {
            title: "t",
            x_label: "x",
            points: &[(f64::NAN, 0.5)],
            required: 2.0,
            answer: Some(f64::INFINITY),
            source_note: "",
        },
    )
    .unwrap();
    let bad_stem = render(
        dir.path(),
        "../x",
        &CurveChart { title: "t", x_label: "x", points: &[], required: 0.5, answer: None, source_note: "" },
    );
    assert!(matches!(bad_stem, Err(ChartError::Draw { .. })));
}

#[test]
fn band_legends_say_what_the_band_covers() {
    let dir = tempfile::tempdir().unwrap();
    let points = (2024..=2029).map(|year| BandPoint { year, mean: 60.0, low: 59.0, high: 61.0 }).collect();
    let series = [BandSeries { label: "baseline".into(), points }];
    for (runs, meaning) in
        [(1, ""), (3, "band: 5–95% of 3 runs (≈ min–max with so few)"), (200, "band: 5–95% of 200 runs")]
    {
        let chart = BandChart {
            title: "t",
            y_label: "y",
            series: &series,
            official: &[],
            official_label: "",
            goal: None,
            source_note: "",
            y_from_zero: false,
            runs,
        };
        render(dir.path(), "b", &chart).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("b.svg")).unwrap();
        // One run has no band, and its legend shows none.
        assert_eq!(svg.contains("aria-label=\"band: "), runs > 1, "{runs} runs");
        assert!(runs == 1 || svg.contains(&format!("aria-label=\"{meaning}\"")), "{runs} runs");
        assert!(svg.contains("aria-label=\"baseline (mean)\""));
    }
}

#[test]
fn many_series_become_small_multiples() {
    let dir = tempfile::tempdir().unwrap();
    let series: Vec<(String, Vec<(i32, f64)>)> = (0..18)
        .map(|i| (format!("Metro {i}"), (2023..=2029).map(|y| (y, 100.0 + f64::from(i * (y - 2023)))).collect()))
        .collect();
    let chart = LinesChart { title: "t", y_label: "Index", series: &series, source_note: "", y_from_zero: false };
    render(dir.path(), "m", &chart).unwrap();
    let svg = std::fs::read_to_string(dir.path().join("m.svg")).unwrap();
    assert!((0..18).all(|i| svg.contains(&format!("aria-label=\"Metro {i}\""))), "every panel is titled");
    assert!(svg.contains("over all 18 in grey; shared scale"));
}

/// `(code, lon, lat)` of every unit in data/units.csv.
fn units() -> Vec<(u32, f64, f64)> {
    let mut reader = csv::Reader::from_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/units.csv")).unwrap();
    let h = reader.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let (code, lon, lat) = (col("code"), col("lon"), col("lat"));
    reader
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[code].parse().unwrap(), r[lon].parse().unwrap(), r[lat].parse().unwrap()))
        .collect()
}

fn chart<'a>(units: &'a [MapUnit], extent: Option<Extent>) -> MapChart<'a> {
    MapChart {
        title: "Net migration",
        legend_label: "Net migration (persons)",
        units,
        source_note: "",
        extent,
        labels: &[],
        no_data_label: "No data",
    }
}

#[test]
fn hover_maps_name_every_unit_and_static_maps_render() {
    let units: Vec<MapUnit> =
        units().into_iter().map(|(code, lon, lat)| MapUnit { code, lon, lat, value: (lon - 110.0) * 1e4 }).collect();
    let svg = hover_svg(&chart(&units, None), &|code, value| format!("unit {code}: {value}"));
    assert!(svg.starts_with("<svg") && svg.contains("class=\"map\""));
    assert!(units.iter().all(|u| svg.contains(&format!("<title>unit {}: ", u.code))), "every unit has hover text");
    assert!(svg.contains("<title>unit 710000: NaN</title>"), "Taiwan is drawn, without data");
    let dir = tempfile::tempdir().unwrap();
    render(dir.path(), "map", &chart(&units, None)).unwrap();
    render(dir.path(), "map", &chart(&units, Extent::around(&[510100]))).unwrap();
    render(dir.path(), "map", &chart(&[], None)).unwrap();
}
