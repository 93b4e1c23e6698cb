//! Download progress as callers see it: bytes per file and overall, and a transfer rate
//! measured over the last few seconds (so a UI's "time left" follows the network, not
//! the average since a resumed start).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

/// One progress report. Counts include bytes that were already on disk (a resumed
/// file, blobs shared with another revision), so `bytes / total` is the true fraction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DownloadProgress {
    /// The repository being downloaded.
    pub repo: String,
    /// The file being transferred (path inside the repository).
    pub file: String,
    /// 0-based index of `file` among the `file_count` files of this download.
    pub file_index: usize,
    pub file_count: usize,
    /// Bytes of `file` present so far, and its size.
    pub file_bytes: u64,
    pub file_total: u64,
    /// Bytes of all files present so far, and their total size.
    pub bytes: u64,
    pub total: u64,
    /// Current transfer rate in bytes per second (0 until it can be measured).
    pub bytes_per_sec: f64,
}

impl DownloadProgress {
    /// Overall fraction done, 0.0–1.0 (1.0 for an empty download).
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            (self.bytes as f64 / self.total as f64).min(1.0)
        }
    }
}

/// Rate over a sliding window of samples.
#[derive(Debug)]
pub(crate) struct RateMeter {
    samples: VecDeque<(Instant, u64)>,
    window: Duration,
    transferred: u64,
}

impl RateMeter {
    pub(crate) fn new(window: Duration) -> Self {
        let mut samples = VecDeque::new();
        samples.push_back((Instant::now(), 0));
        Self {
            samples,
            window,
            transferred: 0,
        }
    }

    /// Count `n` bytes received from the network now.
    pub(crate) fn add(&mut self, n: u64) {
        self.transferred += n;
        let now = Instant::now();
        self.samples.push_back((now, self.transferred));
        // Keep one sample older than the window as the baseline.
        while self.samples.len() > 2 && now.duration_since(self.samples[1].0) > self.window {
            self.samples.pop_front();
        }
    }

    pub(crate) fn bytes_per_sec(&self) -> f64 {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return 0.0;
        };
        let dt = last.0.duration_since(first.0).as_secs_f64();
        if dt < 0.05 {
            0.0
        } else {
            (last.1 - first.1) as f64 / dt
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_measured_over_the_window() {
        let mut m = RateMeter::new(Duration::from_secs(3));
        assert_eq!(m.bytes_per_sec(), 0.0);
        std::thread::sleep(Duration::from_millis(100));
        m.add(1000);
        let r = m.bytes_per_sec();
        assert!(r > 1000.0 && r < 20_000.0, "{r}");
        let p = DownloadProgress {
            repo: "a/b".into(),
            file: "f".into(),
            file_index: 0,
            file_count: 1,
            file_bytes: 5,
            file_total: 10,
            bytes: 5,
            total: 10,
            bytes_per_sec: r,
        };
        assert_eq!(p.fraction(), 0.5);
    }
}
