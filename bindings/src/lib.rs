//! Murmur's bindings: thin mappings of `murmur-core` to Swift (uniffi), C (cbindgen) and
//! the `murmur` command line. No engine logic lives here.
//!
//! - [`engine`], [`types`], [`error`]: the uniffi API (`Engine`, records, `MurmurError`),
//!   from which `swift-package/` is generated.
//! - [`c_api`]: the same calls as a C ABI (`bindings/include/murmur.h`, made by cbindgen).

pub mod c_api;
pub mod engine;
pub mod error;
pub mod runtime;
pub mod types;

pub use engine::{CancelHandle, Engine};
pub use error::MurmurError;

uniffi::setup_scaffolding!("murmur");
