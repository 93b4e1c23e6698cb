/**
 * The client of `murmur serve`: HTTP over the daemon's Unix socket (node:http with
 * `socketPath`), newline-delimited JSON streams, typed errors. It starts the daemon from
 * the murmur binary on demand, waits until it answers, and starts it again when it died.
 *
 * Pure module: no `@raycast/api` import, so it runs (and is tested) under plain Node.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { parseVocabulary } from "./vocabulary";

export type RefineMode = "clean" | "grammar" | "concise" | "custom";

export interface DownloadProgress {
  repo: string;
  file: string;
  file_index: number;
  file_count: number;
  file_bytes: number;
  file_total: number;
  bytes: number;
  total: number;
  bytes_per_sec: number;
  /** Overall fraction done, 0–1. */
  fraction: number;
}

export type ModelState = "not_downloaded" | "downloading" | "downloaded" | "loading" | "ready";

export interface ModelStatus {
  id: string;
  name: string;
  aliases: string[];
  source: { kind: "hub"; repo: string; revision: string } | { kind: "local"; path: string };
  capabilities: ("text" | "audio")[];
  architecture: string;
  download_bytes: number | null;
  ram_bytes: number | null;
  description: string;
  builtin: boolean;
  state: ModelState;
  in_use: boolean;
  recommended: boolean;
  disk_bytes: number;
  path: string | null;
  progress: Omit<DownloadProgress, "fraction"> | null;
  last_error: string | null;
}

export interface EngineStatus {
  status: "running";
  version: string;
  pid: number;
  uptime_secs: number;
  socket: string;
  loaded: string | null;
  loaded_audio: string | null;
  in_use: boolean;
  loading: string | null;
  downloads: { model_id: string; progress: Omit<DownloadProgress, "fraction"> | null }[];
  idle_unload_secs: number | null;
  default_model: string;
  /** The speech model a call naming none uses when none is loaded (newer daemons). */
  default_audio_model?: string;
  recommended_model: string;
  memory: { active_bytes: number; peak_bytes: number; cache_bytes: number };
}

export interface RefineOptions {
  model?: string;
  mode?: RefineMode;
  /** The instruction for mode `custom`. */
  prompt?: string;
  temperature?: number;
  topP?: number;
  repetitionPenalty?: number;
  maxTokens?: number;
  seed?: number;
  signal?: AbortSignal;
}

export interface RefineResult {
  model: string;
  text: string;
  max_tokens: number;
  stats: {
    prompt_tokens: number;
    generated_tokens: number;
    prefill_tokens_per_sec: number;
    decode_tokens_per_sec: number;
    stop_reason: "eos" | "max_tokens" | "stopped" | "cancelled";
  };
}

/** One turn of a chat (OpenAI's message shape). */
export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatOptions {
  model?: string;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  /** Up to 4 strings that end the answer where they appear (not included). */
  stop?: string[];
  seed?: number;
  signal?: AbortSignal;
}

