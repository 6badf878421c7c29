//! Direction tests: every lever of the plan moves the outcome the documented way. Each test runs
//! a small population twice with the same seed (common random numbers), once with the lever
//! changed, and compares.

use migrasim::engine::{Plan, Simulation, YearRecord};
use migrasim::geo::Geography;
use migrasim::results::national_row;
use migrasim::scenario::{self, Regime};

const HOUSEHOLDS: u64 = 40_000;

struct Outcome {
    plan: Plan,
    records: Vec<YearRecord>,
    persons_per_member: f64,
}

/// Runs the code defaults (2019–2023 policy) plus `toml` at a small size.
fn run(toml: &str) -> Outcome {
    let geo = Geography::embedded();
    let text = format!("[run]\nhouseholds = {HOUSEHOLDS}\nseed = 99\n{toml}");
    let scenario = scenario::from_str("lever", &text).expect("test scenario is valid");
    let plan = Plan::from_scenario(scenario, geo).expect("test scenario resolves");
    let mut sim = Simulation::new(geo, plan.clone());
    sim.run(|_| {});
    Outcome { plan, persons_per_member: sim.persons_per_member, records: sim.records }
}

impl Outcome {
    /// Sum over simulated years of a unit count, over the units `keep` selects.
    fn total(
        &self,
        keep: impl Fn(usize) -> bool,
        count: impl Fn(&migrasim::engine::aggregate::UnitCounts) -> u64,
    ) -> u64 {
        self.records[1..]
            .iter()
            .flat_map(|r| r.units.iter().enumerate())
            .filter(|(u, _)| keep(*u))
            .map(|(_, c)| count(c))
            .sum()
    }

    fn settlements_in(&self, regime: Regime) -> u64 {
        self.total(|u| self.plan.regimes[u] == regime, |c| c.settlements)
    }

    fn settlements(&self) -> u64 {
        self.total(|_| true, |c| c.settlements)
    }

    fn last(&self) -> &YearRecord {
        self.records.last().unwrap()
    }

    /// Urban residents of the selected units in the last year.
    fn urban_last(&self, keep: impl Fn(usize) -> bool) -> u64 {
        self.last().units.iter().enumerate().filter(|(u, _)| keep(*u)).map(|(_, c)| c.urban).sum()
    }

    fn national_last(&self) -> migrasim::results::NationalRow {
        national_row(self.last(), self.persons_per_member)
    }

    fn rural_to_urban(&self) -> u64 {
        self.records.iter().map(|r| r.national.rural_to_urban).sum()
    }
}

fn unit(name: &str) -> usize {
    Geography::embedded().find(name).unwrap().index()
}

#[test]
fn dropping_quotas_raises_settlements_in_points_cities() {
    let base = run("");
    let free = run("[settlement.points]\nno_quota_from = 2024\n");
    assert!(free.settlements_in(Regime::Points) > base.settlements_in(Regime::Points));
}

#[test]
fn a_larger_quota_raises_settlements_in_points_cities() {
    let base = run("");
    let more = run("[settlement.points]\nannual_quota_pct = 2.0\n");
    assert!(more.settlements_in(Regime::Points) > base.settlements_in(Regime::Points));
}

#[test]
fn requiring_land_surrender_lowers_settlements() {
    let base = run("");
    let surrender = run("[settlement]\nland_surrender_required = true\n");
    assert!(surrender.settlements() < base.settlements());
}

#[test]
fn longer_insurance_requirements_lower_settlements_in_relaxed_cities() {
    let base = run("");
    let strict = run("[settlement.relaxed]\nmin_insurance_years = 8\n");
    assert!(strict.settlements_in(Regime::Relaxed) < base.settlements_in(Regime::Relaxed));
    let strict = run("[settlement.relaxed]\nmin_residence_years = 8\n");
    assert!(strict.settlements_in(Regime::Relaxed) < base.settlements_in(Regime::Relaxed));
}

#[test]
fn an_education_alternative_raises_settlements() {
    let base = run("");
    let graduates = run("[settlement.relaxed]\neducation_exemption = \"senior\"\n");
    assert!(graduates.settlements_in(Regime::Relaxed) > base.settlements_in(Regime::Relaxed));
}

