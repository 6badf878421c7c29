//! Calibration and validation: fits the free behaviour parameters on the 2020→2023 backcast,
//! writes them as `scenarios/calibration.toml` (the root the shipped scenarios extend), and
//! generates `docs/validation.md` with targets, simulated values and errors year by year.
//!
//! The fit is deterministic: fixed starting values (the code's priors), one seed, and
//! coordinate-wise bisection, each parameter on the target it moves most. The same command with
//! `--check` refits and reports whether the shipped files are still what the code produces.

use crate::charts::{self, ScatterChart, ScatterPoint};
use crate::engine::{Plan, Simulation, YearRecord};
use crate::geo::Geography;
use crate::report::ReportError;
use crate::results::{NationalRow, national_row};
use crate::scenario::{Scenario, YearValue};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub mod posterior;

const OFFICIAL_CSV: &str = include_str!("../data/official_national.csv");
const MIGRANT_WORKERS_CSV: &str = include_str!("../data/migrant_workers.csv");

/// A free parameter: its scenario key, the bracket searched, and the target it is fitted to.
struct Parameter {
    key: &'static str,
    low: f64,
    high: f64,
    get: fn(&Scenario) -> f64,
    set: fn(&mut Scenario, f64),
    target: Target,
    /// Whether the target rises with the parameter (bisection direction).
    rising: bool,
}

/// Targets, all from the project's data files.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    OutgoingWorkersBase,
    OutgoingWorkersLast,
    UrbanizationLast,
    HukouLast,
    PublicSchoolLast,
    CrossProvinceShareBase,
    CrossProvinceShareLast,
    /// The urbanization rate at the end of one simulated year (the move rate of that year).
    UrbanizationIn(i32),
}

const TARGETS: [Target; 7] = [
    Target::OutgoingWorkersBase,
    Target::OutgoingWorkersLast,
    Target::UrbanizationLast,
    Target::HukouLast,
    Target::PublicSchoolLast,
    Target::CrossProvinceShareBase,
    Target::CrossProvinceShareLast,
];

impl Target {
    /// How close the fit must come for the target to count as reproduced, and the error.
    fn tolerance(self) -> f64 {
        match self {
            // Relative error of a count.
            Target::OutgoingWorkersBase | Target::OutgoingWorkersLast => 0.03,
            // Percentage points.
            Target::UrbanizationLast | Target::HukouLast | Target::UrbanizationIn(_) => 0.3,
            Target::PublicSchoolLast => 1.0,
            // Percentage points of outgoing migrant workers.
            Target::CrossProvinceShareBase | Target::CrossProvinceShareLast => 1.0,
        }
    }

    fn error(self, simulated: f64, goal: f64) -> f64 {
        match self {
            Target::OutgoingWorkersBase | Target::OutgoingWorkersLast => simulated / goal - 1.0,
            _ => simulated - goal,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Target::OutgoingWorkersBase => "outgoing migrant workers, base year",
            Target::UrbanizationIn(_) => "urbanization rate, the same year",
            Target::OutgoingWorkersLast => "outgoing migrant workers, last year",
            Target::UrbanizationLast => "urbanization rate, last year",
            Target::HukouLast => "hukou urbanization rate, last year",
            Target::PublicSchoolLast => "public-school share of migrant children, last year",
            Target::CrossProvinceShareBase => "cross-province share of outgoing migrant workers, base year",
            Target::CrossProvinceShareLast => "cross-province share of outgoing migrant workers, last year",
        }
    }
}

fn parameters() -> Vec<Parameter> {
    vec![
        Parameter {
            key: "initial.migrant_second_adult_share",
            low: 0.0,
            high: 1.0,
            get: |s| s.initial.migrant_second_adult_share,
            set: |s, v| s.initial.migrant_second_adult_share = v,
            target: Target::OutgoingWorkersBase,
            rising: true,
        },
        Parameter {
            key: "initial.rural_origin_share_other_province",
            low: 0.3,
            high: 1.0,
            get: |s| s.initial.rural_origin_share_other_province.at(s.initial.year),
            set: |s, v| s.initial.rural_origin_share_other_province = v.into(),
            target: Target::CrossProvinceShareBase,
            rising: true,
        },
        Parameter {
            key: "behaviour.beta_same_province",
            low: -2.0,
            high: 10.0,
            get: |s| s.behaviour.beta_same_province,
            set: |s, v| s.behaviour.beta_same_province = v,
            target: Target::CrossProvinceShareLast,
            rising: false,
        },
        Parameter {
            key: "behaviour.rural_urban_move_rate_pct",
            low: 0.05,
            high: 6.0,
            get: |s| s.behaviour.rural_urban_move_rate_pct.at(s.run.last_year),
            set: |s, v| set_move_rate(s, s.run.last_year, v),
            target: Target::OutgoingWorkersLast,
            rising: true,
        },
        Parameter {
            key: "in_place.rate_pct",
            low: 0.0,
            high: 3.0,
            get: |s| s.in_place.rate_pct.at(s.run.first_year),
            set: |s, v| s.in_place.rate_pct = v.into(),
            target: Target::UrbanizationLast,
            rising: true,
        },
        Parameter {
            key: "settlement.willingness.base",
            low: -8.0,
            high: 0.0,
            get: |s| s.settlement.willingness.base,
            set: |s, v| s.settlement.willingness.base = v,
            target: Target::HukouLast,
            rising: true,
        },
        Parameter {
            key: "services.school_seat_growth_pct",
            low: -5.0,
            high: 10.0,
            get: |s| s.services.school_seat_growth_pct.default_value().at(s.run.first_year),
            set: |s, v| s.services.school_seat_growth_pct = v.into(),
            target: Target::PublicSchoolLast,
            rising: true,
        },
    ]
}

/// Sets the move rate of one year, keeping the others (a table over the simulated years).
fn set_move_rate(s: &mut Scenario, year: i32, rate: f64) {
    let current = &s.behaviour.rural_urban_move_rate_pct;
    let mut table: std::collections::BTreeMap<i32, f64> = s.years().map(|y| (y, current.at(y))).collect();
    table.insert(year, rate);
    s.behaviour.rural_urban_move_rate_pct = YearValue::Table(table);
}

/// Official figures by year.
#[derive(Debug, Clone, Default)]
struct Official {
    /// Urban residents at year end (persons).
    urban_population: Vec<(i32, f64)>,
    urbanization: Vec<(i32, f64, String)>,
    hukou: Vec<(i32, f64, String)>,
    outgoing: Vec<(i32, f64)>,
    cross_province: Vec<(i32, f64)>,
}

fn official() -> Official {
    let mut o = Official::default();
    let mut reader = csv::Reader::from_reader(OFFICIAL_CSV.as_bytes());
    for r in reader.records().filter_map(Result::ok) {
        let year: i32 = r.get(0).and_then(|v| v.parse().ok()).unwrap_or(0);
        let status = r.get(9).unwrap_or("").to_string();
        if let Some(v) = r.get(2).and_then(|v| v.parse::<f64>().ok()) {
            o.urban_population.push((year, v * 1e4));
        }
        if let Some(v) = r.get(3).and_then(|v| v.parse().ok()) {
            o.urbanization.push((year, v, status.clone()));
        }
        if let Some(v) = r.get(4).and_then(|v| v.parse().ok()) {
            o.hukou.push((year, v, status));
        }
    }
    let mut reader = csv::Reader::from_reader(MIGRANT_WORKERS_CSV.as_bytes());
    let headers = reader.headers().cloned().unwrap_or_default();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (outgoing, cross) = (column("outgoing_10k"), column("outgoing_cross_province_10k"));
    for r in reader.records().filter_map(Result::ok) {
        let year: i32 = r.get(0).and_then(|v| v.parse().ok()).unwrap_or(0);
        if let Some(v) = outgoing.and_then(|c| r.get(c)).and_then(|v| v.parse::<f64>().ok()) {
            o.outgoing.push((year, v * 1e4));
        }
        if let Some(v) = cross.and_then(|c| r.get(c)).and_then(|v| v.parse::<f64>().ok()) {
            o.cross_province.push((year, v * 1e4));
        }
    }
    o
}

fn lookup(series: &[(i32, f64)], year: i32) -> Option<f64> {
    series.iter().find(|(y, _)| *y == year).map(|(_, v)| *v)
}

fn lookup3(series: &[(i32, f64, String)], year: i32) -> Option<(f64, &str)> {
    series.iter().find(|(y, _, _)| *y == year).map(|(_, v, s)| (*v, s.as_str()))
}

/// Verification status of one field from a row status like
/// `partial;unverified=hukou;derived=total+urban` (data/official_national.csv).
fn field_status(row_status: &str, field: &str) -> &'static str {
    let listed = |kind: &str| {
        row_status
            .split(';')
            .any(|part| part.strip_prefix(kind).is_some_and(|fields| fields.split('+').any(|f| f == field)))
    };
    if listed("unverified=") {
        "UNVERIFIED"
    } else if listed("derived=") {
        "derived"
    } else if row_status == "unverified" {
        "UNVERIFIED"
    } else {
        "verified"
    }
}

