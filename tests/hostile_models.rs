//! Hostile model files: mutated copies of real fixtures (the SmolLM2 GGUF, a safetensors
//! model folder's config.json and header, the Whisper CTranslate2 model.bin) must fail
//! with a typed error naming what is wrong — never a panic, an abort on a huge
//! allocation, or a model that loads and prints garbage.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use murmur_core::Error;
use murmur_core::llm::load::gguf::{GgufHeader, Value};
use murmur_core::llm::load::parse_gguf_header;
use murmur_core::llm::load::safetensors::parse_safetensors_header;
use murmur_core::llm::load::{inspect_gguf, load_gguf, load_safetensors_dir};
use murmur_core::llm::models::{self, parse_model_config};
use murmur_core::mlx::Dtype;
use murmur_core::whisper::load::{Ct2Model, load_checkpoint, parse_ctranslate2};
use murmur_tests::{fixture, smollm2_gguf};
use serde_json::json;

/// `result` is a [`Error::CorruptModel`] whose reason mentions every word of `words`.
fn expect_corrupt<T: Debug>(result: murmur_core::Result<T>, words: &[&str]) -> String {
    match result {
        Err(Error::CorruptModel { reason, .. }) => {
            for w in words {
                assert!(reason.contains(w), "{w:?} not in: {reason}");
            }
            reason
        }
        other => panic!("expected CorruptModel mentioning {words:?}, got {other:?}"),
    }
}

fn expect_unsupported<T: Debug>(result: murmur_core::Result<T>, words: &[&str]) {
    match result {
        Err(Error::Unsupported { what, .. }) => {
            for w in words {
                assert!(what.contains(w), "{w:?} not in: {what}");
            }
        }
        other => panic!("expected Unsupported mentioning {words:?}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------
// GGUF: the real SmolLM2 file, rewritten with one thing changed.

/// The SmolLM2 header and the bytes of its data section.
fn smollm2() -> (GgufHeader, Vec<u8>) {
    let header = GgufHeader::read(smollm2_gguf()).unwrap();
    let bytes = std::fs::read(smollm2_gguf()).unwrap();
    let data = bytes[header.data_offset as usize..].to_vec();
    (header, data)
}

fn value_type(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.extend(x.to_le_bytes()),
        Value::I8(x) => out.extend(x.to_le_bytes()),
        Value::U16(x) => out.extend(x.to_le_bytes()),
        Value::I16(x) => out.extend(x.to_le_bytes()),
        Value::U32(x) => out.extend(x.to_le_bytes()),
        Value::I32(x) => out.extend(x.to_le_bytes()),
        Value::F32(x) => out.extend(x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => put_str(out, s),
        Value::Array(items) => {
            out.extend(items.first().map_or(0, value_type).to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            items.iter().for_each(|i| put_value(out, i));
        }
        Value::U64(x) => out.extend(x.to_le_bytes()),
        Value::I64(x) => out.extend(x.to_le_bytes()),
        Value::F64(x) => out.extend(x.to_le_bytes()),
    }
}

/// A GGUF file of `h`'s metadata and tensor directory followed by `data` (the data
/// section), aligned to `align` (not necessarily what the metadata says).
fn gguf_bytes(h: &GgufHeader, data: &[u8], align: usize) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((h.tensors.len() as u64).to_le_bytes());
    out.extend((h.metadata.len() as u64).to_le_bytes());
    for (k, v) in &h.metadata {
        put_str(&mut out, k);
        out.extend(value_type(v).to_le_bytes());
        put_value(&mut out, v);
    }
    for t in &h.tensors {
        put_str(&mut out, &t.name);
        out.extend((t.dims.len() as u32).to_le_bytes());
        t.dims.iter().for_each(|d| out.extend(d.to_le_bytes()));
        out.extend(t.ggml_type.to_u32().to_le_bytes());
        out.extend(t.offset.to_le_bytes());
    }
    out.resize(out.len().next_multiple_of(align), 0);
    out.extend(data);
    out
}

/// A copy of SmolLM2 in `dir` with `mutate` applied to its header. Each call replaces
/// the last one's copy: a test holds one 100 MB model on disk at a time, not one per case.
fn mutated_gguf(dir: &Path, mutate: impl FnOnce(&mut GgufHeader)) -> PathBuf {
    let (mut h, data) = smollm2();
    mutate(&mut h);
    let path = dir.join("mutated.gguf");
    std::fs::write(&path, gguf_bytes(&h, &data, 32)).unwrap();
    path
}

/// Both ways a GGUF is opened — loading (and building) the model, `murmur inspect` —
/// reject `path` as CorruptModel mentioning `words`.
fn gguf_rejected(path: &Path, words: &[&str]) {
    let load =
        load_gguf(path).and_then(|(config, mut w, _)| models::build(&config, &mut w).map(|_| ()));
    expect_corrupt(load, words);
    expect_corrupt(inspect_gguf(path), words);
}

#[test]
fn gguf_rewriter_round_trips_the_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = mutated_gguf(dir.path(), |_| {});
    let (config, mut weights, _) = load_gguf(&path).unwrap();
    models::build(&config, &mut weights).unwrap();
    assert_eq!(inspect_gguf(&path).unwrap().config.num_hidden_layers, 30);
}

/// Issue 1: 10⁹ layers aborted on a 352 GB `Vec::with_capacity`, and inspect reported
/// them with exit 0. A block count that merely disagrees with the tensors fails too.
#[test]
fn gguf_absurd_or_wrong_block_count_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let set = |key: &str, v: Value| {
        let key = key.to_string();
        move |h: &mut GgufHeader| {
            h.metadata.insert(key, v);
        }
    };
    let p = mutated_gguf(
        dir.path(),
        set("llama.block_count", Value::U32(1_000_000_000)),
    );
    gguf_rejected(&p, &["llama.block_count", "1000000000", "out of range"]);
    let p = mutated_gguf(dir.path(), set("llama.block_count", Value::U32(31)));
    gguf_rejected(&p, &["llama.block_count", "30 layers"]);
}

/// Issue 2 through GGUF metadata: every bad dimension names its GGUF key, before
/// anything is allocated.
#[test]
fn gguf_bad_dimensions_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("llama.attention.head_count", Value::U32(0), "out of range"),
        ("llama.attention.head_count", Value::U32(15), "hidden_size"),
        (
            "llama.attention.head_count_kv",
            Value::U32(2),
            "does not divide",
        ),
        (
            "llama.embedding_length",
            Value::U64(1_000_000_000),
            "out of range",
        ),
        ("llama.embedding_length", Value::I32(-576), "non-negative"),
        ("llama.embedding_length", Value::U32(594), "columns"),
        ("llama.attention.key_length", Value::U32(0), "out of range"),
        ("llama.vocab_size", Value::U32(0), "out of range"),
        ("llama.vocab_size", Value::U32(1000), "rows"),
        (
            "llama.feed_forward_length",
            Value::String("x".into()),
            "integer",
        ),
    ];
    for (key, v, why) in cases {
        let p = mutated_gguf(dir.path(), |h| {
            h.metadata.insert(key.to_string(), v);
        });
        gguf_rejected(&p, &[key, why]);
    }
    let p = mutated_gguf(dir.path(), |h| {
        h.metadata
            .insert("llama.rope.freq_base".into(), Value::F32(f32::NAN));
    });
    gguf_rejected(&p, &["llama.rope.freq_base"]);
}

