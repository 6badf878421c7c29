//! `columns.csv`, the codebook of an output folder: every column of every CSV table in it with
//! its unit and definition, so a table can be read and joined without the documentation
//! (`docs/model.md` §8 says more). Built from the headers of the tables actually written, so it
//! cannot drift from them; a column without an entry here is a test failure.

use std::path::Path;

/// (file, column, unit, definition). File `*` applies to every file that has no entry of its own
/// for the column; a file-specific entry wins.
const ENTRIES: &[(&str, &str, &str, &str)] = &[
    // Keys shared by many tables.
    (
        "*",
        "replicate",
        "index",
        "Run index (parameter set × replicate seed, set-major); present only with several runs",
    ),
    (
        "*",
        "year",
        "year",
        "Calendar year; the first is the base year (the synthesised state), whose flow columns are empty",
    ),
    (
        "*",
        "code",
        "code",
        "Prefecture-level unit: 2020 administrative division code (the 7th census's vintage); municipalities as a whole under their province code (Beijing 110000)",
    ),
    (
        "*",
        "code_city_tables",
        "code",
        "The unit's code as city statistical tables give it: municipalities under their urban-district code (Beijing 110100, Tianjin 120100, Shanghai 310100, Chongqing 500100); other units as `code`",
    ),
    ("*", "name_en", "text", "Unit name in English"),
    ("*", "name_zh", "text", "Unit name in Chinese"),
    ("*", "province_code", "code", "Province: 2020 administrative division code (6 digits, e.g. 410000 = Henan)"),
    ("*", "province_en", "text", "Province name in English"),
    ("*", "province_zh", "text", "Province name in Chinese"),
    (
        "*",
        "tier",
        "category",
        "City size class of the 2014 standard by urban-district population: super_large ≥ 10M, mega 5–10M, large_I 3–5M, large_II 1–3M, medium 0.5–1M, small_I 0.2–0.5M, small_II < 0.2M",
    ),
    ("*", "regime", "category", "Settlement regime in the year after overrides: open, relaxed or points"),
    ("*", "potential_region", "text", "The run's potential region of the unit (empty outside every region)"),
    ("*", "metro_area", "text", "The run's metropolitan areas the unit belongs to (`; `-separated), empty if none"),
    ("*", "part", "category", "Part of a metropolitan area: core, members or whole"),
    ("*", "units", "count", "Prefecture-level units in the group"),
    // Stocks.
    ("*", "population", "persons", "Residents: members present plus members left behind at their rural origin"),
    ("*", "urban_residents", "persons", "Members present in households living in urban parts"),
    (
        "*",
        "rural_residents",
        "persons",
        "population − urban_residents: rural residents present plus every left-behind member",
    ),
    ("*", "urbanization_rate_pct", "percent", "urban_residents ÷ population × 100"),
    (
        "*",
        "hukou_urban_residents",
        "persons",
        "Residents holding urban hukou (of any place); left-behind members hold rural hukou",
    ),
    ("*", "hukou_urbanization_rate_pct", "percent", "hukou_urban_residents ÷ population × 100"),
    ("*", "gap_pp", "percentage points", "urbanization_rate_pct − hukou_urbanization_rate_pct"),
    (
        "*",
        "nonhukou_urban_residents",
        "persons",
        "Urban residents without local urban hukou (rural hukou, or urban hukou of another unit)",
    ),
    ("*", "rural_hukou_urban_residents", "persons", "Urban residents holding rural hukou"),
    ("*", "left_behind_children", "persons", "Children 0–14 left behind, counted at their rural origin"),
    ("*", "registered_population", "persons", "Persons whose hukou is registered in the province, wherever they live"),
    ("*", "registered_urban_hukou", "persons", "Of them, those holding urban hukou"),
    (
        "*",
        "hukou_rate_registered_pct",
        "percent",
        "registered_urban_hukou ÷ registered_population × 100: the official definition of a provincial hukou urbanization rate",
    ),
    (
        "*",
        "hukou_holders_among_residents_pct",
        "percent",
        "hukou_urban_residents ÷ population × 100 (residents' share holding urban hukou; not an official statistic)",
    ),
    // Flows (empty in the base year).
    (
        "*",
        "settlements",
        "persons",
        "Persons granted local urban hukou in the year (agricultural migrants, as the Ministry of Public Security counts), including left-behind children who join and left-behind adults joining a settled household",
    ),
    ("*", "family_settlements", "persons", "Of the settlements, left-behind adults joining a settled household (投靠)"),
    (
        "*",
        "applicants",
        "persons",
        "Persons in households that applied to settle in the year (present members and left-behind children)",
    ),
    ("*", "movers", "persons", "Persons who changed place (unit, or rural ↔ urban part) in the year"),
    (
        "*",
        "rural_to_urban",
        "persons",
        "Persons who moved from a rural part to an urban part in the year, whatever the reason",
    ),
    ("*", "urban_to_rural", "persons", "Persons who moved from an urban part to a rural part in the year"),
    (
        "*",
        "in_place_urbanized",
        "persons",
        "Rural residents whose place became urban where they live in the year (no move)",
    ),
    ("*", "births", "persons", "Births in the year"),
    ("*", "deaths", "persons", "Deaths in the year"),
    (
        "*",
        "arrivals",
        "persons",
        "Persons arriving in the unit or group in the year (a rural ↔ urban move within a unit counts as an arrival and a departure)",
    ),
    ("*", "departures", "persons", "Persons leaving the unit or group in the year"),
    ("*", "arrivals_urban", "persons", "Arrivals in the urban part"),
    ("*", "arrivals_rural", "persons", "Arrivals in the rural part"),
    ("*", "departures_urban", "persons", "Departures from the urban part"),
    ("*", "departures_rural", "persons", "Departures from the rural part"),
    ("*", "births_urban", "persons", "Births in the urban part"),
    (
        "*",
        "births_rural",
        "persons",
        "Births in the rural part (including children born to migrants and sent to the village)",
    ),
    ("*", "deaths_urban", "persons", "Deaths in the urban part"),
    ("*", "deaths_rural", "persons", "Deaths in the rural part (including left-behind members)"),
    (
        "*",
        "urban_hukou_transfers",
        "persons",
        "Urban-hukou inter-city migrants who transferred their hukou where they live in the year (not in settlements)",
    ),
    // National measures.
    ("*", "public_school_share_pct", "percent", "Share of school-age migrant children with a public-school place"),
    (
        "*",
        "migrant_heads_senior_plus_pct",
        "percent",
        "Share of urban households holding rural hukou whose head has senior secondary education or more",
    ),
    (
        "*",
        "outgoing_migrant_workers",
        "persons",
        "Model analogue of the migrant-worker survey's outgoing migrant workers: working-age adults of urban households holding rural hukou who moved there",
    ),
    ("*", "cross_province_migrant_workers", "persons", "Of them, those living in another province than their hukou"),
    // City indicators.
    ("*", "jobs", "jobs", "Jobs in the year (after metropolitan relocation and potential-region boosts)"),
    ("*", "wage_yuan_month", "yuan per month", "Nominal urban wage of the unit"),
    ("*", "housing_cost_index", "index", "Housing cost; 1 = a unit of mean urban size in the base year"),
    (
        "*",
        "public_school_access_pct",
        "percent",
        "Share of non-hukou children in public schools in the unit (school access × 100)",
    ),
    (
        "*",
        "affordable_coverage_pct",
        "percent",
        "Affordable rental units open to non-hukou residents ÷ non-hukou households × 100, capped at 100",
    ),
    // Services.
    (
        "*",
        "school_age_migrant_children",
        "persons",
        "Children 6–14 of urban households whose hukou is in another unit (children 0–14 × 0.6214, census 2020)",
    ),
    ("*", "public_school_places", "places", "Public-school places for them"),
    (
        "*",
        "school_place_gap",
        "persons",
        "Children without a public-school place: max(children − places, 0) per unit, summed for a province",
    ),
    ("*", "nonhukou_households", "households", "Non-hukou urban households (real households)"),
    ("*", "affordable_units", "dwellings", "Affordable rental units standing"),
    ("*", "affordable_units_built", "dwellings", "Affordable rental units added in the year"),
    ("*", "affordable_units_open", "dwellings", "Units open to non-hukou residents"),
    ("*", "affordable_tenant_households", "households", "Households renting one at the end of the year"),
    (
        "*",
        "affordable_waiting_households",
        "households",
        "Non-hukou renters without one (not owners, not in-situ urbanized)",
    ),
    ("*", "affordable_vacant_open_units", "dwellings", "max(open units − tenants, 0)"),
    (
        "*",
        "affordable_gap_households",
        "households",
        "max(waiting − vacant open units, 0) per unit, summed for a province",
    ),
    // Fiscal.
    ("*", "settled_persons", "persons", "Agricultural settlements in the year (as settlements)"),
    ("*", "settled_cross_province", "persons", "Of them, settlers whose hukou was in another province"),
    ("*", "settled_pupils", "persons", "School-age children among them (children × 0.6214)"),
    ("*", "cost_education_yuan", "yuan", "Yearly education cost of the year's settlers (per pupil)"),
    ("*", "cost_health_yuan", "yuan", "Yearly health cost of the year's settlers"),
    ("*", "cost_social_insurance_yuan", "yuan", "Yearly social-insurance cost of the year's settlers"),
    ("*", "cost_housing_yuan", "yuan", "Yearly housing cost of the year's settlers"),
    ("*", "cost_infrastructure_yuan", "yuan", "Yearly infrastructure cost of the year's settlers"),
    ("*", "cost_total_yuan", "yuan", "Sum of the five items"),
    ("*", "cost_per_settled_person_yuan", "yuan per person", "cost_total_yuan ÷ settled_persons"),
    ("*", "settled_since_base_year", "persons", "Everyone settled since the base year"),
    ("*", "recurring_cost_yuan", "yuan", "The yearly public cost of everyone settled since the base year, this year"),
    ("*", "reward_fund_yuan", "yuan", "The central reward fund's allocation (人地钱挂钩), by weighted settlers"),
    ("*", "construction_land_ha", "hectares", "Construction land the fiscal link adds for the year's settlers"),
    // Flows between provinces.
    (
        "flows.csv",
        "origin_province_code",
        "code",
        "Province of residence before the move: 2020 administrative division code",
    ),
    ("flows.csv", "origin_province_en", "text", "Its name in English"),
    ("flows.csv", "destination_province_code", "code", "Province moved to: 2020 administrative division code"),
    ("flows.csv", "destination_province_en", "text", "Its name in English"),
    (
        "flows.csv",
        "movers",
        "persons",
        "Persons moving from the origin to the destination province in the year (within-province moves included; zero cells omitted)",
    ),
    // Decomposition.
    (
        "decomposition.csv",
        "source",
        "category",
        "Source of the year's change of the urbanization rate (moves, joins, returns, reclassification, demography, total_change)",
    ),
    ("decomposition.csv", "persons", "persons", "The source's contribution in urban-equivalent persons"),
    (
        "decomposition.csv",
        "pp",
        "percentage points",
        "The source's contribution to the change of urbanization_rate_pct; a year's sources sum to total_change",
    ),
    // Summaries over runs.
    ("national_summary.csv", "variable", "text", "A column of national.csv"),
    ("*", "runs", "count", "Runs the summary is over (parameter sets × replicate seeds)"),
    ("*", "mean", "as the measure", "Mean over the runs"),
    ("*", "p5", "as the measure", "5th percentile over the runs (type 7: interpolated between order statistics)"),
    ("*", "p95", "as the measure", "95th percentile over the runs (type 7: interpolated between order statistics)"),
    ("*", "sd", "as the measure", "Standard deviation over the runs"),
    (
        "*",
        "sd_draws",
        "as the measure",
        "The part of the standard deviation due to random draws: √(mean variance within a parameter set); empty without a posterior or with one replicate",
    ),
    ("*", "parameter_share", "share (0–1)", "Share of the variance due to the parameter sets: 1 − sd_draws² ÷ sd²"),
    ("*", "scenario", "text", "Scenario name"),
    ("*", "reference", "text", "The first scenario, which differences are taken from"),
    ("*", "measure", "text", "What the row measures"),
    ("*", "unit", "text", "Unit of the row's measure"),
    ("*", "years", "text", "Years the row covers"),
    ("*", "column", "text", "The run-table column the row compares"),
    ("*", "reference_mean", "as the measure", "Mean over the runs of the reference scenario"),
    (
        "*",
        "diff_mean",
        "as the measure",
        "Mean over the runs of the paired difference (scenario − reference, run by run)",
    ),
    ("*", "diff_p5", "as the measure", "5th percentile of the paired difference"),
    ("*", "diff_p95", "as the measure", "95th percentile of the paired difference"),
    ("*", "diff_sd", "as the measure", "Standard deviation of the paired difference"),
    ("*", "diff_sd_draws", "as the measure", "Its part due to random draws"),
    ("*", "diff_parameter_share", "share (0–1)", "Share of the paired difference's variance due to the parameter sets"),
    // Sensitivity.
    ("sensitivity.csv", "outcome", "text", "The outcome, COLUMN@YEAR of national.csv"),
    ("sensitivity.csv", "factor", "text", "The factor: an uncertain parameter (scenario key) or a plan measure"),
    ("sensitivity.csv", "kind", "category", "parameter or measure"),
    ("sensitivity.csv", "low", "as the factor", "Low end of the factor's range (a measure: off, the status quo)"),
    ("sensitivity.csv", "high", "as the factor", "High end of the factor's range (a measure: on)"),
    (
        "sensitivity.csv",
        "mu_star",
        "as the outcome",
        "Morris μ*: mean absolute elementary effect over the factor's full range",
    ),
    ("sensitivity.csv", "mu", "as the outcome", "Morris μ: mean signed elementary effect"),
    (
        "sensitivity.csv",
        "sigma",
        "as the outcome",
        "Morris σ: standard deviation of the elementary effects (interactions, non-linearity)",
    ),
    ("sensitivity.csv", "sobol_first", "share (0–1)", "First-order Sobol index (empty outside the leading factors)"),
    ("sensitivity.csv", "sobol_total", "share (0–1)", "Total-order Sobol index (empty outside the leading factors)"),
    // Goal seeking.
    ("solve.csv", "t", "share (0–1)", "Share of the way from the scenario's values to the levers' ends"),
    ("solve.csv", "probability", "share (0–1)", "Chance over the runs that every target is met"),
];

