//! The command line as a user meets it: successful runs, and every kind of bad input refused
//! with exit code 2, a message naming file, line or key and the allowed values, and no output.

use assert_cmd::Command;
use predicates::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

fn migrasim() -> Command {
    Command::cargo_bin("migrasim").unwrap()
}

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// Writes a scenario into `dir` that extends the shipped tiny scenario.
fn scenario(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!("extends = \"{}\"\n{body}", scenarios().join("tiny.toml").display());
    fs::write(&path, text).unwrap();
    path
}

fn run_bad(args: &[&str], out: &Path) -> assert_cmd::assert::Assert {
    let assert = migrasim().args(args).arg("--out").arg(out).arg("--quiet").assert().code(2);
    assert!(!out.exists(), "no output folder after a refused run");
    assert
}

#[test]
fn tiny_run_writes_every_table_chart_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny");
    migrasim()
        .args(["run", scenarios().join("tiny.toml").to_str().unwrap(), "--quiet", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stderr("");
    for file in [
        "national.csv",
        "tiers.csv",
        "regimes.csv",
        "provinces.csv",
        "units.csv",
        "flows.csv",
        "manifest.json",
        "charts/urbanization.png",
        "charts/urbanization.svg",
        "charts/gap.png",
        "charts/gap.svg",
        "charts/settlements.png",
        "charts/settlements.svg",
    ] {
        let path = out.join(file);
        assert!(path.is_file(), "{file} missing");
        assert!(fs::metadata(&path).unwrap().len() > 100, "{file} is empty");
    }
    // The codebook defines every column of every table, identifiers and vintage included.
    let codebook = fs::read_to_string(out.join("columns.csv")).unwrap();
    assert!(codebook.starts_with("file,column,unit,definition\n"));
    for entry in [
        "units.csv,province_code,code,",
        "units.csv,code_city_tables,code,",
        "national.csv,hukou_urban_residents,persons,",
        "fiscal.csv,reward_fund_yuan,yuan,",
    ] {
        assert!(codebook.contains(entry), "{entry} missing from columns.csv");
    }
    assert!(codebook.contains("2020 administrative division code"));
    // Base-year flows are empty, not 0; stocks are there.
    let national_text = fs::read_to_string(out.join("national.csv")).unwrap();
    let base = national_text.lines().nth(1).unwrap();
    let header: Vec<&str> = national_text.lines().next().unwrap().split(',').collect();
    let cell = |name: &str| base.split(',').nth(header.iter().position(|h| *h == name).unwrap()).unwrap();
    assert_eq!(cell("settlements"), "");
    assert_eq!(cell("births"), "");
    assert!(cell("population").parse::<f64>().unwrap() > 1e9);
    // report.html: self-contained, one inline SVG figure per chart, the hover map's units named.
    let html = fs::read_to_string(out.join("report.html")).unwrap();
    let svgs = fs::read_dir(out.join("charts"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "svg"))
        .count();
    assert_eq!(html.matches("<figure class=\"chart\"").count(), svgs);
    assert!(!html.contains("<img ") && !html.contains("src=\"http"));
    assert!(html.contains("class=\"map\" role=\"img\""));
    assert!(html.contains("Chengdu 成都市 (Sichuan): net migration 2024–2029"));
    let national = fs::read_to_string(out.join("national.csv")).unwrap();
    let header = national.lines().next().unwrap();
    for column in [
        "year",
        "population",
        "urban_residents",
        "urbanization_rate_pct",
        "hukou_urban_residents",
        "hukou_urbanization_rate_pct",
        "gap_pp",
        "settlements",
        "movers",
    ] {
        assert!(header.split(',').any(|c| c == column), "national.csv lacks {column}");
    }
    let years: Vec<&str> = national.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(years, ["2023", "2024", "2025", "2026", "2027", "2028", "2029"]);
    let units = fs::read_to_string(out.join("units.csv")).unwrap();
    assert_eq!(units.lines().count(), 1 + 7 * 367);
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["scenario_name"], "tiny");
    assert_eq!(manifest["households"], 20_000);
    assert_eq!(manifest["scenario_hash"].as_str().unwrap().len(), 64);
    assert!(manifest["resolved_scenario"].as_str().unwrap().contains("[settlement.points]"));
    assert!(manifest["timings_seconds"][0]["household_passes"].is_number());
    assert_eq!(manifest["seeds"][0], 20_240_731);
    // No staging folder is left beside the output.
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn tables_are_byte_identical_with_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = scenarios().join("tiny.toml");
    for threads in ["1", "2"] {
        migrasim()
            .args(["run", tiny.to_str().unwrap(), "--quiet", "--threads", threads, "--out"])
            .arg(dir.path().join(threads))
            .assert()
            .success();
    }
    for table in ["national.csv", "tiers.csv", "regimes.csv", "provinces.csv", "units.csv", "flows.csv"] {
        let one = fs::read(dir.path().join("1").join(table)).unwrap();
        let two = fs::read(dir.path().join("2").join(table)).unwrap();
        assert!(one == two, "{table} differs between 1 and 2 threads");
    }
}

