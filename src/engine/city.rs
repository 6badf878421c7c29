//! City state per unit: jobs, wages, housing cost, school seats and affordable rentals, updated
//! once a year from last year's aggregates (MODEL §5.1).

use super::aggregate::Tally;
use crate::geo::{Geography, MacroRegion};
use crate::scenario::{Regime, Scenario};

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
    pub housing_cost: Vec<f64>,
    /// Public-school seats for non-hukou children (simulated members).
    pub school_seats: Vec<f64>,
    /// Seats ÷ non-hukou children, capped at 1.
    pub school_access: Vec<f64>,
    /// Affordable rental units (simulated households).
    pub affordable_units: Vec<f64>,
    /// Affordable units ÷ non-hukou households, capped at 1.
    pub affordable_coverage: Vec<f64>,
    /// Chance a non-hukou resident settles within a few years, from last year's settlements.
    pub settle_prospect: Vec<f64>,
    /// National wage and rural income indices (base year = 1).
    pub wage_index: f64,
    pub rural_income_index: f64,
}

impl Cities {
    /// Base-year city state from the initial population's aggregates.
    pub fn new(geo: &Geography, scenario: &Scenario, regime: Vec<Regime>, stock: &Tally) -> Cities {
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
            housing_cost: vec![0.0; n],
            school_seats: vec![0.0; n],
            school_access: vec![0.0; n],
            affordable_units: vec![0.0; n],
            affordable_coverage: vec![0.0; n],
            settle_prospect: vec![0.0; n],
            wage_index: 1.0,
            rural_income_index: 1.0,
        };
        let seat_share = scenario.services.initial_public_school_share_pct / 100.0;
        for (u, unit) in geo.units.iter().enumerate() {
            let counts = &stock.units[u];
            let workers = counts.urban_workers as f64;
            cities.jobs[u] = workers * employment;
            let size = unit.pop_urban_district_2020.max(0.1 * median_district) / median_district;
            cities.base_wage[u] =
                regional_wage(unit.macro_region) * size.powf(scenario.jobs.size_elasticity);
            cities.wage[u] = cities.base_wage[u];
            let urban = (counts.urban as f64).max(1.0);
            cities.urban0[u] = urban;
            cities.base_cost[u] =
                (urban / mean_urban.max(1.0)).powf(scenario.housing.size_elasticity);
            cities.housing_cost[u] = cities.base_cost[u];
            cities.school_seats[u] = counts.nonhukou_children as f64 * seat_share;
            cities.school_access[u] = if counts.nonhukou_children > 0 {
                seat_share
            } else {
                1.0
            };
        }
        cities
    }

    /// Advances the city state into `year` using last year's aggregates.
    pub fn update(
        &mut self,
        scenario: &Scenario,
        year: i32,
        last: &Tally,
        persons_per_member: f64,
    ) {
        let jobs_growth = 1.0 + scenario.jobs.growth_pct.at(year) / 100.0;
        self.wage_index *= 1.0 + scenario.jobs.wage_growth_pct.at(year) / 100.0;
        self.rural_income_index *= 1.0 + scenario.jobs.rural_income_growth_pct.at(year) / 100.0;
        let seat_growth = 1.0 + scenario.services.school_seat_growth_pct.at(year) / 100.0;
        let fiscal = &scenario.fiscal;

        // Affordable rentals: the national programme is spread by non-hukou households, in
        // simulated households (real units ÷ persons per household-member scale).
        let nonhukou_households: f64 = last
            .units
            .iter()
            .map(|u| u.nonhukou_households as f64)
            .sum();
        let real_households_per_agent = {
            let members: f64 = last.units.iter().map(|u| u.population() as f64).sum();
            let households = last.national.households as f64;
            persons_per_member * members / households.max(1.0) / 2.62
        };
        let new_units = scenario.housing.affordable_units_per_year.at(year)
            / real_households_per_agent.max(1e-9);

        for u in 0..self.jobs.len() {
            let counts = &last.units[u];
            self.jobs[u] *= jobs_growth;
            let workers = (counts.urban_workers as f64).max(1.0);
            let tightness = self.jobs[u] / workers;
            self.employment_rate[u] = tightness.min(1.0);
            self.wage[u] = self.base_wage[u]
                * self.wage_index
                * (tightness / self.tightness0[u]).powf(scenario.jobs.tightness_elasticity);
            let urban = (counts.urban as f64).max(1.0);
            self.housing_cost[u] = self.base_cost[u]
                * (urban / self.urban0[u]).powf(scenario.housing.pressure_elasticity);

            self.school_seats[u] *= seat_growth;
            if fiscal.link {
                self.school_seats[u] +=
                    fiscal.seats_per_settled_child * counts.settled_children as f64;
                self.affordable_units[u] +=
                    fiscal.units_per_settled_household * counts.settled_households as f64;
            }
            let children = counts.nonhukou_children as f64;
            self.school_access[u] = if children > 0.0 {
                (self.school_seats[u] / children).min(1.0)
            } else {
                1.0
            };
            if nonhukou_households > 0.0 {
                self.affordable_units[u] +=
                    new_units * counts.nonhukou_households as f64 / nonhukou_households;
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
    }

    /// Housing cost a newcomer expects, net of the affordable-rental share.
    #[inline]
    pub fn effective_housing_cost(&self, u: usize, discount: f64) -> f64 {
        self.housing_cost[u] * (1.0 - discount * self.affordable_coverage[u])
    }
}
