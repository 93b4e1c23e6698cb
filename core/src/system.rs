//! Facts about the machine that shape defaults: physical memory, and the RAM tier the
//! Python sidecars' apps used to pick models and token budgets.

use serde::{Deserialize, Serialize};

/// Total physical memory in bytes, or `None` when the OS does not say.
pub fn total_memory_bytes() -> Option<u64> {
    #[cfg(target_vendor = "apple")]
    {
        let mut size: u64 = 0;
        let mut len = std::mem::size_of::<u64>();
        let name = c"hw.memsize";
        // SAFETY: hw.memsize is a u64; `len` describes the buffer we pass.
        let rc = unsafe {
            libc::sysctlbyname(
                name.as_ptr(),
                (&mut size as *mut u64).cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        (rc == 0).then_some(size)
    }
    #[cfg(not(target_vendor = "apple"))]
    {
        let info = std::fs::read_to_string("/proc/meminfo").ok()?;
        let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

/// The Python sidecars' three memory classes: ≤ 8 GB, 9–16 GB, > 16 GB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum RamTier {
    Small,
    Medium,
    Large,
}

impl RamTier {
    /// Classify `bytes` of RAM. Macs report binary gigabytes (8 GB = 8 GiB).
    pub fn from_bytes(bytes: u64) -> Self {
        let gib = bytes as f64 / (1u64 << 30) as f64;
        if gib <= 8.5 {
            RamTier::Small
        } else if gib <= 16.5 {
            RamTier::Medium
        } else {
            RamTier::Large
        }
    }

    /// This machine's tier (the smallest when memory cannot be read).
    pub fn current() -> Self {
        total_memory_bytes().map_or(RamTier::Small, Self::from_bytes)
    }

    /// Ceiling on generated tokens for a refine (the Python sidecars' table).
    pub fn max_refine_tokens(self) -> usize {
        match self {
            RamTier::Small => 1536,
            RamTier::Medium => 2048,
            RamTier::Large => 3072,
        }
    }

    /// Longest recording a dictation takes (the seeds' table: 6, 8 and 12 minutes), so
    /// that the audio, its transcript and the refine stay within the machine's memory.
    pub fn max_recording_secs(self) -> u32 {
        match self {
            RamTier::Small => 6 * 60,
            RamTier::Medium => 8 * 60,
            RamTier::Large => 12 * 60,
        }
    }

    /// This tier's limits.
    pub fn limits(self) -> Limits {
        Limits {
            ram_tier: self,
            max_recording_secs: self.max_recording_secs(),
            max_refine_tokens: self.max_refine_tokens() as u32,
        }
    }
}

/// What a dictation may ask of this machine, by its memory tier: apps show the recording
/// limit (a countdown) and `dictate` refuses longer audio before any work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Limits {
    pub ram_tier: RamTier,
    /// Longest audio `dictate` accepts, in seconds.
    pub max_recording_secs: u32,
    /// Most tokens a refine generates (its dynamic budget's ceiling).
    pub max_refine_tokens: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_follow_the_seed_table() {
        let gib = |n: u64| n << 30;
        assert_eq!(RamTier::from_bytes(gib(8)), RamTier::Small);
        assert_eq!(RamTier::from_bytes(gib(16)), RamTier::Medium);
        assert_eq!(RamTier::from_bytes(gib(9)), RamTier::Medium);
        assert_eq!(RamTier::from_bytes(gib(24)), RamTier::Large);
        assert_eq!(RamTier::Small.max_refine_tokens(), 1536);
        assert_eq!(RamTier::Medium.max_refine_tokens(), 2048);
        assert_eq!(RamTier::Large.max_refine_tokens(), 3072);
        let minutes = |t: RamTier| t.limits().max_recording_secs / 60;
        assert_eq!(
            [RamTier::Small, RamTier::Medium, RamTier::Large].map(minutes),
            [6, 8, 12]
        );
    }

    #[test]
    fn this_machine_reports_memory() {
        let bytes = total_memory_bytes().expect("memory size is readable");
        assert!(bytes > 256 << 20, "{bytes} bytes");
    }
}
