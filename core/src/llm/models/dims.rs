//! The dimensions every decoder shares (hidden size, layers, heads, head size, vocabulary),
//! read once — from `config.json`, or from GGUF metadata mapped onto the same keys — and
//! validated before anything is allocated.
//!
//! Model files are untrusted input: a config saying 10⁹ layers would otherwise abort on a
//! huge allocation, zero heads divide by zero, and heads that do not divide the hidden size
//! surface as a raw MLX reshape error mid-forward. Here each is a [`BadKey`] naming the key,
//! and [`Dims::check_tensors`] compares the numbers with the tensors the file really holds.

use serde::Serialize;
use serde_json::Value;

/// Upper bounds far above any real model (the largest have ~128 layers, hidden sizes of
/// ~16k, 128 heads of 128–256, ~262k tokens) that keep every derived size small.
pub const MAX_LAYERS: i64 = 512;
pub const MAX_HIDDEN: i64 = 1 << 16;
pub const MAX_HEADS: i64 = 1024;
pub const MAX_HEAD_DIM: i64 = 1024;
pub const MAX_VOCAB: i64 = 1 << 22;
pub const MAX_INTERMEDIATE: i64 = 1 << 18;

/// A decoder's validated dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dims {
    pub hidden_size: i32,
    pub layers: usize,
    pub heads: i32,
    pub kv_heads: i32,
    pub head_dim: i32,
    /// When the config states it (otherwise the embedding table's rows).
    pub vocab_size: Option<i32>,
    pub intermediate_size: Option<i32>,
}

/// What an architecture assumes for dimensions its configs may leave out (Gemma 3's
/// configs omit heads and head size); `None` where the key is required or derived.
#[derive(Debug, Clone, Copy, Default)]
pub struct Defaults {
    pub heads: Option<i64>,
    pub kv_heads: Option<i64>,
    pub head_dim: Option<i64>,
}

impl Defaults {
    /// No defaults: heads required, head size `hidden / heads` unless stated.
    pub const NONE: Self = Self {
        heads: None,
        kv_heads: None,
        head_dim: None,
    };
}

/// Dimensions as a file states them (`None`: key absent), before validation.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawDims {
    pub hidden_size: Option<i64>,
    pub num_hidden_layers: Option<i64>,
    pub num_attention_heads: Option<i64>,
    pub num_key_value_heads: Option<i64>,
    pub head_dim: Option<i64>,
    pub vocab_size: Option<i64>,
    pub intermediate_size: Option<i64>,
}

/// A config key that is missing or wrong, and what is wrong with it (the reason starts
/// with the value, so messages read "`key` = 0 is out of range (1..=1024)").
#[derive(Debug, Clone, PartialEq)]
pub struct BadKey {
    pub key: &'static str,
    pub reason: String,
}

fn bad(key: &'static str, reason: impl Into<String>) -> BadKey {
    BadKey {
        key,
        reason: reason.into(),
    }
}

