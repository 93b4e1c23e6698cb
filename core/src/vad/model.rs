//! Silero VAD's network (the wheel's `tinygrad_model.py`): per 512-sample chunk with the
//! 64 samples before it as context, reflect-padded by 64 on the right (640 samples), a
//! 256-point STFT as a strided convolution (hop 128: 4 frames) → magnitudes of its 129
//! bins → four convolutions with ReLU (129→128, 128→64 stride 2, 64→64 stride 2,
//! 64→128) down to one 128-vector per chunk → an LSTM cell carried from chunk to chunk
//! → ReLU → 1×1 convolution → sigmoid: the chunk's speech probability.
//!
//! Given its context, a chunk's encoding does not depend on any other chunk, so the
//! encoder runs on MLX over a whole block of chunks at once (`[chunks, 640]`: the STFT
//! and the LSTM's input projection are matrix products, the convolutions MLX's), and
//! only the recurrence runs chunk by chunk, in plain Rust ([`super::lstm`]). Blocks of
//! [`BLOCK_CHUNKS`] bound MLX's memory (about 30 MB) whatever the length of the audio,
//! and `cancel` is checked between blocks and every few hundred LSTM steps.
//!
//! Speed (release build, MLX's CPU backend with BLIS, 2 x86 cores shared with other
//! jobs): five minutes of audio (9,375 chunks) take 0.35–0.6 s, about two thirds in
//! the encoder (some 2 GFLOP per block, mostly `conv1`) and one third in the LSTM
//! (~14 µs a step). `tests/vad.rs`'s ignored `speed_of_five_minutes` measures it.

use mlx_rs::{Array, ops};

use super::lstm::{LstmState, step};
use super::weights::{GATES, HIDDEN, KERNEL, N_FFT, N_FREQ, SileroWeights};
use super::{CHUNK_SAMPLES, sanitize};
use crate::backend::DeviceKind;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// Samples of the previous chunk the model sees before each chunk.
pub(crate) const CONTEXT: usize = 64;
/// Reflection padding on the right of each chunk (`n_fft / 4`).
const RIGHT_PAD: usize = 64;
/// Samples the encoder takes per chunk.
const WINDOW: usize = CONTEXT + CHUNK_SAMPLES + RIGHT_PAD;
/// STFT hop, and frames per chunk: `(640 − 256) / 128 + 1`.
const HOP: usize = 128;
const FRAMES: usize = (WINDOW - N_FFT) / HOP + 1;
/// Chunks per encoder block: 2048 × 32 ms ≈ 65 s of audio.
pub(crate) const BLOCK_CHUNKS: usize = 2048;
/// LSTM steps between two looks at the cancel token.
const CANCEL_EVERY: usize = 256;

/// The speech probability of every 512-sample chunk of `pcm` (16 kHz), the last chunk
/// zero-padded; empty audio gives none.
pub(crate) fn probabilities(
    w: &SileroWeights,
    pcm: &[f32],
    cancel: &CancelToken,
) -> Result<Vec<f32>> {
    let chunks = pcm.len().div_ceil(CHUNK_SAMPLES);
    let mut out = Vec::with_capacity(chunks);
    if chunks == 0 {
        return Ok(out);
    }
    let arrays = Arrays::new(w);
    let mut state = LstmState::default();
    let mut windows = Vec::new();
    let gpu = DeviceKind::current() == DeviceKind::Gpu;
    for first in (0..chunks).step_by(BLOCK_CHUNKS) {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let n = BLOCK_CHUNKS.min(chunks - first);
        fill_windows(pcm, first, n, &mut windows);
        // On a GPU each new block size costs a convolution plan in a bounded cache (MLX's
        // CUDA backend refuses to go on once it thrashes, which live transcription's
        // growing windows made it do): blocks there are padded to a few sizes.
        let padded = if gpu { block_size(n) } else { n };
        windows.resize(padded * WINDOW, 0.0);
        let gates = arrays.gate_inputs(&windows, padded)?;
        let gates = gates
            .try_as_slice::<f32>()
            .map_err(|e| Error::Mlx(format!("reading the VAD encoder's output: {e}")))?;
        let gates = gates.get(..n * GATES).unwrap_or(gates);
        if gates.len() != n * GATES {
            return Err(Error::Mlx(format!(
                "the VAD encoder gave {} values for {n} chunks",
                gates.len()
            )));
        }
        for (i, g) in gates.chunks_exact(GATES).enumerate() {
            if i % CANCEL_EVERY == CANCEL_EVERY - 1 && cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            out.push(step(w, g, &mut state));
        }
    }
    Ok(out)
}

/// `n` chunks rounded up to the next of two sizes per octave (16, 24, 32, 48, 64, ...,
/// at most [`BLOCK_CHUNKS`]): at most half again the work, and some twenty shapes in all.
fn block_size(n: usize) -> usize {
    if n <= 16 {
        return 16;
    }
    let half_octave = n.next_power_of_two() / 4;
    n.div_ceil(half_octave)
        .saturating_mul(half_octave)
        .min(BLOCK_CHUNKS.max(n))
}

