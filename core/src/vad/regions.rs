//! Per-chunk speech probabilities → speech regions, by the policy of Silero VAD's own
//! `get_speech_timestamps` (the wheel's `utils_vad.py`), without its maximum-length
//! split:
//!
//! - hysteresis: speech starts at the first chunk whose probability reaches
//!   `threshold`, and a silence starts at the first chunk below `neg_threshold`
//!   (chunks in between never start or end anything), so a probability wavering around
//!   one value does not chop the speech up;
//! - a silence ends the region only once it has lasted `min_silence_ms`; speech coming
//!   back earlier continues the region (short pauses merge);
//! - a region must last longer than `min_speech_ms` to be kept (clicks, coughs);
//! - speech still going at the end of the audio ends there;
//! - each region is then padded by `speech_pad_ms` on both sides, clamped to the audio;
//!   where two regions are closer than two pads, they meet halfway instead.
//!
//! Positions are sample indices at 16 kHz; a region starts on a chunk boundary before
//! padding. `tests/vad.rs` checks the result equals the reference's on real audio.

use super::{CHUNK_SAMPLES, SpeechRegion, VadOptions};
use crate::error::{Error, Result};

/// Samples in `ms` milliseconds at 16 kHz.
fn samples(ms: u32) -> usize {
    ms as usize * 16
}

/// The speech regions of audio of `n_samples` samples whose chunks have the speech
/// probabilities `probs` (one per 512 samples, the last one possibly partial, as
/// [`super::Vad::probabilities`] gives them). A non-finite probability counts as 0.
/// Errors: invalid `opts`, or `probs` not one per chunk of `n_samples`.
pub fn speech_regions(
    probs: &[f32],
    n_samples: usize,
    opts: &VadOptions,
) -> Result<Vec<SpeechRegion>> {
    opts.validate()?;
    if probs.len() != n_samples.div_ceil(CHUNK_SAMPLES) {
        return Err(Error::InvalidArgument {
            name: "probabilities".into(),
            reason: format!(
                "{} probabilities for {n_samples} samples; expected one per {CHUNK_SAMPLES} \
                 samples ({})",
                probs.len(),
                n_samples.div_ceil(CHUNK_SAMPLES)
            ),
        });
    }
    let raw = detect(probs, n_samples, opts);
    Ok(pad(raw, n_samples, samples(opts.speech_pad_ms)))
}

/// Unpadded regions: the hysteresis, minimum silence and minimum speech rules.
fn detect(probs: &[f32], n_samples: usize, opts: &VadOptions) -> Vec<SpeechRegion> {
    let (on, off) = (opts.threshold, opts.neg_threshold());
    let min_silence = samples(opts.min_silence_ms);
    let min_speech = samples(opts.min_speech_ms);
    let mut regions = Vec::new();
    // The open region's start, and where its current silence began.
    let mut start: Option<usize> = None;
    let mut silence: Option<usize> = None;
    for (i, &p) in probs.iter().enumerate() {
        let p = if p.is_finite() { p } else { 0.0 };
        let at = i * CHUNK_SAMPLES;
        if p >= on {
            silence = None;
            start.get_or_insert(at);
        } else if p < off
            && let Some(s) = start
        {
            let quiet_from = *silence.get_or_insert(at);
            if at - quiet_from >= min_silence {
                if quiet_from - s > min_speech {
                    regions.push(SpeechRegion {
                        start: s,
                        end: quiet_from,
                    });
                }
                start = None;
                silence = None;
            }
        }
    }
    if let Some(s) = start
        && n_samples - s > min_speech
    {
        regions.push(SpeechRegion {
            start: s,
            end: n_samples,
        });
    }
    regions
}

