//! Transcription by an audio-language model (Qwen2.5-Omni's thinker) rather than Whisper.
//!
//! The model is asked, as the Python sidecar's `generate_transcript` asked it, for the
//! spoken language and a word-for-word transcript, and its answer is parsed back into a
//! [`Transcript`]. The recording is streamed in windows of at most [`WINDOW_SECONDS`]
//! (Qwen trained the model on clips up to 30 s, which its processor cuts audio to), each
//! cut at the quietest 20 ms near its end so that no word is split; a window that is
//! digital silence is not shown to the model at all, so it cannot invent text for it.
//! Each window becomes one segment, streamed as soon as it is transcribed.

use crate::audio::AudioStream;
use crate::cancel::CancelToken;
use crate::error::{Error, Result};
use crate::llm::chat::ChatModel;
use crate::llm::chat_template::Message;
use crate::llm::generate::GenerateOptions;
use crate::llm::sampler::SamplerConfig;
use crate::whisper::longform::TranscribeEvent;
use crate::whisper::tokenizer::{LANGUAGES, language_index};
use crate::whisper::types::{Segment, Task, TranscribeOptions, Transcript};

/// Longest window shown to the model at once.
pub const WINDOW_SECONDS: usize = 30;
/// A window is cut at the quietest frame of its last this-many seconds.
const CUT_SEARCH_SECONDS: usize = 5;
const RATE: usize = 16_000;
/// 20 ms frames for finding quiet cut points and silent windows.
const FRAME: usize = RATE / 50;
/// A window whose loudest 20 ms is below this RMS (-60 dBFS) holds no speech.
const SILENCE_RMS: f32 = 1e-3;
/// Answer tokens per window unless `sample_len` says otherwise: 30 s of fast speech is
/// about 100 words.
const MAX_ANSWER_TOKENS: usize = 512;

const SYSTEM: &str = "You are a speech recognition model.";

/// What the model is asked for one window.
fn instruction(opts: &TranscribeOptions) -> String {
    let form = "Reply in exactly this form and nothing else:\nLanguage: <the language's English \
                name>\nTranscript: <";
    let mut text = match (&opts.task, language_name(opts.language.as_deref())) {
        (Task::Translate, _) => format!(
            "Translate the speech in this audio into English. {form}the English translation>"
        ),
        (Task::Transcribe, Some(name)) => format!(
            "The speech in this audio is in {name}. Transcribe it word for word. {form}the \
             words spoken>"
        ),
        (Task::Transcribe, None) => format!(
            "Transcribe the speech in this audio word for word, in the language it is spoken. \
             {form}the words spoken>"
        ),
    };
    if let Some(hint) = opts
        .initial_prompt
        .as_deref()
        .filter(|h| !h.trim().is_empty())
    {
        text.push_str(&format!("\nSpell names and terms as in: {}", hint.trim()));
    }
    text
}

/// The English name of a language code or name ("en", "English" → "English").
fn language_name(language: Option<&str>) -> Option<String> {
    let i = language_index(language?)?;
    let name = LANGUAGES[i].1;
    let mut chars = name.chars();
    Some(match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    })
}

/// The language and transcript of an answer in the form [`instruction`] asks for; an
/// answer not in that form is taken as the transcript itself.
pub fn parse_answer(answer: &str) -> (Option<String>, String) {
    let mut language = None;
    let mut transcript = None;
    for (i, line) in answer.lines().enumerate() {
        let trimmed = line.trim();
        let field = |key: &str| {
            trimmed
                .get(..key.len())
                .filter(|head| head.eq_ignore_ascii_case(key))
                .map(|_| trimmed[key.len()..].trim())
        };
        if language.is_none()
            && let Some(v) = field("language:")
        {
            language = Some(v.to_string()).filter(|v| !v.is_empty());
        } else if let Some(v) = field("transcript:") {
            let rest: Vec<&str> = answer.lines().skip(i + 1).collect();
            let mut text = v.to_string();
            if !rest.is_empty() {
                text.push('\n');
                text.push_str(&rest.join("\n"));
            }
            transcript = Some(text.trim().to_string());
            break;
        }
    }
    let text = transcript.unwrap_or_else(|| {
        answer
            .lines()
            .filter(|l| !l.trim_start().to_ascii_lowercase().starts_with("language:"))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string()
    });
    (language, text)
}

/// Language code of a name the model gave ("English" → "en"), else the name lowercased.
fn language_code(name: &str) -> String {
    match language_index(name) {
        Some(i) => LANGUAGES[i].0.to_string(),
        None => name.trim().to_lowercase(),
    }
}

fn frame_rms(samples: &[f32]) -> f32 {
    (samples.iter().map(|x| x * x).sum::<f32>() / samples.len().max(1) as f32).sqrt()
}

/// Where to end a window over `buffer` (which holds more than a window): at the start
/// of the quietest 20 ms frame of its last [`CUT_SEARCH_SECONDS`].
fn cut_point(buffer: &[f32]) -> usize {
    let end = WINDOW_SECONDS * RATE;
    let start = end - CUT_SEARCH_SECONDS * RATE;
    (start..end)
        .step_by(FRAME)
        .min_by(|&a, &b| {
            frame_rms(&buffer[a..a + FRAME]).total_cmp(&frame_rms(&buffer[b..b + FRAME]))
        })
        .unwrap_or(end)
}

