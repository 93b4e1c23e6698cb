//! The building blocks every model file shares — the language models and Whisper alike:
//! weights by name, (quantized) linear and embedding layers and their fusion, norms,
//! activations, rotary embeddings, attention and the KV cache.
//!
//! Layers are plain structs of MLX arrays that call MLX ops directly (no module system):
//! the forward pass is a short, readable function per architecture, and quantized and
//! dense weights go through the same code.

mod activations;
mod attention;
pub mod kv_cache;
mod linear;
mod norm;
pub(crate) mod weights;

pub use activations::{gelu, gelu_approx, swiglu};
pub use attention::{AttnMask, Rope, attention, merge_heads, sinusoids, split_heads};
pub use kv_cache::KvCache;
pub use linear::{Embedding, Linear, Projections};
pub use norm::{LayerNorm, RmsNorm};
pub use weights::{QuantSpec, Weights};
