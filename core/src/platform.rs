//! Small platform shims: symbols upstream mlx-rs needs on non-Apple targets, and MLX
//! environment defaults.

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

/// How many operations MLX's CUDA backend batches into one command buffer (one CUDA graph)
/// when `MLX_MAX_OPS_PER_BUFFER` is not set. MLX's default (20) splits one decode step of
/// a 28-layer model into dozens of graphs, and decode is bound by launching them: on an
/// H200, 50 gave +88 % decode tokens/s on Qwen3-0.6B and +11 % on 4B (BENCHMARKS.md).
pub const CUDA_MAX_OPS_PER_BUFFER: &str = "50";

/// Set MLX's environment knobs Murmur relies on, where the user has not set them. MLX
/// reads them when the device is first used, so call this at the very start of `main`,
/// before any thread exists (changing the environment is unsound once threads run).
/// Apple platforms (Metal) keep MLX's own per-device defaults: nothing is set there.
pub fn tune_mlx_env() {
    #[cfg(not(target_vendor = "apple"))]
    if std::env::var_os("MLX_MAX_OPS_PER_BUFFER").is_none() {
        // SAFETY: documented precondition — called first thing in `main`, single-threaded.
        unsafe { std::env::set_var("MLX_MAX_OPS_PER_BUFFER", CUDA_MAX_OPS_PER_BUFFER) };
    }
}
