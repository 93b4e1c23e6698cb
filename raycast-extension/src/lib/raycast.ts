/** What the commands share: preferences, the engine client, error toasts, downloads. */
import {
  Clipboard,
  LocalStorage,
  Toast,
  getPreferenceValues,
  getSelectedText,
  openExtensionPreferences,
  showToast,
} from "@raycast/api";
import { EngineClient, MurmurError, RefineMode, findBinary } from "./engine";
import { formatBytes } from "./format";

export interface Prefs {
  defaultModel?: string;
  refineMode?: RefineMode;
  customPrompt?: string;
  temperature?: string;
  autoReplace?: boolean;
  idleUnloadMinutes?: string;
  inputSource?: "selection" | "clipboard";
  murmurPath?: string;
}

export const MODES: { value: RefineMode; title: string }[] = [
  { value: "clean", title: "Clean Up Transcript" },
  { value: "grammar", title: "Fix Spelling and Grammar" },
  { value: "concise", title: "Make Concise" },
  { value: "custom", title: "Custom Prompt" },
];

export function modeTitle(mode: RefineMode): string {
  return MODES.find((m) => m.value === mode)?.title ?? mode;
}

export function prefs(): Prefs {
  return getPreferenceValues<Prefs>();
}

function number(text: string | undefined, fallback: number): number {
  const v = Number.parseFloat(text ?? "");
  return Number.isFinite(v) && v >= 0 ? v : fallback;
}

export function temperature(p: Prefs = prefs()): number {
  return number(p.temperature, 0.7);
}

let shared: EngineClient | undefined;

/** The client of the daemon, which it starts from the configured binary when needed. */
export function engine(): EngineClient {
  const p = prefs();
  shared ??= new EngineClient({
    binary: () => findBinary(p.murmurPath),
    idleUnloadMinutes: number(p.idleUnloadMinutes, 5),
  });
  return shared;
}

const DEFAULT_KEY = "defaultModel";

/** The text model to refine with: the one set in Manage Models, else the preference
 * (empty: the daemon picks the loaded, configured or recommended model). */
export async function defaultModel(): Promise<string | undefined> {
  const chosen = await LocalStorage.getItem<string>(DEFAULT_KEY);
  return chosen || prefs().defaultModel?.trim() || undefined;
}

export async function setDefaultModel(id: string): Promise<void> {
  await LocalStorage.setItem(DEFAULT_KEY, id);
}

/** The text to refine, from the selection or the clipboard (per preference); `undefined`
 * when there is none. */
export async function readInput(
  source: Prefs["inputSource"],
): Promise<{ text: string; fromSelection: boolean } | undefined> {
  if (source !== "clipboard") {
    try {
      const text = await getSelectedText();
      if (text.trim()) return { text, fromSelection: true };
    } catch {
      // No selection, or the frontmost app does not expose it.
    }
    return undefined;
  }
  const text = await Clipboard.readText();
  return text?.trim() ? { text, fromSelection: false } : undefined;
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
};

/** A failure toast with a useful message and an action that helps. */
export async function showFailure(error: unknown, client: EngineClient = engine()): Promise<void> {
  const e = error instanceof MurmurError ? error : new MurmurError("unknown", String(error));
  if (e.kind === "cancelled") return;
  const options: Toast.Options = {
    style: Toast.Style.Failure,
    title: TITLES[e.kind] ?? "Murmur failed",
    message: e.message,
  };
  const model = e.model;
  if (e.kind === "not_downloaded" && model) {
    options.primaryAction = {
      title: "Download Model",
      onAction: () => {
        void downloadWithToast(client, model);
      },
    };
  } else if (["binary_not_found", "daemon_failed", "daemon_unreachable"].includes(e.kind)) {
    options.primaryAction = { title: "Open Preferences", onAction: () => void openExtensionPreferences() };
  } else {
    options.primaryAction = { title: "Copy Error", onAction: () => void Clipboard.copy(e.message) };
  }
  await showToast(options);
}

/** Download `id` with a progress toast whose action cancels it. */
export async function downloadWithToast(client: EngineClient, id: string, onDone?: () => void): Promise<boolean> {
  const controller = new AbortController();
  const toast = await showToast({
    style: Toast.Style.Animated,
    title: `Downloading ${id}`,
    message: "Starting…",
    primaryAction: { title: "Cancel Download", onAction: () => controller.abort() },
  });
  try {
    const status = await client.download(
      id,
      (p) => {
        toast.message = `${Math.round(p.fraction * 100)}% · ${formatBytes(p.bytes)} of ${formatBytes(p.total)}`;
      },
      controller.signal,
    );
    toast.style = Toast.Style.Success;
    toast.title = `Downloaded ${id}`;
    toast.message = formatBytes(status.disk_bytes);
    toast.primaryAction = undefined;
    return true;
  } catch (e) {
    if (e instanceof MurmurError && e.kind === "cancelled") {
      toast.style = Toast.Style.Failure;
      toast.title = `Download of ${id} cancelled`;
      toast.message = "Download again to resume.";
      toast.primaryAction = undefined;
    } else {
      await toast.hide();
      await showFailure(e, client);
    }
    return false;
  } finally {
    onDone?.();
  }
}
