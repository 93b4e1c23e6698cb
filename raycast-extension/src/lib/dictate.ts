/**
 * What the Dictate view says: the stage a dictation is in while it runs, then the
 * result's warnings and per-stage timings. Pure (no `@raycast/api`), so vitest checks it.
 */
import type { DictateResult, DictateStage, DictateWarning, StageTimings } from "./engine";
import { shortTimestamp } from "./format";
import { positionText } from "./progress";

export interface DictateProgress {
  /** The stage begun last (`undefined` before the first). */
  stage?: DictateStage;
  /** The audio's length in seconds, once known. */
  duration?: number;
  /** The end of the last segment, in seconds. */
  position?: number;
  /** The model being loaded (from the daemon's status), while it loads. */
  loading?: string;
  /** Seconds since the call began (the stream's `progress` lines). */
  elapsed?: number;
  /** `elapsed` when the current stage began. */
  stageStart?: number;
  /** Whether the cleanup runs (the stage list leaves it out otherwise). */
  refine: boolean;
  /** Whether the silence is trimmed first (the stage list leaves it out otherwise). */
  vad: boolean;
}

export const STAGES: { stage: DictateStage; title: string }[] = [
  { stage: "decoding_audio", title: "Read Audio" },
  { stage: "detecting_speech", title: "Find Speech" },
  { stage: "transcribing", title: "Transcribe" },
  { stage: "refining", title: "Clean Up" },
];

/** The stages this dictation goes through. */
export function stagesOf(p: Pick<DictateProgress, "refine" | "vad">): DictateStage[] {
  return STAGES.map((s) => s.stage).filter(
    (s) => (s !== "refining" || p.refine) && (s !== "detecting_speech" || p.vad),
  );
}

/** The progress line of a running dictation. */
export function dictateProgressText(p: DictateProgress): string {
  // While a stage shows nothing else, the seconds it has taken so far show that it works.
  const secs = p.elapsed !== undefined ? p.elapsed - (p.stageStart ?? 0) : 0;
  const waited = secs >= 1 ? ` ${Math.floor(secs)} s` : "";
  const loading = p.loading ? `Loading ${p.loading}…${waited}` : undefined;
  switch (p.stage) {
    case undefined:
      return "Starting…";
    case "decoding_audio":
      return `Reading the audio…${waited}`;
    case "detecting_speech":
      return `Finding the speech${p.duration ? ` in ${shortTimestamp(p.duration)} of audio` : ""}…${waited}`;
    case "transcribing":
      if (p.position !== undefined) return `Transcribing… ${positionText(p.position, p.duration)}`;
      return loading ?? `Transcribing…${waited}`;
    case "refining":
      return loading ?? `Cleaning up…${waited}`;
    default:
      return "Working…";
  }
}

/** The stages as one line: done ✓, the current one ◉, the ones to come ○. */
export function stageLine(p: DictateProgress): string {
  const stages = stagesOf(p);
  const at = p.stage ? stages.indexOf(p.stage) : -1;
  return stages
    .map((s, i) => {
      const title = STAGES.find((x) => x.stage === s)?.title ?? s;
      return `${i < at ? "✓" : i === at ? "◉" : "○"} ${title}`;
    })
    .join("  ·  ");
}

/** Seconds for people: `0.42 s`, `3.1 s`, `1 min 05 s`. */
export function formatSeconds(secs: number): string {
  if (!Number.isFinite(secs) || secs < 0) return "–";
  if (secs < 1) return `${secs.toFixed(2)} s`;
  if (secs < 60) return `${secs.toFixed(1)} s`;
  const whole = Math.round(secs);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
}

/** The per-stage timings as metadata rows (title, text); stages that did not run are
 * left out, the total always shown. */
export function timingRows(t: StageTimings): { title: string; text: string }[] {
  const rows = [
    { title: "Read Audio", secs: t.decode_audio_secs },
    { title: "Find Speech", secs: t.vad_secs },
    { title: "Transcribe", secs: t.transcribe_secs },
    { title: "Clean Up", secs: t.refine_secs },
  ]
    .filter((r) => r.secs > 0)
    .map((r) => ({ title: r.title, text: formatSeconds(r.secs) }));
  return [...rows, { title: "Total", text: formatSeconds(t.total_secs) }];
}

/** A short title per warning code (an unknown code: its words). */
export const WARNING_TITLE: Record<string, string> = {
  no_speech: "No speech found",
  cleanup_rejected: "Cleanup not used",
  cleanup_trimmed: "Cleanup trimmed",
  cleanup_truncated: "Cleanup cut short",
  vocabulary_truncated: "Vocabulary cut",
};

export function warningTitle(w: DictateWarning): string {
  return WARNING_TITLE[w.code] ?? w.code.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

/** `text` as a sentence: a capital first, a full stop last. */
export function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(first) ? first : `${first}.`;
}

/** The warnings as Markdown quote lines (empty without any). */
export function warningsMarkdown(warnings: DictateWarning[]): string {
  return warnings.map((w) => `> **⚠︎ ${warningTitle(w)}.** ${sentence(w.message)}`).join("\n>\n");
}

/** The audio line of the metadata: `0:11 of audio, 0:09 of speech`. */
export function audioText(r: Pick<DictateResult, "audio_secs" | "speech_secs">): string {
  const speech = r.speech_secs < r.audio_secs - 0.05 ? `, ${formatSeconds(r.speech_secs)} of speech` : "";
  return `${formatSeconds(r.audio_secs)}${speech}`;
}
