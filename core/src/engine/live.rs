//! [`Engine::live`]: the stages of [`crate::live`] run on the engine's models while the
//! audio comes.
//!
//! The session is two halves: [`LiveSession`], which the app holds and feeds (pushes
//! are converted and appended under a short lock, never waiting for a model), and a
//! worker task that decodes what has arrived whenever a step's worth more is there.
//! Decoding is faster than real time on any machine Murmur targets, so the worker idles
//! between steps; when it is slower, each decode simply takes all the audio that came
//! meanwhile. Cleanups run in a task of their own, one stretch at a time.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::Engine;
use super::dictate::{no_speech, rejected, whisper_prompt};
use super::slots::{Model, join_error};
use crate::audio::{AudioStream, SAMPLE_RATE};
use crate::cancel::CancelToken;
use crate::catalog::{Capability, CatalogModel};
use crate::dictate::guard::{self, Verdict};
use crate::dictate::{DictateResult, StageTimings, Warning, word_edits};
use crate::error::{Error, Result};
use crate::live::{Agreement, LiveEvent, LiveOptions, PcmConverter, PcmFormat, TimedWord};
use crate::llm::generate::GenerationStats;
use crate::transcribe::{Segment, Transcript, Word};
use crate::vad::Vad;
use crate::vocab::Vocabulary;
use crate::whisper::longform::transcribe_stream;

type Sink = Arc<Mutex<dyn FnMut(LiveEvent) + Send>>;

/// Samples per second, as a float.
const RATE: f64 = SAMPLE_RATE as f64;
/// Whisper's window: no decode is given more.
const WINDOW: usize = 30 * SAMPLE_RATE as usize;
/// An utterance window longer than this is trimmed after its confirmed words.
const TRIM_AFTER: usize = 15 * SAMPLE_RATE as usize;
/// A window longer than this confirms the words heard in all but its last
/// [`FORCE_KEEP`] (agreement that never came must not push the window past 30 s).
const FORCE_AFTER: usize = 25 * SAMPLE_RATE as usize;
const FORCE_KEEP: f64 = 5.0;
/// Characters of the confirmed text before the window given to Whisper as context.
const CONTEXT_CHARS: usize = 200;

/// A live transcription ([`Engine::live`]): push audio as it comes, then
/// [`LiveSession::finish`]. Dropping it cancels the session.
pub struct LiveSession {
    feed: Arc<Feed>,
    worker: Mutex<Option<JoinHandle<Result<DictateResult>>>>,
    cancel: CancelToken,
}

/// The audio received, shared by the session and its worker.
struct Feed {
    state: Mutex<FeedState>,
    /// Woken by every push and by `finish`.
    more: Notify,
}

struct FeedState {
    format: PcmFormat,
    converter: PcmConverter,
    /// Every 16 kHz sample so far (at most the machine's recording limit).
    pcm: Vec<f32>,
    limit_samples: usize,
    limit_secs: u32,
    /// Set by `finish`: no more audio, and when it came.
    finished_at: Option<Instant>,
    /// Why pushes are refused (the limit reached, the worker stopped).
    closed: Option<String>,
    convert_secs: f64,
    /// Samples the worker has decoded (or skipped as silence).
    decoded: usize,
}

