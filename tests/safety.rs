//! migrasim never destroys what it did not write, checks every path and input before any work,
//! and refuses what it cannot carry: each case through the real binary, with exit code 2, a
//! message, and the user's files untouched.

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

fn tiny() -> String {
    scenarios().join("tiny.toml").display().to_string()
}

/// A scenario in `dir` extending the shipped tiny scenario.
fn scenario(dir: &Path, file: &str, body: &str) -> PathBuf {
    let path = dir.join(file);
    fs::write(&path, format!("extends = {:?}\n{body}", tiny())).unwrap();
    path
}

/// Every file under `dir` with its contents, to show nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path.clone());
                out.push((path, Vec::new()));
            } else {
                out.push((path.clone(), fs::read(&path).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// The assertion every refused run shares: exit 2, an error line, no synthesis, no panic.
fn refused(assert: assert_cmd::assert::Assert) -> String {
    let assert = assert.code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("synthesis"), "refused before any work: {stderr}");
    assert!(assert.get_output().stdout.is_empty(), "no results printed");
    stderr
}

fn run_tiny(cwd: &Path, out: &str) -> assert_cmd::assert::Assert {
    migrasim().current_dir(cwd).args(["run", &tiny(), "-v", "--out", out]).assert()
}

#[test]
fn a_folder_with_user_files_is_never_replaced_even_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    fs::create_dir(&d).unwrap();
    fs::write(d.join("notes.txt"), "mine").unwrap();
    let before = snapshot(dir.path());
    let message = refused(run_tiny(dir.path(), "d"));
    assert!(message.contains("notes.txt"), "{message}");
    assert!(message.contains("fresh") || message.contains("new folder"), "{message}");
    refused(migrasim().current_dir(dir.path()).args(["run", &tiny(), "--quiet", "--out", "d", "--force"]).assert());
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn the_current_folder_its_parents_and_the_root_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    fs::create_dir_all(work.join("sub")).unwrap();
    fs::write(work.join("keep.txt"), "mine").unwrap();
    fs::write(dir.path().join("keep-too.txt"), "mine").unwrap();
    let before = snapshot(dir.path());
    for out in [".", "..", "sub/..", "./", "/", "../work"] {
        let message = refused(run_tiny(&work, out));
        assert!(message.contains(out.trim_end_matches('/')), "{out}: {message}");
        refused(migrasim().current_dir(&work).args(["run", &tiny(), "--quiet", "--force", "--out", out]).assert());
    }
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn the_folder_holding_the_scenario_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("scenarios");
    fs::create_dir(&library).unwrap();
    let own = scenario(&library, "mine.toml", "name = \"mine\"\n");
    let before = snapshot(dir.path());
    let message = refused(
        migrasim()
            .current_dir(dir.path())
            .args(["run", own.to_str().unwrap(), "--quiet", "--out", "scenarios"])
            .assert(),
    );
    assert!(message.contains("scenario file"), "{message}");
    // Also the folder holding a file it extends (the shipped library).
    refused(
        migrasim()
            .current_dir(dir.path())
            .args(["run", own.to_str().unwrap(), "--quiet", "--force", "--out"])
            .arg(scenarios())
            .assert(),
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn the_home_folder_and_the_project_folder_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    fs::create_dir(&home).unwrap();
    let before = snapshot(dir.path());
    let message = refused(
        migrasim().env("HOME", &home).args(["run", &tiny(), "--quiet", "--force", "--out"]).arg(&home).assert(),
    );
    assert!(message.contains("home folder"), "{message}");
    let message = refused(
        migrasim()
            .current_dir(dir.path())
            .args(["run", &tiny(), "--quiet", "--force", "--out"])
            .arg(env!("CARGO_MANIFEST_DIR"))
            .assert(),
    );
    assert!(message.contains("project folder"), "{message}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_scenario_name_that_is_not_a_plain_folder_name_is_refused_at_validation() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();
    fs::write(work.join("keep.txt"), "mine").unwrap();
    for name in ["..", ".", ".hidden", "a/b", "../../x", "a b", "名字", &"x".repeat(65)] {
        let path = scenario(&work, "bad.toml", &format!("name = {name:?}\n"));
        let before = snapshot(dir.path());
        for command in ["validate", "run"] {
            let message = refused(migrasim().current_dir(&work).args([command, path.to_str().unwrap()]).assert());
            assert!(message.contains("bad.toml:2"), "{name:?}: {message}");
            assert!(message.contains("`name`"), "{name:?}: {message}");
            assert!(message.contains("letters, digits"), "{name:?}: {message}");
        }
        assert_eq!(snapshot(dir.path()), before, "{name:?}");
    }
    // A name taken from an odd file name is made safe rather than refused.
    let odd = scenario(&work, "my scenario (v2).toml", "");
    migrasim()
        .current_dir(&work)
        .args(["validate", odd.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("name = \"my-scenario--v2-\""));
}

#[test]
fn long_text_labels_are_capped_with_the_limit_named() {
    let dir = tempfile::tempdir().unwrap();
    for (body, key) in [
        (format!("description = {:?}\n", "d".repeat(1001)), "description"),
        (format!("[potential_regions.members]\n{:?} = [\"Hefei\"]\n", "r".repeat(65)), "potential_regions.members"),
        (format!("[metro_areas.members]\nx = [{:?}]\n", "u".repeat(65)), "metro_areas.members"),
    ] {
        let path = scenario(dir.path(), "long.toml", &body);
        let message = refused(migrasim().args(["validate", path.to_str().unwrap()]).assert());
        assert!(message.contains(key), "{message}");
        assert!(message.contains("characters"), "{message}");
    }
    // The longest accepted name runs and labels its charts.
    let path = scenario(dir.path(), "longest.toml", &format!("name = {:?}\n", "n".repeat(64)));
    migrasim().args(["run", path.to_str().unwrap(), "--quiet", "--out"]).arg(dir.path().join("out")).assert().success();
}

#[test]
fn an_earlier_output_needs_force_at_an_explicit_path_and_is_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    run_tiny(dir.path(), "out").success();
    let first_files = snapshot(&dir.path().join("out"));
    fs::write(dir.path().join("out").join("national.csv"), "edited").unwrap();
    let message = refused(run_tiny(dir.path(), "out"));
    assert!(message.contains("--force"), "{message}");
    migrasim().current_dir(dir.path()).args(["run", &tiny(), "--quiet", "--force", "--out", "out"]).assert().success();
    let national = fs::read_to_string(dir.path().join("out/national.csv")).unwrap();
    assert!(national.starts_with("year,"), "replaced");
    assert_eq!(snapshot(&dir.path().join("out")).len(), first_files.len());
    let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "no staging or old folder left");
    // The default location output/<name>/ is migrasim's own: replaced without --force.
    for _ in 0..2 {
        migrasim().current_dir(dir.path()).args(["run", &tiny(), "--quiet"]).assert().success();
    }
    assert!(dir.path().join("output/tiny/national.csv").is_file());
}

#[test]
fn a_file_a_device_proc_or_a_missing_parent_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("file.csv"), "mine").unwrap();
    let before = snapshot(dir.path());
    for (out, expect) in [
        ("file.csv", "is a file"),
        ("file.csv/sub", "not a folder"),
        ("/dev/null", "/dev"),
        ("/proc/self/out", "/proc"),
        ("/sys/out", "/sys"),
        ("missing/out", "does not exist"),
    ] {
        let message = refused(run_tiny(dir.path(), out));
        assert!(message.contains(expect), "{out}: {message}");
    }
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn an_unwritable_parent_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
    let out = locked.join("out");
    // Root ignores permissions: run as nobody then (setpriv is part of util-linux).
    // SAFETY: geteuid has no preconditions.
    let is_root = unsafe { libc::geteuid() } == 0;
    let mut command = if is_root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(assert_cmd::cargo::cargo_bin("migrasim"));
        c
    } else {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("migrasim"))
    };
    // Nobody must be able to read the scenario.
    let readable = dir.path().join("tiny.toml");
    fs::write(
        &readable,
        fs::read_to_string(scenarios().join("tiny.toml"))
            .unwrap()
            .replace("baseline.toml", scenarios().join("baseline.toml").to_str().unwrap()),
    )
    .unwrap();
    fs::set_permissions(&readable, fs::Permissions::from_mode(0o644)).unwrap();
    let output = command
        .current_dir(dir.path())
        .args(["run", readable.to_str().unwrap(), "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert_eq!(fs::read_dir(&locked).unwrap().count(), 0);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn stale_staging_folders_of_dead_runs_are_cleared_and_others_kept() {
    let dir = tempfile::tempdir().unwrap();
    // PIDs above the kernel's limit (2^22) never exist.
    let stale = dir.path().join(".out.partial-99999999");
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join(".migrasim-staging"), "").unwrap();
    fs::write(stale.join("national.csv"), "half").unwrap();
    let unmarked = dir.path().join(".out.partial-99999998");
    fs::create_dir(&unmarked).unwrap();
    fs::write(unmarked.join("mine.txt"), "not migrasim's").unwrap();
    let other = dir.path().join(".other.partial-99999999");
    fs::create_dir(&other).unwrap();
    fs::write(other.join(".migrasim-staging"), "").unwrap();
    run_tiny(dir.path(), "out").success();
    assert!(!stale.exists(), "a dead run's staging folder is cleared");
    assert!(unmarked.join("mine.txt").exists(), "unmarked folders stay");
    assert!(other.exists(), "only leftovers of the same output are touched");
}

