//! Whisper's log-mel spectrogram, also the input of Qwen2.5-Omni's audio encoder: 25 ms
//! Hann windows every 10 ms (400-point STFT, hop 160 at 16 kHz), power spectrum through a
//! Slaney mel filter bank, `log10`, clamped to 8 decades below the loudest bin and scaled
//! to roughly [-1, 1].
//!
//! The STFT runs in MLX exactly as mlx-whisper's `log_mel_spectrogram` does (reflect
//! padding, strided frames, `rfft`, drop the last frame), so the encoder sees the same
//! numbers as the reference. The filter bank is computed here with librosa's formula
//! (`librosa.filters.mel(sr=16000, n_fft=400, n_mels, norm="slaney")`), which is how
//! mlx-whisper's `mel_filters.npz` was made; the tests check the two agree, so no asset
//! file has to ship with the engine.

use mlx_rs::Array;
use mlx_rs::ops;
use mlx_rs::ops::indexing::TryIndexOp;

use crate::error::{Error, Result};

pub const SAMPLE_RATE: u32 = 16_000;
pub const N_FFT: usize = 400;
pub const HOP_LENGTH: usize = 160;
/// Seconds of audio the encoder sees at once.
pub const CHUNK_LENGTH: usize = 30;
/// Samples in one 30 s window.
pub const N_SAMPLES: usize = CHUNK_LENGTH * SAMPLE_RATE as usize;
/// Mel frames in one 30 s window.
pub const N_FRAMES: usize = N_SAMPLES / HOP_LENGTH;
pub const FRAMES_PER_SECOND: usize = SAMPLE_RATE as usize / HOP_LENGTH;

/// Frames per STFT chunk: bounds the `[frames, 400]` scratch array of long recordings
/// (10 minutes ≈ 96 MB) without changing the result (frames are independent; only the
/// final clamp looks at the whole spectrogram).
const FRAMES_PER_CHUNK: usize = 60_000;

/// The Slaney-style mel filter bank `[n_mels, N_FFT/2 + 1]` for 16 kHz audio, as
/// `librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels)` computes it (float64
/// arithmetic, rounded to float32 at the end).
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    let n_freqs = N_FFT / 2 + 1;
    let sr = SAMPLE_RATE as f64;
    let fft_freqs: Vec<f64> = (0..n_freqs)
        .map(|i| i as f64 * (sr / 2.0) / (n_freqs - 1) as f64)
        .collect();
    // Slaney's mel scale: linear below 1 kHz, logarithmic above.
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    let hz_to_mel = |f: f64| {
        if f >= min_log_hz {
            min_log_mel + (f / min_log_hz).ln() / logstep
        } else {
            f / f_sp
        }
    };
    let mel_to_hz = |m: f64| {
        if m >= min_log_mel {
            min_log_hz * (logstep * (m - min_log_mel)).exp()
        } else {
            f_sp * m
        }
    };
    let (min_mel, max_mel) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(min_mel + (max_mel - min_mel) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut weights = vec![0f32; n_mels * n_freqs];
    for i in 0..n_mels {
        let (lo, mid, hi) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
        let enorm = 2.0 / (hi - lo);
        for (j, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - lo) / (mid - lo);
            let upper = (hi - f) / (hi - mid);
            let w = lower.min(upper).max(0.0);
            weights[i * n_freqs + j] = (w * enorm) as f32;
        }
    }
    weights
}

/// The periodic Hann window of `N_FFT` points (`np.hanning(401)[:-1]`).
fn hann_window() -> Vec<f32> {
    (0..N_FFT)
        .map(|n| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos()) as f32)
        .collect()
}

