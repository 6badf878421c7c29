//! `migrasim solve`: goal seeking. The smallest change of the given levers, moved together from
//! the scenario's values toward their ends, that reaches every target with the stated
//! probability over the runs (the posterior's parameter sets × replicate seeds); or, when the
//! ends do not reach it, how close they come.
//!
//! A lever is any numeric scenario key. Its value is its value in the last simulated year (a
//! place table's `default`); a change shifts every number the key holds (every year of a year
//! table, every place) by the same amount, so a ramp keeps its shape. The search bisects the
//! share `t` of the way to the ends, assuming the chance rises with `t` (the evaluated points are
//! all reported, so a non-monotone response shows).

use crate::calibrate::posterior::{self, Posterior};
use crate::engine::{Plan, Simulation};
use crate::geo::Geography;
use crate::results::national_row;
use crate::scenario::{self, PlaceValue, Scenario};
use crate::spread;
use std::fmt::Write as _;

/// Comparison of a target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    AtLeast,
    AtMost,
}

/// Where a target's column is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    National,
    /// A province (index) in `provinces.csv`.
    Province(usize),
    /// A unit (index) in `units.csv`.
    Unit(usize),
}

/// `COLUMN[PLACE]@YEAR>=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub text: String,
    pub column: String,
    pub place: Place,
    pub year: i32,
    pub op: Op,
    pub value: f64,
}

const TARGET_FORM: &str = "COLUMN@YEAR>=VALUE or COLUMN[PLACE]@YEAR<=VALUE, e.g. hukou_urbanization_rate_pct@2029>=55 or urbanization_rate_pct[Henan]@2029>=62";

impl Target {
    /// Parses a target; the error names what is allowed.
    pub fn parse(text: &str, geo: &Geography, first: i32, last: i32) -> Result<Target, String> {
        let (left, op, value) = if let Some((l, v)) = text.split_once(">=") {
            (l, Op::AtLeast, v)
        } else if let Some((l, v)) = text.split_once("<=") {
            (l, Op::AtMost, v)
        } else {
            return Err(format!("`{text}` has no >= or <=; allowed: {TARGET_FORM}"));
        };
        let value: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("`{value}` is not a number; allowed: {TARGET_FORM}"))?;
        let (left, year) =
            left.split_once('@').ok_or_else(|| format!("`{text}` has no @YEAR; allowed: {TARGET_FORM}"))?;
        let year: i32 = year
            .trim()
            .parse()
            .ok()
            .filter(|y| (first..=last).contains(y))
            .ok_or_else(|| format!("`{year}` is not a simulated year; allowed: {first}–{last}"))?;
        let (column, place) = match left.split_once('[') {
            Some((column, rest)) => {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| format!("`{left}` has no closing ]; allowed: {TARGET_FORM}"))?;
                let place = match geo.find_province(name) {
                    Some(p) => Place::Province(p),
                    None => {
                        Place::Unit(geo.find(name).map_err(|m| format!("`{name}`: not a province, and {m}"))?.index())
                    }
                };
                (column.trim().to_string(), place)
            }
            None => (left.trim().to_string(), Place::National),
        };
        let allowed = columns_of(&place);
        if !allowed.contains(&column.as_str()) {
            return Err(format!(
                "`{column}` is not a numeric column of {}; allowed: {}",
                match place {
                    Place::National => "national.csv",
                    Place::Province(_) => "provinces.csv",
                    Place::Unit(_) => "units.csv",
                },
                allowed.join(", ")
            ));
        }
        Ok(Target { text: text.to_string(), column, place, year, op, value })
    }

    fn met(&self, v: f64) -> bool {
        match self.op {
            Op::AtLeast => v >= self.value,
            Op::AtMost => v <= self.value,
        }
    }
}

/// The numeric columns a target may name at a place.
fn columns_of(place: &Place) -> Vec<&'static str> {
    match place {
        Place::National => crate::report::NATIONAL_COLUMNS.split(',').filter(|c| *c != "year").collect(),
        Place::Province(_) => PROVINCE_COLUMNS.to_vec(),
        Place::Unit(_) => UNIT_COLUMNS.to_vec(),
    }
}

