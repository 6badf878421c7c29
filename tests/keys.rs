//! Every scenario key documented in `docs/scenarios.md` is read by the simulation: changing it
//! (to another valid value) changes the output tables. A documented key without effect fails.

use migrasim::engine::{Plan, Simulation};
use migrasim::geo::Geography;
use migrasim::report::run_tables;
use migrasim::scenario::{self, Scenario};
use rayon::prelude::*;
use toml::Value;

const DOCS: &str = include_str!("../docs/scenarios.md");

/// Dotted keys from the tables of section 2 ("Keys") of the scenario reference.
fn documented_keys() -> Vec<String> {
    let mut keys = Vec::new();
    let mut in_keys = false;
    let mut sections: Vec<String> = Vec::new();
    for line in DOCS.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            in_keys = heading.starts_with("2.");
            continue;
        }
        if !in_keys {
            continue;
        }
        if line.starts_with("### ") {
            sections = line
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|s| s.starts_with('[') && s.ends_with(']'))
                .map(|s| s.trim_matches(|c| c == '[' || c == ']').to_string())
                .collect();
            continue;
        }
        if let Some(rest) = line.strip_prefix("| `") {
            let key = rest.split('`').next().unwrap_or("");
            for section in &sections {
                keys.push(format!("{section}.{key}"));
            }
        }
    }
    keys
}

fn base_table() -> toml::Table {
    let mut s = Scenario { name: "keys".into(), ..Scenario::default() };
    s.run.households = 6_000;
    s.run.last_year = 2026;
    toml::from_str(&s.to_toml()).unwrap()
}

fn get<'a>(table: &'a toml::Table, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let value = table.get(*first)?;
    if rest.is_empty() { Some(value) } else { get(value.as_table()?, rest) }
}

fn set(table: &mut toml::Table, path: &[&str], value: Value) {
    let (first, rest) = path.split_first().unwrap();
    if rest.is_empty() {
        table.insert(first.to_string(), value);
    } else {
        let entry = table.entry(first.to_string()).or_insert_with(|| Value::Table(toml::Table::new()));
        set(entry.as_table_mut().unwrap(), rest, value);
    }
}

