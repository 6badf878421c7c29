//! Spreading work over MPI ranks, as far as it can be checked without MPI: the aggregates a rank
//! sends back survive serialization bit for bit (so tables are byte-identical at any rank count),
//! a build without MPI refuses to run as one of several ranks, and the ensemble search's new
//! option refuses bad values. `.ci/mpi-check` runs the real 2- and 3-rank jobs.

use assert_cmd::Command;
use migrasim::engine::Plan;
use migrasim::ensemble::{RunResult, run_one};
use migrasim::geo::Geography;
use migrasim::scenario;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

#[test]
fn a_run_survives_the_wire_bit_for_bit() {
    let geo = Geography::embedded();
    let mut loaded = scenario::load(&scenarios().join("tiny.toml")).unwrap();
    loaded.scenario.run.households = 20_000;
    let plan = Plan::from_scenario(loaded.scenario, geo).unwrap();
    let run = run_one(geo, &plan, 7, |_| {});
    let bytes = postcard::to_allocvec(&run).unwrap();
    let back: RunResult = postcard::from_bytes(&bytes).unwrap();
    // Serializing what came back gives the same bytes: every f64 (NaN payloads included) and
    // every count is exactly what the sending rank had.
    assert_eq!(postcard::to_allocvec(&back).unwrap(), bytes);
    assert_eq!(back.records, run.records);
    assert_eq!(back.seed, 7);
    let urban = |r: &RunResult| r.records.last().unwrap().national.clone();
    assert_eq!(urban(&back), urban(&run));
    assert!(bytes.len() > 100_000, "a run's records are all there");
}

#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_refuses_to_run_as_one_of_several_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    Command::cargo_bin("migrasim")
        .unwrap()
        .args(["run", scenarios().join("tiny.toml").to_str().unwrap(), "--out"])
        .arg(&out)
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .env("OMPI_COMM_WORLD_RANK", "1")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("built without MPI").and(predicate::str::contains("--features mpi")));
    assert!(!out.exists());
    // One rank (a launcher that started a single process) is just a run.
    Command::cargo_bin("migrasim")
        .unwrap()
        .args(["validate", scenarios().join("tiny.toml").to_str().unwrap()])
        .env("OMPI_COMM_WORLD_SIZE", "1")
        .assert()
        .success();
}

#[test]
fn ensemble_tolerance_is_checked_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let posterior = dir.path().join("posterior.csv");
    for (args, why) in [
        (vec!["--ensemble", "8", "--tolerance", "0.5"], "1 to 100"),
        (vec!["--ensemble", "8", "--tolerance", "101"], "1 to 100"),
        (vec!["--tolerance", "2"], "only with --ensemble"),
    ] {
        Command::cargo_bin("migrasim")
            .unwrap()
            .arg("calibrate")
            .args(&args)
            .args(["--households", "20000", "--docs"])
            .arg(dir.path())
            .arg("--posterior")
            .arg(&posterior)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--tolerance").and(predicate::str::contains(why)));
        assert!(!posterior.exists());
    }
}
