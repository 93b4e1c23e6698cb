/**
 * The pure logic of the commands (src/lib/{models,outcome,errors,progress,validation}.ts):
 * the model precedence, how results are marked, which actions a failure offers, the
 * progress text of a transcription and the forms' validation.
 */
import { describe, expect, it } from "vitest";
import { MurmurError } from "../src/lib/engine";
import type { ModelStatus } from "../src/lib/engine";
import { describeError, dedupeMessage, failureLine } from "../src/lib/errors";
import {
  chooseModel,
  defaultAction,
  explicitChoice,
  kindOf,
  listens,
  modelRow,
  setDefaultNote,
} from "../src/lib/models";
import {
  isIncomplete,
  nextTokenBudget,
  outcomeMarker,
  outcomeMarkdown,
  outcomeTitle,
  refineOutcome,
  transcribeOutcome,
} from "../src/lib/outcome";
import { phaseFromStatus, positionText, progressFraction, progressText } from "../src/lib/progress";
import { hasErrors, validateRefine, validateTranscribe } from "../src/lib/validation";

function model(id: string, over: Partial<ModelStatus> = {}): ModelStatus {
  return {
    id,
    name: id,
    aliases: [],
    source: { kind: "hub", repo: `org/${id}`, revision: "main" },
    capabilities: ["text"],
    architecture: "llama",
    download_bytes: 1_000_000,
    ram_bytes: 2_000_000,
    description: "",
    builtin: true,
    state: "not_downloaded",
    in_use: false,
    recommended: false,
    disk_bytes: 0,
    path: null,
    progress: null,
    last_error: null,
    ...over,
  };
}
const audio = (id: string, over: Partial<ModelStatus> = {}) => model(id, { capabilities: ["audio"], ...over });

describe("model precedence (preference > Manage Models > the daemon's choice)", () => {
  it("the preference wins over Manage Models, for text and speech alike", () => {
    expect(chooseModel(" qwen3-1.7b ", "smollm2", undefined)).toEqual({ id: "qwen3-1.7b", source: "preference" });
    expect(chooseModel("whisper-small", "whisper-base", undefined)).toEqual({
      id: "whisper-small",
      source: "preference",
    });
  });

  it("an empty preference falls back to Set as Default", () => {
    expect(chooseModel("  ", "smollm2", undefined)).toEqual({ id: "smollm2", source: "manage-models" });
    expect(chooseModel(undefined, "whisper-base", undefined)).toEqual({
      id: "whisper-base",
      source: "manage-models",
    });
    expect(explicitChoice("", "")).toBeUndefined();
  });

  it("without either: the daemon's choice", () => {
    expect(chooseModel(undefined, "", "whisper-base")).toEqual({ id: "whisper-base", source: "daemon" });
    expect(chooseModel(undefined, undefined, undefined)).toEqual({ id: undefined, source: "daemon" });
  });

  it("Set as Default needs the model on disk: download first otherwise", () => {
    expect(defaultAction(model("a", { state: "downloaded" }))).toBe("set");
    expect(defaultAction(audio("w", { state: "ready" }))).toBe("set");
    expect(defaultAction(audio("w"))).toBe("download-and-set");
    expect(defaultAction(model("a", { state: "downloading" }))).toBeUndefined();
    expect(setDefaultNote("audio", "whisper-base", "whisper-small")).toMatch(
      /Speech Model preference \(whisper-small\)/,
    );
    expect(setDefaultNote("text", "smollm2", "smollm2")).toBeUndefined();
    expect(setDefaultNote("text", "smollm2", "")).toBeUndefined();
  });

  it("a local model shows its name once, and a RAM estimate", () => {
    const local = model("smollm2", {
      source: { kind: "local", path: "/models/smollm2" },
      ram_bytes: null,
      download_bytes: null,
      disk_bytes: 98_400_000,
      state: "downloaded",
    });
    expect(modelRow(local)).toEqual({
      subtitle: undefined,
      ram: { text: "RAM ~98.4 MB", tooltip: expect.stringContaining("estimated") },
    });
    expect(modelRow(model("qwen3-1.7b", { name: "Qwen3 1.7B" }))).toEqual({
      subtitle: "qwen3-1.7b",
      ram: { text: "RAM 2.0 MB", tooltip: "Memory while in use" },
    });
  });
});

