//! Speech without the long silences between it: the speech regions of a recording
//! joined with at most a short stretch of the original audio between them, and the
//! [`TimeMap`] that takes a time in the joined audio back to the recording's clock.
//!
//! Whisper hallucinates over long silence (repeated phrases, "Thank you.") and spends a
//! whole 30 s window on it; a dictation with pauses compacted this way is transcribed
//! as continuous speech, and its word and segment times are mapped back.
//!
//! The kept gap is original audio rather than digital silence: half of it after one
//! region and half before the next, so each region keeps its natural decay and onset
//! (the room tone Whisper heard in training) and the only discontinuity lies in the
//! middle of a quiet stretch.

use super::{SAMPLE_RATE, SpeechRegion};

/// Default gap between two regions in compacted audio: 0.3 s, long enough for Whisper
/// to hear a pause (punctuation, a new sentence), short enough that it never sees
/// silence it could invent words in.
pub const DEFAULT_GAP: usize = SAMPLE_RATE as usize * 3 / 10;

/// A stretch of the original audio copied into the compacted audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Where it starts in the compacted audio (samples).
    pub compacted: usize,
    /// Where it starts in the original audio (samples).
    pub original: usize,
    /// Its length in samples (never 0).
    pub len: usize,
}

/// Compacted time → original time: the [`Span`]s in order, back to back in the
/// compacted audio, strictly increasing and non-overlapping in the original.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeMap {
    spans: Vec<Span>,
}

impl TimeMap {
    /// The copied stretches, in order.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Samples of compacted audio.
    pub fn compacted_len(&self) -> usize {
        self.spans.last().map_or(0, |s| s.compacted + s.len)
    }

    /// The original sample of compacted sample `at`. A position where two spans meet
    /// maps to the start of the later one (where the audio resumes); positions past
    /// the end map to the end of the last span, and with no spans everything maps to
    /// 0. Non-decreasing in `at`.
    pub fn to_original_sample(&self, at: usize) -> usize {
        let i = self.spans.partition_point(|s| s.compacted <= at);
        match i.checked_sub(1).map(|i| self.spans[i]) {
            None => self.spans.first().map_or(0, |s| s.original),
            Some(s) => s.original + (at - s.compacted).min(s.len),
        }
    }

    /// [`TimeMap::to_original_sample`] in seconds, at sub-sample precision: `secs` in
    /// the compacted audio → seconds in the original. Negative or NaN times count as
    /// 0; times past the end map to the end. Non-decreasing in `secs`.
    pub fn to_original(&self, secs: f64) -> f64 {
        let rate = SAMPLE_RATE as f64;
        let pos = if secs > 0.0 { secs * rate } else { 0.0 };
        let i = self.spans.partition_point(|s| s.compacted as f64 <= pos);
        let original = match i.checked_sub(1).map(|i| self.spans[i]) {
            None => self.spans.first().map_or(0.0, |s| s.original as f64),
            Some(s) => s.original as f64 + (pos - s.compacted as f64).min(s.len as f64),
        };
        original / rate
    }
}

/// Compacted audio and how to map its times back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Compacted {
    pub pcm: Vec<f32>,
    pub map: TimeMap,
}

