/**
 * A failure as the user sees it: a title, a message that does not repeat it, and the
 * actions that help, in order (the first is the toast's). Pure (no `@raycast/api`), so
 * vitest checks it; the views and toasts render it.
 */
import { MurmurError } from "./engine";
import { shortTimestamp } from "./format";

export type ErrorAction =
  "retry" | "download" | "manage-models" | "open-preferences" | "choose-file" | "transcribe-instead" | "copy-error";

export interface Failure {
  kind: string;
  title: string;
  message: string;
  /** The model the error is about, when there is one. */
  model?: string;
  actions: ErrorAction[];
}

const TITLES: Record<string, string> = {
  not_downloaded: "Model not downloaded",
  unknown_model: "Unknown model",
  busy: "Model is busy",
  offline: "Offline",
  binary_not_found: "murmur not found",
  daemon_failed: "Could not start murmur serve",
  daemon_unreachable: "murmur serve is not reachable",
  daemon_died: "murmur serve stopped",
  insufficient_disk: "Not enough disk space",
  audio: "Cannot read the audio",
  invalid_argument: "Invalid request",
  audio_too_long: "Recording too long",
  not_found: "murmur serve is out of date",
};

export const ACTION_TITLE: Record<ErrorAction, string> = {
  retry: "Retry",
  download: "Download Model",
  "manage-models": "Manage Models",
  "open-preferences": "Open Preferences",
  "choose-file": "Choose Another File",
  "transcribe-instead": "Transcribe Instead",
  "copy-error": "Copy Error",
};

/** `message` without a leading copy of `title` (`murmur serve is not reachable
 * (ECONNRESET)` under that title reads `No answer on its socket (ECONNRESET)`). */
export function dedupeMessage(title: string, message: string): string {
  const m = message.trim();
  if (!m.toLowerCase().startsWith(title.toLowerCase())) return m;
  const rest = m
    .slice(title.length)
    .trim()
    .replace(/^[:.,;–—-]\s*/, "");
  const code = /^\((.*)\)$/.exec(rest);
  return code ? `No answer on its socket (${code[1]})` : rest;
}

/**
 * The failure of `error` in a command: `retryable` when the command can run the same
 * request again (a view with a request; not a one-off list action).
 */
export function describeError(
  error: unknown,
  context: { retryable?: boolean; audioFile?: boolean; transcribe?: boolean } = {},
): Failure {
  const e =
    error instanceof MurmurError
      ? error
      : new MurmurError("unknown", error instanceof Error ? error.message : String(error));
  const title = TITLES[e.kind] ?? "Murmur failed";
  let message = dedupeMessage(title, e.message) || title;
  const model = e.model;
  const retry: ErrorAction[] = context.retryable ? ["retry"] : [];
  let actions: ErrorAction[];
  switch (e.kind) {
    case "not_downloaded":
      actions = [...(model ? (["download"] as ErrorAction[]) : []), "manage-models", "open-preferences"];
      break;
    case "unknown_model":
      actions = ["manage-models", "open-preferences"];
      break;
    case "daemon_unreachable":
    case "daemon_died":
    case "daemon_failed":
      actions = [...retry, "open-preferences", "copy-error"];
      break;
    case "binary_not_found":
      actions = ["open-preferences", ...retry];
      break;
    case "audio":
      actions = [...(context.audioFile ? (["choose-file"] as ErrorAction[]) : []), ...retry, "copy-error"];
      break;
    case "audio_too_long": {
      // Retrying cannot help: a shorter file can, or Transcribe, which has no such limit.
      const seconds = Number(e.details.seconds);
      const limit = Number(e.details.limit_secs);
      if (Number.isFinite(seconds) && Number.isFinite(limit) && limit > 0) {
        message = `The recording is ${shortTimestamp(seconds)} or longer; this Mac dictates at most ${shortTimestamp(limit)} (its memory's limit). Transcribe takes longer files.`;
      }
      actions = [
        ...(context.transcribe ? (["transcribe-instead"] as ErrorAction[]) : []),
        ...(context.audioFile ? (["choose-file"] as ErrorAction[]) : []),
        "copy-error",
      ];
      break;
    }
    case "not_found":
      // A route this daemon does not have: an older murmur than the extension.
      message = `${message}: this murmur is older than the extension. Update murmur and restart murmur serve.`;
      actions = ["copy-error"];
      break;
    case "offline":
    case "busy":
    case "insufficient_disk":
      actions = [...retry, "copy-error"];
      break;
    default:
      actions = [...retry, "copy-error"];
  }
  return { kind: e.kind, title, message, model, actions };
}

/** The failure as one line for the Detail's marker: `Title: message`. */
export function failureLine(f: Failure): string {
  return f.message && f.message !== f.title ? `${f.title}: ${f.message}` : f.title;
}