impl Engine {
    /// Start a live session ([`crate::live`]): options checked, the models chosen (each
    /// must be downloaded: refused with [`Error::NotDownloaded`] now, not after the user
    /// has spoken) and the speech model loaded in the background. `on_event` gets
    /// partial, confirmed and cleaned-up text on worker threads, then the final result;
    /// `cancel` (or dropping the session) stops all work. Needs a tokio runtime.
    pub async fn live(
        &self,
        opts: &LiveOptions,
        on_event: impl FnMut(LiveEvent) + Send + 'static,
        cancel: &CancelToken,
    ) -> Result<LiveSession> {
        opts.validate()?;
        let d = &opts.dictate;
        let speech_model = self.choose_downloaded(d.speech_model.as_deref(), Capability::Audio)?;
        let text_model = match &d.refine {
            Some(_) => Some(self.choose_downloaded(d.text_model.as_deref(), Capability::Text)?),
            None => None,
        };
        let vocabulary = if d.vocabulary {
            self.vocabulary()?
        } else {
            Vocabulary::default()
        };
        let limit_secs = self.limits().max_recording_secs;
        let feed = Arc::new(Feed {
            state: Mutex::new(FeedState {
                format: opts.format,
                converter: PcmConverter::new(opts.format)?,
                pcm: Vec::new(),
                limit_samples: limit_secs as usize * SAMPLE_RATE as usize,
                limit_secs,
                finished_at: None,
                closed: None,
                convert_secs: 0.0,
                decoded: 0,
            }),
            more: Notify::new(),
        });
        let cancel = cancel.child();
        let worker = Worker {
            engine: self.clone(),
            feed: feed.clone(),
            opts: opts.clone(),
            speech_model,
            text_model,
            vocabulary,
            sink: Arc::new(Mutex::new(on_event)),
            cancel: cancel.clone(),
            started: Instant::now(),
            agreement: Agreement::default(),
            win_start: 0,
            language: opts.dictate.transcribe.language.clone(),
            pending_language: None,
            partial: String::new(),
            utterance_from: None,
            timings: StageTimings::default(),
            speech_samples: 0,
            sent: 0,
            boundary: 0,
            cleanup: None,
            pieces: Vec::new(),
        };
        let task = tokio::spawn(async move {
            let feed = worker.feed.clone();
            let r = worker.run().await;
            if let Err(e) = &r {
                feed.state.lock().unwrap().closed = Some(format!("the session stopped: {e}"));
            }
            r
        });
        Ok(LiveSession {
            feed,
            worker: Mutex::new(Some(task)),
            cancel,
        })
    }
}

impl LiveSession {
    /// Append float samples in the session's format. Refused when the session has
    /// finished, was cancelled or stopped on an error (`finish` then tells which), and
    /// with [`Error::AudioTooLong`] once the machine's recording limit is reached (the
    /// audio up to the limit is kept: `finish` gives its text).
    pub fn push_f32(&self, samples: &[f32]) -> Result<()> {
        self.push(samples.len(), |c, n, out| c.push_f32(&samples[..n], out))
    }

    /// Append signed 16-bit samples; as [`LiveSession::push_f32`].
    pub fn push_i16(&self, samples: &[i16]) -> Result<()> {
        self.push(samples.len(), |c, n, out| c.push_i16(&samples[..n], out))
    }

    /// Convert the first samples of a buffer of `len` (`convert(converter, n, out)`
    /// converts `n` of them): no more than the recording limit has room for, so a
    /// buffer of any size costs at most the limit's memory; past the limit, the audio
    /// up to it is kept and the push refused.
    fn push(
        &self,
        len: usize,
        convert: impl FnOnce(&mut PcmConverter, usize, &mut Vec<f32>) -> Result<()>,
    ) -> Result<()> {
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let mut s = self.feed.state.lock().unwrap();
        if s.finished_at.is_some() {
            return Err(ended("the session has finished"));
        }
        if let Some(why) = &s.closed {
            return Err(ended(why));
        }
        let t = Instant::now();
        let room = s.limit_samples.saturating_sub(s.pcm.len());
        let (rate, channels) = (s.format.sample_rate as u64, s.format.channels.max(1) as u64);
        // Input frames that fill the room, plus the resampler's chunk and delay.
        let frames = (room as u64 * rate).div_ceil(SAMPLE_RATE as u64) + 4096;
        let take = len.min(usize::try_from(frames * channels).unwrap_or(usize::MAX));
        let mut out = Vec::new();
        convert(&mut s.converter, take, &mut out)?;
        if out.len() > room || take < len {
            let heard = len as u64 / channels * SAMPLE_RATE as u64 / rate.max(1);
            let (seconds, limit_secs) = (
                (s.pcm.len() as u64 + heard).div_ceil(SAMPLE_RATE as u64) as u32,
                s.limit_secs,
            );
            s.pcm.extend_from_slice(&out[..room.min(out.len())]);
            s.closed = Some(format!(
                "the recording reached this machine's limit of {limit_secs} s"
            ));
            drop(s);
            self.feed.more.notify_one();
            return Err(Error::AudioTooLong {
                seconds: seconds.max(limit_secs + 1),
                limit_secs,
            });
        }
        s.pcm.extend_from_slice(&out);
        s.convert_secs += t.elapsed().as_secs_f64();
        drop(s);
        self.feed.more.notify_one();
        Ok(())
    }

    /// Seconds of audio received so far.
    pub fn audio_secs(&self) -> f64 {
        self.feed.state.lock().unwrap().pcm.len() as f64 / RATE
    }