describe("model kinds", () => {
  it("a model that listens is a text model that also transcribes, as the engine slots it", () => {
    const omni = model("qwen2.5-omni-3b", { capabilities: ["text", "audio"], architecture: "qwen2_5_omni" });
    expect(kindOf(omni)).toBe("text");
    expect(listens(omni)).toBe(true);
    expect(kindOf(audio("whisper-base"))).toBe("audio");
    expect(listens(audio("whisper-base"))).toBe(false);
    expect(kindOf(model("qwen3-1.7b"))).toBe("text");
    expect(listens(model("qwen3-1.7b"))).toBe(false);
  });
});

describe("result outcome and marker", () => {
  const stats = (stop_reason: "eos" | "max_tokens" | "stopped" | "cancelled") => ({
    stats: {
      prompt_tokens: 1,
      generated_tokens: 1,
      prefill_tokens_per_sec: 1,
      decode_tokens_per_sec: 1,
      stop_reason,
    },
  });

  it("a refine cut at the token limit, stopped or failed is incomplete", () => {
    expect(refineOutcome({ running: true })).toBe("running");
    expect(refineOutcome({ running: false, result: stats("eos") })).toBe("complete");
    expect(refineOutcome({ running: false, result: stats("stopped") })).toBe("complete");
    expect(refineOutcome({ running: false, result: stats("max_tokens") })).toBe("truncated");
    expect(refineOutcome({ running: false, result: stats("cancelled") })).toBe("stopped");
    expect(refineOutcome({ running: false, stopped: true })).toBe("stopped");
    expect(refineOutcome({ running: false, error: new MurmurError("daemon_died", "x") })).toBe("failed");
    expect(isIncomplete("complete")).toBe(false);
    for (const o of ["truncated", "stopped", "failed"] as const) expect(isIncomplete(o)).toBe(true);
  });

  it("a transcription is complete only with its transcript, never after Stop or an error", () => {
    expect(transcribeOutcome({ running: false, done: true })).toBe("complete");
    expect(transcribeOutcome({ running: false, done: false, stopped: true })).toBe("stopped");
    expect(transcribeOutcome({ running: false, done: false, error: new Error("x") })).toBe("failed");
  });

  it("marks the result in the Detail and the title", () => {
    expect(outcomeTitle("Make Concise", "truncated")).toBe("Make Concise (Truncated)");
    expect(outcomeTitle("jfk.wav", "stopped")).toBe("jfk.wav (Stopped)");
    expect(outcomeTitle("Make Concise", "complete")).toBe("Make Concise");
    const cut = outcomeMarker("truncated", "text", { maxTokens: 32 });
    expect(cut).toMatch(/Incomplete: cut off at the token limit \(32 tokens\)/);
    expect(cut).toMatch(/Continue/);
    expect(outcomeMarker("stopped", "transcript", { position: "00:11 of 01:00 (18%)" })).toMatch(
      /Stopped at 00:11 of 01:00 \(18%\)/,
    );
    expect(outcomeMarker("failed", "text", { failure: "murmur serve stopped", partial: true })).toMatch(
      /Failed: murmur serve stopped\.\*\* The text above is incomplete/,
    );
    expect(outcomeMarker("complete", "text")).toBe("");
    expect(outcomeMarkdown("Hello", "")).toBe("Hello");
    expect(outcomeMarkdown("Hello", "> m")).toBe("Hello\n\n---\n\n> m");
    expect(outcomeMarkdown("", "> m")).toBe("> m");
  });

  it("Continue doubles the token budget up to a cap", () => {
    expect(nextTokenBudget(32)).toBe(64);
    expect(nextTokenBudget(6000)).toBe(8192);
    expect(nextTokenBudget(8192)).toBeUndefined();
    expect(nextTokenBudget(0)).toBeUndefined();
  });
});

