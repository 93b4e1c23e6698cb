//! Small platform shims that let upstream mlx-rs link on non-Apple targets.

/// mlx-rs seeds `random::RandomState::new()` from `mach_approximate_time`, a macOS-only
/// symbol. Outside Apple platforms we define it here, so every binary that links this
/// crate links. It returns wall-clock nanoseconds (absolute, not time since start): the
/// value only seeds the default random state, which must differ between runs.
#[cfg(not(target_vendor = "apple"))]
#[unsafe(no_mangle)]
pub extern "C" fn mach_approximate_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