/** A chat's answer: read from OpenAI's `chat.completion.chunk` events. */
export interface ChatResult {
  model: string;
  text: string;
  /** `stop`: the model finished (or a stop string came); `length`: the token budget ran out. */
  finishReason: "stop" | "length";
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

interface ChatChunk {
  model: string;
  choices: { delta: { content?: string }; finish_reason: "stop" | "length" | null }[];
  usage?: ChatResult["usage"] | null;
}

export interface Segment {
  id: number;
  start: number;
  end: number;
  text: string;
}

export interface Transcript {
  model: string;
  text: string;
  language: string;
  duration: number;
  segments: Segment[];
}

export interface TranscribeOptions {
  model?: string;
  language?: string;
  task?: "transcribe" | "translate";
  signal?: AbortSignal;
}

/** What a transcription stream says besides its segments: the model the daemon chose
 * (and whether the call waits behind another), the audio's length in seconds, then every
 * half second the seconds since (newer daemons). */
export type TranscribeEvent =
  | { type: "start"; model: string; queued: boolean }
  | { type: "audio"; duration: number }
  | { type: "progress"; elapsed: number };

// ---- dictation (POST /v1/dictate) ----------------------------------------------------

/** Where a dictation is: reading the audio, finding the speech in it (voice-activity
 * trimming), transcribing it (loading the speech model included), cleaning it up. */
export type DictateStage = "decoding_audio" | "detecting_speech" | "transcribing" | "refining";

/** One word-level change from the transcript to the final text. Offsets count
 * characters (Unicode scalar values: index `Array.from(text)`), `before_*` into the
 * transcript, `after_*` into the final text; an insertion has an empty `before` range,
 * a deletion an empty `after` range, and the words they cover include the whitespace
 * that separated them from their neighbour. */
export interface Edit {
  kind: "insert" | "delete" | "replace";
  before_start: number;
  before_end: number;
  after_start: number;
  after_end: number;
  before: string;
  after: string;
}

/** Seconds each stage took (0 for a stage that did not run). */
export interface StageTimings {
  decode_audio_secs: number;
  vad_secs: number;
  transcribe_secs: number;
  refine_secs: number;
  total_secs: number;
  /** From the end of the audio to the result (all of `total_secs` for a file). */
  finish_secs: number;
}

export type WarningCode =
  "no_speech" | "cleanup_rejected" | "cleanup_trimmed" | "cleanup_truncated" | "vocabulary_truncated";

export interface DictateWarning {
  /** A known code, or one a newer daemon added. */
  code: WarningCode | (string & {});
  message: string;
}

export interface DictateResult {
  /** The final text: cleaned up, the vocabulary applied; empty without speech. */
  text: string;
  /** Whisper's transcript, as it came. */
  transcript: string;
  language: string;
  /** The edits from `transcript` to `text`. */
  edits: Edit[];
  timings: StageTimings;
  warnings: DictateWarning[];
  /** Seconds of audio, and of it the speech that was transcribed. */
  audio_secs: number;
  speech_secs: number;
  segments: Segment[];
  speech_model: string;
  /** `null` when there was no cleanup. */
  text_model: string | null;
  refine_stats: RefineResult["stats"] | null;
}

export interface DictateOptions {
  /** The speech model (default: the daemon's choice). */
  speechModel?: string;
  /** The text model of the cleanup (default: the daemon's choice). */
  textModel?: string;
  /** The spoken language (default: detected). */
  language?: string;
  /** Clean the transcript up with the text model (default true). */
  refine?: boolean;
  /** Trim silence and noise with voice-activity detection first (default true). */
  vad?: boolean;
  /** Use the user's vocabulary (default true). */
  vocabulary?: boolean;
  /** The app the text is for; the cleanup's prompt mentions it. */
  appName?: string;
  /** The text selected in that app; the cleanup's prompt mentions it. */
  selectedText?: string;
  signal?: AbortSignal;
}

/** What a dictation stream says while it works (besides the final result). */
export type DictateEvent =
  | { type: "stage"; stage: DictateStage }
  /** The audio's length, once known (before the models load). */
  | { type: "duration"; seconds: number }
  /** A transcribed segment, timed in the original audio. */
  | { type: "segment"; segment: Segment }
  /** Cleaned-up text as it is generated (before the daemon's check of it). */
  | { type: "text"; delta: string }
  /** Seconds since the call began, every half second (the daemon's heartbeat). */
  | { type: "progress"; elapsed: number };

/** `POST /v1/dictate`'s JSON body for `file` (DictateOptions in the core's serde shape:
 * a missing key takes its default, `null` turns a stage off). */
export function dictateRequestBody(file: string, opts: Omit<DictateOptions, "signal"> = {}): Record<string, unknown> {
  const body: Record<string, unknown> = { path: file, stream: true };
  const text = (v: string | undefined) => (v && v.trim() ? v.trim() : undefined);
  if (text(opts.speechModel)) body.speech_model = text(opts.speechModel);
  if (text(opts.textModel)) body.text_model = text(opts.textModel);
  if (text(opts.language)) body.transcribe = { language: text(opts.language) };
  if (opts.refine === false) body.refine = null;
  if (opts.vad === false) body.vad = null;
  if (opts.vocabulary === false) body.vocabulary = false;
  if (text(opts.appName)) body.app_name = text(opts.appName);
  if (opts.selectedText) body.selected_text = opts.selectedText;
  return body;
}

/** One line of a dictation stream, read: an event, the result, the error that ended it,
 * or a line this client does not know (ignored). Lines are tagged by `event` (the
 * spec's framing) or `type` (the other streams'); the result line is `result` (or
 * `done`), its fields inline or under `result`. */
export type DictateLine =
  | { kind: "event"; event: DictateEvent }
  | { kind: "result"; result: DictateResult }
  | { kind: "error"; error: MurmurError }
  | { kind: "other" };

export function parseDictateLine(line: Record<string, unknown>): DictateLine {
  const tag = typeof line.event === "string" ? line.event : typeof line.type === "string" ? line.type : undefined;
  const { event: _event, type: _type, ...rest } = line;
  void _event;
  void _type;
  switch (tag) {
    case "stage":
      return typeof rest.stage === "string"
        ? { kind: "event", event: { type: "stage", stage: rest.stage as DictateStage } }
        : { kind: "other" };
    case "duration": {
      const seconds = Number(rest.seconds ?? rest.duration);
      return Number.isFinite(seconds) ? { kind: "event", event: { type: "duration", seconds } } : { kind: "other" };
    }
    case "segment": {
      const segment = (typeof rest.segment === "object" && rest.segment ? rest.segment : rest) as Segment;
      return { kind: "event", event: { type: "segment", segment } };
    }
    case "text":
      return { kind: "event", event: { type: "text", delta: String(rest.delta ?? rest.text ?? "") } };
    case "progress": {
      const elapsed = Number(rest.elapsed);
      return Number.isFinite(elapsed) ? { kind: "event", event: { type: "progress", elapsed } } : { kind: "other" };
    }
    case "result":
    case "done": {
      const inner = rest.result;
      const result = (inner && typeof inner === "object" && "text" in inner ? inner : rest) as DictateResult;
      return { kind: "result", result: withDefaults(result) };
    }
    case "error": {
      const body = rest.error && typeof rest.error === "object" ? rest : { error: rest };
      const status = Number((body.error as { status?: number }).status ?? 500);
      return { kind: "error", error: MurmurError.fromBody(body, status) };
    }
    default:
      return { kind: "other" };
  }
}

/** The result with its lists present (an older or leaner daemon may leave one out). */
function withDefaults(r: DictateResult): DictateResult {
  return {
    ...r,
    text: r.text ?? "",
    transcript: r.transcript ?? "",
    edits: Array.isArray(r.edits) ? r.edits : [],
    warnings: Array.isArray(r.warnings) ? r.warnings : [],
    segments: Array.isArray(r.segments) ? r.segments : [],
    timings: {
      ...{ decode_audio_secs: 0, vad_secs: 0, transcribe_secs: 0, refine_secs: 0, total_secs: 0, finish_secs: 0 },
      ...((r.timings ?? {}) as Partial<StageTimings>),
    },
    text_model: r.text_model ?? null,
    refine_stats: r.refine_stats ?? null,
  };
}

/** The memory tier's limits (`GET /v1/limits`). */
export interface Limits {
  ram_tier: "small" | "medium" | "large";
  /** The longest recording `dictate` takes, in seconds. */
  max_recording_secs: number;
  /** The token ceiling of a refine. */
  max_refine_tokens: number;
}

// ---- the vocabulary (/v1/vocabulary) ---------------------------------------------------

export interface Replacement {
  /** What is said, e.g. "murmur dot app". */
  spoken: string;
  /** What is written instead, e.g. "Murmur.app". */
  written: string;
}

/** Words to spell exactly, and spoken forms to write differently. */
export interface Vocabulary {
  terms: string[];
  replacements: Replacement[];
}

export type AddOutcome = "added" | "updated" | "unchanged";

export interface ImportSummary {
  terms_added: number;
  replacements_added: number;
  updated: number;
  unchanged: number;
}

/** A failure with the daemon's stable `kind` (e.g. `not_downloaded`, `busy`, `cancelled`). */
export class MurmurError extends Error {
  readonly kind: string;
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(kind: string, message: string, status = 0, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "MurmurError";
    this.kind = kind;
    this.status = status;
    this.details = details;
  }

