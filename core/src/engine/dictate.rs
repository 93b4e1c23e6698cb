//! [`Engine::dictate`]: the stages of [`crate::dictate`] run on the engine's models.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::Engine;
use super::slots::{Model, join_error};
use crate::audio::{AudioInput, AudioStream};
use crate::cancel::CancelToken;
use crate::catalog::Capability;
use crate::dictate::guard::{self, Verdict};
use crate::dictate::{
    DictateEvent, DictateOptions, DictateResult, DictateStage, StageTimings, Warning, WarningCode,
    word_edits,
};
use crate::error::{Error, Result};
use crate::llm::generate::{GenerationStats, StopReason};
use crate::refine::{RefineContext, RefineOptions};
use crate::system::Limits;
use crate::transcribe::{Segment, TranscribeEvent};
use crate::vad::{self, Vad};
use crate::vocab::Vocabulary;
use crate::vocab::prompt::WHISPER_PROMPT_TOKENS;
use crate::whisper::WhisperModel;
use crate::whisper::longform::transcribe_stream;

type Sink = Arc<Mutex<dyn FnMut(DictateEvent<'_>) + Send>>;

impl Engine {
    /// This machine's dictation limits (its memory tier's).
    pub fn limits(&self) -> Limits {
        self.inner.ram_tier().limits()
    }

    /// Dictation in one call ([`crate::dictate`]): `audio` to clean text, with the user's
    /// vocabulary, voice-activity trimming and a guarded cleanup. Audio longer than
    /// [`Engine::limits`] allows is refused with [`Error::AudioTooLong`] before a model is
    /// loaded (a header's claimed length is checked before decoding; audio without one is
    /// decoded up to the limit and no further). `on_event` is called on worker threads;
    /// `cancel` stops any stage.
    pub async fn dictate(
        &self,
        audio: AudioInput,
        opts: &DictateOptions,
        on_event: impl FnMut(DictateEvent<'_>) + Send + 'static,
        cancel: &CancelToken,
    ) -> Result<DictateResult> {
        let t0 = Instant::now();
        opts.validate()?;
        let speech_model = self.choose(opts.speech_model.as_deref(), Capability::Audio)?;
        let text_model = match &opts.refine {
            Some(_) => Some(self.choose(opts.text_model.as_deref(), Capability::Text)?),
            None => None,
        };
        let vocabulary = if opts.vocabulary {
            self.vocabulary()?
        } else {
            Vocabulary::default()
        };
        let sink: Sink = Arc::new(Mutex::new(on_event));
        let emit = |sink: &Sink, e: DictateEvent<'_>| (sink.lock().unwrap())(e);
        let mut timings = StageTimings::default();
        let mut warnings = Vec::new();

        // 1. The audio, within the limit.
        emit(&sink, DictateEvent::Stage(DictateStage::DecodingAudio));
        let t = Instant::now();
        let limit = self.limits().max_recording_secs;
        let (token, s) = (cancel.clone(), sink.clone());
        let pcm = self
            .blocking(cancel, move || {
                read_within(audio, limit, &token, &mut |d| {
                    emit(&s, DictateEvent::Duration(d))
                })
            })
            .await?;
        timings.decode_audio_secs = t.elapsed().as_secs_f64();
        let audio_secs = pcm.len() as f64 / 16_000.0;

        // 2. The speech in it.
        let t = Instant::now();
        let (speech, map) = match &opts.vad {
            Some(vad_opts) => {
                emit(&sink, DictateEvent::Stage(DictateStage::DetectingSpeech));
                let (token, vad_opts) = (cancel.clone(), vad_opts.clone());
                self.blocking(cancel, move || {
                    let regions = Vad::shared()?.speech(&pcm, &vad_opts, &token)?;
                    // Pauses between stretches of speech shrink to 0.3 s: enough for
                    // Whisper to end a sentence, too short to invent text in.
                    let c = vad::compact(&pcm, &regions, vad::DEFAULT_GAP);
                    Ok((c.pcm, Some(c.map)))
                })
                .await?
            }
            None => (pcm, None),
        };
        timings.vad_secs = t.elapsed().as_secs_f64();
        let speech_secs = speech.len() as f64 / 16_000.0;
        let nothing = |timings: StageTimings, mut warnings: Vec<Warning>, language: String| {
            warnings.push(no_speech());
            DictateResult {
                text: String::new(),
                transcript: String::new(),
                language,
                edits: Vec::new(),
                timings: StageTimings {
                    total_secs: t0.elapsed().as_secs_f64(),
                    ..timings
                },
                warnings,
                audio_secs,
                speech_secs: 0.0,
                segments: Vec::new(),
                speech_model: speech_model.id.clone(),
                text_model: None,
                refine_stats: None,
            }
        };
        if speech.is_empty() {
            let language = opts.transcribe.language.clone().unwrap_or_default();
            return Ok(nothing(timings, warnings, language));
        }

        // 3. The transcript, the vocabulary in Whisper's prompt.
        emit(&sink, DictateEvent::Stage(DictateStage::Transcribing));
        let t = Instant::now();
        let mut transcribe = opts.transcribe.clone();
        let s = sink.clone();
        let (words, user_prompt) = (vocabulary.clone(), transcribe.initial_prompt.take());
        let mut transcript = self
            .run(
                &speech_model,
                Capability::Audio,
                cancel,
                move |model, cancel| {
                    let Model::Whisper(whisper) = model else {
                        unreachable!("the audio slot holds speech models")
                    };
                    let (prompt, truncated) =
                        whisper_prompt(whisper, &words, user_prompt.as_deref());
                    transcribe.initial_prompt = prompt;
                    let stream = AudioStream::from_16k(&speech)?;
                    // Subtitles and timed text read the same words as the text, at the
                    // original audio's times (the pauses the VAD cut accounted for).
                    let finish = |seg: &mut Segment| {
                        seg.text = words.apply(&seg.text).0;
                        if let Some(map) = &map {
                            let to_original = |t: &mut f32| *t = map.to_original(*t as f64) as f32;
                            to_original(&mut seg.start);
                            to_original(&mut seg.end);
                            for w in seg.words.iter_mut().flatten() {
                                to_original(&mut w.start);
                                to_original(&mut w.end);
                            }
                        }
                    };
                    let mut t =
                        transcribe_stream(whisper, stream, &transcribe, cancel, &mut |e| {
                            if let TranscribeEvent::Segment(seg) = e {
                                let mut seg = seg.clone();
                                finish(&mut seg);
                                (s.lock().unwrap())(DictateEvent::Segment(&seg));
                            }
                        })?;
                    t.segments.iter_mut().for_each(finish);
                    Ok((t, truncated))
                },
            )
            .await?;
        timings.transcribe_secs = t.elapsed().as_secs_f64();
        if transcript.1 {
            warnings.push(Warning::new(
                WarningCode::VocabularyTruncated,
                "not every vocabulary word fit Whisper's prompt; the first ones were used",
            ));
        }
        let raw = transcript.0.text.trim().to_string();
        let language = std::mem::take(&mut transcript.0.language);
        let segments = std::mem::take(&mut transcript.0.segments);
        let (corrected, _) = vocabulary.apply(&raw);
        if corrected.trim().is_empty() {
            return Ok(nothing(timings, warnings, language));
        }

        // 4. The cleanup, checked.
        let mut text = corrected.clone();
        let mut refine_stats = None;
        if let (Some(refine), Some(m)) = (&opts.refine, &text_model) {
            emit(&sink, DictateEvent::Stage(DictateStage::Refining));
            let t = Instant::now();
            let s = sink.clone();
            let c = self
                .clean_up(
                    &m.id,
                    &corrected,
                    &language,
                    refine,
                    opts.context(),
                    &vocabulary,
                    move |delta| (s.lock().unwrap())(DictateEvent::RefineText(delta)),
                    cancel,
                )
                .await?;
            timings.refine_secs = t.elapsed().as_secs_f64();
            text = c.text;
            warnings.extend(c.warnings);
            refine_stats = Some(c.stats);
        }
        timings.total_secs = t0.elapsed().as_secs_f64();
        timings.finish_secs = timings.total_secs;
        Ok(DictateResult {
            edits: word_edits(&raw, &text),
            text,
            transcript: raw,
            language,
            timings,
            warnings,
            audio_secs,
            speech_secs,
            segments,
            speech_model: speech_model.id,
            text_model: text_model.map(|m| m.id),
            refine_stats,
        })
    }

    /// The cleanup stage, shared by [`Engine::dictate`] and live sessions: `corrected`
    /// (the transcript, the vocabulary's replacements applied) refined with `text_model`
    /// under `context` (the vocabulary's spellings added), the replacements applied
    /// again, and the output checked by [`guard`]: wrappers stripped, an answer, a rewrite
    /// or a cut-short output replaced by [`guard::light_cleanup`] of the transcript, each
    /// with its warning. A cancel is [`Error::Cancelled`], never a text.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn clean_up(
        &self,
        text_model: &str,
        corrected: &str,
        language: &str,
        refine: &RefineOptions,
        mut context: RefineContext,
        vocabulary: &Vocabulary,
        on_text: impl FnMut(&str) + Send + 'static,
        cancel: &CancelToken,
    ) -> Result<Cleanup> {
        context.vocabulary = vocabulary.spellings();
        let ropts = RefineOptions {
            context,
            ..refine.clone()
        };
        let r = self
            .refine(Some(text_model), corrected, &ropts, on_text, cancel)
            .await?;
        // A cleanup cut short by `cancel` is the call cancelled, not a text to check.
        if r.stats.stop_reason == StopReason::Cancelled {
            return Err(Error::Cancelled);
        }
        let truncated = r.stats.stop_reason == StopReason::MaxTokens;
        let (refined, _) = vocabulary.apply(&r.text);
        let fallback = || guard::light_cleanup(corrected, language);
        let mut warnings = Vec::new();
        let text = match guard::check(corrected, &refined, &ropts.mode) {
            _ if truncated => {
                warnings.push(Warning::new(
                    WarningCode::CleanupTruncated,
                    format!(
                        "the cleanup stopped at its budget of {} tokens; the transcript \
                         (lightly cleaned) is used",
                        r.max_tokens
                    ),
                ));
                fallback()
            }
            Verdict::Kept(t) => t,
            Verdict::Stripped { text, removed } => {
                warnings.push(Warning::new(
                    WarningCode::CleanupTrimmed,
                    format!(
                        "removed what the model added around the text: {}",
                        removed.join(" · ")
                    ),
                ));
                text
            }
            Verdict::Rejected { reason } => {
                warnings.push(rejected(&reason));
                fallback()
            }
        };
        Ok(Cleanup {
            text,
            warnings,
            stats: r.stats,
        })
    }

    /// Run `work` on the blocking pool; `cancel` ends the wait at once (the work sees the
    /// same token and stops at its next check).
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        cancel: &CancelToken,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let task = tokio::task::spawn_blocking(work);
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(Error::Cancelled),
            done = task => done.map_err(|e| join_error("", e))?,
        }
    }
}