describe("failures and their actions", () => {
  it("does not repeat the title in the message, and offers Retry for a dead daemon", () => {
    const f = describeError(new MurmurError("daemon_unreachable", "murmur serve is not reachable (ECONNRESET)"), {
      retryable: true,
    });
    expect(f.title).toBe("murmur serve is not reachable");
    expect(f.message).toBe("No answer on its socket (ECONNRESET)");
    expect(f.message).not.toContain(f.title);
    expect(f.actions[0]).toBe("retry");
    expect(f.actions).toContain("open-preferences");
    expect(failureLine(f)).toBe("murmur serve is not reachable: No answer on its socket (ECONNRESET)");
    const died = describeError(new MurmurError("daemon_died", "murmur serve closed the stream before it finished"), {
      retryable: true,
    });
    expect(died.actions.slice(0, 2)).toEqual(["retry", "open-preferences"]);
    expect(dedupeMessage("Offline", "Offline: HF_HUB_OFFLINE is set")).toBe("HF_HUB_OFFLINE is set");
  });

  it("offers Download and Manage Models for a model that is not downloaded", () => {
    const f = describeError(
      new MurmurError("not_downloaded", "whisper-large-v3-turbo is not downloaded", 409, {
        model: "whisper-large-v3-turbo",
      }),
      { retryable: true },
    );
    expect(f.actions).toEqual(["download", "manage-models", "open-preferences"]);
    expect(f.model).toBe("whisper-large-v3-turbo");
  });

  it("offers another file for unreadable audio, Retry only where the view can retry", () => {
    expect(
      describeError(new MurmurError("audio", "x.txt: not audio"), { retryable: true, audioFile: true }).actions,
    ).toEqual(["choose-file", "retry", "copy-error"]);
    expect(describeError(new MurmurError("busy", "busy")).actions).toEqual(["copy-error"]);
    expect(describeError("boom").title).toBe("Murmur failed");
  });
});

describe("transcription progress", () => {
  it("says loading, waiting or transcribing before the first segment", () => {
    const s = { loading: null, loaded_audio: null, in_use: false };
    expect(phaseFromStatus({ ...s, loading: "whisper-base" }, "whisper-base")).toBe("loading");
    expect(phaseFromStatus(s, "whisper-base")).toBe("loading");
    expect(phaseFromStatus({ ...s, in_use: true }, "whisper-base")).toBe("queued");
    expect(phaseFromStatus({ ...s, loaded_audio: "whisper-base", in_use: true }, "whisper-base")).toBe("transcribing");
  });

  it("shows the audio position against the duration as segments arrive", () => {
    expect(progressText({ phase: "starting" })).toBe("Starting…");
    expect(progressText({ phase: "loading", model: "whisper-base" })).toBe("Loading whisper-base…");
    expect(progressText({ phase: "transcribing", duration: 300 })).toBe("Transcribing… 00:00 of 05:00 (0%)");
    expect(progressText({ phase: "transcribing", duration: 300, position: 42.5 })).toBe(
      "Transcribing… 00:42 of 05:00 (14%)",
    );
    expect(progressText({ phase: "transcribing", position: 42.5 })).toBe("Transcribing… 00:42");
    // Before the first segment: the seconds waited (the stream's progress lines).
    expect(progressText({ phase: "loading", model: "whisper-base", elapsed: 12.4 })).toBe("Loading whisper-base… 12 s");
    expect(progressText({ phase: "transcribing", duration: 300, elapsed: 3 })).toBe(
      "Transcribing… 00:00 of 05:00 (0%) 3 s",
    );
    expect(progressText({ phase: "transcribing", duration: 300, position: 30, elapsed: 9 })).toBe(
      "Transcribing… 00:30 of 05:00 (10%)",
    );
    expect(positionText(301, 300)).toBe("05:00 of 05:00 (100%)");
    expect(progressFraction({ phase: "transcribing", duration: 200, position: 50 })).toBe(0.25);
    expect(progressFraction({ phase: "transcribing", position: 50 })).toBeUndefined();
  });
});

describe("form validation", () => {
  it("Refine: text, and an instruction for Custom Prompt", () => {
    expect(validateRefine({ text: " ", mode: "clean" })).toEqual({ text: "Enter the text to refine" });
    expect(validateRefine({ text: "hi", mode: "custom", prompt: "  " })).toEqual({
      prompt: "Enter the instruction for Custom Prompt",
    });
    expect(hasErrors(validateRefine({ text: "hi", mode: "custom", prompt: "Translate" }))).toBe(false);
    expect(hasErrors(validateRefine({ text: "hi", mode: "grammar" }))).toBe(false);
  });

  it("Transcribe: a file that exists", () => {
    const exists = (f: string) => f === "/a.wav";
    expect(validateTranscribe({ file: [] }, exists)).toEqual({ file: "Choose an audio file" });
    expect(validateTranscribe({}, exists)).toEqual({ file: "Choose an audio file" });
    expect(validateTranscribe({ file: ["/b.wav"] }, exists)).toEqual({ file: "This file does not exist" });
    expect(hasErrors(validateTranscribe({ file: ["/a.wav"] }, exists))).toBe(false);
  });
});
