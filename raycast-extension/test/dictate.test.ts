/**
 * The pure logic of Dictate Audio File and Manage Vocabulary (src/lib/{edits,dictate,
 * vocabulary}.ts, the dictation parts of engine.ts and errors.ts): undoing edits by
 * character offsets, the stream's lines, the request body, progress, timings, warnings,
 * the vocabulary's answer and forms, and the audio_too_long failure.
 * The edits are the core's own (core/src/dictate/edits.rs's tests).
 */
import { describe, expect, it } from "vitest";
import { MurmurError, dictateRequestBody, parseDictateLine } from "../src/lib/engine";
import type { DictateResult, Edit } from "../src/lib/engine";
import {
  charSlice,
  editMarkdown,
  editSpans,
  editTitle,
  editsMarkdown,
  editsMatch,
  escapeMarkdown,
  highlightSpan,
  revertEdits,
  undoEdit,
} from "../src/lib/edits";
import {
  audioText,
  dictateProgressText,
  formatSeconds,
  sentence,
  stageLine,
  stagesOf,
  timingRows,
  warningTitle,
  warningsMarkdown,
} from "../src/lib/dictate";
import { describeError } from "../src/lib/errors";
import {
  addOutcomeTitle,
  entryError,
  importSummaryText,
  parseVocabulary,
  removalMessage,
  removalPreview,
  validateImport,
  validateReplacement,
  validateTerm,
} from "../src/lib/vocabulary";

const edit = (
  kind: Edit["kind"],
  [before_start, before_end]: [number, number],
  [after_start, after_end]: [number, number],
  before: string,
  after: string,
): Edit => ({ kind, before_start, before_end, after_start, after_end, before, after });

// "um so what is the capital of france" → "So, what is the capital of France?"
const capital = {
  transcript: "um so what is the capital of france",
  text: "So, what is the capital of France?",
  edits: [edit("replace", [0, 5], [0, 3], "um so", "So,"), edit("replace", [29, 35], [27, 34], "france", "France?")],
};
// "ask not what" → "ask what you": a deletion and an insertion, with their spaces.
const ask = {
  transcript: "ask not what",
  text: "ask what you",
  edits: [edit("delete", [4, 8], [4, 4], "not ", ""), edit("insert", [12, 12], [8, 12], "", " you")],
};
// Characters, not UTF-16 units: 🎉 is one character and two units.
const emoji = {
  transcript: "café crème brûlée 🎉 ok",
  text: "Café crème brûlée 🎉 OK.",
  edits: [edit("replace", [0, 4], [0, 4], "café", "Café"), edit("replace", [20, 22], [20, 23], "ok", "OK.")],
};

describe("edits, by character offsets", () => {
  it("the edits match their texts", () => {
    for (const c of [capital, ask, emoji]) expect(editsMatch(c.text, c.edits)).toBe(true);
    // UTF-16 offsets would be one off after the emoji.
    expect(emoji.text.slice(20, 23)).not.toBe("OK.");
    expect(charSlice(emoji.text, 20, 23)).toBe("OK.");
    expect(editsMatch("So, what is the capital of Spain?", capital.edits)).toBe(false);
    expect(editsMatch(capital.text, [capital.edits[1], capital.edits[0]])).toBe(false);
  });

  it("undoing every edit gives the transcript back", () => {
    expect(revertEdits(ask.text, ask.edits, [0, 1])).toBe(ask.transcript);
    expect(revertEdits(emoji.text, emoji.edits, [1, 0])).toBe(emoji.transcript);
    expect(revertEdits(capital.text, capital.edits, [0, 1]).split(/\s+/).join(" ")).toBe(capital.transcript);
    expect(revertEdits(capital.text, capital.edits, [])).toBe(capital.text);
  });

  it("undoing one edit reverts it alone, after an emoji too", () => {
    expect(undoEdit(emoji.text, emoji.edits, 1)).toBe("Café crème brûlée 🎉 ok");
    expect(undoEdit(emoji.text, emoji.edits, 0)).toBe("café crème brûlée 🎉 OK.");
    expect(undoEdit(capital.text, capital.edits, 1)).toBe("So, what is the capital of france");
    expect(undoEdit(capital.text, capital.edits, 0)).toBe("um so what is the capital of France?");
    // A deletion puts the word back with its space; an insertion leaves with its own.
    expect(undoEdit(ask.text, ask.edits, 0)).toBe("ask not what you");
    expect(undoEdit(ask.text, ask.edits, 1)).toBe("ask what");
    // Indexes out of range and repeats are ignored.
    expect(revertEdits(ask.text, ask.edits, [1, 1, 7, -1])).toBe("ask what");
  });

  it("finds each edit in the text with some edits undone", () => {
    const at = (text: string, s: { start: number; end: number }) => charSlice(text, s.start, s.end);
    const kept = editSpans(capital.edits, []);
    expect(kept.map((s) => at(capital.text, s))).toEqual(["So,", "France?"]);
    const first = revertEdits(capital.text, capital.edits, [0]);
    const spans = editSpans(capital.edits, [0]);
    expect(spans.map((s) => at(first, s))).toEqual(["um so", "France?"]);
    const e = revertEdits(emoji.text, emoji.edits, [1]);
    expect(editSpans(emoji.edits, [1]).map((s) => at(e, s))).toEqual(["Café", "ok"]);
    // A kept deletion is an empty span where the words were.
    expect(editSpans(ask.edits, [])[0]).toEqual({ start: 4, end: 4 });
    expect(editSpans(ask.edits, [0])[1]).toEqual({ start: 12, end: 16 });
  });

  it("shows edits as text and Markdown", () => {
    expect(ask.edits.map(editTitle)).toEqual(["Removed “not”", "Added “you”"]);
    expect(editTitle(capital.edits[1])).toBe("“france” → “France?”");
    expect(editMarkdown(capital.edits[0])).toBe("~~um so~~ → **So,**");
    expect(editMarkdown(ask.edits[0])).toBe("~~not~~");
    expect(editMarkdown(ask.edits[1])).toBe("＋ **you**");
    expect(editsMarkdown(capital.edits, [1])).toBe("- ~~um so~~ → **So,**\n- ~~france~~ → **France?** _(undone)_");
    expect(escapeMarkdown("*a* _b_ ~~c~~ [d](e)")).toBe("\\*a\\* \\_b\\_ \\~\\~c\\~\\~ \\[d\\]\\(e\\)");
    expect(highlightSpan(capital.text, { start: 27, end: 34 })).toBe("So, what is the capital of **France?**");
    expect(highlightSpan(ask.text, { start: 8, end: 12 })).toBe("ask what **you**");
    expect(highlightSpan(ask.text, { start: 4, end: 4 })).toBe("ask **‸**what you");
  });
});

