/**
 * What a transcription shows while it runs: waiting for the engine, loading the model,
 * then how far into the audio the segments got. Pure (no `@raycast/api`), so vitest
 * checks it.
 */
import type { EngineStatus } from "./engine";
import { shortTimestamp } from "./format";

export type TranscribePhase = "starting" | "queued" | "loading" | "transcribing";

export interface TranscribeProgress {
  phase: TranscribePhase;
  /** The model the daemon chose (from the stream's `start` line). */
  model?: string;
  /** The audio's length in seconds (the stream's `audio` line). */
  duration?: number;
  /** The end of the last segment, in seconds. */
  position?: number;
  /** Seconds since the audio was read (the stream's `progress` lines). */
  elapsed?: number;
}

/** The phase before the first segment, from the daemon's status: loading `model`,
 * waiting behind another call, or decoding. */
export function phaseFromStatus(
  status: Pick<EngineStatus, "loading" | "loaded_audio" | "in_use">,
  model: string | undefined,
): TranscribePhase {
  if (model && status.loading === model) return "loading";
  if (model && status.loaded_audio !== model) return status.in_use ? "queued" : "loading";
  return "transcribing";
}

/** `00:42 of 05:00 (14%)`, or `00:42` without a duration. */
export function positionText(position: number, duration?: number): string {
  if (!duration || duration <= 0) return shortTimestamp(position);
  const pct = Math.min(100, Math.max(0, Math.floor((position / duration) * 100)));
  return `${shortTimestamp(Math.min(position, duration))} of ${shortTimestamp(duration)} (${pct}%)`;
}

/** The progress line of a running transcription. */
export function progressText(p: TranscribeProgress): string {
  const model = p.model ? ` ${p.model}` : "";
  // Before the first segment, the seconds waited so far show that something happens.
  const waited = p.elapsed !== undefined && p.elapsed >= 1 ? ` ${Math.floor(p.elapsed)} s` : "";
  switch (p.phase) {
    case "starting":
      return "Starting…";
    case "queued":
      return `Waiting for the engine (another call is running)…${waited}`;
    case "loading":
      return `Loading${model || " the speech model"}…${waited}`;
    case "transcribing":
      if (p.position !== undefined) return `Transcribing… ${positionText(p.position, p.duration)}`;
      return p.duration
        ? `Transcribing… 00:00 of ${shortTimestamp(p.duration)} (0%)${waited}`
        : `Transcribing${model ? ` with${model}` : ""}…${waited}`;
  }
}

/** The fraction done (0–1), when the duration is known. */
export function progressFraction(p: TranscribeProgress): number | undefined {
  if (!p.duration || p.position === undefined) return undefined;
  return Math.min(1, Math.max(0, p.position / p.duration));
}
