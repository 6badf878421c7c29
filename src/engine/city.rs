//! City state per unit: jobs, wages, housing cost, school seats and affordable rentals, updated
//! once a year from last year's aggregates (MODEL §5.1).

use super::Plan;
use super::aggregate::Tally;
use crate::geo::{Geography, MacroRegion};
use crate::scenario::Regime;

/// 2023 monthly income of migrant workers by region of work (yuan, MWMS 2023, `data/`).
fn regional_wage(region: MacroRegion) -> f64 {
    match region {
        MacroRegion::East => 5172.0,
        MacroRegion::Central => 4567.0,
        MacroRegion::West => 4375.0,
        MacroRegion::Northeast => 4051.0,
    }
}

/// Everything about the cities that the choice model reads. Arrays are indexed by unit.
#[derive(Debug, Clone)]
pub struct Cities {
    pub regime: Vec<Regime>,
    pub jobs: Vec<f64>,
    /// Jobs ÷ workers in the base year: the tightness wages are measured against.
    tightness0: Vec<f64>,
    base_wage: Vec<f64>,
    pub wage: Vec<f64>,
    pub employment_rate: Vec<f64>,
    base_cost: Vec<f64>,
    urban0: Vec<f64>,
    /// Urban-district population (2020), which decides where renewal applies.
    district: Vec<f64>,
    pub housing_cost: Vec<f64>,
    /// Share of non-hukou children in public schools (capped at 1).
    pub school_access: Vec<f64>,
    /// Affordable rental units (simulated households).
    pub affordable_units: Vec<f64>,
    /// Affordable units ÷ non-hukou households, capped at 1.
    pub affordable_coverage: Vec<f64>,
    /// Chance a non-hukou resident settles within a few years, from last year's settlements.
    pub settle_prospect: Vec<f64>,
    /// Monthly earnings a newcomer expects (wage × employment), including commuting to a metro
    /// core from a member unit.
    pub expected_earnings: Vec<f64>,
    /// Housing stock left after urban-village redevelopment (base year = 1).
    pub renewal_stock: Vec<f64>,
    /// Cumulative amenity from urban renewal (utility).
    pub amenity: Vec<f64>,
    /// National wage and rural income indices (base year = 1).
    pub wage_index: f64,
    pub rural_income_index: f64,
}

impl Cities {
    /// Base-year city state from the initial population's aggregates; jobs are sized on each
    /// unit's urban residents from the data (`expected_urban`, members), not on the sample.
    pub fn new(geo: &Geography, plan: &Plan, stock: &Tally, expected_urban: &[f64]) -> Cities {
        let scenario = &plan.scenario;
        let regime = plan.regimes_in(scenario.base_year());
        let n = geo.len();
        let employment = scenario.jobs.initial_employment_rate;
        let median_district = {
            let mut d: Vec<f64> = geo
                .units
                .iter()
                .map(|u| u.pop_urban_district_2020.max(1.0))
                .collect();
            d.sort_by(f64::total_cmp);
            d[n / 2]
        };
        let mean_urban = stock.units.iter().map(|u| u.urban as f64).sum::<f64>() / n as f64;
        let mut cities = Cities {
            regime,
            jobs: vec![0.0; n],
            tightness0: vec![employment; n],
            base_wage: vec![0.0; n],
            wage: vec![0.0; n],
            employment_rate: vec![employment; n],
            base_cost: vec![0.0; n],
            urban0: vec![0.0; n],
            district: geo
                .units
                .iter()
                .map(|u| u.pop_urban_district_2020)
                .collect(),
            housing_cost: vec![0.0; n],
            school_access: vec![0.0; n],
            affordable_units: vec![0.0; n],
            affordable_coverage: vec![0.0; n],
            settle_prospect: vec![0.0; n],
            expected_earnings: vec![0.0; n],
            renewal_stock: vec![1.0; n],
            amenity: vec![0.0; n],
            wage_index: 1.0,
            rural_income_index: 1.0,
        };
        let seat_share = scenario.services.initial_public_school_share_pct / 100.0;
        // Workers per urban resident, national: the sample's age structure is reliable in
        // aggregate even where a unit holds a handful of households.
        let workers_per_urban = stock.units.iter().map(|c| c.urban_workers).sum::<u64>() as f64
            / (stock.units.iter().map(|c| c.urban).sum::<u64>() as f64).max(1.0);
        for (u, unit) in geo.units.iter().enumerate() {
            let counts = &stock.units[u];
            cities.jobs[u] = expected_urban[u] * workers_per_urban * employment;
            let size = unit.pop_urban_district_2020.max(0.1 * median_district) / median_district;
            cities.base_wage[u] =
                regional_wage(unit.macro_region) * size.powf(scenario.jobs.size_elasticity);
            cities.wage[u] = cities.base_wage[u];
            let urban = (counts.urban as f64).max(1.0);
            cities.urban0[u] = urban;
            cities.base_cost[u] =
                (urban / mean_urban.max(1.0)).powf(scenario.housing.size_elasticity);
            cities.housing_cost[u] = cities.base_cost[u];
            cities.school_access[u] = if counts.nonhukou_children > 0 {
                seat_share
            } else {
                1.0
            };
        }
        cities.update_expected_earnings(plan, scenario.base_year());
        cities
    }