    /// Seconds of audio decoded so far (or skipped as silence); what was received after
    /// it waits for the next decode. With [`LiveSession::audio_secs`], how far behind
    /// the speech the text is: an app may show it, a test may wait on it to feed audio
    /// as fast as the machine decodes it.
    pub fn decoded_secs(&self) -> f64 {
        self.feed.state.lock().unwrap().decoded as f64 / RATE
    }

    /// End the audio and wait for the result: the last words decoded and cleaned up,
    /// the whole text checked. Also sent as [`LiveEvent::Final`]. A second call is
    /// refused; a cancel gives [`Error::Cancelled`].
    pub async fn finish(&self) -> Result<DictateResult> {
        let task = self.worker.lock().unwrap().take();
        let Some(task) = task else {
            return Err(ended("finish was already called"));
        };
        {
            let mut s = self.feed.state.lock().unwrap();
            let mut tail = Vec::new();
            let (converted, limit) = (s.converter.finish(&mut tail), s.limit_samples);
            converted?;
            let room = limit.saturating_sub(s.pcm.len());
            s.pcm.extend_from_slice(&tail[..tail.len().min(room)]);
            s.finished_at = Some(Instant::now());
        }
        self.feed.more.notify_one();
        tokio::select! {
            biased;
            done = task => done.map_err(|e| join_error("", e))?,
            _ = self.cancel.cancelled() => Err(Error::Cancelled),
        }
    }

    /// Stop the session: pushes are refused and `finish` gives [`Error::Cancelled`].
    pub fn cancel(&self) {
        self.cancel.cancel();
        self.feed.more.notify_one();
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        self.cancel();
    }
}

fn ended(why: &str) -> Error {
    Error::InvalidArgument {
        name: "session".into(),
        reason: why.to_string(),
    }
}

/// A confirmed stretch of the transcript and its cleanup.
struct Piece {
    text: String,
    warnings: Vec<Warning>,
    /// `None` when no model ran (no cleanup asked, or nothing to clean).
    stats: Option<GenerationStats>,
    secs: f64,
}

/// The worker's state: what is confirmed, where the utterance's window starts, and the
/// cleanups sent and done.
struct Worker {
    engine: Engine,
    feed: Arc<Feed>,
    opts: LiveOptions,
    speech_model: CatalogModel,
    text_model: Option<CatalogModel>,
    vocabulary: Vocabulary,
    sink: Sink,
    cancel: CancelToken,
    started: Instant,
    agreement: Agreement,
    /// The sample where the current window starts.
    win_start: usize,
    /// Given, or detected and fixed once the first words are confirmed.
    language: Option<String>,
    /// The language of the first decode with words, fixed once its words are confirmed.
    pending_language: Option<String>,
    /// The last partial text sent.
    partial: String,
    /// Where the current utterance's speech started (None between utterances).
    utterance_from: Option<usize>,
    timings: StageTimings,
    speech_samples: usize,
    /// Confirmed words already sent to the cleanup.
    sent: usize,
    /// Confirmed words at the end of the last utterance (sent even without a full stop).
    boundary: usize,
    /// The cleanup running now.
    cleanup: Option<JoinHandle<Result<Piece>>>,
    pieces: Vec<Piece>,
}

impl Worker {
    fn emit(&self, e: LiveEvent) {
        (self.sink.lock().unwrap())(e)
    }

    async fn run(mut self) -> Result<DictateResult> {
        // Load the speech model while the user starts talking.
        let t = Instant::now();
        self.engine
            .run(
                &self.speech_model,
                Capability::Audio,
                &self.cancel,
                |_, _| Ok(()),
            )
            .await?;
        self.timings.transcribe_secs += t.elapsed().as_secs_f64();
        let step = self.opts.step_ms as usize * SAMPLE_RATE as usize / 1000;
        let mut decoded_to = 0;
        let finished_at = loop {
            // Wait for a step's worth of new audio, or the end.
            let (available, finished_at) = loop {
                {
                    let s = self.feed.state.lock().unwrap();
                    if s.finished_at.is_some() || s.pcm.len() >= decoded_to + step {
                        break (s.pcm.len(), s.finished_at);
                    }
                }
                tokio::select! {
                    _ = self.feed.more.notified() => {}
                    _ = self.cancel.cancelled() => return Err(Error::Cancelled),
                }
            };
            while self.step(available, finished_at.is_some()).await? {}
            self.collect_cleanup(false).await?;
            self.send_cleanup();
            decoded_to = available;
            self.feed.state.lock().unwrap().decoded = available;
            if let Some(at) = finished_at {
                break at;
            }
        };
        self.finish(finished_at).await
    }