/// A killed run leaves the previous complete output under the final name, or the new one:
/// never a half-deleted folder.
#[test]
fn kill_9_at_random_moments_never_leaves_a_half_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let bin = assert_cmd::cargo::cargo_bin("migrasim");
    let start = std::time::Instant::now();
    run_tiny(dir.path(), "out").success();
    // Spread the kills over the whole run, including the final swap.
    let full = start.elapsed().as_micros() as u64 + 20_000;
    let complete = |out: &Path| {
        let marker = fs::read_to_string(out.join(".migrasim-output")).expect("marker");
        let marker: serde_json::Value = serde_json::from_str(&marker).unwrap();
        let files = marker["files"].as_array().unwrap();
        assert!(files.len() > 20, "{files:?}");
        for file in files {
            assert!(out.join(file.as_str().unwrap()).is_file(), "{file} missing");
        }
    };
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut killed = 0;
    for _ in 0..20 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let delay = (state >> 33) % full;
        let mut child = std::process::Command::new(&bin)
            .current_dir(dir.path())
            .args(["run", &tiny(), "--quiet", "--force", "--out", "out"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(delay));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        complete(&out);
    }
    eprintln!(
        "kill -9 during {killed} of 20 runs replacing an existing output; the final name held a complete output after every one"
    );
    assert!(killed >= 10, "most runs were killed mid-way ({killed})");
    // The next run clears every leftover.
    run_tiny(dir.path(), "out").code(2);
    migrasim().current_dir(dir.path()).args(["run", &tiny(), "--quiet", "--force", "--out", "out"]).assert().success();
    let names: Vec<String> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["out".to_string()], "leftovers cleared");
}