const result: DictateResult = {
  text: capital.text,
  transcript: capital.transcript,
  language: "en",
  edits: capital.edits,
  timings: {
    decode_audio_secs: 0.012,
    vad_secs: 0.2,
    transcribe_secs: 3.456,
    refine_secs: 0,
    total_secs: 3.7,
    finish_secs: 3.7,
  },
  warnings: [],
  audio_secs: 11,
  speech_secs: 9.4,
  segments: [{ id: 0, start: 0, end: 3, text: capital.transcript }],
  speech_model: "whisper-test",
  text_model: null,
  refine_stats: null,
};

describe("the dictation stream and request", () => {
  it("reads the spec's event lines", () => {
    expect(parseDictateLine({ event: "stage", stage: "transcribing" })).toEqual({
      kind: "event",
      event: { type: "stage", stage: "transcribing" },
    });
    expect(parseDictateLine({ event: "duration", seconds: 11 })).toEqual({
      kind: "event",
      event: { type: "duration", seconds: 11 },
    });
    expect(parseDictateLine({ event: "segment", id: 0, start: 0, end: 3, text: " hi" })).toEqual({
      kind: "event",
      event: { type: "segment", segment: { id: 0, start: 0, end: 3, text: " hi" } },
    });
    expect(parseDictateLine({ event: "text", delta: "So," })).toEqual({
      kind: "event",
      event: { type: "text", delta: "So," },
    });
    expect(parseDictateLine({ event: "progress", elapsed: 1.5 })).toEqual({
      kind: "event",
      event: { type: "progress", elapsed: 1.5 },
    });
    expect(parseDictateLine({ event: "someday", x: 1 })).toEqual({ kind: "other" });
  });

  it("reads the result inline or nested, tagged `event` or `type`", () => {
    const inline = parseDictateLine({ event: "result", ...result });
    expect(inline).toEqual({ kind: "result", result });
    expect(parseDictateLine({ type: "done", ...result })).toEqual({ kind: "result", result });
    expect(parseDictateLine({ type: "done", result })).toEqual({ kind: "result", result });
    // Lists left out read as empty.
    const lean = parseDictateLine({ event: "result", text: "hi", transcript: "hi" });
    expect(lean.kind === "result" && [lean.result.edits, lean.result.warnings, lean.result.timings.total_secs]).toEqual(
      [[], [], 0],
    );
  });

  it("reads an error line, nested or inline", () => {
    const nested = parseDictateLine({
      type: "error",
      error: { kind: "audio_too_long", message: "too long", status: 413, seconds: 400, limit_secs: 360 },
    });
    const inline = parseDictateLine({ event: "error", kind: "busy", message: "busy", status: 409 });
    expect(
      nested.kind === "error" && [nested.error.kind, nested.error.status, nested.error.details.limit_secs],
    ).toEqual(["audio_too_long", 413, 360]);
    expect(inline.kind === "error" && [inline.error.kind, inline.error.status]).toEqual(["busy", 409]);
  });

  it("builds the body: defaults left out, stages turned off with null", () => {
    expect(dictateRequestBody("/a.wav")).toEqual({ path: "/a.wav", stream: true });
    expect(
      dictateRequestBody("/a.wav", {
        speechModel: " whisper-test ",
        textModel: "smollm2",
        language: "en",
        refine: false,
        vad: false,
        vocabulary: false,
        appName: "Mail",
        selectedText: "Dear Ann,",
      }),
    ).toEqual({
      path: "/a.wav",
      stream: true,
      speech_model: "whisper-test",
      text_model: "smollm2",
      transcribe: { language: "en" },
      refine: null,
      vad: null,
      vocabulary: false,
      app_name: "Mail",
      selected_text: "Dear Ann,",
    });
    expect(dictateRequestBody("/a.wav", { refine: true, vad: true, appName: "  ", language: "" })).toEqual({
      path: "/a.wav",
      stream: true,
    });
  });
});

