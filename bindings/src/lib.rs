//! Murmur's bindings: thin mappings of `murmur-core` to Swift (uniffi), C (cbindgen) and
//! the `murmur` command line. No engine logic lives here.

// Linking the core crate provides platform shims (e.g. `mach_approximate_time`).
use murmur_core as _;