/// Log-mel spectrogram `[frames, n_mels]` (float32) of 16 kHz mono `audio` followed by
/// `padding` zero samples. `frames = (len + padding) / 160` (mlx-whisper's count).
pub fn log_mel_spectrogram(audio: &[f32], n_mels: usize, padding: usize) -> Result<Array> {
    let total = audio.len() + padding;
    let pad = N_FFT / 2;
    if total < pad + 1 {
        return Err(Error::InvalidArgument {
            name: "audio".into(),
            reason: format!("{total} samples is too short for a spectrogram"),
        });
    }
    // Reflect-pad by N_FFT/2 on both sides (numpy's "reflect": the edge sample is not
    // repeated).
    let sample = |i: usize| if i < audio.len() { audio[i] } else { 0.0 };
    let mut x = Vec::with_capacity(total + 2 * pad);
    x.extend((1..=pad).rev().map(sample));
    x.extend_from_slice(audio);
    x.resize(pad + total, 0.0);
    x.extend((total - 1 - pad..total - 1).rev().map(sample));

    // Frames of the STFT; the last one is dropped, as the reference does.
    let n_stft = (x.len() - N_FFT + HOP_LENGTH) / HOP_LENGTH;
    let log_spec = log10_mel(&x, n_stft - 1, n_mels)?;
    let peak = log_spec.max(None)?.item_cast::<f32>();
    normalize(&log_spec, peak)
}

/// `log10` mel power `[n_frames, n_mels]` of the STFT frames of `x`, a signal already
/// padded for it: frame `i` is the Hann-windowed `x[i·160 .. i·160 + 400]`. Frames
/// are independent of each other, so any run of them can be computed on its own (a
/// 30 s window of a long recording) with the same values as in the whole.
pub fn log10_mel(x: &[f32], n_frames: usize, n_mels: usize) -> Result<Array> {
    if n_mels == 0 {
        return Err(Error::InvalidArgument {
            name: "n_mels".into(),
            reason: "must be positive".into(),
        });
    }
    if n_frames == 0 || x.len() < (n_frames - 1) * HOP_LENGTH + N_FFT {
        return Err(Error::InvalidArgument {
            name: "audio".into(),
            reason: format!("{} samples do not hold {n_frames} frames", x.len()),
        });
    }
    let filters = Array::from_slice(
        &mel_filters(n_mels),
        &[n_mels as i32, (N_FFT / 2 + 1) as i32],
    );
    let filters_t = filters.t();
    let window = Array::from_slice(&hann_window(), &[N_FFT as i32]);

    let mut chunks = Vec::new();
    let mut start = 0usize;
    while start < n_frames {
        let end = (start + FRAMES_PER_CHUNK).min(n_frames);
        let first = start * HOP_LENGTH;
        let last = (end - 1) * HOP_LENGTH + N_FFT;
        let buf = Array::from_slice(&x[first..last], &[(last - first) as i32]);
        let frames = ops::as_strided(
            &buf,
            &[(end - start) as i32, N_FFT as i32][..],
            &[HOP_LENGTH as i64, 1][..],
            None,
        )?;
        let spec = mlx_rs::fft::rfft(frames.multiply(&window)?, N_FFT as i32, -1)?;
        let power = ops::abs(&spec)?.square()?;
        chunks.push(ops::matmul(&power, &filters_t)?);
        start = end;
    }
    let mel = if chunks.len() == 1 {
        chunks.pop().expect("one chunk")
    } else {
        ops::concatenate(&chunks, 0)?
    };
    Ok(ops::maximum(&mel, Array::from_f32(1e-10))?.log10()?)
}

/// Whisper's scaling of [`log10_mel`] output: clamped to 8 decades below `peak` (the
/// loudest value of the recording, or of the part heard so far) and mapped to roughly
/// [-1, 1].
pub fn normalize(log_spec: &Array, peak: f32) -> Result<Array> {
    let floor = Array::from_f32(peak).subtract(Array::from_f32(8.0))?;
    let log_spec = ops::maximum(log_spec, &floor)?;
    Ok(log_spec
        .add(Array::from_f32(4.0))?
        .divide(Array::from_f32(4.0))?)
}

/// Frames `[start, start + len)` of `mel` (`[frames, n_mels]`), zero-padded or cut to
/// exactly `N_FRAMES` (what the encoder takes).
pub fn window(mel: &Array, start: usize, len: usize) -> Result<Array> {
    let total = mel.shape()[0] as usize;
    let end = (start + len).min(total);
    let part = mel.try_index(start as i32..end as i32)?;
    let have = end.saturating_sub(start);
    if have >= N_FRAMES {
        return Ok(part.try_index(..N_FRAMES as i32)?);
    }
    let n_mels = mel.shape()[1];
    let zeros = ops::zeros_dtype(&[(N_FRAMES - have) as i32, n_mels], mel.dtype())?;
    Ok(ops::concatenate(&[part, zeros], 0)?)
}