    /// Earnings a newcomer expects: own wage × employment, or for a metro member unit a mix
    /// with the core's earnings net of commuting cost (plan §4).
    fn update_expected_earnings(&mut self, plan: &Plan, year: i32) {
        let metros = &plan.scenario.metro_areas;
        let share = metros.commute_share.at(year);
        for u in 0..self.wage.len() {
            self.expected_earnings[u] = self.wage[u] * self.employment_rate[u];
        }
        if share > 0.0 {
            let own = self.expected_earnings.clone();
            // A unit in two metro areas commutes to one core only (the first listed), as in
            // the workers' allocation in `update`.
            let mut commuting = vec![false; own.len()];
            for metro in &plan.metros {
                let core = own[metro.core] * (1.0 - metros.commute_cost);
                for &m in &metro.members {
                    if !std::mem::replace(&mut commuting[m], true) {
                        self.expected_earnings[m] = (1.0 - share) * own[m] + share * core;
                    }
                }
            }
        }
    }

    /// Advances the city state into `year` using last year's aggregates.
    pub fn update(&mut self, plan: &Plan, year: i32, last: &Tally, persons_per_member: f64) {
        let scenario = &plan.scenario;
        if !plan.regime_changes.is_empty() {
            self.regime = plan.regimes_in(year);
        }
        let jobs_growth = 1.0 + scenario.jobs.growth_pct.at(year) / 100.0;
        let potential_boost = scenario.potential_regions.job_boost_pct.at(year) / 100.0;
        let renewal = &scenario.renewal;
        let removed = renewal.cheap_housing_removed_pct.at(year) / 100.0;
        self.wage_index *= 1.0 + scenario.jobs.wage_growth_pct.at(year) / 100.0;
        self.rural_income_index *= 1.0 + scenario.jobs.rural_income_growth_pct.at(year) / 100.0;
        let seat_growth = 1.0 + scenario.services.school_seat_growth_pct.at(year) / 100.0;
        let fiscal = &scenario.fiscal;

        // Affordable rentals: the national programme is spread by non-hukou households, in
        // simulated households (real units ÷ persons per household-member scale).
        // New units go where non-hukou households live, weighted by the regime's policy weight.
        let weights = &scenario.housing.regime_weights;
        let demand: Vec<f64> = last
            .units
            .iter()
            .zip(&self.regime)
            .map(|(u, r)| u.nonhukou_households as f64 * weights.get(*r))
            .collect();
        let total_demand: f64 = demand.iter().sum();

        // Metro areas move a share of the core's jobs to members, in proportion to their workers.
        let relocation = scenario.metro_areas.job_relocation_pct.at(year) / 100.0;
        if relocation > 0.0 {
            for metro in &plan.metros {
                let workers: f64 = metro
                    .members
                    .iter()
                    .map(|&m| last.units[m].urban_workers as f64)
                    .sum();
                if workers <= 0.0 {
                    continue;
                }
                let moved = self.jobs[metro.core] * relocation;
                self.jobs[metro.core] -= moved;
                for &m in &metro.members {
                    self.jobs[m] += moved * last.units[m].urban_workers as f64 / workers;
                }
            }
        }
        let real_households_per_agent = {
            let members: f64 = last.units.iter().map(|u| u.population() as f64).sum();
            let households = last.national.households as f64;
            persons_per_member * members / households.max(1.0) / 2.62
        };
        let new_units = scenario.housing.affordable_units_per_year.at(year)
            / real_households_per_agent.max(1e-9);

        for (u, jobs) in self.jobs.iter_mut().enumerate() {
            let boost = if plan.potential_region[u].is_some() {
                potential_boost
            } else {
                0.0
            };
            *jobs *= jobs_growth + boost;
        }
        let mut tightness: Vec<f64> = self
            .jobs
            .iter()
            .zip(&last.units)
            .map(|(jobs, counts)| jobs / (counts.urban_workers as f64).max(1.0))
            .collect();
        // Commuting pools a metropolitan area's labour markets (plan §4): with commuting share c,
        // a unit's tightness is (1 − c) × its own + c × the area's, core and members together.
        // Jobs moved from the core then draw the core's workers too, instead of leaving them idle
        // while the members' wages climb. A unit in two areas belongs to the first listed.
        let commute = scenario.metro_areas.commute_share.at(year);
        if commute > 0.0 {
            let mut pooled = vec![false; tightness.len()];
            for metro in &plan.metros {
                let units: Vec<usize> = std::iter::once(metro.core)
                    .chain(metro.members.iter().copied())
                    .filter(|&u| !pooled[u])
                    .collect();
                let jobs: f64 = units.iter().map(|&u| self.jobs[u]).sum();
                let workers: f64 = units
                    .iter()
                    .map(|&u| last.units[u].urban_workers as f64)
                    .sum();
                if workers <= 0.0 {
                    continue;
                }
                let area = jobs / workers;
                for &u in &units {
                    pooled[u] = true;
                    tightness[u] = (1.0 - commute) * tightness[u] + commute * area;
                }
            }
        }

        #[allow(clippy::needless_range_loop)] // u indexes a dozen parallel arrays
        for u in 0..self.jobs.len() {
            let counts = &last.units[u];
            if renewal.min_urban_district <= self.district_population(u) {
                self.renewal_stock[u] *= 1.0 - removed;
                self.amenity[u] += renewal.amenity_per_year;
            }
            let tightness = tightness[u];
            self.employment_rate[u] = tightness.min(1.0);
            self.wage[u] = self.base_wage[u]
                * self.wage_index
                * (tightness / self.tightness0[u]).powf(scenario.jobs.tightness_elasticity);
            let urban = (counts.urban as f64).max(1.0);
            // Cost rises with people per unit of housing: population growth and redevelopment.
            self.housing_cost[u] = self.base_cost[u]
                * (urban / self.urban0[u] / self.renewal_stock[u])
                    .powf(scenario.housing.pressure_elasticity);

            // Public-school places for non-hukou children follow enrolment (plan §2.4: supply
            // coordinated with population change) and grow relative to it by policy; the fiscal
            // link adds places for the children settled last year.
            let children = counts.nonhukou_children as f64;
            let linked = if fiscal.link && children > 0.0 {
                fiscal.seats_per_settled_child * counts.settled_children as f64 / children
            } else {
                0.0
            };
            self.school_access[u] = (self.school_access[u] * seat_growth + linked).min(1.0);
            if fiscal.link {
                self.affordable_units[u] +=
                    fiscal.units_per_settled_household * counts.settled_households as f64;
            }
            if total_demand > 0.0 {
                self.affordable_units[u] += new_units * demand[u] / total_demand;
            }
            let households = counts.nonhukou_households as f64;
            self.affordable_coverage[u] = if households > 0.0 {
                (self.affordable_units[u] / households).min(1.0)
            } else {
                1.0
            };
            // Prospect of settling within about five years at last year's pace.
            let nonhukou = (counts.nonhukou_urban as f64).max(1.0);
            self.settle_prospect[u] = (5.0 * counts.settlements as f64 / nonhukou).min(1.0);
        }
        self.update_expected_earnings(plan, year);
    }

    fn district_population(&self, u: usize) -> f64 {
        self.district[u]
    }

    /// Housing cost a non-hukou newcomer expects, net of the affordable rentals open to them.
    #[inline]
    pub fn effective_housing_cost(&self, u: usize, discount: f64, access: f64) -> f64 {
        self.housing_cost[u] * (1.0 - discount * access * self.affordable_coverage[u])
    }
}
