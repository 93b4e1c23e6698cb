//! Murmur's engine: on-device speech-to-text and text refinement on MLX.
//!
//! This crate holds all behaviour and no FFI concerns; `murmur-ffi` maps it to Swift,
//! C, the CLI and the daemon without logic of its own.

pub mod audio;
pub mod backend;
pub mod bench;
pub mod cancel;
pub mod catalog;
pub mod engine;
pub mod error;
pub mod hub;
pub mod llm;
pub mod platform;
pub mod refine;
pub mod system;
pub mod transcribe;
pub mod whisper;

pub use cancel::CancelToken;
pub use engine::{Engine, EngineConfig};
pub use error::{Error, Result};
/// The MLX bindings this crate is built on, re-exported so dependents use the same build.
pub use mlx_rs as mlx;