#[test]
fn a_higher_points_cutoff_lowers_points_applications() {
    let base = run("");
    let strict = run("[settlement.points_formula]\ncutoff = 120\n");
    let applicants = |o: &Outcome| o.total(|u| o.plan.regimes[u] == Regime::Points, |c| c.applicants);
    assert!(applicants(&strict) < applicants(&base));
    let generous = run("[settlement.points_formula]\nper_insurance_year = 15\n");
    assert!(applicants(&generous) > applicants(&base));
}

#[test]
fn opening_a_named_city_raises_its_settlements() {
    let shenzhen = unit("Shenzhen");
    let base = run("");
    let open = run("[settlement.regime_overrides]\nShenzhen = \"open\"\n");
    assert_eq!(open.plan.regimes[shenzhen], Regime::Open);
    let settled = |o: &Outcome| o.total(|u| u == shenzhen, |c| c.settlements);
    assert!(settled(&open) > settled(&base));
}

#[test]
fn a_unit_quota_override_binds_that_unit_only() {
    let beijing = unit("Beijing");
    let shanghai = unit("Shanghai");
    let closed = run("[settlement.quota_overrides]\nBeijing = 0.0\n");
    let wide = run("[settlement.quota_overrides]\nBeijing = 5.0\n");
    let settled = |o: &Outcome, city: usize| o.total(|u| u == city, |c| c.settlements);
    assert_eq!(settled(&closed, beijing), 0);
    assert!(settled(&wide, beijing) > 0);
    assert!(settled(&closed, shanghai) > 0, "other points cities keep their quota");
}

#[test]
fn raising_relaxed_cities_to_open_thresholds_changes_their_regime() {
    let open = run("[settlement]\nopen_below_urban_district = 5_000_000\n");
    assert!(open.plan.regimes.iter().all(|r| *r != Regime::Relaxed));
    let base = run("");
    assert!(open.settlements_in(Regime::Open) > base.settlements_in(Regime::Open));
}

#[test]
fn easier_procedures_raise_settlements() {
    let base = run("");
    let easy = run("[settlement.willingness]\nprocedure_ease = 1.0\n");
    assert!(easy.settlements() > base.settlements());
}

#[test]
fn a_services_stall_lowers_reunification_of_left_behind_children() {
    let base = run("[services]\nnonhukou_share = { 2023 = 0.6, 2029 = 0.9 }\n");
    let stall = run("[services]\nnonhukou_share = 0.3\nper_residence_year = 0.0\n");
    assert!(stall.national_last().left_behind_children > base.national_last().left_behind_children);
}

#[test]
fn more_school_places_raise_the_public_school_share_and_reunification() {
    let base = run("");
    let more = run("[services]\nschool_seat_growth_pct = 5.0\n");
    assert!(more.national_last().public_school_share_pct > base.national_last().public_school_share_pct);
    assert!(more.national_last().left_behind_children < base.national_last().left_behind_children);
}

#[test]
fn no_fiscal_link_lowers_school_place_growth() {
    let base = run("");
    let unlinked = run("[fiscal]\nlink = false\n");
    assert!(unlinked.national_last().public_school_share_pct < base.national_last().public_school_share_pct);
}

#[test]
fn job_growth_and_employment_services_pull_rural_households_to_cities() {
    let base = run("");
    let jobs = run("[jobs]\ngrowth_pct = 4.0\n");
    assert!(jobs.rural_to_urban() > base.rural_to_urban());
    let services = run("[jobs]\nnonhukou_job_finding = { 2023 = 0.95, 2025 = 1.0 }\n");
    assert!(services.rural_to_urban() > base.rural_to_urban());
}

#[test]
fn vocational_training_raises_points_applications() {
    let base = run("");
    let trained = run("[jobs]\nskill_upgrade_pct = 10.0\n");
    let applicants = |o: &Outcome| o.total(|u| o.plan.regimes[u] == Regime::Points, |c| c.applicants);
    assert!(applicants(&trained) > applicants(&base));
}