/// `pcm`'s speech `regions` joined with at most `gap` samples of the original audio
/// between two of them ([`DEFAULT_GAP`] is a good value); regions closer than that keep
/// everything between them. Nothing before the first region or after the last is kept
/// (the regions carry their own padding). Regions are taken as given, except clamped
/// to `pcm`, sorted, empty ones dropped and overlapping ones merged, so any list is
/// safe. No regions: empty audio.
pub fn compact(pcm: &[f32], regions: &[SpeechRegion], gap: usize) -> Compacted {
    let mut ranges: Vec<(usize, usize)> = regions
        .iter()
        .map(|r| (r.start.min(pcm.len()), r.end.min(pcm.len())))
        .filter(|(s, e)| s < e)
        .collect();
    ranges.sort_unstable();
    // Merge what overlaps or lies within `gap`, widen the rest into the gap between.
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1.saturating_add(gap) => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    for i in 1..merged.len() {
        let before = gap / 2;
        merged[i - 1].1 += before;
        merged[i].0 -= gap - before;
    }
    let mut out = Compacted::default();
    out.pcm
        .reserve(merged.iter().map(|(s, e)| e - s).sum::<usize>());
    for (s, e) in merged {
        out.map.spans.push(Span {
            compacted: out.pcm.len(),
            original: s,
            len: e - s,
        });
        out.pcm.extend_from_slice(&pcm[s..e]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: usize, end: usize) -> SpeechRegion {
        SpeechRegion { start, end }
    }

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    #[test]
    fn long_gaps_shrink_to_the_gap_and_short_ones_stay() {
        let pcm = ramp(100);
        let c = compact(&pcm, &[r(10, 20), r(50, 60), r(63, 70)], 4);
        // 20..50 is longer than 4: 2 samples after 20, 2 before 50; 60..63 stays.
        assert_eq!(
            c.map.spans(),
            [
                Span {
                    compacted: 0,
                    original: 10,
                    len: 12
                },
                Span {
                    compacted: 12,
                    original: 48,
                    len: 22
                }
            ]
        );
        let mut want: Vec<f32> = (10..22).map(|i| i as f32).collect();
        want.extend((48..70).map(|i| i as f32));
        assert_eq!(c.pcm, want);
        assert_eq!(c.map.compacted_len(), c.pcm.len());
    }

    #[test]
    fn every_compacted_sample_maps_to_its_original() {
        let pcm = ramp(1000);
        let c = compact(&pcm, &[r(100, 200), r(500, 520), r(900, 1000)], 10);
        for (i, &x) in c.pcm.iter().enumerate() {
            assert_eq!(c.map.to_original_sample(i), x as usize, "at {i}");
            let secs = c.map.to_original(i as f64 / 16_000.0);
            assert!((secs * 16_000.0 - x as f64).abs() < 1e-6, "at {i}");
        }
        assert_eq!(c.map.to_original_sample(10_000), 1000);
        assert_eq!(c.map.to_original(1e9), 1000.0 / 16_000.0);
    }

    #[test]
    fn the_map_is_monotonic_and_total() {
        let pcm = ramp(5000);
        let c = compact(&pcm, &[r(300, 900), r(2000, 2100), r(4000, 4800)], 64);
        let mut last = f64::NEG_INFINITY;
        for k in -10..2000 {
            let t = c.map.to_original(k as f64 * 0.5 / 16_000.0);
            assert!(t >= last && t.is_finite());
            last = t;
        }
        assert_eq!(c.map.to_original(f64::NAN), 300.0 / 16_000.0);
        assert_eq!(c.map.to_original(f64::INFINITY), 4800.0 / 16_000.0);
        assert_eq!(c.map.to_original(-3.0), 300.0 / 16_000.0);
    }

    #[test]
    fn hostile_region_lists_are_tidied() {
        let pcm = ramp(100);
        // Unsorted, overlapping, empty, reversed and out-of-range regions.
        let c = compact(
            &pcm,
            &[
                r(80, 500),
                r(10, 30),
                r(20, 40),
                r(60, 60),
                r(70, 65),
                r(200, 300),
            ],
            0,
        );
        assert_eq!(
            c.map
                .spans()
                .iter()
                .map(|s| (s.original, s.len))
                .collect::<Vec<_>>(),
            [(10, 30), (80, 20)]
        );
        assert_eq!(c.pcm.len(), 50);
    }

    #[test]
    fn no_regions_no_audio() {
        let c = compact(&ramp(100), &[], DEFAULT_GAP);
        assert!(c.pcm.is_empty());
        assert_eq!(c.map.to_original(1.0), 0.0);
        assert_eq!(c.map.to_original_sample(5), 0);
        assert_eq!(DEFAULT_GAP, 4800);
    }
}
