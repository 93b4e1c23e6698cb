//! Token sampling for generation, entirely on the MLX device.
//!
//! [`Sampler::sample`] turns a row of logits into a token id without a host round trip:
//! it only builds MLX graph (it never calls `eval` or `item`), so the generation loop can
//! `async_eval` the returned token together with the next step's forward pass.
//!
//! Semantics follow Python mlx-lm 0.32.2 (`sample_utils.make_logits_processors` +
//! `generate_step` + `make_sampler`), step by step:
//!
//! 1. Repetition penalty (if `repetition_penalty != 1`): for every token id among the last
//!    `repetition_context` entries of `recent` (all of `recent` when the context is 0, as
//!    Python's `tokens[-0:]` does), its logit is divided by the penalty if it is `>= 0` and
//!    multiplied by it if it is `< 0`. A token listed several times is penalised once.
//! 2. Greedy (`temperature == 0`): `argmax` of the (penalised) logits.
//! 3. Otherwise `logprobs = logits - logsumexp(logits)` (here in float32, see below), then,
//!    in mlx-lm's order, on the untempered log-probabilities:
//!    - top-p (`0 < top_p < 1`): sort ascending, `mass_above[i]` = probability mass strictly
//!      after position `i`; a token survives iff the mass of the tokens above it is below
//!      `top_p` (times the total mass), i.e. the smallest set of most likely tokens whose
//!      mass reaches `top_p` is kept, *including* the token that crosses the threshold.
//!      Tokens tied with the last kept one are kept too (the cut is a logprob threshold).
//!    - min-p (`min_p > 0`): drop tokens with `logprob < max_logprob + ln(min_p)`, i.e.
//!      `p < min_p * p_max` (mlx-lm's `min_tokens_to_keep` = 1, its default: the most likely
//!      token always survives).
//!    - top-k (`top_k > 0`): keep exactly the `k` largest (`argpartition`; ties broken by
//!      MLX), mask the rest.
//! 4. `categorical(logprobs * (1 / temperature))` with a PRNG key: the sampler owns a key
//!    (`random::key(seed)`), and each sampling step does `(key, sub) = split(key)` and draws
//!    with `sub` — exactly the key sequence of Python's `mx.random.seed(seed)` global state,
//!    so with identical logits a seeded `Sampler` reproduces mlx-lm's token sequence
//!    (checked against goldens from Python in the tests), and nothing else that uses MLX's
//!    global random state (or another sampler) can shift it.
//!
//! Deliberate differences from mlx-lm:
//! - The sampling path works in float32 whatever the logits' dtype. mlx-lm computes
//!   `logits - logsumexp` in the logits' dtype: in bf16 (8 significant bits) a logprob near
//!   -10 is rounded to a multiple of 1/16, up to ~3% error in that token's probability.
//!   For float32 logits the two are bit-identical (same ops, same random draws).
//! - `top_k >= vocab` means "no top-k filter" (mlx-lm raises `ValueError`).
//! - `repetition_penalty == 0` is rejected (mlx-lm treats 0 as "off"; use 1.0 here).
//!
//! When the default device is a GPU, steps 3–4 run as one `mlx_rs::transforms::compile`d
//! function (fused elementwise kernels, one graph per configuration and input shape),
//! cached per thread so that [`Sampler`] itself stays `Send`. On the CPU they run as plain
//! ops: there compiling measured no gain (the time goes to sort, exp and the random bits)
//! and MLX would need a C++ compiler at run time for its fused CPU kernels.
//! [`Sampler::set_compile`] overrides the choice; `MLX_DISABLE_COMPILE` turns compiling off.
//!
//! Batches are supported: logits `[B, vocab]` give `B` tokens (one shared key per step,
//! independent draws per row); `recent` may then be `[n]` (shared) or `[B, n]` (per row).

use std::cell::RefCell;

use mlx_rs::error::Exception;
use mlx_rs::ops::indexing::{Ellipsis, TryIndexOp, argmax_axis};
use mlx_rs::ops::{argpartition_axis, broadcast_to, select, sort_axis};
use mlx_rs::random::ShapeOrCount;
use mlx_rs::{Array, Dtype};

use crate::error::{Error, Result};

/// How to pick the next token. Defaults are greedy decoding with every filter off and
/// mlx-lm's repetition context of 20 tokens.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SamplerConfig {
    /// Softmax temperature; 0 means greedy (argmax).
    pub temperature: f32,
    /// Nucleus sampling mass in (0, 1]; 1.0 is off.
    pub top_p: f32,
    /// Keep only the `top_k` most likely tokens; 0 is off (as is anything >= the vocabulary).
    pub top_k: usize,
    /// Drop tokens whose probability is below `min_p` times the top probability, in [0, 1);
    /// 0.0 is off.
    pub min_p: f32,
    /// Sign-aware multiplicative penalty (> 0) for recently seen tokens; 1.0 is off.
    pub repetition_penalty: f32,
    /// How many of the most recent tokens the penalty looks at (mlx-lm's default is 20;
    /// 0 means all of them, like mlx-lm's `tokens[-0:]`).
    pub repetition_context: usize,
    /// Fixed seed for a reproducible token sequence; `None` seeds from the OS/clock.
    pub seed: Option<u64>,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            repetition_context: 20,
            seed: None,
        }
    }
}