describe("the Dictate view's text", () => {
  it("says the stage, the position and what loads", () => {
    const p = { refine: true, vad: true };
    expect(dictateProgressText(p)).toBe("Starting…");
    expect(dictateProgressText({ ...p, stage: "decoding_audio" })).toBe("Reading the audio…");
    expect(dictateProgressText({ ...p, stage: "detecting_speech", duration: 65 })).toBe(
      "Finding the speech in 01:05 of audio…",
    );
    expect(dictateProgressText({ ...p, stage: "transcribing", loading: "whisper-test" })).toBe("Loading whisper-test…");
    expect(dictateProgressText({ ...p, stage: "transcribing", duration: 20, position: 5 })).toBe(
      "Transcribing… 00:05 of 00:20 (25%)",
    );
    expect(dictateProgressText({ ...p, stage: "refining" })).toBe("Cleaning up…");
    // The seconds the stage has taken, from the stream's heartbeat.
    expect(dictateProgressText({ ...p, stage: "refining", elapsed: 12.7, stageStart: 9.5 })).toBe("Cleaning up… 3 s");
    expect(dictateProgressText({ ...p, stage: "transcribing", elapsed: 0.6 })).toBe("Transcribing…");
    expect(dictateProgressText({ ...p, stage: "transcribing", elapsed: 4.2, loading: "whisper-test" })).toBe(
      "Loading whisper-test… 4 s",
    );
  });

  it("lists the stages that run", () => {
    expect(stagesOf({ refine: false, vad: true })).toEqual(["decoding_audio", "detecting_speech", "transcribing"]);
    expect(stagesOf({ refine: true, vad: false })).toEqual(["decoding_audio", "transcribing", "refining"]);
    expect(stageLine({ refine: true, vad: true, stage: "transcribing" })).toBe(
      "✓ Read Audio  ·  ✓ Find Speech  ·  ◉ Transcribe  ·  ○ Clean Up",
    );
    expect(stageLine({ refine: false, vad: false })).toBe("○ Read Audio  ·  ○ Transcribe");
  });

  it("formats the timings, leaving out the stages that did not run", () => {
    expect([formatSeconds(0.012), formatSeconds(3.456), formatSeconds(65.4), formatSeconds(NaN)]).toEqual([
      "0.01 s",
      "3.5 s",
      "1 min 05 s",
      "–",
    ]);
    expect(timingRows(result.timings)).toEqual([
      { title: "Read Audio", text: "0.01 s" },
      { title: "Find Speech", text: "0.20 s" },
      { title: "Transcribe", text: "3.5 s" },
      { title: "Total", text: "3.7 s" },
    ]);
    expect(audioText(result)).toBe("11.0 s, 9.4 s of speech");
    expect(audioText({ audio_secs: 5, speech_secs: 5 })).toBe("5.0 s");
  });

  it("titles the warnings, known or new", () => {
    const w = [
      { code: "cleanup_rejected", message: "The cleanup answered instead of editing; the transcript is used." },
      { code: "brand_new_thing", message: "Something new." },
    ];
    expect(w.map(warningTitle)).toEqual(["Cleanup not used", "Brand new thing"]);
    expect(sentence("the cleanup stopped at its budget")).toBe("The cleanup stopped at its budget.");
    expect(sentence("Done!")).toBe("Done!");
    expect(warningsMarkdown(w)).toBe(
      "> **⚠︎ Cleanup not used.** The cleanup answered instead of editing; the transcript is used.\n>\n> **⚠︎ Brand new thing.** Something new.",
    );
    expect(warningsMarkdown([])).toBe("");
  });

  it("a recording too long offers Transcribe Instead and another file, not Retry", () => {
    const e = new MurmurError(
      "audio_too_long",
      "the audio is 400 s or longer; this machine dictates at most 360 s (its memory tier's limit)",
      413,
      { seconds: 400, limit_secs: 360 },
    );
    const f = describeError(e, { retryable: true, audioFile: true, transcribe: true });
    expect(f.title).toBe("Recording too long");
    expect(f.actions).toEqual(["transcribe-instead", "choose-file", "copy-error"]);
    expect(f.message).toContain("06:40");
    expect(f.message).toContain("at most 06:00");
    // Without the numbers, the daemon's sentence.
    const bare = describeError(new MurmurError("audio_too_long", "too long for this Mac", 413));
    expect([bare.message, bare.actions]).toEqual(["too long for this Mac", ["copy-error"]]);
  });

  it("a route this daemon lacks says to update murmur", () => {
    const f = describeError(new MurmurError("not_found", "no route GET /v1/vocabulary", 404));
    expect(f.title).toBe("murmur serve is out of date");
    expect(f.message).toMatch(/^no route GET \/v1\/vocabulary: .*Update murmur/);
  });
});

