//! The range checks of a resolved scenario: every numeric key against its allowed range and
//! every label and place against what exists, each failure naming where the key was set.

use super::*;

/// Range checks on the merged scenario. Each failure names the file and line that set the key.
pub(super) fn validate(loaded: &LoadedScenario) -> Result<(), ScenarioError> {
    run_checks(loaded, None)
}

/// Range checks of a scenario built in code (goal seeking changes keys of a loaded one).
pub fn check(scenario: &Scenario) -> Result<(), ScenarioError> {
    let loaded = LoadedScenario { scenario: scenario.clone(), chain: Vec::new(), sets: Vec::new() };
    run_checks(&loaded, None)
}

/// The allowed range of every numeric key the range checks cover (a year or place table's key
/// once, for all its values), as `docs/scenarios.md` states them.
pub fn allowed_ranges(scenario: &Scenario) -> BTreeMap<String, (f64, f64)> {
    let loaded = LoadedScenario { scenario: scenario.clone(), chain: Vec::new(), sets: Vec::new() };
    let mut ranges = BTreeMap::new();
    let _ = run_checks(&loaded, Some(&mut ranges));
    ranges
}

/// Every section's checks in a fixed order: only the first failure is reported, so the order
/// decides which one a scenario with several mistakes is told about.
fn run_checks(loaded: &LoadedScenario, ranges: Option<&mut BTreeMap<String, (f64, f64)>>) -> Result<(), ScenarioError> {
    let s = &loaded.scenario;
    let mut checks = Checks { loaded, first: None, ranges };
    checks.text_labels(s);
    checks.run_years(s);
    checks.initial(&s.initial);
    checks.settlement(&s.settlement);
    checks.services(&s.services);
    checks.jobs(&s.jobs);
    checks.housing(&s.housing);
    checks.fiscal(s);
    checks.demography(s);
    checks.quotas_and_access(s);
    checks.regional_policies(s);
    checks.behaviour(&s.behaviour);
    match checks.first {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

struct Checks<'a> {
    loaded: &'a LoadedScenario,
    first: Option<ScenarioError>,
    /// Where to record every checked key's allowed range (for goal seeking).
    ranges: Option<&'a mut BTreeMap<String, (f64, f64)>>,
}

impl Checks<'_> {
    /// `initial.year`, the run's years and its household count.
    fn run_years(&mut self, s: &Scenario) {
        let r = &s.run;
        self.int("initial.year", f64::from(s.initial.year), 2020.0, 2029.0);
        self.int("run.first_year", r.first_year as f64, 2021.0, 2030.0);
        // The initial state is the end of one stated year: starting elsewhere would relabel it.
        let start_year = i64::from(s.initial.year) + 1;
        if i64::from(r.first_year) != start_year {
            self.fail_with(
                "run.first_year",
                r.first_year.to_string(),
                format!(
                    "{start_year} (the year after `initial.year` = {}); to start from another year, state that year's initial state: `initial.year`, `initial.population`, `initial.urbanization_rate_pct`, `initial.hukou_urbanization_rate_pct` (as scenarios/backcast-2020.toml does)",
                    s.initial.year
                ),
            );
        }
        // Households do not form new households, so births hold their target rate only while
        // the base year's young heads are 20–40: within 1.3% of target in every year of 12 at
        // both the default rate and 15 per mille (docs/model.md, "Horizon").
        let horizon_end = r.first_year.saturating_add(MAX_SIMULATED_YEARS - 1);
        if r.last_year < r.first_year || r.last_year > horizon_end {
            self.fail_with(
                "run.last_year",
                r.last_year.to_string(),
                format!(
                    "{} ..= {horizon_end} (run.first_year to {MAX_SIMULATED_YEARS} simulated years, as far as the demography holds)",
                    r.first_year
                ),
            );
        }
        self.int("run.households", r.households as f64, 1000.0, MAX_HOUSEHOLDS as f64);
    }

    fn initial(&mut self, i: &Initial) {
        self.num("initial.population", i.population, 1.0e6, 2.0e9);
        self.num("initial.urbanization_rate_pct", i.urbanization_rate_pct, 1.0, 99.0);
        self.num("initial.hukou_urbanization_rate_pct", i.hukou_urbanization_rate_pct, 1.0, 99.0);
        if i.hukou_urbanization_rate_pct > i.urbanization_rate_pct {
            self.fail_with(
                "initial.hukou_urbanization_rate_pct",
                i.hukou_urbanization_rate_pct.to_string(),
                format!("at most initial.urbanization_rate_pct ({})", i.urbanization_rate_pct),
            );
        }
        self.num("initial.rural_origin_share_cross_county", i.rural_origin_share_cross_county, 0.0, 1.0);
        self.year_value("initial.rural_origin_share_other_province", &i.rural_origin_share_other_province, 0.0, 1.0);
        self.num("initial.floating_share_same_county", i.floating_share_same_county, 0.0, 1.0);
        self.num("initial.left_behind_child_share", i.left_behind_child_share, 0.0, 1.0);
        self.num("initial.migrant_second_adult_share", i.migrant_second_adult_share, 0.0, 1.0);
        self.num("initial.origin_distance_decay", i.origin_distance_decay, 0.0, 4.0);
        self.num("initial.own_unit_distance_km", i.own_unit_distance_km, 1.0, 500.0);
    }

    /// Thresholds, the rules and quotas of each regime, the points formula and the willingness to settle.
    fn settlement(&mut self, st: &Settlement) {
        self.num("settlement.open_below_urban_district", st.open_below_urban_district, 0.0, 1.0e8);
        self.num("settlement.points_from_urban_district", st.points_from_urban_district, 0.0, 1.0e8);
        if st.points_from_urban_district < st.open_below_urban_district {
            // Name both keys and where each was set: either file may be the one to fix.
            self.fail_with(
                "settlement.points_from_urban_district",
                st.points_from_urban_district.to_string(),
                format!(
                    "at least `settlement.open_below_urban_district` = {} (set at {})",
                    st.open_below_urban_district,
                    self.loaded.locate("settlement.open_below_urban_district")
                ),
            );
        }
        for (name, rules) in [("open", &st.open), ("relaxed", &st.relaxed), ("points", &st.points)] {
            for (key, table) in [
                ("min_residence_years", &rules.min_residence_years),
                ("min_insurance_years", &rules.min_insurance_years),
            ] {
                for years in table.values() {
                    self.whole(&format!("settlement.{name}.{key}"), years, 0.0, 30.0);
                }
            }
            if let Some(quota) = &rules.annual_quota_pct {
                self.year_value(&format!("settlement.{name}.annual_quota_pct"), quota, 0.0, 100.0);
            }
            if let Some(year) = rules.no_quota_from {
                self.int(&format!("settlement.{name}.no_quota_from"), year as f64, 2000.0, 2100.0);
            }
        }
        self.points_formula(&st.points_formula);
        self.willingness(&st.willingness);
    }

    fn points_formula(&mut self, pf: &PointsFormula) {
        self.num("settlement.points_formula.per_insurance_year", pf.per_insurance_year, 0.0, 50.0);
        self.num("settlement.points_formula.per_residence_year", pf.per_residence_year, 0.0, 50.0);
        for (level, points) in pf.education.iter().enumerate() {
            self.num(&format!("settlement.points_formula.education[{level}]"), *points, 0.0, 200.0);
        }
        self.num("settlement.points_formula.age_under_45", pf.age_under_45, 0.0, 200.0);
        self.num("settlement.points_formula.cutoff", pf.cutoff, 0.0, 255.0);
    }

    fn willingness(&mut self, w: &Willingness) {
        for (key, value) in [
            ("base", w.base),
            ("service_gain", w.service_gain),
            ("with_children", w.with_children),
            ("owns_home", w.owns_home),
            ("land_surrender", w.land_surrender),
            ("in_situ", w.in_situ),
            ("insured", w.insured),
        ] {
            self.num(&format!("settlement.willingness.{key}"), value, -20.0, 20.0);
        }
        for (level, value) in w.education.iter().enumerate() {
            self.num(&format!("settlement.willingness.education[{level}]"), *value, -5.0, 5.0);
        }
        self.year_value("settlement.willingness.procedure_ease", &w.procedure_ease, -5.0, 5.0);
    }

    fn services(&mut self, sv: &Services) {
        self.place_value("services.nonhukou_share", &sv.nonhukou_share, 0.0, 1.0);
        self.num("services.per_residence_year", sv.per_residence_year, 0.0, 1.0);
        self.int("services.residence_years_counted", sv.residence_years_counted as f64, 0.0, 30.0);
        self.num("services.initial_public_school_share_pct", sv.initial_public_school_share_pct, 0.0, 100.0);
        self.place_value("services.school_seat_growth_pct", &sv.school_seat_growth_pct, -50.0, 100.0);
        self.year_value("services.place_response", &sv.place_response, 0.0, 1.0);
        self.num("services.reunify_rate_pct", sv.reunify_rate_pct, 0.0, 100.0);
    }

    fn jobs(&mut self, j: &Jobs) {
        self.place_value("jobs.growth_pct", &j.growth_pct, -20.0, 20.0);
        self.place_value("jobs.wage_growth_pct", &j.wage_growth_pct, -20.0, 30.0);
        self.year_value("jobs.rural_income_growth_pct", &j.rural_income_growth_pct, -20.0, 30.0);
        self.num("jobs.tightness_elasticity", j.tightness_elasticity, 0.0, 3.0);
        self.num("jobs.size_elasticity", j.size_elasticity, 0.0, 0.5);
        self.num("jobs.initial_employment_rate", j.initial_employment_rate, 0.5, 1.0);
        self.year_value("jobs.skill_upgrade_pct", &j.skill_upgrade_pct, 0.0, 20.0);
    }

    fn housing(&mut self, h: &Housing) {
        self.num("housing.size_elasticity", h.size_elasticity, 0.0, 2.0);
        self.num("housing.pressure_elasticity", h.pressure_elasticity, 0.0, 5.0);
        self.place_value("housing.affordable_units_per_year", &h.affordable_units_per_year, 0.0, 5.0e7);
        self.year_value("housing.purchase_pct", &h.purchase_pct, 0.0, 100.0);
        self.num("housing.initial_affordable_units", h.initial_affordable_units, 0.0, 1.0e8);
        self.num("housing.affordable_discount", h.affordable_discount, 0.0, 1.0);
    }

    /// Social insurance coverage and the fiscal link: per-settler needs, the reward fund, the costs.
    fn fiscal(&mut self, s: &Scenario) {
        self.year_value("social_insurance.coverage_pct", &s.social_insurance.coverage_pct, 0.0, 100.0);
        self.num("fiscal.seats_per_settled_child", s.fiscal.seats_per_settled_child, 0.0, 10.0);
        self.num("fiscal.units_per_settled_household", s.fiscal.units_per_settled_household, 0.0, 10.0);
        self.num("fiscal.land_m2_per_settled", s.fiscal.land_m2_per_settled, 0.0, 1000.0);
        let reward = &s.fiscal.reward;
        self.year_value("fiscal.reward.fund_yuan", &reward.fund_yuan, 0.0, 1.0e13);
        for (key, value, hi) in [
            ("cross_province_weight", reward.cross_province_weight, 10.0),
            ("same_unit_weight", reward.same_unit_weight, 10.0),
            ("earlier_years_weight", reward.earlier_years_weight, 1.0),
            ("fiscally_weak_weight", reward.fiscally_weak_weight, 10.0),
        ] {
            self.num(&format!("fiscal.reward.{key}"), value, 0.0, hi);
        }
        let cost = &s.fiscal.cost;
        for (key, value) in [
            ("education_per_pupil", cost.education_per_pupil),
            ("health_per_person", cost.health_per_person),
            ("social_insurance_per_person", cost.social_insurance_per_person),
            ("housing_per_person", cost.housing_per_person),
            ("infrastructure_per_person", cost.infrastructure_per_person),
        ] {
            self.num(&format!("fiscal.cost.{key}"), value, 0.0, 1.0e6);
        }
    }

    /// Births, deaths and ageing, and in-place urbanization.
    fn demography(&mut self, s: &Scenario) {
        let d = &s.demography;
        self.year_value("demography.birth_rate_permille", &d.birth_rate_permille, 0.0, MAX_BIRTH_RATE_PERMILLE);
        self.year_value("demography.death_rate_permille", &d.death_rate_permille, 0.0, 50.0);
        self.num("demography.elderly_mortality_ratio", d.elderly_mortality_ratio, 1.0, 200.0);
        self.num("demography.ageing_pct", d.ageing_pct, 0.0, 20.0);
        self.num("demography.urban_birth_rate_ratio", d.urban_birth_rate_ratio, 0.5, 2.0);
        self.year_value("in_place.rate_pct", &s.in_place.rate_pct, 0.0, 20.0);
    }

    /// Quota overrides, job finding and affordable-housing access: settlement, jobs and housing keys
    /// checked after the demography (see `run_checks` on why the order matters).
    fn quotas_and_access(&mut self, s: &Scenario) {
        let (st, j, h) = (&s.settlement, &s.jobs, &s.housing);
        for (unit, quota) in &st.quota_overrides {
            self.year_value(&format!("settlement.quota_overrides.{unit}"), quota, 0.0, 100.0);
        }
        self.year_value("jobs.nonhukou_job_finding", &j.nonhukou_job_finding, 0.1, 1.0);
        self.year_value("housing.affordable_access", &h.affordable_access, 0.0, 1.0);
        for (regime, weight) in [
            ("open", h.regime_weights.open),
            ("relaxed", h.regime_weights.relaxed),
            ("points", h.regime_weights.points),
        ] {
            self.num(&format!("housing.regime_weights.{regime}"), weight, 0.0, 100.0);
        }
    }

    /// Potential regions, metropolitan areas and urban renewal.
    fn regional_policies(&mut self, s: &Scenario) {
        let pr = &s.potential_regions;
        self.year_value("potential_regions.job_boost_pct", &pr.job_boost_pct, -10.0, 20.0);
        self.year_value("potential_regions.county_town_pct", &pr.county_town_pct, 0.0, 10.0);
        self.num("potential_regions.nearby_preference", pr.nearby_preference, -10.0, 10.0);
        let ma = &s.metro_areas;
        self.year_value("metro_areas.job_relocation_pct", &ma.job_relocation_pct, 0.0, 20.0);
        self.year_value("metro_areas.commute_share", &ma.commute_share, 0.0, 1.0);
        self.num("metro_areas.commute_cost", ma.commute_cost, 0.0, 1.0);
        let rn = &s.renewal;
        self.num("renewal.min_urban_district", rn.min_urban_district, 0.0, 1.0e8);
        self.year_value("renewal.cheap_housing_removed_pct", &rn.cheap_housing_removed_pct, 0.0, 20.0);
        self.num("renewal.amenity_per_year", rn.amenity_per_year, -2.0, 2.0);
    }

    fn behaviour(&mut self, b: &Behaviour) {
        for (key, value, lo, hi) in [
            ("beta_wage", b.beta_wage, 0.0, 20.0),
            ("beta_housing", b.beta_housing, 0.0, 20.0),
            ("beta_services", b.beta_services, 0.0, 20.0),
            ("beta_distance", b.beta_distance, 0.0, 20.0),
            ("beta_network", b.beta_network, 0.0, 20.0),
            ("beta_own_unit", b.beta_own_unit, -20.0, 20.0),
            ("beta_same_province", b.beta_same_province, -20.0, 20.0),
            ("stay_bonus", b.stay_bonus, 0.0, 20.0),
            ("insured_stay", b.insured_stay, -20.0, 20.0),
            ("tenant_stay", b.tenant_stay, -20.0, 20.0),
            ("owner_stay", b.owner_stay, -20.0, 20.0),
            ("reconsider_rural_pct", b.reconsider_rural_pct, 0.0, 100.0),
            ("reconsider_urban_pct", b.reconsider_urban_pct, 0.0, 100.0),
            ("inertia_half_life_years", b.inertia_half_life_years, 0.1, 100.0),
            ("left_behind_adult_follow_pct", b.left_behind_adult_follow_pct, 0.0, 100.0),
        ] {
            self.num(&format!("behaviour.{key}"), value, lo, hi);
        }
        for (province, shift) in &b.province_destination_shift {
            self.num(&format!("behaviour.province_destination_shift.{province}"), *shift, -10.0, 10.0);
        }
        for (province, rate) in &b.province_urban_outflow_pct {
            self.num(&format!("behaviour.province_urban_outflow_pct.{province}"), *rate, 0.0, 10.0);
        }
        for (unit, shift) in &b.unit_destination_shift {
            self.num(&format!("behaviour.unit_destination_shift.{unit}"), *shift, -10.0, 10.0);
        }
        self.year_value("behaviour.rural_urban_move_rate_pct", &b.rural_urban_move_rate_pct, 0.0, 50.0);
        for rate in b.rural_urban_move_rate_pct.values() {
            if rate > 0.0 && rate >= b.reconsider_rural_pct {
                self.fail_with(
                    "behaviour.rural_urban_move_rate_pct",
                    rate.to_string(),
                    format!(
                        "less than behaviour.reconsider_rural_pct ({}): only households weighing a move can move",
                        b.reconsider_rural_pct
                    ),
                );
            }
        }
        for (level, premium) in b.education_wage_premium.iter().enumerate() {
            self.num(&format!("behaviour.education_wage_premium[{level}]"), *premium, 0.1, 10.0);
        }
    }

    fn fail_with(&mut self, key: &str, value: String, allowed: String) {
        if self.first.is_none() {
            let base_key = key.split('[').next().unwrap_or(key);
            self.first = Some(ScenarioError::Range {
                location: self.loaded.locate(base_key),
                key: key.to_string(),
                value,
                allowed,
            });
        }
    }

    fn num(&mut self, key: &str, value: f64, lo: f64, hi: f64) {
        if let Some(ranges) = self.ranges.as_deref_mut() {
            ranges.insert(key.to_string(), (lo, hi));
        }
        if !(value.is_finite() && value >= lo && value <= hi) {
            self.fail_with(key, value.to_string(), format!("{lo} ..= {hi}"));
        }
    }

    /// A whole number in lo..=hi (years written in a year table).
    fn whole(&mut self, key: &str, value: f64, lo: f64, hi: f64) {
        if !(value >= lo && value <= hi && value.fract() == 0.0) {
            self.fail_with(key, format!("{value}"), format!("a whole number {lo:.0} ..= {hi:.0}"));
        }
    }

    fn int(&mut self, key: &str, value: f64, lo: f64, hi: f64) {
        if !(value >= lo && value <= hi) {
            self.fail_with(key, format!("{value:.0}"), format!("{lo:.0} ..= {hi:.0}"));
        }
    }

    /// Names that become paths are restricted; every text label is bounded, so no input can
    /// make a path escape its folder or a chart spend long on a label.
    fn text_labels(&mut self, s: &Scenario) {
        if !is_valid_name(&s.name) {
            self.fail_with(
                "name",
                format!("{:?}", shorten(&s.name)),
                format!(
                    "1–{MAX_NAME_CHARS} characters from letters, digits, `-`, `_` and `.`, not starting with `.` (it names the output folder)"
                ),
            );
        }
        if s.description.chars().count() > MAX_DESCRIPTION_CHARS {
            self.fail_with(
                "description",
                format!("a text of {} characters", s.description.chars().count()),
                format!("at most {MAX_DESCRIPTION_CHARS} characters"),
            );
        }
        let label_limit = format!("a label of 1–{MAX_LABEL_CHARS} characters");
        let bad_label = |l: &str| l.trim().is_empty() || l.chars().count() > MAX_LABEL_CHARS;
        for (section, members) in [
            ("potential_regions.members", &s.potential_regions.members),
            ("metro_areas.members", &s.metro_areas.members),
        ] {
            if members.len() > MAX_GROUPS {
                self.fail_with(section, format!("{} groups", members.len()), format!("at most {MAX_GROUPS} groups"));
            }
            for (group, units) in members {
                if bad_label(group) {
                    self.fail_with(section, format!("{:?}", shorten(group)), label_limit.clone());
                }
                if units.len() > MAX_GROUP_UNITS {
                    self.fail_with(
                        &format!("{section}.{}", shorten(group)),
                        format!("{} units", units.len()),
                        format!("at most {MAX_GROUP_UNITS} units"),
                    );
                }
                for unit in units {
                    if bad_label(unit) {
                        self.fail_with(
                            &format!("{section}.{}", shorten(group)),
                            format!("{:?}", shorten(unit)),
                            format!("a unit name or code of 1–{MAX_LABEL_CHARS} characters"),
                        );
                    }
                }
            }
        }
        for (section, keys) in [
            ("settlement.regime_overrides", s.settlement.regime_overrides.keys().collect::<Vec<_>>()),
            ("settlement.quota_overrides", s.settlement.quota_overrides.keys().collect()),
        ] {
            for unit in keys {
                if bad_label(unit) {
                    self.fail_with(
                        section,
                        format!("{:?}", shorten(unit)),
                        format!("a unit name or code of 1–{MAX_LABEL_CHARS} characters"),
                    );
                }
            }
        }
    }

    fn year_value(&mut self, key: &str, value: &YearValue, lo: f64, hi: f64) {
        for v in value.values() {
            self.num(key, v, lo, hi);
        }
    }

    fn place_value(&mut self, key: &str, value: &PlaceValue, lo: f64, hi: f64) {
        for v in value.values() {
            self.num(key, v, lo, hi);
        }
    }
}
