//! Sample-rate conversion to 16 kHz, chunk by chunk.
//!
//! rubato's FFT resampler is band-limited (anti-aliased) and synchronous; fed in its
//! fixed 1024-frame chunks it makes the same calls whether the input arrives whole or a
//! packet at a time, so streaming changes no sample. Its delay is dropped from the
//! front and the output is cut or padded to `round(len · to / from)` at the end, so
//! the timing of the output matches the input.

use std::path::{Path, PathBuf};

use rubato::{FftFixedIn, Resampler};

use super::limits::{audio_err, check_sample_rate};
use crate::error::{Error, Result};

/// Input frames per resampler call (rubato's chunk).
const CHUNK: usize = 1024;

/// A mono resampler fed piece by piece: [`StreamResampler::push`] what arrives,
/// [`StreamResampler::finish`] at the end.
pub struct StreamResampler {
    from: u32,
    to: u32,
    /// `None`: the rates are equal and samples pass through.
    fft: Option<FftFixedIn<f32>>,
    /// Input not yet handed to rubato (less than one chunk after each push).
    pending: Vec<f32>,
    /// Output samples still to drop (rubato's delay).
    skip: usize,
    delay: usize,
    consumed: u64,
    /// Output produced by rubato, the dropped delay included.
    produced: u64,
    path: Option<PathBuf>,
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz; both must be within the accepted rates.
    pub fn new(path: Option<&Path>, from: u32, to: u32) -> Result<Self> {
        check_sample_rate(path, from)?;
        check_sample_rate(path, to)?;
        let fft = if from == to {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(from as usize, to as usize, CHUNK, 2, 1)
                    .map_err(|e| rate_err(path, from, to, &e))?,
            )
        };
        let delay = fft.as_ref().map_or(0, |r| r.output_delay());
        Ok(Self {
            from,
            to,
            fft,
            pending: Vec::with_capacity(CHUNK),
            skip: delay,
            delay,
            consumed: 0,
            produced: 0,
            path: path.map(Path::to_path_buf),
        })
    }

    /// Resample `input`, appending what is ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<()> {
        self.consumed += input.len() as u64;
        let Some(fft) = self.fft.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        let mut input = input;
        // Complete a pending chunk first, then take whole chunks straight from the input.
        if !self.pending.is_empty() {
            let take = (CHUNK - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() < CHUNK {
                return Ok(());
            }
            let o = fft
                .process(&[&self.pending], None)
                .map_err(|e| rate_err(self.path.as_deref(), self.from, self.to, &e))?;
            self.pending.clear();
            emit(&mut self.skip, &mut self.produced, &o[0], out);
        }
        while input.len() >= CHUNK {
            let o = fft
                .process(&[&input[..CHUNK]], None)
                .map_err(|e| rate_err(self.path.as_deref(), self.from, self.to, &e))?;
            emit(&mut self.skip, &mut self.produced, &o[0], out);
            input = &input[CHUNK..];
        }
        self.pending.extend_from_slice(input);
        Ok(())
    }

    /// Flush the end of the input, appending the rest of the output to `out`: in all
    /// exactly `round(consumed · to / from)` samples.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<()> {
        let Some(fft) = self.fft.as_mut() else {
            return Ok(());
        };
        let expected = (self.consumed as f64 * self.to as f64 / self.from as f64).round() as u64;
        let emitted_before = self.produced - (self.delay - self.skip) as u64;
        let start = out.len();
        if self.consumed > 0 {
            let err =
                |e: &dyn std::fmt::Display| rate_err(self.path.as_deref(), self.from, self.to, e);
            if !self.pending.is_empty() {
                let o = fft
                    .process_partial(Some(&[&self.pending]), None)
                    .map_err(|e| err(&e))?;
                self.pending.clear();
                emit(&mut self.skip, &mut self.produced, &o[0], out);
            }
            while self.produced < expected + self.delay as u64 {
                let o = fft
                    .process_partial::<&[f32]>(None, None)
                    .map_err(|e| err(&e))?;
                if o[0].is_empty() {
                    break;
                }
                emit(&mut self.skip, &mut self.produced, &o[0], out);
            }
        }
        // What was emitted before `finish` is always short of `expected` (the delay
        // holds it back), so the cut or padding falls on this call's output.
        let want = expected.saturating_sub(emitted_before) as usize;
        out.resize(start + want, 0.0);
        self.fft = None;
        Ok(())
    }
}

/// Append `o` to `out`, dropping the first `skip` samples overall.
fn emit(skip: &mut usize, produced: &mut u64, o: &[f32], out: &mut Vec<f32>) {
    *produced += o.len() as u64;
    let drop = (*skip).min(o.len());
    *skip -= drop;
    out.extend_from_slice(&o[drop..]);
}

fn rate_err(path: Option<&Path>, from: u32, to: u32, e: &dyn std::fmt::Display) -> Error {
    audio_err(path, format!("resampling {from} Hz → {to} Hz: {e}"))
}

/// Resample mono `input` from `from` Hz to `to` Hz in one go (the output has
/// `round(len · to / from)` samples, aligned with the input).
pub fn resample(path: Option<&Path>, input: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    let mut r = StreamResampler::new(path, from, to)?;
    let expected = (input.len() as f64 * to as f64 / from as f64).round() as usize;
    let mut out = Vec::with_capacity(expected);
    r.push(input, &mut out)?;
    r.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn resampling_keeps_length_and_a_tone() {
        // 1 s of 440 Hz at 48 kHz → 16 kHz: 16000 samples, same tone, same phase.
        let out = resample(None, &tone(48_000, 48_000), 48_000, 16_000).unwrap();
        assert_eq!(out.len(), 16_000);
        let want = tone(16_000, 16_000);
        let err: f32 = out[1000..15000]
            .iter()
            .zip(&want[1000..15000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        // Aligned to within a fraction of a sample (0.5 amplitude; a one-sample shift
        // would be an error of 0.086).
        assert!(err < 0.04, "max error {err}");
    }

    #[test]
    fn pieces_of_any_size_give_the_same_samples_as_one_call() {
        for (rate, len) in [
            (44_100, 44_100 * 2 + 17),
            (48_000, 700),
            (8_000, 12_345),
            (383_999, 50_000),
            (1_000, 3),
        ] {
            let input = tone(rate, len);
            let whole = resample(None, &input, rate, 16_000).unwrap();
            assert_eq!(
                whole.len(),
                (len as f64 * 16_000.0 / rate as f64).round() as usize
            );
            for piece in [1, 333, 1024, 1152, 5000] {
                let mut r = StreamResampler::new(None, rate, 16_000).unwrap();
                let mut out = Vec::new();
                for p in input.chunks(piece) {
                    r.push(p, &mut out).unwrap();
                }
                r.finish(&mut out).unwrap();
                assert!(
                    out == whole,
                    "{rate} Hz, {len} samples in pieces of {piece}"
                );
            }
        }
    }

    #[test]
    fn rates_out_of_bounds_are_refused_before_any_allocation() {
        for rate in [0, 999, 384_001, u32::MAX] {
            assert!(matches!(
                StreamResampler::new(None, rate, 16_000),
                Err(Error::Audio { .. })
            ));
        }
    }
}