#[test]
fn scenario_files_are_read_with_a_hard_limit_and_only_when_regular() {
    let dir = tempfile::tempdir().unwrap();
    for device in ["/dev/zero", "/dev/urandom"] {
        let message = refused(migrasim().args(["validate", device]).assert());
        assert!(message.contains("not a regular file"), "{message}");
        let path = dir.path().join("extends-device.toml");
        fs::write(&path, format!("extends = {device:?}\n")).unwrap();
        let message = refused(migrasim().args(["run", path.to_str().unwrap()]).assert());
        assert!(message.contains(device), "{message}");
    }
    let fifo = dir.path().join("pipe.toml");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let message = refused(migrasim().args(["validate", fifo.to_str().unwrap()]).assert());
    assert!(message.contains("not a regular file"), "{message}");
    let message = refused(migrasim().args(["validate"]).arg(dir.path()).assert());
    assert!(message.contains("a folder"), "{message}");
    let big = dir.path().join("big.toml");
    fs::write(&big, format!("# {}\n", "x".repeat(2 << 20))).unwrap();
    let message = refused(migrasim().args(["validate", big.to_str().unwrap()]).assert());
    assert!(message.contains("1024 KiB"), "{message}");
    let binary = dir.path().join("latin1.toml");
    fs::write(&binary, b"description = \"caf\xe9\"\n").unwrap();
    let message = refused(migrasim().args(["validate", binary.to_str().unwrap()]).assert());
    assert!(message.contains("UTF-8"), "{message}");
}

