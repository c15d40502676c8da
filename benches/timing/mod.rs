//! Timing helpers the benchmarks share.

use std::time::{Duration, Instant};

/// The shortest of `runs` runs of `f`: the one least disturbed by the rest of the machine.
pub fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .min()
        .expect("at least one run")
}
