//! Sub-national differences between compared scenarios: for every output column with a unit or
//! province dimension (`units.csv`, `services.csv`, `fiscal.csv` and their province tables), the
//! paired difference of each scenario from the first, per year, over the replicates.

use super::Compared;
use crate::geo::Geography;
use crate::report::{RunTables, tables};
use crate::results::Band;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Splits one CSV line of migrasim's own tables (fields quoted only when they hold a comma or a
/// quote, quotes doubled inside).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    out.push(field);
    out
}

pub(super) fn quoted(text: &str) -> String {
    if text.contains([',', '"']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// Rows keyed by (year, place code): the place's name and every numeric column of the given
/// tables, joined side by side.
pub(super) type Table = BTreeMap<(i32, String), (String, Vec<f64>)>;

/// A run's numeric column names and rows.
pub(super) type ColumnsAndTable = (Vec<String>, Table);

/// The numeric columns of `files` for one run, keyed by (year, code in `key_column`), with the
/// column names in order. Text columns (names, regimes) are not differenced.
fn numeric_table(
    all: &[(&'static str, String)],
    files: &[&str],
    key_column: &str,
    name_column: &str,
) -> (Vec<String>, Table) {
    let mut names = Vec::new();
    let mut table: Table = BTreeMap::new();
    for file in files {
        let text = &all.iter().find(|(n, _)| n == file).expect("a run writes its tables").1;
        let mut lines = text.lines();
        let header = fields(lines.next().unwrap_or(""));
        let col = |name: &str| header.iter().position(|h| h == name);
        let (Some(year), Some(key), Some(name)) = (col("year"), col(key_column), col(name_column)) else {
            continue;
        };
        let rows: Vec<Vec<String>> = lines.map(fields).collect();
        let numeric: Vec<usize> = (0..header.len())
            .filter(|&i| {
                i != year
                    && i != key
                    // Identifiers are not measures.
                    && !matches!(header[i].as_str(), "province_code" | "code_city_tables")
                    // Numbers, or empty (a flow in the base year).
                    && rows
                        .iter()
                        .all(|r| r.get(i).is_some_and(|v| v.is_empty() || v.parse::<f64>().is_ok()))
                    && rows.iter().any(|r| r.get(i).is_some_and(|v| !v.is_empty()))
            })
            .collect();
        names.extend(numeric.iter().map(|&i| header[i].clone()));
        for r in &rows {
            let entry = table
                .entry((r[year].parse().unwrap_or(0), r[key].clone()))
                .or_insert_with(|| (r[name].clone(), Vec::new()));
            entry.1.extend(numeric.iter().map(|&i| r[i].parse::<f64>().unwrap_or(f64::NAN)));
        }
    }
    (names, table)
}

/// Every run's own tables, per scenario and replicate: built once for both difference files.
pub type RunTablesText = Vec<Vec<Vec<(&'static str, String)>>>;

pub fn run_tables(geo: &Geography, compared: &[Compared]) -> RunTablesText {
    compared.iter().map(|c| c.runs.iter().map(|run| tables(&RunTables::of(geo, &c.plan, run))).collect()).collect()
}

/// Scenario `i`'s numeric tables, one per replicate.
fn place_tables(run_tables: &RunTablesText, i: usize, files: &[&str], key: &str, name: &str) -> Vec<ColumnsAndTable> {
    run_tables[i].iter().map(|all| numeric_table(all, files, key, name)).collect()
}

/// Scenario `i`'s unit tables (`units.csv`, `services.csv`, `fiscal.csv` side by side), one per
/// replicate, keyed by (year, unit code).
pub(super) fn unit_tables(run_tables: &RunTablesText, i: usize) -> Vec<ColumnsAndTable> {
    place_tables(run_tables, i, &UNIT_FILES, "code", "name_en")
}

const UNIT_FILES: [&str; 3] = ["units.csv", "services.csv", "fiscal.csv"];

/// `units_diff.csv` (`by_province` false) or `provinces_diff.csv`: one row per scenario after the
/// first × year × place × column, with the first scenario's mean, this scenario's mean, and the
/// mean and 5th–95th percentiles of the paired differences over replicates.
pub fn diff_csv(geo: &Geography, compared: &[Compared], run_tables: &RunTablesText, by_province: bool) -> String {
    let (files, key, name): (&[&str], &str, &str) = if by_province {
        (&["provinces.csv", "services_provinces.csv", "fiscal_provinces.csv"], "province_code", "province_en")
    } else {
        (&UNIT_FILES, "code", "name_en")
    };
    let per_run = |i: usize| place_tables(run_tables, i, files, key, name);
    let reference = per_run(0);
    // Units also carry their province, so a planner can filter one province's prefectures.
    let province_of: BTreeMap<String, String> =
        geo.units.iter().map(|u| (u.code.to_string(), geo.provinces[u.province].name_en.clone())).collect();
    let mut text = if by_province {
        format!("scenario,reference,year,{key},{name},column,reference_mean,mean,diff_mean,diff_p5,diff_p95\n")
    } else {
        format!(
            "scenario,reference,year,{key},{name},province_en,column,reference_mean,mean,diff_mean,diff_p5,diff_p95\n"
        )
    };
    for (i, c) in compared.iter().enumerate().skip(1) {
        let runs = per_run(i);
        let columns = &reference[0].0;
        for ((year, code), (place, _)) in &reference[0].1 {
            for (k, column) in columns.iter().enumerate() {
                let value = |tables: &[(Vec<String>, Table)], i: usize| -> f64 {
                    tables[i].1.get(&(*year, code.clone())).and_then(|(_, v)| v.get(k).copied()).unwrap_or(f64::NAN)
                };
                let base: Vec<f64> = (0..reference.len()).map(|i| value(&reference, i)).collect();
                let this: Vec<f64> = (0..runs.len()).map(|i| value(&runs, i)).collect();
                let diffs: Vec<f64> = this.iter().zip(&base).map(|(a, b)| a - b).collect();
                let (b, t, d) = (Band::of(&base), Band::of(&this), Band::of(&diffs));
                let place = if by_province {
                    quoted(place)
                } else {
                    format!("{},{}", quoted(place), quoted(province_of.get(code).map_or("", String::as_str)))
                };
                let _ = writeln!(
                    text,
                    "{},{},{year},{code},{place},{column},{},{},{},{},{}",
                    quoted(c.plan.scenario.name.as_str()),
                    quoted(compared[0].plan.scenario.name.as_str()),
                    number(b.mean),
                    number(t.mean),
                    number(d.mean),
                    number(d.p5),
                    number(d.p95),
                );
            }
        }
    }
    text
}

/// Plain decimal text without needless digits (the tables' own rounding is kept).
pub(super) fn number(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let text = format!("{v:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_string() } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_quoted_commas_and_doubled_quotes() {
        assert_eq!(
            fields("2024,\"Guang'an, Sichuan\",\"say \"\"hi\"\"\",3.5"),
            vec!["2024", "Guang'an, Sichuan", "say \"hi\"", "3.5"]
        );
    }

    #[test]
    fn numbers_drop_trailing_zeros() {
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(-0.00001), "0");
        assert_eq!(number(12.0), "12");
        assert_eq!(number(f64::NAN), "");
    }
}
