//! Language models: loading, tokenization, chat templates, sampling and generation.

pub mod chat;
pub mod chat_template;
pub mod generate;
pub mod load;
pub mod lookup;
pub mod models;
pub mod prefix_cache;
pub mod prompt;
pub mod sampler;
pub mod stop;
pub mod thinking;
pub mod tokenizer;
