//! The simulation engine: initial state, calibration of constants, and the yearly step.
//!
//! The engine never does I/O and cannot fail once [`Plan::new`] has accepted a scenario. It owns
//! the households (a flat `Vec` of 18-byte records) and advances them one year at a time:
//! cities update → choice tables → pass A (decisions) → quota thresholds → pass B (admission,
//! demography, in-place urbanization, counting). Results never depend on the thread count.

pub mod aggregate;
pub mod choice;
pub mod city;
pub mod step;

use crate::geo::Geography;
use crate::household::{HOUSEHOLD_TYPES, Household, flags};
use crate::population::{self, SynthesisReport};
use crate::rng::YearKey;
use crate::scenario::{LoadedScenario, PlaceValue, Regime, Scenario, ScenarioError, YearValue};
use aggregate::{NationalCounts, SCORE_BINS, Tally, UnitCounts};
use choice::{ChoiceInputs, ChoiceTables};
use city::Cities;
use rayon::prelude::*;
use std::time::Instant;
use step::{Binomials, Deaths, Threshold, YearContext};

/// Households per parallel work item: big enough to amortise a tally, small enough to balance.
const CHUNK: usize = 1 << 16;

/// A validated scenario resolved against the geography: unit names → ids, and every per-unit
/// policy the engine reads (regime, quota, potential-region and metro-area membership).
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: Scenario,
    /// Each unit's regime in the first simulated year, overrides applied; [`Plan::regimes_in`]
    /// gives any year's.
    pub regimes: Vec<Regime>,
    /// Each unit's regime by its urban-district population, before `settlement.regime_overrides`.
    own_regimes: Vec<Regime>,
    /// `settlement.regime_overrides` by unit index.
    pub regime_changes: Vec<(usize, crate::scenario::RegimeSetting)>,
    /// Per-unit quota replacing the regime's (`settlement.quota_overrides`).
    pub quota_overrides: Vec<Option<YearValue>>,
    /// Potential region of each unit (index into `potential_region_names`).
    pub potential_region: Vec<Option<usize>>,
    pub potential_region_names: Vec<String>,
    /// Metropolitan areas: name, core unit and member units (core excluded).
    pub metros: Vec<Metro>,
    /// Destination utility shift of each province (`behaviour.province_destination_shift`).
    pub province_shift: Vec<f64>,
    /// Destination utility shift of each unit within its province (`behaviour.unit_destination_shift`).
    pub unit_shift: Vec<f64>,
    /// Yearly chance an urban-hukou household at home leaves its province, by province
    /// (`behaviour.province_urban_outflow_pct` ÷ 100).
    pub urban_outflow: Vec<f64>,
    /// Where those leavers go, by origin province: cumulative weights over units (0 for the
    /// province's own units), proportional to each unit's census stock of people from other
    /// provinces: where people who change province have gone.
    pub outflow_destinations: Vec<Vec<f64>>,
    /// Per unit, the year tables of the keys that may differ by place (`PlaceValue`), resolved:
    /// job growth, wage growth and school-place growth (%).
    pub jobs_growth: Vec<YearValue>,
    pub wage_growth: Vec<YearValue>,
    pub seat_growth: Vec<YearValue>,
    /// Share of basic public services a non-hukou resident gets, per unit.
    pub service_share: Vec<YearValue>,
    /// Affordable rental units built per year (`housing.affordable_units_per_year`).
    pub affordable_supply: PlaceSupply,
}

/// A quantity given for the nation and for places (units built per year): the default is spread
/// over the units no place governs, each place's figure over its own units.
#[derive(Debug, Clone)]
pub struct PlaceSupply {
    pub national: YearValue,
    /// The place keys' year tables, in the scenario's key order.
    pub places: Vec<YearValue>,
    /// Which place governs each unit (`None` = the national figure).
    pub governing: Vec<Option<usize>>,
}

impl PlaceSupply {
    fn new(geo: &Geography, value: &PlaceValue) -> Result<PlaceSupply, (String, String)> {
        Ok(match value {
            PlaceValue::National(v) => {
                PlaceSupply { national: v.clone(), places: Vec::new(), governing: vec![None; geo.len()] }
            }
            PlaceValue::ByPlace { default, places } => PlaceSupply {
                national: default.clone(),
                places: places.values().cloned().collect(),
                governing: geo.place_entries(places.keys().map(String::as_str))?,
            },
        })
    }