impl SamplerConfig {
    /// Checks every field's range; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, reason: String| {
            Err(Error::InvalidArgument {
                name: name.to_string(),
                reason,
            })
        };
        let t = self.temperature;
        if !(t.is_finite() && t >= 0.0) {
            return bad("temperature", format!("{t} (must be finite and >= 0)"));
        }
        let p = self.top_p;
        if !(p > 0.0 && p <= 1.0) {
            return bad("top_p", format!("{p} (must be in (0, 1]; 1 is off)"));
        }
        let m = self.min_p;
        if !(0.0..1.0).contains(&m) {
            return bad("min_p", format!("{m} (must be in [0, 1); 0 is off)"));
        }
        let r = self.repetition_penalty;
        if !(r.is_finite() && r > 0.0) {
            return bad(
                "repetition_penalty",
                format!("{r} (must be finite and > 0; 1 is off)"),
            );
        }
        Ok(())
    }

    fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }
}

/// The filter chain and temperature of the sampling path: everything a compiled graph
/// bakes in as constants. Only enabled filters are `Some`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Filters {
    /// `1 / temperature`, computed in f64 then rounded, like Python's `logits * (1.0 / temp)`.
    inv_temp: f32,
    top_p: Option<f32>,
    /// `ln(min_p)`, computed in f64 like Python's `math.log(min_p)`.
    log_min_p: Option<f32>,
    top_k: Option<usize>,
}

impl Filters {
    fn new(c: &SamplerConfig) -> Self {
        Self {
            inv_temp: (1.0 / c.temperature as f64) as f32,
            top_p: (c.top_p < 1.0).then_some(c.top_p),
            log_min_p: (c.min_p > 0.0).then(|| (c.min_p as f64).ln() as f32),
            top_k: (c.top_k > 0).then_some(c.top_k),
        }
    }
}

/// Samples token ids from logits on the MLX device. One per generation stream: it owns
/// the PRNG key, which advances once per non-greedy [`sample`](Self::sample).
pub struct Sampler {
    config: SamplerConfig,
    filters: Filters,
    /// PRNG key (uint32 `[2]`), lazily advanced.
    key: Array,
    compile: bool,
}

impl std::fmt::Debug for Sampler {
    // Not derived: printing the key would evaluate it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("config", &self.config)
            .field("compile", &self.compile)
            .finish_non_exhaustive()
    }
}

impl Sampler {
    /// Validates `config` ([`Error::InvalidArgument`] naming the field otherwise) and seeds
    /// the PRNG key from `config.seed` (or from the OS and the clock when `None`).
    pub fn new(config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        let seed = config.seed.unwrap_or_else(random_seed);
        Ok(Self {
            filters: Filters::new(&config),
            key: mlx_rs::random::key(seed)?,
            config,
            compile: default_device_is_gpu(),
        })
    }

    /// The configuration this sampler was built with.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Use or bypass the compiled sampling graph (default: use it iff the default device
    /// is a GPU). Results are identical; this exists for benchmarking and tests. MLX's
    /// global `MLX_DISABLE_COMPILE` also bypasses it.
    pub fn set_compile(&mut self, on: bool) {
        self.compile = on;
    }

    /// Picks the next token.
    ///
    /// `logits`: `[1, vocab]` (or `[B, vocab]` for a batch, or `[vocab]`), any float dtype.
    /// `recent`: the previous tokens for the repetition penalty, an integer (int32/uint32)
    /// array of shape `[n]` (or `[B, n]`); `None` or empty for none. Ids must be < vocab.
    ///
    /// Returns a lazy uint32 array of shape `[B]` (`[1]` for a single row). Nothing is
    /// evaluated here.
    pub fn sample(&mut self, logits: &Array, recent: Option<&Array>) -> Result<Array> {
        let mut logits = as_rows(logits)?;
        let penalty = self.config.repetition_penalty;
        match recent {
            Some(recent) if penalty != 1.0 && recent.size() > 0 => {
                let context = self.config.repetition_context;
                logits = apply_repetition_penalty(&logits, recent, penalty, context)?;
            }
            _ => {}
        }
        if self.config.is_greedy() {
            return Ok(argmax_axis(&logits, -1, false)?);
        }
        let (token, next_key) = if self.compile {
            sample_compiled(&self.filters, &logits, &self.key)?
        } else {
            filter_and_sample(&self.filters, &logits, &self.key)?
        };
        self.key = next_key;
        Ok(token)
    }
}

fn default_device_is_gpu() -> bool {
    matches!(
        mlx_rs::Device::try_default().and_then(|d| d.get_type()),
        Ok(mlx_rs::DeviceType::Gpu)
    )
}

/// A fresh seed when the caller gave none: std's per-process random hasher keys (from the
/// OS) mixed with the clock, so two samplers, or two runs, differ.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(now);
    h.finish()
}

/// Checks the logits and returns them as `[B, vocab]`.
fn as_rows(logits: &Array) -> Result<Array> {
    let invalid = |reason: String| Error::InvalidArgument {
        name: "logits".to_string(),
        reason,
    };
    if !logits.dtype().is_float() {
        return Err(invalid(format!(
            "dtype {:?} (must be a float type)",
            logits.dtype()
        )));
    }
    let shape = logits.shape();
    match shape {
        [v] if *v > 0 => Ok(logits.reshape(&[1, *v])?),
        [b, v] if *b > 0 && *v > 0 => Ok(logits.clone()),
        _ => Err(invalid(format!(
            "shape {shape:?} (must be [vocab] or [batch, vocab], non-empty)"
        ))),
    }
}

