/**
 * The client's new calls (dictate, limits, the vocabulary) on the wire, against a
 * node:http server on a Unix socket that answers as the API contract says (.api-spec in
 * the daemon's docs: `POST /v1/dictate` and its NDJSON stream, `GET /v1/limits`, the
 * vocabulary routes). It checks what the client sends (paths, JSON, query, CSV bodies)
 * and how it reads the answers. The real daemon's answers are checked by
 * test/engine.test.ts and e2e/, which run these calls against `murmur serve`.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineClient, MurmurError } from "../src/lib/engine";
import type { DictateEvent, DictateResult } from "../src/lib/engine";

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

const result: DictateResult = {
  text: "So, what is the capital of France?",
  transcript: "um so what is the capital of france",
  language: "en",
  edits: [
    {
      kind: "replace",
      before_start: 0,
      before_end: 5,
      after_start: 0,
      after_end: 3,
      before: "um so",
      after: "So,",
    },
  ],
  timings: {
    decode_audio_secs: 0.01,
    vad_secs: 0.1,
    transcribe_secs: 2,
    refine_secs: 1,
    total_secs: 3.2,
    finish_secs: 3.2,
  },
  warnings: [{ code: "cleanup_trimmed", message: "Words around the text were removed." }],
  audio_secs: 4,
  speech_secs: 3.5,
  segments: [{ id: 0, start: 0, end: 3.5, text: " um so what is the capital of france" }],
  speech_model: "whisper-test",
  text_model: "smollm2",
  refine_stats: null,
};

const vocabulary = { terms: ["Dashwood"], replacements: [{ spoken: "murmur dot app", written: "Murmur.app" }] };

let dir: string;
let server: http.Server;
let client: EngineClient;
const seen: Seen[] = [];
/** Set when the server saw a dictation's client go away before the end. */
let clientLeft = false;
/** Answer as an older murmur serve, which has none of these routes. */
let legacy = false;