    /// Decode the window up to `available`; `true` when another utterance already
    /// waits in it (a pause ended the first one), to decode at once.
    async fn step(&mut self, available: usize, finished: bool) -> Result<bool> {
        let window: Vec<f32> = {
            let s = self.feed.state.lock().unwrap();
            let end = available.min(self.win_start + WINDOW);
            s.pcm[self.win_start.min(end)..end].to_vec()
        };
        let cut_short = self.win_start + window.len() < available;
        if window.is_empty() {
            return Ok(false);
        }
        // The speech in the window: where it starts, and whether a pause ended it.
        let (from, to, ended, more) = match self.opts.dictate.vad.clone() {
            Some(vad) => {
                let t = Instant::now();
                let pad = vad.speech_pad_ms as usize * SAMPLE_RATE as usize / 1000;
                let token = self.cancel.clone();
                let audio = window.clone();
                let regions = self
                    .engine
                    .blocking(&self.cancel, move || {
                        Vad::shared()?.speech(&audio, &vad, &token)
                    })
                    .await?;
                self.timings.vad_secs += t.elapsed().as_secs_f64();
                let Some(first) = regions.first() else {
                    // Silence: nothing to decode. Words pending from before were heard
                    // (the detector changed its mind about their audio); they stand.
                    self.complete(Vec::new());
                    if !finished || cut_short {
                        // Speech may begin in the last pad's worth of it.
                        self.win_start += window.len().saturating_sub(pad);
                    }
                    return Ok(cut_short);
                };
                // A region that ends before the window does was closed by a pause.
                let closed = first.end < window.len();
                let ended = closed || (finished && !cut_short);
                let to = if closed { first.end } else { window.len() };
                (first.start, to, ended, regions.len() > 1 || cut_short)
            }
            None => (0, window.len(), finished && !cut_short, cut_short),
        };
        let offset = self.win_start + from;
        self.utterance_from.get_or_insert(offset);
        let Some(words) = self
            .decode(window[from..to].to_vec(), offset, ended)
            .await?
        else {
            return Ok(false);
        };
        if ended {
            self.complete(words);
            self.end_utterance(self.win_start + to);
            self.win_start += to;
        } else {
            let n = self.agreement.update(words);
            self.confirmed(n);
            self.trim(offset, to - from);
        }
        Ok(more)
    }

    /// The utterance ended at sample `end`: its speech counted, the next one starts
    /// fresh.
    fn end_utterance(&mut self, end: usize) {
        if let Some(from) = self.utterance_from.take() {
            self.speech_samples += end.saturating_sub(from);
        }
    }

