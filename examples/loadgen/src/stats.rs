//! Latency histograms (HdrHistogram, microsecond resolution) and error tallies.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Request latencies in microseconds, 1 us .. 1 h at 3 significant digits.
#[derive(Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        Latency(
            Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .unwrap_or_else(|e| panic!("histogram bounds: {e}")),
        )
    }

    pub fn record(&mut self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The latency at quantile `q` (0..=1) in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.max() as f64 / 1000.0
    }

    /// `p50 a  p95 b  p99 c  max d` in ms.
    pub fn summary(&self) -> String {
        format!(
            "p50 {}  p95 {}  p99 {}  max {}",
            ms(self.ms(0.50)),
            ms(self.ms(0.95)),
            ms(self.ms(0.99)),
            ms(self.max_ms())
        )
    }
}

/// Milliseconds for a table: three significant-ish digits.
pub fn ms(v: f64) -> String {
    if v.is_nan() {
        "-".to_string()
    } else if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// 1234567.8 -> "1,234,568".
pub fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "-".to_string();
    }
    let n = v.round() as i128;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// Error count plus the first few distinct messages.
#[derive(Default, Clone)]
pub struct Errors {
    pub count: u64,
    pub samples: Vec<String>,
}

impl Errors {
    const SAMPLES: usize = 5;

    pub fn add(&mut self, message: String) {
        self.count += 1;
        if self.samples.len() < Self::SAMPLES && !self.samples.contains(&message) {
            self.samples.push(message);
        }
    }

    pub fn merge(&mut self, other: &Errors) {
        self.count += other.count;
        for s in &other.samples {
            if self.samples.len() < Self::SAMPLES && !self.samples.contains(s) {
                self.samples.push(s.clone());
            }
        }
    }

    pub fn print(&self, indent: &str) {
        for s in &self.samples {
            println!("{indent}error: {s}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_formatting() {
        let mut l = Latency::new();
        for i in 1..=1000u64 {
            l.record(Duration::from_micros(i * 100));
        }
        assert_eq!(l.count(), 1000);
        assert!((l.ms(0.5) - 50.0).abs() < 0.1, "{}", l.ms(0.5));
        assert!((l.ms(0.99) - 99.0).abs() < 0.1, "{}", l.ms(0.99));
        assert!((l.max_ms() - 100.0).abs() < 0.1);
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(ms(1.234), "1.23 ms");
        assert_eq!(ms(f64::NAN), "-");
    }
}