#[test]
fn a_different_seed_gives_different_results() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = scenarios().join("tiny.toml");
    for seed in ["1", "2"] {
        migrasim()
            .args(["run", tiny.to_str().unwrap(), "--quiet", "--seed", seed, "--out"])
            .arg(dir.path().join(seed))
            .assert()
            .success();
    }
    let one = fs::read(dir.path().join("1/national.csv")).unwrap();
    let two = fs::read(dir.path().join("2/national.csv")).unwrap();
    assert_ne!(one, two);
}

#[test]
fn validate_prints_the_resolved_scenario() {
    migrasim()
        .args(["validate", scenarios().join("status-quo.toml").to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("[settlement.relaxed]"))
        .stdout(predicate::str::contains("min_insurance_years = 3"))
        // Inherited from the baseline through `extends`.
        .stdout(predicate::str::contains("portable = true"))
        .stderr(predicate::str::contains("valid"));
}

#[test]
fn every_shipped_scenario_validates() {
    for entry in fs::read_dir(scenarios()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            migrasim().args(["validate", path.to_str().unwrap()]).assert().success();
        }
    }
}

#[test]
fn unknown_key_is_refused_with_file_line_and_allowed_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "bad.toml", "[run]\nhouseholds = 5000\nsede = 3\n");
    run_bad(&["run", path.to_str().unwrap()], &dir.path().join("out"))
        .stderr(predicate::str::contains("bad.toml:4:"))
        .stderr(predicate::str::contains("sede"))
        .stderr(predicate::str::contains("seed"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn wrong_type_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "bad.toml", "[run]\nhouseholds = \"many\"\n");
    run_bad(&["run", path.to_str().unwrap()], &dir.path().join("out"))
        .stderr(predicate::str::contains("bad.toml:3:"))
        .stderr(predicate::str::contains("`run.households`"))
        .stderr(predicate::str::contains("whole number"));
}

#[test]
fn bad_year_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "bad.toml", "[in_place]\nrate_pct = { soon = 1.0 }\n");
    run_bad(&["run", path.to_str().unwrap()], &dir.path().join("out"))
        .stderr(predicate::str::contains("bad.toml:3:"))
        .stderr(predicate::str::contains("year table"));
}

#[test]
fn out_of_range_value_names_key_line_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "bad.toml", "[services]\nnonhukou_share = { 2024 = 0.5, 2027 = 1.5 }\n");
    run_bad(&["run", path.to_str().unwrap()], &dir.path().join("out"))
        .stderr(predicate::str::contains("bad.toml:3"))
        .stderr(predicate::str::contains("services.nonhukou_share"))
        .stderr(predicate::str::contains("0 ..= 1"));
}

#[test]
fn missing_scenario_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.toml");
    run_bad(&["run", missing.to_str().unwrap()], &dir.path().join("out"))
        .stderr(predicate::str::contains("nowhere.toml"))
        .stderr(predicate::str::contains("cannot read"));
}