function route(req: http.IncomingMessage, body: string, res: http.ServerResponse) {
  const json = (status: number, value: unknown) => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(value));
  };
  const url = new URL(req.url ?? "/", "http://localhost");
  const key = `${req.method} ${url.pathname}`;
  if (legacy) return json(404, { error: { kind: "not_found", message: `no route ${req.method} ${url.pathname}` } });
  if (key === "POST /v1/dictate") {
    const request = JSON.parse(body) as { path: string };
    if (request.path.endsWith("long.wav")) {
      return json(413, {
        error: {
          kind: "audio_too_long",
          message: "the audio is 400 s or longer; this machine dictates at most 360 s",
          seconds: 400,
          limit_secs: 360,
        },
      });
    }
    res.writeHead(200, { "Content-Type": "application/x-ndjson" });
    const lines: object[] = [
      { event: "stage", stage: "decoding_audio" },
      { event: "duration", seconds: 4 },
      { event: "stage", stage: "detecting_speech" },
      { event: "stage", stage: "transcribing" },
      { event: "segment", ...result.segments[0] },
      { event: "stage", stage: "refining" },
      { event: "text", delta: "So, what" },
      { event: "text", delta: " is the capital of France?" },
    ];
    if (request.path.endsWith("hang.wav")) {
      // Stops after the first stage and waits for the client to leave.
      res.write(JSON.stringify(lines[0]) + "\n");
      res.on("close", () => (clientLeft = !res.writableEnded));
      return;
    }
    // Split mid-line, as a socket may deliver it.
    const text = lines.map((l) => JSON.stringify(l) + "\n").join("");
    res.write(text.slice(0, 37));
    res.write(text.slice(37));
    if (request.path.endsWith("broken.wav")) {
      res.end(JSON.stringify({ event: "error", error: { kind: "internal", message: "boom", status: 500 } }) + "\n");
    } else {
      res.end(JSON.stringify({ event: "result", ...result }) + "\n");
    }
    return;
  }
  if (key === "GET /v1/limits")
    return json(200, { ram_tier: "medium", max_recording_secs: 480, max_refine_tokens: 2048 });
  if (key === "GET /v1/vocabulary") return json(200, vocabulary);
  if (key === "POST /v1/vocabulary") return json(200, { outcome: "added", vocabulary });
  if (key === "DELETE /v1/vocabulary") {
    const entry = url.searchParams.get("entry");
    if (entry !== "Dashwood") {
      return json(400, { error: { kind: "invalid_argument", message: `nothing in the vocabulary is ${entry}` } });
    }
    return json(200, { removed: { terms: ["Dashwood"], replacements: [] }, vocabulary: { terms: [] } });
  }
  if (key === "POST /v1/vocabulary/import") {
    return json(200, {
      imported: { terms_added: 1, replacements_added: 1, updated: 0, unchanged: 0 },
      vocabulary,
    });
  }
  return json(404, { error: { kind: "not_found", message: `no route ${req.method} ${url.pathname}` } });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "murmur-contract-"));
  const socketPath = path.join(dir, "murmur.sock");
  server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", contentType: req.headers["content-type"], body });
      route(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  client = new EngineClient({ socketPath, autoStart: false });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

const last = () => seen[seen.length - 1];

describe("dictate on the wire", () => {
  it("sends the file and options as JSON and reads the stream's events and result", async () => {
    const events: DictateEvent[] = [];
    const r = await client.dictate(
      "/audio/jfk.wav",
      { speechModel: "whisper-test", refine: true, vad: false, appName: "Mail" },
      (e) => events.push(e),
    );
    expect(r).toEqual(result);
    expect(JSON.parse(last().body)).toEqual({
      path: "/audio/jfk.wav",
      stream: true,
      speech_model: "whisper-test",
      vad: null,
      app_name: "Mail",
    });
    expect(last().contentType).toBe("application/json");
    expect(events.map((e) => (e.type === "stage" ? e.stage : e.type))).toEqual([
      "decoding_audio",
      "duration",
      "detecting_speech",
      "transcribing",
      "segment",
      "refining",
      "text",
      "text",
    ]);
    expect(events[1]).toEqual({ type: "duration", seconds: 4 });
    expect(events.flatMap((e) => (e.type === "text" ? [e.delta] : [])).join("")).toBe(result.text);
  });

  it("fails with audio_too_long (HTTP 413) and its numbers", async () => {
    const e = (await client.dictate("/audio/long.wav").catch((x: unknown) => x)) as MurmurError;
    expect(e).toBeInstanceOf(MurmurError);
    expect([e.kind, e.status, e.details.seconds, e.details.limit_secs]).toEqual(["audio_too_long", 413, 400, 360]);
  });

  it("fails with the error line that ends a stream", async () => {
    await expect(client.dictate("/audio/broken.wav")).rejects.toMatchObject({ kind: "internal", message: "boom" });
  });

  it("Stop closes the connection (the daemon cancels when its client leaves)", async () => {
    const controller = new AbortController();
    const promise = client.dictate("/audio/hang.wav", { signal: controller.signal }, (e) => {
      if (e.type === "stage") controller.abort();
    });
    await expect(promise).rejects.toMatchObject({ kind: "cancelled" });
    const started = Date.now();
    while (!clientLeft && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(clientLeft).toBe(true);
  });
});

describe("limits and the vocabulary on the wire", () => {
  it("reads the limits", async () => {
    expect(await client.limits()).toEqual({ ram_tier: "medium", max_recording_secs: 480, max_refine_tokens: 2048 });
    expect(`${last().method} ${last().url}`).toBe("GET /v1/limits");
  });

  it("lists, adds terms and replacements", async () => {
    expect(await client.vocabulary()).toEqual(vocabulary);
    const term = await client.addVocabularyTerm("Dashwood");
    expect(term.outcome).toBe("added");
    expect([last().method, last().url, JSON.parse(last().body)]).toEqual([
      "POST",
      "/v1/vocabulary",
      { term: "Dashwood" },
    ]);
    await client.addReplacement("murmur dot app", "Murmur.app");
    expect(JSON.parse(last().body)).toEqual({ spoken: "murmur dot app", written: "Murmur.app" });
  });

  it("removes by the entry in the query, and a miss is invalid_argument", async () => {
    const r = await client.removeVocabulary("Dashwood");
    expect(r).toEqual({
      removed: { terms: ["Dashwood"], replacements: [] },
      vocabulary: { terms: [], replacements: [] },
    });
    expect([last().method, last().url, last().body]).toEqual(["DELETE", "/v1/vocabulary?entry=Dashwood", ""]);
    await expect(client.removeVocabulary("a & b=c 🎉")).rejects.toMatchObject({
      kind: "invalid_argument",
      status: 400,
    });
    expect(new URL(last().url, "http://x").searchParams.get("entry")).toBe("a & b=c 🎉");
  });

  it("imports a CSV file's text as a text/csv body", async () => {
    const csv = 'spoken,written\nmurmur dot app,Murmur.app\n"Dash, would",Dashwood\ncafé 🎉\n';
    const r = await client.importVocabulary(csv);
    expect(r.imported).toEqual({ terms_added: 1, replacements_added: 1, updated: 0, unchanged: 0 });
    expect(last().contentType).toMatch(/^text\/csv/);
    expect([last().method, last().url, last().body]).toEqual(["POST", "/v1/vocabulary/import", csv]);
  });

  it("an older daemon without the routes answers not_found", async () => {
    legacy = true;
    try {
      await expect(client.vocabulary()).rejects.toMatchObject({ kind: "not_found", status: 404 });
      await expect(client.limits()).rejects.toMatchObject({ kind: "not_found", status: 404 });
      await expect(client.dictate("/audio/jfk.wav")).rejects.toMatchObject({ kind: "not_found", status: 404 });
    } finally {
      legacy = false;
    }
  });
});
