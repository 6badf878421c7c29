//! migrasim: an agent-based simulator of China's rural-to-urban migration under the 2024–2029
//! new-urbanization action plan.
//!
//! Pipeline: [`scenario`] (TOML → validated [`scenario::Scenario`]) → [`population`] (base-year
//! households) → [`engine`] (yearly step) → [`report`] (tables, manifest) and [`charts`].
//! `ARCHITECTURE.md` maps the modules and states the invariants.

pub mod boundaries;
pub mod calibrate;
pub mod charts;
pub mod cli;
pub mod codebook;
pub mod compare;
pub mod engine;
pub mod ensemble;
pub mod geo;
pub mod household;
pub mod html;
pub mod levers;
pub mod output;
pub mod population;
pub mod report;
pub mod results;
pub mod rng;
pub mod scenario;
pub mod sensitivity;
pub mod solve;
pub mod spread;
