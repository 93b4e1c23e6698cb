//! Qwen2.5-Omni-3B's exact configuration (32 audio layers of width 1280 with 20 heads; 36
//! text layers of width 2048, 16 heads of 128 and 2 KV heads; vocabulary 151,936) against
//! mlx-lm-omni 0.1.3 (fixed: scripts/goldens/omni.py) on 10.27 s, 20.5 s and 40 s of speech.
//!
//! The 4.0 billion weights (16 GB as float32) are stored nowhere: this test
//! ([`murmur_core::bench::synthetic`]) and the golden script compute each from its name
//! with the same counter-based generator, bit for bit.
//! A test binary of its own, so that its memory is the only model in the process.

use std::collections::HashMap;
use std::path::PathBuf;

use murmur_core::CancelToken;
use murmur_core::bench::synthetic;
use murmur_core::llm::models::{self, LanguageModel};
use murmur_core::mlx::ops::indexing::TryIndexOp;
use murmur_core::mlx::{Array, Dtype};
use murmur_core::nn::Weights;
use murmur_tests::{argmax, json_floats, json_ids};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("goldens/omni/3b")
}

/// `weight_scale` of the golden script.
fn scale_of(name: &str, shape: &[i32]) -> (f32, f32) {
    let ends = |s: &[&str]| s.iter().any(|e| name.ends_with(e));
    if ends(&["norm.weight", "layer_norm.weight", "ln_post.weight"]) {
        (0.2, 1.0)
    } else if name.ends_with(".bias") {
        (0.1, 0.0)
    } else if name.ends_with("embed_tokens.weight") {
        (0.05, 0.0)
    } else if ends(&["conv1.weight", "conv2.weight"]) {
        ((1.0 / ((shape[1] * shape[2]) as f64).sqrt()) as f32, 0.0)
    } else {
        ((1.0 / (*shape.last().unwrap() as f64).sqrt()) as f32, 0.0)
    }
}

/// Every tensor of the thinker (MLX conversion names and layout) and its shape.
fn tensors(config: &Value) -> Vec<(String, Vec<i32>)> {
    let a = &config["thinker_config"]["audio_config"];
    let t = &config["thinker_config"]["text_config"];
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap() as i32;
    let (d, ffn, mels) = (
        n(a, "d_model"),
        n(a, "encoder_ffn_dim"),
        n(a, "num_mel_bins"),
    );
    let (h, inter, vocab) = (
        n(t, "hidden_size"),
        n(t, "intermediate_size"),
        n(t, "vocab_size"),
    );
    let head = h / n(t, "num_attention_heads");
    let kv = head * n(t, "num_key_value_heads");
    let mut v: Vec<(String, Vec<i32>)> = vec![
        ("audio_tower.conv1.weight".into(), vec![d, 3, mels]),
        ("audio_tower.conv1.bias".into(), vec![d]),
        ("audio_tower.conv2.weight".into(), vec![d, 3, d]),
        ("audio_tower.conv2.bias".into(), vec![d]),
        ("audio_tower.ln_post.weight".into(), vec![d]),
        ("audio_tower.ln_post.bias".into(), vec![d]),
        ("audio_tower.proj.weight".into(), vec![h, d]),
        ("audio_tower.proj.bias".into(), vec![h]),
        ("model.embed_tokens.weight".into(), vec![vocab, h]),
        ("model.norm.weight".into(), vec![h]),
        ("lm_head.weight".into(), vec![vocab, h]),
    ];
    for i in 0..n(a, "encoder_layers") {
        let p = format!("audio_tower.layers.{i}");
        for (name, shape) in [
            ("self_attn.q_proj.weight", vec![d, d]),
            ("self_attn.q_proj.bias", vec![d]),
            ("self_attn.k_proj.weight", vec![d, d]),
            ("self_attn.v_proj.weight", vec![d, d]),
            ("self_attn.v_proj.bias", vec![d]),
            ("self_attn.out_proj.weight", vec![d, d]),
            ("self_attn.out_proj.bias", vec![d]),
            ("self_attn_layer_norm.weight", vec![d]),
            ("self_attn_layer_norm.bias", vec![d]),
            ("fc1.weight", vec![ffn, d]),
            ("fc1.bias", vec![ffn]),
            ("fc2.weight", vec![d, ffn]),
            ("fc2.bias", vec![d]),
            ("final_layer_norm.weight", vec![d]),
            ("final_layer_norm.bias", vec![d]),
        ] {
            v.push((format!("{p}.{name}"), shape));
        }
    }
    for i in 0..n(t, "num_hidden_layers") {
        let p = format!("model.layers.{i}");
        for (name, shape) in [
            ("self_attn.q_proj.weight", vec![h, h]),
            ("self_attn.q_proj.bias", vec![h]),
            ("self_attn.k_proj.weight", vec![kv, h]),
            ("self_attn.k_proj.bias", vec![kv]),
            ("self_attn.v_proj.weight", vec![kv, h]),
            ("self_attn.v_proj.bias", vec![kv]),
            ("self_attn.o_proj.weight", vec![h, h]),
            ("mlp.gate_proj.weight", vec![inter, h]),
            ("mlp.up_proj.weight", vec![inter, h]),
            ("mlp.down_proj.weight", vec![h, inter]),
            ("input_layernorm.weight", vec![h]),
            ("post_attention_layernorm.weight", vec![h]),
        ] {
            v.push((format!("{p}.{name}"), shape));
        }
    }
    v
}

