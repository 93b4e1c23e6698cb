/**
 * Which model a command uses, and how Manage Models shows a model. Pure (no
 * `@raycast/api`), so vitest checks it.
 *
 * The one precedence, the same for text (Refine) and speech (Transcribe):
 *   1. the preference ("Default Model" / "Speech Model"), when it is not empty;
 *   2. else the model chosen with Set as Default in Manage Models;
 *   3. else the daemon's choice, by the engine's one rule for every face: its configured
 *      default, else the loaded model of that kind, else one on disk, else the
 *      recommendation (the view then offers to download it). The daemon reports it in its
 *      status (`default_model`, `default_audio_model`).
 */
import type { ModelStatus } from "./engine";
import { formatBytes } from "./format";

export type ModelKind = "text" | "audio";

export type ModelSource = "preference" | "manage-models" | "daemon";

export interface ModelChoice {
  /** `undefined`: let the daemon choose. */
  id?: string;
  source: ModelSource;
}

export const SOURCE_TEXT: Record<ModelSource, string> = {
  preference: "set in the preferences",
  "manage-models": "set as default in Manage Models",
  daemon: "the engine's choice: loaded, else on disk, else recommended",
};

/** The preference name of each kind, as the user reads it. */
export const PREFERENCE_TITLE: Record<ModelKind, string> = { text: "Default Model", audio: "Speech Model" };

/** Steps 1–2 of the precedence: the preference, else the Manage Models default. */
export function explicitChoice(preference: string | undefined, stored: string | undefined): ModelChoice | undefined {
  const p = preference?.trim();
  if (p) return { id: p, source: "preference" };
  const s = stored?.trim();
  if (s) return { id: s, source: "manage-models" };
  return undefined;
}

export function kindOf(m: ModelStatus): ModelKind {
  return m.capabilities.includes("audio") && !m.capabilities.includes("text") ? "audio" : "text";
}

/** A text model that also transcribes (Qwen2.5-Omni): listed with both kinds, and a default
 * for either; dictation still needs a Whisper model (the daemon says so). */
export function listens(m: ModelStatus): boolean {
  return m.capabilities.includes("audio") && m.capabilities.includes("text");
}

/** Whether the model's files are complete on disk. */
export function isOnDisk(m: ModelStatus): boolean {
  return m.state === "downloaded" || m.state === "loading" || m.state === "ready";
}

/** The whole precedence; `daemonDefault` is the daemon's choice for the kind. */
export function chooseModel(
  preference: string | undefined,
  stored: string | undefined,
  daemonDefault: string | undefined,
): ModelChoice {
  return explicitChoice(preference, stored) ?? { id: daemonDefault, source: "daemon" };
}

/** Whether `id` names `m` (its id or an alias). */
export function names(m: ModelStatus, id: string | undefined): boolean {
  return !!id && (m.id === id || m.aliases.includes(id));
}

/** What Manage Models offers to make a model the default: Set as Default when it is on
 * disk, Download and Set as Default when it can be downloaded, nothing otherwise. */
export function defaultAction(m: ModelStatus): "set" | "download-and-set" | undefined {
  if (isOnDisk(m)) return "set";
  if (m.state === "not_downloaded" && m.source.kind === "hub") return "download-and-set";
  return undefined;
}

/** The note after Set as Default: what the command will use, honestly, given the
 * preference of that kind. */
export function setDefaultNote(kind: ModelKind, id: string, preference: string | undefined): string | undefined {
  const p = preference?.trim();
  if (p && p !== id) {
    return `The ${PREFERENCE_TITLE[kind]} preference (${p}) comes first; clear it to use ${id}.`;
  }
  return undefined;
}

/** How a Manage Models row shows the model: the subtitle (the id, unless it repeats the
 * name) and the memory need (the catalog's figure, else estimated from the files). */
export function modelRow(m: ModelStatus): { subtitle?: string; ram?: { text: string; tooltip: string } } {
  const subtitle = m.id !== m.name ? m.id : undefined;
  let ram: { text: string; tooltip: string } | undefined;
  if (m.ram_bytes) {
    ram = { text: `RAM ${formatBytes(m.ram_bytes)}`, tooltip: "Memory while in use" };
  } else if (m.disk_bytes > 0) {
    ram = {
      text: `RAM ~${formatBytes(m.disk_bytes)}`,
      tooltip: "Memory while in use, estimated from the size of its files (no catalog figure for this model)",
    };
  }
  return { subtitle, ram };
}
