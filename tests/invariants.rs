//! Invariants of the simulation, checked on small populations: persons are conserved apart from
//! births and deaths, rates stay within [0, 100], every household lives in a valid unit, and the
//! base year matches the official rates at a realistic size.

use migrasim::engine::{Plan, Simulation};
use migrasim::geo::Geography;
use migrasim::household::{Household, flags};
use migrasim::report::national_row;
use migrasim::scenario::Scenario;
use proptest::prelude::*;

fn simulate(households: u64, seed: u64) -> Simulation<'static> {
    let geo = Geography::embedded();
    let mut scenario = Scenario {
        name: "invariants".into(),
        ..Scenario::default()
    };
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
        let total = |r: &migrasim::engine::YearRecord| -> u64 {
            r.units.iter().map(|u| u.population()).sum()
        };
        assert_eq!(
            total(after),
            total(before) + after.national.births - after.national.deaths,
            "persons conserved apart from births and deaths in {}",
            after.year
        );
    }
    for record in &sim.records {
        let row = national_row(record, sim.persons_per_member);
        for rate in [
            row.urbanization_rate_pct,
            row.hukou_urbanization_rate_pct,
            row.public_school_share_pct,
        ] {
            assert!(
                (0.0..=100.0).contains(&rate),
                "rate {rate} in {}",
                record.year
            );
        }
        assert!(row.hukou_urbanization_rate_pct <= row.urbanization_rate_pct + 1e-9);
    }
    for h in &sim.households {
        assert!(usize::from(h.res_unit) < geo.len());
        assert!(usize::from(h.hukou_unit) < geo.len());
        assert!(usize::from(h.origin_unit) < geo.len());
        assert!(!h.has(flags::APPLIED), "no application survives the year");
        if h.has(flags::HUKOU_URBAN) && h.has(flags::RES_URBAN) && h.hukou_unit == h.res_unit {
            assert_eq!(
                h.children_left, 0,
                "settled households brought their children"
            );
        }
        if !h.has(flags::RES_URBAN) {
            assert_eq!(h.left_behind(), 0, "rural households are together");
            assert_eq!(
                h.res_unit, h.hukou_unit,
                "rural households live at their hukou place"
            );
        }
    }
}

#[test]
fn hot_state_is_16_bytes_per_household() {
    assert_eq!(std::mem::size_of::<Household>(), 16);
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
    assert!(
        (row.hukou_urbanization_rate_pct - 48.3).abs() < 0.1,
        "{row:?}"
    );
}

#[test]
fn births_and_deaths_follow_the_crude_rates() {
    let sim = simulate(60_000, 11);
    let first = national_row(&sim.records[1], sim.persons_per_member);
    // 2023 rates: 6.39 and 7.87 per mille of ~1,410M; sampling noise at this size is a few %.
    assert!(
        (first.births / 9.0e6 - 1.0).abs() < 0.1,
        "births {}",
        first.births
    );
    assert!(
        (first.deaths / 11.1e6 - 1.0).abs() < 0.1,
        "deaths {}",
        first.deaths
    );
}

/// The most extreme accepted demography over the longest accepted horizon: births at the top of
/// their range, no deaths, the fastest ageing, every migrant child left behind, fast moves and
/// reunification. No person may be lost (member counts were once capped at 12 per role).
#[test]
fn persons_are_conserved_at_extreme_accepted_values_over_the_longest_horizon() {
    use migrasim::scenario::{MAX_BIRTH_RATE_PERMILLE, MAX_SIMULATED_YEARS, YearValue};
    let geo = Geography::embedded();
    for (birth, death, ageing) in [
        (MAX_BIRTH_RATE_PERMILLE, 0.0, 20.0),
        (MAX_BIRTH_RATE_PERMILLE, 50.0, 0.0),
        (0.0, 0.0, 20.0),
    ] {
        let mut scenario = Scenario {
            name: "extreme".into(),
            ..Scenario::default()
        };
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
        scenario.behaviour.rural_urban_move_rate_pct = 50.0;
        let mut sim = Simulation::new(geo, Plan::from_scenario(scenario, geo).unwrap());
        sim.run(|_| {});
        assert_eq!(sim.records.len(), MAX_SIMULATED_YEARS as usize + 1);
        check_invariants(&sim);
    }
}

/// Large households keep every member: children who grow up and adults who turn 65 are never
/// dropped when a role already counts many (counts were once capped at 12 per role).
#[test]
fn large_households_lose_no_member() {
    let geo = Geography::embedded();
    let mut scenario = Scenario {
        name: "large".into(),
        ..Scenario::default()
    };
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
    let total =
        |r: &migrasim::engine::YearRecord| -> u64 { r.units.iter().map(|u| u.population()).sum() };
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
