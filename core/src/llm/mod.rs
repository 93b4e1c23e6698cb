//! Language models: configuration, loading, tokenization, sampling and generation.

pub mod chat_template;
pub mod config;
pub mod load;
pub mod sampler;
pub mod tokenizer;

pub use config::ModelConfig;