/// Issue 4: a tensor offset moved off alignment loaded and generated `<|endoftext|>`
/// forever. Offsets must be aligned, inside the file, and tensors must not overlap.
#[test]
fn gguf_misplaced_tensor_data_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = smollm2();
    let mut by_offset: Vec<_> = h.tensors.iter().collect();
    by_offset.sort_by_key(|t| t.offset);
    let (first, second) = (by_offset[0].name.clone(), by_offset[1].name.clone());
    let last = by_offset.last().unwrap().name.clone();
    let find = |h: &mut GgufHeader, name: &str| -> usize {
        h.tensors.iter().position(|t| t.name == name).unwrap()
    };

    let p = mutated_gguf(dir.path(), |h| {
        let i = find(h, &second);
        h.tensors[i].offset += 1;
    });
    gguf_rejected(&p, &[&second, "not a multiple of the alignment 32"]);

    let p = mutated_gguf(dir.path(), |h| {
        let i = find(h, &second);
        h.tensors[i].offset = 0;
    });
    gguf_rejected(&p, &[&first, &second, "overlap"]);

    let p = mutated_gguf(dir.path(), |h| {
        let i = find(h, &last);
        h.tensors[i].offset += 1 << 20;
    });
    gguf_rejected(&p, &[&last, "truncated"]);

    let p = mutated_gguf(dir.path(), |h| {
        let i = find(h, &first);
        h.tensors[i].dims[0] *= 2;
    });
    gguf_rejected(&p, &["overlap"]);

    let p = mutated_gguf(dir.path(), |h| {
        let i = find(h, &second);
        h.tensors[i].name = first.clone();
    });
    gguf_rejected(&p, &["duplicate tensor"]);

    let p = mutated_gguf(dir.path(), |h| {
        h.metadata
            .insert("general.alignment".into(), Value::U32(24));
    });
    gguf_rejected(&p, &["general.alignment"]);

    let p = mutated_gguf(dir.path(), |h| {
        let i = find(h, &last);
        h.tensors[i].dims[0] = 0;
    });
    gguf_rejected(&p, &[&last, "dims"]);
}