    /// Whisper on `audio` (which starts at sample `offset` of the session): its words,
    /// timed in the session's audio.
    /// `last`: the utterance's final decode (its words are confirmed as they are).
    /// `None`: a draft abandoned because the audio ended.
    async fn decode(
        &mut self,
        audio: Vec<f32>,
        offset: usize,
        last: bool,
    ) -> Result<Option<Vec<TimedWord>>> {
        let t = Instant::now();
        let mut opts = self.opts.dictate.transcribe.clone();
        opts.word_timestamps = true;
        if !last {
            // A decode that will be checked against the next one is a draft: no
            // fallback temperatures, and no more tokens than speech this long holds
            // (a draft that loops stops early instead of running to 224 tokens).
            opts.temperatures.truncate(1);
            let secs = audio.len() as f64 / RATE;
            let most = (16.0 + 8.0 * secs).ceil() as usize;
            opts.sample_len = Some(opts.sample_len.unwrap_or(224).min(most));
        }
        opts.language.clone_from(&self.language);
        let user_prompt = opts.initial_prompt.take();
        let context = self.context_before(offset);
        let words = self.vocabulary.clone();
        // A draft still running when the audio ends is abandoned: the decode after
        // `finish` supersedes it, and the user is waiting.
        let token = self.cancel.child();
        let run = self.engine.run(
            &self.speech_model,
            Capability::Audio,
            &token,
            move |model, cancel| {
                let Model::Whisper(whisper) = model else {
                    unreachable!("the audio slot holds speech models")
                };
                let own = match (user_prompt, context) {
                    (Some(u), Some(c)) => Some(format!("{u} {c}")),
                    (u, c) => u.or(c),
                };
                opts.initial_prompt = whisper_prompt(whisper, &words, own.as_deref()).0;
                let stream = AudioStream::from_16k(&audio)?;
                transcribe_stream(whisper, stream, &opts, cancel, &mut |_| {})
            },
        );
        tokio::pin!(run);
        let done = loop {
            tokio::select! {
                done = &mut run => break done,
                _ = self.feed.more.notified(), if !last => {
                    if self.feed.state.lock().unwrap().finished_at.is_some() {
                        token.cancel();
                    }
                }
            }
        };
        let transcript: Transcript = match done {
            Err(Error::Cancelled) if !self.cancel.is_cancelled() => {
                self.timings.transcribe_secs += t.elapsed().as_secs_f64();
                return Ok(None);
            }
            done => done?,
        };
        self.timings.transcribe_secs += t.elapsed().as_secs_f64();
        let at = offset as f64 / RATE;
        let words = transcript
            .segments
            .iter()
            .flat_map(|s| s.words.iter().flatten())
            .filter(|w| !w.word.trim().is_empty())
            .map(|w| TimedWord {
                text: w.word.clone(),
                start: at + w.start as f64,
                end: at + w.end as f64,
            })
            .collect::<Vec<_>>();
        if self.language.is_none() && !words.is_empty() && !transcript.language.is_empty() {
            self.pending_language = Some(transcript.language);
        }
        Ok(Some(words))
    }

    /// Up to [`CONTEXT_CHARS`] of the confirmed text heard before sample `offset`.
    fn context_before(&self, offset: usize) -> Option<String> {
        let before = offset as f64 / RATE;
        let text: String = self
            .agreement
            .confirmed()
            .iter()
            .filter(|w| w.end <= before)
            .map(|w| w.text.as_str())
            .collect();
        let text = text.trim();
        let start = text
            .char_indices()
            .rev()
            .nth(CONTEXT_CHARS)
            .map_or(0, |(i, _)| i);
        let tail = text[start..].trim();
        (!tail.is_empty()).then(|| tail.to_string())
    }

    /// The utterance ended: `words`, the last decode of it, are all confirmed, and its
    /// text goes to the cleanup.
    fn complete(&mut self, words: Vec<TimedWord>) {
        let n = self.agreement.complete(words);
        self.confirmed(n);
        self.boundary = self.agreement.confirmed().len();
        self.send_cleanup();
    }

    /// Report the `n` words just confirmed and the partial text after them.
    fn confirmed(&mut self, n: usize) {
        let all = self.agreement.confirmed();
        if n > 0 {
            let new = &all[all.len() - n..];
            let text: String = new.iter().map(|w| w.text.as_str()).collect();
            let (start, end) = (new[0].start, new[n - 1].end);
            if self.language.is_none() {
                self.language = self.pending_language.take();
            }
            self.emit(LiveEvent::Confirmed { text, start, end });
        }
        let partial: String = self
            .agreement
            .pending()
            .iter()
            .map(|w| w.text.as_str())
            .collect();
        if partial != self.partial {
            self.partial.clone_from(&partial);
            self.emit(LiveEvent::Partial { text: partial });
        }
    }

    /// Keep the window short: it restarts after the last confirmed sentence in it (each
    /// decode, and the one after `finish`, then has only the words since; the sentence
    /// before is Whisper's context through the prompt), or past [`TRIM_AFTER`] after
    /// the last confirmed word; past [`FORCE_AFTER`], words not yet agreed on are
    /// confirmed but for the last few seconds, so it never outgrows Whisper's 30 s.
    /// `offset..offset + len`: the speech just decoded. Cuts fall halfway between the
    /// last confirmed word and the first pending one.
    fn trim(&mut self, offset: usize, len: usize) {
        if len > FORCE_AFTER {
            let until = (offset + len) as f64 / RATE - FORCE_KEEP;
            let n = self.agreement.confirm_until(until);
            self.confirmed(n);
        }
        let window_from = offset as f64 / RATE;
        let confirmed = self.agreement.confirmed();
        let inside = confirmed
            .iter()
            .rposition(|w| w.start >= window_from)
            .map(|last| &confirmed[..=last]);
        let done = match inside {
            Some(words) if len > TRIM_AFTER => words.last().map(|w| w.end),
            Some(words) => words
                .iter()
                .rev()
                .take_while(|w| w.start >= window_from)
                .find(|w| ends_sentence(&w.text))
                .map(|w| w.end),
            None => None,
        };
        // Only once the next word has been heard: a word's end is placed early as
        // often as not, and a window starting right there hears its last sound as a
        // word of its own ("was." then "has.").
        let next = self.agreement.pending().first().map(|w| w.start);
        let mut cut = done
            .zip(next)
            .map(|(done, next)| ((done + next.max(done)) / 2.0 * RATE) as usize);
        if len > FORCE_AFTER && cut.is_none_or(|c| c <= self.win_start) {
            // Nothing was heard to cut after: keep only the last seconds.
            cut = Some(offset + len - (FORCE_KEEP * RATE) as usize);
        }
        if let Some(cut) = cut {
            self.win_start = self.win_start.max(cut);
        }
    }