    /// Each unit's part of `year`'s figures divided by `divisor`, in proportion to `weight`
    /// within the national remainder or within its place (evenly where a place has no weight).
    pub fn spread(&self, year: i32, divisor: f64, weight: &[f64]) -> Vec<f64> {
        let mut totals = vec![0.0; self.places.len() + 1];
        let mut counts = vec![0usize; self.places.len() + 1];
        let slot = |u: usize| self.governing[u].map_or(0, |e| e + 1);
        // The national figure is spread over all units' weights: governed units' shares are
        // replaced by their place's figure, so a place key does not inflate the others.
        totals[0] = weight.iter().sum();
        counts[0] = weight.len();
        for (u, &w) in weight.iter().enumerate() {
            if let Some(e) = self.governing[u] {
                totals[e + 1] += w;
                counts[e + 1] += 1;
            }
        }
        weight
            .iter()
            .enumerate()
            .map(|(u, &w)| {
                let s = slot(u);
                let figure = if s == 0 { self.national.at(year) } else { self.places[s - 1].at(year) } / divisor;
                if totals[s] > 0.0 { figure * w / totals[s] } else { figure / counts[s].max(1) as f64 }
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metro {
    pub name: String,
    pub core: usize,
    pub members: Vec<usize>,
}

impl Plan {
    pub fn new(loaded: &LoadedScenario, geo: &Geography) -> Result<Plan, ScenarioError> {
        let scenario = loaded.scenario.clone();
        let find = |section: &str, key: &str, name: &str| {
            geo.find(name).map(|id| id.index()).map_err(|message| ScenarioError::Invalid {
                location: loaded.locate(section),
                key: format!("{section}.{key}"),
                message,
            })
        };
        let st = &scenario.settlement;
        let regimes: Vec<Regime> = geo
            .units
            .iter()
            .map(|u| {
                let district = u.pop_urban_district_2020;
                if district >= st.points_from_urban_district {
                    Regime::Points
                } else if district >= st.open_below_urban_district {
                    Regime::Relaxed
                } else {
                    Regime::Open
                }
            })
            .collect();
        // Overrides name any place (macro-region, province, list of units, unit); the most
        // specific place's setting is a unit's whole setting.
        let by_place_keys = |key: &str, names: Vec<&String>| {
            geo.place_entries(names.into_iter().map(String::as_str)).map_err(|(place, message)| {
                ScenarioError::Invalid { location: loaded.locate(key), key: format!("{key}.{place}"), message }
            })
        };
        let regime_settings: Vec<&crate::scenario::RegimeSetting> = st.regime_overrides.values().collect();
        let regime_changes: Vec<(usize, crate::scenario::RegimeSetting)> =
            by_place_keys("settlement.regime_overrides", st.regime_overrides.keys().collect())?
                .into_iter()
                .enumerate()
                .filter_map(|(unit, entry)| entry.map(|e| (unit, regime_settings[e].clone())))
                .collect();
        let quotas: Vec<&YearValue> = st.quota_overrides.values().collect();
        let quota_overrides: Vec<Option<YearValue>> =
            by_place_keys("settlement.quota_overrides", st.quota_overrides.keys().collect())?
                .into_iter()
                .map(|entry| entry.map(|e| quotas[e].clone()))
                .collect();

        let mut potential_region = vec![None; geo.len()];
        let mut potential_region_names = Vec::new();
        for (region, units) in &scenario.potential_regions.members {
            let index = potential_region_names.len();
            potential_region_names.push(region.clone());
            for name in units {
                let unit = find("potential_regions.members", region, name)?;
                if let Some(other) = potential_region[unit] {
                    return Err(ScenarioError::Invalid {
                        location: loaded.locate("potential_regions.members"),
                        key: format!("potential_regions.members.{region}"),
                        message: format!(
                            "unit `{name}` is already in potential region `{}`; a unit belongs to at most one",
                            potential_region_names[other]
                        ),
                    });
                }
                potential_region[unit] = Some(index);
            }
        }

        let mut metros = Vec::new();
        for (metro, units) in &scenario.metro_areas.members {
            let mut ids = Vec::with_capacity(units.len());
            for name in units {
                let unit = find("metro_areas.members", metro, name)?;
                if !ids.contains(&unit) {
                    ids.push(unit);
                }
            }
            if let Some((&core, members)) = ids.split_first() {
                metros.push(Metro { name: metro.clone(), core, members: members.to_vec() });
            }
        }
        let province_table = |key: &str, table: &std::collections::BTreeMap<String, f64>| {
            let mut values = vec![0.0; geo.provinces.len()];
            for (code, value) in table {
                let province = code
                    .parse::<u32>()
                    .ok()
                    .and_then(|c| geo.provinces.iter().position(|p| p.code / 10_000 == c))
                    .ok_or_else(|| ScenarioError::Invalid {
                        location: loaded.locate(key),
                        key: format!("{key}.{code}"),
                        message: format!(
                            "unknown province code; allowed: the 2-digit codes {}",
                            geo.provinces
                                .iter()
                                .map(|p| format!("{} ({})", p.code / 10_000, p.name_en))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })?;
                values[province] = *value;
            }
            Ok::<_, ScenarioError>(values)
        };
        let province_shift =
            province_table("behaviour.province_destination_shift", &scenario.behaviour.province_destination_shift)?;
        let urban_outflow: Vec<f64> =
            province_table("behaviour.province_urban_outflow_pct", &scenario.behaviour.province_urban_outflow_pct)?
                .into_iter()
                .map(|pct| pct / 100.0)
                .collect();
        let mut unit_shift = vec![0.0; geo.len()];
        for (code, shift) in &scenario.behaviour.unit_destination_shift {
            let unit =
                code.parse::<u32>().ok().and_then(|c| geo.units.iter().position(|u| u.code == c)).ok_or_else(|| {
                    ScenarioError::Invalid {
                        location: loaded.locate("behaviour.unit_destination_shift"),
                        key: format!("behaviour.unit_destination_shift.{code}"),
                        message: "unknown unit code; allowed: the 6-digit codes of data/units.csv \
                              (column `code`, e.g. 440300 for Shenzhen)"
                            .to_string(),
                    }
                })?;
            unit_shift[unit] = *shift;
        }
        let by_place = |key: &str, value: &PlaceValue| -> Result<Vec<YearValue>, ScenarioError> {
            resolve_places(geo, value).map_err(|(place, message)| ScenarioError::Invalid {
                location: loaded.locate(key),
                key: format!("{key}.{place}"),
                message,
            })
        };
        let jobs_growth = by_place("jobs.growth_pct", &scenario.jobs.growth_pct)?;
        let wage_growth = by_place("jobs.wage_growth_pct", &scenario.jobs.wage_growth_pct)?;
        let seat_growth = by_place("services.school_seat_growth_pct", &scenario.services.school_seat_growth_pct)?;
        let service_share = by_place("services.nonhukou_share", &scenario.services.nonhukou_share)?;
        let affordable_supply =
            PlaceSupply::new(geo, &scenario.housing.affordable_units_per_year).map_err(|(place, message)| {
                ScenarioError::Invalid {
                    location: loaded.locate("housing.affordable_units_per_year"),
                    key: format!("housing.affordable_units_per_year.{place}"),
                    message,
                }
            })?;
        let mut plan = Plan {
            service_share,
            affordable_supply,
            jobs_growth,
            wage_growth,
            seat_growth,
            regimes: Vec::new(),
            own_regimes: regimes,
            regime_changes,
            scenario,
            quota_overrides,
            potential_region,
            potential_region_names,
            metros,
            province_shift,
            unit_shift,
            urban_outflow,
            outflow_destinations: (0..geo.provinces.len())
                .map(|p| {
                    let mut total = 0.0;
                    geo.units
                        .iter()
                        .map(|u| {
                            if u.province != p {
                                total += u.elsewhere_other_province.max(0.0);
                            }
                            total
                        })
                        .collect()
                })
                .collect(),
        };
        plan.regimes = plan.regimes_in(plan.scenario.run.first_year);
        Ok(plan)
    }

    /// For tests and benches: a scenario that needs no file.
    pub fn from_scenario(scenario: Scenario, geo: &Geography) -> Result<Plan, ScenarioError> {
        let loaded = LoadedScenario { scenario, chain: Vec::new(), sets: Vec::new() };
        Plan::new(&loaded, geo)
    }

    /// Every unit's regime in `year`: its own, or its override's from the listed year on.
    pub fn regimes_in(&self, year: i32) -> Vec<Regime> {
        let mut regimes = self.own_regimes.clone();
        for (unit, setting) in &self.regime_changes {
            if let Some(regime) = setting.at(year) {
                regimes[*unit] = regime;
            }
        }
        regimes
    }

    /// Settlement quota of a unit in `year` as a fraction of its non-hukou urban residents;
    /// `None` = no quota.
    pub fn quota_fraction(&self, unit: usize, year: i32) -> Option<f64> {
        let regime = self
            .regime_changes
            .iter()
            .find(|(u, _)| *u == unit)
            .and_then(|(_, setting)| setting.at(year))
            .unwrap_or(self.own_regimes[unit]);
        if self.scenario.rules(regime).no_quota_from.is_some_and(|from| year >= from) {
            return None;
        }
        match &self.quota_overrides[unit] {
            Some(quota) => Some(quota.at(year) / 100.0),
            None => self.scenario.quota_fraction(regime, year),
        }
    }
}

/// City indicators recorded each year per unit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CityIndicators {
    /// The unit's settlement regime that year.
    pub regime: Regime,
    pub jobs: f64,
    pub wage: f64,
    pub housing_cost: f64,
    pub school_access: f64,
    pub affordable_coverage: f64,
    /// Affordable rental units open to non-hukou residents (simulated households).
    pub affordable_open: f64,
    /// Public-school places for school-age non-hukou children this year (simulated members).
    pub school_places: f64,
    /// Affordable rental units standing, and added this year (simulated households).
    pub affordable_units: f64,
    pub affordable_built: f64,
}

/// One year's results: counts of simulated members and city indicators.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct YearRecord {
    pub year: i32,
    pub units: Vec<UnitCounts>,
    pub national: NationalCounts,
    pub flows: Vec<u64>,
    pub cities: Vec<CityIndicators>,
    /// Real households (dwellings) one simulated household stands for this year.
    pub real_households_per_agent: f64,
}

/// Wall-clock time of each phase (seconds), for the manifest.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    pub synthesis: f64,
    pub calibration: f64,
    pub cities_and_tables: f64,
    pub household_passes: f64,
}

pub struct Simulation<'g> {
    geo: &'g Geography,
    plan: Plan,
    pub households: Vec<Household>,
    pub persons_per_member: f64,
    pub synthesis: SynthesisReport,
    /// Base-year urban residents per unit from the data (members): base-year capacity.
    expected_urban: Vec<f64>,
    cities: Cities,
    asc: Vec<f64>,
    /// The rural constant of each simulated year (first year first): the move rate may change
    /// by year (`behaviour.rural_urban_move_rate_pct` as a year table).
    rural_asc: Vec<f64>,
    province_of: Vec<u16>,
    last: Tally,
    next_year: i32,
    pub records: Vec<YearRecord>,
    pub timings: Timings,
}

impl<'g> Simulation<'g> {
    /// Synthesises the base-year population and calibrates the choice constants to it.
    pub fn new(geo: &'g Geography, plan: Plan) -> Simulation<'g> {
        let started = Instant::now();
        let population = population::synthesize(geo, &plan.scenario);
        let synthesis_seconds = started.elapsed().as_secs_f64();
        Simulation::from_population(geo, plan, population, synthesis_seconds)
    }

    /// Starts from a population already synthesised for a scenario with the same `[initial]`,
    /// `[run]` size and seed and insurance coverage (what synthesis reads): the ensemble's
    /// backcasts differ in behaviour only and share one synthesis.
    pub fn from_population(
        geo: &'g Geography,
        plan: Plan,
        population: population::Population,
        synthesis_seconds: f64,
    ) -> Simulation<'g> {
        let households = population.households;
        let last = count(&households, geo);
        let expected_urban: Vec<f64> =
            population.urban_persons.iter().map(|p| p / population.persons_per_member).collect();
        let cities = Cities::new(geo, &plan, &last, &expected_urban, population.persons_per_member);
        let province_of = geo.units.iter().map(|u| u.province as u16).collect();
        let mut sim = Simulation {
            geo,
            next_year: plan.scenario.run.first_year,
            plan,
            households,
            persons_per_member: population.persons_per_member,
            synthesis: population.report,
            expected_urban,
            cities,
            asc: vec![0.0; geo.len()],
            rural_asc: Vec::new(),
            province_of,
            last,
            records: Vec::new(),
            timings: Timings { synthesis: synthesis_seconds, ..Timings::default() },
        };
        let calibration = Instant::now();
        sim.calibrate_constants();
        sim.timings.calibration = calibration.elapsed().as_secs_f64();
        let base = sim.record(sim.plan.scenario.base_year(), sim.last.clone());
        sim.records.push(base);
        sim
    }

