/**
 * The client module against a real `murmur serve` (started by the client itself, from
 * the binary in $MURMUR_BIN) on the real SmolLM2-135M model: no mock server.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineClient, MurmurError, defaultSocketPath, findBinary } from "../src/lib/engine";
import type { Segment } from "../src/lib/engine";
import { formatBytes, formatTimestamp, toSrt, toText } from "../src/lib/format";

const binary = process.env.MURMUR_BIN ?? "";
const fixtures = process.env.MURMUR_FIXTURES ?? "/var/cache/murmur/fixtures";
const smollm2 = path.join(fixtures, "smollm2");

let home: string;
let env: NodeJS.ProcessEnv;
let client: EngineClient;

beforeAll(() => {
  expect(binary, "MURMUR_BIN: the murmur binary (scripts/test-raycast.sh sets it)").not.toBe("");
  home = fs.mkdtempSync(path.join(os.tmpdir(), "murmur-vitest-"));
  env = {
    ...process.env,
    MURMUR_CONFIG_DIR: path.join(home, "config"),
    HF_HOME: path.join(home, "hf"),
    HF_HUB_CACHE: path.join(home, "hf/hub"),
    HF_HUB_OFFLINE: "1",
    MURMUR_DEFAULT_MODEL: "smollm2",
  };
  delete env.MURMUR_SOCKET;
  execFileSync(binary, ["models", "add", smollm2, "--id", "smollm2"], { env });
  execFileSync(binary, ["models", "add", path.join(fixtures, "whisper-base-ct2"), "--id", "whisper-test", "--audio"], {
    env,
  });
  client = new EngineClient({ socketPath: path.join(home, "run/murmur.sock"), binary, env, idleUnloadMinutes: 10 });
});

afterAll(async () => {
  try {
    await client.shutdown();
  } catch {
    // already gone
  }
  fs.rmSync(home, { recursive: true, force: true });
});

describe("engine client", () => {
  it("starts the daemon on demand and reads its status", async () => {
    expect(await client.isRunning()).toBe(false);
    const status = await client.status();
    expect(status.status).toBe("running");
    expect(status.default_model).toBe("smollm2");
    expect(status.idle_unload_secs).toBe(600);
    expect(fs.statSync(client.socketPath).mode & 0o777).toBe(0o600);
    const models = await client.models();
    const smol = models.find((m) => m.id === "smollm2");
    expect(smol?.state).toBe("downloaded");
    expect(models.some((m) => m.recommended)).toBe(true);
  });

  it("streams a refine from the real model", async () => {
    const pieces: string[] = [];
    const result = await client.refine(
      "i has went to the store yesterday and buyed three apple",
      { model: "smollm2", mode: "grammar", temperature: 0, maxTokens: 40 },
      (p) => pieces.push(p),
    );
    expect(pieces.length).toBeGreaterThan(1);
    expect(result.text).toBe(pieces.join("").trim());
    expect(result.text.length).toBeGreaterThan(0);
    expect(result.model).toBe("smollm2");
    expect(result.stats.generated_tokens).toBeGreaterThan(0);
    expect((await client.status()).loaded).toBe("smollm2");
  });

  it("cancels a generation when aborted", async () => {
    const controller = new AbortController();
    const pieces: string[] = [];
    const started = Date.now();
    const promise = client.refine(
      "a dragon, a lighthouse and a lost key",
      {
        model: "smollm2",
        mode: "custom",
        prompt: "Write a very long, detailed story of at least two thousand words about the user's words.",
        maxTokens: 2000,
        seed: 3,
        signal: controller.signal,
      },
      (p) => {
        pieces.push(p);
        if (pieces.length === 3) controller.abort();
      },
    );
    await expect(promise).rejects.toMatchObject({ kind: "cancelled" });
    expect(pieces.length).toBeGreaterThanOrEqual(3);
    // The daemon stops generating: it is idle again shortly, and answers the next call.
    let status = await client.status();
    while (status.in_use && Date.now() - started < 20_000) {
      await new Promise((r) => setTimeout(r, 100));
      status = await client.status();
    }
    expect(status.in_use).toBe(false);
    const next = await client.refine("thanks you", { model: "smollm2", temperature: 0, maxTokens: 12 });
    expect(next.text.length).toBeGreaterThan(0);
  });

  it("streams the segments of a real transcription", async () => {
    const segments: Segment[] = [];
    const transcript = await client.transcribe(
      path.join(fixtures, "audio/jfk.wav"),
      { model: "whisper-test", language: "en" },
      (s) => segments.push(s),
    );
    expect(segments.length).toBeGreaterThan(0);
    expect(transcript.segments.map((s) => s.text)).toEqual(segments.map((s) => s.text));
    expect(transcript.text.toLowerCase()).toContain("ask not what your country can do for you");
    expect(toSrt(segments)).toMatch(/^1\n00:00:00,000 --> 00:00:\d\d,\d{3}\n/);
    expect((await client.status()).loaded_audio).toBe("whisper-test");
  });

  it("maps the daemon's errors to typed errors", async () => {
    const err = (p: Promise<unknown>) => p.then(() => expect.fail("should fail")).catch((e: unknown) => e);
    const unknown = (await err(client.refine("hi", { model: "nope" }))) as MurmurError;
    expect(unknown).toBeInstanceOf(MurmurError);
    expect([unknown.kind, unknown.status, unknown.model]).toEqual(["unknown_model", 404, "nope"]);
    const missing = (await err(client.refine("hi", { model: "qwen3-1.7b" }))) as MurmurError;
    expect([missing.kind, missing.status, missing.model]).toEqual(["not_downloaded", 409, "qwen3-1.7b"]);
    const custom = (await err(client.refine("hi", { mode: "custom" }))) as MurmurError;
    expect(custom.kind).toBe("invalid_argument");
    expect(custom.message).toContain("prompt");
    const offline = (await err(client.download("qwen3-1.7b", () => {}))) as MurmurError;
    expect(offline.kind).toBe("offline");
    const local = (await err(client.deleteModel("smollm2"))) as MurmurError;
    expect(local.kind).toBe("invalid_argument");
  });

  it("starts the daemon again when it died", async () => {
    const before = await client.status();
    process.kill(before.pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 200));
    const after = await client.status();
    expect(after.pid).not.toBe(before.pid);
    expect(after.status).toBe("running");
  });

  it("reports a binary that cannot start", async () => {
    const broken = new EngineClient({ socketPath: path.join(home, "none/murmur.sock"), binary: "/bin/false" });
    await expect(broken.status()).rejects.toMatchObject({ kind: "daemon_failed" });
    expect(() => findBinary(path.join(home, "nothing-here"))).toThrow(/not found/);
    const noAuto = new EngineClient({ socketPath: path.join(home, "none2/murmur.sock"), autoStart: false });
    await expect(noAuto.status()).rejects.toMatchObject({ kind: "daemon_unreachable" });
  });
});

describe("helpers", () => {
  it("computes the daemon's default socket path", () => {
    expect(defaultSocketPath("darwin", { HOME: "/Users/me" })).toBe(
      "/Users/me/Library/Caches/Murmur/serve/murmur.sock",
    );
    expect(defaultSocketPath("linux", { HOME: "/home/me", XDG_RUNTIME_DIR: "/run/user/1" })).toBe(
      "/run/user/1/murmur/murmur.sock",
    );
    expect(defaultSocketPath("linux", { HOME: "/home/me" })).toBe("/home/me/.cache/murmur/serve/murmur.sock");
    expect(defaultSocketPath("darwin", { MURMUR_SOCKET: "/tmp/x.sock" })).toBe("/tmp/x.sock");
  });

  it("formats sizes, timestamps and subtitles", () => {
    expect(formatBytes(1_700_000_000)).toBe("1.7 GB");
    expect(formatBytes(null)).toBe("?");
    expect(formatTimestamp(3661.5)).toBe("01:01:01,500");
    const segments = [
      { id: 0, start: 0, end: 2.5, text: " Hello there." },
      { id: 1, start: 2.5, end: 4, text: " General Kenobi." },
    ];
    expect(toText(segments)).toBe("Hello there. General Kenobi.");
    expect(toSrt(segments)).toBe(
      "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n00:00:02,500 --> 00:00:04,000\nGeneral Kenobi.\n",
    );
  });
});
