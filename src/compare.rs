//! Scenario comparison: the same replicate seeds for every scenario (common random numbers),
//! overlay charts with bands, a summary of 2029 outcomes with differences from the first
//! scenario, the chance of reaching the plan's goal, and the input differences side by side.

use crate::charts::{self, BandChart, BandSeries};
use crate::engine::Plan;
use crate::ensemble::RunResult;
use crate::geo::Geography;
use crate::report::{
    GOAL_PCT, GOAL_YEAR, ReportError, SOURCE_NOTE, band_series, official_history, write_file, write_html,
};
use crate::results::{self, Band, YearMetrics};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

mod focus;
mod subnational;

/// One scenario of a comparison with its replicate runs.
pub struct Compared {
    pub plan: Plan,
    /// Runs in the order parameter set × replicate: run `m × replicates + r` is parameter set
    /// `m` (of `members`; 1 without a posterior) with replicate seed `r`.
    pub runs: Vec<RunResult>,
    pub metrics: Vec<Vec<YearMetrics>>,
    pub members: usize,
}

impl Compared {
    pub fn new(geo: &Geography, plan: Plan, runs: Vec<RunResult>) -> Compared {
        Compared::with_members(geo, plan, runs, 1)
    }

    /// Runs of `members` parameter sets of a posterior, each over the same replicate seeds.
    pub fn with_members(geo: &Geography, plan: Plan, runs: Vec<RunResult>, members: usize) -> Compared {
        let metrics = runs.iter().map(|r| results::metrics(geo, &plan, r)).collect();
        Compared { plan, runs, metrics, members: members.max(1) }
    }

    /// What the bands range over, for titles and notes.
    fn runs_label(&self) -> String {
        let replicates = self.runs.len() / self.members;
        if self.members > 1 {
            format!("{} parameter sets × {replicates} replicates", self.members)
        } else {
            format!("{replicates} replicates")
        }
    }

    fn name(&self) -> &str {
        &self.plan.scenario.name
    }

    /// Value of `metric` in `year`, one per replicate.
    fn at_year(&self, year: i32, metric: &dyn Fn(&YearMetrics) -> f64) -> Vec<f64> {
        self.metrics.iter().map(|run| run.iter().find(|m| m.year == year).map(metric).unwrap_or(f64::NAN)).collect()
    }

    /// Sum of `metric` over the simulated years, one per replicate.
    fn over_years(&self, metric: &dyn Fn(&YearMetrics) -> f64) -> Vec<f64> {
        let first = self.plan.scenario.run.first_year;
        self.metrics.iter().map(|run| run.iter().filter(|m| m.year >= first).map(metric).sum()).collect()
    }
}

/// Reads one value per replicate from a compared scenario.
type PerReplicate = Box<dyn Fn(&Compared) -> Vec<f64>>;

/// One row of the summary: a measure per scenario, with its difference from the first.
struct Measure {
    name: &'static str,
    unit: &'static str,
    values: PerReplicate,
}

/// A comparison chart: stem, title, y label, series, official history and its label, whether
/// to draw the goal line, whether the y axis starts at zero.
struct OverlayChart<'a> {
    stem: String,
    title: String,
    y_label: &'static str,
    series: Vec<BandSeries>,
    official: &'a [(i32, f64)],
    official_label: &'static str,
    /// A horizontal reference line and its label: the plan's goal, or a historical level.
    reference: Option<(f64, &'static str)>,
    from_zero: bool,
}

fn measures(year: i32) -> Vec<Measure> {
    vec![
        Measure {
            name: "urbanization_rate_pct",
            unit: "%",
            values: Box::new(move |c| c.at_year(year, &|m| m.urbanization_rate_pct)),
        },
        Measure {
            name: "hukou_urbanization_rate_pct",
            unit: "%",
            values: Box::new(move |c| c.at_year(year, &|m| m.hukou_urbanization_rate_pct)),
        },
        Measure { name: "gap_pp", unit: "pp", values: Box::new(move |c| c.at_year(year, &|m| m.gap_pp)) },
        Measure { name: "settlements_total", unit: "persons", values: Box::new(|c| c.over_years(&|m| m.settlements)) },
        Measure {
            name: "nonhukou_urban_residents",
            unit: "persons",
            values: Box::new(move |c| c.at_year(year, &|m| m.nonhukou_by_regime.iter().sum())),
        },
        Measure {
            name: "potential_regions_urban_residents",
            unit: "persons",
            values: Box::new(move |c| c.at_year(year, &|m| m.potential_urban_total())),
        },
    ]
}

