//! Run outputs: tidy CSV tables, the manifest and the charts, written atomically.
//!
//! Everything is written into a temporary sibling folder that is renamed into place only when
//! complete, so a failed or interrupted run never leaves a half-written output folder. Counts
//! are simulated members × persons per member, rounded to whole persons; rates come from the
//! integer counts directly.

use crate::charts::{self, ChartInput, NationalPoint, OfficialPoint};
use crate::engine::aggregate::UnitCounts;
use crate::engine::{Simulation, Timings, YearRecord};
use crate::geo::{Geography, TIERS};
use crate::population::SynthesisReport;
use crate::scenario::Regime;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const OFFICIAL_CSV: &str = include_str!("../data/official_national.csv");

/// The plan's goal: a permanent-resident urbanization rate close to 70% within five years.
pub const GOAL_PCT: f64 = 70.0;
pub const GOAL_YEAR: i32 = 2029;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{0}")]
    Chart(#[from] charts::ChartError),
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Official NBS history used for charts and the base-year check (census-revised series).
pub fn official_history() -> Vec<OfficialPoint> {
    let mut reader = csv::Reader::from_reader(OFFICIAL_CSV.as_bytes());
    reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|r| {
            Some(OfficialPoint {
                year: r.get(0)?.parse().ok()?,
                urbanization_rate_pct: r.get(3)?.parse().ok()?,
                hukou_urbanization_rate_pct: r.get(4).and_then(|v| v.parse().ok()),
            })
        })
        .collect()
}

/// One row of `national.csv`, computed from a year's record.
#[derive(Debug, Clone, PartialEq)]
pub struct NationalRow {
    pub year: i32,
    pub population: f64,
    pub urban_residents: f64,
    pub urbanization_rate_pct: f64,
    pub hukou_urban_population: f64,
    pub hukou_urbanization_rate_pct: f64,
    pub gap_pp: f64,
    pub nonhukou_urban_residents: f64,
    pub settlements: f64,
    pub applicants: f64,
    pub movers: f64,
    pub rural_to_urban: f64,
    pub urban_to_rural: f64,
    pub in_place_urbanized: f64,
    pub births: f64,
    pub deaths: f64,
    pub left_behind_children: f64,
    pub public_school_share_pct: f64,
    pub migrant_heads_senior_plus_pct: f64,
}

fn sum(units: &[UnitCounts], f: impl Fn(&UnitCounts) -> u64) -> u64 {
    units.iter().map(f).sum()
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

pub fn national_row(record: &YearRecord, scale: f64) -> NationalRow {
    let u = &record.units;
    let population = sum(u, UnitCounts::population);
    let urban = sum(u, |c| c.urban);
    let hukou = sum(u, |c| c.hukou_urban_residents);
    let n = &record.national;
    // Public-school share: seats ÷ non-hukou children, weighted by those children.
    let children: f64 = u.iter().map(|c| c.nonhukou_children as f64).sum();
    let seated: f64 = u
        .iter()
        .zip(&record.cities)
        .map(|(c, city)| c.nonhukou_children as f64 * city.school_access)
        .sum();
    let urbanization = pct(urban, population);
    let hukou_rate = pct(hukou, population);
    NationalRow {
        year: record.year,
        population: population as f64 * scale,
        urban_residents: urban as f64 * scale,
        urbanization_rate_pct: urbanization,
        hukou_urban_population: hukou as f64 * scale,
        hukou_urbanization_rate_pct: hukou_rate,
        gap_pp: urbanization - hukou_rate,
        nonhukou_urban_residents: sum(u, |c| c.nonhukou_urban) as f64 * scale,
        settlements: sum(u, |c| c.settlements) as f64 * scale,
        applicants: sum(u, |c| c.applicants) as f64 * scale,
        movers: n.movers as f64 * scale,
        rural_to_urban: n.rural_to_urban as f64 * scale,
        urban_to_rural: n.urban_to_rural as f64 * scale,
        in_place_urbanized: n.in_place as f64 * scale,
        births: n.births as f64 * scale,
        deaths: n.deaths as f64 * scale,
        left_behind_children: sum(u, |c| c.left_behind_children) as f64 * scale,
        public_school_share_pct: if children > 0.0 {
            100.0 * seated / children
        } else {
            100.0
        },
        migrant_heads_senior_plus_pct: pct(n.migrant_heads_senior_plus, n.migrant_heads),
    }
}

/// Everything needed to write a run's outputs.
pub struct RunOutput<'a> {
    pub geo: &'a Geography,
    pub name: &'a str,
    pub description: &'a str,
    pub resolved_toml: String,
    pub scenario_hash: String,
    pub seed: u64,
    pub households: u64,
    pub persons_per_member: f64,
    pub regimes: &'a [Regime],
    pub records: &'a [YearRecord],
    pub synthesis: &'a SynthesisReport,
    pub timings: &'a Timings,
    pub threads: usize,
    pub first_year: i32,
}