#[test]
fn missing_parent_in_extends_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("child.toml");
    fs::write(&path, "extends = \"gone.toml\"\n").unwrap();
    run_bad(&["run", path.to_str().unwrap()], &dir.path().join("out")).stderr(predicate::str::contains("gone.toml"));
    // A typo: the referring file and line, the resolved path and the closest file are named.
    fs::write(dir.path().join("baseline.toml"), "").unwrap();
    fs::write(&path, "# a child\nextends = \"./sub/../baselin.toml\"\n").unwrap();
    let resolved = dir.path().canonicalize().unwrap().join("baselin.toml");
    run_bad(&["run", path.to_str().unwrap()], &dir.path().join("out")).stderr(
        predicate::str::contains("child.toml:2: cannot read scenario file")
            .and(predicate::str::contains(format!("resolves to {}", resolved.display())))
            .and(predicate::str::contains("the closest file there is `baseline.toml`")),
    );
}

#[test]
fn set_overrides_any_key_and_names_itself_when_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = scenarios().join("tiny.toml");
    let out = dir.path().join("set");
    migrasim()
        .args(["run", tiny.to_str().unwrap(), "--quiet", "--set"])
        .arg("settlement.willingness.procedure_ease=0.7")
        .args(["--set", "jobs.growth_pct={2024=1.0,2027=2.0}", "--out"])
        .arg(&out)
        .assert()
        .success();
    let manifest = fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"settlement.willingness.procedure_ease=0.7\""));
    assert!(manifest.contains("procedure_ease = 0.7"), "the resolved scenario has it");
    for (set, expect) in [
        (
            "settlement.willingness.procedure_ease=70",
            "--set settlement.willingness.procedure_ease=70: `settlement.willingness.procedure_ease` = 70 is out of range; allowed: -5 ..= 5",
        ),
        ("settlement.nosuch=1", "unknown field `nosuch`"),
        ("settlement.willingness.procedure_ease=abc", "invalid type: string \"abc\""),
        ("procedure_ease", "no `=`; allowed: KEY=VALUE"),
        ("a..b=1", "is not a dotted key"),
        ("name=other", "belongs to the scenario file"),
    ] {
        run_bad(&["run", tiny.to_str().unwrap(), "--set", set], &dir.path().join("bad"))
            .stderr(predicate::str::contains(expect));
    }
}

#[test]
fn quiet_and_verbose_together_are_refused() {
    migrasim()
        .args(["run", scenarios().join("tiny.toml").to_str().unwrap(), "-q", "-v"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
}

#[test]
fn completions_and_man_page_are_printed() {
    for shell in ["bash", "zsh", "fish"] {
        migrasim()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("migrasim").and(predicate::str::contains("compare")));
    }
    migrasim().args(["completions", "tcsh"]).assert().code(2);
    migrasim()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH migrasim").and(predicate::str::contains("compare")));
}

#[test]
fn errors_are_coloured_only_on_a_terminal_and_never_with_no_color() {
    // Not a terminal here (captured): no escape codes, with or without NO_COLOR.
    for no_color in [None, Some("1")] {
        let mut cmd = migrasim();
        cmd.args(["run", "scenarios/does-not-exist.toml"]);
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        cmd.assert()
            .code(2)
            .stderr(predicate::str::starts_with("error: ").and(predicate::str::contains("\u{1b}[").not()));
    }
    // Forced colour (CLICOLOR_FORCE, as clap honours it): "error:" in bold red.
    migrasim()
        .args(["run", "scenarios/does-not-exist.toml"])
        .env("CLICOLOR_FORCE", "1")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("\u{1b}[1m\u{1b}[31merror:"));
}

#[test]
fn extends_cycle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.toml"), "extends = \"b.toml\"\n").unwrap();
    fs::write(dir.path().join("b.toml"), "extends = \"a.toml\"\n").unwrap();
    let a = dir.path().join("a.toml");
    run_bad(&["run", a.to_str().unwrap()], &dir.path().join("out"))
        .stderr(predicate::str::contains("cycle"))
        .stderr(predicate::str::contains("b.toml"));
}

#[test]
fn zero_and_absurd_household_counts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = scenarios().join("tiny.toml");
    run_bad(&["run", tiny.to_str().unwrap(), "--households", "0"], &dir.path().join("out"))
        .stderr(predicate::str::contains("--households 0"))
        .stderr(predicate::str::contains("1000 ..="));
    let path = scenario(dir.path(), "huge.toml", "[run]\nhouseholds = 1_000_000_000_000\n");
    run_bad(&["run", path.to_str().unwrap()], &dir.path().join("out"))
        .stderr(predicate::str::contains("huge.toml:3"))
        .stderr(predicate::str::contains("run.households"))
        .stderr(predicate::str::contains("allowed"));
}

