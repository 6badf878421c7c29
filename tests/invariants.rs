//! Invariants of the simulation, checked on small populations: persons are conserved apart from
//! births and deaths, rates stay within [0, 100], every household lives in a valid unit, and the
//! base year matches the official rates at a realistic size.

use migrasim::engine::{Plan, Simulation};
use migrasim::geo::Geography;
use migrasim::household::{Household, flags};
use migrasim::results::national_row;
use migrasim::scenario::Scenario;
use proptest::prelude::*;

fn simulate(households: u64, seed: u64) -> Simulation<'static> {
    let geo = Geography::embedded();
    let mut scenario = Scenario { name: "invariants".into(), ..Scenario::default() };
    scenario.run.households = households;
    scenario.run.seed = seed;
    let mut sim = Simulation::new(geo, Plan::from_scenario(scenario, geo).unwrap());
    sim.run(|_| {});
    sim
}

fn check_invariants(sim: &Simulation) {
    let geo = Geography::embedded();
    for pair in sim.records.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let total = |r: &migrasim::engine::YearRecord| -> u64 { r.units.iter().map(|u| u.population()).sum() };
        assert_eq!(
            total(after),
            total(before) + after.national.births - after.national.deaths,
            "persons conserved apart from births and deaths in {}",
            after.year
        );
    }
    for record in &sim.records {
        let row = national_row(record, sim.persons_per_member);
        for rate in [row.urbanization_rate_pct, row.hukou_urbanization_rate_pct, row.public_school_share_pct] {
            assert!((0.0..=100.0).contains(&rate), "rate {rate} in {}", record.year);
        }
        assert!(row.hukou_urbanization_rate_pct <= row.urbanization_rate_pct + 1e-9);
    }
    for h in &sim.households {
        assert!(usize::from(h.res_unit) < geo.len());
        assert!(usize::from(h.hukou_unit) < geo.len());
        assert!(usize::from(h.origin_unit) < geo.len());
        assert!(!h.has(flags::APPLIED), "no application survives the year");
        if h.has(flags::HUKOU_URBAN) && h.has(flags::RES_URBAN) && h.hukou_unit == h.res_unit {
            assert_eq!(h.children_left, 0, "settled households brought their children");
        }
        if !h.has(flags::RES_URBAN) {
            assert_eq!(h.left_behind(), 0, "rural households are together");
            assert_eq!(h.res_unit, h.hukou_unit, "rural households live at their hukou place");
        }
    }
}

#[test]
fn hot_state_is_18_bytes_per_household() {
    assert_eq!(std::mem::size_of::<Household>(), 18);
}

/// Affordable rentals are a stock households occupy: the open units fill (the waiting households
/// far outnumber them) and the tenants never exceed them by more than the lottery's noise.
#[test]
fn affordable_tenants_fill_the_open_units_and_do_not_exceed_them() {
    let sim = simulate(200_000, 5);
    for record in &sim.records[1..] {
        let open: f64 = record.cities.iter().map(|c| c.affordable_open).sum();
        let tenants: u64 = record.units.iter().map(|u| u.affordable_tenants).sum();
        let waiting: u64 = record.units.iter().map(|u| u.affordable_waiting).sum();
        eprintln!("{}: open {open:.0}, tenants {tenants}, waiting {waiting}", record.year);
        assert!(open > 0.0, "{}: the stock exists", record.year);
        assert!(tenants as f64 <= 1.02 * open + 10.0, "{}: {tenants} tenants in {open:.0} open units", record.year);
        assert!(
            tenants as f64 >= 0.8 * open,
            "{}: {tenants} tenants leave most of {open:.0} open units empty",
            record.year
        );
    }
}

#[test]
fn invariants_hold_on_the_default_scenario() {
    check_invariants(&simulate(30_000, 7));
}

#[test]
fn base_year_matches_official_rates_within_a_tenth_of_a_point() {
    let geo = Geography::embedded();
    let mut scenario = Scenario::default();
    scenario.run.households = 2_000_000;
    scenario.run.last_year = scenario.run.first_year;
    let plan = Plan::from_scenario(scenario, geo).unwrap();
    let sim = Simulation::new(geo, plan);
    let row = national_row(&sim.records[0], sim.persons_per_member);
    assert_eq!(row.year, 2023);
    assert!((row.population - 1_409_670_000.0).abs() < 1.0);
    assert!((row.urbanization_rate_pct - 66.16).abs() < 0.1, "{row:?}");
    assert!((row.hukou_urbanization_rate_pct - 48.3).abs() < 0.1, "{row:?}");
}