impl<'a> RunOutput<'a> {
    pub fn from_simulation(sim: &'a Simulation<'a>, threads: usize) -> RunOutput<'a> {
        let s = sim.scenario();
        RunOutput {
            geo: sim.geo(),
            name: &s.name,
            description: &s.description,
            resolved_toml: s.to_toml(),
            scenario_hash: s.hash(),
            seed: s.run.seed,
            households: s.run.households,
            persons_per_member: sim.persons_per_member,
            regimes: &sim.plan().regimes,
            records: &sim.records,
            synthesis: &sim.synthesis,
            timings: &sim.timings,
            threads,
            first_year: s.run.first_year,
        }
    }
}

fn f0(v: f64) -> String {
    format!("{:.0}", v.round())
}

fn f4(v: f64) -> String {
    format!("{v:.4}")
}

/// The CSV tables as (file name, contents). Deterministic text: same records, same bytes.
pub fn tables(out: &RunOutput) -> Vec<(&'static str, String)> {
    vec![
        ("national.csv", national_csv(out)),
        (
            "tiers.csv",
            group_csv(out, "tier", |u, _| TIERS[out.geo.units[u].tier].to_string()),
        ),
        (
            "regimes.csv",
            group_csv(out, "regime", |u, regimes| regimes[u].name().to_string()),
        ),
        ("provinces.csv", provinces_csv(out)),
        ("units.csv", units_csv(out)),
        ("flows.csv", flows_csv(out)),
    ]
}

pub const NATIONAL_COLUMNS: &str = "year,population,urban_residents,rural_residents,urbanization_rate_pct,hukou_urban_population,hukou_urbanization_rate_pct,gap_pp,nonhukou_urban_residents,settlements,applicants,movers,rural_to_urban,urban_to_rural,in_place_urbanized,births,deaths,left_behind_children,public_school_share_pct,migrant_heads_senior_plus_pct";

fn national_csv(out: &RunOutput) -> String {
    let mut text = String::from(NATIONAL_COLUMNS);
    text.push('\n');
    for record in out.records {
        let r = national_row(record, out.persons_per_member);
        let _ = writeln!(
            text,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.year,
            f0(r.population),
            f0(r.urban_residents),
            f0(r.population - r.urban_residents),
            f4(r.urbanization_rate_pct),
            f0(r.hukou_urban_population),
            f4(r.hukou_urbanization_rate_pct),
            f4(r.gap_pp),
            f0(r.nonhukou_urban_residents),
            f0(r.settlements),
            f0(r.applicants),
            f0(r.movers),
            f0(r.rural_to_urban),
            f0(r.urban_to_rural),
            f0(r.in_place_urbanized),
            f0(r.births),
            f0(r.deaths),
            f0(r.left_behind_children),
            f4(r.public_school_share_pct),
            f4(r.migrant_heads_senior_plus_pct),
        );
    }
    text
}

/// Sums of unit counts grouped by a label (tier or regime), one row per year × group.
fn group_csv(out: &RunOutput, column: &str, label: impl Fn(usize, &[Regime]) -> String) -> String {
    let labels: Vec<String> = (0..out.geo.len()).map(|u| label(u, out.regimes)).collect();
    let mut groups: Vec<String> = labels.clone();
    groups.sort();
    groups.dedup();
    let mut text = format!(
        "year,{column},units,population,urban_residents,urbanization_rate_pct,nonhukou_urban_residents,settlements,arrivals,departures\n"
    );
    let scale = out.persons_per_member;
    for record in out.records {
        for group in &groups {
            let members: Vec<&UnitCounts> = record
                .units
                .iter()
                .zip(&labels)
                .filter(|(_, l)| *l == group)
                .map(|(c, _)| c)
                .collect();
            let total =
                |f: &dyn Fn(&UnitCounts) -> u64| -> u64 { members.iter().map(|c| f(c)).sum() };
            let population = total(&|c| c.population());
            let urban = total(&|c| c.urban);
            let _ = writeln!(
                text,
                "{},{},{},{},{},{},{},{},{},{}",
                record.year,
                group,
                members.len(),
                f0(population as f64 * scale),
                f0(urban as f64 * scale),
                f4(pct(urban, population)),
                f0(total(&|c| c.nonhukou_urban) as f64 * scale),
                f0(total(&|c| c.settlements) as f64 * scale),
                f0(total(&|c| c.arrivals) as f64 * scale),
                f0(total(&|c| c.departures) as f64 * scale),
            );
        }
    }
    text
}