#[test]
fn a_run_that_does_not_fit_the_memory_limit_is_refused_not_aborted() {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 1000000; exec {} run {} --households 100000000 --out {}",
            assert_cmd::cargo::cargo_bin("migrasim").display(),
            scenarios().join("baseline.toml").display(),
            tempfile::tempdir().unwrap().path().join("big").display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ulimit -v"), "{stderr}");
    assert!(stderr.contains("allowed: at most"), "{stderr}");
}

fn hash_of_validated(path: &Path) -> String {
    let output = migrasim().args(["validate", path.to_str().unwrap()]).output().unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr.split("hash ").nth(1).expect("hash printed").trim().to_string()
}

#[test]
fn what_validate_prints_and_the_manifest_stores_read_back_to_the_same_hash() {
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(scenarios()).unwrap() {
        let path = entry.unwrap().path();
        // Scenario files only (the folder also holds the posterior ensemble's table).
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let printed =
            migrasim().args(["validate", path.to_str().unwrap(), "--seed", "9223372036854775807"]).output().unwrap();
        assert!(printed.status.success(), "{}", path.display());
        let copy = dir.path().join("printed.toml");
        fs::write(&copy, &printed.stdout).unwrap();
        let original = String::from_utf8_lossy(&printed.stderr).split("hash ").nth(1).unwrap().trim().to_string();
        assert_eq!(hash_of_validated(&copy), original, "{}", path.display());
    }
    let out = dir.path().join("out");
    migrasim().args(["run", &tiny(), "--quiet", "--seed", "9223372036854775807", "--out"]).arg(&out).assert().success();
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let resolved = dir.path().join("resolved.toml");
    fs::write(&resolved, manifest["resolved_scenario"].as_str().unwrap()).unwrap();
    assert!(manifest["scenario_hash"].as_str().unwrap().starts_with(&hash_of_validated(&resolved)));
}

#[test]
fn seeds_a_scenario_file_cannot_hold_are_refused() {
    let message = refused(migrasim().args(["validate", &tiny(), "--seed", "9223372036854775808"]).assert());
    assert!(message.contains("9223372036854775807"), "{message}");
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "seed.toml", "[run]\nseed = 18446744073709551615\n");
    let message = refused(migrasim().args(["validate", path.to_str().unwrap()]).assert());
    assert!(message.contains("seed.toml:3"), "{message}");
    assert!(message.contains("9223372036854775807"), "{message}");
}

#[test]
fn comparing_runs_over_different_years_is_refused_naming_both_spans() {
    let dir = tempfile::tempdir().unwrap();
    let longer = scenario(dir.path(), "longer.toml", "name = \"longer\"\n[run]\nlast_year = 2035\n");
    let message = refused(
        migrasim()
            .args(["compare", &tiny(), longer.to_str().unwrap(), "--quiet", "--out"])
            .arg(dir.path().join("cmp"))
            .assert(),
    );
    assert!(message.contains("2024–2029"), "{message}");
    assert!(message.contains("2024–2035"), "{message}");
    assert!(!dir.path().join("cmp").exists());
}