const BISECTION_STEPS: usize = 12;
/// Fixed-point steps for the provinces' destination shifts per round, and the step per pp.
const PROVINCE_ITERATIONS: usize = 6;
const PROVINCE_GAIN: f64 = 0.8;
const UNIT_GAIN: f64 = 0.7;
/// Provincial population growth falls by about 0.35 %/yr per 1% of urban-hukou households leaving
/// (the share of residents who live in their hukou city with urban hukou); damped step per %/yr.
const OUTFLOW_GAIN: f64 = 0.7 / 0.35;

/// Fewest simulated urban members (base year) a unit needs for its own destination shift: below
/// it, three years of arrivals are too few draws to tell its pace from noise (about 100,000 urban
/// residents at the calibration's 1M households).
const UNIT_MIN_URBAN_MEMBERS: u64 = 200;
/// Largest change of a unit's shift in one fixed-point step.
const UNIT_MAX_STEP: f64 = 1.0;

/// The national urban population's yearly growth 2020→2023 divided by 2010→2020's (official
/// series): how much every unit's pace is assumed to have slowed since the census decade.
fn slowdown(official: &Official, base: i32, last: i32) -> f64 {
    let urban = |year: i32| lookup(&official.urban_population, year);
    match (urban(2010), urban(base), urban(last)) {
        (Some(u10), Some(u0), Some(u1)) if last > base => {
            let recent = (u1 / u0).powf(1.0 / f64::from(last - base)) - 1.0;
            let decade = (u0 / u10).powf(1.0 / f64::from(base - 2010)) - 1.0;
            recent / decade
        }
        _ => f64::NAN,
    }
}

/// The slowdown the unit targets assume (2020–2023 over 2010–2020, official series).
pub fn unit_slowdown() -> f64 {
    slowdown(&official(), 2020, 2023)
}

/// Each unit's reference yearly urban growth (fraction) for a forward run: its province's
/// official urban-population growth from 2020 to its latest year with a figure, plus the unit's
/// 2010–2020 growth relative to its province times the slowdown (`unit_paces`). `None` without a
/// census pace or provincial figures.
pub fn unit_reference_paces(geo: &Geography) -> Vec<Option<f64>> {
    let slowdown = unit_slowdown();
    let urban = |year: i32| -> Vec<Option<f64>> {
        crate::population::province_figures(geo, year)
            .iter()
            .map(|f| Some(f.population? * f.urbanization_rate_pct? / 100.0))
            .collect()
    };
    let base = urban(2020);
    let mut province_pace: Vec<Option<f64>> = vec![None; geo.provinces.len()];
    for year in 2021..=2023 {
        for (p, later) in urban(year).into_iter().enumerate() {
            if let (Some(later), Some(start)) = (later, base[p]) {
                province_pace[p] = Some((later / start).powf(1.0 / f64::from(year - 2020)) - 1.0);
            }
        }
    }
    let mut decade = vec![[0f64; 2]; geo.provinces.len()];
    for unit in &geo.units {
        if let Some(g) = unit.urban_growth_2010_2020 {
            decade[unit.province][0] += unit.pop_urban_2020 / (1.0 + g).powi(10);
            decade[unit.province][1] += unit.pop_urban_2020;
        }
    }
    geo.units
        .iter()
        .map(|unit| {
            let g = unit.urban_growth_2010_2020?;
            let [start, end] = decade[unit.province];
            let province_decade = (end / start).powf(0.1) - 1.0;
            Some(province_pace[unit.province]? + slowdown * (g - province_decade))
        })
        .collect()
}

/// One unit's growth within its province over the backcast: simulated and target yearly
/// urban growth relative to the province's (fractions), and arrivals relative to its base-year
/// urban residents (the sensitivity of its pace to its shift).
pub struct UnitPace {
    pub unit: usize,
    pub simulated: f64,
    pub target: f64,
    pub arrival_share: f64,
    pub fitted: bool,
}

/// Each unit with a census-decade pace: its simulated urban growth over the records, relative to
/// its province's (over the province's units with a pace), against the target: its 2010–2020
/// pace relative to the province's, times `slowdown`.
pub fn unit_paces(geo: &Geography, records: &[YearRecord], slowdown: f64) -> Vec<UnitPace> {
    let (first, last) = (&records[0], records.last().expect("at least the base year"));
    let years = f64::from(last.year - first.year).max(1.0);
    let pace = |from: f64, to: f64| (to / from.max(1.0)).powf(1.0 / years) - 1.0;
    let provinces = geo.provinces.len();
    // Province sums over units with a census pace: simulated start/end, census 2010/2020.
    let mut sums = vec![[0f64; 4]; provinces];
    for (j, unit) in geo.units.iter().enumerate() {
        if let Some(g) = unit.urban_growth_2010_2020 {
            let s = &mut sums[unit.province];
            s[0] += first.units[j].urban as f64;
            s[1] += last.units[j].urban as f64;
            s[2] += unit.pop_urban_2020 / (1.0 + g).powi(10);
            s[3] += unit.pop_urban_2020;
        }
    }
    geo.units
        .iter()
        .enumerate()
        .filter_map(|(j, unit)| {
            let g = unit.urban_growth_2010_2020?;
            let s = &sums[unit.province];
            let province_decade = (s[3] / s[2]).powf(0.1) - 1.0;
            let start = first.units[j].urban;
            let arrivals: u64 = records[1..].iter().map(|r| r.units[j].arrivals_urban).sum();
            Some(UnitPace {
                unit: j,
                simulated: pace(start as f64, last.units[j].urban as f64) - pace(s[0], s[1]),
                target: slowdown * (g - province_decade),
                arrival_share: arrivals as f64 / (start as f64).max(1.0) / years,
                fitted: start >= UNIT_MIN_URBAN_MEMBERS,
            })
        })
        .collect()
}

/// Yearly population growth (%) of each province with a population figure after the base year,
/// simulated and official, from the base year to its latest such year, by 2-digit province code.
pub fn province_population_growth(geo: &Geography, records: &[YearRecord]) -> Vec<(u32, f64, f64)> {
    let first = &records[0];
    let base = crate::population::province_figures(geo, first.year);
    let population = |record: &YearRecord| {
        let mut totals = vec![0f64; geo.provinces.len()];
        for (unit, counts) in geo.units.iter().zip(&record.units) {
            totals[unit.province] += counts.population() as f64;
        }
        totals
    };
    let start = population(first);
    let mut latest: Vec<Option<(f64, f64)>> = vec![None; geo.provinces.len()];
    for record in records.iter().skip(1) {
        let figures = crate::population::province_figures(geo, record.year);
        let simulated = population(record);
        let years = f64::from(record.year - first.year);
        for (p, f) in figures.iter().enumerate() {
            if let (Some(official), Some(official_base)) = (f.population, base[p].population) {
                latest[p] = Some((
                    100.0 * ((simulated[p] / start[p].max(1.0)).powf(1.0 / years) - 1.0),
                    100.0 * ((official / official_base).powf(1.0 / years) - 1.0),
                ));
            }
        }
    }
    geo.provinces
        .iter()
        .zip(latest)
        .filter_map(|(province, growth)| {
            let (simulated, official) = growth?;
            Some((province.code / 10_000, simulated, official))
        })
        .collect()
}

/// Simulated − official urbanization rate (pp) of each province with a figure after the base
/// year, at its latest such year, by 2-digit province code.
fn province_errors(geo: &Geography, records: &[YearRecord]) -> Vec<(u32, f64)> {
    let mut latest: Vec<Option<f64>> = vec![None; geo.provinces.len()];
    // Earliest year first, so a later year with a figure overwrites.
    for record in records.iter().skip(1) {
        let figures = crate::population::province_figures(geo, record.year);
        let simulated = crate::report::province_urbanization_pct(geo, record);
        for (p, f) in figures.iter().enumerate() {
            if let Some(official) = f.urbanization_rate_pct {
                latest[p] = Some(simulated[p] - official);
            }
        }
    }
    geo.provinces.iter().zip(latest).filter_map(|(province, error)| Some((province.code / 10_000, error?))).collect()
}

const GOLDEN_STEPS: usize = 10;

/// The public-school share of migrant children in 2023 (MWMS; primary 90.1%, junior 91.0%).
const PUBLIC_SCHOOL_2023_PRIMARY: f64 = 90.1;
const PUBLIC_SCHOOL_2023_JUNIOR: f64 = 91.0;
/// ~150M agricultural migrants granted urban hukou 2014–2023 (MPS 2024-08-27): 15M a year.
const SETTLEMENTS_PER_YEAR_2014_2023: f64 = 15.0e6;

