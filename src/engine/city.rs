//! City state per unit: jobs, wages, housing cost, school seats and affordable rentals, updated
//! once a year from last year's aggregates (MODEL §5.1).

use super::Plan;
use super::aggregate::{Tally, UnitCounts};
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

/// Urban construction land per resident (m²): the middle of the national planning standard's
/// band for existing cities, 85–115 m² (GB 50137-2011; assumption where a city differs).
const URBAN_LAND_M2_PER_RESIDENT: f64 = 100.0;

/// Share of children aged 6–14 (compulsory school) among those aged 0–14: census 2020, national
/// (0: 11.99M, 1–4: 65.90M, 5–9: 90.24M, 10–14: 85.26M; four fifths of 5–9), from the county
/// yearbook's age columns (`../shared/data/raw/leiii_census`, `docs/data.md`).
pub const SCHOOL_AGE_SHARE: f64 = 0.6214;

/// Real households one simulated household stands for (2.62 persons per household, census 2020).
fn real_households_per_agent(counts: &Tally, persons_per_member: f64) -> f64 {
    let members: f64 = counts.units.iter().map(|u| u.population() as f64).sum();
    let households = counts.national.households as f64;
    persons_per_member * members / households.max(1.0) / 2.62
}

/// Where new affordable rentals go: non-hukou households, weighted by the regime's policy weight.
fn affordable_demand(counts: &Tally, regime: &[Regime], scenario: &Scenario) -> Vec<f64> {
    let weights = &scenario.housing.regime_weights;
    counts.units.iter().zip(regime).map(|(u, r)| u.nonhukou_households as f64 * weights.get(*r)).collect()
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
    /// Share of non-hukou children in public schools: places ÷ school-age children, capped at 1.
    pub school_access: Vec<f64>,
    /// Non-hukou children of compulsory-school age (6–14) last year, and the public-school places
    /// for them (simulated members).
    pub school_pupils: Vec<f64>,
    pub school_places: Vec<f64>,
    /// Affordable rental units added this year (simulated households), and real dwellings per
    /// simulated household (for outputs in real units).
    pub affordable_built: Vec<f64>,
    pub real_households_per_agent: f64,
    /// Affordable rental units (simulated households).
    pub affordable_units: Vec<f64>,
    /// Affordable units open to non-hukou residents ÷ non-hukou households, capped at 1.
    pub affordable_coverage: Vec<f64>,
    /// Chance a waiting non-hukou household is allotted an affordable unit this year: the
    /// units open to non-hukou residents and not occupied last year ÷ the households waiting.
    pub affordable_offer: Vec<f64>,
    /// Housing stock added by the fiscal link's construction-land quota (base year = 1).
    pub land_supply: Vec<f64>,
    /// Wage factor from a metro member's access to the core's labour market (1 elsewhere).
    pub market_access: Vec<f64>,
    /// Per metro core, this year's chance that a non-hukou household relocates with its job to a
    /// member (0 elsewhere), and the members with cumulative weights (their urban workers).
    pub relocation_chance: Vec<f64>,
    pub relocation_members: Vec<Vec<(usize, f64)>>,
    /// Chance a non-hukou resident settles within a few years, from last year's settlements.
    pub settle_prospect: Vec<f64>,
    /// Monthly earnings a newcomer expects (wage × employment), including commuting to a metro
    /// core from a member unit.
    pub expected_earnings: Vec<f64>,
    /// Housing stock left after urban-village redevelopment (base year = 1).
    pub renewal_stock: Vec<f64>,
    /// Cumulative amenity from urban renewal (utility).
    pub amenity: Vec<f64>,
    /// Wage index per unit (`jobs.wage_growth_pct` may differ by place) and the national rural
    /// income index (base year = 1).
    pub wage_index: Vec<f64>,
    pub rural_income_index: f64,
}