#[test]
fn last_year_before_first_year_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "bad.toml", "[run]\nlast_year = 2022\n");
    run_bad(&["run", path.to_str().unwrap()], &dir.path().join("out"))
        .stderr(predicate::str::contains("run.last_year"));
}

#[test]
fn unknown_unit_in_regime_overrides_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "bad.toml", "[settlement.regime_overrides]\nAtlantis = \"open\"\n");
    run_bad(&["run", path.to_str().unwrap()], &dir.path().join("out"))
        .stderr(predicate::str::contains("Atlantis"))
        .stderr(predicate::str::contains("data/units.csv"));
    let path = scenario(dir.path(), "bad2.toml", "[settlement.regime_overrides]\nShenzhen = \"closed\"\n");
    run_bad(&["run", path.to_str().unwrap()], &dir.path().join("out"))
        .stderr(predicate::str::contains("open"))
        .stderr(predicate::str::contains("points"));
}

#[test]
fn bad_arguments_exit_with_code_2() {
    let tiny = scenarios().join("tiny.toml");
    migrasim().args(["run", tiny.to_str().unwrap(), "--threads", "0"]).assert().code(2);
    migrasim().args(["fly"]).assert().code(2);
}

#[test]
fn replicates_record_their_seeds_and_add_bands() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    migrasim()
        .args([
            "run",
            scenarios().join("tiny.toml").to_str().unwrap(),
            "--quiet",
            "--replicates",
            "3",
            "--seed",
            "5",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let seeds: Vec<u64> = manifest["seeds"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    assert_eq!(seeds.len(), 3);
    assert_eq!(seeds[0], 5, "replicate 0 uses the scenario seed");
    let national = fs::read_to_string(out.join("national.csv")).unwrap();
    assert!(national.starts_with("replicate,year,"));
    assert_eq!(national.lines().count(), 1 + 3 * 7);
    let summary = fs::read_to_string(out.join("national_summary.csv")).unwrap();
    assert!(summary.starts_with("year,variable,runs,mean,p5,p95,sd,sd_draws,parameter_share\n"));
    // Without a posterior the variance cannot be split: the split columns stay empty.
    assert!(summary.lines().nth(1).unwrap().ends_with(",,,"));
    assert!(out.join("charts/urbanization-bands.png").is_file());
    assert!(fs::read_to_string(out.join("report.md")).unwrap().contains("charts/net-migration-map.png"));
}

#[test]
fn comparing_a_scenario_with_itself_shows_no_difference() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.toml");
    fs::write(&copy, format!("extends = \"{}\"\nname = \"copy\"\n", scenarios().join("tiny.toml").display())).unwrap();
    let out = dir.path().join("cmp");
    migrasim()
        .args([
            "compare",
            scenarios().join("tiny.toml").to_str().unwrap(),
            copy.to_str().unwrap(),
            "--quiet",
            "--replicates",
            "2",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    for file in [
        "summary.csv",
        "summary.md",
        "inputs-diff.md",
        "report.md",
        "report.html",
        "manifest.json",
        "charts/urbanization.png",
        "charts/settlements.svg",
        "charts/urban-points.png",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let summary = fs::read_to_string(out.join("summary.csv")).unwrap();
    let header: Vec<&str> = summary.lines().next().unwrap().split(',').collect();
    let diff_columns: Vec<usize> =
        ["diff_mean", "diff_p5", "diff_p95"].iter().map(|c| header.iter().position(|h| h == c).unwrap()).collect();
    let mut checked = 0;
    for line in
        summary.lines().skip(1).filter(|l| l.starts_with("copy,") && !l.contains("chance") && !l.contains("first_year"))
    {
        let fields: Vec<&str> = line.split(',').collect();
        for &i in &diff_columns {
            assert_eq!(fields[i].parse::<f64>().unwrap(), 0.0, "{line}");
        }
        checked += 1;
    }
    assert_eq!(checked, 6);
    // Every year's differences, too.
    let by_year = fs::read_to_string(out.join("summary_by_year.csv")).unwrap();
    let mut yearly = 0;
    for line in by_year.lines().skip(1).filter(|l| l.starts_with("copy,")) {
        let fields: Vec<&str> = line.split(',').collect();
        for &i in &diff_columns {
            assert_eq!(fields[i].parse::<f64>().unwrap(), 0.0, "{line}");
        }
        yearly += 1;
    }
    assert_eq!(yearly, 5 * 7, "five measures × seven years");
    assert!(fs::read_to_string(out.join("inputs-diff.md")).unwrap().contains("identical"));
    // The sub-national tables: an identical scenario differs from the reference nowhere.
    for file in ["provinces_diff.csv", "units_diff.csv"] {
        let text = fs::read_to_string(out.join(file)).unwrap();
        let mut rows = 0;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.rsplitn(4, ',').collect();
            for diff in &fields[..3] {
                assert_eq!(diff.parse::<f64>().unwrap_or(0.0), 0.0, "{file}: {line}");
            }
            rows += 1;
        }
        assert!(rows > 1000, "{file}: {rows} rows");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["seeds"].as_array().unwrap().len(), 2);
}

#[test]
fn comparison_diff_lists_the_changed_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let changed = dir.path().join("changed.toml");
    fs::write(
        &changed,
        format!(
            "extends = \"{}\"\nname = \"changed\"\n[fiscal]\nlink = false\n",
            scenarios().join("tiny.toml").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("cmp");
    migrasim()
        .args([
            "compare",
            scenarios().join("tiny.toml").to_str().unwrap(),
            changed.to_str().unwrap(),
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let diff = fs::read_to_string(out.join("inputs-diff.md")).unwrap();
    assert!(diff.contains("1 resolved keys differ"), "{diff}");
    assert!(diff.contains("`fiscal.link`"));
    // Without the fiscal link some unit's construction land differs, and the difference is
    // labelled with the unit, its province and the column.
    assert!(out.join("charts/difference-map-1.png").is_file());
    assert!(out.join("charts/difference-map-1.svg").is_file());
    let units = fs::read_to_string(out.join("units_diff.csv")).unwrap();
    let header = units.lines().next().unwrap();
    assert_eq!(
        header,
        "scenario,reference,year,code,name_en,province_en,column,reference_mean,mean,diff_mean,diff_p5,diff_p95"
    );
    assert!(
        units.lines().any(|l| l.contains(",construction_land_ha,")
            && l.rsplit(',').nth(2).and_then(|d| d.parse::<f64>().ok()).is_some_and(|d| d < 0.0)),
        "no unit lost construction land without the fiscal link"
    );
}

/// `--focus PROVINCE` adds the province's prefectures: a table with one row per unit and measure,
/// a report section naming gainers and losers, and a map zoomed to the province; a province
/// given by Chinese short name or code is the same; an unknown one is refused before any work.
#[test]
fn compare_focus_writes_the_province_table_section_and_zoomed_map() {
    let dir = tempfile::tempdir().unwrap();
    let changed = scenario(
        dir.path(),
        "jobs.toml",
        "name = \"henan-jobs\"\n[jobs]\ngrowth_pct = { default = 1.0, Henan = 4.0 }\n",
    );
    let out = dir.path().join("cmp");
    migrasim()
        .args([
            "compare",
            scenarios().join("tiny.toml").to_str().unwrap(),
            changed.to_str().unwrap(),
            "--focus",
            "河南",
            "--focus",
            "41",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let table = fs::read_to_string(out.join("focus-41.csv")).unwrap();
    let mut lines = table.lines();
    assert_eq!(
        lines.next().unwrap(),
        "scenario,reference,province_code,province_en,code,name_en,name_zh,measure,unit,years,reference_mean,mean,diff_mean,diff_p5,diff_p95"
    );
    let rows: Vec<&str> = lines.collect();
    // 18 Henan units × 8 measures, once although Henan was named twice.
    assert_eq!(rows.len(), 18 * 8, "{table}");
    assert!(rows.iter().all(|r| r.contains(",41,Henan,41")));
    let report = fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(report.matches("## Focus: Henan").count(), 1);
    assert!(report.contains("**Largest gainers**"));
    assert!(report.contains("![focus-41-map-1](charts/focus-41-map-1.png)"));
    assert!(report.contains("| Zhengzhou 郑州市 |"));
    assert!(out.join("charts/focus-41-map-1.png").is_file());
    assert!(out.join("charts/focus-41-map-1.svg").is_file());

    let refused = dir.path().join("refused");
    let assert = run_bad(
        &["compare", scenarios().join("tiny.toml").to_str().unwrap(), changed.to_str().unwrap(), "--focus", "Atlantis"],
        &refused,
    );
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.contains("--focus Atlantis: no such province"), "{stderr}");
    assert!(stderr.contains("Henan (河南省, 41)"), "{stderr}");
}

/// `compare --posterior`: every scenario runs every parameter set with the same seeds; the bands
/// then hold the parameters' uncertainty, far wider than the draws' alone, the summary splits
/// the variance, and the per-year table has every simulated year.
#[test]
fn compare_with_the_posterior_widens_the_bands_and_splits_the_variance() {
    let dir = tempfile::tempdir().unwrap();
    let changed =
        scenario(dir.path(), "open.toml", "name = \"open\"\n[settlement.regime_overrides]\nGuangzhou = \"open\"\n");
    let out = dir.path().join("cmp");
    migrasim()
        .args([
            "compare",
            scenarios().join("tiny.toml").to_str().unwrap(),
            changed.to_str().unwrap(),
            "--households",
            "200000",
            "--replicates",
            "2",
            "--posterior",
            "--members",
            "4",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let summary = fs::read_to_string(out.join("summary.csv")).unwrap();
    let mut lines = summary.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row: Vec<&str> = lines.find(|l| l.starts_with("tiny,urbanization_rate_pct,")).unwrap().split(',').collect();
    let value = |name: &str| -> f64 { row[col(name)].parse().unwrap() };
    assert_eq!(value("runs"), 8.0, "4 parameter sets × 2 replicates");
    assert!(value("sd") > 2.0 * value("sd_draws"), "sd {} against draws alone {}", value("sd"), value("sd_draws"));
    assert!(value("parameter_share") > 0.5);
    let by_year = fs::read_to_string(out.join("summary_by_year.csv")).unwrap();
    for year in 2023..=2029 {
        assert!(by_year.contains(&format!("open,urbanization_rate_pct,%,{year},8,")), "{year} missing");
    }
    let report = fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("4 parameter sets × 2 replicates"));
    assert!(report.contains("### open minus tiny, year by year"));
    let manifest = fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"parameter_sets\": 4"));
}

/// A bad `--posterior` or `--members` is refused before any work, naming the file and line or the
/// allowed values.
#[test]
fn bad_posterior_arguments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = scenarios().join("tiny.toml");
    let tiny = tiny.to_str().unwrap();
    let broken = dir.path().join("broken.csv");
    fs::write(&broken, "member,settlement.willingness.base,distance\ncalibration,-3.4,0.4\n0,oops,0.5\n").unwrap();
    let shipped = scenarios().join("posterior.csv");
    for (args, expected) in [
        (vec!["run", tiny, "--posterior", "/nonexistent/posterior.csv"], "--posterior /nonexistent/posterior.csv"),
        (vec!["run", tiny, "--posterior", broken.to_str().unwrap()], "line 3: `oops` is not a finite number"),
        (vec!["run", tiny, "--posterior", shipped.to_str().unwrap(), "--members", "100000"], "--members 100000"),
        (vec!["run", tiny, "--members", "3"], "--posterior"),
    ] {
        let out = dir.path().join("never");
        let assert = run_bad(&args, &out);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// `sensitivity` screens every uncertain parameter and plan measure and ranks them: the settlement
/// willingness moves the hukou rate more than the housing weight does, the table has one row per
/// factor, and the tornado chart and report are written; a bad outcome is refused before any run.
#[test]
fn sensitivity_ranks_the_factors_and_refuses_bad_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sens");
    let tiny = scenarios().join("tiny.toml");
    migrasim()
        .args([
            "sensitivity",
            tiny.to_str().unwrap(),
            "--households",
            "40000",
            "--trajectories",
            "2",
            "--sobol-samples",
            "4",
            "--leading",
            "2",
            "--outcome",
            "hukou_urbanization_rate_pct@2029",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let table = fs::read_to_string(out.join("sensitivity.csv")).unwrap();
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 17 + 13, "one row per factor: {table}");
    let mu_star = |factor: &str| -> f64 {
        let row = rows.iter().find(|r| r.contains(&format!("\"{factor}\""))).unwrap();
        row.split(',').nth(5).unwrap().parse().unwrap()
    };
    assert!(mu_star("settlement.willingness.base") > 5.0 * mu_star("behaviour.beta_housing"), "{table}");
    // The two leading factors carry Sobol indices.
    assert_eq!(rows.iter().filter(|r| !r.ends_with(",,")).count(), 2, "{table}");
    assert!(out.join("charts/tornado-0.png").is_file());
    let report = fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## hukou_urbanization_rate_pct@2029"));

    for (outcome, expected) in [
        ("nonsense@2029", "is not a column of national.csv"),
        ("urbanization_rate_pct@2040", "allowed: 2024–2029"),
        ("urbanization_rate_pct", "COLUMN@YEAR"),
    ] {
        let refused = dir.path().join("refused");
        let assert = run_bad(&["sensitivity", tiny.to_str().unwrap(), "--outcome", outcome], &refused);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(stderr.contains(expected), "{outcome}: {stderr}");
    }
}

/// `solve` finds the smallest move of a lever that reaches a target with the stated chance over
/// the posterior: below the answer the chance falls short, at it the target is met; and bad
/// targets, levers and probabilities are refused before any run.
#[test]
fn solve_finds_the_smallest_lever_change_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("solve");
    let tiny = scenarios().join("tiny.toml");
    migrasim()
        .args([
            "solve",
            tiny.to_str().unwrap(),
            "--target",
            "hukou_urbanization_rate_pct@2029>=57",
            "--lever",
            "settlement.willingness.base=0",
            "--members",
            "2",
            "--households",
            "40000",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let table = fs::read_to_string(out.join("solve.csv")).unwrap();
    let mut lines = table.lines();
    assert_eq!(
        lines.next().unwrap(),
        "t,settlement.willingness.base,probability,\"mean: hukou_urbanization_rate_pct@2029>=57\""
    );
    let points: Vec<(f64, f64, f64)> = lines
        .map(|l| {
            let f: Vec<f64> = l.split(',').map(|v| v.parse().unwrap()).collect();
            (f[0], f[2], f[3])
        })
        .collect();
    let report = fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("**Smallest change found**"), "{report}");
    let reached: Vec<&(f64, f64, f64)> = points.iter().filter(|p| p.1 >= 0.8).collect();
    let short: Vec<&(f64, f64, f64)> = points.iter().filter(|p| p.1 < 0.8).collect();
    let answer = reached.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    assert!(answer > 0.0 && answer <= 1.0, "{table}");
    assert!(short.iter().all(|p| p.0 < answer), "{table}");
    // More willingness, a higher hukou rate: the means rise along the way.
    assert!(points.last().unwrap().2 > points[0].2 + 1.0, "{table}");
    assert!(out.join("charts/probability.png").is_file());

    // The answer holds when the solved scenario is run over the same parameter sets and seed.
    let solved = out.join("solved.toml");
    assert!(report.contains("migrasim run solved.toml --posterior --members 2"));
    let check = dir.path().join("check");
    migrasim()
        .args(["run", solved.to_str().unwrap(), "--posterior", "--members", "2", "--quiet", "--out"])
        .arg(&check)
        .assert()
        .success();
    let national = fs::read_to_string(check.join("national.csv")).unwrap();
    let header: Vec<&str> = national.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "hukou_urbanization_rate_pct").unwrap();
    let rates: Vec<f64> = national
        .lines()
        .filter(|l| l.split(',').nth(1) == Some("2029"))
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    assert_eq!(rates.len(), 2, "{national}");
    assert!(rates.iter().all(|r| *r >= 57.0), "{rates:?}");

    for (args, expected) in [
        (vec!["--target", "nonsense@2029>=1", "--lever", "jobs.growth_pct"], "is not a numeric column of national.csv"),
        (vec!["--target", "urbanization_rate_pct[Atlantis]@2029>=1", "--lever", "jobs.growth_pct"], "Atlantis"),
        (
            vec!["--target", "urbanization_rate_pct@2029>=70", "--lever", "settlement.land_surrender_required"],
            "is not a numeric key with a range",
        ),
        (
            vec!["--target", "urbanization_rate_pct@2029>=70", "--lever", "jobs.growth_pct=99"],
            "outside its allowed range -20 ..= 20",
        ),
        (
            vec!["--target", "urbanization_rate_pct@2029>=70", "--lever", "jobs.growth_pct", "--probability", "1.5"],
            "--probability 1.5",
        ),
    ] {
        let refused = dir.path().join("refused");
        let mut all = vec!["solve", tiny.to_str().unwrap()];
        all.extend(args);
        let assert = run_bad(&all, &refused);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(stderr.contains(expected), "{all:?}: {stderr}");
    }
}

#[test]
fn compare_needs_two_scenarios() {
    migrasim().args(["compare", scenarios().join("tiny.toml").to_str().unwrap()]).assert().code(2);
}

/// A backcast in which nobody can settle cannot reach the hukou rate: the willingness ends on
/// its bound, and `calibrate` says so and fails without writing anything.
#[test]
fn calibrate_on_a_backcast_that_cannot_be_fitted_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let backcast = dir.path().join("nobody-settles.toml");
    fs::write(
        &backcast,
        format!(
            "extends = {:?}\nname = \"nobody-settles\"\n[settlement.open]\nmin_residence_years = 30\n[settlement.relaxed]\nmin_residence_years = 30\n[settlement.points]\nmin_residence_years = 30\n",
            scenarios().join("backcast-2020.toml").display().to_string()
        ),
    )
    .unwrap();
    let docs = dir.path().join("docs");
    fs::create_dir(&docs).unwrap();
    let calibration = dir.path().join("calibration.toml");
    let output = migrasim()
        .args(["calibrate", backcast.to_str().unwrap(), "--households", "2000", "--rounds", "1", "--calibration"])
        .arg(&calibration)
        .arg("--docs")
        .arg(&docs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("warning: `settlement.willingness.base`"), "{stderr}");
    assert!(stderr.contains("cannot be fitted"), "{stderr}");
    assert!(stderr.contains("hukou urbanization rate"), "{stderr}");
    assert!(!calibration.exists());
    assert_eq!(fs::read_dir(&docs).unwrap().count(), 0);
}

/// `levers` never replaces a levers.md it did not write, and refuses before any run.
#[test]
fn levers_refuses_to_replace_a_file_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("levers.md"), "my notes\n").unwrap();
    migrasim()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["levers", "--quiet", "--households", "20000", "--docs"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("levers.md"));
    assert_eq!(fs::read_to_string(dir.path().join("levers.md")).unwrap(), "my notes\n");
}

/// `levers` on a small run writes a table with every measure and an effect for each.
#[test]
fn levers_writes_a_row_per_measure() {
    let dir = tempfile::tempdir().unwrap();
    migrasim()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["levers", "--quiet", "--households", "20000", "--replicates", "1", "--docs"])
        .arg(dir.path())
        .assert()
        .success();
    let text = fs::read_to_string(dir.path().join("levers.md")).unwrap();
    for measure in migrasim::levers::MEASURES {
        assert!(text.contains(&format!("| {} |", measure.name)), "{}", measure.name);
    }
}

/// Width and height from a PNG's header.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = fs::read(path).unwrap();
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn dpi_sets_the_png_resolution_and_is_range_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("print");
    let tiny = scenarios().join("tiny.toml");
    migrasim().args(["run", tiny.to_str().unwrap(), "--quiet", "--dpi", "300", "--out"]).arg(&out).assert().success();
    assert_eq!(png_size(&out.join("charts/gap.png")), (3600, 2250));
    assert_eq!(png_size(&out.join("charts/net-migration-map.png")), (3600, 2700));
    let svg = fs::read_to_string(out.join("charts/gap.svg")).unwrap();
    assert!(svg.contains("width=\"1200\" height=\"750\""), "SVGs keep their size");
    run_bad(&["run", tiny.to_str().unwrap(), "--dpi", "20"], &dir.path().join("bad"))
        .stderr(predicate::str::contains("--dpi").and(predicate::str::contains("50..=600")));
}