/// The survey's cross-province share of outgoing migrant workers in `year` (%).
fn cross_share(official: &Official, year: i32) -> f64 {
    match (lookup(&official.cross_province, year), lookup(&official.outgoing, year)) {
        (Some(cross), Some(outgoing)) => 100.0 * cross / outgoing,
        _ => f64::NAN,
    }
}

fn target_value(target: Target, official: &Official, base: i32, last: i32) -> f64 {
    match target {
        Target::OutgoingWorkersBase => lookup(&official.outgoing, base).unwrap_or(f64::NAN),
        Target::OutgoingWorkersLast => lookup(&official.outgoing, last).unwrap_or(f64::NAN),
        Target::UrbanizationIn(year) => lookup3(&official.urbanization, year).map_or(f64::NAN, |v| v.0),
        Target::UrbanizationLast => lookup3(&official.urbanization, last).map_or(f64::NAN, |v| v.0),
        Target::HukouLast => lookup3(&official.hukou, last).map_or(f64::NAN, |v| v.0),
        Target::PublicSchoolLast => PUBLIC_SCHOOL_2023_PRIMARY,
        Target::CrossProvinceShareBase => cross_share(official, base),
        Target::CrossProvinceShareLast => cross_share(official, last),
    }
}

fn simulated_value(target: Target, records: &[YearRecord], scale: f64) -> f64 {
    let base = national_row(&records[0], scale);
    let last = national_row(records.last().expect("at least the base year"), scale);
    match target {
        Target::OutgoingWorkersBase => base.outgoing_migrant_workers,
        Target::OutgoingWorkersLast => last.outgoing_migrant_workers,
        Target::UrbanizationIn(year) => {
            records.iter().find(|r| r.year == year).map_or(f64::NAN, |r| national_row(r, scale).urbanization_rate_pct)
        }
        Target::UrbanizationLast => last.urbanization_rate_pct,
        Target::HukouLast => last.hukou_urbanization_rate_pct,
        Target::PublicSchoolLast => last.public_school_share_pct,
        Target::CrossProvinceShareBase => 100.0 * base.cross_province_migrant_workers / base.outgoing_migrant_workers,
        Target::CrossProvinceShareLast => 100.0 * last.cross_province_migrant_workers / last.outgoing_migrant_workers,
    }
}

/// Per-province step factors of a fixed-point loop: halved whenever a province's error flips sign.
#[derive(Default)]
struct Damping {
    last: std::collections::BTreeMap<u32, (f64, f64)>,
}

impl Damping {
    /// The factor for this step of `province`, given its current error.
    fn step(&mut self, province: u32, error: f64) -> f64 {
        let (last_error, factor) = self.last.get(&province).copied().unwrap_or((0.0, 1.0));
        let factor = if last_error * error < 0.0 { (factor * 0.5).max(1.0 / 16.0) } else { factor };
        self.last.insert(province, (error, factor));
        factor
    }
}

/// One backcast run.
pub struct Backcast {
    pub scenario: Scenario,
    pub records: Vec<YearRecord>,
    pub persons_per_member: f64,
}

fn run(geo: &Geography, scenario: &Scenario) -> Backcast {
    let plan = Plan::from_scenario(scenario.clone(), geo)
        .expect("a validated backcast with parameters inside their ranges resolves");
    let mut sim = Simulation::new(geo, plan);
    sim.run(|_| {});
    Backcast {
        scenario: scenario.clone(),
        persons_per_member: sim.persons_per_member,
        records: std::mem::take(&mut sim.records),
    }
}

/// The fitted parameters and the final backcast.
pub struct Fit {
    pub values: Vec<(&'static str, f64)>,
    /// `initial.rural_origin_share_other_province` fitted for the forward runs' base year.
    pub forward_other_share: (i32, f64),
    /// `behaviour.rural_urban_move_rate_pct` of each backcast year (the last is also in `values`).
    pub move_rate_by_year: Vec<(i32, f64)>,
    /// `behaviour.province_destination_shift`, by 2-digit province code.
    pub province_shift: std::collections::BTreeMap<String, f64>,
    /// `behaviour.province_urban_outflow_pct`, by 2-digit province code.
    pub urban_outflow: std::collections::BTreeMap<String, f64>,
    /// `behaviour.unit_destination_shift`, by 6-digit unit code.
    pub unit_shift: std::collections::BTreeMap<String, f64>,
    /// The slowdown of unit paces since 2010–2020 assumed in the unit targets.
    pub unit_slowdown: f64,
    pub backcast: Backcast,
    /// Distinct backcast runs (repeated trials are served from a cache).
    pub evaluations: usize,
    pub rounds: usize,
    /// Parameters that ended on a bound of their search range.
    pub at_bounds: Vec<AtBound>,
}

impl Fit {
    /// Parameters on a bound whose target is missed: the backcast cannot be fitted.
    pub fn failures(&self) -> Vec<&AtBound> {
        self.at_bounds.iter().filter(|b| b.misses_target()).collect()
    }
}

/// Fits the free parameters on `backcast` (a validated scenario starting in 2021) at
/// `households` simulated households. Starts from the code's priors so the result depends on
/// the code and data only, not on the current calibration file.
pub fn fit(
    geo: &Geography,
    backcast: &Scenario,
    households: u64,
    rounds: usize,
    mut progress: impl FnMut(&str),
) -> Fit {
    let params = parameters();
    let mut scenario = from_priors(backcast, households, &params);
    let goals = Goals { official: official(), base: scenario.base_year(), last: scenario.run.last_year };
    let mut trials = Trials { geo, cache: HashMap::new(), evaluations: 0 };
    let find = |key: &str| params.iter().find(|p| p.key == key).expect("known parameter");
    let joint = JointFit {
        move_rate: find("behaviour.rural_urban_move_rate_pct"),
        in_place: find("in_place.rate_pct"),
        urbanization_goal: goals.of(Target::UrbanizationLast),
        workers_goal: goals.of(Target::OutgoingWorkersLast),
    };
    let unit_slowdown = slowdown(&goals.official, goals.base, goals.last);
    let mut regional =
        RegionalFit { unit_slowdown, rate_damping: Damping::default(), outflow_damping: Damping::default(), runs: 0 };
    for round in 0..rounds {
        for p in &params {
            if p.key == joint.in_place.key {
                continue; // fitted jointly with the move rate below
            }
            if p.key == joint.move_rate.key {
                joint.fit(&mut trials, &mut scenario, round, &mut progress);
                fit_earlier_move_rates(&mut trials, &mut scenario, joint.move_rate, &goals, round, &mut progress);
                continue;
            }
            let fitted = trials.bisect(&scenario, p, p.target, goals.of(p.target));
            (p.set)(&mut scenario, fitted);
            progress(&format!("round {}: {} = {fitted}", round + 1, p.key));
        }
        regional.round(geo, &mut scenario, round, &mut progress);
    }
    let values: Vec<(&'static str, f64)> = params.iter().map(|p| (p.key, (p.get)(&scenario))).collect();
    let other_share = find("initial.rural_origin_share_other_province");
    let forward_other_share =
        fit_forward_other_share(&mut trials, &params, other_share, &scenario, &goals.official, &mut progress);
    let backcast = run(geo, &scenario);
    let at_bounds = at_bounds(&params, joint.move_rate, &scenario, &backcast, &goals);
    let evaluations = trials.evaluations + regional.runs;
    Fit {
        values,
        move_rate_by_year: scenario.years().map(|y| (y, scenario.behaviour.rural_urban_move_rate_pct.at(y))).collect(),
        province_shift: scenario.behaviour.province_destination_shift.clone(),
        unit_shift: scenario.behaviour.unit_destination_shift.clone(),
        urban_outflow: scenario.behaviour.province_urban_outflow_pct.clone(),
        unit_slowdown,
        forward_other_share,
        backcast,
        evaluations,
        rounds,
        at_bounds,
    }
}

/// `backcast` at `households` with every fitted parameter at the code's prior.
fn from_priors(backcast: &Scenario, households: u64, params: &[Parameter]) -> Scenario {
    let priors = Scenario::default();
    let mut scenario = backcast.clone();
    scenario.run.households = households;
    for p in params {
        (p.set)(&mut scenario, (p.get)(&priors));
    }
    // Fitted too (by the provincial loop): from the prior, not the current file.
    scenario.behaviour.province_destination_shift = priors.behaviour.province_destination_shift;
    scenario.behaviour.unit_destination_shift = priors.behaviour.unit_destination_shift;
    scenario.behaviour.province_urban_outflow_pct = priors.behaviour.province_urban_outflow_pct;
    // The move rate is fitted year by year; a table from the current file must not survive.
    scenario.behaviour.rural_urban_move_rate_pct = priors.behaviour.rural_urban_move_rate_pct;
    scenario
}

/// The official figures and the backcast's base and last year: every target's goal.
struct Goals {
    official: Official,
    base: i32,
    last: i32,
}

impl Goals {
    fn of(&self, target: Target) -> f64 {
        target_value(target, &self.official, self.base, self.last)
    }
}

/// Simulated target values of one backcast, and its urbanization rate by year.
type Measured = ([f64; TARGETS.len()], Vec<(i32, f64)>);

/// The backcast runs of a fit. The search asks for the same backcast several times (the joint
/// fit evaluates a trial for two targets; bisection revisits points): every run is kept by its
/// resolved scenario.
struct Trials<'a> {
    geo: &'a Geography,
    cache: HashMap<String, Measured>,
    /// Distinct backcast runs.
    evaluations: usize,
}

impl Trials<'_> {
    /// The simulated value of `target` in the backcast `trial` (base-year targets from a run of
    /// the base year alone).
    fn evaluate(&mut self, trial: &Scenario, target: Target) -> f64 {
        let mut trial = trial.clone();
        if matches!(target, Target::OutgoingWorkersBase | Target::CrossProvinceShareBase) {
            trial.run.last_year = trial.run.first_year;
        }
        let geo = self.geo;
        let evaluations = &mut self.evaluations;
        let (values, urbanization_by_year) = self.cache.entry(trial.to_toml()).or_insert_with(|| {
            *evaluations += 1;
            let result = run(geo, &trial);
            let scale = result.persons_per_member;
            (
                TARGETS.map(|t| simulated_value(t, &result.records, scale)),
                result.records.iter().map(|r| (r.year, national_row(r, scale).urbanization_rate_pct)).collect(),
            )
        });
        match target {
            Target::UrbanizationIn(year) => lookup(urbanization_by_year, year).unwrap_or(f64::NAN),
            _ => values[TARGETS.iter().position(|t| *t == target).expect("listed")],
        }
    }