    /// Send the confirmed words not yet cleaned up, through the last full sentence (or
    /// the last utterance's end), to the cleanup, unless one is running.
    fn send_cleanup(&mut self) {
        if self.cleanup.is_some() {
            return;
        }
        let words = &self.agreement.confirmed()[self.sent..];
        let sentence_end = words.iter().rposition(|w| ends_sentence(&w.text));
        let end = sentence_end
            .map_or(0, |i| i + 1)
            .max(self.boundary.saturating_sub(self.sent));
        if end == 0 {
            return;
        }
        let transcript: String = words[..end].iter().map(|w| w.text.as_str()).collect();
        let transcript = transcript.trim().to_string();
        self.sent += end;
        let (Some(refine), Some(model)) = (&self.opts.dictate.refine, &self.text_model) else {
            let (text, _) = self.vocabulary.apply(&transcript);
            self.pieces.push(Piece {
                text,
                warnings: Vec::new(),
                stats: None,
                secs: 0.0,
            });
            return;
        };
        let engine = self.engine.clone();
        let (model, refine) = (model.id.clone(), refine.clone());
        let context = self.opts.dictate.context();
        let vocabulary = self.vocabulary.clone();
        let language = self
            .language
            .clone()
            .or_else(|| self.pending_language.clone())
            .unwrap_or_default();
        let (sink, cancel) = (self.sink.clone(), self.cancel.clone());
        self.cleanup = Some(tokio::spawn(async move {
            let t = Instant::now();
            let (corrected, _) = vocabulary.apply(&transcript);
            if corrected.trim().is_empty() {
                return Ok(Piece {
                    text: String::new(),
                    warnings: Vec::new(),
                    stats: None,
                    secs: 0.0,
                });
            }
            let c = engine
                .clean_up(
                    &model,
                    &corrected,
                    &language,
                    &refine,
                    context,
                    &vocabulary,
                    |_| {},
                    &cancel,
                )
                .await?;
            (sink.lock().unwrap())(LiveEvent::Refined {
                transcript: transcript.clone(),
                text: c.text.clone(),
            });
            Ok(Piece {
                text: c.text,
                warnings: c.warnings,
                stats: Some(c.stats),
                secs: t.elapsed().as_secs_f64(),
            })
        }));
    }

    /// Take the running cleanup's result when it is done (`wait`: wait for it).
    async fn collect_cleanup(&mut self, wait: bool) -> Result<()> {
        let Some(task) = self.cleanup.take_if(|t| wait || t.is_finished()) else {
            return Ok(());
        };
        let piece = tokio::select! {
            done = task => done.map_err(|e| join_error("", e))??,
            _ = self.cancel.cancelled() => return Err(Error::Cancelled),
        };
        self.pieces.push(piece);
        Ok(())
    }

