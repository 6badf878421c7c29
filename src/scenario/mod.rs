//! Scenario files: the TOML schema, `extends` resolution, year tables and range checks.
//!
//! TOML types stay in this module. Everything else receives a validated [`Scenario`] whose values
//! are in range, so the engine never has to fail on input. Defaults here are the calibrated or
//! cited values documented in `docs/scenarios.md`; scenario files state policy on top of them.

mod checks;
mod load;
mod sections;
mod year_value;

pub use checks::*;
pub use load::*;
pub use sections::*;
pub use year_value::{PlaceValue, YearValue};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// `:line:column` of a parse error, or nothing when the parser gave no position.
fn at_line(line: usize, column: usize) -> String {
    if line == 0 { String::new() } else { format!(":{line}:{column}") }
}

/// Everything that can be wrong with a scenario file; every variant is the user's to fix (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read scenario file: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}{}: {message}", at_line(*line, *column))]
    Parse { path: String, line: usize, column: usize, message: String },
    #[error("{path}: `extends` cycle: {chain}")]
    Cycle { path: String, chain: String },
    #[error("{location}: `{key}` = {value} is out of range; allowed: {allowed}")]
    Range { location: String, key: String, value: String, allowed: String },
    #[error("{location}: `{key}`: {message}")]
    Invalid { location: String, key: String, message: String },
}

impl Scenario {
    /// The scenario as resolved TOML (what `validate` prints and the manifest records).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a scenario always serializes")
    }

    /// SHA-256 of the resolved TOML: two runs with the same hash simulate the same inputs.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.to_toml().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Years simulated, in order.
    pub fn years(&self) -> std::ops::RangeInclusive<i32> {
        self.run.first_year..=self.run.last_year
    }

    pub fn base_year(&self) -> i32 {
        self.run.first_year - 1
    }

    pub fn rules(&self, regime: Regime) -> &RegimeRules {
        match regime {
            Regime::Open => &self.settlement.open,
            Regime::Relaxed => &self.settlement.relaxed,
            Regime::Points => &self.settlement.points,
        }
    }

    /// Settlement quota in `year` as a fraction of non-hukou residents; `None` = unlimited.
    pub fn quota_fraction(&self, regime: Regime, year: i32) -> Option<f64> {
        let rules = self.rules(regime);
        if rules.no_quota_from.is_some_and(|from| year >= from) {
            return None;
        }
        rules.annual_quota_pct.as_ref().map(|q| q.at(year) / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let s = from_str("t", "").unwrap();
        assert_eq!(s.run.first_year, 2024);
        assert_eq!(s.quota_fraction(Regime::Open, 2025), None);
        assert_eq!(s.quota_fraction(Regime::Points, 2025), Some(0.005));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = from_str("t.toml", "[run]\nhouseholds = 5000\nsede = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("t.toml:3:"), "{text}");
        assert!(text.contains("sede"), "{text}");
        assert!(text.contains("seed"), "lists allowed keys: {text}");
    }

    #[test]
    fn out_of_range_names_key_line_and_allowed_values() {
        let err = from_str("t.toml", "[services]\nreunify_rate_pct = 140\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("t.toml:2"), "{text}");
        assert!(text.contains("services.reunify_rate_pct"), "{text}");
        assert!(text.contains("0 ..= 100"), "{text}");
    }

    #[test]
    fn quota_can_end_in_a_given_year() {
        let s =
            from_str("t", "[settlement.points]\nannual_quota_pct = { 2024 = 0.5, 2026 = 1.5 }\nno_quota_from = 2027\n")
                .unwrap();
        assert_eq!(s.quota_fraction(Regime::Points, 2025), Some(0.01));
        assert_eq!(s.quota_fraction(Regime::Points, 2027), None);
    }

    #[test]
    fn a_partial_section_keeps_that_sections_defaults() {
        let s = from_str("t", "[settlement.points]\nno_quota_from = 2026\n").unwrap();
        assert_eq!(s.settlement.points.min_insurance_years, YearValue::Constant(5.0));
        assert_eq!(s.quota_fraction(Regime::Points, 2025), Some(0.005));
        assert_eq!(s.quota_fraction(Regime::Points, 2026), None);
        let s = from_str("t", "[potential_regions.members]\n\"North Anhui\" = []\n").unwrap();
        assert_eq!(s.potential_regions.members.len(), 7, "other regions stay");
        assert!(s.potential_regions.members["North Anhui"].is_empty());
    }

    #[test]
    fn resolved_toml_round_trips() {
        let s = from_str("t", "[jobs]\ngrowth_pct = { 2024 = 1.0, 2029 = 2.0 }\n").unwrap();
        let back = from_str("t", &s.to_toml()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.hash(), s.hash());
    }
}