/// Share of replicates whose urbanization rate reaches `threshold` in some year up to `year`.
fn chance_of_reaching(c: &Compared, threshold: f64, year: i32) -> f64 {
    let reached = c
        .metrics
        .iter()
        .filter(|run| run.iter().any(|m| m.year <= year && m.urbanization_rate_pct >= threshold))
        .count();
    reached as f64 / c.metrics.len().max(1) as f64
}

/// First year the mean urbanization rate reaches `threshold`, if it does.
fn first_year_reaching(c: &Compared, threshold: f64) -> Option<i32> {
    results::bands(&c.metrics, |m| m.urbanization_rate_pct)
        .into_iter()
        .find(|(_, band)| band.mean >= threshold)
        .map(|(year, _)| year)
}

fn paired_differences(values: &[f64], reference: &[f64]) -> Vec<f64> {
    values.iter().zip(reference).map(|(v, r)| v - r).collect()
}

fn format_value(v: f64, unit: &str) -> String {
    if unit == "persons" { format!("{:.2}M", v / 1e6) } else { format!("{v:.2}") }
}

/// The spread of `values` (runs ordered parameter set × replicate): total standard deviation,
/// the draws' alone (within parameter sets) and the share of variance from the parameters.
fn split_cells(c: &Compared, values: &[f64]) -> String {
    match results::VarianceSplit::of(values, c.members) {
        Some(split) => format!("{:.4},{:.4},{:.4}", split.total.sqrt(), split.draws.sqrt(), split.parameter_share()),
        None => ",,".to_string(),
    }
}

const SUMMARY_COLUMNS: &str =
    "mean,p5,p95,sd,sd_draws,parameter_share,diff_mean,diff_p5,diff_p95,diff_sd,diff_sd_draws,diff_parameter_share";

/// One row's cells after the identifying columns: the band of `values`, its spread and the same
/// for the paired differences from `reference`.
fn band_cells(c: &Compared, values: &[f64], reference: &[f64]) -> String {
    let band = Band::of(values);
    let diffs = paired_differences(values, reference);
    let diff = Band::of(&diffs);
    format!(
        "{:.4},{:.4},{:.4},{},{:.4},{:.4},{:.4},{}",
        band.mean,
        band.p5,
        band.p95,
        split_cells(c, values),
        diff.mean,
        diff.p5,
        diff.p95,
        split_cells(c, &diffs)
    )
}

fn summary_csv(compared: &[Compared], year: i32) -> String {
    let mut text = format!("scenario,measure,unit,year,runs,{SUMMARY_COLUMNS}\n");
    for measure in measures(year) {
        let reference = (measure.values)(&compared[0]);
        for c in compared {
            let values = (measure.values)(c);
            let _ = writeln!(
                text,
                "{},{},{},{},{},{}",
                c.name(),
                measure.name,
                measure.unit,
                year,
                values.len(),
                band_cells(c, &values, &reference)
            );
        }
    }
    for c in compared {
        for threshold in [GOAL_PCT, GOAL_PCT - 0.5] {
            let _ = writeln!(
                text,
                "{},chance_reaching_{}_pct,share of runs,{},{},{:.4},,,,,,,,,,,",
                c.name(),
                threshold,
                year,
                c.metrics.len(),
                chance_of_reaching(c, threshold, year)
            );
        }
        let _ = writeln!(
            text,
            "{},first_year_mean_reaches_70_pct,year,,{},{},,,,,,,,,,,",
            c.name(),
            c.metrics.len(),
            first_year_reaching(c, GOAL_PCT).map_or("never".to_string(), |y| y.to_string())
        );
    }
    text
}

/// A measure read every year: its name, unit and how to read it.
type YearlyMeasure = (&'static str, &'static str, fn(&YearMetrics) -> f64);