fn ids_array(ids: &[u32]) -> Array {
    let x: Vec<i32> = ids.iter().map(|&t| t as i32).collect();
    Array::from_slice(&x, &[1, x.len() as i32])
}

#[test]
fn exact_3b_configuration_matches_the_reference() {
    let dir = golden_dir();
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap();
    let mut arrays = HashMap::new();
    for (name, shape) in tensors(&config) {
        let n: usize = shape.iter().map(|&d| d as usize).product();
        // The golden script names them as the checkpoint does.
        let stored = format!("thinker.{name}");
        let (scale, offset) = scale_of(&stored, &shape);
        let values = synthetic::uniform(&stored, n, scale, offset);
        arrays.insert(name, Array::from_slice(&values, &shape));
    }
    let mut weights = Weights::new(&dir, arrays, None);
    let model = models::build(&config, &mut weights).unwrap();
    let thinker = model.thinker().unwrap();
    let cancel = CancelToken::new();
    for clip_name in ["10s", "20s", "40s"] {
        let g = &golden["clips"][clip_name];
        let samples = murmur_tests::omni_clip(g);
        let audio = thinker.encode_audio(&samples, &cancel).unwrap();
        let n = g["audio_tokens"].as_u64().unwrap() as usize;
        assert_eq!(audio.shape()[0] as usize, n, "{clip_name}");

        let before = json_ids(&g["prompt_before"]);
        let start = before.len();
        let mut ids = before;
        ids.extend(std::iter::repeat_n(thinker.audio_token(), n));
        ids.extend(json_ids(&g["prompt_after"]));
        let listening = thinker.with_audio(start, audio);
        let mut cache = listening.new_cache();
        let logits = listening
            .forward(&ids_array(&ids), &mut cache, true)
            .unwrap()
            .as_dtype(Dtype::Float32)
            .unwrap();
        let argmax_all: Vec<u32> = (0..ids.len() as i32)
            .map(|i| {
                let row = logits.try_index((0, i)).unwrap();
                argmax(row.as_slice::<f32>())
            })
            .collect();
        let want = json_ids(&g["argmax_all"]);
        let same = argmax_all.iter().zip(&want).filter(|(a, b)| a == b).count();
        assert!(
            same * 100 >= want.len() * 99 && argmax_all.last() == want.last(),
            "{clip_name}: {same} of {} argmaxes agree",
            want.len()
        );
        let last = logits.try_index((0, ids.len() as i32 - 1)).unwrap();
        let last = last.as_slice::<f32>();
        let top = &g["logits_top64"];
        let scale = json_floats(&top["values"])[0].abs().max(1.0);
        for (id, want) in json_ids(&top["ids"])
            .iter()
            .zip(json_floats(&top["values"]))
        {
            let got = last[*id as usize];
            assert!(
                (got - want).abs() < 2e-3 * scale,
                "{clip_name}: logit {id} is {got}, want {want}"
            );
        }
        // Greedy decoding on from the same cache (the prefill is most of the work here;
        // tests/omni.rs runs `generate` and chunked prefills on the tiny model).
        let mut greedy = vec![argmax(last)];
        while greedy.len() < json_ids(&g["greedy_ids"]).len() {
            let step = listening
                .forward(&ids_array(&greedy[greedy.len() - 1..]), &mut cache, false)
                .unwrap()
                .as_dtype(Dtype::Float32)
                .unwrap();
            greedy.push(argmax(step.as_slice::<f32>()));
        }
        assert_eq!(greedy, json_ids(&g["greedy_ids"]), "{clip_name}: greedy");
    }
}
