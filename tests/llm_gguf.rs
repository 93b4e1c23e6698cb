//! Our GGUF tensor reader: bit-identical to MLX's own loader where MLX can read a file,
//! exact block dequantization for every supported GGML type, and a tiny llama of mixed
//! k-quant/legacy/float tensors against Python mlx-lm.
//!
//! Goldens under tests/goldens/gguf/ come from scripts/goldens/gguf_quants.py (its
//! docstring says what each file holds and how the references are computed).

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use murmur_core::CancelToken;
use murmur_core::Error;
use murmur_core::llm::generate::{Flow, GenerateOptions, generate};
use murmur_core::llm::load::gguf::{GgmlType, GgufHeader, GgufTensor, REQUANT_BITS};
use murmur_core::llm::load::gguf_quants::{dequantize, to_affine};
use murmur_core::llm::load::{inspect_gguf, load_gguf};
use murmur_core::llm::models;
use murmur_core::llm::tokenizer::Tokenizer;
use murmur_core::mlx::io::GgufFile;
use murmur_core::mlx::ops::indexing::TryIndexOp;
use murmur_core::mlx::{Array, Dtype};
use murmur_tests::{argmax, json_floats, json_ids, rel_diff, smollm2_gguf};
use serde_json::Value;

fn goldens() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("goldens/gguf")
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn tiny_llama() -> PathBuf {
    goldens().join("tiny-llama/model.gguf")
}

/// The raw bytes of an MLX array (contiguous, freshly loaded), for bitwise comparison.
fn bytes(a: &Array) -> Vec<u8> {
    a.view::<u8>().unwrap().as_slice::<u8>().to_vec()
}

fn assert_same(name: &str, ours: &Array, mlx: Option<&Array>) {
    let mlx = mlx.unwrap_or_else(|| panic!("MLX's loader has no {name}"));
    assert_eq!(
        (ours.shape(), ours.dtype()),
        (mlx.shape(), mlx.dtype()),
        "{name}: shape/dtype"
    );
    assert!(bytes(ours) == bytes(mlx), "{name}: bytes differ");
}

/// Every tensor of the real SmolLM2 Q4_1 file (210 Q4_1, 1 Q8_0, 61 F32): weight,
/// scales and biases bit for bit what `mlx::io::GgufFile` makes of it.
#[test]
fn smollm2_tensors_are_bit_identical_to_mlx_loader() {
    let path = smollm2_gguf();
    let header = GgufHeader::read(&path).unwrap();
    let mlx = GgufFile::load(&path).unwrap().arrays().unwrap();
    let mut file = File::open(&path).unwrap();
    let mut compared = 0;
    for t in &header.tensors {
        match header.read_tensor(&mut file, t).unwrap() {
            GgufTensor::Float(a) => {
                assert_same(&t.name, &a, mlx.get(&t.name));
                compared += 1;
            }
            GgufTensor::Quantized {
                weight,
                scales,
                biases,
                bits,
            } => {
                let want_bits = if t.ggml_type == GgmlType::Q8_0 { 8 } else { 4 };
                assert_eq!(bits, want_bits, "{}", t.name);
                let base = t.name.strip_suffix(".weight").unwrap();
                assert_same(&t.name, &weight, mlx.get(&t.name));
                let scales_name = format!("{base}.scales");
                assert_same(&scales_name, &scales, mlx.get(&scales_name));
                let biases_name = format!("{base}.biases");
                assert_same(&biases_name, &biases, mlx.get(&biases_name));
                compared += 3;
            }
        }
    }
    assert_eq!(header.tensors.len(), 272);
    assert_eq!(compared, mlx.len(), "every MLX array was compared");
}