#[test]
fn births_and_deaths_follow_the_crude_rates() {
    let sim = simulate(60_000, 11);
    let first = national_row(&sim.records[1], sim.persons_per_member);
    // 2023 rates: 6.39 and 7.87 per mille of ~1,410M; sampling noise at this size is a few %.
    assert!((first.births / 9.0e6 - 1.0).abs() < 0.1, "births {}", first.births);
    assert!((first.deaths / 11.1e6 - 1.0).abs() < 0.1, "deaths {}", first.deaths);
}

/// The most extreme accepted demography over the longest accepted horizon: births at the top of
/// their range, no deaths, the fastest ageing, every migrant child left behind, fast moves and
/// reunification. No person may be lost (member counts were once capped at 12 per role).
#[test]
fn persons_are_conserved_at_extreme_accepted_values_over_the_longest_horizon() {
    use migrasim::scenario::{MAX_BIRTH_RATE_PERMILLE, MAX_SIMULATED_YEARS, YearValue};
    let geo = Geography::embedded();
    for (birth, death, ageing) in
        [(MAX_BIRTH_RATE_PERMILLE, 0.0, 20.0), (MAX_BIRTH_RATE_PERMILLE, 50.0, 0.0), (0.0, 0.0, 20.0)]
    {
        let mut scenario = Scenario { name: "extreme".into(), ..Scenario::default() };
        scenario.run.households = 20_000;
        scenario.run.seed = 3;
        scenario.run.last_year = scenario.run.first_year + MAX_SIMULATED_YEARS - 1;
        scenario.demography.birth_rate_permille = YearValue::Constant(birth);
        scenario.demography.death_rate_permille = YearValue::Constant(death);
        scenario.demography.ageing_pct = ageing;
        scenario.demography.elderly_mortality_ratio = 1.0;
        scenario.initial.left_behind_child_share = 1.0;
        scenario.initial.migrant_second_adult_share = 1.0;
        scenario.services.reunify_rate_pct = 100.0;
        scenario.behaviour.reconsider_rural_pct = 100.0;
        scenario.behaviour.rural_urban_move_rate_pct = 50.0.into();
        let mut sim = Simulation::new(geo, Plan::from_scenario(scenario, geo).unwrap());
        sim.run(|_| {});
        assert_eq!(sim.records.len(), MAX_SIMULATED_YEARS as usize + 1);
        check_invariants(&sim);
        check_balances(&sim);
    }
}

/// Every person who changes place is counted once, where they left and where they arrived, in
/// the right part: per unit and year, for the urban and the rural part separately,
/// change = arrivals − departures + births − deaths (± reclassification in place); nationally,
/// the urban population changes by births − deaths + in-place + rural→urban − urban→rural.
fn check_balances(sim: &Simulation) {
    for pair in sim.records.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        for (u, (b, a)) in before.units.iter().zip(&after.units).enumerate() {
            let urban = b.urban as i64 + a.arrivals_urban as i64 - a.departures_urban as i64 + a.births_urban as i64
                - a.deaths_urban as i64
                + a.in_place as i64;
            assert_eq!(a.urban as i64, urban, "urban part of unit {u} in {}", after.year);
            let rural = b.rural as i64 + a.arrivals_rural as i64 - a.departures_rural as i64 + a.births_rural as i64
                - a.deaths_rural as i64
                - a.in_place as i64;
            assert_eq!(a.rural as i64, rural, "rural part of unit {u} in {}", after.year);
        }
        let sum = |r: &migrasim::engine::YearRecord,
                   f: &dyn Fn(&migrasim::engine::aggregate::UnitCounts) -> u64|
         -> i64 { r.units.iter().map(|c| f(c) as i64).sum() };
        let n = &after.national;
        assert_eq!(
            sum(after, &|c| c.urban),
            sum(before, &|c| c.urban) + sum(after, &|c| c.births_urban) - sum(after, &|c| c.deaths_urban)
                + n.in_place as i64
                + n.rural_to_urban as i64
                - n.urban_to_rural as i64,
            "national urban balance in {}",
            after.year
        );
        // Every change of hukou status is a settlement: the urban-hukou population changes
        // only by settlements and its own births and deaths.
        assert_eq!(
            sum(after, &|c| c.hukou_urban_residents),
            sum(before, &|c| c.hukou_urban_residents) + sum(after, &|c| c.settlements) + n.births_urban_hukou as i64
                - n.deaths_urban_hukou as i64,
            "urban-hukou balance in {}",
            after.year
        );
        assert_eq!(n.births, (sum(after, &|c| c.births_urban) + sum(after, &|c| c.births_rural)) as u64);
        assert_eq!(n.deaths, (sum(after, &|c| c.deaths_urban) + sum(after, &|c| c.deaths_rural)) as u64);
    }
}