/// Settings some keys need before they can matter at all (e.g. `no_quota_from` needs a quota),
/// applied to both runs of the comparison.
fn context(key: &str) -> Vec<(&'static str, Value)> {
    if key.ends_with(".no_quota_from") {
        let regime = key.split('.').nth(1).unwrap_or("open");
        let path: &'static str = match regime {
            "open" => "settlement.open.annual_quota_pct",
            "relaxed" => "settlement.relaxed.annual_quota_pct",
            _ => "settlement.points.annual_quota_pct",
        };
        return vec![(path, Value::Float(1.0))];
    }
    if key.ends_with(".education_exemption") || key.ends_with(".home_purchase") {
        let section = key.trim_end_matches(".education_exemption").trim_end_matches(".home_purchase");
        let paths: [&'static str; 2] = match section {
            "settlement.open" => ["settlement.open.min_residence_years", "settlement.open.min_insurance_years"],
            "settlement.relaxed" => {
                ["settlement.relaxed.min_residence_years", "settlement.relaxed.min_insurance_years"]
            }
            _ => ["settlement.points.min_residence_years", "settlement.points.min_insurance_years"],
        };
        return paths.into_iter().map(|p| (p, Value::Integer(6))).collect();
    }
    if key == "potential_regions.members" {
        return vec![
            ("potential_regions.job_boost_pct", Value::Float(3.0)),
            ("potential_regions.county_town_pct", Value::Float(0.5)),
        ];
    }
    if key == "metro_areas.members" || key == "metro_areas.commute_cost" {
        return vec![
            ("metro_areas.commute_share", Value::Float(0.3)),
            ("metro_areas.job_relocation_pct", Value::Float(2.0)),
        ];
    }
    if key == "renewal.min_urban_district" {
        return vec![
            ("renewal.cheap_housing_removed_pct", Value::Float(2.0)),
            ("renewal.amenity_per_year", Value::Float(0.05)),
        ];
    }
    if key == "housing.affordable_discount" || key == "housing.affordable_access" {
        // Destination draws keep common random numbers: a lever whose effect on utilities is
        // small moves no household of a small population, so give it a stock that matters.
        return vec![("housing.affordable_units_per_year", Value::Float(30_000_000.0))];
    }
    if key == "settlement.points.min_residence_years" {
        // Points cities are few: willing applicants and a quota that admits them make the
        // residence condition bind on a small population.
        return vec![
            ("settlement.willingness.base", Value::Float(0.0)),
            ("settlement.points.annual_quota_pct", Value::Float(3.0)),
        ];
    }
    if key == "social_insurance.portable" {
        // Portability matters to households that move between cities where insurance years
        // are a condition of settling.
        return vec![
            ("behaviour.reconsider_urban_pct", Value::Float(30.0)),
            ("settlement.open.min_insurance_years", Value::Integer(3)),
            ("settlement.willingness.base", Value::Float(0.0)),
        ];
    }
    if key == "settlement.points.annual_quota_pct" {
        // The quota binds only if some of the points cities' few simulated households apply:
        // willing applicants without the local-insurance condition.
        return vec![
            ("settlement.willingness.base", Value::Float(0.0)),
            ("settlement.points.min_insurance_years", Value::Integer(0)),
        ];
    }
    if key == "behaviour.tenant_stay" {
        // The tie acts on affordable tenants who reconsider where they live: give a small
        // population enough of both.
        return vec![
            ("housing.affordable_units_per_year", Value::Float(30_000_000.0)),
            ("behaviour.reconsider_urban_pct", Value::Float(30.0)),
        ];
    }
    if key == "settlement.willingness.land_surrender" {
        return vec![("settlement.land_surrender_required", Value::Boolean(true))];
    }
    if key == "settlement.quota_overrides" {
        // Beijing's quota binds only if some of its few simulated households apply: willing
        // applicants without the local-insurance condition.
        return vec![
            ("settlement.willingness.base", Value::Float(0.0)),
            ("settlement.points.min_insurance_years", Value::Integer(0)),
            ("settlement.points_formula.cutoff", Value::Float(0.0)),
        ];
    }
    if key.starts_with("settlement.points_formula.") {
        // Scores matter for eligibility and for ranking when the quota binds.
        return vec![
            ("settlement.willingness.base", Value::Float(0.0)),
            ("settlement.points.annual_quota_pct", Value::Float(3.0)),
        ];
    }
    Vec::new()
}

/// The key that must change with a year key, and its offset: `run.first_year` is always
/// `initial.year + 1`.
fn coupled_year(key: &str) -> Option<(Vec<&'static str>, i64)> {
    match key {
        "run.first_year" => Some((vec!["initial", "year"], -1)),
        "initial.year" => Some((vec!["run", "first_year"], 1)),
        _ => None,
    }
}

/// Other values to try for a key, in order; the first that validates is used. Large changes
/// first, so an effect shows even on a small population.
fn candidates(leaf: &str, current: Option<&Value>) -> Vec<Value> {
    let scaled = |f: f64| vec![f * 4.0 + 1.0, f * 1.5 + 0.05, f * 0.5, f + 1.0, f - 0.5, 0.0, 1.0];
    if matches!(leaf, "min_residence_years" | "min_insurance_years") {
        // Whole years (a year table of them); fractional trials would be refused.
        return [3.0, 6.0, 10.0].into_iter().map(Value::Float).collect();
    }
    match current {
        Some(Value::Integer(i)) => [i + 3, i * 2 + 1, i + 1, i - 1].into_iter().map(Value::Integer).collect(),
        Some(Value::Float(f)) => scaled(*f).into_iter().map(Value::Float).collect(),
        Some(Value::Boolean(b)) => vec![Value::Boolean(!b)],
        // Arrays (values by education level): the top level much larger, every level higher,
        // or every level lower.
        Some(Value::Array(items)) => {
            let numbers: Vec<f64> =
                items.iter().filter_map(|v| v.as_float().or(v.as_integer().map(|i| i as f64))).collect();
            let last = numbers.len().saturating_sub(1);
            let array = |f: &dyn Fn(usize, f64) -> f64| {
                Value::Array(numbers.iter().enumerate().map(|(i, x)| Value::Float(f(i, *x))).collect())
            };
            vec![
                array(&|i, x| if i == last { x * 2.0 + 0.05 } else { x }),
                array(&|_, x| x + 20.0),
                array(&|_, x| x * 0.5),
            ]
        }
        Some(Value::Table(map)) if leaf == "members" => {
            let mut emptied = map.clone();
            if let Some(first) = map.keys().next() {
                emptied.insert(first.clone(), Value::Array(Vec::new()));
            }
            vec![Value::Table(emptied)]
        }
        _ => match leaf {
            "regime_overrides" => vec![toml::from_str("Shenzhen = \"open\"").map(Value::Table).unwrap()],
            "quota_overrides" => vec![toml::from_str("Beijing = 5.0").map(Value::Table).unwrap()],
            "province_destination_shift" => vec![toml::from_str("44 = -3.0\n62 = 3.0").map(Value::Table).unwrap()],
            "unit_destination_shift" => {
                vec![toml::from_str("\"440300\" = -3.0\n\"620100\" = 3.0").map(Value::Table).unwrap()]
            }
            "province_urban_outflow_pct" => vec![toml::from_str("23 = 5.0\n62 = 5.0").map(Value::Table).unwrap()],
            "annual_quota_pct" => vec![Value::Float(2.0)],
            "no_quota_from" => vec![Value::Integer(2025)],
            "education_exemption" => vec![Value::String("junior".into())],
            _ => Vec::new(),
        },
    }
}