    /// The audio has ended and been decoded: clean up the rest, check the whole text,
    /// and make the result.
    async fn finish(mut self, finished_at: Instant) -> Result<DictateResult> {
        let len = self.feed.state.lock().unwrap().pcm.len();
        self.end_utterance(len);
        self.boundary = self.agreement.confirmed().len();
        loop {
            self.collect_cleanup(true).await?;
            if self.sent == self.boundary {
                break;
            }
            self.send_cleanup();
        }
        let (audio_samples, convert_secs) = {
            let s = self.feed.state.lock().unwrap();
            (s.pcm.len(), s.convert_secs)
        };
        let confirmed = self.agreement.confirmed();
        let raw: String = confirmed.iter().map(|w| w.text.as_str()).collect();
        let raw = raw.trim().to_string();
        let language = self.language.clone().unwrap_or_default();
        let mut warnings: Vec<Warning> = Vec::new();
        for p in &self.pieces {
            for w in &p.warnings {
                if !warnings.iter().any(|k| k.code == w.code) {
                    warnings.push(w.clone());
                }
            }
        }
        let (corrected, _) = self.vocabulary.apply(&raw);
        let mut text = corrected.clone();
        if corrected.trim().is_empty() {
            text.clear();
            warnings.push(no_speech());
        } else if let Some(refine) = &self.opts.dictate.refine {
            // Each piece was checked; the whole is checked too, so no answer or
            // rewrite can hide across the pieces' boundaries.
            let joined = self
                .pieces
                .iter()
                .map(|p| p.text.trim())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            text = match guard::check(&corrected, &joined, &refine.mode) {
                Verdict::Kept(t) | Verdict::Stripped { text: t, .. } => t,
                Verdict::Rejected { reason } => {
                    warnings.push(rejected(&reason));
                    guard::light_cleanup(&corrected, &language)
                }
            };
        }
        self.timings.decode_audio_secs = convert_secs;
        self.timings.refine_secs = self.pieces.iter().map(|p| p.secs).sum();
        self.timings.total_secs = self.started.elapsed().as_secs_f64();
        self.timings.finish_secs = finished_at.elapsed().as_secs_f64();
        let used_text_model = self.pieces.iter().any(|p| p.stats.is_some());
        let refine_stats = self.pieces.iter().rev().find_map(|p| p.stats.clone());
        let result = DictateResult {
            edits: word_edits(&raw, &text),
            segments: sentences(confirmed),
            text,
            transcript: raw,
            language,
            timings: self.timings,
            warnings,
            audio_secs: audio_samples as f64 / RATE,
            speech_secs: if self.opts.dictate.vad.is_some() {
                self.speech_samples as f64 / RATE
            } else {
                audio_samples as f64 / RATE
            },
            speech_model: self.speech_model.id.clone(),
            text_model: self
                .text_model
                .as_ref()
                .filter(|_| used_text_model)
                .map(|m| m.id.clone()),
            refine_stats,
        };
        self.emit(LiveEvent::Final {
            result: Box::new(result.clone()),
        });
        Ok(result)
    }
}

/// Whether a word ends a sentence: it ends in `.`, `?`, `!` or their CJK forms (closing
/// quotes allowed) and is not a title's abbreviation ("Mr.", "Dr.").
fn ends_sentence(word: &str) -> bool {
    const TITLES: [&str; 9] = ["mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs"];
    let w = word.trim().trim_end_matches(['"', '\'', '”', '’', ')']);
    let stem = w.trim_end_matches('.').trim_start_matches(['"', '(', '“']);
    w.ends_with(['.', '?', '!', '。', '？', '！'])
        && !(w.ends_with('.') && TITLES.contains(&stem.to_lowercase().as_str()))
}

/// The confirmed words as segments, a sentence each, timed in the session's audio.
fn sentences(words: &[TimedWord]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut current: Vec<&TimedWord> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        current.push(w);
        if ends_sentence(&w.text) || i + 1 == words.len() {
            out.push(Segment {
                id: out.len() as u32,
                seek: (current[0].start * 100.0) as u32,
                start: current[0].start as f32,
                end: w.end as f32,
                text: current.iter().map(|w| w.text.as_str()).collect(),
                tokens: Vec::new(),
                temperature: 0.0,
                avg_logprob: 0.0,
                compression_ratio: 0.0,
                no_speech_prob: 0.0,
                words: Some(
                    current
                        .drain(..)
                        .map(|w| Word {
                            word: w.text.clone(),
                            start: w.start as f32,
                            end: w.end as f32,
                            probability: 1.0,
                        })
                        .collect(),
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ends_sentence;

    #[test]
    fn sentences_end_at_full_stops_but_not_titles() {
        for w in [" country.", " you?", " done!\"", " 了。", " end.)"] {
            assert!(ends_sentence(w), "{w}");
        }
        for w in [" Mr.", " Dr.", " you,", " so...x", " country"] {
            assert!(!ends_sentence(w), "{w}");
        }
    }
}