describe("the vocabulary", () => {
  const v = {
    terms: ["Dashwood", "Murmur.app", "macOS"],
    replacements: [
      { spoken: "murmur dot app", written: "Murmur.app" },
      { spoken: "dash would", written: "Dashwood" },
    ],
  };

  it("reads the daemon's answer defensively", () => {
    expect(parseVocabulary(v)).toEqual(v);
    expect(parseVocabulary({})).toEqual({ terms: [], replacements: [] });
    expect(parseVocabulary(null)).toEqual({ terms: [], replacements: [] });
    expect(
      parseVocabulary({ terms: ["a", 3, null], replacements: [{ spoken: "x" }, { spoken: "y", written: "Y", n: 1 }] }),
    ).toEqual({ terms: ["a"], replacements: [{ spoken: "y", written: "Y" }] });
  });

  it("previews what a removal takes, as the daemon matches", () => {
    expect(removalPreview(v, " murmur.APP ")).toEqual({
      terms: ["Murmur.app"],
      replacements: [{ spoken: "murmur dot app", written: "Murmur.app" }],
    });
    expect(removalPreview(v, "Dash   Would")).toEqual({
      terms: [],
      replacements: [{ spoken: "dash would", written: "Dashwood" }],
    });
    expect(removalMessage(removalPreview(v, "macos"))).toBe("This removes the term “macOS”.");
    expect(removalMessage(removalPreview(v, "Dashwood"))).toBe(
      "This removes the term “Dashwood”, “dash would” → Dashwood.",
    );
  });

  it("words the toasts", () => {
    expect(addOutcomeTitle("added", "“Dashwood”")).toBe("Added “Dashwood”");
    expect(addOutcomeTitle("unchanged", "“Dashwood”")).toBe("“Dashwood” was already there");
    expect(importSummaryText({ terms_added: 2, replacements_added: 1, updated: 1, unchanged: 3 })).toBe(
      "2 terms and 1 replacement added, 1 updated, 3 unchanged",
    );
    expect(importSummaryText({ terms_added: 0, replacements_added: 0, updated: 0, unchanged: 0 })).toBe(
      "No entries in the file",
    );
  });

  it("checks the forms as the core checks entries", () => {
    expect(validateTerm({ term: " " }).term).toBe("Enter the word or phrase");
    expect(validateTerm({ term: "Dashwood" }).term).toBeUndefined();
    expect(entryError("a".repeat(100), "x")).toBeUndefined();
    expect(entryError("🎉".repeat(100), "x")).toBeUndefined();
    expect(entryError("a".repeat(101), "x")).toBe("At most 100 characters");
    expect(entryError("two\nlines", "x")).toBe("No tabs, line breaks or invisible marks");
    expect(entryError("evil\u202Eppa", "x")).toBe("No tabs, line breaks or invisible marks");
    expect(validateReplacement({ spoken: "murmur dot app", written: "" })).toEqual({
      spoken: undefined,
      written: "Enter what to write",
    });
    expect(validateReplacement({ spoken: "same", written: "same" }).written).toMatch(/other than/);
    expect(validateReplacement({ spoken: "mac os", written: "macOS" })).toEqual({
      spoken: undefined,
      written: undefined,
    });
    const size = (f: string) => ({ "/small.csv": 20, "/big.csv": 2 << 20 })[f];
    expect(validateImport({ file: [] }, size).file).toBe("Choose a CSV file");
    expect(validateImport({ file: ["/none.csv"] }, size).file).toBe("This file does not exist");
    expect(validateImport({ file: ["/big.csv"] }, size).file).toBe("The file is larger than 1 MB");
    expect(validateImport({ file: ["/small.csv"] }, size)).toEqual({});
  });
});
