//! Latency samples and the percentiles every scenario reports.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Durations of one kind of request (or delivery), in the order they were measured.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<Duration>);

/// What a set of latencies is reported as, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Latencies {
    /// Adds one sample.
    pub fn push(&mut self, sample: Duration) {
        self.0.push(sample);
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: &Latencies) {
        self.0.extend_from_slice(&other.0);
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// p50, p90, p99 and the maximum (nearest rank on the sorted samples).
    pub fn summary(&self) -> Summary {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let at = |p: f64| {
            let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
            ms(sorted.get(i).copied().unwrap_or_default())
        };
        Summary {
            count: sorted.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: ms(sorted.last().copied().unwrap_or_default()),
        }
    }
}

impl Summary {
    /// `p50 x ms, p99 y ms`, for the summary table.
    pub fn short(&self) -> String {
        format!("p50 {:.1} ms, p99 {:.1} ms", self.p50_ms, self.p99_ms)
    }
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Awaits `call`, recording how long it took in `latencies`.
pub async fn timed<T>(latencies: &mut Latencies, call: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let outcome = call.await;
    latencies.push(started.elapsed());
    outcome
}