/// The measures read every year: rates and the gap at year end, settlements in the year.
fn yearly_measures() -> Vec<YearlyMeasure> {
    vec![
        ("urbanization_rate_pct", "%", |m| m.urbanization_rate_pct),
        ("hukou_urbanization_rate_pct", "%", |m| m.hukou_urbanization_rate_pct),
        ("gap_pp", "pp", |m| m.gap_pp),
        ("settlements", "persons", |m| m.settlements),
        ("nonhukou_urban_residents", "persons", |m| m.nonhukou_by_regime.iter().sum()),
    ]
}

/// `summary_by_year.csv`: every measure every year, with the paired differences from the first
/// scenario, so a planner sees when a measure starts to act.
fn summary_by_year_csv(compared: &[Compared]) -> String {
    let mut text = format!("scenario,measure,unit,year,runs,{SUMMARY_COLUMNS}\n");
    let years: Vec<i32> = compared[0].metrics[0].iter().map(|m| m.year).collect();
    for (name, unit, read) in yearly_measures() {
        for &year in &years {
            let reference = compared[0].at_year(year, &read);
            for c in compared {
                let values = c.at_year(year, &read);
                let _ = writeln!(
                    text,
                    "{},{name},{unit},{year},{},{}",
                    c.name(),
                    values.len(),
                    band_cells(c, &values, &reference)
                );
            }
        }
    }
    text
}

/// The per-year differences of each later scenario, as markdown tables (year × measure).
fn by_year_md(compared: &[Compared]) -> String {
    let mut md = String::new();
    let years: Vec<i32> = compared[0].metrics[0].iter().map(|m| m.year).collect();
    let first = compared[0].plan.scenario.run.first_year;
    for c in compared.iter().skip(1) {
        let _ = writeln!(
            md,
            "\n### {} minus {}, year by year\n\nMean paired difference [5th, 95th percentile]; every measure and year with its spread is in `summary_by_year.csv`.\n\n| year | urbanization (pp) | hukou rate (pp) | gap (pp) | settlements in the year |\n|---|--:|--:|--:|--:|",
            c.name(),
            compared[0].name()
        );
        for &year in years.iter().filter(|&&y| y >= first) {
            let _ = write!(md, "| {year} |");
            for (_, unit, read) in yearly_measures().into_iter().take(4) {
                let reference = compared[0].at_year(year, &read);
                let diff = Band::of(&paired_differences(&c.at_year(year, &read), &reference));
                let _ = write!(
                    md,
                    " {}{} [{}, {}] |",
                    if diff.mean >= 0.0 { "+" } else { "" },
                    format_value(diff.mean, unit),
                    format_value(diff.p5, unit),
                    format_value(diff.p95, unit)
                );
            }
            md.push('\n');
        }
    }
    md
}

/// The header and separator rows of a markdown table with one column per compared scenario.
fn scenario_table_header(md: &mut String, first_column: &str, compared: &[Compared]) {
    let _ = write!(md, "| {first_column} |");
    for c in compared {
        let _ = write!(md, " {} |", c.name());
    }
    let _ = write!(md, "\n|---|");
    for _ in compared {
        let _ = write!(md, "---|");
    }
    md.push('\n');
}

fn summary_md(compared: &[Compared], year: i32) -> String {
    let mut md = String::new();
    summary_intro(&mut md, compared, year);
    scenario_table_header(&mut md, "measure", compared);
    measure_rows(&mut md, compared, year);
    for threshold in [GOAL_PCT, GOAL_PCT - 0.5] {
        let _ = write!(md, "| chance of reaching {threshold}% by {year} |");
        for c in compared {
            let _ = write!(md, " {:.0}% |", 100.0 * chance_of_reaching(c, threshold, year));
        }
        md.push('\n');
    }
    let members = compared[0].members;
    let replicates = compared[0].runs.len() / members;
    if members > 1 && replicates > 1 {
        spread_row(&mut md, compared, year);
    }
    let _ = write!(md, "| first year the mean reaches 70% |");
    for c in compared {
        let _ = write!(
            md,
            " {} |",
            first_year_reaching(c, GOAL_PCT).map_or("not by the last year".to_string(), |y| y.to_string())
        );
    }
    md.push('\n');
    md
}