#[test]
fn a_start_year_without_its_initial_state_and_horizons_past_the_demography_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (body, key, allowed) in [
        ("[run]\nfirst_year = 2021\n", "run.first_year", "initial.year"),
        ("[run]\nfirst_year = 2030\nlast_year = 2030\n", "run.first_year", "2024"),
        ("[run]\nlast_year = 2036\n", "run.last_year", "2024 ..= 2035"),
        ("[run]\nlast_year = 2060\n", "run.last_year", "2024 ..= 2035"),
        ("[demography]\nbirth_rate_permille = 30\n", "demography.birth_rate_permille", "15"),
    ] {
        let path = scenario(dir.path(), "horizon.toml", body);
        let message = refused(migrasim().args(["validate", path.to_str().unwrap()]).assert());
        assert!(message.contains(key), "{body}: {message}");
        assert!(message.contains(allowed), "{body}: {message}");
    }
    // An explicit initial state of another year is accepted.
    let path = scenario(
        dir.path(),
        "explicit.toml",
        "[run]\nfirst_year = 2021\nlast_year = 2023\n[initial]\nyear = 2020\npopulation = 1_412_120_000\nurbanization_rate_pct = 63.89\nhukou_urbanization_rate_pct = 45.4\n",
    );
    migrasim().args(["validate", path.to_str().unwrap()]).assert().success();
}

#[test]
fn results_go_to_stdout_and_diagnostics_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let output = migrasim().args(["run", &tiny(), "--out"]).arg(dir.path().join("out")).output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.starts_with("year  urbanization %"), "{stdout}");
    assert_eq!(stdout.lines().count(), 8, "header, base year, 2024–2029: {stdout}");
    assert!(stdout.contains("2029"));
    assert!(!stderr.contains("urbanization %"), "{stderr}");
    assert!(stderr.contains("wrote"), "{stderr}");
    let quiet =
        migrasim().args(["run", &tiny(), "--quiet", "--force", "--out"]).arg(dir.path().join("out")).output().unwrap();
    assert!(quiet.status.success());
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty());
}

#[test]
fn an_unknown_province_in_the_destination_shifts_is_refused_naming_the_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "shift.toml", "[behaviour.province_destination_shift]\n99 = 1.0\n");
    let message = refused(migrasim().args(["validate", path.to_str().unwrap()]).assert());
    assert!(message.contains("province_destination_shift.99"), "{message}");
    assert!(message.contains("44 (Guangdong)"), "{message}");
}

#[test]
fn an_unknown_unit_or_an_out_of_range_unit_shift_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = scenario(dir.path(), "unit.toml", "[behaviour.unit_destination_shift]\n123456 = 1.0\n");
    let message = refused(migrasim().args(["validate", unknown.to_str().unwrap()]).assert());
    assert!(message.contains("unit_destination_shift.123456") && message.contains("6-digit codes"), "{message}");
    let too_large = scenario(dir.path(), "large.toml", "[behaviour.unit_destination_shift]\n440300 = 11.0\n");
    let message = refused(migrasim().args(["validate", too_large.to_str().unwrap()]).assert());
    assert!(message.contains("unit_destination_shift.440300") && message.contains("10"), "{message}");
}

#[test]
fn a_move_rate_table_with_a_year_at_or_above_the_reconsideration_rate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path =
        scenario(dir.path(), "rate.toml", "[behaviour]\nrural_urban_move_rate_pct = { 2024 = 1.0, 2026 = 9.0 }\n");
    let message = refused(migrasim().args(["validate", path.to_str().unwrap()]).assert());
    assert!(message.contains("rural_urban_move_rate_pct") && message.contains("reconsider_rural_pct"), "{message}");
}