/// Issue 5: a tensor larger than this machine's memory (a sparse file, so the test
/// takes no disk) is refused before anything is read, by loading and by inspect.
#[test]
fn gguf_tensor_larger_than_memory_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let (mut h, data) = smollm2();
    let mut huge = h.tensors[0].clone();
    let ram = murmur_core::system::total_memory_bytes().unwrap();
    // F32 [2^20, n·2^20]: n·4 TiB, comfortably above this machine's memory.
    let rows = (ram >> 42) + 1;
    huge.name = "blk.0.extra.weight".into();
    huge.dims = vec![1 << 20, rows << 20];
    let huge_offset = (data.len() as u64).next_multiple_of(32);
    huge.offset = huge_offset;
    h.tensors.push(murmur_core::llm::load::gguf::TensorInfo {
        ggml_type: murmur_core::llm::load::gguf::GgmlType::F32,
        ..huge
    });
    let path = dir.path().join("huge.gguf");
    let bytes = gguf_bytes(&h, &data, 32);
    let data_start = (bytes.len() - data.len()) as u64;
    std::fs::write(&path, &bytes).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(data_start + huge_offset + (rows << 42)).unwrap();
    drop(f);
    expect_unsupported(load_gguf(&path).map(|_| ()), &["memory", "GiB"]);
    expect_unsupported(inspect_gguf(&path).map(|_| ()), &["memory", "GiB"]);
}

// ---------------------------------------------------------------------------------
// Safetensors folders: the llama golden model, its config.json or header edited.

fn llama_copy(dir: &Path) -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("goldens/llm/llama");
    let dst = dir.join("llama");
    std::fs::create_dir_all(&dst).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "model.safetensors.index.json",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    dst
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
}

fn load_and_build(dir: &Path) -> murmur_core::Result<()> {
    let (config, mut weights) = load_safetensors_dir(dir)?;
    models::build(&config, &mut weights).map(|_| ())
}

/// Issue 2 through config.json: zero heads divided by zero, the rest were raw MLX
/// reshape errors; each is now a CorruptModel naming the key (checked by loading and
/// by the pure [`parse_model_config`]).
#[test]
fn config_json_bad_dimensions_name_their_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = llama_copy(tmp.path());
    load_and_build(&dir).unwrap();
    let original = std::fs::read(dir.join("config.json")).unwrap();
    let cases = [
        ("num_hidden_layers", json!(1_000_000_000), "out of range"),
        ("num_hidden_layers", json!(3), "2 layers"),
        ("num_attention_heads", json!(0), "out of range"),
        ("num_attention_heads", json!(5), "does not divide"),
        ("hidden_size", json!(1_000_000_000), "out of range"),
        ("hidden_size", json!(-192), "out of range"),
        ("hidden_size", json!(384), "columns"),
        ("head_dim", json!(0), "out of range"),
        ("head_dim", json!(32), "rows"),
        ("num_key_value_heads", json!(2), "does not divide"),
        ("vocab_size", json!(0), "out of range"),
        ("vocab_size", json!(1000), "rows"),
        ("rope_theta", json!(0), "not a valid value"),
        ("rms_norm_eps", json!(-1.0), "not a valid value"),
        ("num_attention_heads", json!("3"), "integer"),
    ];
    for (key, v, why) in cases {
        std::fs::write(dir.join("config.json"), &original).unwrap();
        edit_config(&dir, |c| c[key] = v.clone());
        let reason = expect_corrupt(load_and_build(&dir), &["bad config", key, why]);
        // The pure mapping agrees wherever the tensors are not needed to tell.
        let pure = parse_model_config(&std::fs::read(dir.join("config.json")).unwrap());
        if !["rows", "columns", "layers"]
            .iter()
            .any(|w| why.contains(w))
        {
            expect_corrupt(pure, &[key, why]);
        } else {
            assert!(pure.is_ok(), "{key} = {v}: {reason}");
        }
    }
    std::fs::write(dir.join("config.json"), &original).unwrap();
    edit_config(&dir, |c| {
        c["quantization"] = json!({"group_size": 64, "bits": 0})
    });
    expect_unsupported(load_and_build(&dir), &["quantization", "0 bits"]);
}