/// `summary.md`'s opening: the runs, their seeds and what the bands cover.
fn summary_intro(md: &mut String, compared: &[Compared], year: i32) {
    let members = compared[0].members;
    let replicates = compared[0].runs.len() / members;
    let mut seeds: Vec<String> = compared[0].runs[..replicates].iter().map(|r| r.seed.to_string()).collect();
    seeds.dedup();
    let _ = writeln!(
        md,
        "# Scenario comparison, {year}\n\n{} runs per scenario ({}) with common random numbers (seeds {}). Values are means with the 5th–95th percentile range over runs; differences are paired by run against `{}`.{}\n",
        compared[0].runs.len(),
        compared[0].runs_label(),
        seeds.join(", "),
        compared[0].name(),
        if members > 1 {
            format!(
                " The runs cover {members} parameter sets of the posterior ensemble, each with the same {replicates} seeds, so the bands hold both the uncertainty of the parameters and the random draws; `summary.csv` splits the variance between them (`parameter_share`)."
            )
        } else {
            " The bands cover the random draws only: with `--posterior` they also cover the uncertainty of the behaviour parameters.".to_string()
        }
    );
}

/// One row per measure: each scenario's mean and band, later ones with the paired difference.
fn measure_rows(md: &mut String, compared: &[Compared], year: i32) {
    for measure in measures(year) {
        let reference = (measure.values)(&compared[0]);
        let label = match measure.name {
            "settlements_total" => format!("settlements {}–{year} (persons)", compared[0].plan.scenario.run.first_year),
            name => format!("{} {year} ({})", name.replace('_', " "), measure.unit),
        };
        let _ = write!(md, "| {label} |");
        for (i, c) in compared.iter().enumerate() {
            let values = (measure.values)(c);
            let band = Band::of(&values);
            let mut cell = format!(
                "{} [{}, {}]",
                format_value(band.mean, measure.unit),
                format_value(band.p5, measure.unit),
                format_value(band.p95, measure.unit)
            );
            if i > 0 {
                let diff = Band::of(&paired_differences(&values, &reference));
                let _ = write!(
                    cell,
                    " (Δ {}{} [{}, {}])",
                    if diff.mean >= 0.0 { "+" } else { "" },
                    format_value(diff.mean, measure.unit),
                    format_value(diff.p5, measure.unit),
                    format_value(diff.p95, measure.unit)
                );
            }
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }
}

/// With several parameter sets and replicates: how the spread of the urbanization rate (of the
/// differences, for later scenarios) splits between the parameters and the draws.
fn spread_row(md: &mut String, compared: &[Compared], year: i32) {
    let values = |c: &Compared| c.at_year(year, &|m| m.urbanization_rate_pct);
    let reference = values(&compared[0]);
    let _ = write!(md, "| spread of the {year} urbanization rate: sd, sd of draws alone, share from parameters |");
    for (i, c) in compared.iter().enumerate() {
        let v = values(c);
        let target = if i == 0 { v } else { paired_differences(&v, &reference) };
        match results::VarianceSplit::of(&target, c.members) {
            Some(s) => {
                let _ = write!(
                    md,
                    " {}{:.3} pp, {:.3} pp, {:.0}% |",
                    if i == 0 { "" } else { "Δ: " },
                    s.total.sqrt(),
                    s.draws.sqrt(),
                    100.0 * s.parameter_share()
                );
            }
            None => md.push_str(" – |"),
        }
    }
    md.push('\n');
}

/// Every key of a resolved scenario as `dotted.key → value`.
pub(crate) fn flatten(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::Table(inner) if !inner.is_empty() && !inner.keys().all(|k| k.parse::<i32>().is_ok()) => {
                flatten(&path, inner, out)
            }
            other => {
                out.insert(path, other.to_string());
            }
        }
    }
}