/// mlx-lm's `make_repetition_penalty` on `[B, vocab]` logits, in the logits' dtype.
fn apply_repetition_penalty(
    logits: &Array,
    recent: &Array,
    penalty: f32,
    context: usize,
) -> Result<Array> {
    let invalid = |reason: String| Error::InvalidArgument {
        name: "recent".to_string(),
        reason,
    };
    let dtype = recent.dtype();
    if dtype.is_inexact() || dtype == Dtype::Bool {
        return Err(invalid(format!(
            "dtype {dtype:?} (must be an integer type)"
        )));
    }
    let batch = logits.dim(0);
    let tokens = match recent.shape() {
        [_] => recent.clone(),
        [b, _] if *b == batch => recent.clone(),
        shape => {
            return Err(invalid(format!(
                "shape {shape:?} (must be [n] or [{batch}, n])"
            )));
        }
    };
    let n = tokens.dim(-1);
    let tokens = if context > 0 && (n as usize) > context {
        tokens.try_index((Ellipsis, (n - context as i32)..))?
    } else {
        tokens
    };
    let m = tokens.dim(-1);
    let idx = if tokens.ndim() == 1 {
        broadcast_to(tokens.reshape(&[1, m])?, &[batch, m])?
    } else {
        tokens
    };
    let selected = logits.take_along_axis(&idx, -1)?;
    let p = Array::from_f32(penalty).as_dtype(logits.dtype())?;
    let zero = Array::from_f32(0.0).as_dtype(logits.dtype())?;
    let penalised = select(
        selected.lt(&zero)?,
        selected.multiply(&p)?,
        selected.divide(&p)?,
    )?;
    Ok(logits.put_along_axis(&idx, &penalised, -1)?)
}

/// The sampling path (steps 3–4 of the module docs) as plain MLX ops: returns the tokens
/// and the next PRNG key. Pure in `(logits, key)`, so it can be compiled.
fn filter_and_sample(
    f: &Filters,
    logits: &Array,
    key: &Array,
) -> std::result::Result<(Array, Array), Exception> {
    let x = if logits.dtype() == Dtype::Float32 {
        logits.clone()
    } else {
        logits.as_dtype(Dtype::Float32)?
    };
    let mut logprobs = x.subtract(x.logsumexp_axis(-1, true)?)?;
    let neg_inf = Array::from_f32(f32::NEG_INFINITY);
    if let Some(top_p) = f.top_p {
        logprobs = apply_top_p(&logprobs, top_p, &neg_inf)?;
    }
    if let Some(log_min_p) = f.log_min_p {
        logprobs = apply_min_p(&logprobs, log_min_p, &neg_inf)?;
    }
    match f.top_k {
        Some(k) if (k as i64) < logprobs.dim(-1) as i64 => {
            logprobs = apply_top_k(&logprobs, k as i32, &neg_inf)?;
        }
        _ => {}
    }
    let (next_key, sub) = mlx_rs::random::split(key, 2)?;
    let scaled = logprobs.multiply(Array::from_f32(f.inv_temp))?;
    let token = mlx_rs::random::categorical(&scaled, -1, None::<ShapeOrCount>, &sub)?;
    Ok((token, next_key))
}

/// mlx-lm's `apply_top_p`, op for op.
fn apply_top_p(
    logprobs: &Array,
    top_p: f32,
    neg_inf: &Array,
) -> std::result::Result<Array, Exception> {
    let sorted = sort_axis(logprobs, -1)?;
    let probs = sorted.exp()?;
    let mass_above = probs.cumsum(-1, true, false)?;
    let total = mass_above
        .try_index((Ellipsis, ..1i32))?
        .add(probs.try_index((Ellipsis, ..1i32))?)?;
    let num_dropped = mass_above
        .ge(total.multiply(Array::from_f32(top_p))?)?
        .sum_axis(-1, true)?;
    let threshold = sorted.take_along_axis(&num_dropped, -1)?;
    select(logprobs.lt(&threshold)?, neg_inf, logprobs)
}

/// mlx-lm's `apply_min_p` with `min_tokens_to_keep = 1`.
fn apply_min_p(
    logprobs: &Array,
    log_min_p: f32,
    neg_inf: &Array,
) -> std::result::Result<Array, Exception> {
    let scaled = logprobs
        .max_axis(-1, true)?
        .add(Array::from_f32(log_min_p))?;
    select(logprobs.lt(&scaled)?, neg_inf, logprobs)
}

/// mlx-lm's `apply_top_k` (requires `0 < k < vocab`).
fn apply_top_k(logprobs: &Array, k: i32, neg_inf: &Array) -> std::result::Result<Array, Exception> {
    let mask_idx =
        argpartition_axis(logprobs.negative()?, k - 1, -1)?.try_index((Ellipsis, k..))?;
    logprobs.put_along_axis(&mask_idx, neg_inf, -1)
}

type CompiledFn = Box<dyn FnMut(&[Array]) -> std::result::Result<Vec<Array>, Exception>>;

/// Compiled sampling graphs are not `Send` (MLX keeps one compile cache per thread), so
/// they live here, per thread and per filter configuration, instead of in the `Sampler`.
const MAX_COMPILED: usize = 16;

thread_local! {
    static COMPILED: RefCell<Vec<(Filters, CompiledFn)>> = const { RefCell::new(Vec::new()) };
}