#[test]
fn affordable_housing_open_to_migrants_raises_urban_population() {
    let base = run("");
    let housing = run("[housing]\naffordable_units_per_year = 20_000_000\naffordable_access = 1.0\n");
    assert!(housing.national_last().urban_residents > base.national_last().urban_residents);
}

#[test]
fn affordable_housing_weighted_to_points_cities_draws_migrants_there() {
    let even = run("[housing]\naffordable_units_per_year = 20_000_000\naffordable_access = 1.0\n");
    let points = run(
        "[housing]\naffordable_units_per_year = 20_000_000\naffordable_access = 1.0\n[housing.regime_weights]\nopen = 0.0\nrelaxed = 0.0\npoints = 1.0\n",
    );
    let arrivals = |o: &Outcome| o.total(|u| o.plan.regimes[u] == Regime::Points, |c| c.arrivals());
    assert!(arrivals(&points) > arrivals(&even));
}

#[test]
fn insurance_coverage_and_portability_drive_settlement_in_relaxed_cities() {
    let base = run("");
    let covered = run("[social_insurance]\ncoverage_pct = 95.0\n");
    assert!(covered.settlements_in(Regime::Relaxed) > base.settlements_in(Regime::Relaxed));
    let fixed = run("[social_insurance]\nportable = false\n");
    let movers_settle = |o: &Outcome| o.settlements_in(Regime::Relaxed) + o.settlements_in(Regime::Points);
    assert!(movers_settle(&fixed) <= movers_settle(&base));
}

#[test]
fn a_potential_region_push_raises_the_urban_population_of_member_units() {
    let base = run("");
    let push = run("[potential_regions]\njob_boost_pct = 3.0\ncounty_town_pct = 0.5\nnearby_preference = 1.0\n");
    let members = |o: &Outcome| o.urban_last(|u| o.plan.potential_region[u].is_some());
    assert!(members(&push) > members(&base));
}

#[test]
fn potential_region_membership_is_editable() {
    let none = run(
        "[potential_regions]\njob_boost_pct = 3.0\ncounty_town_pct = 0.5\n[potential_regions.members]\n\"North Anhui\" = []\n",
    );
    let north_anhui = ["341300", "340600", "341600", "341200", "340300", "340400"].map(unit);
    assert!(north_anhui.iter().all(|&u| none.plan.potential_region[u].is_none()));
    let with = run("[potential_regions]\njob_boost_pct = 3.0\ncounty_town_pct = 0.5\n");
    let urban = |o: &Outcome| o.urban_last(|u| north_anhui.contains(&u));
    assert!(urban(&with) > urban(&none));
}

#[test]
fn metro_integration_raises_the_urban_population_of_member_units() {
    let base = run("");
    let members = |o: &Outcome| o.urban_last(|u| o.plan.metros.iter().any(|m| m.members.contains(&u) && m.core != u));
    let relocation = run("[metro_areas]\njob_relocation_pct = 5.0\n");
    assert!(members(&relocation) > members(&base));
    // Commuting pays where core earnings net of its cost exceed the member's own.
    let commuting = run("[metro_areas]\ncommute_share = 0.5\ncommute_cost = 0.0\n");
    assert!(members(&commuting) > members(&base));
}

#[test]
fn urban_village_redevelopment_deters_arrivals_and_amenity_attracts_them() {
    let base = run("");
    let big = |o: &Outcome, u: usize| {
        Geography::embedded().units[u].pop_urban_district_2020 >= 3_000_000.0 && o.plan.regimes[u] != Regime::Open
    };
    let arrivals = |o: &Outcome| o.total(|u| big(o, u), |c| c.arrivals());
    let redevelopment = run("[renewal]\ncheap_housing_removed_pct = 5.0\n");
    assert!(arrivals(&redevelopment) < arrivals(&base));
    let amenity = run("[renewal]\namenity_per_year = 0.2\n");
    assert!(arrivals(&amenity) > arrivals(&base));
}

#[test]
fn more_in_place_urbanization_raises_the_urbanization_rate() {
    let base = run("");
    let more = run("[in_place]\nrate_pct = 2.0\n");
    assert!(more.national_last().urbanization_rate_pct > base.national_last().urbanization_rate_pct);
}