/// All of `audio` as 16 kHz mono, refused as [`Error::AudioTooLong`] when it is longer
/// than `limit_secs`: at once when its header says so, else as soon as the decoded
/// samples pass the limit (so a file that lies about its length, or has none, never
/// makes this read more than the limit). Reports the length to `on_duration`.
fn read_within(
    audio: AudioInput,
    limit_secs: u32,
    cancel: &CancelToken,
    on_duration: &mut dyn FnMut(f64),
) -> Result<Vec<f32>> {
    // Half a second of grace: containers round their durations.
    let limit = limit_secs as f64 + 0.5;
    let mut stream = AudioStream::open_owned(audio)?;
    if let Some(d) = stream.declared_duration() {
        if d > limit {
            return Err(Error::AudioTooLong {
                seconds: d.ceil() as u32,
                limit_secs,
            });
        }
        on_duration(d);
    }
    let max_samples = (limit * 16_000.0) as usize;
    let mut pcm = Vec::new();
    while let Some(chunk) = stream.next_chunk(cancel)? {
        if pcm.len() + chunk.len() > max_samples {
            return Err(Error::AudioTooLong {
                seconds: (pcm.len() + chunk.len()).div_ceil(16_000) as u32,
                limit_secs,
            });
        }
        pcm.extend_from_slice(&chunk);
    }
    on_duration(pcm.len() as f64 / 16_000.0);
    Ok(pcm)
}