    /// The value of `p` that brings `target` to `goal`: every target rises with its parameter,
    /// so bisection on the sign of the error.
    fn bisect(&mut self, scenario: &Scenario, p: &Parameter, target: Target, goal: f64) -> f64 {
        let (mut low, mut high) = (p.low, p.high);
        for _ in 0..BISECTION_STEPS {
            let mid = 0.5 * (low + high);
            let mut trial = scenario.clone();
            (p.set)(&mut trial, mid);
            if (self.evaluate(&trial, target) < goal) == p.rising {
                low = mid;
            } else {
                high = mid;
            }
        }
        (0.5 * (low + high) * 1e4).round() / 1e4
    }
}

/// The last year's move rate and the in-place rate, fitted together. Moves raise both the
/// migrant-worker stock and urbanization; in-place urbanization raises only the latter and
/// cannot be negative. So for each move rate, in-place urbanization is fitted to the
/// urbanization rate (or is zero if moves alone overshoot), and the move rate is chosen to
/// minimise the larger of the two errors, each relative to its tolerance (0.2 pp, what the
/// backcast must meet every year; 3%).
struct JointFit<'p> {
    move_rate: &'p Parameter,
    in_place: &'p Parameter,
    urbanization_goal: f64,
    workers_goal: f64,
}

impl JointFit<'_> {
    /// The score of move rate `m` and the in-place rate fitted with it.
    fn score(&self, trials: &mut Trials, scenario: &Scenario, m: f64) -> (f64, f64) {
        let mut trial = scenario.clone();
        (self.move_rate.set)(&mut trial, m);
        (self.in_place.set)(&mut trial, 0.0);
        let at_zero = trials.evaluate(&trial, Target::UrbanizationLast);
        let fitted = if at_zero >= self.urbanization_goal {
            0.0
        } else {
            trials.bisect(&trial, self.in_place, Target::UrbanizationLast, self.urbanization_goal)
        };
        (self.in_place.set)(&mut trial, fitted);
        let urbanization = trials.evaluate(&trial, Target::UrbanizationLast);
        let workers = trials.evaluate(&trial, Target::OutgoingWorkersLast);
        let score =
            ((urbanization - self.urbanization_goal).abs() / 0.2).max((workers / self.workers_goal - 1.0).abs() / 0.03);
        (score, fitted)
    }

    /// Golden-section search on the move rate; sets both rates in `scenario`.
    fn fit(&self, trials: &mut Trials, scenario: &mut Scenario, round: usize, progress: &mut dyn FnMut(&str)) {
        let ratio = (5f64.sqrt() - 1.0) / 2.0;
        let (mut a, mut b) = (self.move_rate.low, self.move_rate.high);
        for _ in 0..GOLDEN_STEPS {
            let c = b - ratio * (b - a);
            let d = a + ratio * (b - a);
            if self.score(trials, scenario, c).0 <= self.score(trials, scenario, d).0 {
                b = d;
            } else {
                a = c;
            }
        }
        let m = (0.5 * (a + b) * 1e4).round() / 1e4;
        let (_, fitted_in_place) = self.score(trials, scenario, m);
        (self.move_rate.set)(scenario, m);
        (self.in_place.set)(scenario, fitted_in_place);
        progress(&format!(
            "round {}: {} = {m}, {} = {fitted_in_place}",
            round + 1,
            self.move_rate.key,
            self.in_place.key
        ));
    }
}

/// The earlier years' move rates, each to that year's urbanization rate: the rise was uneven
/// (+0.83, +0.50, +0.94 pp in 2021–2023; 2022 the pandemic year, when the survey's outgoing
/// workers grew by only 0.2M), and one constant rate spreads it evenly. In-place urbanization is
/// fitted once, on the last year, so the yearly pattern is carried by moves.
fn fit_earlier_move_rates(
    trials: &mut Trials,
    scenario: &mut Scenario,
    move_rate: &Parameter,
    goals: &Goals,
    round: usize,
    progress: &mut dyn FnMut(&str),
) {
    for year in scenario.run.first_year..goals.last {
        let target = Target::UrbanizationIn(year);
        let goal = goals.of(target);
        if goal.is_nan() {
            continue;
        }
        let (mut low, mut high) = (move_rate.low, move_rate.high);
        for _ in 0..BISECTION_STEPS {
            let mid = 0.5 * (low + high);
            let mut trial = scenario.clone();
            set_move_rate(&mut trial, year, mid);
            if trials.evaluate(&trial, target) < goal {
                low = mid;
            } else {
                high = mid;
            }
        }
        let fitted = (0.5 * (low + high) * 1e4).round() / 1e4;
        set_move_rate(scenario, year, fitted);
        progress(&format!("round {}: {} in {year} = {fitted}", round + 1, move_rate.key));
    }
}

/// The regional parameters, by damped fixed-point steps: the provinces' destination shifts (to
/// their urbanization rates), their urban outflows (to their populations) and the units'
/// destination shifts (to their paces within their provinces).
struct RegionalFit {
    unit_slowdown: f64,
    /// Provinces differ in how strongly their rate and population answer their parameters (a
    /// province that draws movers from everywhere answers several times harder): a step that
    /// overshoots, flipping the error's sign, halves that province's later steps.
    rate_damping: Damping,
    outflow_damping: Damping,
    /// Backcast runs so far.
    runs: usize,
}

impl RegionalFit {
    /// One round's steps, and the largest errors before the last of them.
    fn round(&mut self, geo: &Geography, scenario: &mut Scenario, round: usize, progress: &mut dyn FnMut(&str)) {
        let mut worst = f64::INFINITY;
        let mut worst_unit = f64::INFINITY;
        for _ in 0..PROVINCE_ITERATIONS {
            (worst, worst_unit) = self.step(geo, scenario);
        }
        progress(&format!(
            "round {}: behaviour.unit_destination_shift ({} units; largest pace error before the last step {:.2} %/yr)",
            round + 1,
            scenario.behaviour.unit_destination_shift.len(),
            100.0 * worst_unit
        ));
        progress(&format!(
            "round {}: behaviour.province_destination_shift ({} provinces; largest error before the last step {worst:.2} pp)",
            round + 1,
            scenario.behaviour.province_destination_shift.len()
        ));
    }

    /// One backcast and one step of every regional parameter; the largest provincial rate error
    /// (pp) and unit pace error (fraction) of that backcast.
    fn step(&mut self, geo: &Geography, scenario: &mut Scenario) -> (f64, f64) {
        self.runs += 1;
        let result = run(geo, scenario);
        let errors = province_errors(geo, &result.records);
        let worst = errors.iter().map(|e| e.1.abs()).fold(0.0, f64::max);
        shift_provinces(&mut scenario.behaviour.province_destination_shift, errors, &mut self.rate_damping);
        step_urban_outflows(
            &mut scenario.behaviour.province_urban_outflow_pct,
            province_population_growth(geo, &result.records),
            &mut self.outflow_damping,
        );
        let paces = unit_paces(geo, &result.records, self.unit_slowdown);
        let worst_unit = paces.iter().filter(|p| p.fitted).map(|p| (p.simulated - p.target).abs()).fold(0.0, f64::max);
        shift_units(geo, &mut scenario.behaviour.unit_destination_shift, &paces);
        (worst, worst_unit)
    }
}

