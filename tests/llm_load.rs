//! Loading real model files through MLX.

use murmur_core::Error;
use murmur_core::llm::load::inspect_gguf;
use murmur_core::nn::QuantSpec as Quantization;
use murmur_tests::smollm2_gguf;

/// SmolLM2-135M-Instruct Q4_1: the whole file goes through MLX's GGUF loader, and the
/// configuration, tensor count, shapes and quantized dtypes are what the model card
/// and llama.cpp's converter say.
#[test]
fn smollm2_gguf_loads_with_expected_tensors() {
    let report = inspect_gguf(smollm2_gguf()).expect("SmolLM2 GGUF loads");
    let c = &report.config;
    assert_eq!(report.architecture, "llama");
    assert_eq!(c.num_hidden_layers, 30);
    assert_eq!(c.hidden_size, 576);
    assert_eq!(c.num_attention_heads, 9);
    assert_eq!(c.num_key_value_heads, 3);
    assert_eq!(c.head_dim, 64);
    assert_eq!(c.intermediate_size, 1536);
    assert_eq!(c.vocab_size, 49152);
    assert_eq!(c.rope_theta, 100_000.0);
    assert!(
        c.tie_word_embeddings,
        "SmolLM2 ties input and output embeddings"
    );
    assert_eq!(report.metadata_keys, 33);

    // 272 GGUF tensors: 210 Q4_1, 1 Q8_0 (the embedding), 61 F32 (norms).
    assert_eq!(report.tensors.len(), 272);
    assert_eq!(report.ggml_types["Q4_1"], 210);
    assert_eq!(report.ggml_types["Q8_0"], 1);
    assert_eq!(report.ggml_types["F32"], 61);
    // Each quantized tensor becomes three MLX arrays (weight, scales, biases).
    assert_eq!(report.mlx_arrays, 272 + 2 * 211);

    let t = |name: &str| {
        report
            .tensors
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("tensor {name} missing"))
    };
    let q4 = Some(Quantization {
        bits: 4,
        group_size: 32,
    });
    let q8 = Some(Quantization {
        bits: 8,
        group_size: 32,
    });

    let q = t("blk.0.attn_q.weight");
    assert_eq!(
        (q.shape.as_slice(), q.dtype.as_str(), q.quantization),
        (&[576, 72][..], "uint32", q4)
    );
    // K/V project to 3 heads × 64.
    let k = t("blk.29.attn_k.weight");
    assert_eq!((k.shape.as_slice(), k.quantization), (&[192, 72][..], q4));
    let down = t("blk.3.ffn_down.weight");
    assert_eq!(
        (down.shape.as_slice(), down.quantization),
        (&[576, 192][..], q4)
    );
    let gate = t("blk.3.ffn_gate.weight");
    assert_eq!(gate.shape, [1536, 72]);
    let emb = t("token_embd.weight");
    assert_eq!(
        (emb.shape.as_slice(), emb.dtype.as_str(), emb.quantization),
        (&[49152, 144][..], "uint32", q8)
    );
    let norm = t("output_norm.weight");
    assert_eq!(
        (
            norm.shape.as_slice(),
            norm.dtype.as_str(),
            norm.quantization
        ),
        (&[576][..], "float32", None)
    );
    assert!(report.tensors.iter().all(|t| t.name != "output.weight"));
}

/// A download cut short must fail with a typed error naming the problem, not crash MLX.
#[test]
fn truncated_gguf_is_a_corrupt_model_error() {
    let bytes = std::fs::read(smollm2_gguf()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for keep in [10, 4096, bytes.len() / 2, bytes.len() - 1] {
        let path = dir.path().join(format!("cut-{keep}.gguf"));
        std::fs::write(&path, &bytes[..keep]).unwrap();
        match inspect_gguf(&path) {
            Err(Error::CorruptModel { path: p, reason }) => {
                assert_eq!(p, path);
                assert!(
                    reason.contains("truncated"),
                    "reason for {keep} bytes: {reason}"
                );
            }
            other => panic!("{keep} bytes: expected CorruptModel, got {other:?}"),
        }
    }
}

#[test]
fn foreign_file_is_a_corrupt_model_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-model.gguf");
    std::fs::write(&path, b"PK\x03\x04 this is a zip file, not GGUF").unwrap();
    assert!(matches!(
        inspect_gguf(&path),
        Err(Error::CorruptModel { .. })
    ));
    let missing = dir.path().join("missing.gguf");
    assert!(matches!(inspect_gguf(&missing), Err(Error::Io { .. })));
}
