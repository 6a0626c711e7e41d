//! Measures the in-process lab: time from `start()` to a handle, and a whole start/stop cycle, for
//! the default configuration and for 100 extra domains, with a fresh and with a persistent CA.
//! Run: `cargo run --release -p mailbeacon-lab --example lab_startup -- [ROUNDS]`.

use std::time::{Duration, Instant};

use mailbeacon_lab::Lab;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let state = tempfile::tempdir().expect("temp dir");
    println!(
        "case                               start() median   start+stop median   (n={rounds})"
    );
    for domains in [0usize, 100] {
        for persistent in [false, true] {
            let mut start = Vec::new();
            let mut cycle = Vec::new();
            for _ in 0..rounds {
                let mut b = Lab::builder();
                for i in 0..domains {
                    b = b.domain(format!("d{i:03}.test"));
                }
                if persistent {
                    b = b.state_dir(state.path());
                }
                let t0 = Instant::now();
                let lab = b.start().expect("lab starts");
                start.push(t0.elapsed());
                drop(lab);
                cycle.push(t0.elapsed());
            }
            println!(
                "{:<34} {:>14.2?} {:>19.2?}",
                format!(
                    "{} domains, {} CA",
                    domains + 2,
                    if persistent { "persistent" } else { "fresh" }
                ),
                median(start),
                median(cycle)
            );
        }
    }
}