impl Cities {
    /// Base-year city state from the initial population's aggregates; jobs are sized on each
    /// unit's urban residents from the data (`expected_urban`, members), not on the sample.
    pub fn new(geo: &Geography, plan: &Plan, stock: &Tally, expected_urban: &[f64], persons_per_member: f64) -> Cities {
        let scenario = &plan.scenario;
        let regime = plan.regimes_in(scenario.base_year());
        let n = geo.len();
        let employment = scenario.jobs.initial_employment_rate;
        let median_district = {
            let mut d: Vec<f64> = geo.units.iter().map(|u| u.pop_urban_district_2020.max(1.0)).collect();
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
            district: geo.units.iter().map(|u| u.pop_urban_district_2020).collect(),
            housing_cost: vec![0.0; n],
            school_access: vec![0.0; n],
            school_pupils: vec![0.0; n],
            school_places: vec![0.0; n],
            affordable_built: vec![0.0; n],
            real_households_per_agent: real_households_per_agent(stock, persons_per_member),
            affordable_units: vec![0.0; n],
            affordable_coverage: vec![0.0; n],
            affordable_offer: vec![0.0; n],
            land_supply: vec![1.0; n],
            market_access: vec![1.0; n],
            relocation_chance: vec![0.0; n],
            relocation_members: vec![Vec::new(); n],
            settle_prospect: vec![0.0; n],
            expected_earnings: vec![0.0; n],
            renewal_stock: vec![1.0; n],
            amenity: vec![0.0; n],
            wage_index: vec![1.0; n],
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
            cities.base_wage[u] = regional_wage(unit.macro_region) * size.powf(scenario.jobs.size_elasticity);
            cities.wage[u] = cities.base_wage[u];
            let urban = (counts.urban as f64).max(1.0);
            cities.urban0[u] = urban;
            cities.base_cost[u] = (urban / mean_urban.max(1.0)).powf(scenario.housing.size_elasticity);
            cities.housing_cost[u] = cities.base_cost[u];
            cities.school_pupils[u] = counts.migrant_children as f64 * SCHOOL_AGE_SHARE;
            cities.school_places[u] = seat_share * cities.school_pupils[u];
            cities.school_access[u] = if counts.migrant_children > 0 { seat_share } else { 1.0 };
        }
        // The affordable rentals built before the base year, spread like new units.
        let initial_units =
            scenario.housing.initial_affordable_units / real_households_per_agent(stock, persons_per_member).max(1e-9);
        let demand = affordable_demand(stock, &cities.regime, scenario);
        let total_demand: f64 = demand.iter().sum();
        let access = scenario.housing.affordable_access.at(scenario.base_year());
        for (u, demand) in demand.iter().enumerate() {
            if total_demand > 0.0 {
                cities.affordable_units[u] = initial_units * demand / total_demand;
            }
            cities.update_affordable(u, &stock.units[u], access);
        }
        cities.update_market_access(plan, scenario.base_year());
        cities.update_expected_earnings(plan, scenario.base_year());
        cities
    }

    /// Coverage and this year's allotment chance of affordable rentals in unit `u`, from the
    /// stock and last year's tenants and waiting households.
    fn update_affordable(&mut self, u: usize, counts: &UnitCounts, access: f64) {
        let open = access * self.affordable_units[u];
        let households = counts.nonhukou_households as f64;
        self.affordable_coverage[u] = if households > 0.0 { (open / households).min(1.0) } else { 1.0 };
        let vacant = (open - counts.affordable_tenants as f64).max(0.0);
        let waiting = counts.affordable_waiting as f64;
        self.affordable_offer[u] = if waiting > 0.0 { (vacant / waiting).min(1.0) } else { 0.0 };
    }

