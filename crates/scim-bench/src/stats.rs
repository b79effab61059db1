//! Latency recording: every latency kept, in microseconds, sorted once for percentiles.
//!
//! A scenario of a few seconds at tens of thousands of requests per second holds a few hundred
//! thousand `u32`s: a megabyte or two, and exact percentiles, so no histogram is needed.

use std::time::Duration;

/// The latencies of one scenario, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    micros: Vec<u32>,
    sorted: bool,
}

impl Latencies {
    /// An empty record with room for `capacity` samples.
    pub fn with_capacity(capacity: usize) -> Latencies {
        Latencies { micros: Vec::with_capacity(capacity), sorted: true }
    }

    /// Records one latency (saturating at about 71 minutes).
    pub fn record(&mut self, latency: Duration) {
        self.micros.push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        self.sorted = false;
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
        self.sorted = false;
    }

    /// How many samples were recorded.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The latency below which a fraction `q` (0 to 1) of the samples fall, in microseconds
    /// (nearest rank); 0 when empty.
    pub fn quantile(&mut self, q: f64) -> u32 {
        if self.micros.is_empty() {
            return 0;
        }
        if !self.sorted {
            self.micros.sort_unstable();
            self.sorted = true;
        }
        let rank = (q.clamp(0.0, 1.0) * self.micros.len() as f64).ceil() as usize;
        self.micros[rank.saturating_sub(1).min(self.micros.len() - 1)]
    }

    /// The mean latency in microseconds; 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.micros.is_empty() {
            return 0.0;
        }
        self.micros.iter().map(|&m| f64::from(m)).sum::<f64>() / self.micros.len() as f64
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut l = Latencies::default();
        assert_eq!(l.quantile(0.5), 0);
        for m in (1..=100).rev() {
            l.record(Duration::from_micros(m));
        }
        assert_eq!((l.quantile(0.5), l.quantile(0.99), l.quantile(1.0), l.quantile(0.0)), (50, 99, 100, 1));
        let mut other = Latencies::default();
        other.record(Duration::from_micros(1000));
        l.merge(other);
        assert_eq!((l.len(), l.quantile(1.0)), (101, 1000));
        assert!((l.mean() - (5050.0 + 1000.0) / 101.0).abs() < 1e-9);
    }
}