#[test]
fn the_home_purchase_route_raises_settlements_in_relaxed_cities() {
    let base = run("");
    let buyers = run("[settlement.relaxed]\nhome_purchase = true\n");
    assert!(buyers.settlements_in(Regime::Relaxed) > base.settlements_in(Regime::Relaxed));
}

#[test]
fn migrants_buy_homes_more_often_where_housing_is_cheap() {
    let none = run("[housing]\npurchase_pct = 0.0\n");
    assert_eq!(none.total(|_| true, |c| c.purchases), 0);
    let base = run("");
    assert!(base.total(|_| true, |c| c.purchases) > 0);
    // Purchases per non-hukou household in the dearer and the cheaper half of the units.
    let cost = |u: usize| base.last().cities[u].housing_cost;
    let mut costs: Vec<f64> = (0..base.last().cities.len()).map(cost).collect();
    costs.sort_by(f64::total_cmp);
    let median = costs[costs.len() / 2];
    let rate = |dear: bool| {
        let keep = |u: usize| (cost(u) > median) == dear;
        base.total(keep, |c| c.purchases) as f64 / base.total(keep, |c| c.nonhukou_households).max(1) as f64
    };
    assert!(rate(false) > rate(true), "cheap {} dear {}", rate(false), rate(true));
}

#[test]
fn urban_hukou_migrants_transfer_their_hukou_under_the_same_rules() {
    let base = run("");
    let transfers = |o: &Outcome| o.total(|_| true, |c| c.transfers);
    assert!(transfers(&base) > 0);
    let strict = run(
        "[settlement.open]\nmin_residence_years = 10\n[settlement.relaxed]\nmin_residence_years = 10\nmin_insurance_years = 10\n",
    );
    assert!(transfers(&strict) < transfers(&base));
}

#[test]
fn the_fiscal_link_land_quota_lowers_housing_cost_where_migrants_settle() {
    let base = run("");
    let unlinked = run("[fiscal]\nlink = false\n");
    // Settled-weighted mean housing cost over open and relaxed units (points cities get no land).
    let mean_cost = |o: &Outcome| {
        let (mut cost, mut weight) = (0.0, 0.0);
        for (u, c) in o.last().units.iter().enumerate() {
            if base.plan.regimes[u] != Regime::Points && c.urban > 0 {
                let settled = base.total(|v| v == u, |c| c.settlements) as f64;
                cost += settled * o.last().cities[u].housing_cost;
                weight += settled;
            }
        }
        cost / weight
    };
    assert!(mean_cost(&base) < mean_cost(&unlinked));
}

#[test]
fn relocated_core_jobs_take_their_workers_to_the_members() {
    let base = run("");
    let relocated = run("[metro_areas]\njob_relocation_pct = 3.0\n");
    let cores: Vec<usize> = base.plan.metros.iter().map(|m| m.core).collect();
    let members: Vec<usize> =
        base.plan.metros.iter().flat_map(|m| m.members.iter().copied()).filter(|u| !cores.contains(u)).collect();
    assert!(relocated.urban_last(|u| cores.contains(&u)) < base.urban_last(|u| cores.contains(&u)));
    assert!(relocated.urban_last(|u| members.contains(&u)) > base.urban_last(|u| members.contains(&u)));
    // The workers move with the jobs, so the cores' employment rate does not collapse.
    let employment = |o: &Outcome| {
        cores.iter().map(|&u| o.last().cities[u].jobs / o.last().units[u].urban_workers.max(1) as f64).sum::<f64>()
            / cores.len() as f64
    };
    assert!(
        employment(&relocated) > 0.9 * employment(&base),
        "jobs per worker in the cores: {} against {}",
        employment(&relocated),
        employment(&base)
    );
}