    pub fn scenario(&self) -> &Scenario {
        &self.plan.scenario
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn geo(&self) -> &Geography {
        self.geo
    }

    /// The year the next call to [`Simulation::step`] simulates, if any is left.
    pub fn next_year(&self) -> Option<i32> {
        (self.next_year <= self.plan.scenario.run.last_year).then_some(self.next_year)
    }

    fn origin_members(&self) -> Vec<f64> {
        self.last.units.iter().map(|u| u.population() as f64).collect()
    }

    /// Choice tables under `plan` and `cities` (the run's own, or the calibration reference).
    #[allow(clippy::too_many_arguments)]
    fn tables_for(
        &self,
        plan: &Plan,
        cities: &Cities,
        year: i32,
        with_alias: bool,
        asc: &[f64],
        rural_asc: f64,
    ) -> ChoiceTables {
        let origin_members = self.origin_members();
        let preference = plan.scenario.potential_regions.nearby_preference;
        let nearby_bonus: Vec<f64> =
            plan.potential_region.iter().map(|r| if r.is_some() { preference } else { 0.0 }).collect();
        let service_share: Vec<f64> = plan.service_share.iter().map(|v| v.at(year)).collect();
        ChoiceTables::build(
            &ChoiceInputs {
                geo: self.geo,
                scenario: &plan.scenario,
                cities,
                year,
                network: &self.last.network,
                origin_members: &origin_members,
                asc,
                rural_asc,
                nearby_bonus: &nearby_bonus,
                service_share: &service_share,
            },
            with_alias,
        )
    }

    /// The scenario the constants are calibrated under: this run's behaviour, demography,
    /// initial state and structural elasticities, with the code's default (2019–2023) policy.
    /// Calibrating under the run's own policy would absorb a first-year policy change into the
    /// constants and hide it.
    fn reference_plan(&self) -> Plan {
        let s = &self.plan.scenario;
        let mut reference = Scenario {
            name: s.name.clone(),
            run: s.run.clone(),
            initial: s.initial.clone(),
            demography: s.demography.clone(),
            behaviour: s.behaviour.clone(),
            ..Scenario::default()
        };
        reference.jobs.tightness_elasticity = s.jobs.tightness_elasticity;
        reference.jobs.size_elasticity = s.jobs.size_elasticity;
        reference.jobs.initial_employment_rate = s.jobs.initial_employment_rate;
        reference.housing.size_elasticity = s.housing.size_elasticity;
        reference.housing.pressure_elasticity = s.housing.pressure_elasticity;
        reference.housing.affordable_discount = s.housing.affordable_discount;
        Plan::from_scenario(reference, self.geo).expect("the default policy with shipped memberships always resolves")
    }

    /// City constants reproduce where the base-year migrants live (Berry's contraction on
    /// destination shares); the rural constant reproduces the target rural-to-urban move rate.
    fn calibrate_constants(&mut self) {
        let n = self.geo.len();
        let year = self.plan.scenario.run.first_year;
        let reference = self.reference_plan();
        let reference_cities =
            Cities::new(self.geo, &reference, &self.last, &self.expected_urban, self.persons_per_member);
        // Rural households by (origin, type): the people who might move this year.
        let movers_by_row: Vec<f64> = self
            .households
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut rows = vec![0u64; n * HOUSEHOLD_TYPES];
                for h in chunk {
                    if !h.is_empty() && !h.has(flags::RES_URBAN) {
                        rows[choice::row(usize::from(h.hukou_unit), h.household_type())] += 1;
                    }
                }
                rows
            })
            .reduce(
                || vec![0u64; n * HOUSEHOLD_TYPES],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            )
            .into_iter()
            .map(|c| c as f64)
            .collect();
        let mut target = vec![0f64; n];
        for o in 0..n {
            for (j, t) in target.iter_mut().enumerate() {
                *t += f64::from(self.last.network[o * n + j]);
            }
        }
        let target_total: f64 = target.iter().sum::<f64>().max(1.0);
        let target_share: Vec<f64> = target.iter().map(|t| (t / target_total).max(1e-7)).collect();