  /** The model the error is about, when there is one. */
  get model(): string | undefined {
    const m = this.details.model;
    return typeof m === "string" ? m : undefined;
  }

  static fromBody(body: unknown, status: number): MurmurError {
    const error = (body as { error?: Record<string, unknown> } | undefined)?.error;
    if (error && typeof error.kind === "string") {
      const { kind, message, ...details } = error;
      return new MurmurError(kind, String(message ?? kind), status, details);
    }
    return new MurmurError("http", `murmur serve answered HTTP ${status}`, status);
  }
}

const isMac = (platform: string) => platform === "darwin";

/** The daemon's default socket, as `murmur serve` computes it. */
export function defaultSocketPath(platform: string = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  if (env.MURMUR_SOCKET) return env.MURMUR_SOCKET;
  const home = env.HOME || os.homedir();
  if (isMac(platform)) return path.join(home, "Library/Caches/Murmur/serve/murmur.sock");
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, "murmur/murmur.sock");
  return path.join(env.XDG_CACHE_HOME || path.join(home, ".cache"), "murmur/serve/murmur.sock");
}

/** The murmur binary: the configured path, else $MURMUR_BIN, PATH and the usual install folders. */
export function findBinary(configured?: string, env: NodeJS.ProcessEnv = process.env): string {
  const expand = (p: string) => (p.startsWith("~/") ? path.join(env.HOME || os.homedir(), p.slice(2)) : p);
  const executable = (p: string) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (configured && configured.trim()) {
    const p = expand(configured.trim());
    if (executable(p)) return p;
    throw new MurmurError("binary_not_found", `The murmur binary was not found at ${p}.`);
  }
  if (env.MURMUR_BIN && executable(env.MURMUR_BIN)) return env.MURMUR_BIN;
  const dirs = [
    ...(env.PATH ?? "").split(path.delimiter).filter(Boolean),
    "/opt/homebrew/bin",
    "/usr/local/bin",
    expand("~/.cargo/bin"),
  ];
  for (const dir of dirs) {
    const p = path.join(dir, "murmur");
    if (executable(p)) return p;
  }
  throw new MurmurError(
    "binary_not_found",
    "The murmur command was not found. Install it (cargo install --path bindings) or set its path in the preferences.",
  );
}

