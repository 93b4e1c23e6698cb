//! Murmur's engine: on-device speech-to-text and text refinement on MLX.
//!
//! This crate holds all behaviour and no FFI concerns; `murmur-ffi` maps it to Swift,
//! C, the CLI and the daemon without logic of its own.
//!
//! Comments speak of "the Python sidecars": the designs Murmur replaces, in which the
//! dictation apps Handy and Codictate (and WritingTools before them) ran Python mlx-lm in
//! a local HTTP process — a model table by RAM tier, a download/load state machine with
//! events, refine prompts and sampling defaults (temperature 0.7, top-p 0.8, repetition
//! penalty 1.15), a token budget of 1.3 × the input, a 5-minute idle unload, and the
//! `/status`, `/load`, `/generate`, `/unload` protocol that `murmur serve --sidecar` keeps.
//! Where Murmur keeps one of their choices, the comment says so.

pub mod audio;
pub mod backend;
pub mod bench;
pub mod cancel;
pub mod catalog;
pub mod chat;
pub mod dictate;
pub mod engine;
pub mod error;
pub mod files;
pub mod hub;
pub mod live;
pub mod llm;
pub mod nn;
pub mod platform;
pub mod refine;
pub mod system;
pub mod transcribe;
pub mod vad;
pub mod vocab;
pub mod whisper;

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

pub use cancel::CancelToken;
pub use engine::{Engine, EngineConfig};
pub use error::{Error, ErrorKind, Result};
/// The MLX bindings this crate is built on, re-exported so dependents use the same build.
pub use mlx_rs as mlx;