/// [`filter_and_sample`] through a compiled graph (traced on first use per thread,
/// configuration and input shape/dtype).
fn sample_compiled(
    filters: &Filters,
    logits: &Array,
    key: &Array,
) -> std::result::Result<(Array, Array), Exception> {
    COMPILED.with_borrow_mut(|cache| {
        let i = match cache.iter().position(|(f, _)| f == filters) {
            Some(i) => i,
            None => {
                if cache.len() >= MAX_COMPILED {
                    drop(cache.remove(0));
                }
                let f = *filters;
                let compiled = mlx_rs::transforms::compile::compile(
                    move |args: &[Array]| -> std::result::Result<Vec<Array>, Exception> {
                        let (token, next_key) = filter_and_sample(&f, &args[0], &args[1])?;
                        Ok(vec![token, next_key])
                    },
                    false,
                );
                cache.push((f, Box::new(compiled)));
                cache.len() - 1
            }
        };
        let mut out = (cache[i].1)(&[logits.clone(), key.clone()])?.into_iter();
        match (out.next(), out.next()) {
            (Some(token), Some(next_key)) => Ok((token, next_key)),
            _ => Err(Exception::custom(
                "compiled sampler returned fewer than 2 outputs",
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(temperature: f32) -> SamplerConfig {
        SamplerConfig {
            temperature,
            seed: Some(1234),
            ..SamplerConfig::default()
        }
    }

    fn row(values: &[f32]) -> Array {
        Array::from_slice(values, &[1, values.len() as i32])
    }

    fn to_u32(a: &Array) -> Vec<u32> {
        a.eval().unwrap();
        a.as_slice::<u32>().to_vec()
    }

    /// Draws `n` samples at once: the row repeated `n` times as a batch.
    fn batch_draws(s: &mut Sampler, logits: &[f32], n: i32) -> Vec<u32> {
        let v = logits.len() as i32;
        let rows = broadcast_to(row(logits), &[n, v]).unwrap();
        let t = s.sample(&rows, None).unwrap();
        assert_eq!(t.shape(), &[n]);
        assert_eq!(t.dtype(), Dtype::Uint32);
        to_u32(&t)
    }

    /// Draws `n` samples one step at a time (the generation loop's shape), evaluating
    /// in batches of 250.
    fn sequential_draws(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<u32> {
        let l = row(logits);
        let mut out = Vec::with_capacity(n);
        let mut pending = Vec::new();
        for i in 0..n {
            let t = s.sample(&l, None).unwrap();
            assert_eq!(t.shape(), &[1]);
            pending.push(t);
            if pending.len() == 250 || i + 1 == n {
                let all = mlx_rs::ops::concatenate(&pending, 0).unwrap();
                out.extend(to_u32(&all));
                pending.clear();
            }
        }
        out
    }

    fn frequencies(draws: &[u32], vocab: usize) -> Vec<f64> {
        let mut counts = vec![0usize; vocab];
        for &d in draws {
            counts[d as usize] += 1;
        }
        counts
            .iter()
            .map(|&c| c as f64 / draws.len() as f64)
            .collect()
    }

    /// softmax(logits / t), restricted to `keep` (renormalised) when given.
    fn expected(logits: &[f32], t: f64, keep: Option<&[usize]>) -> Vec<f64> {
        let w: Vec<f64> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| match keep {
                Some(k) if !k.contains(&i) => 0.0,
                _ => (l as f64 / t).exp(),
            })
            .collect();
        let z: f64 = w.iter().sum();
        w.iter().map(|x| x / z).collect()
    }

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    fn ln_probs(p: &[f32]) -> Vec<f32> {
        p.iter().map(|x| x.ln()).collect()
    }

    fn invalid_field(c: SamplerConfig) -> String {
        match Sampler::new(c) {
            Err(Error::InvalidArgument { name, .. }) => name,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn sampler_config_validation() {
        assert!(Sampler::new(SamplerConfig::default()).is_ok());
        let ok = SamplerConfig {
            temperature: 0.8,
            top_p: 1.0,
            top_k: 40,
            min_p: 0.05,
            repetition_penalty: 1.1,
            repetition_context: 0,
            seed: Some(0),
        };
        assert!(Sampler::new(ok.clone()).is_ok());
        let bad = |f: fn(&mut SamplerConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            invalid_field(c)
        };
        assert_eq!(bad(|c| c.temperature = -0.1), "temperature");
        assert_eq!(bad(|c| c.temperature = f32::NAN), "temperature");
        assert_eq!(bad(|c| c.temperature = f32::INFINITY), "temperature");
        assert_eq!(bad(|c| c.top_p = 0.0), "top_p");
        assert_eq!(bad(|c| c.top_p = 1.01), "top_p");
        assert_eq!(bad(|c| c.top_p = f32::NAN), "top_p");
        assert_eq!(bad(|c| c.min_p = -0.01), "min_p");
        assert_eq!(bad(|c| c.min_p = 1.0), "min_p");
        assert_eq!(bad(|c| c.min_p = f32::NAN), "min_p");
        assert_eq!(bad(|c| c.repetition_penalty = 0.0), "repetition_penalty");
        assert_eq!(bad(|c| c.repetition_penalty = -1.5), "repetition_penalty");
        assert_eq!(
            bad(|c| c.repetition_penalty = f32::NAN),
            "repetition_penalty"
        );
        // Boundaries that are valid.
        assert!(
            Sampler::new(SamplerConfig {
                top_p: 1e-6,
                ..ok.clone()
            })
            .is_ok()
        );
        assert!(
            Sampler::new(SamplerConfig {
                min_p: 0.0,
                ..ok.clone()
            })
            .is_ok()
        );
        assert!(
            Sampler::new(SamplerConfig {
                temperature: 0.0,
                ..ok
            })
            .is_ok()
        );
    }

    #[test]
    fn sampler_is_send() {
        // The compiled graphs are kept per thread precisely so that this holds.
        fn assert_send<T: Send>() {}
        assert_send::<Sampler>();
    }

    #[test]
    fn sampler_config_serde_defaults() {
        let c: SamplerConfig = serde_json::from_str(r#"{"temperature": 0.7, "seed": 3}"#).unwrap();
        assert_eq!(
            c,
            SamplerConfig {
                temperature: 0.7,
                seed: Some(3),
                ..SamplerConfig::default()
            }
        );
        let back: SamplerConfig =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn sampler_rejects_bad_inputs() {
        let mut s = Sampler::new(cfg(1.0)).unwrap();
        let ints = Array::from_slice(&[1i32, 2, 3], &[1, 3]);
        assert!(matches!(
            s.sample(&ints, None),
            Err(Error::InvalidArgument { .. })
        ));
        let cube = Array::zeros::<f32>(&[1, 1, 4]).unwrap();
        assert!(matches!(
            s.sample(&cube, None),
            Err(Error::InvalidArgument { .. })
        ));
        let empty = Array::zeros::<f32>(&[1, 0]).unwrap();
        assert!(matches!(
            s.sample(&empty, None),
            Err(Error::InvalidArgument { .. })
        ));

        let mut p = Sampler::new(SamplerConfig {
            repetition_penalty: 1.5,
            ..cfg(1.0)
        })
        .unwrap();
        let l = row(&[1.0, 2.0, 3.0]);
        let floats = Array::from_slice(&[1.0f32], &[1]);
        assert!(matches!(
            p.sample(&l, Some(&floats)),
            Err(Error::InvalidArgument { .. })
        ));
        let wrong_batch = Array::from_slice(&[1i32, 2], &[2, 1]);
        assert!(matches!(
            p.sample(&l, Some(&wrong_batch)),
            Err(Error::InvalidArgument { .. })
        ));
    }

    #[test]
    fn sampler_greedy_is_argmax() {
        let mut s = Sampler::new(SamplerConfig::default()).unwrap();
        let logits = [0.1f32, -2.0, 3.5, 3.4, 0.0, -7.0];
        let t = s.sample(&row(&logits), None).unwrap();
        assert_eq!(t.shape(), &[1]);
        assert_eq!(t.dtype(), Dtype::Uint32);
        assert_eq!(to_u32(&t), vec![2]);
        // Any float dtype, a bare [vocab] row, and a batch.
        let bf = row(&logits).as_dtype(Dtype::Bfloat16).unwrap();
        assert_eq!(to_u32(&s.sample(&bf, None).unwrap()), vec![2]);
        let flat = Array::from_slice(&logits, &[6]);
        assert_eq!(to_u32(&s.sample(&flat, None).unwrap()), vec![2]);
        let two = Array::from_slice(&[0.0f32, 1.0, 5.0, 2.0], &[2, 2]);
        assert_eq!(to_u32(&s.sample(&two, None).unwrap()), vec![1, 0]);
    }

    #[test]
    fn sampler_repetition_penalty_moves_argmax_only_when_seen() {
        let logits = row(&[0.5, 1.5, -1.0, 2.0, 0.0]);
        let greedy = |penalty: f32, recent: &[i32]| {
            let mut s = Sampler::new(SamplerConfig {
                repetition_penalty: penalty,
                ..SamplerConfig::default()
            })
            .unwrap();
            let r = Array::from_slice(recent, &[recent.len() as i32]);
            to_u32(&s.sample(&logits, Some(&r)).unwrap())[0]
        };
        assert_eq!(greedy(1.0, &[3]), 3, "penalty 1 is off");
        assert_eq!(greedy(2.0, &[3]), 1, "2.0 / 2 = 1.0 < 1.5");
        assert_eq!(
            greedy(1.2, &[3]),
            3,
            "2.0 / 1.2 = 1.67 > 1.5: not large enough"
        );
        assert_eq!(greedy(2.0, &[0, 1, 4]), 3, "top token not in recent");
        assert_eq!(greedy(2.0, &[]), 3, "empty recent");
        // Only the last `repetition_context` tokens count.
        let mut s = Sampler::new(SamplerConfig {
            repetition_penalty: 2.0,
            repetition_context: 2,
            ..SamplerConfig::default()
        })
        .unwrap();
        let old = Array::from_slice(&[3u32, 0, 4], &[3]);
        assert_eq!(to_u32(&s.sample(&logits, Some(&old)).unwrap()), vec![3]);
        let fresh = Array::from_slice(&[0u32, 4, 3], &[3]);
        assert_eq!(to_u32(&s.sample(&logits, Some(&fresh)).unwrap()), vec![1]);
    }

    #[test]
    fn sampler_repetition_penalty_values() {
        // Positive logits divided, negative multiplied, duplicates penalised once, tokens
        // outside the context window untouched; per-row recent for a batch.
        let logits = Array::from_slice(&[2.0f32, -1.0, 3.0, -4.0, 1.0, 2.0, 3.0, 4.0], &[2, 4]);
        let recent = Array::from_slice(&[2i32, 0, 1, 1, 3, 3, 3, 0], &[2, 4]);
        let out = apply_repetition_penalty(&logits, &recent, 2.0, 3).unwrap();
        out.eval().unwrap();
        // Row 0 context [0, 1, 1]: token 2 is outside it.
        // Row 1 context [3, 3, 0].
        assert_eq!(
            out.as_slice::<f32>(),
            &[1.0, -2.0, 3.0, -4.0, 0.5, 2.0, 3.0, 2.0]
        );
        // Shared [n] recent broadcast over the batch, context 0 = everything.
        let shared = Array::from_slice(&[3u32, 2], &[2]);
        let out = apply_repetition_penalty(&logits, &shared, 4.0, 0).unwrap();
        out.eval().unwrap();
        assert_eq!(
            out.as_slice::<f32>(),
            &[2.0, -1.0, 0.75, -16.0, 1.0, 2.0, 0.75, 1.0]
        );
        // bf16 logits stay bf16.
        let bf = logits.as_dtype(Dtype::Bfloat16).unwrap();
        let out = apply_repetition_penalty(&bf, &shared, 4.0, 0).unwrap();
        assert_eq!(out.dtype(), Dtype::Bfloat16);
    }

    #[test]
    fn sampler_seeded_sequences_are_reproducible() {
        let logits = [1.0f32, 0.8, 0.6, 0.4, 0.2, 0.0, -0.2, -0.4];
        let run = |seed: Option<u64>, disturb: bool| {
            let mut s = Sampler::new(SamplerConfig {
                temperature: 1.0,
                seed,
                ..SamplerConfig::default()
            })
            .unwrap();
            let l = row(&logits);
            let mut v = Vec::new();
            for _ in 0..50 {
                if disturb {
                    // Global random state use in between must not matter.
                    mlx_rs::random::uniform::<_, f32>(0.0, 1.0, &[3], None)
                        .unwrap()
                        .eval()
                        .unwrap();
                }
                v.push(s.sample(&l, None).unwrap());
            }
            to_u32(&mlx_rs::ops::concatenate(&v, 0).unwrap())
        };
        let a = run(Some(42), false);
        assert_eq!(a.len(), 50);
        assert_eq!(a, run(Some(42), true), "same seed, same sequence");
        assert_ne!(a, run(Some(43), false), "different seed");
        assert_ne!(
            run(None, false),
            run(None, false),
            "unseeded samplers differ"
        );
        // Not a constant sequence: the key advances every step.
        assert!(a.iter().any(|&t| t != a[0]));
    }

    #[test]
    fn sampler_temperature_matches_softmax() {
        let logits = [2.0f32, 1.0, 0.5, 0.0, -1.0];
        for t in [0.7f32, 1.0, 1.8] {
            let want = expected(&logits, t as f64, None);
            let mut s = Sampler::new(cfg(t)).unwrap();
            let got = frequencies(&batch_draws(&mut s, &logits, 4000), 5);
            let d = max_abs_diff(&got, &want);
            assert!(d < 0.03, "T={t}: got {got:?}, want {want:?}");
            // T=0.7 and T=1.8 are far from T=1: the check can tell them apart.
            if t != 1.0 {
                assert!(max_abs_diff(&got, &expected(&logits, 1.0, None)) > 0.06);
            }
        }
        // One token per step, as in generation: the per-step key split gives independent
        // draws with the same distribution.
        let want = expected(&logits, 0.7, None);
        let mut s = Sampler::new(cfg(0.7)).unwrap();
        let got = frequencies(&sequential_draws(&mut s, &logits, 2000), 5);
        assert!(
            max_abs_diff(&got, &want) < 0.03,
            "got {got:?}, want {want:?}"
        );
    }

    #[test]
    fn sampler_top_p_keeps_smallest_set_reaching_mass() {
        let probs = [0.25f32, 0.4, 0.06, 0.15, 0.1, 0.04];
        let logits = ln_probs(&probs);
        // Descending: 0.4 (1), 0.25 (0), 0.15 (3) -> 0.8 >= 0.7: the crossing token 3 is kept.
        let mut s = Sampler::new(SamplerConfig {
            top_p: 0.7,
            ..cfg(1.0)
        })
        .unwrap();
        let draws = batch_draws(&mut s, &logits, 4000);
        let got = frequencies(&draws, 6);
        let want = expected(&logits, 1.0, Some(&[0, 1, 3]));
        for tok in [2, 4, 5] {
            assert_eq!(got[tok], 0.0, "token {tok} is outside the nucleus: {got:?}");
        }
        assert!(got[3] > 0.1, "the crossing token is kept: {got:?}");
        assert!(
            max_abs_diff(&got, &want) < 0.03,
            "got {got:?}, want {want:?}"
        );

        // The filter uses untempered probabilities: at T = 2 the same nucleus.
        let mut s = Sampler::new(SamplerConfig {
            top_p: 0.7,
            ..cfg(2.0)
        })
        .unwrap();
        let got = frequencies(&batch_draws(&mut s, &logits, 4000), 6);
        let want = expected(&logits, 2.0, Some(&[0, 1, 3]));
        assert!(
            max_abs_diff(&got, &want) < 0.03,
            "got {got:?}, want {want:?}"
        );
    }

    #[test]
    fn sampler_min_p_drops_unlikely_tokens() {
        let probs = [0.08f32, 0.5, 0.12, 0.2, 0.06, 0.04];
        let logits = ln_probs(&probs);
        // Threshold 0.2 * 0.5 = 0.1: 0.12 survives, 0.08/0.06/0.04 do not.
        for t in [1.0f32, 2.0] {
            let mut s = Sampler::new(SamplerConfig {
                min_p: 0.2,
                ..cfg(t)
            })
            .unwrap();
            let got = frequencies(&batch_draws(&mut s, &logits, 4000), 6);
            for tok in [0, 4, 5] {
                assert_eq!(got[tok], 0.0, "T={t}: token {tok} is below min_p: {got:?}");
            }
            let want = expected(&logits, t as f64, Some(&[1, 2, 3]));
            assert!(
                max_abs_diff(&got, &want) < 0.03,
                "T={t}: got {got:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn sampler_top_k_keeps_k_most_likely() {
        let logits = [0.3f32, 1.1, -0.5, 0.9, 0.0, 0.2];
        let mut s = Sampler::new(SamplerConfig {
            top_k: 2,
            ..cfg(1.5)
        })
        .unwrap();
        let got = frequencies(&batch_draws(&mut s, &logits, 4000), 6);
        for tok in [0, 2, 4, 5] {
            assert_eq!(got[tok], 0.0, "token {tok} is not in the top 2: {got:?}");
        }
        let want = expected(&logits, 1.5, Some(&[1, 3]));
        assert!(
            max_abs_diff(&got, &want) < 0.03,
            "got {got:?}, want {want:?}"
        );

        // top_k >= vocab: no filter.
        let mut s = Sampler::new(SamplerConfig {
            top_k: 6,
            ..cfg(1.0)
        })
        .unwrap();
        let got = frequencies(&batch_draws(&mut s, &logits, 4000), 6);
        let want = expected(&logits, 1.0, None);
        assert!(
            max_abs_diff(&got, &want) < 0.03,
            "got {got:?}, want {want:?}"
        );
    }

    #[test]
    fn sampler_half_precision_logits() {
        let logits = [2.0f32, 1.0, 0.5, 0.0, -1.0];
        let want = expected(&logits, 1.0, None);
        for dt in [Dtype::Bfloat16, Dtype::Float16] {
            let mut s = Sampler::new(cfg(1.0)).unwrap();
            let rows = broadcast_to(row(&logits), &[4000, 5])
                .unwrap()
                .as_dtype(dt)
                .unwrap();
            let got = frequencies(&to_u32(&s.sample(&rows, None).unwrap()), 5);
            assert!(max_abs_diff(&got, &want) < 0.03, "{dt:?}: got {got:?}");
        }
    }

    #[test]
    fn sampler_large_vocab_with_filters() {
        // A real-sized vocabulary: every draw is among the 40 largest logits.
        let vocab = 49152usize;
        let logits: Vec<f32> = (0..vocab)
            .map(|i| ((i * 7919) % vocab) as f32 / vocab as f32 * 20.0 - 10.0)
            .collect();
        let mut top: Vec<usize> = (0..vocab).collect();
        top.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        top.truncate(40);
        let mut s = Sampler::new(SamplerConfig {
            top_k: 40,
            top_p: 0.95,
            min_p: 0.01,
            repetition_penalty: 1.1,
            ..cfg(1.0)
        })
        .unwrap();
        let recent = Array::from_slice(&[top[0] as u32, 5, 6], &[3]);
        let l = row(&logits);
        let v: Vec<Array> = (0..20)
            .map(|_| s.sample(&l, Some(&recent)).unwrap())
            .collect();
        let draws = to_u32(&mlx_rs::ops::concatenate(&v, 0).unwrap());
        assert!(
            draws.iter().all(|&d| top.contains(&(d as usize))),
            "{draws:?}"
        );
    }

    #[test]
    fn sampler_compiled_equals_plain_ops() {
        let logits: Vec<f32> = (0..64)
            .map(|i| ((i * 37) % 64) as f32 * 0.125 - 4.0)
            .collect();
        let rows = broadcast_to(row(&logits), &[256, 64]).unwrap();
        let config = SamplerConfig {
            temperature: 0.9,
            top_p: 0.8,
            min_p: 0.05,
            top_k: 10,
            ..cfg(1.0)
        };
        let mut a = Sampler::new(config.clone()).unwrap();
        let mut b = Sampler::new(config).unwrap();
        a.set_compile(true);
        b.set_compile(false);
        for _ in 0..3 {
            let x = to_u32(&a.sample(&rows, None).unwrap());
            let y = to_u32(&b.sample(&rows, None).unwrap());
            assert_eq!(x, y);
        }
    }

    /// Token sequences from Python mlx-lm 0.32.2 on the same logits and seeds, made with
    /// (PY from `scripts/py-venv.sh`):
    ///
    /// ```python
    /// import mlx.core as mx
    /// from mlx_lm.sample_utils import make_sampler, make_logits_processors
    /// V = 64
    /// logits = mx.array([[((i * 37) % V) * 0.125 - 4.0 for i in range(V)]], dtype=mx.float32)
    /// recent = mx.array([5, 9, 23, 40, 19, 60, 1, 11], dtype=mx.int32)
    /// for name, temp, top_p, min_p, top_k, pen, ctx, seed in CASES:
    ///     mx.random.seed(seed)
    ///     s = make_sampler(temp=temp, top_p=top_p, min_p=min_p, top_k=top_k)
    ///     procs = make_logits_processors(
    ///         repetition_penalty=(pen if pen != 1.0 else None), repetition_context_size=ctx)
    ///     out = []
    ///     for _ in range(50):
    ///         l = logits + 0.0  # the penalty processor writes in place
    ///         for p in procs:
    ///             l = p(recent, l)
    ///         lp = l - mx.logsumexp(l, keepdims=True)  # as generate_step does
    ///         out.append(s(lp).item())
    /// # batch: lb = concat([logits, logits[:, ::-1]]), seed 6, temp 1, top_p 0.9, top_k 20,
    /// # lp = lb - logsumexp(lb, axis=-1, keepdims=True), 20 steps of s(lp).tolist()
    /// ```
    #[test]
    fn sampler_matches_mlx_lm_token_for_token() {
        let logits: Vec<f32> = (0..64)
            .map(|i| ((i * 37) % 64) as f32 * 0.125 - 4.0)
            .collect();
        let recent = Array::from_slice(&[5i32, 9, 23, 40, 19, 60, 1, 11], &[8]);
        // (temperature, top_p, min_p, top_k, repetition_penalty, repetition_context, seed)
        #[allow(clippy::too_many_arguments)]
        fn sc(t: f32, p: f32, m: f32, k: usize, r: f32, c: usize, seed: u64) -> SamplerConfig {
            SamplerConfig {
                temperature: t,
                top_p: p,
                top_k: k,
                min_p: m,
                repetition_penalty: r,
                repetition_context: c,
                seed: Some(seed),
            }
        }
        #[rustfmt::skip]
        let cases: [(&str, SamplerConfig, [u32; 50]); 6] = [
            ("plain", sc(0.7, 1.0, 0.0, 0, 1.0, 20, 0), [12, 19, 38, 38, 19, 57, 57, 19, 19, 3, 5, 57, 62, 3, 50, 38, 62, 57, 38, 31, 57, 12, 19, 57, 55, 57, 36, 19, 31, 48, 38, 36, 19, 38, 57, 55, 57, 57, 43, 36, 50, 57, 19, 50, 31, 17, 5, 50, 36, 19]),
            ("top_p", sc(1.0, 0.9, 0.0, 0, 1.0, 20, 1), [12, 12, 22, 48, 12, 55, 50, 22, 62, 5, 57, 57, 19, 57, 10, 38, 43, 29, 12, 50, 24, 29, 50, 55, 12, 43, 29, 19, 31, 19, 5, 31, 12, 19, 5, 19, 50, 19, 5, 19, 38, 62, 57, 12, 31, 57, 29, 12, 31, 38]),
            ("min_p", sc(1.0, 1.0, 0.1, 0, 1.0, 20, 2), [29, 38, 36, 19, 29, 50, 19, 43, 38, 57, 17, 17, 38, 17, 57, 36, 31, 19, 57, 24, 38, 10, 12, 50, 36, 50, 31, 50, 19, 31, 19, 17, 19, 19, 36, 17, 48, 24, 50, 24, 19, 19, 19, 5, 24, 22, 31, 38, 48, 50]),
            ("top_k", sc(1.5, 1.0, 0.0, 5, 1.0, 20, 3), [31, 57, 19, 19, 31, 19, 38, 38, 57, 38, 19, 38, 19, 19, 38, 38, 12, 38, 19, 38, 57, 31, 12, 57, 57, 57, 19, 19, 57, 19, 57, 57, 31, 57, 31, 38, 19, 31, 38, 19, 38, 19, 57, 12, 57, 19, 31, 57, 57, 12]),
            ("all", sc(0.9, 0.8, 0.05, 10, 1.3, 4, 4), [50, 19, 62, 12, 50, 50, 31, 50, 24, 50, 24, 19, 57, 43, 31, 24, 38, 31, 50, 38, 38, 50, 31, 24, 43, 24, 12, 31, 5, 62, 57, 57, 12, 5, 31, 19, 12, 38, 12, 57, 57, 57, 57, 43, 62, 57, 57, 24, 38, 5]),
            ("greedy_pen", sc(0.0, 1.0, 0.0, 0, 1.5, 6, 5), [38; 50]),
        ];
        let l = row(&logits);
        for ((name, config, want), compile) in
            cases.iter().flat_map(|case| [(case, false), (case, true)])
        {
            let mut s = Sampler::new(config.clone()).unwrap();
            s.set_compile(compile);
            let v: Vec<Array> = (0..50)
                .map(|_| s.sample(&l, Some(&recent)).unwrap())
                .collect();
            let got = to_u32(&mlx_rs::ops::concatenate(&v, 0).unwrap());
            assert_eq!(&got, want, "case {name}, compile {compile}");
        }

        #[rustfmt::skip]
        let want_batch: [[u32; 2]; 20] = [[17, 51], [29, 44], [62, 13], [50, 27], [19, 13], [36, 25], [36, 27], [10, 1], [38, 44], [12, 20], [38, 1], [19, 51], [38, 25], [57, 22], [24, 15], [19, 51], [24, 32], [22, 60], [19, 6], [24, 27]];
        let reversed: Vec<f32> = logits.iter().rev().copied().collect();
        let lb = mlx_rs::ops::concatenate(&[row(&logits), row(&reversed)], 0).unwrap();
        let mut s = Sampler::new(SamplerConfig {
            temperature: 1.0,
            top_p: 0.9,
            top_k: 20,
            seed: Some(6),
            ..SamplerConfig::default()
        })
        .unwrap();
        let mut plain = Sampler::new(s.config().clone()).unwrap();
        s.set_compile(true);
        plain.set_compile(false);
        for (step, want) in want_batch.iter().enumerate() {
            let got = to_u32(&s.sample(&lb, None).unwrap());
            assert_eq!(got, want, "batch step {step}, compiled");
            let got = to_u32(&plain.sample(&lb, None).unwrap());
            assert_eq!(got, want, "batch step {step}, plain");
        }
    }
}