fn provinces_csv(out: &RunOutput) -> String {
    let mut text = String::from(
        "year,province_code,province_en,province_zh,population,urban_residents,urbanization_rate_pct,hukou_urban_residents,hukou_urbanization_rate_pct,nonhukou_urban_residents,settlements,arrivals,departures\n",
    );
    let scale = out.persons_per_member;
    for record in out.records {
        for (p, province) in out.geo.provinces.iter().enumerate() {
            let mut c = UnitCounts::default();
            for (u, counts) in record.units.iter().enumerate() {
                if out.geo.units[u].province == p {
                    c.urban += counts.urban;
                    c.rural += counts.rural;
                    c.hukou_urban_residents += counts.hukou_urban_residents;
                    c.nonhukou_urban += counts.nonhukou_urban;
                    c.settlements += counts.settlements;
                    c.arrivals += counts.arrivals;
                    c.departures += counts.departures;
                }
            }
            let _ = writeln!(
                text,
                "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                record.year,
                province.code,
                csv_field(&province.name_en),
                province.name_zh,
                f0(c.population() as f64 * scale),
                f0(c.urban as f64 * scale),
                f4(pct(c.urban, c.population())),
                f0(c.hukou_urban_residents as f64 * scale),
                f4(pct(c.hukou_urban_residents, c.population())),
                f0(c.nonhukou_urban as f64 * scale),
                f0(c.settlements as f64 * scale),
                f0(c.arrivals as f64 * scale),
                f0(c.departures as f64 * scale),
            );
        }
    }
    text
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn units_csv(out: &RunOutput) -> String {
    let mut text = String::from(
        "year,code,name_en,name_zh,province_en,tier,regime,potential_region,population,urban_residents,rural_residents,urbanization_rate_pct,nonhukou_urban_residents,rural_hukou_urban_residents,left_behind_children,settlements,applicants,arrivals,departures,jobs,wage_yuan_month,housing_cost_index,public_school_access_pct,affordable_coverage_pct\n",
    );
    let scale = out.persons_per_member;
    for record in out.records {
        for (u, c) in record.units.iter().enumerate() {
            let unit = &out.geo.units[u];
            let city = &record.cities[u];
            let _ = writeln!(
                text,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.1},{},{:.2},{:.2}",
                record.year,
                unit.code,
                csv_field(&unit.name_en),
                unit.name_zh,
                csv_field(&out.geo.provinces[unit.province].name_en),
                TIERS[unit.tier],
                out.regimes[u],
                csv_field(unit.potential_region.as_deref().unwrap_or("")),
                f0(c.population() as f64 * scale),
                f0(c.urban as f64 * scale),
                f0(c.rural as f64 * scale),
                f4(pct(c.urban, c.population())),
                f0(c.nonhukou_urban as f64 * scale),
                f0(c.rural_hukou_urban as f64 * scale),
                f0(c.left_behind_children as f64 * scale),
                f0(c.settlements as f64 * scale),
                f0(c.applicants as f64 * scale),
                f0(c.arrivals as f64 * scale),
                f0(c.departures as f64 * scale),
                f0(city.jobs * scale),
                city.wage,
                f4(city.housing_cost),
                100.0 * city.school_access,
                100.0 * city.affordable_coverage,
            );
        }
    }
    text
}