export interface EngineClientOptions {
  /** Default: {@link defaultSocketPath}. */
  socketPath?: string;
  /** The murmur binary to start the daemon from, or a function finding it when needed
   * (default: {@link findBinary}). */
  binary?: string | (() => string);
  /** Passed as `--idle-unload-minutes` when the daemon is started. */
  idleUnloadMinutes?: number;
  /** Environment of a started daemon (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Where a started daemon's log goes (default: `murmur-serve.log` beside the socket). */
  logFile?: string;
  /** How long to wait for a started daemon (default 20 s). */
  startTimeoutMs?: number;
  /** Start the daemon when it is not running (default true). */
  autoStart?: boolean;
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  res: http.IncomingMessage;
}

// Node's codes, and Bun's (termcast runs extensions on Bun).
const CONNECT_ERRORS = new Set([
  "ENOENT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ENOTSOCK",
  "FailedToOpenSocket",
  "ConnectionRefused",
  "ConnectionClosed",
]);

function isConnectError(e: unknown): boolean {
  return CONNECT_ERRORS.has((e as NodeJS.ErrnoException)?.code ?? "");
}

function abortError(): MurmurError {
  return new MurmurError("cancelled", "Cancelled", 499);
}

export class EngineClient {
  readonly socketPath: string;
  private readonly options: EngineClientOptions;
  private starting: Promise<void> | undefined;

  constructor(options: EngineClientOptions = {}) {
    this.options = options;
    this.socketPath = options.socketPath ?? defaultSocketPath();
  }

  // ---- transport -------------------------------------------------------------------