/// Rewrite the header of `file` (a safetensors file) with `edit`, keeping its data.
fn edit_header(file: &Path, edit: impl FnOnce(&mut BTreeMap<String, serde_json::Value>)) {
    let bytes = std::fs::read(file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let json = serde_json::to_vec(&header).unwrap();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    out.extend(&bytes[8 + n..]);
    std::fs::write(file, out).unwrap();
}

/// A change to one header entry.
type Edit = fn(&mut serde_json::Value);

/// Issue 5, safetensors: the header length, shapes and offsets are checked before MLX
/// reads the file.
#[test]
fn safetensors_lying_header_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = llama_copy(tmp.path());
    let file = dir.join("model.safetensors");
    let original = std::fs::read(&file).unwrap();
    let header = parse_safetensors_header(&original).unwrap();
    assert_eq!(header.metadata["format"], "mlx");
    let name = "model.norm.weight";

    let mut huge = original.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&file, &huge).unwrap();
    expect_corrupt(load_and_build(&dir), &["header length", "limit"]);
    let mut past = original.clone();
    past[..8].copy_from_slice(&(original.len() as u64).to_le_bytes());
    std::fs::write(&file, &past).unwrap();
    expect_corrupt(load_and_build(&dir), &["truncated"]);

    let edits: [(&str, Edit); 4] = [
        ("do not hold", |t| t["shape"] = json!([193])),
        ("do not hold", |t| {
            t["shape"] = json!([4_000_000_000u64, 4_000_000_000u64])
        }),
        ("truncated", |t| {
            t["data_offsets"] = json!([1u64 << 40, (1u64 << 40) + 384])
        }),
        ("overlap", |t| t["data_offsets"] = json!([384, 768])),
    ];
    for (why, edit) in edits {
        std::fs::write(&file, &original).unwrap();
        edit_header(&file, |h| edit(h.get_mut(name).unwrap()));
        match load_and_build(&dir) {
            Err(Error::Unsupported { what, .. }) => assert!(what.contains("dimension"), "{what}"),
            other => {
                expect_corrupt(other, &[why]);
            }
        }
    }
    std::fs::write(&file, &original).unwrap();
    edit_header(&file, |h| {
        h.get_mut(name).unwrap()["dtype"] = json!("F8_E5M2")
    });
    expect_unsupported(load_and_build(&dir), &["dtype F8_E5M2", name]);
}

// ---------------------------------------------------------------------------------
// CTranslate2: the real Whisper base model.bin, rewritten.

/// The real model.bin and its parsed variable table.
fn whisper_bin() -> (Vec<u8>, Ct2Model) {
    let bytes = std::fs::read(fixture("whisper-base-ct2/model.bin")).unwrap();
    let model = parse_ctranslate2(&bytes).unwrap();
    (bytes, model)
}

/// `model` serialized as `model.bin` (version 6), each variable's data from `data`
/// (`replace` gives the bytes of changed ones).
fn ct2_bytes(model: &Ct2Model, data: &[u8], replace: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let put_name = |out: &mut Vec<u8>, s: &str| {
        out.extend(((s.len() + 1) as u16).to_le_bytes());
        out.extend(s.as_bytes());
        out.push(0);
    };
    let mut out = 6u32.to_le_bytes().to_vec();
    put_name(&mut out, &model.spec);
    out.extend(1u32.to_le_bytes());
    out.extend((model.variables.len() as u32).to_le_bytes());
    let mut names: Vec<_> = model.variables.keys().collect();
    names.sort();
    for name in names {
        let v = &model.variables[name];
        put_name(&mut out, name);
        out.push(v.shape.len() as u8);
        v.shape
            .iter()
            .for_each(|&d| out.extend((d as u32).to_le_bytes()));
        out.push(v.dtype);
        let bytes = replace
            .get(name)
            .map_or(&data[v.data.clone()], Vec::as_slice);
        out.extend((bytes.len() as u32).to_le_bytes());
        out.extend(bytes);
    }
    out.extend((model.aliases.len() as u32).to_le_bytes());
    for (a, t) in &model.aliases {
        put_name(&mut out, a);
        put_name(&mut out, t);
    }
    out
}

/// A model folder holding `bytes` as model.bin. Each call replaces the last one's
/// model.bin, so a test holds one 145 MB copy on disk at a time.
fn whisper_dir(tmp: &Path, bytes: &[u8]) -> PathBuf {
    let dir = tmp.join("model");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.bin"), bytes).unwrap();
    dir
}

fn whisper_rejected(dir: &Path, words: &[&str]) {
    expect_corrupt(load_checkpoint(dir, Dtype::Float32).map(|_| ()), words);
}

