//! Language models: configuration, loading, and (in later modules) generation.

pub mod config;
pub mod load;

pub use config::ModelConfig;