/// Summed over units in the last year: school-age migrant children without a public-school place,
/// and non-hukou households waiting for an affordable rental beyond the vacant units open to them
/// (simulated members and households, as `services.csv` counts them before scaling).
fn service_gaps(o: &Outcome) -> (f64, f64) {
    let last = o.last();
    let mut school = 0.0;
    let mut housing = 0.0;
    for (c, city) in last.units.iter().zip(&last.cities) {
        let pupils = c.migrant_children as f64 * migrasim::engine::city::SCHOOL_AGE_SHARE;
        school += (pupils - city.school_places).max(0.0);
        let vacant = (city.affordable_open - c.affordable_tenants as f64).max(0.0);
        housing += (c.affordable_waiting as f64 - vacant).max(0.0);
    }
    (school, housing)
}

#[test]
fn school_place_gaps_differ_between_cities_and_close_with_more_places() {
    let base = run("");
    let shares: Vec<f64> = base
        .last()
        .cities
        .iter()
        .zip(&base.last().units)
        .filter(|(_, c)| c.migrant_children > 20)
        .map(|(city, _)| city.school_access)
        .collect();
    let (low, high) = shares.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &s| (l.min(s), h.max(s)));
    assert!(high - low > 0.05, "public-school shares {low:.3}–{high:.3}");
    let (gap, _) = service_gaps(&base);
    assert!(gap > 0.0);
    let (faster, _) = service_gaps(&run("[services]\nschool_seat_growth_pct = 4.0\n"));
    assert!(faster < gap, "{faster} against {gap}");
    let (responsive, _) = service_gaps(&run("[services]\nplace_response = 1.0\n"));
    assert!(responsive < gap, "{responsive} against {gap}");
}

#[test]
fn more_affordable_units_shorten_the_wait_for_them() {
    let base = run("");
    let more = run("[housing]\naffordable_units_per_year = 8_000_000\n");
    let (_, waiting) = service_gaps(&base);
    let (_, fewer) = service_gaps(&more);
    assert!(fewer < waiting, "{fewer} against {waiting}");
    let tenants = |o: &Outcome| o.total(|_| true, |c| c.affordable_tenants);
    assert!(tenants(&more) > tenants(&base));
}