/// What the cleanup stage made of a text.
pub(super) struct Cleanup {
    pub(super) text: String,
    pub(super) warnings: Vec<Warning>,
    pub(super) stats: GenerationStats,
}

/// The warning for audio with no speech in it (the text is empty).
pub(super) fn no_speech() -> Warning {
    Warning::new(
        WarningCode::NoSpeech,
        "no speech was found in the audio (silence or noise)",
    )
}

/// The warning for a cleanup that was not an edit of its transcript.
pub(super) fn rejected(reason: &str) -> Warning {
    Warning::new(
        WarningCode::CleanupRejected,
        format!(
            "the cleanup was not an edit of the transcript ({reason}); the transcript \
             (lightly cleaned) is used"
        ),
    )
}

/// Whisper's prompt for a dictation: the caller's own prompt, then as much of the
/// vocabulary's glossary as fits the rest of [`WHISPER_PROMPT_TOKENS`]. The flag says
/// some vocabulary word did not fit.
pub(super) fn whisper_prompt(
    whisper: &WhisperModel,
    words: &Vocabulary,
    user_prompt: Option<&str>,
) -> (Option<String>, bool) {
    let tok = whisper.tokenizer();
    let count = |text: &str| tok.encode(text).map_or(usize::MAX, |t| t.len());
    let own = user_prompt.map_or(0, |p| count(p) + 1);
    let budget = WHISPER_PROMPT_TOKENS.saturating_sub(own);
    let glossary = words.whisper_prompt(|p| count(p) <= budget);
    let listed = words.spellings();
    let truncated = !listed.is_empty()
        && glossary
            .as_ref()
            .is_none_or(|g| !listed.iter().all(|w| g.contains(w.as_str())));
    let prompt = match (user_prompt, glossary) {
        (Some(u), Some(g)) => Some(format!("{u} {g}")),
        (u, g) => u.map(str::to_string).or(g),
    };
    (prompt, truncated)
}