  private send(method: string, route: string, body: unknown, signal?: AbortSignal): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      const raw = body instanceof RawBody ? body : undefined;
      const payload = raw ? raw.data : body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = http.request({
        socketPath: this.socketPath,
        path: route,
        method,
        headers: {
          Host: "localhost",
          ...(payload
            ? { "Content-Type": raw?.contentType ?? "application/json", "Content-Length": payload.length }
            : {}),
        },
      });
      let response: http.IncomingMessage | undefined;
      // Close the connection itself: the daemon cancels the work when its client goes
      // away. (Destroying the request alone leaves the socket open under some runtimes.)
      const onAbort = () => {
        const socket = req.socket;
        response?.destroy();
        req.destroy(abortError());
        socket?.destroy();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("response", (res) => {
        response = res;
        res.on("close", () => signal?.removeEventListener("abort", onAbort));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, res });
      });
      req.on("error", (e) => {
        signal?.removeEventListener("abort", onAbort);
        reject(e);
      });
      req.end(payload);
    });
  }

  /** Send, starting (or restarting) the daemon once when it does not answer. */
  private async connect(method: string, route: string, body: unknown, signal?: AbortSignal): Promise<RawResponse> {
    try {
      return await this.send(method, route, body, signal);
    } catch (e) {
      if (e instanceof MurmurError || !isConnectError(e) || this.options.autoStart === false) throw wrap(e);
      await this.start();
      try {
        return await this.send(method, route, body, signal);
      } catch (e2) {
        throw wrap(e2);
      }
    }
  }

  private async call<T>(method: string, route: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const { status, res } = await this.connect(method, route, body, signal);
    const text = await readAll(res, signal);
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new MurmurError("http", `murmur serve sent something that is not JSON (HTTP ${status})`, status);
    }
    if (status >= 400) throw MurmurError.fromBody(parsed, status);
    return parsed as T;
  }

  /**
   * A streamed call: `onLine` gets each JSON line; resolves with the final `done` line,
   * rejects with the `error` line's error (or the HTTP error). Aborting `signal` closes
   * the connection, which cancels the work in the daemon.
   */
  private async stream<T>(
    route: string,
    body: unknown,
    onLine: (line: Record<string, unknown>) => void,
    signal?: AbortSignal,
    classify: (line: Record<string, unknown>) => StreamEnd<T> | undefined = typedEnd,
  ): Promise<T> {
    const { status, res } = await this.connect("POST", route, body, signal);
    if (status >= 400) {
      const text = await readAll(res, signal);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      throw MurmurError.fromBody(parsed, status);
    }
    return new Promise<T>((resolve, reject) => {
      let buffer = "";
      let settled = false;
      const finish = (f: () => void) => {
        if (!settled) {
          settled = true;
          f();
        }
      };
      const handle = (raw: string) => {
        if (!raw.trim()) return;
        // Server-sent events (the OpenAI routes) carry the same JSON after `data: `.
        const json = raw.startsWith("data: ") ? raw.slice("data: ".length) : raw;
        if (json === "[DONE]") return;
        const line = JSON.parse(json) as Record<string, unknown>;
        const end = classify(line);
        if (!end) onLine(line);
        else if ("error" in end) finish(() => reject(end.error));
        else finish(() => resolve(end.done));
      };
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let i: number;
        while ((i = buffer.indexOf("\n")) >= 0) {
          const raw = buffer.slice(0, i);
          buffer = buffer.slice(i + 1);
          try {
            handle(raw);
          } catch (e) {
            finish(() => reject(e));
            res.destroy();
          }
        }
      });
      res.on("end", () => {
        try {
          handle(buffer);
        } catch (e) {
          finish(() => reject(e));
        }
        finish(() => reject(new MurmurError("daemon_died", "murmur serve closed the stream before it finished")));
      });
      res.on("error", (e) => finish(() => reject(signal?.aborted ? abortError() : wrap(e))));
      res.on("close", () => {
        if (signal?.aborted) finish(() => reject(abortError()));
      });
    });
  }

  // ---- the daemon ------------------------------------------------------------------

  /** Whether a daemon answers on the socket. */
  async isRunning(): Promise<boolean> {
    try {
      const { res } = await this.send("GET", "/v1/status", undefined);
      res.resume();
      return true;
    } catch {
      return false;
    }
  }

  /** Make sure the daemon runs: start it when it does not answer, and wait for it. */
  async ensureRunning(): Promise<void> {
    if (!(await this.isRunning())) await this.start();
  }

  /** Start `murmur serve` (one start at a time) and wait until it answers. */
  start(): Promise<void> {
    this.starting ??= this.spawnAndWait().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async spawnAndWait(): Promise<void> {
    const configured = this.options.binary;
    const binary = typeof configured === "function" ? configured() : (configured ?? findBinary());
    const dir = path.dirname(this.socketPath);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const logFile = this.options.logFile ?? path.join(dir, "murmur-serve.log");
    const log = fs.openSync(logFile, "a", 0o600);
    const offset = fs.fstatSync(log).size;
    const args = ["serve", "--socket", this.socketPath];
    if (this.options.idleUnloadMinutes !== undefined && Number.isFinite(this.options.idleUnloadMinutes)) {
      args.push("--idle-unload-minutes", String(this.options.idleUnloadMinutes));
    }
    const child = spawn(binary, args, {
      detached: true,
      stdio: ["ignore", "ignore", log],
      env: this.options.env ?? process.env,
    });
    fs.closeSync(log);
    let exited: { code: number | null; error?: Error } | undefined;
    child.on("exit", (code) => {
      exited = { code };
    });
    child.on("error", (error) => {
      exited = { code: null, error };
    });
    child.unref();
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 20_000);
    while (Date.now() < deadline) {
      if (await this.isRunning()) return;
      // Another client started it first: ours exits, theirs comes up.
      const logged = tail(logFile, offset);
      if (exited && !logged.includes("already running")) {
        const reason = exited.error?.message ?? (logged.trim().split("\n").pop() || `exit code ${exited.code}`);
        throw new MurmurError("daemon_failed", `murmur serve did not start: ${reason}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new MurmurError("daemon_failed", `murmur serve did not answer within the time limit (log: ${logFile})`);
  }

  // ---- the API -----------------------------------------------------------------------

  status(): Promise<EngineStatus> {
    return this.call("GET", "/v1/status");
  }

  /** The models (`GET /v1/models` answers OpenAI's list object; each entry is a status). */
  async models(): Promise<ModelStatus[]> {
    const list: { data: ModelStatus[] } = await this.call("GET", "/v1/models");
    return list.data;
  }

  model(id: string): Promise<ModelStatus> {
    return this.call("GET", `/v1/models/${encodeURIComponent(id)}`);
  }

  addModel(source: string, opts: { id?: string; audio?: boolean; files?: string[] } = {}): Promise<ModelStatus> {
    return this.call("POST", "/v1/models/add", { source, ...opts });
  }

  removeModel(id: string): Promise<{ removed: string }> {
    return this.call("POST", "/v1/models/remove", { model: id });
  }

  /** Download with progress; aborting `signal` cancels the download. */
  async download(id: string, onProgress: (p: DownloadProgress) => void, signal?: AbortSignal): Promise<ModelStatus> {
    const done = await this.stream<{ model: ModelStatus }>(
      "/v1/download",
      { model: id },
      (line) => {
        if (line.type === "progress") onProgress(line as unknown as DownloadProgress);
      },
      signal,
    );
    return done.model;
  }

  cancelDownload(id: string): Promise<{ cancelled: boolean }> {
    return this.call("POST", "/v1/download/cancel", { model: id });
  }

  /** Delete a model's files; refused (`busy`) while it downloads, loads or works. */
  deleteModel(id: string): Promise<{ deleted: string }> {
    return this.call("POST", "/v1/delete", { model: id });
  }

  load(id?: string): Promise<ModelStatus> {
    return this.call("POST", "/v1/load", { model: id });
  }

  unload(): Promise<{ unloaded: string[] }> {
    return this.call("POST", "/v1/unload", {});
  }

  /**
   * Answer `messages` (the daemon's OpenAI route, `POST /v1/chat/completions`, streamed),
   * calling `onText` with each piece of the answer as it is generated.
   */
  async chat(
    messages: ChatMessage[],
    opts: ChatOptions = {},
    onText: (piece: string) => void = () => {},
  ): Promise<ChatResult> {
    let text = "";
    let finishReason: ChatResult["finishReason"] = "stop";
    const last = await this.stream<ChatChunk>(
      "/v1/chat/completions",
      {
        model: opts.model || undefined,
        messages,
        temperature: opts.temperature,
        top_p: opts.topP,
        max_tokens: opts.maxTokens,
        stop: opts.stop,
        seed: opts.seed,
        stream: true,
        stream_options: { include_usage: true },
      },
      (line) => {
        for (const choice of (line as unknown as ChatChunk).choices ?? []) {
          if (choice.delta?.content) {
            text += choice.delta.content;
            onText(choice.delta.content);
          }
          if (choice.finish_reason) finishReason = choice.finish_reason;
        }
      },
      opts.signal,
      chatEnd,
    );
    return { model: last.model, text, finishReason, usage: last.usage! };
  }

  /** Refine `text`, calling `onText` with each piece as it is generated. */
  refine(text: string, opts: RefineOptions = {}, onText: (piece: string) => void = () => {}): Promise<RefineResult> {
    return this.stream<RefineResult>(
      "/v1/refine",
      {
        text,
        model: opts.model || undefined,
        mode: opts.mode,
        prompt: opts.prompt,
        temperature: opts.temperature,
        top_p: opts.topP,
        repetition_penalty: opts.repetitionPenalty,
        max_tokens: opts.maxTokens,
        seed: opts.seed,
      },
      (line) => {
        if (line.type === "token") onText(String(line.text));
      },
      opts.signal,
    );
  }

  /** Transcribe an audio file on this Mac, calling `onSegment` as segments are decoded
   * and `onEvent` with the stream's `start` and `audio` lines (for progress). Aborting
   * `opts.signal` closes the connection, which cancels the transcription in the daemon. */
  transcribe(
    file: string,
    opts: TranscribeOptions = {},
    onSegment: (segment: Segment) => void = () => {},
    onEvent: (event: TranscribeEvent) => void = () => {},
  ): Promise<Transcript> {
    return this.stream<Transcript>(
      "/v1/transcribe",
      { path: file, model: opts.model || undefined, language: opts.language || undefined, task: opts.task },
      (line) => {
        if (line.type === "segment") onSegment(line as unknown as Segment);
        else if (line.type === "start" || line.type === "audio" || line.type === "progress") {
          onEvent(line as unknown as TranscribeEvent);
        }
      },
      opts.signal,
    );
  }

  /**
   * Dictate an audio file on this Mac: its speech (silence trimmed), transcribed with the
   * vocabulary's words, cleaned up by the text model, with the word edits between the
   * transcript and the final text. `onEvent` gets each stage as it begins, the audio's
   * duration, the segments and the cleanup's text as they come. Audio longer than the
   * memory tier allows fails with `audio_too_long` (see {@link limits}). Aborting
   * `opts.signal` closes the connection, which cancels the dictation in the daemon.
   */
  dictate(
    file: string,
    opts: DictateOptions = {},
    onEvent: (event: DictateEvent) => void = () => {},
  ): Promise<DictateResult> {
    const { signal, ...options } = opts;
    return this.stream<DictateResult>(
      "/v1/dictate",
      dictateRequestBody(file, options),
      (line) => {
        const read = parseDictateLine(line);
        if (read.kind === "event") onEvent(read.event);
      },
      signal,
      (line) => {
        const read = parseDictateLine(line);
        if (read.kind === "result") return { done: read.result };
        if (read.kind === "error") return { error: read.error };
        return undefined;
      },
    );
  }

  /** This Mac's limits by memory tier: the longest dictation, the refine token ceiling. */
  limits(): Promise<Limits> {
    return this.call("GET", "/v1/limits");
  }

  /** The user's vocabulary. */
  async vocabulary(): Promise<Vocabulary> {
    return parseVocabulary(await this.call<unknown>("GET", "/v1/vocabulary"));
  }

  /** Add a word to spell exactly (e.g. "Dashwood"); adding it again in another case
   * respells it (`updated`). */
  addVocabularyTerm(term: string): Promise<{ outcome: AddOutcome; vocabulary: Vocabulary }> {
    return this.addVocabulary({ term });
  }

  /** Write `written` wherever `spoken` is said ("murmur dot app" → "Murmur.app"). */
  addReplacement(spoken: string, written: string): Promise<{ outcome: AddOutcome; vocabulary: Vocabulary }> {
    return this.addVocabulary({ spoken, written });
  }

  private async addVocabulary(entry: object): Promise<{ outcome: AddOutcome; vocabulary: Vocabulary }> {
    const r = await this.call<{ outcome: AddOutcome; vocabulary: unknown }>("POST", "/v1/vocabulary", entry);
    return { outcome: r.outcome, vocabulary: parseVocabulary(r.vocabulary) };
  }

  /** Remove every entry `entry` names (ignoring case): a term, or a replacement by its
   * spoken or written form. Nothing matching fails with `invalid_argument`. */
  async removeVocabulary(entry: string): Promise<{ removed: Vocabulary; vocabulary: Vocabulary }> {
    const r = await this.call<{ removed: unknown; vocabulary: unknown }>(
      "DELETE",
      `/v1/vocabulary?entry=${encodeURIComponent(entry)}`,
    );
    return { removed: parseVocabulary(r.removed), vocabulary: parseVocabulary(r.vocabulary) };
  }

  /** Import a CSV file's text (rows `term` or `spoken,written`); all or nothing, the
   * error naming the line. */
  async importVocabulary(csvText: string): Promise<{ imported: ImportSummary; vocabulary: Vocabulary }> {
    const r = await this.call<{ imported: ImportSummary; vocabulary: unknown }>(
      "POST",
      "/v1/vocabulary/import",
      new RawBody(Buffer.from(csvText, "utf8"), "text/csv; charset=utf-8"),
    );
    return { imported: r.imported, vocabulary: parseVocabulary(r.vocabulary) };
  }

  /** Ask the daemon to exit. */
  shutdown(): Promise<unknown> {
    return this.call("POST", "/v1/shutdown", {});
  }
}

/** A request body sent as it is (not as JSON), e.g. a CSV file. */
class RawBody {
  constructor(
    readonly data: Buffer,
    readonly contentType: string,
  ) {}
}

/** How a stream ends: its result, or its error. */
type StreamEnd<T> = { done: T } | { error: MurmurError };

/** The end of a `type`-tagged stream (refine, transcribe, download): `done` or `error`. */
function typedEnd<T>(line: Record<string, unknown>): StreamEnd<T> | undefined {
  if (line.type === "done") {
    const { type: _type, ...rest } = line;
    void _type;
    return { done: rest as T };
  }
  if (line.type === "error") {
    return { error: MurmurError.fromBody(line, Number((line.error as { status?: number })?.status ?? 500)) };
  }
  return undefined;
}

/** The end of a chat's event stream: the usage chunk (asked for with `include_usage`), or
 * an error event. */
function chatEnd(line: Record<string, unknown>): StreamEnd<ChatChunk> | undefined {
  if (line.error)
    return { error: MurmurError.fromBody(line, Number((line.error as { status?: number }).status ?? 500)) };
  if (line.usage) return { done: line as unknown as ChatChunk };
  return undefined;
}

function wrap(e: unknown): MurmurError {
  if (e instanceof MurmurError) return e;
  const err = e as NodeJS.ErrnoException;
  if (isConnectError(e)) {
    return new MurmurError("daemon_unreachable", `murmur serve is not reachable (${err.code})`);
  }
  return new MurmurError("http", err?.message ?? String(e));
}

function readAll(res: http.IncomingMessage, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => (text += c));
    res.on("end", () => resolve(text));
    res.on("error", (e) => reject(signal?.aborted ? abortError() : wrap(e)));
  });
}

/** What `file` got since `offset` (its last 2 000 characters). */
function tail(file: string, offset: number): string {
  try {
    const text = fs.readFileSync(file).subarray(offset).toString("utf8");
    return text.slice(-2000);
  } catch {
    return "";
  }
}