fn is_silent(samples: &[f32]) -> bool {
    samples.chunks(FRAME).all(|f| frame_rms(f) < SILENCE_RMS)
}

/// Transcribe `stream` with `chat` (a model that [`ChatModel::listens`]), reporting each
/// window's segment to `on_event` as it is done; `cancel` stops between and within
/// windows.
pub fn transcribe_listening(
    chat: &ChatModel,
    mut stream: AudioStream<'_>,
    opts: &TranscribeOptions,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(TranscribeEvent<'_>),
) -> Result<Transcript> {
    opts.validate()?;
    if !chat.listens() {
        return Err(Error::InvalidArgument {
            name: "model".into(),
            reason: format!(
                "{} ({}) does not take audio",
                chat.info().path.display(),
                chat.info().model_type
            ),
        });
    }
    let generate = GenerateOptions {
        max_tokens: opts.sample_len.unwrap_or(MAX_ANSWER_TOKENS),
        sampler: SamplerConfig {
            temperature: opts.temperatures.first().copied().unwrap_or(0.0),
            seed: Some(opts.seed),
            ..SamplerConfig::default()
        },
        ..GenerateOptions::default()
    };
    let messages = [Message::system(SYSTEM), Message::user(instruction(opts))];
    let given = opts.language.as_deref().map(language_code);
    let mut detected: Option<String> = None;
    let mut segments: Vec<Segment> = Vec::new();
    let mut buffer: Vec<f32> = Vec::new();
    let mut offset = 0usize; // samples before `buffer`
    let mut ended = false;
    while !ended || !buffer.is_empty() {
        while !ended && buffer.len() <= WINDOW_SECONDS * RATE {
            match stream.next_chunk(cancel)? {
                Some(chunk) => buffer.extend_from_slice(&chunk),
                None => ended = true,
            }
        }
        let take = if buffer.len() > WINDOW_SECONDS * RATE {
            cut_point(&buffer)
        } else {
            buffer.len()
        };
        let window: Vec<f32> = buffer.drain(..take).collect();
        let start = offset;
        offset += window.len();
        // Too short for a spectrogram, or nothing but silence: nothing was said.
        if window.len() < FRAME || is_silent(&window) {
            continue;
        }
        let answer = chat.listen(&messages, &window, &generate, cancel, &mut |_| {})?;
        let (language, text) = parse_answer(&answer.text);
        if detected.is_none() {
            detected = language.map(|l| language_code(&l));
        }
        if text.is_empty() {
            continue;
        }
        let segment = Segment {
            id: segments.len() as u32,
            seek: (start / (RATE / 100)) as u32,
            start: start as f32 / RATE as f32,
            end: offset as f32 / RATE as f32,
            text: format!(" {text}"),
            tokens: chat.tokenizer().encode(&text, false).unwrap_or_default(),
            temperature: generate.sampler.temperature,
            avg_logprob: 0.0,
            compression_ratio: 0.0,
            no_speech_prob: 0.0,
            words: None,
        };
        on_event(TranscribeEvent::Segment(&segment));
        segments.push(segment);
    }
    let duration = offset as f32 / RATE as f32;
    // As Whisper's path reports it: again at the end when the header was wrong or silent.
    if stream
        .declared_duration()
        .is_none_or(|d| (d - duration as f64).abs() > 0.5)
    {
        on_event(TranscribeEvent::Duration(duration as f64));
    }
    Ok(Transcript {
        model: String::new(),
        text: segments.iter().map(|s| s.text.as_str()).collect(),
        language: given.or(detected).unwrap_or_default(),
        language_probability: None,
        segments,
        duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_into_language_and_transcript() {
        let (l, t) =
            parse_answer("Language: English\nTranscript: Ask not what your country can do.");
        assert_eq!(l.as_deref(), Some("English"));
        assert_eq!(t, "Ask not what your country can do.");
        let (l, t) = parse_answer("language: french\ntranscript:\nBonjour.\nÀ demain.");
        assert_eq!(l.as_deref(), Some("french"));
        assert_eq!(t, "Bonjour.\nÀ demain.");
        // Not in the form asked for: the whole answer is the transcript.
        let (l, t) = parse_answer("  Just the words.  ");
        assert_eq!((l, t.as_str()), (None, "Just the words."));
        let (l, t) = parse_answer("Language: German\nGuten Tag.");
        assert_eq!((l.as_deref(), t.as_str()), (Some("German"), "Guten Tag."));
        assert_eq!(language_code("English"), "en");
        assert_eq!(language_code("Klingon"), "klingon");
        assert_eq!(language_name(Some("de")).as_deref(), Some("German"));
    }

    #[test]
    fn windows_end_at_the_quietest_frame_and_silence_is_skipped() {
        let mut audio: Vec<f32> = (0..40 * RATE)
            .map(|i| (i as f32 * 0.05).sin() * 0.3)
            .collect();
        let quiet = 27 * RATE + 3 * FRAME;
        audio[quiet..quiet + FRAME]
            .iter_mut()
            .for_each(|x| *x = 0.0);
        assert_eq!(cut_point(&audio), quiet);
        assert!(is_silent(&vec![0.0; RATE]));
        assert!(is_silent(&vec![1e-4; RATE]));
        assert!(!is_silent(&audio[..RATE]));
    }
}
