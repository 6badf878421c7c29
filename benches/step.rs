//! One simulated year at 1M and 10M households on 1 and 2 threads, reported as household-years
//! per second (criterion's "elements"). Run with `cargo bench`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use migrasim::engine::{Plan, Simulation};
use migrasim::geo::Geography;
use migrasim::scenario::Scenario;
use std::time::{Duration, Instant};

fn simulation(households: u64) -> Simulation<'static> {
    let geo = Geography::embedded();
    let mut scenario = Scenario { name: "bench".into(), ..Scenario::default() };
    scenario.run.households = households;
    // The longest accepted horizon, so a benchmark rarely has to rebuild the population.
    scenario.run.last_year = scenario.run.first_year + migrasim::scenario::MAX_SIMULATED_YEARS - 1;
    Simulation::new(geo, Plan::from_scenario(scenario, geo).expect("default scenario is valid"))
}

fn yearly_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("yearly_step");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(8));
    for households in [1_000_000u64, 10_000_000] {
        group.throughput(Throughput::Elements(households));
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
            let mut sim = pool.install(|| simulation(households));
            group.bench_with_input(
                BenchmarkId::new(format!("{threads}_threads"), households),
                &households,
                |b, &households| {
                    b.iter_custom(|iterations| {
                        let mut elapsed = Duration::ZERO;
                        for _ in 0..iterations {
                            if sim.next_year().is_none() {
                                // Rebuilding is set-up, not the step: left out of the timing.
                                sim = pool.install(|| simulation(households));
                            }
                            let started = Instant::now();
                            pool.install(|| sim.step());
                            elapsed += started.elapsed();
                        }
                        elapsed
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, yearly_step);
criterion_main!(benches);
