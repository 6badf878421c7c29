//! `compare --focus PROVINCE`: one province's prefectures under each later scenario against the
//! first — a table of paired differences with bands, the largest gainers and losers, and the
//! difference map zoomed to the province with the units named.

use super::Compared;
use super::subnational::{self, RunTablesText};
use crate::charts::{self, Extent, MapLabel};
use crate::geo::{Geography, Province};
use crate::html::HoverMap;
use crate::report::{ReportError, unit_tooltip, write_file};
use crate::results::Band;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How many gainers and losers the report names.
const NAMED: usize = 5;

/// A focus measure: its column in the unit tables, unit, and whether it is summed over
/// the simulated years (a flow) or read in the last year (a stock or a rate).
struct FocusMeasure {
    column: &'static str,
    unit: &'static str,
    summed: bool,
}

const MEASURES: [FocusMeasure; 8] = [
    FocusMeasure { column: "urban_residents", unit: "persons", summed: false },
    FocusMeasure { column: "urbanization_rate_pct", unit: "pp", summed: false },
    FocusMeasure { column: "population", unit: "persons", summed: false },
    FocusMeasure { column: "nonhukou_urban_residents", unit: "persons", summed: false },
    FocusMeasure { column: "settlements", unit: "persons", summed: true },
    FocusMeasure { column: "school_place_gap", unit: "pupils", summed: false },
    FocusMeasure { column: "affordable_gap_households", unit: "households", summed: false },
    FocusMeasure { column: "reward_fund_yuan", unit: "yuan", summed: true },
];

/// One unit's measures under the reference and the scenario, with the paired differences.
struct UnitFocus {
    unit: usize,
    /// Per measure (in `MEASURES` order): reference mean, scenario mean, paired difference.
    values: Vec<(f64, f64, Band)>,
}

/// Per replicate, the value of `measure` for the unit `code` (summed over the simulated years
/// or read in `year`).
fn per_run(
    tables: &[subnational::ColumnsAndTable],
    code: &str,
    measure: &FocusMeasure,
    first_year: i32,
    year: i32,
) -> Vec<f64> {
    tables
        .iter()
        .map(|(columns, table)| {
            let Some(k) = columns.iter().position(|c| c == measure.column) else {
                return f64::NAN;
            };
            let at =
                |y: i32| table.get(&(y, code.to_string())).and_then(|(_, v)| v.get(k).copied()).unwrap_or(f64::NAN);
            if measure.summed { (first_year..=year).map(at).sum() } else { at(year) }
        })
        .collect()
}

/// The province's units under scenario `i` against the first, sorted by the difference in urban
/// residents (largest gain first).
fn focus_units(
    geo: &Geography,
    compared: &[Compared],
    run_tables: &RunTablesText,
    province: usize,
    i: usize,
    year: i32,
) -> Vec<UnitFocus> {
    let first_year = compared[0].plan.scenario.run.first_year;
    let reference = subnational::unit_tables(run_tables, 0);
    let scenario = subnational::unit_tables(run_tables, i);
    let mut units: Vec<UnitFocus> = (0..geo.len())
        .filter(|&u| geo.units[u].province == province)
        .map(|u| {
            let code = geo.units[u].code.to_string();
            let values = MEASURES
                .iter()
                .map(|m| {
                    let a = per_run(&reference, &code, m, first_year, year);
                    let b = per_run(&scenario, &code, m, first_year, year);
                    let diffs: Vec<f64> = b.iter().zip(&a).map(|(b, a)| b - a).collect();
                    (Band::of(&a).mean, Band::of(&b).mean, Band::of(&diffs))
                })
                .collect();
            UnitFocus { unit: u, values }
        })
        .collect();
    units.sort_by(|a, b| b.values[0].2.mean.total_cmp(&a.values[0].2.mean).then(a.unit.cmp(&b.unit)));
    units
}