fn outputs(text: &str) -> Option<Vec<(&'static str, String)>> {
    let geo = Geography::embedded();
    let scenario = scenario::from_str("keys", text).ok()?;
    let plan = Plan::from_scenario(scenario, geo).ok()?;
    let mut sim = Simulation::new(geo, plan);
    sim.run(|_| {});
    Some(run_tables(&sim))
}

#[test]
fn the_reference_documents_the_main_sections() {
    let keys = documented_keys();
    for key in [
        "run.households",
        "settlement.points.annual_quota_pct",
        "settlement.points_formula.cutoff",
        "services.nonhukou_share",
        "potential_regions.members",
        "metro_areas.commute_share",
        "renewal.cheap_housing_removed_pct",
        "behaviour.stay_bonus",
    ] {
        assert!(keys.contains(&key.to_string()), "docs/scenarios.md lacks `{key}`");
    }
}

#[test]
fn every_scenario_key_is_documented() {
    let documented = documented_keys();
    let mut missing = Vec::new();
    fn walk(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            match value {
                Value::Table(t)
                    if !path.ends_with("members")
                        && !path.ends_with("overrides")
                        && t.keys().all(|k| k.parse::<i32>().is_err())
                        && !t.is_empty() =>
                {
                    walk(&path, t, out)
                }
                _ => out.push(path),
            }
        }
    }
    let mut all = Vec::new();
    walk("", &base_table(), &mut all);
    for key in all {
        if key == "name" || key == "description" {
            continue;
        }
        if !documented.contains(&key) {
            missing.push(key);
        }
    }
    assert!(missing.is_empty(), "keys missing from docs/scenarios.md: {missing:?}");
}

#[test]
fn every_documented_key_changes_the_outputs() {
    let base_text = toml::to_string(&base_table()).unwrap();
    let base = outputs(&base_text).expect("base scenario runs");
    let keys = documented_keys();
    assert!(keys.len() > 60, "only {} keys parsed from the docs", keys.len());
    let failures: Vec<String> = keys
        .par_iter()
        .filter_map(|key| {
            let path: Vec<&str> = key.split('.').collect();
            let mut table = base_table();
            for (setting, value) in context(key) {
                set(&mut table, &setting.split('.').collect::<Vec<_>>(), value);
            }
            let reference = if context(key).is_empty() {
                base.clone()
            } else {
                outputs(&toml::to_string(&table).unwrap()).expect("context scenario runs")
            };
            let current = get(&table, &path);
            let mut tried = Vec::new();
            for candidate in candidates(path.last().unwrap(), current) {
                let mut changed = table.clone();
                set(&mut changed, &path, candidate.clone());
                // A run starts the year after its initial state: the two keys move together.
                if let (Some(partner), Some(year)) = (coupled_year(key), candidate.as_integer()) {
                    set(&mut changed, &partner.0, Value::Integer(year + partner.1));
                }
                let text = toml::to_string(&changed).unwrap();
                if let Some(out) = outputs(&text) {
                    if out != reference {
                        return None;
                    }
                    tried.push(candidate.to_string());
                }
            }
            Some(format!("{key}: no effect with any of {tried:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "documented keys without effect: {failures:?}");
}
