/**
 * How a refine or a transcription ended, and how the view says so: a marker line in the
 * Detail, the navigation title, the metadata label, and which actions lead. Pure (no
 * `@raycast/api`), so vitest checks it.
 */
import type { RefineResult } from "./engine";

/** `truncated`: the model hit the token limit; `stopped`: the user stopped it; `failed`:
 * an error (e.g. the daemon died) ended it. */
export type Outcome = "running" | "complete" | "truncated" | "stopped" | "failed";

/** The outcome of a refine from its result, or from the error (or stop) that ended it. */
export function refineOutcome(state: {
  running: boolean;
  result?: Pick<RefineResult, "stats">;
  stopped?: boolean;
  error?: unknown;
}): Outcome {
  if (state.running) return "running";
  if (state.stopped) return "stopped";
  if (state.error !== undefined) return "failed";
  const reason = state.result?.stats.stop_reason;
  if (reason === "max_tokens") return "truncated";
  if (reason === "cancelled") return "stopped";
  if (state.result) return "complete";
  return "failed";
}

/** The outcome of a transcription: a transcript is complete (even without speech). */
export function transcribeOutcome(state: {
  running: boolean;
  done: boolean;
  stopped?: boolean;
  error?: unknown;
}): Outcome {
  if (state.running) return "running";
  if (state.stopped) return "stopped";
  if (state.done) return "complete";
  return "failed";
}

/** The result is not the whole answer: Copy leads (not Paste), nothing is auto-pasted. */
export function isIncomplete(o: Outcome): boolean {
  return o === "truncated" || o === "stopped" || o === "failed";
}

export const OUTCOME_LABEL: Record<Outcome, string> = {
  running: "Running",
  complete: "Complete",
  truncated: "Incomplete: token limit reached",
  stopped: "Incomplete: stopped",
  failed: "Incomplete: failed",
};

/** The navigation title with the outcome: `Clean Up Transcript (Stopped)`. */
export function outcomeTitle(base: string, o: Outcome): string {
  switch (o) {
    case "truncated":
      return `${base} (Truncated)`;
    case "stopped":
      return `${base} (Stopped)`;
    case "failed":
      return `${base} (Failed)`;
    default:
      return base;
  }
}

/**
 * The marker shown in the Detail under the partial result (Markdown; empty when the
 * result is complete or still running). `what` is "text" or "transcript"; `failure` the
 * error's title and message; `maxTokens` the limit that was hit; `position` how far a
 * transcription got; `partial` whether some result is shown above.
 */
export function outcomeMarker(
  o: Outcome,
  what: "text" | "transcript",
  extra: { maxTokens?: number; failure?: string; position?: string; partial?: boolean } = {},
): string {
  switch (o) {
    case "truncated":
      return `> **⚠︎ Incomplete: cut off at the token limit${extra.maxTokens ? ` (${extra.maxTokens} tokens)` : ""}.** The ${what} above is not finished. Continue runs it again with a larger limit.`;
    case "stopped":
      return `> **⏹ Stopped${extra.position ? ` at ${extra.position}` : ""}.** The ${what} above is incomplete. Retry runs it again.`;
    case "failed":
      return `> **✕ Failed${extra.position ? ` at ${extra.position}` : ""}: ${extra.failure ?? "the run did not finish"}.**${extra.partial ? ` The ${what} above is incomplete.` : ""}`;
    default:
      return "";
  }
}

/** The token budget Continue asks for after `max_tokens`: double the limit that was hit,
 * at most `cap`. `undefined` when already at the cap (Continue is not offered). */
export function nextTokenBudget(hit: number, cap = 8192): number | undefined {
  if (!Number.isFinite(hit) || hit <= 0) return undefined;
  const next = Math.min(hit * 2, cap);
  return next > hit ? next : undefined;
}

/** The Detail's Markdown: the text (or a placeholder) and the marker under it. */
export function outcomeMarkdown(body: string, marker: string): string {
  if (!marker) return body;
  return body ? `${body}\n\n---\n\n${marker}` : marker;
}