        let mut asc = vec![0.0; n];
        for _ in 0..200 {
            let tables = self.tables_for(&reference, &reference_cities, year, false, &asc, 0.0);
            let mut model = vec![0f64; n];
            for o in 0..n {
                for k in 0..HOUSEHOLD_TYPES {
                    let weight = movers_by_row[choice::row(o, k)];
                    if weight == 0.0 {
                        continue;
                    }
                    for (j, m) in model.iter_mut().enumerate() {
                        *m += weight * tables.urban_share(o, k, j);
                    }
                }
            }
            let model_total: f64 = model.iter().sum::<f64>().max(1e-12);
            let mut largest_change = 0.0f64;
            for j in 0..n {
                let change = target_share[j].ln() - (model[j] / model_total).max(1e-12).ln();
                asc[j] += change;
                largest_change = largest_change.max(change.abs());
            }
            // Shares within 0.01% of the target: further iterations change nothing visible.
            if largest_change < 1e-4 {
                break;
            }
        }

        // Provinces' and units' destination shifts on top of the stock-matching constants.
        for (j, a) in asc.iter_mut().enumerate() {
            *a += self.plan.province_shift[self.geo.units[j].province] + self.plan.unit_shift[j];
        }

        // Rural constant: expected moves = target rate × rural households (bisection; the
        // move probability falls as the rural alternative improves).
        let tables = self.tables_for(&reference, &reference_cities, year, false, &asc, 0.0);
        let b = &self.plan.scenario.behaviour;
        let reconsider = b.reconsider_rural_pct / 100.0;
        let rural_total: f64 = movers_by_row.iter().sum::<f64>().max(1.0);
        let rate_at = |c: f64| -> f64 {
            let mut moves = 0.0;
            for o in 0..n {
                for k in 0..HOUSEHOLD_TYPES {
                    let weight = movers_by_row[choice::row(o, k)];
                    if weight > 0.0 {
                        let stay = c + tables.rural_utility(o, k) + b.stay_bonus;
                        moves += weight * reconsider / (1.0 + (stay - tables.iv_urban(o, k)).exp());
                    }
                }
            }
            moves / rural_total
        };
        // A year's rate is the share of rural households that would move under base-year
        // conditions; later conditions (wages, services, networks) move the realised rate.
        let constant_for = |target_rate: f64| {
            let (mut lo, mut hi) = (-60.0, 60.0);
            for _ in 0..80 {
                let mid = 0.5 * (lo + hi);
                if rate_at(mid) > target_rate {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        };
        let scenario = &self.plan.scenario;
        let mut by_rate: Vec<(f64, f64)> = Vec::new();
        let rural_asc = scenario
            .years()
            .map(|y| {
                let rate = b.rural_urban_move_rate_pct.at(y) / 100.0;
                if let Some(&(_, c)) = by_rate.iter().find(|(r, _)| *r == rate) {
                    return c;
                }
                let c = constant_for(rate);
                by_rate.push((rate, c));
                c
            })
            .collect();
        self.asc = asc;
        self.rural_asc = rural_asc;
    }

    fn context<'a>(&'a self, year: i32, tables: &'a ChoiceTables) -> YearContext<'a> {
        let s = &self.plan.scenario;
        let last = &self.last.national;
        let members: f64 = self.last.units.iter().map(|u| u.population() as f64).sum();
        let births = s.demography.birth_rate_permille.at(year) / 1000.0 * members;
        // Births split between the parts by where the parents live, at crude rates whose
        // ratio is `urban_birth_rate_ratio`, then spread over each part's fertile households:
        // where births happen follows the assumption, not which heads happen to be young.
        let urban: f64 = self.last.units.iter().map(|u| u.urban as f64).sum();
        let rural = members - urban;
        let birth_ratio = s.demography.urban_birth_rate_ratio;
        let rural_rate = births / (birth_ratio * urban + rural).max(1.0);
        let fertile_urban = last.fertile_households_urban as f64;
        let fertile_rural = (last.fertile_households - last.fertile_households_urban) as f64;
        let birth_chance_urban = (birth_ratio * rural_rate * urban / fertile_urban.max(1.0)).min(1.0);
        let birth_chance_rural = (rural_rate * rural / fertile_rural.max(1.0)).min(1.0);
        let deaths = s.demography.death_rate_permille.at(year) / 1000.0 * members;
        let ratio = s.demography.elderly_mortality_ratio;
        // Crude rates are split by age: adults, children at a lower risk, elderly at `ratio`.
        let exposure =
            last.adults as f64 + step::CHILD_MORTALITY_RATIO * last.children as f64 + ratio * last.elderly as f64;
        let adult_death = (deaths / exposure.max(1.0)).min(1.0);
        let has_quota = (0..self.geo.len()).map(|u| self.plan.quota_fraction(u, year).is_some()).collect();
        let county_town = s.potential_regions.county_town_pct.at(year) / 100.0;
        let base_in_place = s.in_place.rate_pct.at(year) / 100.0;
        let in_place: Vec<rand::distr::Bernoulli> = self
            .plan
            .potential_region
            .iter()
            .map(|region| step::bernoulli(base_in_place + if region.is_some() { county_town } else { 0.0 }))
            .collect();
        let (birth_urban, birth_rural) = (step::bernoulli(birth_chance_urban), step::bernoulli(birth_chance_rural));
        let reconsider_urban = s.behaviour.reconsider_urban_pct / 100.0;
        let inertia_decay = 0.5f64.powf(1.0 / s.behaviour.inertia_half_life_years);
        let elderly_death = (adult_death * ratio).min(1.0);
        YearContext {
            year,
            key: YearKey::new(s.run.seed, year),
            scenario: s,
            tables,
            cities: &self.cities,
            province_of: &self.province_of,
            // A province whose destinations have no weight has no outflow to draw.
            urban_outflow: self
                .plan
                .urban_outflow
                .iter()
                .zip(&self.plan.outflow_destinations)
                .map(
                    |(&p, destinations)| {
                        if destinations.last().is_some_and(|&total| total > 0.0) { step::bernoulli(p).p() } else { 0.0 }
                    },
                )
                .collect(),
            outflow_destinations: &self.plan.outflow_destinations,
            has_quota,
            service_share: self.plan.service_share.iter().map(|v| v.at(year)).collect(),
            rural_move: {
                let reconsider = step::bernoulli(s.behaviour.reconsider_rural_pct / 100.0).p();
                (0..self.geo.len())
                    .flat_map(|origin| {
                        (0..HOUSEHOLD_TYPES).map(move |k| {
                            let stay = tables.rural_utility(origin, k) + s.behaviour.stay_bonus;
                            let go = 1.0 / (1.0 + (stay - tables.iv_urban(origin, k)).exp());
                            reconsider * go.clamp(0.0, 1.0)
                        })
                    })
                    .collect()
            },
            reconsider_urban: (0..=u8::MAX)
                .map(|years| step::bernoulli(reconsider_urban * inertia_decay.powi(i32::from(years))))
                .collect(),
            stay_bonus: s.behaviour.stay_bonus,
            insured_stay: s.behaviour.insured_stay,
            tenant_stay: s.behaviour.tenant_stay,
            owner_stay: s.behaviour.owner_stay,
            purchase: s.housing.purchase_pct.at(year) / 100.0,
            birth_none: [1.0 - birth_rural.p(), 1.0 - birth_urban.p()],
            birth_urban,
            birth_rural,
            adults_follow: Binomials::new(s.behaviour.left_behind_adult_follow_pct / 100.0),
            deaths: Deaths::new([adult_death, elderly_death, adult_death * step::CHILD_MORTALITY_RATIO]),
            elderly_stay_behind: Binomials::new(step::ELDERLY_STAY_BEHIND),
            in_place_none: in_place.iter().map(|chance| 1.0 - chance.p()).collect(),
            in_place,
            insured: step::bernoulli(s.social_insurance.coverage_pct.at(year) / 100.0),
            skill_upgrade: step::bernoulli(s.jobs.skill_upgrade_pct.at(year) / 100.0),
            // The national ageing flow, concentrated on households with older heads.
            ageing: Binomials::new(
                s.demography.ageing_pct / 100.0 * last.adults as f64 / (last.adults_older_households as f64).max(1.0),
            ),
            children_grow_up: Binomials::new(step::CHILD_TO_ADULT),
            reunify: s.services.reunify_rate_pct / 100.0,
            procedure_ease: s.settlement.willingness.procedure_ease.at(year),
            min_years: Regime::ALL.map(|regime| {
                let rules = s.rules(regime);
                [rules.min_residence_years.at(year), rules.min_insurance_years.at(year)]
            }),
        }
    }

    /// Simulates the next year. Returns `false` when the scenario's last year is done.
    pub fn step(&mut self) -> bool {
        let Some(year) = self.next_year() else {
            return false;
        };
        let n = self.geo.len();
        let provinces = self.geo.provinces.len();
        let started = Instant::now();
        self.cities.update(&self.plan, year, &self.last, self.persons_per_member);
        let tables = self.tables_for(
            &self.plan,
            &self.cities,
            year,
            true,
            &self.asc,
            self.rural_asc[(year - self.plan.scenario.run.first_year) as usize],
        );
        self.timings.cities_and_tables += started.elapsed().as_secs_f64();

        let started = Instant::now();
        let mut households = std::mem::take(&mut self.households);
        let (decisions, finished) = {
            let ctx = self.context(year, &tables);
            // One pass does both halves of the year for every household except those waiting
            // for quota admission: nothing a household does after its decisions depends on
            // other households, except the admission of an application (the thresholds below).
            // The waiting ones (a few per cent) are listed per chunk and finished after the
            // thresholds are known, without another pass over all households.
            // Each run of chunks a thread takes sums into tallies of its own (megabytes to zero
            // and merge): a few runs per thread keep the threads balanced without many of them.
            let chunks_per_run = households.len().div_ceil(CHUNK).div_ceil(rayon::current_num_threads() * 4).max(1);
            let fused = households
                .par_chunks_mut(CHUNK)
                .with_min_len(chunks_per_run)
                .enumerate()
                .fold(
                    || FusedPass::new(n, provinces),
                    |mut pass, (chunk, slice)| {
                        let first = (chunk * CHUNK) as u64;
                        let mut waiting = Vec::new();
                        for (offset, h) in slice.iter_mut().enumerate() {
                            let id = first + offset as u64;
                            if step::live(h, id, &ctx, &mut pass.decisions, &mut pass.finished) {
                                waiting.push(offset as u32);
                            }
                        }
                        if !waiting.is_empty() {
                            pass.waiting.push((chunk, waiting));
                        }
                        pass
                    },
                )
                .reduce(|| FusedPass::new(n, provinces), FusedPass::merge);
            let decisions = fused.decisions;

            // Quotas are charged on the persons who take hukou and never exceeded: the
            // marginal score bin of each unit is filled in a keyed random order.
            let marginal: Vec<Option<(u8, f64)>> = (0..n)
                .map(|u| {
                    self.plan.quota_fraction(u, year).and_then(|fraction| {
                        let quota = fraction * self.last.units[u].nonhukou_urban as f64;
                        step::marginal_bin(&decisions.applications[u * SCORE_BINS..(u + 1) * SCORE_BINS], quota)
                    })
                })
                .collect();
            let thresholds: Vec<Threshold> = if marginal.iter().any(Option::is_some) {
                let mut candidates: Vec<step::Candidate> =
                    decisions.applied.iter().filter_map(|a| step::marginal_candidate(a, &ctx, &marginal)).collect();
                // Unit, then key: ids are unique, so the order is total and thread-independent.
                candidates.sort_unstable();
                step::cutoffs(&marginal, &candidates)
            } else {
                vec![Threshold::ADMIT_ALL; n]
            };

            // The waiting households, chunk by chunk (chunks are disjoint, so in parallel).
            let mut waiting_by_chunk: Vec<Vec<u32>> = vec![Vec::new(); households.len().div_ceil(CHUNK)];
            for (chunk, offsets) in fused.waiting {
                waiting_by_chunk[chunk] = offsets;
            }
            let admitted = households
                .par_chunks_mut(CHUNK)
                .zip(waiting_by_chunk.par_iter())
                .with_min_len(chunks_per_run)
                .enumerate()
                .filter(|(_, (_, offsets))| !offsets.is_empty())
                .fold(
                    || Tally::new(n, provinces),
                    |mut tally, (chunk, (slice, offsets))| {
                        let first = (chunk * CHUNK) as u64;
                        for &offset in offsets {
                            let id = first + u64::from(offset);
                            step::finish(&mut slice[offset as usize], id, &ctx, &thresholds, &mut tally);
                        }
                        tally
                    },
                )
                .reduce(|| Tally::new(n, provinces), Tally::merge);
            let finished = fused.finished.merge(admitted);
            (decisions, finished)
        };
        self.households = households;
        self.timings.household_passes += started.elapsed().as_secs_f64();

        // Stocks come from pass B; flows and settlements from both passes.
        let mut year_tally = finished;
        for (stock, events) in year_tally.units.iter_mut().zip(&decisions.units) {
            stock.add_events(events);
        }
        // Pass A counts only flows nationally (no stock, birth or death), so adding all of it
        // adds exactly its moves.
        year_tally.national.add(&decisions.national);
        for (a, b) in year_tally.flows.iter_mut().zip(&decisions.flows) {
            *a += b;
        }
        let record = self.record(year, year_tally.clone());
        self.records.push(record);
        self.last = year_tally;
        self.next_year += 1;
        true
    }

    /// Runs every remaining year, calling `progress(year)` after each.
    pub fn run(&mut self, mut progress: impl FnMut(i32)) {
        while let Some(year) = self.next_year() {
            self.step();
            progress(year);
        }
    }

    fn record(&self, year: i32, tally: Tally) -> YearRecord {
        let c = &self.cities;
        YearRecord {
            year,
            cities: (0..self.geo.len())
                .map(|u| CityIndicators {
                    regime: c.regime[u],
                    jobs: c.jobs[u],
                    wage: c.wage[u],
                    housing_cost: c.housing_cost[u],
                    school_access: c.school_access[u],
                    affordable_coverage: c.affordable_coverage[u],
                    affordable_open: c.affordable_open(u, year, &self.plan.scenario),
                    school_places: c.school_places[u],
                    affordable_units: c.affordable_units[u],
                    affordable_built: c.affordable_built[u],
                })
                .collect(),
            units: tally.units,
            national: tally.national,
            flows: tally.flows,
            real_households_per_agent: c.real_households_per_agent,
        }
    }
}

/// What one fused pass over a run of chunks collects: the tallies of the two halves of the year
/// and, per chunk, the offsets of the households waiting for quota admission.
struct FusedPass {
    decisions: Tally,
    finished: Tally,
    waiting: Vec<(usize, Vec<u32>)>,
}

impl FusedPass {
    fn new(units: usize, provinces: usize) -> FusedPass {
        FusedPass {
            decisions: Tally::new(units, provinces),
            finished: Tally::new(units, provinces),
            waiting: Vec::new(),
        }
    }

