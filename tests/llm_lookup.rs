//! Prompt-lookup decoding and the refine modes' prefix cache, on real models: the real
//! SmolLM2-135M-Instruct cleaning up real transcripts, and the tiny random-weight
//! architectures of tests/goldens/llm.
//!
//! Lookup must be lossless: at temperature 0 the same tokens as plain decoding, above 0
//! the same distribution (checked statistically). The prefix cache must change nothing
//! but the work done.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use murmur_core::CancelToken;
use murmur_core::llm::chat::ChatModel;
use murmur_core::llm::generate::{Flow, GenerateOptions, GenerationStats, StopReason, generate};
use murmur_core::llm::load::load_safetensors_dir;
use murmur_core::llm::lookup::PromptLookup;
use murmur_core::llm::models::{self, LanguageModel};
use murmur_core::llm::sampler::SamplerConfig;
use murmur_core::refine::{RefineMode, RefineOptions, refine, refine_prompt};
use murmur_tests::smollm2_gguf;

/// Transcripts as Whisper writes them (the speech fixtures' texts and dictation-like
/// ones with fillers and repeats), cased and punctuated.
const TRANSCRIPTS: &[&str] = &[
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    "He was not an ill-disposed young man.",
    "Um, so I think we should, uh, move the the meeting to Thursday, you know, because the team is is busy on Wednesday.",
    "What is the capital of France?",
    "Okay, so the plan is, first we finish the report, then we send it to Maria, and then, uh, we we book the flights for the conference in Berlin.",
];

fn tiny(name: &str) -> Box<dyn LanguageModel + Send> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("goldens/llm")
        .join(name);
    let (config, mut weights) = load_safetensors_dir(&dir).unwrap();
    models::build(&config, &mut weights).unwrap()
}

fn run(
    model: &dyn LanguageModel,
    prompt: &[u32],
    opts: &GenerateOptions,
) -> (Vec<u32>, GenerationStats) {
    generate(
        model,
        prompt,
        &HashSet::new(),
        opts,
        &CancelToken::new(),
        |_| Ok(Flow::Continue),
    )
    .unwrap()
}

/// Drafting wherever a match is found: the adaptive policy drafts little on this CPU,
/// and these tests are about what drafting does.
fn eager() -> PromptLookup {
    PromptLookup {
        max_draft: 6,
        adaptive: false,
        ..PromptLookup::default()
    }
}

fn with_lookup(opts: &GenerateOptions) -> GenerateOptions {
    GenerateOptions {
        lookup: Some(eager()),
        ..opts.clone()
    }
}

#[test]
fn greedy_refines_are_token_for_token_those_of_plain_decoding() {
    let model = ChatModel::load(&smollm2_gguf()).unwrap();
    let cancel = CancelToken::new();
    let mut accepted = 0;
    // The refine default (penalty 1.15) on every transcript; no penalty on two.
    let cases = TRANSCRIPTS
        .iter()
        .map(|t| (1.15, t))
        .chain(TRANSCRIPTS[..2].iter().map(|t| (1.0, t)));
    for (penalty, text) in cases {
        let opts = RefineOptions {
            temperature: 0.0,
            repetition_penalty: penalty,
            prompt_lookup: false,
            max_tokens: Some(64),
            ..RefineOptions::default()
        };
        let plain = refine(&model, text, &opts, &cancel, &mut |_| {}).unwrap();
        assert_eq!(plain.stats.draft.verify_steps, 0);
        // The refine's own prompt, drafted wherever a match is found.
        let (messages, _) = refine_prompt(&opts, text);
        let generate = GenerateOptions {
            max_tokens: 64,
            sampler: opts.sampler(),
            lookup: Some(eager()),
            ..GenerateOptions::default()
        };
        let mut streamed = String::new();
        let fast = model
            .chat(&messages, false, &generate, &cancel, &mut |t| {
                streamed.push_str(t)
            })
            .unwrap();
        assert_eq!(fast.text.trim(), plain.text, "penalty {penalty}: {text}");
        assert_eq!(streamed, fast.text);
        assert_eq!(
            (fast.stats.generated_tokens, fast.stats.stop_reason),
            (plain.stats.generated_tokens, plain.stats.stop_reason),
            "{text}"
        );
        let d = fast.stats.draft;
        assert!(d.verify_steps > 0 && d.accepted <= d.drafted, "{d:?}");
        accepted += d.accepted;
        // Refine's own (adaptive) lookup: the same text.
        let adaptive = RefineOptions {
            prompt_lookup: true,
            ..opts.clone()
        };
        let r = refine(&model, text, &adaptive, &cancel, &mut |_| {}).unwrap();
        assert_eq!(r.text, plain.text, "adaptive, penalty {penalty}: {text}");
    }
    // A cleanup copies its input: many tokens come from accepted drafts.
    assert!(accepted > 40, "only {accepted} drafted tokens accepted");
}

