//! Language models: configuration, loading, tokenization, sampling and generation.

pub mod chat;
pub mod chat_template;
pub mod config;
pub mod generate;
pub mod kv_cache;
pub mod layers;
pub mod load;
pub mod models;
pub mod sampler;
pub mod tokenizer;

pub use config::ModelConfig;