fn ggml_type(name: &str) -> GgmlType {
    match name {
        "Q4_0" => GgmlType::Q4_0,
        "Q4_1" => GgmlType::Q4_1,
        "Q5_0" => GgmlType::Q5_0,
        "Q5_1" => GgmlType::Q5_1,
        "Q8_0" => GgmlType::Q8_0,
        "Q2_K" => GgmlType::Q2K,
        "Q3_K" => GgmlType::Q3K,
        "Q4_K" => GgmlType::Q4K,
        "Q5_K" => GgmlType::Q5K,
        "Q6_K" => GgmlType::Q6K,
        "Q8_K" => GgmlType::Q8K,
        other => panic!("unknown type {other}"),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Random blocks of every block format (sane scales: ordinary, negative, zero and an f16
/// subnormal) decode to exactly gguf-py's f32 values; the three MLX-native formats also
/// repack to affine triples that reproduce them.
#[test]
fn block_dequantization_matches_gguf_py() {
    let golden = json(&goldens().join("blocks.json"));
    let mut types = Vec::new();
    for b in golden["blocks"].as_array().unwrap() {
        let name = b["type"].as_str().unwrap();
        let ty = ggml_type(name);
        let data = unhex(b["bytes_hex"].as_str().unwrap());
        let want: Vec<f32> = b["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let got = dequantize(ty, &data).unwrap();
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{name} element {i}: {g} vs {w}");
        }
        if let Some(a) = to_affine(ty, &data) {
            let bits = a.bits as usize;
            let exact = !matches!(ty, GgmlType::Q4K | GgmlType::Q5K);
            for (e, w) in want.iter().enumerate() {
                let (word, at) = (bits * e / 32, bits * e % 32);
                let stream = u64::from(a.weight[word])
                    | a.weight.get(word + 1).map_or(0, |&w| u64::from(w) << 32);
                let q = (stream >> at) & ((1 << bits) - 1);
                let bias = a.biases[e / 32].to_f32();
                let v = q as f32 * a.scales[e / 32].to_f32() + bias;
                // Legacy formats: equal as numbers (a zero scale gives +0 where the
                // reference has −0). K-quants: within f16 rounding of scale and offset.
                let tol = if exact {
                    0.0
                } else {
                    2f32.powi(-11) * (w.abs() + 2.0 * bias.abs()) + 1e-6
                };
                assert!(
                    (v - w).abs() <= tol,
                    "{name} affine element {e}: {v} vs {w}"
                );
            }
        }
        types.push(name.to_string());
    }
    assert_eq!(types.len(), 11, "{types:?}");
}

/// The tiny llama GGUF (Q4_K, Q5_K, Q6_K, Q3_K, Q2_K, Q5_0, Q5_1, Q4_0, Q4_1, Q8_0, F16,
/// F32 tensors) through `load_gguf` + `models::build`, against mlx-lm:
/// - "loaded": mlx-lm on the arrays our loader is specified to build (affine repacking,
///   8-bit re-quantization of Q2_K/Q3_K/Q6_K): same kernels, so within 1e-3 of the logit
///   scale, same argmax everywhere, same 16 greedy tokens (margins > 2× the tolerance);
/// - "float": mlx-lm on the file's dequantized weights in f32: the cost of rounding the
///   k-quant sub-block scales to f16 and of re-quantizing to 8 bits, within 2% of the
///   logit scale (measured 0.7%), and the same argmax wherever the float model's margin
///   exceeds 4%.
#[test]
fn tiny_mixed_quant_llama_matches_mlx_lm() {
    let g = json(&goldens().join("tiny-llama/golden.json"));
    let (config, mut weights, header) = load_gguf(&tiny_llama()).unwrap();
    let model = models::build(&config, &mut weights).unwrap();
    assert!(weights.leftover().is_empty(), "{:?}", weights.leftover());
    weights.materialize().unwrap();
    assert_eq!(config["rope_traditional"], true);
    Tokenizer::from_gguf(&header).expect("the minimal GPT-2 vocabulary loads");

    let prompt = json_ids(&g["prompt_ids"]);
    let x: Vec<i32> = prompt.iter().map(|&t| t as i32).collect();
    let mut cache = model.new_cache();
    let logits = model
        .forward(
            &Array::from_slice(&x, &[1, x.len() as i32]),
            &mut cache,
            true,
        )
        .unwrap()
        .as_dtype(Dtype::Float32)
        .unwrap();
    let rows: Vec<Vec<f32>> = (0..prompt.len() as i32)
        .map(|i| logits.try_index((0, i)).unwrap().as_slice::<f32>().to_vec())
        .collect();
    let last = rows.last().unwrap();
    let argmaxes: Vec<u32> = rows.iter().map(|r| argmax(r)).collect();

    let loaded = rel_diff(last, &json_floats(&g["logits_loaded_last"]));
    let tol_loaded = g["tolerance_loaded"].as_f64().unwrap() as f32;
    assert!(loaded < tol_loaded, "vs loaded reference: {loaded}");
    assert_eq!(
        argmaxes,
        json_ids(&g["argmax_loaded"]),
        "per-position argmax"
    );

    let float = rel_diff(last, &json_floats(&g["logits_float_last"]));
    let tol_float = g["tolerance_float"].as_f64().unwrap() as f32;
    assert!(
        float < tol_float,
        "vs float reference: {float} (tolerance {tol_float})"
    );
    let float_argmax = json_ids(&g["argmax_float"]);
    let clear = g["argmax_float_clear"].as_array().unwrap();
    for (i, c) in clear.iter().enumerate() {
        if c.as_bool().unwrap() {
            assert_eq!(argmaxes[i], float_argmax[i], "position {i} vs float model");
        }
    }
    eprintln!("tiny llama: max rel. logit diff {loaded:.2e} vs loaded, {float:.2e} vs float");

    let want = json_ids(&g["greedy_ids"]);
    let opts = GenerateOptions {
        max_tokens: want.len(),
        ignore_eos: true,
        ..GenerateOptions::default()
    };
    let (got, _) = generate(
        model.as_ref(),
        &prompt,
        &HashSet::new(),
        &opts,
        &CancelToken::new(),
        |_| Ok(Flow::Continue),
    )
    .unwrap();
    assert_eq!(got, want, "greedy tokens");
}

/// What each GGML type becomes in MLX: formats with one scale and offset per 32
/// elements keep their bits, the 16-element sub-block k-quants become 8-bit, F16 stays
/// dense f16 and norms f32.
#[test]
fn tiny_llama_tensor_forms() {
    let report = inspect_gguf(tiny_llama()).unwrap();
    let t = |name: &str| report.tensors.iter().find(|t| t.name == name).unwrap();
    let requant = Some((REQUANT_BITS, 32));
    for (name, ggml, want) in [
        ("blk.0.attn_q.weight", "Q4_K", Some((4, 32))),
        ("blk.1.attn_q.weight", "Q5_K", Some((5, 32))),
        ("blk.0.attn_output.weight", "Q5_0", Some((5, 32))),
        ("blk.1.ffn_gate.weight", "Q5_1", Some((5, 32))),
        ("blk.0.ffn_up.weight", "Q4_1", Some((4, 32))),
        ("blk.1.attn_output.weight", "Q4_0", Some((4, 32))),
        ("blk.1.attn_v.weight", "Q8_0", Some((8, 32))),
        ("blk.0.attn_v.weight", "Q6_K", requant),
        ("blk.1.ffn_up.weight", "Q3_K", requant),
        ("blk.1.ffn_down.weight", "Q2_K", requant),
        ("blk.1.attn_k.weight", "F16", None),
        ("output_norm.weight", "F32", None),
    ] {
        let q = t(name).quantization.map(|q| (q.bits, q.group_size));
        assert_eq!((t(name).ggml_type.as_str(), q), (ggml, want), "{name}");
    }
    let q = t("blk.0.attn_q.weight");
    assert_eq!(
        (q.dtype.as_str(), q.shape.as_slice()),
        ("uint32", &[256, 32][..])
    );
    let v = t("blk.0.attn_v.weight");
    assert_eq!(v.shape, [128, 64]);
    let k = t("blk.1.attn_k.weight");
    assert_eq!(
        (k.dtype.as_str(), k.shape.as_slice()),
        ("float16", &[128, 256][..])
    );
    assert_eq!(report.ggml_types["Q6_K"], 3);
    let quantized = report
        .tensors
        .iter()
        .filter(|t| t.quantization.is_some())
        .count();
    assert_eq!(report.mlx_arrays, report.tensors.len() + 2 * quantized);
}

fn expect_truncated(result: Result<impl Sized, Error>, what: &str) {
    match result {
        Err(Error::CorruptModel { reason, .. }) => {
            assert!(reason.contains("truncated"), "{what}: {reason}")
        }
        Err(other) => panic!("{what}: expected CorruptModel, got {other}"),
        Ok(_) => panic!("{what}: expected CorruptModel, got a model"),
    }
}

/// Cut anywhere (header, inside a k-quant tensor, the last data byte), the file fails with a
/// typed error; a tensor whose rows are not whole blocks, or whose data lies past the
/// end, is CorruptModel from `read_tensor` too.
#[test]
fn truncated_or_inconsistent_kquant_file_is_corrupt_model() {
    let bytes = std::fs::read(tiny_llama()).unwrap();
    let header = GgufHeader::read(tiny_llama()).unwrap();
    let q4k = header.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(q4k.ggml_type, GgmlType::Q4K);
    let inside_q4k = (header.data_offset + q4k.offset + 100) as usize;
    let data_end = header
        .tensors
        .iter()
        .map(|t| header.data_offset + t.offset + t.n_bytes().unwrap())
        .max()
        .unwrap() as usize;
    let dir = tempfile::tempdir().unwrap();
    for keep in [64, inside_q4k, data_end - 1] {
        let path = dir.path().join(format!("cut-{keep}.gguf"));
        std::fs::write(&path, &bytes[..keep]).unwrap();
        expect_truncated(load_gguf(&path), &format!("load_gguf, {keep} bytes"));
        expect_truncated(inspect_gguf(&path), &format!("inspect_gguf, {keep} bytes"));
    }

    let mut file = File::open(tiny_llama()).unwrap();
    let mut t = q4k.clone();
    t.dims = vec![128, 256]; // 128-element rows: not whole 256-element Q4_K blocks
    match header.read_tensor(&mut file, &t) {
        Err(Error::CorruptModel { reason, .. }) => assert!(reason.contains("blocks"), "{reason}"),
        _ => panic!("partial blocks must be CorruptModel"),
    }
    let mut t = q4k.clone();
    t.offset = bytes.len() as u64;
    expect_truncated(header.read_tensor(&mut file, &t), "offset past the end");
}

/// Garbage in every quantized tensor (all bits set: NaN scales) loads without panicking; an i-quant
/// tensor type is `Unsupported`, naming the type and the tensor.
#[test]
fn garbage_data_loads_and_iquants_are_unsupported() {
    let mut bytes = std::fs::read(tiny_llama()).unwrap();
    let header = GgufHeader::read(tiny_llama()).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let mut garbage = bytes.clone();
    for t in &header.tensors {
        let start = (header.data_offset + t.offset) as usize;
        let end = start + t.n_bytes().unwrap() as usize;
        if !matches!(t.ggml_type, GgmlType::F32 | GgmlType::F16) {
            garbage[start..end].fill(0xFF);
        }
    }
    let path = dir.path().join("garbage.gguf");
    std::fs::write(&path, &garbage).unwrap();
    let (config, mut weights, _) = load_gguf(&path).unwrap();
    models::build(&config, &mut weights).unwrap();
    weights.materialize().unwrap();

    // Patch the type field of blk.1.ffn_down.weight's directory entry (name, rank, dims,
    // type) to 16, IQ2_XXS.
    let name = b"blk.1.ffn_down.weight";
    let at = bytes
        .windows(name.len())
        .position(|w| w == name)
        .expect("tensor name in the directory");
    let type_at = at + name.len() + 4 + 2 * 8;
    assert_eq!(bytes[type_at..type_at + 4], 10u32.to_le_bytes(), "Q2_K");
    bytes[type_at..type_at + 4].copy_from_slice(&16u32.to_le_bytes());
    let path = dir.path().join("iquant.gguf");
    std::fs::write(&path, &bytes).unwrap();
    for result in [
        load_gguf(&path).map(|_| ()),
        inspect_gguf(&path).map(|_| ()),
    ] {
        match result {
            Err(Error::Unsupported { what, .. }) => {
                assert!(
                    what.contains("IQ2_XXS") && what.contains("blk.1.ffn_down.weight"),
                    "{what}"
                )
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }
}
