use super::*;

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