/// Every measure of the plan acts through its channel with the sign the docs justify and at least
/// its documented minimum (`levers::MEASURES`), measured as `migrasim levers` does: the shipped
/// baseline against the baseline without the measure, 1M households, common random numbers.
#[test]
fn every_plan_measure_reaches_its_documented_minimum_at_a_million_households() {
    let geo = Geography::embedded();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut baseline = scenario::load(&root.join("baseline.toml")).expect("the baseline loads").scenario;
    baseline.run.households = 1_000_000;
    let status_quo = scenario::load(&root.join("status-quo.toml")).expect("the status quo loads").scenario;
    let plan = Plan::from_scenario(baseline, geo).expect("the baseline resolves");
    let seeds = [plan.scenario.run.seed];
    let measured =
        migrasim::levers::measure(geo, &plan, &status_quo, &seeds, |_| {}).expect("every measure can be set back");
    let mut failures = Vec::new();
    for m in &measured {
        let verdict = migrasim::levers::verdict(m);
        eprintln!("{}: resident {:+.4} pp, hukou {:+.4} pp: {verdict}", m.measure.name, m.resident.mean, m.hukou.mean);
        if verdict != "yes" && verdict != "no stated direction" {
            failures.push(format!("{}: {verdict}", m.measure.name));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Values by place: job growth by macro-region, province or unit reaches exactly those units, the
/// most specific place winning, and a national value gives the same run as before.
#[test]
fn job_growth_by_place_reaches_the_places_named() {
    let geo = Geography::embedded();
    let base = run("");
    let regional = run("[jobs]\ngrowth_pct = { default = 1.0, west = 3.0, Sichuan = 1.0, Chengdu = 5.0 }\n");
    let national = run("[jobs]\ngrowth_pct = { default = 1.0 }\n");
    assert_eq!(national.records, base.records, "a default alone is the national value");
    let jobs = |o: &Outcome, u: usize| o.last().cities[u].jobs;
    let chengdu = unit("Chengdu");
    let mianyang = unit("Mianyang");
    let kunming = unit("Kunming");
    let shanghai = unit("Shanghai");
    assert_eq!(geo.units[kunming].macro_region, migrasim::geo::MacroRegion::West);
    let grew = |u: usize| jobs(&regional, u) / jobs(&base, u);
    // The west grows faster; Sichuan (in the west) is set back to the default; Chengdu, in Sichuan,
    // faster still; the east is untouched in its own job growth.
    assert!(grew(kunming) > 1.05, "Kunming {}", grew(kunming));
    assert!(grew(chengdu) > grew(kunming), "Chengdu {}", grew(chengdu));
    assert!((grew(mianyang) - 1.0).abs() < 0.05, "Mianyang {}", grew(mianyang));
    assert!(grew(shanghai) < 1.05, "Shanghai {}", grew(shanghai));
}

/// Services by residence by place: more services for non-hukou residents in one province draw
/// people to its cities: more arrivals and more urban residents there.
#[test]
fn services_by_place_act_where_they_are_given() {
    let geo = Geography::embedded();
    let base = run("");
    let generous = run("[services]\nnonhukou_share = { default = 0.6, Guangdong = 0.95 }\n");
    let guangdong = geo.provinces.iter().position(|p| p.name_en == "Guangdong").unwrap();
    let in_guangdong = |u: usize| geo.units[u].province == guangdong;
    assert!(generous.urban_last(in_guangdong) > base.urban_last(in_guangdong));
    let joined = |o: &Outcome| o.total(in_guangdong, |c| c.arrivals_urban);
    assert!(joined(&generous) > joined(&base));
}

/// Affordable-housing supply by place: a city's own programme is built there (and spread over
/// its units by demand for a list or a province), the national programme still reaches the
/// units no place governs, and a place's figure replaces its share of the national one.
#[test]
fn affordable_supply_by_place_is_built_where_it_is_given() {
    let base = run("");
    let placed = run(
        "[housing]\naffordable_units_per_year = { default = 2_130_000, Chengdu = 300_000, \"Shenzhen, Dongguan\" = 0 }\n",
    );
    let built =
        |o: &Outcome, u: usize| -> f64 { o.records.iter().skip(1).map(|r| r.cities[u].affordable_built).sum::<f64>() };
    let (chengdu, shenzhen, dongguan, wuhan) = (unit("Chengdu"), unit("Shenzhen"), unit("Dongguan"), unit("Wuhan"));
    assert!(built(&placed, chengdu) > 3.0 * built(&base, chengdu));
    // Shenzhen and Dongguan build nothing but what the fiscal link adds for their settlers.
    assert!(built(&placed, shenzhen) < 0.5 * built(&base, shenzhen));
    assert!(built(&placed, dongguan) < 0.5 * built(&base, dongguan));
    // Elsewhere, the national programme as before (within the noise of diverging runs).
    let ratio = built(&placed, wuhan) / built(&base, wuhan);
    assert!((0.8..1.25).contains(&ratio), "Wuhan {ratio}");
}

/// The settlement regime by place: a province's override reaches all its units from its year,
/// and a unit's override within it wins.
#[test]
fn regime_overrides_by_province_reach_its_units_and_a_unit_wins() {
    let placed = run("[settlement.regime_overrides]\nGuangdong = { 2025 = \"open\" }\nShenzhen = \"points\"\n");
    let geo = Geography::embedded();
    let guangdong = geo.find_province("Guangdong").unwrap();
    let regimes_2024 = placed.plan.regimes_in(2024);
    let regimes_2026 = placed.plan.regimes_in(2026);
    let (guangzhou, shenzhen) = (unit("Guangzhou"), unit("Shenzhen"));
    assert_eq!(regimes_2024[guangzhou], Regime::Points);
    assert_eq!(regimes_2026[guangzhou], Regime::Open);
    for u in (0..geo.len()).filter(|&u| geo.units[u].province == guangdong && u != shenzhen) {
        assert_eq!(regimes_2026[u], Regime::Open, "{}", geo.units[u].name_en);
    }
    assert_eq!(regimes_2026[shenzhen], Regime::Points);
    assert_eq!(regimes_2026[unit("Wuhan")], run("").plan.regimes_in(2026)[unit("Wuhan")]);
}