/// Resolved keys whose values differ between the scenarios (name and description excluded:
/// they identify scenarios rather than set inputs), with each scenario's value.
pub fn input_differences(plans: &[&Plan]) -> Vec<(String, Vec<String>)> {
    let flat: Vec<BTreeMap<String, String>> = plans
        .iter()
        .map(|p| {
            let table: toml::Table = toml::from_str(&p.scenario.to_toml()).expect("resolved scenarios parse");
            let mut map = BTreeMap::new();
            flatten("", &table, &mut map);
            map.remove("name");
            map.remove("description");
            map
        })
        .collect();
    let mut keys: Vec<&String> = flat.iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let values: Vec<String> =
                flat.iter().map(|m| m.get(key).cloned().unwrap_or_else(|| "(absent)".to_string())).collect();
            values.iter().any(|v| *v != values[0]).then(|| (key.clone(), values))
        })
        .collect()
}

fn inputs_diff_md(compared: &[Compared], settings: &[String]) -> String {
    let plans: Vec<&Plan> = compared.iter().map(|c| &c.plan).collect();
    let differences = input_differences(&plans);
    let mut md = String::from("# Input differences\n\n");
    if !settings.is_empty() {
        let _ = writeln!(
            md,
            "Set on the command line for every scenario (the resolved values below include them): {}.\n",
            settings.iter().map(|s| format!("`--set {s}`")).collect::<Vec<_>>().join(", ")
        );
    }
    if differences.is_empty() {
        md.push_str("The resolved scenarios are identical (apart from name and description).\n");
        return md;
    }
    let _ =
        writeln!(md, "{} resolved keys differ (after `extends`; name and description left out).\n", differences.len());
    scenario_table_header(&mut md, "key", compared);
    for (key, values) in differences {
        let _ = write!(md, "| `{key}` |");
        for value in values {
            let shown =
                if value.len() > 60 { format!("{}…", &value.chars().take(57).collect::<String>()) } else { value };
            let _ = write!(md, " `{}` |", shown.replace('|', "\\|"));
        }
        md.push('\n');
    }
    md
}

/// Writes the comparison into `dir`, atomically.
/// Writes a comparison into `dir`; `focus` lists provinces (indices into the geography's) whose
/// prefectures get a report section, a table and a zoomed map.
pub fn write_comparison(
    dir: &Path,
    geo: &Geography,
    compared: &[Compared],
    focus: &[usize],
    threads: usize,
    settings: &[String],
) -> Result<Vec<PathBuf>, ReportError> {
    write_into(dir, geo, compared, focus, threads, settings)
}