    fn merge(mut self, other: FusedPass) -> FusedPass {
        self.waiting.extend(other.waiting);
        FusedPass {
            decisions: self.decisions.merge(other.decisions),
            finished: self.finished.merge(other.finished),
            waiting: self.waiting,
        }
    }
}

/// Each unit's year table of a key that may differ by place: the default, overridden by
/// macro-region, then province, then list of units, then unit (the most specific wins). An
/// unknown place is an error naming it and what is allowed.
fn resolve_places(geo: &Geography, value: &PlaceValue) -> Result<Vec<YearValue>, (String, String)> {
    let (default, places) = match value {
        PlaceValue::National(v) => return Ok(vec![v.clone(); geo.len()]),
        PlaceValue::ByPlace { default, places } => (default, places),
    };
    let entries: Vec<(&String, &YearValue)> = places.iter().collect();
    let governing = geo.place_entries(entries.iter().map(|(k, _)| k.as_str()))?;
    Ok(governing.into_iter().map(|entry| entry.map_or(default, |e| entries[e].1).clone()).collect())
}

/// Counts a population's stocks (used for the base year).
pub fn count(households: &[Household], geo: &Geography) -> Tally {
    let n = geo.len();
    let provinces = geo.provinces.len();
    let province_of: Vec<u16> = geo.units.iter().map(|u| u.province as u16).collect();
    households
        .par_chunks(CHUNK)
        .fold(
            || Tally::new(n, provinces),
            |mut tally, chunk| {
                for h in chunk {
                    tally.count_stock(h, n, &province_of);
                }
                tally
            },
        )
        .reduce(|| Tally::new(n, provinces), Tally::merge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Purpose;
    use crate::scenario::YearValue;
    use rand::distr::Distribution;
    use step::{FirstEvent, stage};

    /// What a household is after its year, as numbers to compare in distribution.
    fn outcome(before: &Household, after: &Household, births_and_deaths: [u64; 2]) -> [f64; 12] {
        [
            f64::from(after.adults),
            f64::from(after.adults_left),
            f64::from(after.elderly),
            f64::from(after.elderly_left),
            f64::from(after.children),
            f64::from(after.children_left),
            f64::from(after.head_age),
            f64::from(u8::from(after.has(flags::RES_URBAN))),
            f64::from(u8::from(after.res_unit != before.res_unit)),
            f64::from(after.years_in_city),
            births_and_deaths[0] as f64,
            births_and_deaths[1] as f64,
        ]
    }

    #[test]
    fn a_gated_year_has_the_distribution_of_drawing_every_stage_in_turn() {
        let geo = Geography::embedded();
        let mut scenario = Scenario { name: "gate".into(), ..Scenario::default() };
        scenario.run.households = 4_000;
        // Rare events made common, so that every stage is often the first.
        scenario.demography.death_rate_permille = YearValue::Constant(50.0);
        scenario.in_place.rate_pct = YearValue::Constant(20.0);
        scenario.behaviour.reconsider_rural_pct = 60.0;
        let mut sim = Simulation::new(geo, Plan::from_scenario(scenario, geo).unwrap());
        // A year of settlements first, so that settled households with members left behind exist.
        sim.step();
        let year = sim.next_year().unwrap();
        sim.cities.update(&sim.plan, year, &sim.last, sim.persons_per_member);
        let tables = sim.tables_for(&sim.plan, &sim.cities, year, true, &sim.asc, sim.rural_asc[1]);
        let ctx = sim.context(year, &tables);
        let n = geo.len();
        let provinces = geo.provinces.len();

        // Households of each gated kind: rural with children, rural with a fertile head, urban
        // at home with an older head, urban at home with members left behind, and (made up:
        // synthesis gives none) a rural one holding urban hukou.
        let kinds: [&dyn Fn(&Household) -> bool; 4] = [
            &|h| !h.has(flags::RES_URBAN) && !h.has(flags::HUKOU_URBAN) && h.children >= 2,
            &|h| !h.has(flags::RES_URBAN) && (20..=40).contains(&h.head_age) && h.children == 0,
            &|h| h.has(flags::RES_URBAN) && h.has(flags::HUKOU_URBAN) && !h.is_nonhukou_urban() && h.head_age >= 55,
            &|h| h.has(flags::RES_URBAN) && !h.is_nonhukou_urban() && h.left_behind() > 0,
        ];
        let mut starts: Vec<Household> = kinds
            .iter()
            .enumerate()
            .map(|(index, kind)| {
                *sim.households
                    .iter()
                    .find(|h| !h.is_empty() && kind(h))
                    .unwrap_or_else(|| panic!("no household of kind {index}"))
            })
            .collect();
        let mut rural_urban_hukou = starts[0];
        rural_urban_hukou.set(flags::HUKOU_URBAN, true);
        starts.push(rural_urban_hukou);
        for start in starts {
            // A quiet year is exactly the year with every stage skipped.
            let [mut quiet, mut skipped] = [start; 2];
            let [mut quiet_tally, mut skipped_tally] = [Tally::new(n, provinces), Tally::new(n, provinces)];
            step::quiet_year(&mut quiet, &ctx, &mut quiet_tally);
            step::finish_year(&mut skipped, ctx.key.household(0), &ctx, &mut skipped_tally, FirstEvent(stage::QUIET));
            assert_eq!(quiet, skipped);
            assert_eq!(quiet_tally, skipped_tally);

            let draws = 200_000u64;
            let mut sums = [[0.0f64; 12]; 2];
            let mut squares = [[0.0f64; 12]; 2];
            // Tallies are reused: a year's births and deaths are what it adds to them.
            let mut tallies: [Tally; 3] = std::array::from_fn(|_| Tally::new(n, provinces));
            let vital = |t: &Tally| [t.national.births, t.national.deaths];
            for id in 0..draws {
                // The gated year.
                let mut h = start;
                let before = vital(&tallies[1]);
                let [decisions, finished, reference_tally] = &mut tallies;
                assert!(!step::live(&mut h, id, &ctx, decisions, finished));
                let after = vital(finished);
                let gated = outcome(&start, &h, [after[0] - before[0], after[1] - before[1]]);
                // Every stage drawn in turn, on other ids: the move as a Bernoulli of its chance,
                // then the rest of the year with every stage drawn as usual.
                let mut h = start;
                let before = vital(reference_tally);
                let key = ctx.key.household(draws + id);
                let moves = step::bernoulli(step::move_chance(&h, &ctx)).sample(&mut key.draws(Purpose::Gate));
                if moves {
                    step::forced_move(&mut h, key, &ctx, reference_tally);
                }
                step::finish_year(&mut h, key, &ctx, reference_tally, FirstEvent(stage::MOVE));
                let after = vital(reference_tally);
                let reference = outcome(&start, &h, [after[0] - before[0], after[1] - before[1]]);
                for (i, value) in [gated, reference].into_iter().enumerate() {
                    for f in 0..12 {
                        sums[i][f] += value[f];
                        squares[i][f] += value[f] * value[f];
                    }
                }
            }
            for f in 0..12 {
                let mean = |i: usize| sums[i][f] / draws as f64;
                let variance = |i: usize| (squares[i][f] / draws as f64 - mean(i).powi(2)).max(0.0);
                let se = ((variance(0) + variance(1)) / draws as f64).sqrt();
                assert!(
                    (mean(0) - mean(1)).abs() <= 4.5 * se + 1e-9,
                    "household {start:?}, outcome {f}: gated {} against stage by stage {} (se {se})",
                    mean(0),
                    mean(1)
                );
            }
        }
    }
}