const PROVINCE_COLUMNS: [&str; 7] = [
    "population",
    "urban_residents",
    "urbanization_rate_pct",
    "hukou_urbanization_rate_pct",
    "nonhukou_urban_residents",
    "settlements",
    "registered_population",
];
const UNIT_COLUMNS: [&str; 8] = [
    "population",
    "urban_residents",
    "urbanization_rate_pct",
    "nonhukou_urban_residents",
    "settlements",
    "arrivals",
    "departures",
    "public_school_access_pct",
];

/// The value of a target's column in one run.
fn read(target: &Target, sim: &Simulation) -> f64 {
    let Some(record) = sim.records.iter().find(|r| r.year == target.year) else {
        return f64::NAN;
    };
    let scale = sim.persons_per_member;
    match &target.place {
        Place::National => national_row(record, scale).column(&target.column).unwrap_or(f64::NAN),
        Place::Province(p) => {
            let geo = sim.geo();
            let mut sums = [0u64; 6];
            for (u, c) in record.units.iter().enumerate() {
                if geo.units[u].province == *p {
                    sums[0] += c.population();
                    sums[1] += c.urban;
                    sums[2] += c.nonhukou_urban;
                    sums[3] += c.settlements;
                    sums[4] += c.registered;
                    sums[5] += c.registered_urban_hukou;
                }
            }
            let pct = |a: u64, b: u64| {
                if b > 0 { 100.0 * a as f64 / b as f64 } else { 0.0 }
            };
            match target.column.as_str() {
                "population" => sums[0] as f64 * scale,
                "urban_residents" => sums[1] as f64 * scale,
                "urbanization_rate_pct" => pct(sums[1], sums[0]),
                // The official definition, as in provinces.csv.
                "hukou_urbanization_rate_pct" => pct(sums[5], sums[4]),
                "nonhukou_urban_residents" => sums[2] as f64 * scale,
                "settlements" => sums[3] as f64 * scale,
                "registered_population" => sums[4] as f64 * scale,
                _ => f64::NAN,
            }
        }
        Place::Unit(u) => {
            let c = &record.units[*u];
            let city = &record.cities[*u];
            match target.column.as_str() {
                "population" => c.population() as f64 * scale,
                "urban_residents" => c.urban as f64 * scale,
                "urbanization_rate_pct" => {
                    if c.population() > 0 {
                        100.0 * c.urban as f64 / c.population() as f64
                    } else {
                        0.0
                    }
                }
                "nonhukou_urban_residents" => c.nonhukou_urban as f64 * scale,
                "settlements" => c.settlements as f64 * scale,
                "arrivals" => c.arrivals() as f64 * scale,
                "departures" => c.departures() as f64 * scale,
                "public_school_access_pct" => 100.0 * city.school_access,
                _ => f64::NAN,
            }
        }
    }
}

/// A lever: a numeric key, its value in the scenario and the end the search may move it to.
#[derive(Debug, Clone, PartialEq)]
pub struct Lever {
    pub key: String,
    pub start: f64,
    pub end: f64,
}

/// The value at a dotted path, mutable (`levers::lookup` reads one).
fn lookup_mut<'a>(table: &'a mut toml::Table, path: &str) -> Option<&'a mut toml::Value> {
    let mut parts = path.split('.');
    let mut value = table.get_mut(parts.next()?)?;
    for part in parts {
        value = value.as_table_mut()?.get_mut(part)?;
    }
    Some(value)
}

/// Adds `delta` to every number of a value (a number, a year table, a place table).
fn shift(value: &mut toml::Value, delta: f64) {
    match value {
        toml::Value::Integer(i) => *value = toml::Value::Float(*i as f64 + delta),
        toml::Value::Float(f) => *f += delta,
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| shift(v, delta)),
        _ => {}
    }
}

