//! Response times as a fixed-bucket log-linear histogram (HDR-style): the
//! first 32 microseconds exactly, then 16 buckets for each power of two up
//! to 2^27 µs (134 s; longer counts as 134 s). A bucket is at most 1/16 of
//! its value wide, so a percentile read back is within 3.2% of the truth
//! (its bucket's middle). Every minute has the same 384 buckets, so minutes
//! merge by adding counts: a chart's hour or day has exact percentiles of
//! all its requests, never an average of percentiles.
//!
//! Counting is an index computed with a few shifts and an add, no
//! allocation: cheap enough for the router's every request.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Values below this are their own bucket.
const EXACT: u64 = 32;
/// Buckets per power of two above `EXACT`.
const PER_OCTAVE: u64 = 16;
const PER_OCTAVE_BITS: u32 = 4;
/// The first power of two counted in octaves (2^5 = `EXACT`).
const FIRST_OCTAVE: u32 = 5;
/// Values at or above 2^27 µs count in the last bucket.
const LAST_OCTAVE: u32 = 26;
pub const BUCKETS: usize = (EXACT + (LAST_OCTAVE - FIRST_OCTAVE + 1) as u64 * PER_OCTAVE) as usize;
const MAX_MICROS: u64 = (1 << (LAST_OCTAVE + 1)) - 1;

/// Counts of response times in microseconds.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("buckets", &self.to_sparse())
            .finish()
    }
}

/// The bucket `micros` counts in.
fn bucket_of(micros: u64) -> usize {
    let value = micros.min(MAX_MICROS);
    if value < EXACT {
        return value as usize;
    }
    let octave = 63 - value.leading_zeros();
    let sub = (value >> (octave - PER_OCTAVE_BITS)) & (PER_OCTAVE - 1);
    (EXACT + (octave - FIRST_OCTAVE) as u64 * PER_OCTAVE + sub) as usize
}

/// The lowest and highest value (µs) a bucket holds.
fn bounds_of(bucket: usize) -> (u64, u64) {
    let bucket = bucket as u64;
    if bucket < EXACT {
        return (bucket, bucket);
    }
    let octave = (bucket - EXACT) / PER_OCTAVE + FIRST_OCTAVE as u64;
    let sub = (bucket - EXACT) % PER_OCTAVE;
    let width_bits = octave as u32 - PER_OCTAVE_BITS;
    let low = (PER_OCTAVE + sub) << width_bits;
    (low, low + (1 << width_bits) - 1)
}

impl Histogram {
    pub fn record(&mut self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket_of(micros)] += 1;
    }

    /// Adds another's counts: the histogram of both sets of requests.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The value (ms) at or below which `quantile` (0..=1) of the requests
    /// fall: the middle of the bucket the rank lands in, so within 3.2%.
    /// None when nothing was counted.
    pub fn percentile_ms(&self, quantile: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // The nearest-rank method: the smallest value with at least
        // `quantile` of the requests at or below it.
        let rank = ((quantile.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = bounds_of(bucket);
                return Some((low + high) as f64 / 2.0 / 1000.0);
            }
        }
        None
    }

    /// The buckets that counted something, for the file: a minute of a few
    /// kinds of requests takes a few pairs, not 384 counts.
    pub fn to_sparse(&self) -> Vec<(u16, u64)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(bucket, count)| (bucket as u16, *count))
            .collect()
    }

    /// Back from `to_sparse`; a bucket past the last (a file from a future
    /// layout) counts in the last.
    pub fn from_sparse(pairs: &[(u16, u64)]) -> Histogram {
        let mut histogram = Histogram::default();
        for (bucket, count) in pairs {
            histogram.counts[(*bucket as usize).min(BUCKETS - 1)] += count;
        }
        histogram
    }
}

/// On disk as its sparse pairs.
impl Serialize for Histogram {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_sparse().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs = Vec::<(u16, u64)>::deserialize(deserializer)?;
        Ok(Histogram::from_sparse(&pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn buckets_cover_every_value_in_order_and_are_narrow() {
        assert_eq!(BUCKETS, 384);
        let mut last = 0;
        for micros in (0..5_000).chain((5_000..MAX_MICROS + 10).step_by(997)) {
            let bucket = bucket_of(micros);
            assert!(bucket >= last, "buckets rise with the value at {micros}");
            last = bucket;
            let (low, high) = bounds_of(bucket);
            let clamped = micros.min(MAX_MICROS);
            assert!(
                low <= clamped && clamped <= high,
                "{micros} in {low}..={high}"
            );
            assert!(
                (high - low) as f64 <= low as f64 / 16.0,
                "narrow at {micros}"
            );
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_of_a_fast_and_a_slow_endpoint() {
        let mut histogram = Histogram::default();
        assert_eq!(histogram.percentile_ms(0.5), None, "nothing counted");
        // 95 fast requests (2 ms) and 5 that sleep (300 ms).
        for _ in 0..95 {
            histogram.record(ms(2));
        }
        for _ in 0..5 {
            histogram.record(ms(300));
        }
        let p50 = histogram.percentile_ms(0.50).unwrap();
        let p95 = histogram.percentile_ms(0.95).unwrap();
        let p99 = histogram.percentile_ms(0.99).unwrap();
        assert!((p50 - 2.0).abs() <= 2.0 * 0.032, "p50 {p50}");
        assert!(
            (p95 - 2.0).abs() <= 2.0 * 0.032,
            "p95 is the 95th request: {p95}"
        );
        assert!((p99 - 300.0).abs() <= 300.0 * 0.032, "p99 {p99}");
        assert_eq!(histogram.percentile_ms(1.0), Some(p99));
    }

    #[test]
    fn percentiles_stay_within_their_error_over_the_range() {
        for micros in [0, 1, 31, 32, 33, 999, 1_000, 12_345, 299_999, 30_000_000] {
            let mut histogram = Histogram::default();
            histogram.record(Duration::from_micros(micros));
            let read = histogram.percentile_ms(0.5).unwrap() * 1000.0;
            assert!(
                (read - micros as f64).abs() <= micros as f64 * 0.032 + 0.5,
                "{micros} µs read back as {read}"
            );
        }
        let mut huge = Histogram::default();
        huge.record(Duration::from_secs(3600));
        assert!(huge.percentile_ms(0.5).unwrap() > 130_000.0, "clamped high");
    }

    #[test]
    fn merged_minutes_give_the_percentiles_of_all_their_requests() {
        let (mut first, mut second) = (Histogram::default(), Histogram::default());
        for _ in 0..99 {
            first.record(ms(10));
        }
        second.record(ms(1000));
        // Averaging the minutes' p99s would say ~505 ms; the hour's p99 is
        // the 99th of 100 requests: 10 ms.
        first.merge(&second);
        assert_eq!(first.count(), 100);
        let p99 = first.percentile_ms(0.99).unwrap();
        assert!((p99 - 10.0).abs() < 0.4, "p99 {p99}");
        let max = first.percentile_ms(1.0).unwrap();
        assert!((max - 1000.0).abs() < 32.0, "max {max}");
    }

    #[test]
    fn sparse_form_round_trips() {
        let mut histogram = Histogram::default();
        histogram.record(ms(5));
        histogram.record(ms(5));
        histogram.record(ms(700));
        let sparse = histogram.to_sparse();
        assert_eq!(sparse.len(), 2);
        assert_eq!(Histogram::from_sparse(&sparse), histogram);
        assert_eq!(Histogram::from_sparse(&[(9999, 1)]).count(), 1);
    }
}