fn flows_csv(out: &RunOutput) -> String {
    let mut text = String::from(
        "year,origin_province_code,origin_province_en,destination_province_code,destination_province_en,movers\n",
    );
    let p = out.geo.provinces.len();
    for record in out.records.iter().filter(|r| r.year >= out.first_year) {
        for from in 0..p {
            for to in 0..p {
                let members = record.flows[from * p + to];
                if members == 0 {
                    continue;
                }
                let _ = writeln!(
                    text,
                    "{},{},{},{},{},{}",
                    record.year,
                    out.geo.provinces[from].code,
                    csv_field(&out.geo.provinces[from].name_en),
                    out.geo.provinces[to].code,
                    csv_field(&out.geo.provinces[to].name_en),
                    f0(members as f64 * out.persons_per_member),
                );
            }
        }
    }
    text
}

#[derive(Serialize)]
struct Manifest<'a> {
    migrasim_version: &'static str,
    scenario_name: &'a str,
    description: &'a str,
    scenario_hash: &'a str,
    seed: u64,
    households: u64,
    persons_per_household_member: f64,
    threads: usize,
    first_year: i32,
    last_year: Option<i32>,
    synthesis: &'a SynthesisReport,
    timings_seconds: &'a Timings,
    files: Vec<String>,
    resolved_scenario: &'a str,
}

/// Writes tables, manifest and charts into `dir`, atomically. Returns the files written.
pub fn write_run(dir: &Path, out: &RunOutput) -> Result<Vec<PathBuf>, ReportError> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io_error(&parent, e))?;
    let leaf = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".to_string());
    let staging = parent.join(format!(".{leaf}.partial-{}", std::process::id()));
    let result = write_into(&staging, out);
    match result {
        Ok(files) => {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(|e| io_error(dir, e))?;
            }
            std::fs::rename(&staging, dir).map_err(|e| {
                let _ = std::fs::remove_dir_all(&staging);
                io_error(dir, e)
            })?;
            Ok(files.into_iter().map(|f| dir.join(f)).collect())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn write_into(staging: &Path, out: &RunOutput) -> Result<Vec<PathBuf>, ReportError> {
    if staging.exists() {
        std::fs::remove_dir_all(staging).map_err(|e| io_error(staging, e))?;
    }
    std::fs::create_dir_all(staging).map_err(|e| io_error(staging, e))?;
    let mut files = Vec::new();
    for (name, text) in tables(out) {
        let path = staging.join(name);
        std::fs::write(&path, text).map_err(|e| io_error(&path, e))?;
        files.push(PathBuf::from(name));
    }

    let simulated: Vec<NationalPoint> = out
        .records
        .iter()
        .map(|r| {
            let row = national_row(r, out.persons_per_member);
            NationalPoint {
                year: row.year,
                urbanization_rate_pct: row.urbanization_rate_pct,
                hukou_urbanization_rate_pct: row.hukou_urbanization_rate_pct,
                gap_pp: row.gap_pp,
                // The base year has no simulated flows.
                settlements: if row.year >= out.first_year {
                    row.settlements
                } else {
                    f64::NAN
                },
                movers: if row.year >= out.first_year {
                    row.movers
                } else {
                    f64::NAN
                },
            }
        })
        .collect();
    let official = official_history();
    let chart_dir = staging.join("charts");
    let charts = charts::render_run_charts(
        &chart_dir,
        &ChartInput {
            scenario_name: out.name,
            simulated: &simulated,
            official: &official,
            goal_pct: GOAL_PCT,
            goal_year: GOAL_YEAR,
            source_note: "Source: NBS 2010–2023 (census-revised series); migrasim simulation from the base year",
        },
    )?;
    for chart in charts {
        if let Ok(relative) = chart.strip_prefix(staging) {
            files.push(relative.to_path_buf());
        }
    }

    files.push(PathBuf::from("manifest.json"));
    let manifest = Manifest {
        migrasim_version: env!("CARGO_PKG_VERSION"),
        scenario_name: out.name,
        description: out.description,
        scenario_hash: &out.scenario_hash,
        seed: out.seed,
        households: out.households,
        persons_per_household_member: out.persons_per_member,
        threads: out.threads,
        first_year: out.first_year,
        last_year: out.records.last().map(|r| r.year),
        synthesis: out.synthesis,
        timings_seconds: out.timings,
        files: files.iter().map(|f| f.display().to_string()).collect(),
        resolved_scenario: &out.resolved_toml,
    };
    let path = staging.join("manifest.json");
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| io_error(&path, e))?;
    std::fs::write(&path, json + "\n").map_err(|e| io_error(&path, e))?;
    Ok(files)
}
