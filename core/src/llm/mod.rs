//! Language models: loading, tokenization, chat templates, sampling and generation.

pub mod chat;
pub mod chat_template;
pub mod generate;
pub mod load;
pub mod models;
pub mod prompt;
pub mod sampler;
pub mod thinking;
pub mod tokenizer;