fn write_into(
    staging: &Path,
    geo: &Geography,
    compared: &[Compared],
    focus: &[usize],
    threads: usize,
    settings: &[String],
) -> Result<Vec<PathBuf>, ReportError> {
    let year = compared.iter().map(|c| c.plan.scenario.run.last_year).min().unwrap_or(GOAL_YEAR);
    let mut files = vec![
        write_file(staging, "summary.csv", &summary_csv(compared, year))?,
        write_file(staging, "summary.md", &summary_md(compared, year))?,
        write_file(staging, "summary_by_year.csv", &summary_by_year_csv(compared))?,
        write_file(staging, "inputs-diff.md", &inputs_diff_md(compared, settings))?,
    ];
    let mut focus_md = String::new();
    let mut hover_maps = Vec::new();
    if compared.len() > 1 {
        let run_tables = subnational::run_tables(geo, compared);
        let focused = focus::write_focus(staging, geo, compared, &run_tables, focus, year)?;
        focus_md = focused.markdown;
        files.extend(focused.files);
        hover_maps.extend(focused.hover_maps);
        files.push(write_file(
            staging,
            "provinces_diff.csv",
            &subnational::diff_csv(geo, compared, &run_tables, true),
        )?);
        files.push(write_file(staging, "units_diff.csv", &subnational::diff_csv(geo, compared, &run_tables, false))?);
    }

    files.extend(overlay_charts(staging, compared)?);
    let (map_files, difference_maps) = difference_maps(staging, geo, compared, year)?;
    files.extend(map_files);
    hover_maps.extend(difference_maps);
    let report = comparison_report(compared, year, &focus_md);
    files.push(write_file(staging, "report.md", &report)?);
    files.push(crate::report::write_codebook(staging)?);
    let names: Vec<&str> = compared.iter().map(Compared::name).collect();
    let inputs = std::fs::read_to_string(staging.join("inputs-diff.md")).unwrap_or_default();
    files.push(write_html(
        staging,
        &format!("migrasim comparison: {}", names.join(" vs ")),
        &report,
        &[("Inputs that differ", inputs.as_str())],
        &hover_maps,
    )?);
    let manifest = serde_json::json!({
        "migrasim_version": env!("CARGO_PKG_VERSION"),
        "scenarios": compared.iter().map(|c| serde_json::json!({
            "name": c.name(),
            "scenario_hash": c.plan.scenario.hash(),
            "households": c.plan.scenario.run.households,
            "resolved_scenario": c.plan.scenario.to_toml(),
            "timings_seconds": c.runs.iter().map(|r| &r.timings).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "runs": compared[0].runs.len(),
        "parameter_sets": compared[0].members,
        "seeds": compared[0].runs.iter().map(|r| r.seed).collect::<Vec<_>>(),
        "threads": threads,
        "command_line_settings": settings,
        // MPI ranks the runs were spread over (1 without MPI); no table depends on it.
        "ranks": crate::spread::size(),
    });
    files.push(write_file(
        staging,
        "manifest.json",
        &(serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n"),
    )?);
    Ok(files)
}

/// The overlay band charts: every scenario's path of each measure with its band, official history
/// and the plan's goal where they apply, one chart per settlement regime.
fn overlay_charts(staging: &Path, compared: &[Compared]) -> Result<Vec<PathBuf>, ReportError> {
    let official = official_history();
    let official_urban: Vec<(i32, f64)> = official.iter().map(|o| (o.year, o.urbanization_rate_pct)).collect();
    let official_hukou: Vec<(i32, f64)> =
        official.iter().filter_map(|o| o.hukou_urbanization_rate_pct.map(|h| (o.year, h))).collect();
    let official_gap: Vec<(i32, f64)> = official
        .iter()
        .filter_map(|o| o.hukou_urbanization_rate_pct.map(|h| (o.year, o.urbanization_rate_pct - h)))
        .collect();
    // What the bands range over; one run has none.
    let n = if compared[0].runs.len() > 1 {
        format!("5–95% over {}", compared[0].runs_label())
    } else {
        "one run (no band)".to_string()
    };
    let mut charts_to_draw = rate_overlays(compared, &n, [&official_urban, &official_hukou, &official_gap]);
    charts_to_draw.extend(population_overlays(compared, &n));
    let chart_dir = staging.join("charts");
    let mut files = Vec::new();
    for chart in &charts_to_draw {
        let written = charts::render(
            &chart_dir,
            &chart.stem,
            &BandChart {
                title: &chart.title,
                y_label: chart.y_label,
                series: &chart.series,
                official: chart.official,
                official_label: chart.official_label,
                goal: chart.reference,
                source_note: if chart.stem == "settlements" { charts::SETTLEMENTS_SOURCE_NOTE } else { SOURCE_NOTE },
                y_from_zero: chart.from_zero,
                runs: compared[0].runs.len(),
            },
        )?;
        files.extend(written.iter().filter_map(|p| p.strip_prefix(staging).ok().map(Path::to_path_buf)));
    }

    Ok(files)
}

/// Every scenario's band of `value`.
fn per_scenario(compared: &[Compared], value: &dyn Fn(&YearMetrics) -> f64) -> Vec<BandSeries> {
    compared.iter().map(|c| band_series(c.name(), &c.metrics, value)).collect()
}

/// The two rates and their gap, each with its official history (`official`: urbanization, hukou,
/// gap); `n` says what the bands range over.
fn rate_overlays<'a>(compared: &[Compared], n: &str, official: [&'a [(i32, f64)]; 3]) -> Vec<OverlayChart<'a>> {
    let [official_urban, official_hukou, official_gap] = official;
    vec![
        OverlayChart {
            stem: "urbanization".to_string(),
            title: format!("Urbanization rate by scenario, {n}"),
            y_label: "Share of total population (%)",
            series: per_scenario(compared, &|m| m.urbanization_rate_pct),
            official: official_urban,
            official_label: "Official (NBS)",
            reference: Some((GOAL_PCT, "Plan goal ≈70% by 2029")),
            from_zero: false,
        },
        OverlayChart {
            stem: "hukou-urbanization".to_string(),
            title: format!("Hukou rate by scenario, {n}"),
            y_label: "Share of total population (%)",
            series: per_scenario(compared, &|m| m.hukou_urbanization_rate_pct),
            official: official_hukou,
            official_label: "Official (NBS/MPS)",
            reference: None,
            from_zero: false,
        },
        OverlayChart {
            stem: "gap".to_string(),
            title: format!("Gap between the two rates, {n}"),
            y_label: "Gap (percentage points)",
            series: per_scenario(compared, &|m| m.gap_pp),
            official: official_gap,
            official_label: "Official gap",
            reference: None,
            from_zero: true,
        },
    ]
}

/// Settlements a year, the potential regions' urban population and one chart per regime's;
/// `n` says what the bands range over.
fn population_overlays(compared: &[Compared], n: &str) -> Vec<OverlayChart<'static>> {
    let first_year = compared[0].plan.scenario.run.first_year;
    let flows = |v: f64, year: i32| if year >= first_year { v } else { f64::NAN };
    let mut charts_to_draw = vec![
        OverlayChart {
            stem: "settlements".to_string(),
            title: format!("Settlements per year, {n}"),
            y_label: "Persons (millions)",
            series: per_scenario(compared, &|m| flows(m.settlements / 1e6, m.year)),
            official: &[],
            official_label: "",
            // As the run's settlements chart: the level of 2014–2023 (Ministry of Public Security).
            reference: Some((15.0, "≈15M/yr settled 2014–2023 (MPS)")),
            from_zero: true,
        },
        OverlayChart {
            stem: "potential-regions".to_string(),
            title: format!("Urban population, seven potential regions ({n})"),
            y_label: "Urban residents (millions)",
            series: per_scenario(compared, &|m| m.potential_urban_total() / 1e6),
            official: &[],
            official_label: "",
            reference: None,
            from_zero: false,
        },
    ];
    // One chart per regime: the regimes differ by an order of magnitude, so a shared axis
    // would hide the differences between scenarios.
    for (i, regime) in results::regime_names().into_iter().enumerate() {
        charts_to_draw.push(OverlayChart {
            stem: format!("urban-{regime}"),
            title: format!("Urban population of {regime} cities ({n})"),
            y_label: "Urban residents (millions)",
            series: per_scenario(compared, &|m| m.urban_by_regime[i] / 1e6),
            official: &[],
            official_label: "",
            reference: None,
            from_zero: false,
        });
    }
    charts_to_draw
}