#[test]
fn greedy_lookup_matches_plain_decoding_on_every_architecture() {
    // Repetitive prompts, so drafts are made from the prompt and from the output
    // (random weights fall into loops at temperature 0, which drafts then predict).
    let prompts: [Vec<u32>; 3] = [
        [5, 17, 99, 230, 5, 17, 99, 230, 5, 17].to_vec(),
        (0..40).map(|i| (i * 37 % 200) as u32 + 3).collect(),
        [
            11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 11, 12, 13, 14, 15, 16, 17, 18, 11, 12,
        ]
        .to_vec(),
    ];
    for name in ["qwen3", "llama", "gemma3", "qwen2", "qwen3-bf16"] {
        let model = tiny(name);
        let mut accepted = 0;
        for prompt in &prompts {
            for penalty in [1.0, 1.3] {
                let plain = GenerateOptions {
                    max_tokens: 48,
                    ignore_eos: true,
                    sampler: SamplerConfig {
                        repetition_penalty: penalty,
                        ..SamplerConfig::default()
                    },
                    ..GenerateOptions::default()
                };
                let (want, _) = run(model.as_ref(), prompt, &plain);
                let (got, stats) = run(model.as_ref(), prompt, &with_lookup(&plain));
                assert_eq!(got, want, "{name}, penalty {penalty}, prompt {prompt:?}");
                assert_eq!(stats.generated_tokens, 48);
                assert_eq!(stats.stop_reason, StopReason::MaxTokens);
                accepted += stats.draft.accepted;
            }
        }
        assert!(accepted > 0, "{name}: no draft was ever accepted");
    }
}

#[test]
fn lookup_stops_exactly_where_plain_decoding_does() {
    let model = tiny("qwen3");
    let prompt: Vec<u32> = [7, 8, 9, 10].repeat(6);
    let base = GenerateOptions {
        ignore_eos: true,
        ..GenerateOptions::default()
    };
    let (long, _) = run(
        model.as_ref(),
        &prompt,
        &GenerateOptions {
            max_tokens: 64,
            ..base.clone()
        },
    );
    // Every budget: never a token more, and the same tokens.
    for max_tokens in [1, 2, 3, 5, 8, 13, 21] {
        let opts = with_lookup(&GenerateOptions {
            max_tokens,
            ..base.clone()
        });
        let (got, s) = run(model.as_ref(), &prompt, &opts);
        assert_eq!(got, long[..max_tokens], "max_tokens {max_tokens}");
        assert_eq!(s.stop_reason, StopReason::MaxTokens);
    }
    // End-of-sequence inside an accepted draft ends there, not with it.
    let eos_at = 9;
    let eos: HashSet<u32> = [long[eos_at]].into();
    let stop = long[..eos_at]
        .iter()
        .position(|t| eos.contains(t))
        .unwrap_or(eos_at);
    let opts = with_lookup(&GenerateOptions {
        max_tokens: 64,
        ignore_eos: false,
        ..GenerateOptions::default()
    });
    let (got, s) = generate(
        model.as_ref(),
        &prompt,
        &eos,
        &opts,
        &CancelToken::new(),
        |_| Ok(Flow::Continue),
    )
    .unwrap();
    assert_eq!(got, long[..stop]);
    assert_eq!(s.stop_reason, StopReason::Eos);
    // A callback's stop, mid-draft.
    let mut seen = 0;
    let (got, s) = generate(
        model.as_ref(),
        &prompt,
        &HashSet::new(),
        &with_lookup(&GenerateOptions {
            max_tokens: 64,
            ..base.clone()
        }),
        &CancelToken::new(),
        |_| {
            seen += 1;
            Ok(if seen == 6 {
                Flow::Stop
            } else {
                Flow::Continue
            })
        },
    )
    .unwrap();
    assert_eq!(got, long[..6]);
    assert_eq!(s.stop_reason, StopReason::Stopped);
    // Cancelled before the first token.
    let cancel = CancelToken::new();
    cancel.cancel();
    let (got, s) = generate(
        model.as_ref(),
        &prompt,
        &HashSet::new(),
        &opts,
        &cancel,
        |_| Ok(Flow::Continue),
    )
    .unwrap();
    assert!(got.is_empty());
    assert_eq!(s.stop_reason, StopReason::Cancelled);
}