/// Where new movers go: one destination shift per province, fitted so each province's
/// urbanization rate in its latest year with a figure (2021–2023) matches. A shift of 1 moves a
/// province's 2023 rate by about 1 pp.
fn shift_provinces(shifts: &mut BTreeMap<String, f64>, errors: Vec<(u32, f64)>, damping: &mut Damping) {
    for (code, error) in errors {
        let shift = shifts.entry(code.to_string()).or_insert(0.0);
        *shift -= PROVINCE_GAIN * damping.step(code, error) * error;
    }
    // Only differences between provinces are identified (a common shift is absorbed by the
    // rural constant, which keeps the move rate): mean zero.
    let mean = shifts.values().sum::<f64>() / shifts.len().max(1) as f64;
    for shift in shifts.values_mut() {
        *shift = (((*shift - mean) * 1e3).round() / 1e3).clamp(-10.0, 10.0);
    }
}

/// Urban-hukou residents leaving each province: its outflow rate to its population change (a
/// province that grows too slowly even without outflow stays at 0).
fn step_urban_outflows(outflows: &mut BTreeMap<String, f64>, growth: Vec<(u32, f64, f64)>, damping: &mut Damping) {
    for (code, simulated, official) in growth {
        let rate = outflows.entry(code.to_string()).or_insert(0.0);
        let error = simulated - official;
        let damping = damping.step(code, error);
        *rate = ((*rate + OUTFLOW_GAIN * damping * error).clamp(0.0, 10.0) * 1e3).round() / 1e3;
    }
}

/// How new movers divide within each province: one shift per unit large enough to measure, a
/// damped Newton step on its pace relative to its province (the pace moves by about the unit's
/// yearly arrivals ÷ urban residents per unit of shift), then centred within the province so the
/// province's shift keeps the provincial level.
fn shift_units(geo: &Geography, units: &mut BTreeMap<String, f64>, paces: &[UnitPace]) {
    // Per province: (code, base weight, new shift), the base weight being the unit's arrivals
    // with its current shift taken out.
    let mut by_province: Vec<Vec<(String, f64, f64)>> = vec![Vec::new(); geo.provinces.len()];
    for p in paces.iter().filter(|p| p.fitted) {
        let code = geo.units[p.unit].code.to_string();
        let current = units.get(&code).copied().unwrap_or(0.0);
        let step = (-(p.simulated - p.target) / p.arrival_share.max(1e-3)).clamp(-UNIT_MAX_STEP, UNIT_MAX_STEP);
        let weight = p.arrival_share.max(1e-6) * (-current).exp();
        by_province[geo.units[p.unit].province].push((code, weight, current + UNIT_GAIN * step));
    }
    // Centred so the province's movers in total are unchanged to first order (the
    // arrival-weighted log-sum of its units' shifts is zero): the unit shifts divide new movers
    // within a province, the province's shift sets how many come.
    for members in by_province.iter().filter(|m| !m.is_empty()) {
        let total: f64 = members.iter().map(|m| m.1).sum();
        let centre = (members.iter().map(|m| m.1 * m.2.exp()).sum::<f64>() / total).ln();
        for (code, _, shift) in members {
            units.insert(code.clone(), (((shift - centre) * 1e3).round() / 1e3).clamp(-10.0, 10.0));
        }
    }
}

/// The forward runs start from the end-2023 state, whose stock of cross-province migrants
/// differs from 2020's: the same base-year split is fitted there to the 2023 survey share (a
/// base-year run of the code defaults, which describe end-2023, with the fitted values). The
/// year of that state and the fitted share.
fn fit_forward_other_share(
    trials: &mut Trials,
    params: &[Parameter],
    other_share: &Parameter,
    scenario: &Scenario,
    official: &Official,
    progress: &mut dyn FnMut(&str),
) -> (i32, f64) {
    let mut forward = Scenario::default();
    for p in params {
        (p.set)(&mut forward, (p.get)(scenario));
    }
    forward.run.households = scenario.run.households;
    forward.run.seed = scenario.run.seed;
    let forward_goal = cross_share(official, forward.initial.year);
    let share = trials.bisect(&forward, other_share, Target::CrossProvinceShareBase, forward_goal);
    progress(&format!("{} for the end-{} state = {share}", other_share.key, forward.initial.year));
    (forward.initial.year, share)
}

/// A parameter on (or within one search step of) its bound did not find an interior optimum: the
/// target is out of the model's reach in that direction, or the bracket is too narrow. Said
/// loudly; fatal when the target is then missed.
fn at_bounds(
    params: &[Parameter],
    move_rate: &Parameter,
    scenario: &Scenario,
    backcast: &Backcast,
    goals: &Goals,
) -> Vec<AtBound> {
    let mut at_bounds = Vec::new();
    for p in params {
        let value = (p.get)(scenario);
        let step = if p.key == move_rate.key {
            (p.high - p.low) * ((5f64.sqrt() - 1.0) / 2.0).powi(GOLDEN_STEPS as i32)
        } else {
            (p.high - p.low) / f64::from(1u32 << BISECTION_STEPS)
        };
        let bound = if value - p.low <= step {
            p.low
        } else if p.high - value <= step {
            p.high
        } else {
            continue;
        };
        let goal = goals.of(p.target);
        let simulated = simulated_value(p.target, &backcast.records, backcast.persons_per_member);
        let error = p.target.error(simulated, goal);
        at_bounds.push(AtBound {
            key: p.key,
            value,
            bound,
            target: p.target.label(),
            error,
            tolerance: p.target.tolerance(),
            relative: matches!(p.target, Target::OutgoingWorkersBase | Target::OutgoingWorkersLast),
        });
    }
    at_bounds
}

/// A fitted parameter that ended on a bound of its search bracket.
#[derive(Debug, Clone)]
pub struct AtBound {
    pub key: &'static str,
    pub value: f64,
    pub bound: f64,
    pub target: &'static str,
    /// Simulated − official (relative for counts), and the tolerance of the target.
    pub error: f64,
    pub tolerance: f64,
    relative: bool,
}

impl AtBound {
    /// Whether the target is missed: the parameter could not fit it.
    pub fn misses_target(&self) -> bool {
        // A NaN error (a target the run cannot produce) counts as missed.
        self.error.is_nan() || self.error.abs() > self.tolerance
    }

    pub fn describe(&self) -> String {
        let (error, tolerance) = if self.relative {
            (format!("{:+.1}%", 100.0 * self.error), format!("{:.0}%", 100.0 * self.tolerance))
        } else {
            (format!("{:+.2} pp", self.error), format!("{} pp", self.tolerance))
        };
        format!(
            "`{}` = {} is at the bound {} of its search range; its target ({}) is {} {} (tolerance {})",
            self.key,
            self.value,
            self.bound,
            self.target,
            if self.misses_target() { "missed by" } else { "met within" },
            error,
            tolerance
        )
    }
}