/// Where each scenario differs from the first: a map of the difference in urban residents in the
/// comparison year per unit (paired by run, mean over runs), and its hover version for
/// `report.html`.
fn difference_maps(
    staging: &Path,
    geo: &Geography,
    compared: &[Compared],
    year: i32,
) -> Result<(Vec<PathBuf>, Vec<crate::html::HoverMap>), ReportError> {
    let chart_dir = staging.join("charts");
    let mut files = Vec::new();
    let mut hover_maps = Vec::new();
    // Where each scenario differs from the first: urban residents in the comparison year, per
    // unit, paired by replicate (mean over replicates).
    let n = compared[0].runs.len();
    for (i, c) in compared.iter().enumerate().skip(1) {
        let urban_at = |compared: &Compared, run: usize, u: usize| -> f64 {
            let r = &compared.runs[run];
            r.records
                .iter()
                .find(|record| record.year == year)
                .map_or(f64::NAN, |record| record.units[u].urban as f64 * r.persons_per_member)
        };
        let units: Vec<charts::MapUnit> = geo
            .units
            .iter()
            .enumerate()
            .map(|(u, unit)| {
                let diffs: Vec<f64> = (0..n).map(|run| urban_at(c, run, u) - urban_at(&compared[0], run, u)).collect();
                charts::MapUnit {
                    code: unit.code,
                    lon: unit.lon,
                    lat: unit.lat,
                    value: diffs.iter().sum::<f64>() / n as f64,
                }
            })
            .collect();
        let stem = format!("difference-map-{i}");
        let title = format!("Urban residents in {year}: {} minus {}", c.name(), compared[0].name());
        let legend = format!("Difference in urban residents, {year} (persons)");
        let map = charts::MapChart {
            title: &title,
            legend_label: &legend,
            units: &units,
            source_note: crate::report::MAP_SOURCE_NOTE,
            extent: None,
            labels: &[],
            no_data_label: "No data / not simulated",
        };
        let written = charts::render(&chart_dir, &stem, &map)?;
        let measure = format!("urban residents {year}, {} − {}", c.name(), compared[0].name());
        hover_maps.push(crate::html::HoverMap {
            stem: stem.clone(),
            svg: charts::hover_svg(&map, &crate::report::unit_tooltip(geo, &measure, "persons")),
        });
        files.extend(written.iter().filter_map(|p| p.strip_prefix(staging).ok().map(Path::to_path_buf)));
    }

    Ok((files, hover_maps))
}