/// Pearson's chi-square statistic of two samples' counts over the same categories
/// (categories rare in both are pooled), and its degrees of freedom.
fn chi_square(a: &BTreeMap<Vec<u32>, usize>, b: &BTreeMap<Vec<u32>, usize>) -> (f64, usize) {
    let (na, nb) = (
        a.values().sum::<usize>() as f64,
        b.values().sum::<usize>() as f64,
    );
    let keys: std::collections::BTreeSet<&Vec<u32>> = a.keys().chain(b.keys()).collect();
    let mut cells: Vec<(f64, f64)> = Vec::new();
    let mut pooled = (0.0, 0.0);
    for k in keys {
        let x = *a.get(k).unwrap_or(&0) as f64;
        let y = *b.get(k).unwrap_or(&0) as f64;
        if x + y < 10.0 {
            pooled.0 += x;
            pooled.1 += y;
        } else {
            cells.push((x, y));
        }
    }
    if pooled.0 + pooled.1 > 0.0 {
        cells.push(pooled);
    }
    let mut stat = 0.0;
    for (x, y) in &cells {
        let total = x + y;
        let ea = total * na / (na + nb);
        let eb = total * nb / (na + nb);
        stat += (x - ea).powi(2) / ea + (y - eb).powi(2) / eb;
    }
    (stat, cells.len().saturating_sub(1))
}

/// The chi-square value a true null exceeds with probability 0.001 (Wilson-Hilferty).
fn critical(df: usize) -> f64 {
    let k = df.max(1) as f64;
    let z = 3.09;
    k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
}

/// How often each generated prefix of length `len` occurs over `n` seeded samples.
fn distribution(
    model: &dyn LanguageModel,
    prompt: &[u32],
    sampler: &SamplerConfig,
    lookup: bool,
    n: u64,
    len: usize,
) -> (BTreeMap<Vec<u32>, usize>, usize) {
    let mut counts = BTreeMap::new();
    let mut accepted = 0;
    for seed in 0..n {
        let opts = GenerateOptions {
            max_tokens: len,
            ignore_eos: true,
            sampler: SamplerConfig {
                // Disjoint seeds on each side: the samples are independent.
                seed: Some(seed + if lookup { 1 << 32 } else { 0 }),
                ..sampler.clone()
            },
            lookup: lookup.then(eager),
            ..GenerateOptions::default()
        };
        let (tokens, stats) = run(model, prompt, &opts);
        accepted += stats.draft.accepted;
        *counts.entry(tokens).or_insert(0) += 1;
    }
    (counts, accepted)
}