/// `scenarios/calibration.toml` for fitted values.
pub fn calibration_toml(fit: &Fit, households: u64) -> String {
    let value = |key: &str| fit.values.iter().find(|(k, _)| *k == key).map(|(_, v)| *v).unwrap_or(f64::NAN);
    format!(
        "# Calibrated parameters, generated by `migrasim calibrate` from the 2020→2023 backcast
# (scenarios/backcast-2020.toml, {households} households, seed {seed}). Do not edit by hand:
# rerun the command. Targets and errors: docs/validation.md.
name = \"calibration\"
description = \"Fitted behaviour parameters; the root that baseline, status-quo and the backcast extend.\"

[initial]
# Outgoing migrant workers in the base year (MWMS 2020).
migrant_second_adult_share = {}
# Cross-province share of outgoing migrant workers in the base year (MWMS 2020: 41.6%,
# 2023: 38.2%), fitted for each base year.
rural_origin_share_other_province = {{ {} = {}, {} = {} }}

[behaviour]
# 2021 and 2022: that year's urbanization rate (NBS); 2023: outgoing migrant workers (MWMS) and
# the urbanization rate. From {forward_year} on (the forward runs): the mean of the fitted years,
# so neither the 2022 dip nor the 2023 rebound is carried forward (assumption).
rural_urban_move_rate_pct = {{ {} }}
# Cross-province share of outgoing migrant workers in 2023 (MWMS: 38.2%).
beta_same_province = {}

[behaviour.province_destination_shift]
# Each province's urbanization rate in its latest year with a figure, 2021-2023
# (data/provinces.csv): where new movers go beyond the 2020 stock of migrants.
{}
[behaviour.province_urban_outflow_pct]
# Each province's population change from 2020 to its latest year with a figure
# (data/provinces.csv): urban-hukou residents leaving for other provinces.
{}
[behaviour.unit_destination_shift]
# Each unit's 2021-2023 urban growth relative to its province: its 2010-2020 pace relative to the
# province's (census bulletins, data/units.csv), slowed like the national pace (assumption).
{}
[in_place]
# Urbanization rate 2023 (NBS, census-revised series).
rate_pct = {}

[settlement.willingness]
# Hukou urbanization rate 2023 (MPS).
base = {}

[services]
# Public-school share of migrant children 2023 (MWMS, primary 90.1%).
school_seat_growth_pct = {}
",
        value("initial.migrant_second_adult_share"),
        fit.backcast.scenario.initial.year,
        value("initial.rural_origin_share_other_province"),
        fit.forward_other_share.0,
        fit.forward_other_share.1,
        {
            let fitted = &fit.move_rate_by_year;
            let mean = fitted.iter().map(|(_, r)| r).sum::<f64>() / fitted.len().max(1) as f64;
            fitted
                .iter()
                .map(|(y, r)| format!("{y} = {r}, "))
                .chain(std::iter::once(format!(
                    "{} = {}",
                    fit.backcast.scenario.run.last_year + 1,
                    (mean * 1e4).round() / 1e4
                )))
                .collect::<String>()
        },
        value("behaviour.beta_same_province"),
        fit.province_shift.iter().map(|(code, shift)| format!("{code} = {shift}\n")).collect::<String>(),
        fit.urban_outflow.iter().map(|(code, rate)| format!("{code} = {rate}\n")).collect::<String>(),
        fit.unit_shift.iter().map(|(code, shift)| format!("{code} = {shift}\n")).collect::<String>(),
        value("in_place.rate_pct"),
        value("settlement.willingness.base"),
        value("services.school_seat_growth_pct"),
        seed = fit.backcast.scenario.run.seed,
        forward_year = fit.backcast.scenario.run.last_year + 1,
    )
}

/// Pearson correlation and mean absolute error.
fn fit_statistics(points: &[ScatterPoint]) -> (f64, f64) {
    let n = points.len() as f64;
    if points.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mx = points.iter().map(|p| p.x).sum::<f64>() / n;
    let my = points.iter().map(|p| p.y).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy, mut abs) = (0.0, 0.0, 0.0, 0.0);
    for p in points {
        sxy += (p.x - mx) * (p.y - my);
        sxx += (p.x - mx).powi(2);
        syy += (p.y - my).powi(2);
        abs += (p.y - p.x).abs();
    }
    (sxy / (sxx * syy).sqrt(), abs / n)
}

/// Mean absolute error, correlation and worst five of units' relative paces (%/yr).
fn pace_statistics(geo: &Geography, paces: &[&UnitPace]) -> (f64, f64, String) {
    let points: Vec<ScatterPoint> =
        paces.iter().map(|p| ScatterPoint { x: 100.0 * p.target, y: 100.0 * p.simulated }).collect();
    let (r, mae) = fit_statistics(&points);
    let mut worst: Vec<&&UnitPace> = paces.iter().collect();
    worst.sort_by(|a, b| (b.simulated - b.target).abs().total_cmp(&(a.simulated - a.target).abs()));
    let worst = worst
        .iter()
        .take(5)
        .map(|p| format!("{} {:+.2}", geo.units[p.unit].name_en, 100.0 * (p.simulated - p.target)))
        .collect::<Vec<_>>()
        .join(", ");
    (mae, r, worst)
}

/// `docs/validation.md`: provincial population change, the target of the urban outflows.
fn population_section(md: &mut String, geo: &Geography, fit: &Fit) {
    let growth = province_population_growth(geo, &fit.backcast.records);
    let _ = writeln!(
        md,
        "## Provincial populations

\
Yearly population growth from the 2020 census to each province's latest year with a figure (`data/provinces.csv`), official against the backcast. `behaviour.province_urban_outflow_pct` (urban-hukou households leaving for other provinces) is fitted to it (**in-sample**); it cannot be negative, so a province that grows too slowly even without outflow keeps 0 and its error shows here. The outflow also carries whatever the model's natural change misses (it applies national vital rates). The forward runs keep the fitted outflows (an **assumption**: the 2020–2023 outflows continue).\n\n\
| province | official %/yr | simulated %/yr | error | outflow (% of urban-hukou households a year) |\n|---|---|---|---|---|"
    );
    let mut errors = Vec::new();
    for (code, simulated, official) in &growth {
        let name = geo.provinces.iter().find(|p| p.code / 10_000 == *code).map_or("?", |p| p.name_en.as_str());
        let rate = fit.urban_outflow.get(&code.to_string()).copied().unwrap_or(0.0);
        errors.push((simulated - official).abs());
        let _ = writeln!(md, "| {name} | {official:+.2} | {simulated:+.2} | {:+.2} | {rate} |", simulated - official);
    }
    let mae = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
    let _ = writeln!(md, "\nMean absolute error over {} provinces: {mae:.2} %/yr.\n", errors.len());
}