/// A change to a CTranslate2 model: its variable table, and replacement data by name.
type Ct2Edit<'a> = dyn Fn(&mut Ct2Model, &mut BTreeMap<String, Vec<u8>>) + 'a;

/// Issue 3: dims of 0xFFFFFFFF overflowed a multiplication and a scalar stored without
/// data indexed out of bounds; zero or non-dividing head counts are bad configs.
#[test]
fn ctranslate2_hostile_variables_are_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let (bytes, model) = whisper_bin();
    let none = BTreeMap::new();
    let rewrite = |f: &Ct2Edit<'_>| {
        let (mut m, mut replace) = (model.clone(), BTreeMap::new());
        f(&mut m, &mut replace);
        whisper_dir(tmp.path(), &ct2_bytes(&m, &bytes, &replace))
    };
    let same = whisper_dir(tmp.path(), &ct2_bytes(&model, &bytes, &none));
    assert_eq!(
        load_checkpoint(&same, Dtype::Float16)
            .unwrap()
            .dims
            .n_audio_head,
        8
    );

    let dir = rewrite(&|m, _| {
        let v = m.variables.get_mut("encoder/conv1/weight").unwrap();
        v.shape = vec![-1, -1, 3]; // written as 0xFFFFFFFF
    });
    whisper_rejected(&dir, &["encoder/conv1/weight", "4294967295"]);

    let dir = rewrite(&|m, r| {
        m.variables.get_mut("encoder/num_heads").unwrap().shape = vec![0];
        r.insert("encoder/num_heads".into(), vec![]);
    });
    whisper_rejected(&dir, &["encoder/num_heads", "not one integer"]);

    let dir = rewrite(&|m, r| {
        m.variables
            .get_mut("decoder/embeddings/weight")
            .unwrap()
            .shape = vec![];
        r.insert("decoder/embeddings/weight".into(), vec![0; 2]);
    });
    whisper_rejected(&dir, &["decoder/embeddings/weight", "not 2 dimensions"]);

    for (heads, why) in [(0i32, "out of range"), (7, "does not divide")] {
        let dir = rewrite(&|m, r| {
            m.variables.get_mut("decoder/num_heads").unwrap().dtype = 3;
            r.insert("decoder/num_heads".into(), heads.to_le_bytes().to_vec());
        });
        whisper_rejected(&dir, &["bad config", "n_text_head", why]);
    }

    let mut short = bytes.clone();
    let v = &model.variables["encoder/conv1/weight"];
    short.truncate(v.data.start + 10);
    whisper_rejected(&whisper_dir(tmp.path(), &short), &["truncated"]);
}

// ---------------------------------------------------------------------------------
// The fuzz entry points on mutated real bytes: typed results, never a panic.

/// A tiny deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Overwrite a few bytes of `buf[..limit]` with values that stress sizes.
    fn mutate(&mut self, buf: &mut [u8], limit: usize) {
        for _ in 0..1 + self.next() % 4 {
            let at = (self.next() as usize) % limit.min(buf.len());
            let v = [0x00, 0xFF, 0x7F, 0x80, 0x01, self.next() as u8][(self.next() % 6) as usize];
            buf[at] = v;
        }
    }
}

#[test]
fn fuzz_entry_points_survive_mutated_real_headers() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // GGUF: the header region of SmolLM2 (its metadata starts with the small keys).
    let gguf = std::fs::read(smollm2_gguf()).unwrap();
    let head = &gguf[..1 << 16];
    for _ in 0..300 {
        let mut b = head.to_vec();
        rng.mutate(&mut b, 4096);
        let _ = parse_gguf_header(&b);
    }
    // Safetensors: the llama golden's header.
    let st = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("goldens/llm/llama/model.safetensors"),
    )
    .unwrap();
    for _ in 0..300 {
        let mut b = st.clone();
        rng.mutate(&mut b, 5085);
        let _ = parse_safetensors_header(&b);
    }
    // config.json: digits replaced.
    let config = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("goldens/llm/llama/config.json"),
    )
    .unwrap();
    for _ in 0..300 {
        let mut b = config.clone();
        rng.mutate(&mut b, config.len());
        let _ = parse_model_config(&b);
    }
    // model.bin: the variable table's first entries.
    let (mut bin, _) = whisper_bin();
    let keep = bin[..4096].to_vec();
    for _ in 0..100 {
        rng.mutate(&mut bin, 4096);
        let _ = parse_ctranslate2(&bin);
        bin[..4096].copy_from_slice(&keep);
    }
}
