//! Chat templates of real models rendered exactly as transformers' `apply_chat_template`
//! renders them (goldens from scripts/goldens/chat_templates.py).

use murmur_core::llm::chat_template::{ChatTemplate, Message, default_chatml};
use murmur_core::llm::load::gguf::GgufHeader;
use murmur_core::llm::thinking::strip_thinking;
use murmur_tests::{fixture, smollm2_gguf};
use serde_json::Value as Json;

fn golden(name: &str) -> Json {
    murmur_tests::golden_json(&format!("chat_templates/{name}"))
}

fn messages(case: &Json) -> Vec<Message> {
    case["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect()
}

/// Render every golden case and compare exactly; returns how many were checked.
fn check(template: &ChatTemplate, golden: &Json) -> usize {
    let cases = golden["cases"].as_array().unwrap();
    for case in cases {
        let got = template
            .render(
                &messages(case),
                case["add_generation_prompt"].as_bool().unwrap(),
                case.get("enable_thinking").and_then(Json::as_bool),
            )
            .unwrap_or_else(|e| panic!("case {}: {e}", case["name"]));
        assert_eq!(
            got,
            case["expected"].as_str().unwrap(),
            "case {}",
            case["name"]
        );
    }
    cases.len()
}

#[test]
fn qwen3_template_matches_transformers() {
    let golden = golden("qwen3.json");
    let template =
        ChatTemplate::from_tokenizer_config(&fixture("qwen3-tokenizer/tokenizer_config.json"))
            .unwrap();
    assert!(!template.is_fallback());
    assert_eq!(template.source().len(), 4116);
    assert_eq!(template.eos_token(), golden["eos_token"].as_str());
    assert_eq!(template.bos_token(), None);
    assert_eq!(check(&template, &golden), 16);
}

#[test]
fn smollm2_gguf_template_matches_transformers() {
    let golden = golden("smollm2.json");
    let header = GgufHeader::read(smollm2_gguf()).unwrap();
    let template = ChatTemplate::from_gguf(&header).unwrap();
    assert!(!template.is_fallback());
    assert_eq!(template.bos_token(), golden["bos_token"].as_str());
    assert_eq!(template.eos_token(), golden["eos_token"].as_str());
    assert_eq!(check(&template, &golden), 5);
}

#[test]
fn chat_template_jinja_takes_precedence_over_the_config() {
    // Newer HF repos keep the template in chat_template.jinja; transformers prefers it.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenizer_config.json");
    std::fs::copy(fixture("qwen3-tokenizer/tokenizer_config.json"), &config).unwrap();
    let header = GgufHeader::read(smollm2_gguf()).unwrap();
    let smollm2_source = header
        .get("tokenizer.chat_template")
        .unwrap()
        .as_str()
        .unwrap();
    std::fs::write(dir.path().join("chat_template.jinja"), smollm2_source).unwrap();
    let template = ChatTemplate::from_tokenizer_config(&config).unwrap();
    assert_eq!(template.source(), smollm2_source);
    // SmolLM2's template, Qwen3's special tokens.
    assert_eq!(template.eos_token(), Some("<|im_end|>"));
    let golden = golden("smollm2.json");
    assert_eq!(check(&template, &golden), 5);
}

#[test]
fn chatml_fallback_matches_qwen3_without_a_system_prompt() {
    // The Qwen3 template without system prompt and thinking options is plain ChatML.
    let golden = golden("qwen3.json");
    let case = golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "user_only")
        .unwrap();
    let got = default_chatml()
        .render(&messages(case), true, None)
        .unwrap();
    assert_eq!(got, case["expected"].as_str().unwrap());
}

#[test]
fn strip_thinking_recovers_qwen3_answers() {
    // What Qwen3 writes after the prompts above, with thinking off and on.
    assert_eq!(strip_thinking("<think>\n\n</think>\n\nRome."), "Rome.");
    assert_eq!(
        strip_thinking(
            "<think>\nThe user asks about Italy. Its capital is Rome.\n</think>\n\nRome."
        ),
        "Rome."
    );
    assert_eq!(
        strip_thinking("<think>\nStill thinking when max_tokens hit"),
        ""
    );
}