/// `docs/validation.md`: how new movers divide within provinces.
fn units_section(md: &mut String, geo: &Geography, fit: &Fit) {
    let paces = unit_paces(geo, &fit.backcast.records, fit.unit_slowdown);
    let _ = writeln!(
        md,
        "## Units within provinces

\
No figures by unit exist after the 2020 census. The within-province targets assume that each unit keeps its 2010–2020 urban growth relative to its province (local census bulletins, `data/units.csv` column `urban_growth_2010_2020_pct`), slowed like the national urban population (yearly growth 2020–2023 ÷ 2010–2020 = {:.2}; an **assumption**: the decade's ranking of growth persists). Units with at least {UNIT_MIN_URBAN_MEMBERS} simulated urban members in the base year get their own `behaviour.unit_destination_shift`, fitted to this target (in-sample); smaller units keep the stock-based destination constant (check). Paces are yearly urban growth 2020–2023 minus the province's, in %/yr.\n\n\
| units | role | mean absolute error | correlation r | worst five (simulated − target, %/yr) |\n|---|---|---|---|---|",
        fit.unit_slowdown
    );
    for (fitted, role) in [(true, "in-sample"), (false, "check")] {
        let group: Vec<&UnitPace> = paces.iter().filter(|p| p.fitted == fitted).collect();
        if group.is_empty() {
            continue;
        }
        let (mae, r, worst) = pace_statistics(geo, &group);
        let _ = writeln!(md, "| {} | {role} | {mae:.2} %/yr | {r:.3} | {worst} |", group.len());
    }
    let clamped: Vec<String> = fit
        .unit_shift
        .iter()
        .filter(|(_, v)| v.abs() >= 9.99)
        .filter_map(|(code, v)| {
            let unit = geo.units.iter().find(|u| u.code.to_string() == *code)?;
            Some(format!("{} ({v:+})", unit.name_en))
        })
        .collect();
    let _ = writeln!(
        md,
        "\nUnits whose shift reached the bound ±10 (the target is out of reach by choosing destinations alone): {}.\n\n\
A unit's pace can only be lowered to what births, deaths, family joining and returns give it when no mover chooses it: the model has no outflow of urban-hukou residents, so units whose urban population shrank in 2010–2020 (mostly in the Northeast) cannot shrink as fast (`docs/model.md`, known limitations).\n",
        if clamped.is_empty() { "none".to_string() } else { clamped.join(", ") }
    );
}

/// Census 2020 stock registered in another province vs the simulated stock, by unit.
fn stock_points(geo: &Geography, backcast: &Backcast, record: &YearRecord) -> Vec<ScatterPoint> {
    geo.units
        .iter()
        .zip(&record.units)
        .map(|(unit, counts)| ScatterPoint {
            x: unit.elsewhere_other_province,
            y: counts.other_province_hukou as f64 * backcast.persons_per_member,
        })
        .collect()
}

fn people(v: f64) -> String {
    format!("{:.2}M", v / 1e6)
}

/// `docs/validation.md` (and the stock scatter chart beside it, in `chart_dir`).
pub fn validation_report(
    geo: &Geography,
    fit: &Fit,
    households: u64,
    chart_dir: &Path,
) -> Result<(String, Vec<PathBuf>), ReportError> {
    let official = official();
    let b = &fit.backcast;
    let rows: Vec<NationalRow> = b.records.iter().map(|r| national_row(r, b.persons_per_member)).collect();
    let mut md = String::new();
    intro_section(&mut md, fit, households);
    fitted_section(&mut md, fit);
    bounds_section(&mut md, fit);
    inputs_section(&mut md);
    national_section(&mut md, fit, &official, &rows);
    let last_year = rows.last().expect("records").year;
    let charts = stocks_section(&mut md, geo, b, last_year, chart_dir)?;
    cross_province_section(&mut md, b, &official, &rows);
    provinces_section(&mut md, geo, b);
    population_section(&mut md, geo, fit);
    units_section(&mut md, geo, fit);
    limitations_section(&mut md);
    Ok((md, charts))
}

/// `docs/validation.md`: what it is and how the backcast was run.
fn intro_section(md: &mut String, fit: &Fit, households: u64) {
    let b = &fit.backcast;
    let _ = writeln!(
        md,
        "# Validation: the 2020→2023 backcast\n\n\
Generated by `migrasim calibrate` (do not edit by hand; `migrasim calibrate --check` verifies it).\n\
The backcast (`scenarios/backcast-2020.toml`) starts from the end-2020 census state and simulates\n\
2021–2023 under the 2021–2023 policy with the calibrated behaviour: {households} households, seed {}.\n\
Official figures come from `data/official_national.csv` and `data/migrant_workers.csv`; their\n\
verification status is copied from there. Errors are simulated − official.\n",
        b.scenario.run.seed
    );
}

/// `docs/validation.md`: the fitted values, each with its target, and how they were fitted.
fn fitted_section(md: &mut String, fit: &Fit) {
    let b = &fit.backcast;
    let _ = writeln!(md, "## Fitted parameters\n\n| parameter | fitted value | fitted to |\n|---|---|---|");
    for (p, (key, value)) in parameters().iter().zip(&fit.values) {
        if p.key == "behaviour.rural_urban_move_rate_pct" {
            for (year, rate) in &fit.move_rate_by_year {
                let _ = writeln!(
                    md,
                    "| `{key}` in {year} | {rate} | {} |",
                    if *year == b.scenario.run.last_year {
                        format!(
                            "outgoing migrant workers and urbanization rate, {year} (jointly with the in-place rate)"
                        )
                    } else {
                        format!("urbanization rate, {year}")
                    }
                );
            }
            continue;
        }
        let _ = writeln!(md, "| `{key}` | {value} | {} |", p.target.label());
    }
    let _ = writeln!(
        md,
        "| `initial.rural_origin_share_other_province` (end-{} state, for the forward runs) | {} | cross-province share of outgoing migrant workers {} (a base-year run with the values above) |",
        fit.forward_other_share.0, fit.forward_other_share.1, fit.forward_other_share.0
    );
    let _ = writeln!(
        md,
        "\nCoordinate-wise fitting, {} rounds, {} distinct backcast runs (repeated trials are cached), starting from the code's priors: each parameter is fitted by bisection to the target it moves most, except the move rate and the in-place rate, which are fitted jointly: for each move rate (searched over its whole range, 0.05–6%) the in-place rate is fitted to the 2023 urbanization rate (or set to zero when moves alone overshoot it), and the move rate minimises the larger of the urbanization error (relative to 0.2 pp) and the migrant-worker error (relative to 3%); the 2021 and 2022 move rates are fitted by bisection to those years' urbanization rates; then the provincial destination shifts (to the provincial rates), the provinces' urban outflows (to their populations) and the unit shifts (to within-province paces) by damped fixed-point steps, 6 per round.\n",
        fit.rounds, fit.evaluations
    );
}

/// `docs/validation.md`: the parameters that ended on a bound of their search range.
fn bounds_section(md: &mut String, fit: &Fit) {
    let _ = writeln!(
        md,
        "### Parameters at a bound of their range
"
    );
    if fit.at_bounds.is_empty() {
        let _ = writeln!(
            md,
            "None: every fitted value is inside its search range, more than one search step from either end.\n"
        );
    } else {
        let _ = writeln!(
            md,
            "A parameter on (or within one search step of) a bound found no interior optimum: the data push it past what its range allows. `migrasim calibrate` warns about each and fails when the target is then missed.\n"
        );
        for b in &fit.at_bounds {
            let _ = writeln!(md, "- **WARNING**: {}.", b.describe());
        }
        let _ = writeln!(md);
    }
}

/// `docs/validation.md`: the inputs taken from figures rather than fitted.
fn inputs_section(md: &mut String) {
    let _ = writeln!(
        md,
        "### Inputs set from figures, not fitted here\n\n\
- `initial.population`, `initial.urbanization_rate_pct`, `initial.hukou_urbanization_rate_pct`: the\n  end-2020 figures (census), reproduced by construction in the base year, so they are not listed as checks below.\n\
- `initial.left_behind_child_share` (0.485): tuned to the census count of left-behind children\n  (66.9M left-behind vs 71.1M migrant children, UNICEF/NBS from the 2020 census; unverified).\n\
- `initial.rural_origin_share_cross_county`, `initial.floating_share_same_county`: census 2020 shares\n  (partly unverified; `docs/scenarios.md` §2.2).\n\
- `services.initial_public_school_share_pct` (86.15 in the backcast): interpolated between 2017 and 2023.\n\
- The city constants and the rural constant are calibrated at the start of every run to the\n  base-year stock of migrants by unit and the target move rate (`docs/model.md` §5), so the\n  base-year stock by unit holds by construction.\n"
    );
}

/// `docs/validation.md`: the national targets, official against simulated, year by year.
fn national_section(md: &mut String, fit: &Fit, official: &Official, rows: &[NationalRow]) {
    let b = &fit.backcast;
    let _ = writeln!(md, "## National targets, year by year\n");
    let _ = writeln!(
        md,
        "**in-sample** rows are the targets the parameters were fitted to (they hold by fitting, within the search's tolerance); **check** rows were not used in the fit (out of sample). The base year's urbanization and hukou rates are inputs and are not shown.\n"
    );
    let _ = writeln!(
        md,
        "| year | measure | official | status | simulated | error | role |\n|---|---|---|---|---|---|---|"
    );
    let base_year = b.scenario.base_year();
    let last_year = b.scenario.run.last_year;
    for row in rows {
        national_year(md, official, row, base_year, last_year);
    }
    let last = rows.last().expect("records");
    let _ = writeln!(
        md,
        "| {} | public-school share of migrant children (%) | {PUBLIC_SCHOOL_2023_PRIMARY} primary / {PUBLIC_SCHOOL_2023_JUNIOR} junior | MWMS, verified in reprints | {:.2} | {:+.2} pp (vs primary) | in-sample |",
        last.year,
        last.public_school_share_pct,
        last.public_school_share_pct - PUBLIC_SCHOOL_2023_PRIMARY
    );
}

/// The rows of one year in the national targets table (the base year's urbanization and hukou
/// rates are inputs and left out).
fn national_year(md: &mut String, official: &Official, row: &NationalRow, base_year: i32, last_year: i32) {
    let role = |fitted: bool| if fitted { "in-sample" } else { "check" };
    let y = row.year;
    let base = y == base_year;
    let last = y == last_year;
    if base {
        // Inputs of the synthesis: they hold by construction.
    } else if let Some((v, status)) = lookup3(&official.urbanization, y) {
        let status = field_status(status, "rate");
        let _ = writeln!(
            md,
            "| {y} | urbanization rate (%) | {v:.2} | {status} | {:.2} | {:+.2} pp | {} |",
            row.urbanization_rate_pct,
            row.urbanization_rate_pct - v,
            // Every year's rate is fitted: the earlier years through their move rates.
            role(true)
        );
    }
    if let Some((v, status)) = lookup3(&official.hukou, y).filter(|_| !base) {
        let status = field_status(status, "hukou");
        let _ = writeln!(
            md,
            "| {y} | hukou urbanization rate (%) | {v:.2} | {status} | {:.2} | {:+.2} pp | {} |",
            row.hukou_urbanization_rate_pct,
            row.hukou_urbanization_rate_pct - v,
            role(last)
        );
    }
    if let Some(v) = lookup(&official.outgoing, y) {
        let _ = writeln!(
            md,
            "| {y} | outgoing migrant workers (model: adults of urban rural-hukou households) | {} | MWMS | {} | {:+.1}% | {} |",
            people(v),
            people(row.outgoing_migrant_workers),
            100.0 * (row.outgoing_migrant_workers / v - 1.0),
            role(base || last)
        );
    }
    if let Some(v) = lookup(&official.cross_province, y) {
        let _ = writeln!(
            md,
            "| {y} | cross-province outgoing migrant workers | {} | MWMS | {} | {:+.1}% | check |",
            people(v),
            people(row.cross_province_migrant_workers),
            100.0 * (row.cross_province_migrant_workers / v - 1.0)
        );
    }
    if y > base_year {
        let _ = writeln!(
            md,
            "| {y} | settlements (persons granted urban hukou) | ~{} a year (2014–2023 average) | MPS, verified in reprints | {} | {:+.1}% | check |",
            people(SETTLEMENTS_PER_YEAR_2014_2023),
            people(row.settlements),
            100.0 * (row.settlements / SETTLEMENTS_PER_YEAR_2014_2023 - 1.0)
        );
    }
}

/// `docs/validation.md`: the census stock of people registered in another province against the
/// simulated one by unit, with its scatter chart (written to `chart_dir`).
fn stocks_section(
    md: &mut String,
    geo: &Geography,
    b: &Backcast,
    last_year: i32,
    chart_dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    // Per-unit stock of people registered in another province.
    let last_points = stock_points(geo, b, b.records.last().expect("records"));
    let (r1, mae1) = fit_statistics(&last_points);
    let annotations = vec![
        format!("r = {r1:.4}"),
        format!("MAE = {:.0}k persons", mae1 / 1e3),
        format!("{} units", last_points.len()),
    ];
    let title = format!("Residents with hukou in another province: census 2020 vs simulated {}", last_year);
    let charts = charts::render(
        chart_dir,
        "validation-stocks",
        &ScatterChart {
            title: &title,
            x_label: "Census 2020: registered in another province (persons)",
            y_label: "Simulated (persons)",
            points: &last_points,
            annotations: &annotations,
            log_scale: true,
            source_note: "Source: 7th census 2020 (data/units.csv); migrasim backcast",
        },
    )?;
    let _ = writeln!(
        md,
        "\n## Migrant stocks by unit (check)\n\n\
The census gives people registered in another province by destination unit for 2020 only; no\n\
later figures by unit exist in `data/`. The synthesis builds the base-year stock from it, so the\n\
base year matches by construction and is not shown. After three simulated years the simulated\n\
urban residents with hukou in another province compare with that census stock as follows (how\n\
far the dynamics drift from the 2020 pattern; not fitted):\n\n\
| year | correlation r | mean absolute error | role |\n|---|---|---|---|\n\
| {} | {r1:.4} | {:.0}k persons | check |\n\n\
![stocks](validation-stocks.png)\n",
        last_year,
        mae1 / 1e3
    );
    Ok(charts)
}

/// `docs/validation.md`: the survey's cross-province share of outgoing migrant workers.
fn cross_province_section(md: &mut String, b: &Backcast, official: &Official, rows: &[NationalRow]) {
    // Flows: the survey's cross-province share of outgoing migrant workers.
    let _ = writeln!(
        md,
        "## Cross-province migration\n\nShare of outgoing migrant workers living outside their hukou province (MWMS; the model's analogue is defined in `docs/model.md` §8.1). The base-year share is fitted through `initial.rural_origin_share_other_province`, the last year's through `behaviour.beta_same_province`; 2021 is a check.\n\n| year | official | simulated | error | role |\n|---|---|---|---|---|"
    );
    for row in rows {
        let official_share = cross_share(official, row.year);
        if official_share.is_nan() {
            continue;
        }
        let simulated = 100.0 * row.cross_province_migrant_workers / row.outgoing_migrant_workers;
        let role = if row.year == b.scenario.base_year() || row.year == b.scenario.run.last_year {
            "in-sample"
        } else {
            "check"
        };
        let _ = writeln!(
            md,
            "| {} | {official_share:.1}% | {simulated:.1}% | {:+.1} pp | {role} |",
            row.year,
            simulated - official_share
        );
    }
}

/// `docs/validation.md`: urbanization rates by province, official against the backcast.
fn provinces_section(md: &mut String, geo: &Geography, b: &Backcast) {
    // Provinces: official rates (data/provinces.csv) against the backcast.
    let _ = writeln!(
        md,
        "\n## Provinces\n\nUrbanization rate by province, official (`data/provinces.csv`; provinces without a figure that year are left out) against the backcast. The base year matches by construction (the synthesis fits each province's rate). Each province's latest year with a figure (2023 for 27 provinces; 2022 or 2021 for the others with data) is **in-sample**: `behaviour.province_destination_shift` is fitted to it; the earlier years are checks.\n\n| year | provinces | mean absolute error | worst five (simulated − official, pp) |\n|---|---|---|---|"
    );
    let mut by_province: Vec<Vec<(i32, f64, f64)>> = vec![Vec::new(); geo.provinces.len()];
    for record in &b.records {
        let figures = crate::population::province_figures(geo, record.year);
        let rates = crate::report::province_urbanization_pct(geo, record);
        let mut errors = Vec::new();
        for (p, f) in figures.iter().enumerate() {
            let Some(official_rate) = f.urbanization_rate_pct else {
                continue;
            };
            errors.push((p, rates[p] - official_rate));
            by_province[p].push((record.year, official_rate, rates[p]));
        }
        if errors.is_empty() {
            continue;
        }
        let mae = errors.iter().map(|e| e.1.abs()).sum::<f64>() / errors.len() as f64;
        errors.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        let worst: Vec<String> =
            errors.iter().take(5).map(|(p, e)| format!("{} {e:+.2}", geo.provinces[*p].name_en)).collect();
        let _ = writeln!(md, "| {} | {} | {mae:.2} pp | {} |", record.year, errors.len(), worst.join(", "));
    }
    let _ = writeln!(
        md,
        "\n| province | {} |\n|---|{}",
        b.records.iter().map(|r| format!("{} official / simulated", r.year)).collect::<Vec<_>>().join(" | "),
        "---|".repeat(b.records.len())
    );
    for (p, cells) in by_province.iter().enumerate() {
        let shown: Vec<String> = b
            .records
            .iter()
            .map(|r| match cells.iter().find(|c| c.0 == r.year) {
                Some((_, o, s)) => format!("{o:.2} / {s:.2}"),
                None => "–".to_string(),
            })
            .collect();
        let _ = writeln!(md, "| {} | {} |", geo.provinces[p].name_en, shown.join(" | "));
    }
    let _ = writeln!(
        md,
        "\nWithout the provincial shifts, coastal receivers rose too fast (Guangdong +3.1 pp by 2023) and interior provinces too slowly (Gansu −2.1 pp): the destination constants make new movers go where the 2020 stock of migrants lives.\n"
    );
}

/// `docs/validation.md`: which targets are unverified and what the model does not reproduce.
fn limitations_section(md: &mut String) {
    let _ = writeln!(
        md,
        "## Which targets are unverified\n\n\
- Hukou urbanization rates for 2021 and 2022 are marked unverified in `data/official_national.csv`;\n  2020 (45.4%) and 2023 (48.3%) are verified. The fit uses 2023 only.\n\
- The migrant-worker survey figures are verified in press reports; the cross-province split for 2022 is missing.\n\
- The public-school share for 2020 (86.15%, the backcast's start) is interpolated between 2017 and 2023, not observed.\n\
- The ~15M settlements a year is a 2014–2023 average (150M in ten years); there is no year-by-year series in `data/`.\n\n\
## What the model does not reproduce\n\n\
- **Why the rise was uneven.** Official growth was +0.83, +0.50, +0.94 pp in 2021–2023 (2022 the\n  pandemic year). The yearly move rates are fitted to it, so the shape holds by fitting; the model has\n  no account of why (lockdowns, the 2022 slump in construction jobs), and the forward runs use the\n  mean of the three fitted rates.\n\
- **Cross-province migration.** The model's analogue comes from the census stock of people\n  registered in another province, which counts all ages and hukou types; the survey counts\n  workers. The level and the survey's decline after 2021 are not matched by construction.\n\
- **Outgoing migrant workers** are approximated by working-age adults of urban households\n  holding rural hukou; the survey's definition (working outside the home township for six\n  months or more) also includes people living in villages of other townships and excludes\n  adults who do not work.\n\
- **Settlements** are not fitted: the hukou rate is. The model's settlements per year follow\n  from the willingness fitted to the 2023 hukou rate, and the 15M/yr figure is a ten-year\n  average including the high 2016–2019 years.\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_targets_come_from_the_data_files() {
        let o = official();
        assert_eq!(lookup3(&o.urbanization, 2023).unwrap().0, 66.16);
        assert_eq!(lookup3(&o.hukou, 2020).unwrap().0, 45.4);
        assert_eq!(lookup(&o.outgoing, 2020), Some(169_590_000.0));
        assert_eq!(lookup(&o.outgoing, 2023), Some(176_580_000.0));
    }

    #[test]
    fn field_status_reads_the_row_status() {
        assert_eq!(field_status("verified", "rate"), "verified");
        assert_eq!(field_status("partial;unverified=hukou", "hukou"), "UNVERIFIED");
        assert_eq!(field_status("partial;unverified=hukou", "rate"), "verified");
        assert_eq!(field_status("partial;unverified=deaths+birth_rate+death_rate", "rate"), "verified");
        assert_eq!(field_status("partial;derived=total+urban+rate", "rate"), "derived");
    }

    #[test]
    fn correlation_and_error_of_a_perfect_fit() {
        let points: Vec<ScatterPoint> = (1..50).map(|i| ScatterPoint { x: i as f64, y: i as f64 }).collect();
        let (r, mae) = fit_statistics(&points);
        assert!((r - 1.0).abs() < 1e-12);
        assert_eq!(mae, 0.0);
    }
}