    /// Integration widens a metro member's labour market (plan §4: 通勤便捷, 同城化): its wages
    /// answer an effective size of its own urban districts plus the commuting share of the
    /// rest of the area's, through the same size elasticity as every city's wage level.
    fn update_market_access(&mut self, plan: &Plan, year: i32) {
        let share = plan.scenario.metro_areas.commute_share.at(year);
        let elasticity = plan.scenario.jobs.size_elasticity;
        self.market_access.iter_mut().for_each(|a| *a = 1.0);
        if share <= 0.0 {
            return;
        }
        let mut done = vec![false; self.market_access.len()];
        for metro in &plan.metros {
            let area: f64 = std::iter::once(metro.core)
                .chain(metro.members.iter().copied())
                .map(|u| self.district[u].max(0.0))
                .sum();
            for &m in &metro.members {
                if std::mem::replace(&mut done[m], true) {
                    continue;
                }
                let own = self.district[m].max(1.0);
                let effective = own + share * (area - own).max(0.0);
                self.market_access[m] = (effective / own).powf(elasticity);
            }
        }
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
        self.update_market_access(plan, year);
        let potential_boost = scenario.potential_regions.job_boost_pct.at(year) / 100.0;
        let renewal = &scenario.renewal;
        let removed = renewal.cheap_housing_removed_pct.at(year) / 100.0;
        for (index, growth) in self.wage_index.iter_mut().zip(&plan.wage_growth) {
            *index *= 1.0 + growth.at(year) / 100.0;
        }
        self.rural_income_index *= 1.0 + scenario.jobs.rural_income_growth_pct.at(year) / 100.0;
        let place_response = scenario.services.place_response.at(year);
        self.real_households_per_agent = real_households_per_agent(last, persons_per_member);
        let fiscal = &scenario.fiscal;

        let demand = affordable_demand(last, &self.regime, scenario);
        let access = scenario.housing.affordable_access.at(year);

        // Metro areas move a share of the core's jobs to members, in proportion to their workers.
        // The workers go with their jobs (plan §4: general manufacturing, logistics and wholesale
        // markets move out with their staff): non-hukou households of the core relocate with the
        // chance that moves as many workers as jobs (`decide()`), so relocation moves people
        // between cities instead of leaving the core's workers idle.
        let relocation = scenario.metro_areas.job_relocation_pct.at(year) / 100.0;
        self.relocation_chance.iter_mut().for_each(|c| *c = 0.0);
        if relocation > 0.0 {
            for metro in &plan.metros {
                let core = &last.units[metro.core];
                // Renters follow their jobs; owners keep their home in the core (and commute).
                let nonhukou_workers = core.renting_nonhukou_workers as f64;
                if self.relocation_chance[metro.core] == 0.0 && nonhukou_workers > 0.0 {
                    // As many workers as keep the core's jobs per worker unchanged.
                    let workers = self.jobs[metro.core] * relocation * core.urban_workers as f64
                        / self.jobs[metro.core].max(1e-9);
                    self.relocation_chance[metro.core] = (workers / nonhukou_workers).min(1.0);
                    let mut cumulative = 0.0;
                    self.relocation_members[metro.core] = metro
                        .members
                        .iter()
                        .map(|&m| {
                            cumulative += last.units[m].urban_workers as f64;
                            (m, cumulative)
                        })
                        .collect();
                    if cumulative <= 0.0 {
                        self.relocation_chance[metro.core] = 0.0;
                    }
                }
                let workers: f64 = metro.members.iter().map(|&m| last.units[m].urban_workers as f64).sum();
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
        let new_units =
            plan.affordable_supply.spread(year, real_households_per_agent(last, persons_per_member).max(1e-9), &demand);

        for (u, jobs) in self.jobs.iter_mut().enumerate() {
            let boost = if plan.potential_region[u].is_some() { potential_boost } else { 0.0 };
            *jobs *= 1.0 + plan.jobs_growth[u].at(year) / 100.0 + boost;
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
                let units: Vec<usize> =
                    std::iter::once(metro.core).chain(metro.members.iter().copied()).filter(|&u| !pooled[u]).collect();
                let jobs: f64 = units.iter().map(|&u| self.jobs[u]).sum();
                let workers: f64 = units.iter().map(|&u| last.units[u].urban_workers as f64).sum();
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
                * self.market_access[u]
                * self.wage_index[u]
                * (tightness / self.tightness0[u]).powf(scenario.jobs.tightness_elasticity);
            let urban = (counts.urban as f64).max(1.0);
            // Cost rises with people per unit of housing: population growth and redevelopment.
            // The fiscal link's land quota (人地钱挂钩): construction land per settled person
            // adds housing in proportion to the land an urban resident occupies.
            if fiscal.link && self.regime[u] != Regime::Points {
                self.land_supply[u] += fiscal.land_m2_per_settled
                    * (counts.settlements - counts.family_settlements) as f64
                    / URBAN_LAND_M2_PER_RESIDENT
                    / self.urban0[u];
            }
            self.housing_cost[u] = self.base_cost[u]
                * (urban / self.urban0[u] / (self.renewal_stock[u] * self.land_supply[u]))
                    .powf(scenario.housing.pressure_elasticity);

            // Public-school places for school-age migrant children are a stock. They grow by
            // policy (`school_seat_growth_pct`), by `place_response` of each year's rise in
            // enrolment at the current public-school share (plan §2.4: supply coordinated with
            // population change), and by the fiscal link's places for the children settled last
            // year. Children who leave the city free their places. Where enrolment outruns the
            // places, the public-school share falls: the gap a city faces.
            // Children who settled last year keep their school places as hukou pupils, so those
            // places leave the migrants' stock with them; enrolment rises net of them.
            let pupils = counts.migrant_children as f64 * SCHOOL_AGE_SHARE;
            let settled_pupils = counts.settled_children as f64 * SCHOOL_AGE_SHARE;
            let staying = (self.school_pupils[u] - settled_pupils).max(0.0);
            let rise = (pupils - staying).max(0.0);
            let linked = if fiscal.link { fiscal.seats_per_settled_child * settled_pupils } else { 0.0 };
            let kept = (self.school_places[u] - self.school_access[u] * settled_pupils).max(0.0);
            let seat_growth = 1.0 + plan.seat_growth[u].at(year) / 100.0;
            self.school_places[u] = kept * seat_growth + place_response * rise * self.school_access[u] + linked;
            self.school_pupils[u] = pupils;
            self.school_access[u] = if pupils > 0.0 { (self.school_places[u] / pupils).min(1.0) } else { 1.0 };
            let before = self.affordable_units[u];
            if fiscal.link {
                self.affordable_units[u] += fiscal.units_per_settled_household * counts.settled_households as f64;
            }
            self.affordable_units[u] += new_units[u];
            self.affordable_built[u] = self.affordable_units[u] - before;
            self.update_affordable(u, counts, access);
            // Prospect of settling within about five years at last year's pace.
            let nonhukou = (counts.nonhukou_urban as f64).max(1.0);
            self.settle_prospect[u] = (5.0 * counts.settlements as f64 / nonhukou).min(1.0);
        }
        self.update_expected_earnings(plan, year);
    }

    /// Affordable rental units open to non-hukou residents in `year` (simulated households).
    pub fn affordable_open(&self, u: usize, year: i32, scenario: &Scenario) -> f64 {
        scenario.housing.affordable_access.at(year) * self.affordable_units[u]
    }

    fn district_population(&self, u: usize) -> f64 {
        self.district[u]
    }

    /// Housing cost a non-hukou newcomer expects: the rent saving of an affordable unit times
    /// the share of non-hukou households the units open to them could house.
    #[inline]
    pub fn effective_housing_cost(&self, u: usize, discount: f64) -> f64 {
        self.housing_cost[u] * (1.0 - discount * self.affordable_coverage[u])
    }
}