impl Lever {
    /// `KEY` or `KEY=END`: the key must hold a number (or a year or place table of them); the
    /// end defaults to the upper end of the key's allowed range, and must lie within it.
    pub fn parse(text: &str, scenario: &Scenario) -> Result<Lever, String> {
        let (key, end) = match text.split_once('=') {
            Some((k, e)) => (
                k.trim(),
                Some(
                    e.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| format!("`{e}` is not a number"))?,
                ),
            ),
            None => (text.trim(), None),
        };
        let ranges = scenario::allowed_ranges(scenario);
        let Some(&(lo, hi)) = ranges.get(key) else {
            return Err(format!(
                "`{key}` is not a numeric key with a range; allowed: {}",
                ranges.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        };
        let table: toml::Table = toml::from_str(&scenario.to_toml()).map_err(|e| e.to_string())?;
        let value = crate::levers::lookup(&table, key).ok_or_else(|| format!("`{key}` is not set"))?;
        let place: PlaceValue =
            value.clone().try_into().map_err(|_| format!("`{key}` does not hold a number or a year or place table"))?;
        let start = place.default_value().at(scenario.run.last_year);
        let end = end.unwrap_or(hi);
        if !(lo..=hi).contains(&end) {
            return Err(format!("the end {end} of `{key}` is outside its allowed range {lo} ..= {hi}"));
        }
        if (end - start).abs() < 1e-12 {
            return Err(format!("`{key}` is already {start}, its end: give another end with {key}=VALUE"));
        }
        Ok(Lever { key: key.to_string(), start, end })
    }

    fn at(&self, t: f64) -> f64 {
        self.start + t * (self.end - self.start)
    }
}

/// `scenario` with every lever moved the share `t` of the way to its end.
pub fn moved(scenario: &Scenario, levers: &[Lever], t: f64) -> Result<Scenario, String> {
    let mut table: toml::Table = toml::from_str(&scenario.to_toml()).map_err(|e| e.to_string())?;
    for lever in levers {
        let value = lookup_mut(&mut table, &lever.key).ok_or_else(|| lever.key.clone())?;
        shift(value, lever.at(t) - lever.start);
    }
    let text = toml::to_string(&table).map_err(|e| e.to_string())?;
    let moved: Scenario = toml::from_str(&text).map_err(|e| e.to_string())?;
    scenario::check(&moved).map_err(|e| e.to_string())?;
    Ok(moved)
}

/// One evaluated point of the search.
#[derive(Debug, Clone)]
pub struct Point {
    pub t: f64,
    /// Share of runs meeting every target.
    pub probability: f64,
    /// Mean of each target's column over the runs.
    pub means: Vec<f64>,
}

pub struct Solution {
    pub levers: Vec<Lever>,
    pub targets: Vec<Target>,
    pub required: f64,
    pub points: Vec<Point>,
    /// The smallest share of the way that reaches the targets, if the ends do.
    pub answer: Option<f64>,
    pub runs_per_point: usize,
}

/// Bisection steps after the two ends.
const STEPS: usize = 8;

/// Searches the smallest `t` whose runs (every parameter set of `ensemble` — all at the
/// scenario's values without one — with every seed) meet every target with chance ≥ `required`.
#[allow(clippy::too_many_arguments)]
pub fn solve(
    geo: &Geography,
    scenario: &Scenario,
    levers: Vec<Lever>,
    targets: Vec<Target>,
    required: f64,
    ensemble: Option<&Posterior>,
    seeds: &[u64],
    mut progress: impl FnMut(&Point),
) -> Result<Solution, String> {
    let members = ensemble.map_or(1, |e| e.members.len());
    let evaluate = |t: f64| -> Result<Point, String> {
        let base = moved(scenario, &levers, t)?;
        // Every parameter set × seed is one unit of work (spread over MPI ranks when there are
        // several), set-major; each run is itself parallel.
        let runs = members * seeds.len();
        let values: Vec<Vec<f64>> = spread::map(
            runs,
            spread::Local::Serial,
            |u| format!("{:.2}% of the way, set {}, seed {}", 100.0 * t, u / seeds.len(), seeds[u % seeds.len()]),
            |u| {
                let mut s = base.clone();
                if let Some(e) = ensemble {
                    posterior::apply(&mut s, e, u / seeds.len());
                }
                s.run.seed = seeds[u % seeds.len()];
                let plan = Plan::from_scenario(s, geo).map_err(|e| e.to_string())?;
                let mut sim = Simulation::new(geo, plan);
                sim.run(|_| {});
                Ok(targets.iter().map(|g| read(g, &sim)).collect())
            },
        )?;
        let mut met = 0usize;
        let mut sums = vec![0.0; targets.len()];
        for run in &values {
            if targets.iter().zip(run).all(|(g, v)| g.met(*v)) {
                met += 1;
            }
            for (sum, v) in sums.iter_mut().zip(run) {
                *sum += v;
            }
        }
        Ok(Point { t, probability: met as f64 / runs as f64, means: sums.iter().map(|s| s / runs as f64).collect() })
    };
    let mut points = Vec::new();
    let mut record = |p: Point, points: &mut Vec<Point>| {
        progress(&p);
        points.push(p.clone());
        p
    };
    let start = record(evaluate(0.0)?, &mut points);
    let answer = if start.probability >= required {
        Some(0.0)
    } else {
        let end = record(evaluate(1.0)?, &mut points);
        if end.probability < required {
            None
        } else {
            let (mut lo, mut hi) = (0.0, 1.0);
            for _ in 0..STEPS {
                let mid = 0.5 * (lo + hi);
                let p = record(evaluate(mid)?, &mut points);
                if p.probability >= required {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            Some(hi)
        }
    };
    points.sort_by(|a, b| a.t.total_cmp(&b.t));
    Ok(Solution { levers, targets, required, points, answer, runs_per_point: members * seeds.len() })
}

/// `solve.csv`: every evaluated point with the levers' values, the chance and the targets' means.
pub fn solve_csv(s: &Solution) -> String {
    let mut text = String::from("t");
    for l in &s.levers {
        let _ = write!(text, ",{}", l.key);
    }
    text.push_str(",probability");
    for g in &s.targets {
        let _ = write!(text, ",\"mean: {}\"", g.text);
    }
    text.push('\n');
    for p in &s.points {
        let _ = write!(text, "{:.6}", p.t);
        for l in &s.levers {
            let _ = write!(text, ",{:.6}", l.at(p.t));
        }
        let _ = write!(text, ",{:.4}", p.probability);
        for m in &p.means {
            let _ = write!(text, ",{m:.4}");
        }
        text.push('\n');
    }
    text
}

/// The answer in words, for the report and stdout.
pub fn solve_md(s: &Solution, scenario: &str, households: u64) -> String {
    let targets: Vec<&str> = s.targets.iter().map(|g| g.text.as_str()).collect();
    let mut md = format!(
        "# Goal seeking on `{scenario}`\n\nTargets: {} (all at once), with a chance of at least {:.0}% over {} runs per point at {households} households. Levers, moved together from the scenario's values toward their ends: {}.\n\n",
        targets.join("; "),
        100.0 * s.required,
        s.runs_per_point,
        s.levers.iter().map(|l| format!("`{}` {} → {}", l.key, l.start, l.end)).collect::<Vec<_>>().join(", ")
    );
    match s.answer {
        Some(0.0) => {
            md.push_str("**Reached without any change**: the scenario as it is meets the targets.\n");
        }
        Some(t) => {
            let values: Vec<String> = s.levers.iter().map(|l| format!("`{}` = {:.4}", l.key, l.at(t))).collect();
            let _ = writeln!(
                md,
                "**Smallest change found** ({:.1}% of the way to the ends, to within {:.1}%): {}.",
                100.0 * t,
                100.0 / f64::from(1u32 << STEPS),
                values.join(", ")
            );
        }
        None => {
            let end = s.points.last().expect("the ends are evaluated");
            let _ = writeln!(
                md,
                "**Unreachable within the ranges**: at the ends the chance is {:.0}%, and the targets' means are {}.",
                100.0 * end.probability,
                s.targets
                    .iter()
                    .zip(&end.means)
                    .map(|(g, m)| format!("{} {m:.3}", g.column))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    md.push_str("\n| share of the way | ");
    for l in &s.levers {
        let _ = write!(md, "{} | ", l.key);
    }
    md.push_str("chance | ");
    for g in &s.targets {
        let _ = write!(md, "mean {} | ", g.column);
    }
    md.push_str("\n|--:|");
    for _ in 0..s.levers.len() + 1 + s.targets.len() {
        md.push_str("--:|");
    }
    md.push('\n');
    for p in &s.points {
        let _ = write!(md, "| {:.3} | ", p.t);
        for l in &s.levers {
            let _ = write!(md, "{:.4} | ", l.at(p.t));
        }
        let _ = write!(md, "{:.0}% | ", 100.0 * p.probability);
        for m in &p.means {
            let _ = write!(md, "{m:.3} | ");
        }
        md.push('\n');
    }
    md.push_str("\n![probability](charts/probability.png)\n");
    md
}