fn comparison_report(compared: &[Compared], year: i32, focus_md: &str) -> String {
    let names: Vec<&str> = compared.iter().map(Compared::name).collect();
    let mut md = format!("# migrasim comparison: {}\n\n", names.join(" vs "));
    for c in compared {
        if !c.plan.scenario.description.is_empty() {
            let _ = writeln!(md, "- **{}**: {}", c.name(), c.plan.scenario.description);
        }
    }
    md.push('\n');
    md.push_str(&summary_md(compared, year).replacen("# ", "## ", 1));
    md.push_str(&by_year_md(compared));
    md.push_str("\n## Charts\n\n");
    for (stem, sentence) in [
        (
            "urbanization",
            "The resident urbanization rate of each scenario with its 5–95% replicate band, against the official history and the ~70% goal.",
        ),
        ("hukou-urbanization", "The hukou urbanization rate of each scenario with its band."),
        ("gap", "The gap between the two rates, which the plan aims to narrow."),
        ("settlements", "Persons granted local urban hukou each year."),
        ("urban-open", "Urban population of open cities (urban districts under 3M by default), per scenario."),
        ("urban-relaxed", "Urban population of relaxed cities (3–5M)."),
        ("urban-points", "Urban population of points-based cities (5M and more)."),
        ("potential-regions", "Urban population of the seven potential regions together."),
    ] {
        let _ = writeln!(md, "### {stem}\n\n{sentence}\n\n![{stem}](charts/{stem}.png)\n");
    }
    for (i, c) in compared.iter().enumerate().skip(1) {
        let _ = writeln!(
            md,
            "### difference-map-{i}\n\nUrban residents in {year} by prefecture, {} minus {}, mean of the paired differences over replicates (blue: more in {}). `units_diff.csv` and `provinces_diff.csv` hold every column's differences with bands.\n\n![difference-map-{i}](charts/difference-map-{i}.png)\n",
            c.name(),
            compared[0].name(),
            c.name()
        );
    }
    md.push_str(focus_md);
    md.push_str("## Inputs\n\nThe resolved keys that differ between the scenarios are listed in [inputs-diff.md](inputs-diff.md); `summary.csv` holds the table above in tidy form.\n");
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    fn plan(text: &str) -> Plan {
        let s = scenario::from_str("t", text).unwrap();
        Plan::from_scenario(s, Geography::embedded()).unwrap()
    }

    #[test]
    fn the_diff_lists_exactly_the_changed_keys() {
        let a = plan("");
        let b = plan(
            "[settlement.points]\nno_quota_from = 2024\n[services]\nnonhukou_share = { 2024 = 0.6, 2029 = 0.8 }\n[fiscal]\nlink = false\n",
        );
        let diff = input_differences(&[&a, &b]);
        let keys: Vec<&str> = diff.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["fiscal.link", "services.nonhukou_share", "settlement.points.no_quota_from"]);
        assert_eq!(diff[0].1, ["true", "false"]);
        assert_eq!(diff[2].1[0], "(absent)");
        assert!(input_differences(&[&a, &plan("name = \"other\"\n")]).is_empty());
    }
}