impl RawDims {
    /// The dimensions of a `config.json` (or its `text_config`): absent or `null` keys are
    /// `None`; anything else that is not an integer is a [`BadKey`].
    pub fn from_config(config: &Value) -> Result<Self, BadKey> {
        let int = |key: &'static str| -> Result<Option<i64>, BadKey> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| bad(key, format!("= {v} is not an integer in range"))),
            }
        };
        Ok(Self {
            hidden_size: int("hidden_size")?,
            num_hidden_layers: int("num_hidden_layers")?,
            num_attention_heads: int("num_attention_heads")?,
            num_key_value_heads: int("num_key_value_heads")?,
            head_dim: int("head_dim")?,
            vocab_size: int("vocab_size")?,
            intermediate_size: int("intermediate_size")?,
        })
    }

    /// Check every dimension's range and how they fit together; fill in `defaults`.
    pub fn validate(self, defaults: Defaults) -> Result<Dims, BadKey> {
        let hidden = in_range("hidden_size", self.hidden_size, MAX_HIDDEN)?;
        let layers = in_range("num_hidden_layers", self.num_hidden_layers, MAX_LAYERS)?;
        let heads = self.num_attention_heads.or(defaults.heads);
        let heads = in_range("num_attention_heads", heads, MAX_HEADS)?;
        let kv = self
            .num_key_value_heads
            .or(defaults.kv_heads)
            .or(Some(heads));
        let kv = in_range("num_key_value_heads", kv, heads)?;
        if heads % kv != 0 {
            return Err(bad(
                "num_key_value_heads",
                format!("= {kv} does not divide num_attention_heads = {heads}"),
            ));
        }
        let head_dim = match self.head_dim.or(defaults.head_dim) {
            Some(h) => in_range("head_dim", Some(h), MAX_HEAD_DIM)?,
            None if hidden % heads != 0 => {
                return Err(bad(
                    "num_attention_heads",
                    format!("= {heads} does not divide hidden_size = {hidden} (and no head_dim)"),
                ));
            }
            None => in_range("head_dim", Some(hidden / heads), MAX_HEAD_DIM)?,
        };
        if head_dim % 2 != 0 {
            return Err(bad(
                "head_dim",
                format!("= {head_dim} is odd (rotary embeddings rotate pairs)"),
            ));
        }
        let opt = |key, v: Option<i64>, max| v.map(|v| in_range(key, Some(v), max)).transpose();
        // Every value is at most 2^22 by now, so the casts are exact.
        Ok(Dims {
            hidden_size: hidden as i32,
            layers: layers as usize,
            heads: heads as i32,
            kv_heads: kv as i32,
            head_dim: head_dim as i32,
            vocab_size: opt("vocab_size", self.vocab_size, MAX_VOCAB)?.map(|v| v as i32),
            intermediate_size: opt(
                "intermediate_size",
                self.intermediate_size,
                MAX_INTERMEDIATE,
            )?
            .map(|v| v as i32),
        })
    }
}

/// `value` must be present and within `1..=max`.
fn in_range(key: &'static str, value: Option<i64>, max: i64) -> Result<i64, BadKey> {
    match value {
        None => Err(bad(key, "is missing")),
        Some(v) if !(1..=max).contains(&v) => {
            Err(bad(key, format!("= {v} is out of range (1..={max})")))
        }
        Some(v) => Ok(v),
    }
}

/// The embedding table and layer 0's Q/K projections: present in every architecture
/// Murmur runs, and enough to catch a config that lies about the checkpoint.
const EMBED: &str = "model.embed_tokens.weight";
const Q_PROJ: &str = "model.layers.0.self_attn.q_proj.weight";
const K_PROJ: &str = "model.layers.0.self_attn.k_proj.weight";