#[test]
fn an_out_of_range_or_unknown_province_outflow_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (body, expected) in
        [("23 = 11.0\n", "province_urban_outflow_pct.23"), ("99 = 1.0\n", "province_urban_outflow_pct.99")]
    {
        let path = scenario(dir.path(), "outflow.toml", &format!("[behaviour.province_urban_outflow_pct]\n{body}"));
        let message = refused(migrasim().args(["validate", path.to_str().unwrap()]).assert());
        assert!(message.contains(expected), "{message}");
    }
}

#[test]
fn eligibility_rules_accept_year_tables_of_whole_years_only() {
    let dir = tempfile::tempdir().unwrap();
    let phased =
        scenario(dir.path(), "phased.toml", "[settlement.points]\nmin_insurance_years = { 2024 = 5, 2025 = 0 }\n");
    migrasim().args(["validate", phased.to_str().unwrap()]).assert().success();
    for (body, key) in [
        ("[settlement.relaxed]\nmin_residence_years = 2.5\n", "settlement.relaxed.min_residence_years"),
        ("[settlement.open]\nmin_insurance_years = { 2024 = 31 }\n", "settlement.open.min_insurance_years"),
    ] {
        let path = scenario(dir.path(), "bad.toml", body);
        let message = refused(migrasim().args(["validate", path.to_str().unwrap()]).assert());
        assert!(message.contains(key) && message.contains("whole number"), "{message}");
    }
}

#[test]
fn a_regime_table_with_a_key_that_is_not_a_year_or_an_unknown_regime_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (body, expected) in [
        ("Shenzhen = { x2025 = \"open\" }", "is not a year"),
        ("Shenzhen = { 2025 = \"shut\" }", "`open`, `relaxed`, `points`"),
        ("Shenzhen = {}", "empty regime table"),
    ] {
        let path = scenario(dir.path(), "regimes.toml", &format!("[settlement.regime_overrides]\n{body}\n"));
        let message = refused(migrasim().args(["validate", path.to_str().unwrap()]).assert());
        assert!(message.contains("settlement.regime_overrides.Shenzhen") && message.contains(expected), "{message}");
    }
}

/// Values by place: an unknown place, a table without `default`, years mixed with places and a
/// value out of range are refused with the key, the place and what is allowed.
#[test]
fn bad_place_tables_are_refused_with_the_place_and_the_allowed_values() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body, expected) in [
        (
            "unknown.toml",
            "[jobs]\ngrowth_pct = { default = 1.0, Atlantis = 2.0 }\n",
            vec!["jobs.growth_pct.Atlantis", "macro-region (east, central, west, northeast)"],
        ),
        ("nodefault.toml", "[jobs]\ngrowth_pct = { west = 2.0 }\n", vec!["jobs.growth_pct", "needs `default`"]),
        (
            "mixed.toml",
            "[jobs]\nwage_growth_pct = { default = 3.0, 2025 = 2.0 }\n",
            vec!["jobs.wage_growth_pct", "mixes years and places"],
        ),
        (
            "range.toml",
            "[services]\nschool_seat_growth_pct = { default = 1.0, Henan = { 2025 = 500.0 } }\n",
            vec!["services.school_seat_growth_pct", "100"],
        ),
        (
            "list.toml",
            "[housing]\naffordable_units_per_year = { default = 1.0, \"Shenzhen, Gotham\" = 2.0 }\n",
            vec!["housing.affordable_units_per_year.Shenzhen, Gotham", "Gotham", "comma-separated list of units"],
        ),
        (
            "regime.toml",
            "[settlement.regime_overrides]\nAtlantis = \"open\"\n",
            vec!["settlement.regime_overrides.Atlantis", "a province"],
        ),
        (
            "quota.toml",
            "[settlement.quota_overrides]\nnorth = 2.0\n",
            vec!["settlement.quota_overrides.north", "northeast"],
        ),
    ] {
        let path = scenario(dir.path(), name, body);
        let message = refused(migrasim().args(["validate", path.to_str().unwrap()]).assert());
        for part in expected {
            assert!(message.contains(part), "{name}: {message}");
        }
    }
}