#[test]
fn every_change_of_place_is_counted_once_in_the_right_part() {
    let sim = simulate(40_000, 5);
    check_balances(&sim);
    let joins: u64 = sim.records.iter().map(|r| r.national.rural_to_urban).sum();
    assert!(joins > 0);
}

/// Points cities admit exactly their quota, charged on the persons who take hukou: where the
/// applications exceed it, admissions fall short of it by less than one household and never
/// pass it.
#[test]
fn quota_admissions_fill_the_quota_and_never_exceed_it() {
    let geo = Geography::embedded();
    let mut scenario = Scenario { name: "quota".into(), ..Scenario::default() };
    scenario.run.households = 200_000;
    // Willing applicants everywhere, so quotas bind.
    scenario.settlement.willingness.base = 3.0;
    let mut sim = Simulation::new(geo, Plan::from_scenario(scenario, geo).unwrap());
    sim.run(|_| {});
    let largest_household: u64 = 20;
    let mut binding = 0;
    for pair in sim.records.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        for (u, counts) in after.units.iter().enumerate() {
            let Some(fraction) = sim.plan().quota_fraction(u, after.year) else {
                continue;
            };
            let quota = fraction * before.units[u].nonhukou_urban as f64;
            let admitted = (counts.settlements - counts.family_settlements) as f64;
            assert!(admitted <= quota, "unit {u} in {}: {admitted} > quota {quota}", after.year);
            if counts.applicants as f64 > quota {
                binding += 1;
                assert!(
                    quota - admitted < largest_household as f64,
                    "unit {u} in {}: admitted {admitted} of quota {quota}",
                    after.year
                );
            }
        }
    }
    assert!(binding >= 20, "quotas bound in {binding} unit-years");
}

/// Base-year capacity comes from each unit's data, not from the sample: at 1,000 households
/// most units hold no sampled urban worker, yet every unit has jobs and can be chosen.
#[test]
fn every_unit_has_capacity_at_a_thousand_households() {
    let geo = Geography::embedded();
    let sim = simulate(1_000, 9);
    let base = &sim.records[0];
    let without_sampled_workers = base.units.iter().filter(|u| u.urban_workers == 0).count();
    assert!(without_sampled_workers > 50, "{without_sampled_workers}");
    let no_jobs: Vec<&str> =
        base.cities.iter().zip(&geo.units).filter(|(c, _)| c.jobs <= 0.0).map(|(_, u)| u.name_en.as_str()).collect();
    assert!(no_jobs.is_empty(), "units without jobs: {no_jobs:?}");
    for record in &sim.records {
        assert!(record.cities.iter().all(|c| c.jobs > 0.0), "{}", record.year);
    }
}

/// Large households keep every member: children who grow up and adults who turn 65 are never
/// dropped when a role already counts many (counts were once capped at 12 per role).
#[test]
fn large_households_lose_no_member() {
    let geo = Geography::embedded();
    let mut scenario = Scenario { name: "large".into(), ..Scenario::default() };
    scenario.run.households = 20_000;
    scenario.demography.ageing_pct = 20.0;
    let mut sim = Simulation::new(geo, Plan::from_scenario(scenario, geo).unwrap());
    assert!(sim.step(), "first year");
    for h in sim.households.iter_mut().step_by(7) {
        if !h.is_empty() {
            h.adults = 12;
            h.children = 12;
            h.elderly = 12;
        }
    }
    // The first year after the change is counted from the changed households on.
    assert!(sim.step(), "second year");
    let counted_from = sim.records.len() - 1;
    sim.run(|_| {});
    let total = |r: &migrasim::engine::YearRecord| -> u64 { r.units.iter().map(|u| u.population()).sum() };
    for pair in sim.records[counted_from..].windows(2) {
        assert_eq!(
            total(&pair[1]),
            total(&pair[0]) + pair[1].national.births - pair[1].national.deaths,
            "persons conserved in {}",
            pair[1].year
        );
    }
}