#[test]
fn sampled_lookup_keeps_the_models_distribution() {
    // A tiny model that falls into loops (random weights), two likely tokens per step
    // (top-k 2) and a repetition penalty: drafts from its own output are often right
    // and often wrong, and the penalty windows of drafted positions matter.
    let model = tiny("qwen3");
    let prompt = [40; 6];
    let sampler = SamplerConfig {
        temperature: 0.7,
        top_k: 2,
        repetition_penalty: 1.1,
        repetition_context: 8,
        ..SamplerConfig::default()
    };
    let (n, len) = (600, 6);
    let (plain, _) = distribution(model.as_ref(), &prompt, &sampler, false, n, len);
    let (fast, accepted) = distribution(model.as_ref(), &prompt, &sampler, true, n, len);
    assert!(
        accepted > n as usize / 4,
        "drafts were rarely accepted ({accepted} in {n} runs): the test would not see a bias"
    );
    let (stat, df) = chi_square(&plain, &fast);
    assert!(
        df >= 3 && stat < critical(df),
        "lookup changed the distribution of {len}-token continuations: chi2 {stat:.1} vs {:.1} (df {df})",
        critical(df)
    );
    // The test sees a bias of the kind a wrong loop would have: decoding that left
    // the repetition penalty out is told apart.
    let unpenalised = SamplerConfig {
        repetition_penalty: 1.0,
        ..sampler.clone()
    };
    let (other, _) = distribution(model.as_ref(), &prompt, &unpenalised, false, n, len);
    let (stat, df) = chi_square(&plain, &other);
    assert!(
        stat > critical(df),
        "the test cannot tell penalty 1.1 from none: chi2 {stat:.1} (df {df})"
    );
}

#[test]
fn a_refine_mode_prefills_its_prompt_start_once_per_model() {
    let model = ChatModel::load(&smollm2_gguf()).unwrap();
    let opts = RefineOptions {
        temperature: 0.0,
        max_tokens: Some(24),
        ..RefineOptions::default()
    };
    let cancel = CancelToken::new();
    let text = TRANSCRIPTS[2];
    assert!(model.prefix_cache().is_empty());
    let first = refine(&model, text, &opts, &cancel, &mut |_| {}).unwrap();
    assert_eq!(first.stats.cached_prompt_tokens, 0);
    assert_eq!(model.prefix_cache().len(), 1);
    // Another transcript in the same mode: the template, system prompt and task line
    // come from the cache, and the text is what an uncached model writes.
    let second = refine(&model, TRANSCRIPTS[4], &opts, &cancel, &mut |_| {}).unwrap();
    let shared = second.stats.cached_prompt_tokens;
    assert!(
        shared > 30 && shared < second.stats.prompt_tokens,
        "{shared} of {} prompt tokens cached",
        second.stats.prompt_tokens
    );
    let fresh = ChatModel::load(&smollm2_gguf()).unwrap();
    let want = refine(&fresh, TRANSCRIPTS[4], &opts, &cancel, &mut |_| {}).unwrap();
    assert_eq!(second.text, want.text);
    assert_eq!(want.stats.cached_prompt_tokens, 0);
    // The first text again, now from the cache: unchanged.
    let again = refine(&model, text, &opts, &cancel, &mut |_| {}).unwrap();
    assert_eq!(again.text, first.text);
    assert_eq!(again.stats.cached_prompt_tokens, shared);
    assert_eq!(model.prefix_cache().len(), 1);
    // Another mode has a start of its own.
    let grammar = RefineOptions {
        mode: RefineMode::FixGrammar,
        ..opts.clone()
    };
    refine(&model, text, &grammar, &cancel, &mut |_| {}).unwrap();
    assert_eq!(model.prefix_cache().len(), 2);
    let r = refine(&model, TRANSCRIPTS[0], &grammar, &cancel, &mut |_| {}).unwrap();
    assert!(r.stats.cached_prompt_tokens > 30);
    model.prefix_cache().clear();
    let r = refine(&model, text, &opts, &cancel, &mut |_| {}).unwrap();
    assert_eq!((r.stats.cached_prompt_tokens, r.text), (0, first.text));
}