/// A whole number with thousands separators (1,234,567).
fn grouped(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A difference with its sign (− for losses).
fn amount(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    let sign = if v < 0.0 { "−" } else { "+" };
    match unit {
        "pp" => format!("{sign}{:.2}", v.abs()),
        "yuan" => format!("{sign}{:.1}M", v.abs() / 1e6),
        _ if v.abs() < 0.5 => "0".to_string(),
        _ => format!("{sign}{}", grouped(v)),
    }
}

fn level(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    match unit {
        "pp" => format!("{v:.2}"),
        "yuan" => format!("{:.1}M", v / 1e6),
        _ => grouped(v),
    }
}

fn with_band(b: &Band, unit: &str) -> String {
    format!("{} ({} to {})", amount(b.mean, unit), amount(b.p5, unit), amount(b.p95, unit))
}

/// Writes `focus-<code>.csv` and the zoomed maps for each focus province, and returns the
/// report's focus sections (markdown) with the files written.
pub fn write_focus(
    staging: &Path,
    geo: &Geography,
    compared: &[Compared],
    run_tables: &RunTablesText,
    provinces: &[usize],
    year: i32,
) -> Result<Focused, ReportError> {
    let focus = Focus {
        staging,
        geo,
        compared,
        run_tables,
        year,
        first_year: compared[0].plan.scenario.run.first_year,
        reference_name: &compared[0].plan.scenario.name,
    };
    let mut focused = Focused { markdown: String::new(), files: Vec::new(), hover_maps: Vec::new() };
    for &p in provinces {
        focus.province(p, &mut focused)?;
    }
    Ok(focused)
}

/// What every focus section shares: where files go, the runs, and the years compared.
struct Focus<'a> {
    staging: &'a Path,
    geo: &'a Geography,
    compared: &'a [Compared],
    run_tables: &'a RunTablesText,
    year: i32,
    first_year: i32,
    reference_name: &'a str,
}

