/** What the commands share: preferences, the engine client, error toasts, downloads. */
import {
  Clipboard,
  LaunchType,
  LocalStorage,
  Toast,
  getPreferenceValues,
  getSelectedText,
  launchCommand,
  openExtensionPreferences,
  showToast,
} from "@raycast/api";
import { EngineClient, MurmurError, RefineMode, findBinary } from "./engine";
import { ACTION_TITLE, ErrorAction, Failure, describeError } from "./errors";
import { formatBytes } from "./format";
import { ModelChoice, ModelKind, chooseModel, explicitChoice } from "./models";

export interface Prefs {
  defaultModel?: string;
  speechModel?: string;
  refineMode?: RefineMode;
  customPrompt?: string;
  temperature?: string;
  autoReplace?: boolean;
  idleUnloadMinutes?: string;
  inputSource?: "selection" | "clipboard";
  murmurPath?: string;
  /** Dictate Audio File's own (command preferences). */
  appName?: string;
  cleanUp?: boolean;
  trimSilence?: boolean;
  useVocabulary?: boolean;
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

/** Where Set as Default (Manage Models) keeps each kind's default. */
const DEFAULT_KEYS: Record<ModelKind, string> = { text: "defaultModel", audio: "defaultAudioModel" };

/** The preference of `kind`: "Default Model" (text) or "Speech Model". */
export function modelPreference(kind: ModelKind, p: Prefs = prefs()): string | undefined {
  return (kind === "text" ? p.defaultModel : p.speechModel)?.trim() || undefined;
}

/** The model set with Set as Default in Manage Models. */
export async function storedDefault(kind: ModelKind): Promise<string | undefined> {
  return (await LocalStorage.getItem<string>(DEFAULT_KEYS[kind])) || undefined;
}

export async function setStoredDefault(kind: ModelKind, id: string): Promise<void> {
  await LocalStorage.setItem(DEFAULT_KEYS[kind], id);
}

/** The default of `kind` as the preference and Manage Models set it (steps 1–2 of the
 * precedence in models.ts), without asking the daemon. */
export async function explicitDefault(kind: ModelKind): Promise<ModelChoice | undefined> {
  return explicitChoice(modelPreference(kind), await storedDefault(kind));
}

/** The model a command uses for `kind`, by the one precedence (models.ts): the
 * preference, else Manage Models' default, else the daemon's choice. */
export async function chooseModelFor(kind: ModelKind, client: EngineClient = engine()): Promise<ModelChoice> {
  const explicit = await explicitDefault(kind);
  if (explicit) return explicit;
  const status = await client.status();
  return chooseModel(undefined, undefined, kind === "text" ? status.default_model : status.default_audio_model);
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

/** What the actions of a failure do; `retry` and `chooseFile` come from the view. */
export interface FailureHandlers {
  retry?: () => void;
  chooseFile?: () => void;
  /** Transcribe the file instead (a dictation refused as too long). */
  transcribe?: () => void;
  /** After a download the failure offered finished. */
  downloaded?: () => void;
}

/** Run one of a failure's actions. */
export function runFailureAction(
  action: ErrorAction,
  f: Failure,
  handlers: FailureHandlers = {},
  client: EngineClient = engine(),
): void {
  switch (action) {
    case "retry":
      handlers.retry?.();
      return;
    case "choose-file":
      handlers.chooseFile?.();
      return;
    case "transcribe-instead":
      handlers.transcribe?.();
      return;
    case "download":
      if (f.model) {
        void downloadWithToast(client, f.model).then((ok) => {
          if (ok) handlers.downloaded?.();
        });
      }
      return;
    case "manage-models":
      void launchCommand({ name: "manage-models", type: LaunchType.UserInitiated }).catch(() => {});
      return;
    case "open-preferences":
      void openExtensionPreferences();
      return;
    case "copy-error":
      void Clipboard.copy(`${f.title}: ${f.message}`);
      return;
  }
}

/** The actions of `f` that can run here (Retry, Choose File and Transcribe Instead only
 * with their handler). */
export function availableActions(f: Failure, handlers: FailureHandlers = {}): ErrorAction[] {
  return f.actions.filter(
    (a) =>
      (a !== "retry" || handlers.retry) &&
      (a !== "choose-file" || handlers.chooseFile) &&
      (a !== "transcribe-instead" || handlers.transcribe),
  );
}

/** A failure toast: its title, a message that does not repeat it, and the action that
 * helps most (the view keeps all of them). */
export async function showFailure(
  error: unknown,
  client: EngineClient = engine(),
  handlers: FailureHandlers = {},
): Promise<void> {
  if (error instanceof MurmurError && error.kind === "cancelled") return;
  const f = describeError(error, {
    retryable: !!handlers.retry,
    audioFile: !!handlers.chooseFile,
    transcribe: !!handlers.transcribe,
  });
  const [first, second] = availableActions(f, handlers);
  const options: Toast.Options = { style: Toast.Style.Failure, title: f.title, message: f.message };
  if (first) {
    options.primaryAction = {
      title: ACTION_TITLE[first],
      onAction: () => runFailureAction(first, f, handlers, client),
    };
  }
  if (second) {
    options.secondaryAction = {
      title: ACTION_TITLE[second],
      onAction: () => runFailureAction(second, f, handlers, client),
    };
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