impl Dims {
    /// Compare with the tensors a file holds: `shape(name)` is the logical (unpacked)
    /// shape of a tensor under its Hugging Face name, and `layers_found` the number of
    /// distinct `model.layers.N` blocks (see [`layer_count`]). Absent tensors are left
    /// to the model builder, which names them.
    pub fn check_tensors(
        &self,
        shape: impl Fn(&str) -> Option<Vec<u64>>,
        layers_found: usize,
    ) -> Result<(), BadKey> {
        if layers_found != self.layers {
            return Err(bad(
                "num_hidden_layers",
                format!(
                    "= {} but the weights hold {layers_found} layers",
                    self.layers
                ),
            ));
        }
        let matrix = |name: &str| -> Result<Option<(u64, u64)>, BadKey> {
            match shape(name).as_deref() {
                None => Ok(None),
                Some(&[rows, cols]) => Ok(Some((rows, cols))),
                Some(other) => Err(bad(
                    "hidden_size",
                    format!("does not fit {name}, shaped {other:?} instead of a matrix"),
                )),
            }
        };
        if let Some((rows, cols)) = matrix(EMBED)? {
            if let Some(v) = self.vocab_size.filter(|&v| v as u64 != rows) {
                return Err(bad(
                    "vocab_size",
                    format!("= {v} but {EMBED} has {rows} rows"),
                ));
            }
            if cols != self.hidden_size as u64 {
                return Err(bad(
                    "hidden_size",
                    format!("= {} but {EMBED} has {cols} columns", self.hidden_size),
                ));
            }
        }
        for (name, key, heads) in [
            (Q_PROJ, "num_attention_heads", self.heads),
            (K_PROJ, "num_key_value_heads", self.kv_heads),
        ] {
            let want = heads as u64 * self.head_dim as u64;
            if let Some((rows, _)) = matrix(name)?.filter(|&(rows, _)| rows != want) {
                return Err(bad(
                    key,
                    format!(
                        "= {heads} with head_dim = {} needs {want} rows in {name}, which has {rows}",
                        self.head_dim
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Distinct `model.layers.N` blocks among tensor names.
pub fn layer_count<'a>(names: impl IntoIterator<Item = &'a str>) -> usize {
    let mut layers: Vec<u64> = names
        .into_iter()
        .filter_map(|n| {
            n.strip_prefix("model.layers.")?
                .split('.')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    layers.sort_unstable();
    layers.dedup();
    layers.len()
}

/// Scalars an architecture reads from its config, checked where present: finite and
/// `> 0` (`>= 0` for the norm epsilon; positive `i32` integers for window sizes and
/// context lengths; the numbers of `rope_scaling` as well).
const POSITIVE: &[&str] = &[
    "rope_theta",
    "rope_local_base_freq",
    "query_pre_attn_scalar",
    "sliding_window",
    "sliding_window_pattern",
    "max_position_embeddings",
];
const NON_NEGATIVE: &[&str] = &["rms_norm_eps"];
const ROPE_SCALING: &[&str] = &[
    "factor",
    "low_freq_factor",
    "high_freq_factor",
    "original_max_position_embeddings",
];

/// The config's scalars (RoPE bases and scaling, norm epsilon, window sizes), where
/// present: finite, positive (eps: non-negative), integers where they count positions,
/// so none turns into a division by zero or NaN logits later.
pub fn check_scalars(config: &Value) -> Result<(), BadKey> {
    for &key in POSITIVE {
        number(config, key, key, false)?;
    }
    for &key in NON_NEGATIVE {
        number(config, key, key, true)?;
    }
    if let Some(s) = config.get("rope_scaling").filter(|s| s.is_object()) {
        for &key in ROPE_SCALING {
            number(s, key, "rope_scaling", false)?;
        }
        let (low, high) = (s.get("low_freq_factor"), s.get("high_freq_factor"));
        if low.is_some() && low == high {
            return Err(bad(
                "rope_scaling",
                "has equal low_freq_factor and high_freq_factor",
            ));
        }
    }
    Ok(())
}

/// `obj[key]` when present: a finite number, `> 0` (or `>= 0` when `zero_ok`), and an
/// integer fitting `i32` for keys that count positions or layers.
fn number(obj: &Value, key: &str, report: &'static str, zero_ok: bool) -> Result<(), BadKey> {
    let Some(v) = obj.get(key).filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let counts = matches!(
        key,
        "sliding_window" | "sliding_window_pattern" | "max_position_embeddings"
    );
    let ok = match v.as_f64() {
        Some(x) if counts => v.as_i64().is_some_and(|i| i > 0 && i <= i32::MAX as i64) && x > 0.0,
        Some(x) => x.is_finite() && (x > 0.0 || (zero_ok && x == 0.0)),
        None => false,
    };
    if ok {
        Ok(())
    } else if report == key {
        Err(bad(report, format!("= {v} is not a valid value")))
    } else {
        Err(bad(report, format!("has {key} = {v}, not a valid value")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dims(config: Value) -> Result<Dims, BadKey> {
        RawDims::from_config(&config)?.validate(Defaults::default())
    }

    fn smollm2() -> Value {
        json!({"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9,
               "num_key_value_heads": 3, "vocab_size": 49152, "intermediate_size": 1536})
    }

    fn with(key: &str, v: Value) -> Value {
        let mut c = smollm2();
        c[key] = v;
        c
    }

    #[test]
    fn real_dims_pass_and_derive_head_dim() {
        let d = dims(smollm2()).unwrap();
        assert_eq!((d.head_dim, d.kv_heads, d.layers), (64, 3, 30));
        let gemma = Defaults {
            heads: Some(4),
            kv_heads: Some(1),
            head_dim: Some(256),
        };
        let d = RawDims::from_config(&json!({"hidden_size": 1152, "num_hidden_layers": 26}))
            .unwrap()
            .validate(gemma)
            .unwrap();
        assert_eq!((d.heads, d.kv_heads, d.head_dim), (4, 1, 256));
    }

    #[test]
    fn each_bad_dimension_names_its_key() {
        let cases = [
            ("num_hidden_layers", json!(1_000_000_000)),
            ("num_attention_heads", json!(0)),
            ("num_attention_heads", json!(15)),
            ("hidden_size", json!(1_000_000_000)),
            ("hidden_size", json!(-576)),
            ("head_dim", json!(0)),
            ("head_dim", json!(63)),
            ("num_key_value_heads", json!(2)),
            ("num_key_value_heads", json!(18)),
            ("vocab_size", json!(0)),
            ("intermediate_size", json!(-1)),
            ("hidden_size", json!("576")),
            ("num_hidden_layers", json!(30.5)),
        ];
        for (key, v) in cases {
            let err = dims(with(key, v.clone())).unwrap_err();
            assert_eq!(err.key, key, "{key} = {v}: {err:?}");
        }
        let mut c = smollm2();
        c.as_object_mut().unwrap().remove("hidden_size");
        assert_eq!(dims(c).unwrap_err().key, "hidden_size");
    }

    #[test]
    fn tensors_must_agree_with_the_config() {
        let d = dims(smollm2()).unwrap();
        let shapes = |embed: [u64; 2], q: [u64; 2]| {
            move |name: &str| match name {
                EMBED => Some(embed.to_vec()),
                Q_PROJ => Some(q.to_vec()),
                _ => None,
            }
        };
        assert!(
            d.check_tensors(shapes([49152, 576], [576, 576]), 30)
                .is_ok()
        );
        let key = |r: Result<(), BadKey>| r.unwrap_err().key;
        assert_eq!(
            key(d.check_tensors(shapes([49152, 576], [576, 576]), 2)),
            "num_hidden_layers"
        );
        assert_eq!(
            key(d.check_tensors(shapes([1000, 576], [576, 576]), 30)),
            "vocab_size"
        );
        assert_eq!(
            key(d.check_tensors(shapes([49152, 512], [576, 576]), 30)),
            "hidden_size"
        );
        assert_eq!(
            key(d.check_tensors(shapes([49152, 576], [512, 576]), 30)),
            "num_attention_heads"
        );
    }

    #[test]
    fn scalars_are_finite_and_positive() {
        assert!(check_scalars(&json!({"rope_theta": 1e4, "rms_norm_eps": 0.0})).is_ok());
        for (key, v) in [
            ("rope_theta", json!(0)),
            ("rms_norm_eps", json!(-1e-6)),
            ("sliding_window_pattern", json!(0)),
            ("sliding_window", json!(1.5)),
            ("query_pre_attn_scalar", json!("x")),
        ] {
            assert_eq!(check_scalars(&json!({ key: v })).unwrap_err().key, key);
        }
        let scaling = json!({"rope_scaling": {"rope_type": "llama3", "factor": 8.0,
                              "low_freq_factor": 1.0, "high_freq_factor": 1.0}});
        assert_eq!(check_scalars(&scaling).unwrap_err().key, "rope_scaling");
    }

    #[test]
    fn layer_count_counts_distinct_blocks() {
        let names = [
            "model.layers.0.mlp.up_proj.weight",
            "model.layers.0.mlp.down_proj.weight",
            "model.layers.1.mlp.up_proj.weight",
            "model.embed_tokens.weight",
        ];
        assert_eq!(layer_count(names), 2);
    }
}