impl Focus<'_> {
    /// Province `p`'s section, table and maps: one part per later scenario.
    fn province(&self, p: usize, out: &mut Focused) -> Result<(), ReportError> {
        let (geo, year, first_year, reference_name) = (self.geo, self.year, self.first_year, self.reference_name);
        let province = &geo.provinces[p];
        let code = province.code / 10_000;
        let mut csv = String::from(
            "scenario,reference,province_code,province_en,code,name_en,name_zh,measure,unit,years,reference_mean,mean,diff_mean,diff_p5,diff_p95\n",
        );
        let _ = writeln!(
            out.markdown,
            "## Focus: {} ({})\n\nThe province's {} prefecture-level units, each later scenario minus {reference_name}: means over the replicates, with the 5th–95th percentiles of the paired differences (common random numbers) in parentheses (with fewer than 20 replicates they are close to the range). Stocks and rates are for {year}; settlements and the reward fund are summed over {first_year}–{year}. Every unit and column is in `focus-{code}.csv`; `units_diff.csv` has every year.\n",
            province.name_en,
            province.name_zh,
            geo.units.iter().filter(|u| u.province == p).count(),
        );
        for (i, c) in self.compared.iter().enumerate().skip(1) {
            let units = focus_units(geo, self.compared, self.run_tables, p, i, year);
            let name = &c.plan.scenario.name;
            self.csv_rows(&mut csv, province, name, &units);
            self.summary(&mut out.markdown, name, &units);
            self.map(out, province, i, name, &units)?;
            self.units_table(&mut out.markdown, &units);
        }
        out.files.push(write_file(self.staging, &format!("focus-{code}.csv"), &csv)?);
        Ok(())
    }

    /// The rows of `focus-<code>.csv` for scenario `name`: one per unit and measure.
    fn csv_rows(&self, csv: &mut String, province: &Province, name: &str, units: &[UnitFocus]) {
        let (year, first_year, reference_name) = (self.year, self.first_year, self.reference_name);
        let code = province.code / 10_000;
        for f in units {
            let unit = &self.geo.units[f.unit];
            for (m, (a, b, d)) in MEASURES.iter().zip(&f.values) {
                let years = if m.summed { format!("{first_year}-{year}") } else { year.to_string() };
                let _ = writeln!(
                    csv,
                    "{},{},{code},{},{},{},{},{},{},{years},{},{},{},{},{}",
                    subnational::quoted(name),
                    subnational::quoted(reference_name),
                    subnational::quoted(&province.name_en),
                    unit.code,
                    subnational::quoted(&unit.name_en),
                    unit.name_zh,
                    m.column,
                    m.unit,
                    subnational::number(*a),
                    subnational::number(*b),
                    subnational::number(d.mean),
                    subnational::number(d.p5),
                    subnational::number(d.p95),
                );
            }
        }
    }

    /// The province totals of the persons measures, and the largest gainers and losers.
    fn summary(&self, md: &mut String, name: &str, units: &[UnitFocus]) {
        let (geo, year, first_year, reference_name) = (self.geo, self.year, self.first_year, self.reference_name);
        let total = |m: usize| -> (f64, f64) {
            units.iter().map(|f| (f.values[m].0, f.values[m].2.mean)).fold((0.0, 0.0), |(a, d), (x, y)| (a + x, d + y))
        };
        let (urban, urban_diff) = total(0);
        let (settled, settled_diff) = total(4);
        let _ = writeln!(
            md,
            "### {name} vs {reference_name}\n\nAcross the province: urban residents in {year} {} ({} under {reference_name}); settlements {first_year}–{year} {} ({}).\n",
            amount(urban_diff, "persons"),
            level(urban, "persons"),
            amount(settled_diff, "persons"),
            level(settled, "persons"),
        );
        let named = |list: Vec<&UnitFocus>| -> String {
            if list.is_empty() {
                return "none".to_string();
            }
            list.iter()
                .map(|f| format!("{} {}", geo.units[f.unit].name_en, with_band(&f.values[0].2, "persons")))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let gainers: Vec<&UnitFocus> = units.iter().filter(|f| f.values[0].2.mean > 0.0).take(NAMED).collect();
        let losers: Vec<&UnitFocus> = units.iter().rev().filter(|f| f.values[0].2.mean < 0.0).take(NAMED).collect();
        let _ = writeln!(
            md,
            "- **Largest gainers** (urban residents, {year}): {}\n- **Largest losers**: {}\n",
            named(gainers),
            named(losers)
        );
    }

    /// The difference map of scenario `i` zoomed to the province, with its units named: written
    /// (and its hover map kept) into `out`.
    fn map(
        &self,
        out: &mut Focused,
        province: &Province,
        i: usize,
        name: &str,
        units: &[UnitFocus],
    ) -> Result<(), ReportError> {
        let (geo, year, reference_name) = (self.geo, self.year, self.reference_name);
        let code = province.code / 10_000;
        let codes: Vec<u32> = units.iter().map(|f| geo.units[f.unit].code).collect();
        let map_units: Vec<charts::MapUnit> = geo
            .units
            .iter()
            .enumerate()
            .map(|(u, unit)| charts::MapUnit {
                code: unit.code,
                lon: unit.lon,
                lat: unit.lat,
                value: units.iter().find(|f| f.unit == u).map_or(f64::NAN, |f| f.values[0].2.mean),
            })
            .collect();
        // Names of the larger units first, so they win where labels would overlap.
        let mut by_size: Vec<usize> = units.iter().map(|f| f.unit).collect();
        by_size.sort_by(|&a, &b| geo.units[b].pop_2020.total_cmp(&geo.units[a].pop_2020).then(a.cmp(&b)));
        let labels: Vec<MapLabel> = by_size
            .iter()
            .map(|&u| MapLabel { lon: geo.units[u].lon, lat: geo.units[u].lat, text: geo.units[u].name_en.clone() })
            .collect();
        let stem = format!("focus-{code}-map-{i}");
        let title = format!("{}: urban residents in {year}, {name} minus {reference_name}", province.name_en);
        let legend = format!("Difference in urban residents, {year} (persons)");
        let outside = format!("Outside {}", province.name_en);
        let map = charts::MapChart {
            title: &title,
            legend_label: &legend,
            units: &map_units,
            source_note: crate::report::MAP_SOURCE_NOTE,
            extent: Extent::around(&codes),
            labels: &labels,
            no_data_label: &outside,
        };
        let written = charts::render(&self.staging.join("charts"), &stem, &map)?;
        let measure = format!("urban residents {year}, {name} − {reference_name}");
        out.hover_maps.push(HoverMap {
            stem: stem.clone(),
            svg: charts::hover_svg(&map, &unit_tooltip(geo, &measure, "persons")),
        });
        out.files.extend(written.iter().filter_map(|p| p.strip_prefix(self.staging).ok().map(Path::to_path_buf)));
        let _ = writeln!(out.markdown, "![{stem}](charts/{stem}.png)\n");
        Ok(())
    }

    /// Every unit, largest gain first.
    fn units_table(&self, md: &mut String, units: &[UnitFocus]) {
        let geo = self.geo;
        let _ = writeln!(
            md,
            "| unit | urban residents ({}) | Δ urban residents | Δ rate (pp) | Δ settlements | Δ school-place gap | Δ affordable gap |\n|---|--:|--:|--:|--:|--:|--:|",
            self.reference_name
        );
        for f in units {
            let v = &f.values;
            let _ = writeln!(
                md,
                "| {} {} | {} | {} | {} | {} | {} | {} |",
                geo.units[f.unit].name_en,
                geo.units[f.unit].name_zh,
                level(v[0].0, "persons"),
                with_band(&v[0].2, "persons"),
                amount(v[1].2.mean, "pp"),
                amount(v[4].2.mean, "persons"),
                amount(v[5].2.mean, "pupils"),
                amount(v[6].2.mean, "households"),
            );
        }
        md.push('\n');
    }
}

/// What the focus sections add to a comparison: report text, files written and hover maps.
pub struct Focused {
    pub markdown: String,
    pub files: Vec<PathBuf>,
    pub hover_maps: Vec<HoverMap>,
}
