//! Murmur's engine: on-device speech-to-text and text refinement on MLX.
//!
//! This crate holds all behaviour and no FFI concerns; `murmur-ffi` maps it to Swift,
//! C, the CLI and the daemon without logic of its own.

pub mod error;
pub mod llm;
mod platform;

pub use error::{Error, Result};
