//! Every architecture against Python mlx-lm 0.32.2 on the same random weights.
//!
//! The models and goldens under tests/goldens/llm/ come from
//! scripts/goldens/llm_models.py (see scripts/goldens/README.md to regenerate): tiny
//! random-weight models saved in the mlx-community layout (4-bit group 64 unless
//! noted), with mlx-lm's logits and greedy continuations.

use std::collections::HashSet;
use std::path::PathBuf;

use murmur_core::CancelToken;
use murmur_core::llm::generate::{GenerateOptions, generate};
use murmur_core::llm::load::load_safetensors_dir;
use murmur_core::llm::models::{self, LanguageModel};
use murmur_core::llm::sampler::SamplerConfig;
use murmur_core::mlx::ops::indexing::TryIndexOp;
use murmur_core::mlx::{Array, Dtype};
use murmur_tests::{argmax, json_floats, json_ids, rel_diff};
use serde_json::Value;

fn golden_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("goldens/llm")
        .join(name)
}

/// The model as stored (quantized or bfloat16), or with every weight dequantized and
/// cast to `dense` (the CPU backend's precision), and the matching goldens.
fn load(name: &str, dense: Option<Dtype>) -> (Box<dyn LanguageModel + Send>, Value) {
    let dir = golden_dir(name);
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap();
    let (config, weights) = load_safetensors_dir(&dir).unwrap();
    let mut weights = weights.densify(dense);
    let model = models::build(&config, &mut weights).unwrap_or_else(|e| panic!("{name}: {e}"));
    let golden = match dense {
        // The reference on the same dequantized float32 weights (llm_models.py).
        Some(_) => {
            let mut g = golden["dense_float32"].clone();
            for key in ["prompt_ids", "prompt2_ids", "chunk_split"] {
                g[key] = golden[key].clone();
            }
            g
        }
        None => golden,
    };
    (model, golden)
}

fn to_vec(a: &Array) -> Vec<f32> {
    let a = a.as_dtype(Dtype::Float32).unwrap();
    a.as_slice::<f32>().to_vec()
}

fn forward(
    model: &dyn LanguageModel,
    cache: &mut [murmur_core::nn::KvCache],
    prompt: &[u32],
) -> Vec<Vec<f32>> {
    let x: Vec<i32> = prompt.iter().map(|&t| t as i32).collect();
    let logits = model
        .forward(&Array::from_slice(&x, &[1, x.len() as i32]), cache, true)
        .unwrap();
    (0..prompt.len() as i32)
        .map(|i| to_vec(&logits.try_index((0, i)).unwrap()))
        .collect()
}

/// Largest difference from the reference, relative to the reference's spread: both
/// sides run the same MLX kernels, so anything beyond rounding noise is a bug.
fn assert_close(name: &str, what: &str, got: &[f32], want: &[f32]) {
    let d = rel_diff(got, want);
    assert!(d < 1e-3, "{name} {what}: max |Δ| is {d} of the logit scale");
}

fn check(name: &str) {
    check_as(name, None);
    check_as(name, Some(Dtype::Float32));
}

fn check_as(name: &str, dense: Option<Dtype>) {
    let (model, g) = load(name, dense);
    let name = &format!(
        "{name} ({})",
        if dense.is_some() {
            "dense float32"
        } else {
            "as stored"
        }
    );
    let prompt = json_ids(&g["prompt_ids"]);

    // One pass over the whole prompt: every position's argmax, last position's logits.
    let rows = forward(model.as_ref(), &mut model.new_cache(), &prompt);
    assert_close(
        name,
        "last-position logits",
        rows.last().unwrap(),
        &json_floats(&g["logits_last"]),
    );
    let am: Vec<u32> = rows.iter().map(|r| argmax(r)).collect();
    assert_eq!(
        am,
        json_ids(&g["logits_all_argmax"]),
        "{name}: per-position argmax"
    );

    // The same cache filled in two chunks.
    let p2 = json_ids(&g["prompt2_ids"]);
    let split = g["chunk_split"].as_u64().unwrap() as usize;
    let mut cache = model.new_cache();
    forward(model.as_ref(), &mut cache, &p2[..split]);
    let rows = forward(model.as_ref(), &mut cache, &p2[split..]);
    assert_close(
        name,
        "chunked logits",
        rows.last().unwrap(),
        &json_floats(&g["logits_chunked_last"]),
    );
    let am: Vec<u32> = rows.iter().map(|r| argmax(r)).collect();
    assert_eq!(
        am,
        json_ids(&g["logits_chunked_argmax"]),
        "{name}: chunked argmax"
    );

    // Greedy continuation through the real generation loop (EOS ignored).
    let want = json_ids(&g["greedy_ids"]);
    let opts = GenerateOptions {
        max_tokens: want.len(),
        sampler: SamplerConfig::default(),
        ignore_eos: true,
        ..GenerateOptions::default()
    };
    let (got, stats) = generate(
        model.as_ref(),
        &prompt,
        &HashSet::new(),
        &opts,
        &CancelToken::new(),
        |_| Ok(murmur_core::llm::generate::Flow::Continue),
    )
    .unwrap();
    assert_eq!(got, want, "{name}: greedy tokens");
    assert_eq!(
        (stats.prompt_tokens, stats.generated_tokens),
        (prompt.len(), want.len())
    );
}
#[test]
fn qwen3_matches_mlx_lm() {
    check("qwen3");
}

#[test]
fn qwen3_sharded_matches_mlx_lm() {
    check("qwen3-sharded");
}

#[test]
fn qwen3_bf16_dense_matches_mlx_lm() {
    check("qwen3-bf16");
}

#[test]
fn llama_matches_mlx_lm() {
    check("llama");
}

#[test]
fn llama_untied_llama3_rope_matches_mlx_lm() {
    check("llama-untied");
}

#[test]
fn qwen2_matches_mlx_lm() {
    check("qwen2");
}

#[test]
fn gemma3_matches_mlx_lm() {
    check("gemma3");
}