/// The encoder's input for chunks `first .. first + n`: each chunk's 576 samples (64 of
/// context, zeros before the audio and after its end) and 64 more reflected from
/// them (numpy's "reflect": the edge sample is not repeated), `[n, WINDOW]`. Samples go
/// through [`sanitize`].
fn fill_windows(pcm: &[f32], first: usize, n: usize, out: &mut Vec<f32>) {
    out.clear();
    out.reserve(n * WINDOW);
    for chunk in first..first + n {
        let start = chunk * CHUNK_SAMPLES;
        let begin = out.len();
        for j in 0..CONTEXT + CHUNK_SAMPLES {
            let at = (start + j).checked_sub(CONTEXT);
            out.push(at.and_then(|i| pcm.get(i)).map_or(0.0, |&x| sanitize(x)));
        }
        let last = begin + CONTEXT + CHUNK_SAMPLES - 1;
        for j in 1..=RIGHT_PAD {
            out.push(out[last - j]);
        }
    }
}

/// The encoder's weights as MLX arrays, made per call (see [`super::weights`] on why).
struct Arrays {
    stft_re: Array,
    stft_im: Array,
    convs: Vec<(Array, Array, i32)>,
    w_ih_t: Array,
    gate_bias: Array,
}

impl Arrays {
    fn new(w: &SileroWeights) -> Self {
        let dims = |d: &[usize]| d.iter().map(|&x| x as i32).collect::<Vec<i32>>();
        Self {
            stft_re: Array::from_slice(&w.stft_re, &dims(&[N_FFT, N_FREQ])),
            stft_im: Array::from_slice(&w.stft_im, &dims(&[N_FFT, N_FREQ])),
            convs: w
                .convs
                .iter()
                .map(|c| {
                    (
                        Array::from_slice(&c.weight, &dims(&[c.out, KERNEL, c.input])),
                        Array::from_slice(&c.bias, &dims(&[c.out])),
                        c.stride,
                    )
                })
                .collect(),
            w_ih_t: Array::from_slice(&w.w_ih_t, &dims(&[HIDDEN, GATES])),
            gate_bias: Array::from_slice(&w.gate_bias, &dims(&[GATES])),
        }
    }

    /// `x · W_ihᵀ + b_ih + b_hh` for the `n` chunk windows `[n, WINDOW]`: `[n, GATES]`,
    /// evaluated.
    fn gate_inputs(&self, windows: &[f32], n: usize) -> Result<Array> {
        let (n, window) = (n as i32, WINDOW as i32);
        let x = Array::from_slice(windows, &[n, window]);
        // The STFT's frames as a strided view: [n, FRAMES, N_FFT].
        let frames = ops::as_strided(
            &x,
            &[n, FRAMES as i32, N_FFT as i32][..],
            &[WINDOW as i64, HOP as i64, 1][..],
            None,
        )?;
        let re = ops::matmul(&frames, &self.stft_re)?;
        let im = ops::matmul(&frames, &self.stft_im)?;
        let mut x = re.square()?.add(im.square()?)?.sqrt()?;
        let zero = Array::from_f32(0.0);
        for (weight, bias, stride) in &self.convs {
            x = ops::maximum(ops::conv1d(&x, weight, *stride, 1, 1, 1)?.add(bias)?, &zero)?;
        }
        // [n, 1, HIDDEN] → [n, HIDDEN] → [n, GATES].
        let x = x.reshape(&[n, HIDDEN as i32])?;
        let gates = ops::matmul(&x, &self.w_ih_t)?.add(&self.gate_bias)?;
        mlx_rs::transforms::eval([&gates])?;
        Ok(gates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_blocks_take_a_few_sizes_and_at_most_half_again() {
        let mut sizes = std::collections::BTreeSet::new();
        for n in 1..=BLOCK_CHUNKS {
            let b = block_size(n);
            assert!(b >= n && b <= BLOCK_CHUNKS, "{n} -> {b}");
            assert!(n <= 16 || b * 2 <= n * 3, "{n} -> {b}");
            sizes.insert(b);
        }
        assert!(sizes.len() <= 20, "{sizes:?}");
    }
    use crate::vad::MAX_AMPLITUDE;

    #[test]
    fn windows_carry_context_zeros_and_reflection() {
        let pcm: Vec<f32> = (0..600).map(|i| (i + 1) as f32 / 1000.0).collect();
        let mut w = Vec::new();
        fill_windows(&pcm, 0, 2, &mut w);
        assert_eq!(w.len(), 2 * WINDOW);
        // Chunk 0: 64 zeros of context, samples 0..512, then 510, 509, … reflected.
        assert!(w[..CONTEXT].iter().all(|&x| x == 0.0));
        assert_eq!(w[CONTEXT..CONTEXT + CHUNK_SAMPLES], pcm[..CHUNK_SAMPLES]);
        let reflected: Vec<f32> = (447..=510).rev().map(|i| pcm[i]).collect();
        assert_eq!(w[CONTEXT + CHUNK_SAMPLES..WINDOW], reflected);
        // Chunk 1: context is samples 448..512, then 512..600 and zeros past the end,
        // whose reflection is zeros too.
        let c1 = &w[WINDOW..];
        assert_eq!(c1[..CONTEXT + 88], pcm[448..600]);
        assert!(c1[CONTEXT + 88..].iter().all(|&x| x == 0.0));
        // Out-of-range samples are tamed on the way in.
        let mut w = Vec::new();
        fill_windows(&[f32::NAN, 1e9, -1e9], 0, 1, &mut w);
        assert_eq!(
            w[CONTEXT..CONTEXT + 4],
            [0.0, MAX_AMPLITUDE, -MAX_AMPLITUDE, 0.0]
        );
    }

    #[test]
    fn frames_cover_the_window() {
        assert_eq!(WINDOW, 640);
        assert_eq!(FRAMES, 4);
        assert_eq!((FRAMES - 1) * HOP + N_FFT, WINDOW);
    }
}