/// Pad each region by `pad` samples on both sides, within `[0, n_samples]`; two
/// regions less than `2 · pad` apart each take half of the gap instead.
fn pad(mut regions: Vec<SpeechRegion>, n_samples: usize, pad: usize) -> Vec<SpeechRegion> {
    if let Some(first) = regions.first_mut() {
        first.start = first.start.saturating_sub(pad);
    }
    for i in 0..regions.len() {
        match regions.get(i + 1).map(|next| next.start - regions[i].end) {
            Some(gap) if gap < 2 * pad => {
                regions[i].end += gap / 2;
                regions[i + 1].start -= gap / 2;
            }
            Some(_) => {
                regions[i].end = (regions[i].end + pad).min(n_samples);
                regions[i + 1].start -= pad;
            }
            None => regions[i].end = (regions[i].end + pad).min(n_samples),
        }
    }
    regions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> VadOptions {
        VadOptions::silero()
    }

    /// Probabilities from a pattern: one char per chunk, `#` speech (0.9), `.` silence
    /// (0.05), `~` in between (0.4: neither starts nor ends anything).
    fn probs(pattern: &str) -> Vec<f32> {
        pattern
            .chars()
            .map(|c| match c {
                '#' => 0.9,
                '~' => 0.4,
                _ => 0.05,
            })
            .collect()
    }

    fn regions(pattern: &str, o: &VadOptions) -> Vec<(usize, usize)> {
        let p = probs(pattern);
        speech_regions(&p, p.len() * CHUNK_SAMPLES, o)
            .unwrap()
            .iter()
            .map(|r| (r.start / CHUNK_SAMPLES, r.end / CHUNK_SAMPLES))
            .collect()
    }

    fn unpadded() -> VadOptions {
        VadOptions {
            speech_pad_ms: 0,
            ..opts()
        }
    }

    #[test]
    fn silence_gives_nothing() {
        assert!(regions("..........", &opts()).is_empty());
        assert!(speech_regions(&[], 0, &opts()).unwrap().is_empty());
    }

    #[test]
    fn hysteresis_keeps_speech_through_middling_chunks() {
        // 250 ms = 7.8 chunks: a region must span more than 4000 samples.
        let r = regions("..##########~~~~~~##########......", &unpadded());
        assert_eq!(r, [(2, 28)]);
        // Middling chunks never start speech.
        assert!(regions("..~~~~~~~~~~~~~~~..", &unpadded()).is_empty());
    }

    #[test]
    fn short_silences_merge_and_long_ones_split() {
        // 100 ms = 3.125 chunks: a silence ends the region on its 5th chunk (4 · 512 ≥ 1600).
        let o = unpadded();
        assert_eq!(regions("##########...##########.....", &o), [(0, 23)]);
        assert_eq!(
            regions("##########.....##########.....", &o),
            [(0, 10), (15, 25)]
        );
    }

    #[test]
    fn short_speech_is_dropped() {
        let o = unpadded();
        // 8 chunks = 4096 samples > 4000: kept; 7 chunks: dropped.
        assert_eq!(regions("..########......", &o), [(2, 10)]);
        assert!(regions("..#######.......", &o).is_empty());
    }

    #[test]
    fn speech_running_to_the_end_ends_with_the_audio() {
        let p = probs("....##########");
        let n = p.len() * CHUNK_SAMPLES - 100;
        let r = speech_regions(&p, n, &unpadded()).unwrap();
        assert_eq!(
            r,
            [SpeechRegion {
                start: 2048,
                end: n
            }]
        );
    }

    #[test]
    fn padding_is_clamped_and_never_overlaps() {
        let o = VadOptions {
            speech_pad_ms: 30,
            ..opts()
        };
        let p = probs("##########......##########");
        let n = p.len() * CHUNK_SAMPLES;
        let r = speech_regions(&p, n, &o).unwrap();
        // Start clamped at 0; the two regions (gap 3072 ≥ 2·480) each padded by 480.
        assert_eq!(
            r,
            [
                SpeechRegion {
                    start: 0,
                    end: 10 * 512 + 480
                },
                SpeechRegion {
                    start: 16 * 512 - 480,
                    end: n
                }
            ]
        );
        // A pad larger than half the gap: they meet halfway.
        let o = VadOptions {
            speech_pad_ms: 200,
            ..opts()
        };
        let r = speech_regions(&p, n, &o).unwrap();
        assert_eq!(r[0].end, 10 * 512 + 3072 / 2);
        assert_eq!(r[1].start, r[0].end);
    }

    #[test]
    fn non_finite_probabilities_count_as_silence() {
        let mut p = probs("##########.....##########");
        p[12] = f32::NAN;
        p[3] = f32::INFINITY;
        let n = p.len() * CHUNK_SAMPLES;
        let r = speech_regions(&p, n, &unpadded()).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|r| r.start < r.end && r.end <= n));
    }

    #[test]
    fn a_probability_count_that_does_not_fit_is_refused() {
        let e = speech_regions(&[0.1, 0.2], 1025 + 512, &opts()).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { ref name, .. } if name == "probabilities"));
        assert!(speech_regions(&[0.1, 0.2], 1024, &opts()).is_ok());
        assert!(speech_regions(&[0.1, 0.2], 513, &opts()).is_ok());
    }

    #[test]
    fn invalid_options_are_refused() {
        let o = VadOptions {
            threshold: 1.5,
            ..opts()
        };
        assert!(speech_regions(&[], 0, &o).is_err());
    }
}