/// Unit and definition of `column` in `file`: its own entry, the shared one, or one of the
/// columns whose name is data (a lever's scenario key or a target's mean in `solve.csv`).
pub fn describe(file: &str, column: &str) -> Option<(String, String)> {
    let found = ENTRIES
        .iter()
        .find(|(f, c, _, _)| *f == file && *c == column)
        .or_else(|| ENTRIES.iter().find(|(f, c, _, _)| *f == "*" && *c == column));
    if let Some((_, _, unit, definition)) = found {
        return Some((unit.to_string(), definition.to_string()));
    }
    if file == "solve.csv" {
        if let Some(target) = column.strip_prefix("mean: ") {
            return Some(("as the target's column".to_string(), format!("Mean over the runs of the target {target}")));
        }
        if column.contains('.') {
            return Some((
                "as the scenario key".to_string(),
                format!("The lever `{column}` at this point (docs/scenarios.md gives its unit)"),
            ));
        }
    }
    None
}

/// `columns.csv` for the CSV tables in `dir` (sorted by file name; `columns.csv` itself left
/// out): `file,column,unit,definition`. Fails naming the first column without a definition.
pub fn codebook_csv(dir: &Path) -> Result<String, String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".csv") && name != "columns.csv")
        .collect();
    files.sort();
    let mut out = csv::Writer::from_writer(Vec::new());
    let write_error = |e: csv::Error| e.to_string();
    out.write_record(["file", "column", "unit", "definition"]).map_err(write_error)?;
    for file in files {
        let text =
            std::fs::read_to_string(dir.join(&file)).map_err(|e| format!("{}: {e}", dir.join(&file).display()))?;
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().map_err(|e| format!("{file}: {e}"))?.clone();
        for column in header.iter() {
            let (unit, definition) = describe(&file, column)
                .ok_or_else(|| format!("{file}: column `{column}` has no definition in the codebook"))?;
            out.write_record([file.as_str(), column, unit.as_str(), definition.as_str()]).map_err(write_error)?;
        }
    }
    let bytes = out.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_entry_wins_over_the_shared_one_and_unknown_columns_fail() {
        assert_eq!(describe("flows.csv", "movers").unwrap().0, "persons");
        assert!(describe("flows.csv", "movers").unwrap().1.contains("origin"));
        assert!(describe("national.csv", "movers").unwrap().1.contains("changed place"));
        assert!(describe("national.csv", "no_such_column").is_none());
        assert!(describe("solve.csv", "settlement.willingness.procedure_ease").is_some());
        assert!(describe("units.csv", "settlement.willingness.procedure_ease").is_none());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), "year,code,mystery\n2024,1,2\n").unwrap();
        let err = codebook_csv(dir.path()).unwrap_err();
        assert!(err.contains("a.csv: column `mystery`"), "{err}");
        std::fs::write(dir.path().join("a.csv"), "year,code\n2024,1\n").unwrap();
        let book = codebook_csv(dir.path()).unwrap();
        assert!(book.starts_with("file,column,unit,definition\na.csv,year,year,"));
        assert!(book.contains("2020 administrative division code"));
    }
}