/// Births hold the crude rate in every year of the longest accepted horizon, at the default and
/// the highest accepted rate (docs/model.md, "Horizon").
#[test]
fn births_hold_their_rate_over_the_longest_horizon() {
    use migrasim::scenario::{MAX_BIRTH_RATE_PERMILLE, MAX_SIMULATED_YEARS, YearValue};
    let geo = Geography::embedded();
    for rate in [6.39, MAX_BIRTH_RATE_PERMILLE] {
        let mut scenario = Scenario::default();
        scenario.run.households = 200_000;
        scenario.run.last_year = scenario.run.first_year + MAX_SIMULATED_YEARS - 1;
        scenario.demography.birth_rate_permille = YearValue::Constant(rate);
        let mut sim = Simulation::new(geo, Plan::from_scenario(scenario, geo).unwrap());
        sim.run(|_| {});
        for pair in sim.records.windows(2) {
            let population: u64 = pair[0].units.iter().map(|u| u.population()).sum();
            let target = rate / 1000.0 * population as f64;
            let births = pair[1].national.births as f64;
            // Sampling noise at 200k households is about ±2%.
            assert!(
                (births / target - 1.0).abs() < 0.06,
                "{rate}‰ in {}: births {births} vs target {target:.0}",
                pair[1].year
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn invariants_hold_for_any_seed_and_size(seed in any::<u64>(), households in 2_000u64..12_000) {
        check_invariants(&simulate(households, seed));
    }
}

/// The decomposition of each year's change in the urbanization rate sums exactly to the change,
/// with nothing unexplained.
#[test]
fn the_decomposition_sums_to_the_change_with_nothing_unexplained() {
    let sim = simulate(40_000, 13);
    for pair in sim.records.windows(2) {
        let rows = migrasim::report::decomposition(&pair[0], &pair[1], sim.persons_per_member);
        let before = national_row(&pair[0], sim.persons_per_member).urbanization_rate_pct;
        let after = national_row(&pair[1], sim.persons_per_member).urbanization_rate_pct;
        let total: f64 = rows.iter().map(|r| r.2).sum();
        assert!((total - (after - before)).abs() < 1e-9, "{}: {total} vs {}", pair[1].year, after - before);
        let unexplained = rows.iter().find(|r| r.0 == "unexplained").unwrap();
        assert_eq!(unexplained.1, 0.0, "{}", pair[1].year);
    }
}

/// With moves, settlement, reunification and left-behind adults following all switched off,
/// the rate changes only through reclassification in place and demography: every flow of the
/// decomposition is zero, and the rise is small (it was 2.07 pp by 2029 when left-behind adults
/// ramped up from zero and births followed whichever heads were young).
#[test]
fn with_behaviour_switched_off_only_in_place_and_demography_move_the_rate() {
    let geo = Geography::embedded();
    let mut scenario = Scenario { name: "frozen".into(), ..Scenario::default() };
    scenario.run.households = 200_000;
    scenario.behaviour.reconsider_rural_pct = 0.0;
    scenario.behaviour.reconsider_urban_pct = 0.0;
    scenario.behaviour.rural_urban_move_rate_pct = 0.0.into();
    scenario.behaviour.left_behind_adult_follow_pct = 0.0;
    scenario.settlement.willingness.base = -20.0;
    scenario.services.reunify_rate_pct = 0.0;
    scenario.in_place.rate_pct = migrasim::scenario::YearValue::Constant(0.0);
    let mut sim = Simulation::new(geo, Plan::from_scenario(scenario, geo).unwrap());
    sim.run(|_| {});
    for pair in sim.records.windows(2) {
        for (source, persons, _) in migrasim::report::decomposition(&pair[0], &pair[1], sim.persons_per_member) {
            if source.starts_with("rural_to_urban")
                || source.starts_with("urban_to_rural")
                || source == "in_place_reclassification"
            {
                assert_eq!(persons, 0.0, "{source} in {}", pair[1].year);
            }
        }
    }
    let first = national_row(&sim.records[0], sim.persons_per_member).urbanization_rate_pct;
    let last = national_row(sim.records.last().unwrap(), sim.persons_per_member).urbanization_rate_pct;
    assert!((last - first).abs() < 0.6, "demography alone moved the rate {first} → {last}");
}

/// The base year matches each province's official population and urbanization rate where
/// `data/provinces.csv` has them (end-2023 forward, census 2020 for the backcast).
#[test]
fn the_base_year_matches_the_official_provincial_rates() {
    let geo = Geography::embedded();
    for (year, population, urbanization, hukou) in
        [(2023, 1_409_670_000.0, 66.16, 48.3), (2020, 1_412_120_000.0, 63.89, 45.4)]
    {
        let mut scenario = Scenario::default();
        scenario.run.households = 2_000_000;
        scenario.initial.year = year;
        scenario.initial.population = population;
        scenario.initial.urbanization_rate_pct = urbanization;
        scenario.initial.hukou_urbanization_rate_pct = hukou;
        scenario.run.first_year = year + 1;
        scenario.run.last_year = year + 1;
        let plan = Plan::from_scenario(scenario, geo).unwrap();
        let sim = Simulation::new(geo, plan);
        let figures = migrasim::population::province_figures(geo, year);
        let rates = migrasim::report::province_urbanization_pct(geo, &sim.records[0]);
        let errors: Vec<f64> =
            figures.iter().zip(rates).filter_map(|(f, rate)| Some((rate - f.urbanization_rate_pct?).abs())).collect();
        let mae = errors.iter().sum::<f64>() / errors.len() as f64;
        assert!(errors.len() >= 27, "{year}: {} provinces with data", errors.len());
        assert!(mae < 0.15, "{year}: provincial MAE {mae:.3} pp");
    }
}

/// The region tables partition what they claim to: the potential regions plus the units outside
/// them add up to the nation, and each metropolitan area's whole is its core plus its members.
#[test]
fn region_tables_add_up() {
    let sim = simulate(50_000, 11);
    let tables = migrasim::report::run_tables(&sim);
    let table = |name: &str| -> Vec<csv::StringRecord> {
        let text = &tables.iter().find(|(n, _)| *n == name).expect(name).1;
        csv::Reader::from_reader(text.as_bytes()).records().map(Result::unwrap).collect()
    };
    // Flows are empty in the base-year row (nothing has happened yet): they add up as 0.
    let number = |r: &csv::StringRecord, i: usize| -> f64 { if r[i].is_empty() { 0.0 } else { r[i].parse().unwrap() } };
    let national = table("national.csv");
    let regions = table("potential_regions.csv");
    assert_eq!(regions.len(), national.len() * 8, "7 regions + outside, every year");
    for (row, year) in national.iter().zip(sim.records.iter().map(|r| r.year)) {
        let in_year: Vec<_> = regions.iter().filter(|r| r[0] == *year.to_string()).collect();
        let population: f64 = in_year.iter().map(|r| number(r, 3)).sum();
        let units: f64 = in_year.iter().map(|r| number(r, 2)).sum();
        assert_eq!(units as usize, Geography::embedded().len());
        // Each cell is rounded to a person: the sum is within one person per row.
        assert!((population - number(row, 1)).abs() <= 8.0, "{year}: {population} vs {}", &row[1]);
    }
    let metros = table("metro_areas.csv");
    assert!(!metros.is_empty());
    for group in metros.chunks(3) {
        assert_eq!((&group[0][2], &group[1][2], &group[2][2]), ("core", "members", "whole"));
        for column in [3, 4, 9, 10] {
            let parts = number(&group[0], column) + number(&group[1], column);
            assert!((parts - number(&group[2], column)).abs() <= 2.0, "{:?}", group);
        }
    }
}

/// A rule that phases in acts from its year: insurance years required of every regime dropped
/// from 30 (no one qualifies) to 0 in 2026 leaves 2024–2025 as under the strict rule and raises
/// settlements from 2026.
#[test]
fn eligibility_rules_phase_in_by_year() {
    let geo = Geography::embedded();
    let run = |table: migrasim::scenario::YearValue| {
        let mut scenario = Scenario { name: "phase-in".into(), ..Scenario::default() };
        scenario.run.households = 50_000;
        for regime in [&mut scenario.settlement.open, &mut scenario.settlement.relaxed, &mut scenario.settlement.points]
        {
            regime.min_insurance_years = table.clone();
            regime.education_exemption = None;
        }
        let mut sim = Simulation::new(geo, Plan::from_scenario(scenario, geo).unwrap());
        sim.run(|_| {});
        sim.records.iter().map(|r| (r.year, r.units.iter().map(|u| u.settlements).sum::<u64>())).collect::<Vec<_>>()
    };
    let strict = run(30.0.into());
    let phased =
        run(migrasim::scenario::YearValue::Table([(2024, 30.0), (2025, 30.0), (2026, 0.0)].into_iter().collect()));
    for ((year, s), (_, p)) in strict.iter().zip(&phased) {
        if *year <= 2025 {
            assert_eq!(s, p, "{year}: the rule has not changed yet");
        } else {
            assert!(p > s, "{year}: {p} settlements vs {s} under the strict rule");
        }
    }
}

/// A regime override with a year applies from that year: Shenzhen (points) opened from 2026 keeps
/// the points rules, quota and settlements of the unchanged run through 2025, then is open.
#[test]
fn regime_overrides_apply_from_their_year() {
    let geo = Geography::embedded();
    let shenzhen = geo.units.iter().position(|u| u.code == 440300).unwrap();
    let run = |setting: Option<migrasim::scenario::RegimeSetting>| {
        let mut scenario = Scenario { name: "regime-from".into(), ..Scenario::default() };
        scenario.run.households = 100_000;
        if let Some(setting) = setting {
            scenario.settlement.regime_overrides.insert("440300".into(), setting);
        }
        let mut sim = Simulation::new(geo, Plan::from_scenario(scenario, geo).unwrap());
        sim.run(|_| {});
        sim.records
    };
    use migrasim::scenario::{Regime, RegimeSetting};
    let unchanged = run(None);
    let opened = run(Some(RegimeSetting::From([(2026, Regime::Open)].into_iter().collect())));
    for (a, b) in unchanged.iter().zip(&opened) {
        assert_eq!(a.cities[shenzhen].regime, Regime::Points);
        if b.year < 2026 {
            assert_eq!(b.cities[shenzhen].regime, Regime::Points, "{}", b.year);
            assert_eq!(a.units[shenzhen].settlements, b.units[shenzhen].settlements, "{}", b.year);
        } else {
            assert_eq!(b.cities[shenzhen].regime, Regime::Open, "{}", b.year);
        }
    }
    let total = |records: &[migrasim::engine::YearRecord]| -> u64 {
        records.iter().map(|r| r.units[shenzhen].settlements).sum()
    };
    assert!(total(&opened) > total(&unchanged), "opening Shenzhen raises its settlements");
}

/// The baseline's citizenization cost per settled person, every simulated year, lies within the
/// published yearly estimates (11,511 yuan: Wang & Hu 2016; 16,859 yuan: 杜帼男 & 蔡继明 2014;
/// `docs/scenarios.md` §2.12a), the reward fund is shared out in full, and land follows the
/// settlers.
#[test]
fn citizenization_cost_per_settled_person_lies_within_the_published_range() {
    let geo = Geography::embedded();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut scenario = migrasim::scenario::load(&root.join("baseline.toml")).unwrap().scenario;
    scenario.run.households = 200_000;
    let plan = Plan::from_scenario(scenario, geo).unwrap();
    let runs = migrasim::ensemble::run_replicates(geo, &plan, &[plan.scenario.run.seed], |_, _| {});
    let tables = migrasim::report::tables(&migrasim::report::RunTables::of(geo, &plan, &runs[0]));
    let (_, text) =
        tables.iter().find(|(name, _)| *name == "fiscal_provinces.csv").expect("fiscal_provinces.csv is written");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (year, settled, cost, reward, land) = (
        col("year"),
        col("settled_persons"),
        col("cost_total_yuan"),
        col("reward_fund_yuan"),
        col("construction_land_ha"),
    );
    let mut by_year: std::collections::BTreeMap<String, [f64; 4]> = Default::default();
    for line in lines {
        // Province names may be quoted with commas; the numeric tail is what matters.
        let fields: Vec<&str> = line.split(',').collect();
        let shift = fields.len() - header.len();
        // Base-year flows are empty: none happened.
        let value = |i: usize| -> f64 {
            let v = fields[i + if i > 0 { shift } else { 0 }];
            if v.is_empty() { 0.0 } else { v.parse().unwrap() }
        };
        let entry = by_year.entry(fields[year].to_string()).or_default();
        entry[0] += value(settled);
        entry[1] += value(cost);
        entry[2] += value(reward);
        entry[3] += value(land);
    }
    let simulated: Vec<_> = by_year.iter().filter(|(_, v)| v[0] > 0.0).collect();
    assert_eq!(simulated.len(), 6, "six simulated years with settlements");
    for (year, [persons, cost, reward, land]) in simulated {
        let per_person = cost / persons;
        eprintln!("{year}: {persons:.0} settled, {per_person:.0} yuan each, {land:.0} ha");
        assert!((11_511.0..=16_859.0).contains(&per_person), "{year}: {per_person:.0} yuan per settled person");
        // The whole fund is shared out each year (rounding: under a yuan per province).
        assert!((reward - 40.0e9).abs() < 31.0, "{year}: {reward} yuan shared out");
        assert!(*land > 0.0 && land / persons * 10_000.0 < 100.0 + 1e-9);
    }
}

/// The reward fund's allocation rule: weighing cross-province settlers more moves money toward the
/// provinces whose settlers come most from other provinces, and away from those whose come least.
#[test]
fn reward_fund_follows_cross_province_settlers_by_their_weight() {
    let geo = Geography::embedded();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let shares = |weight: f64| -> Vec<(f64, f64)> {
        let mut scenario = migrasim::scenario::load(&root.join("baseline.toml")).unwrap().scenario;
        scenario.run.households = 200_000;
        scenario.fiscal.reward.cross_province_weight = weight;
        let plan = Plan::from_scenario(scenario, geo).unwrap();
        let runs = migrasim::ensemble::run_replicates(geo, &plan, &[plan.scenario.run.seed], |_, _| {});
        let tables = migrasim::report::tables(&migrasim::report::RunTables::of(geo, &plan, &runs[0]));
        let text = &tables.iter().find(|(name, _)| *name == "fiscal_provinces.csv").unwrap().1;
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (settled, cross, reward) = (col("settled_persons"), col("settled_cross_province"), col("reward_fund_yuan"));
        // Per province over the run: (cross-province share of settlers, share of the fund).
        let mut sums = vec![[0.0f64; 3]; geo.provinces.len()];
        for (i, line) in lines.enumerate() {
            let fields: Vec<&str> = line.split(',').collect();
            let shift = fields.len() - header.len();
            let value = |c: usize| -> f64 {
                let v = fields[c + shift];
                if v.is_empty() { 0.0 } else { v.parse().unwrap() }
            };
            let p = i % geo.provinces.len();
            sums[p][0] += value(settled);
            sums[p][1] += value(cross);
            sums[p][2] += value(reward);
        }
        let fund: f64 = sums.iter().map(|s| s[2]).sum();
        sums.iter().map(|s| (s[1] / s[0].max(1.0), s[2] / fund)).collect()
    };
    let (even, weighted) = (shares(1.0), shares(3.0));
    let big: Vec<usize> = (0..even.len()).filter(|&p| even[p].1 > 0.01).collect();
    let most = *big.iter().max_by(|&&a, &&b| even[a].0.total_cmp(&even[b].0)).unwrap();
    let least = *big.iter().min_by(|&&a, &&b| even[a].0.total_cmp(&even[b].0)).unwrap();
    eprintln!(
        "most cross-province: {} ({:.0}%): {:.2}% -> {:.2}%; least: {} ({:.0}%): {:.2}% -> {:.2}%",
        geo.provinces[most].name_en,
        100.0 * even[most].0,
        100.0 * even[most].1,
        100.0 * weighted[most].1,
        geo.provinces[least].name_en,
        100.0 * even[least].0,
        100.0 * even[least].1,
        100.0 * weighted[least].1
    );
    assert!(even[most].0 > even[least].0);
    assert!(weighted[most].1 > even[most].1);
    assert!(weighted[least].1 < even[least].1);
}
