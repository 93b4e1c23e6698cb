// What the e2e files share: a daemon home of their own (models, settings, socket), the
// extension under termcast driven by tuistory, and calls to the daemon as the extension
// makes them. The extension starts the real `murmur serve` from $MURMUR_BIN on demand and
// talks to it over its Unix socket.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { launchTerminal } from "tuistory";

export const extension = path.resolve(import.meta.dirname, "..");
export const binary = process.env.MURMUR_BIN;
export const fixtures = process.env.MURMUR_FIXTURES ?? "/var/cache/murmur/fixtures";
assert.ok(binary, "MURMUR_BIN: the murmur binary (scripts/test-raycast.sh sets it)");

/** Preferences as a user would set them in termcast (its LocalStorage database). */
export function setPreferences(values) {
  const dir = path.join(extension, ".termcast-bundle");
  fs.mkdirSync(dir, { recursive: true });
  const db = new DatabaseSync(path.join(dir, "data.db"));
  db.exec("CREATE TABLE IF NOT EXISTS localstorage (key TEXT PRIMARY KEY, value TEXT NOT NULL, type TEXT NOT NULL)");
  db.prepare("INSERT OR REPLACE INTO localstorage (key, value, type) VALUES (?, ?, ?)").run(
    "preferences.murmur",
    JSON.stringify(values),
    "string",
  );
  // The defaults set with Set as Default in Manage Models (text and speech).
  db.prepare("DELETE FROM localstorage WHERE key LIKE '%defaultModel%' OR key LIKE '%defaultAudioModel%'").run();
  db.close();
}

/** A command's own preferences (e.g. Dictate Audio File's), as termcast keeps them. */
export function setCommandPreferences(command, values) {
  const dir = path.join(extension, ".termcast-bundle");
  fs.mkdirSync(dir, { recursive: true });
  const db = new DatabaseSync(path.join(dir, "data.db"));
  db.exec("CREATE TABLE IF NOT EXISTS localstorage (key TEXT PRIMARY KEY, value TEXT NOT NULL, type TEXT NOT NULL)");
  db.prepare("INSERT OR REPLACE INTO localstorage (key, value, type) VALUES (?, ?, ?)").run(
    `preferences.murmur.${command}`,
    JSON.stringify(values),
    "string",
  );
  db.close();
}

/**
 * Type into a search field and wait until the list under it is filtered: `gone` (text the
 * filter removes) has left the screen. Pressing enter before that picks whatever was first.
 */
export async function search(session, query, gone) {
  await session.type(query);
  await session.text({ waitFor: (screen) => !screen.includes(gone), timeout: 10_000 });
}

/** The screen without spaces and line breaks (termcast puts streamed chunks on lines of their own). */
export const squeeze = (s) => s.replace(/\s+/g, "");

/** `wav` (16-bit PCM) with its samples repeated `times`: a long file from a short one. */
export function repeatWav(wav, times, out) {
  const buf = fs.readFileSync(wav);
  let at = 12;
  let fmt;
  let data;
  while (at + 8 <= buf.length) {
    const id = buf.toString("ascii", at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    if (id === "fmt ") fmt = buf.subarray(at + 8, at + 8 + size);
    if (id === "data") data = buf.subarray(at + 8, at + 8 + size);
    at += 8 + size + (size % 2);
  }
  const pcm = Buffer.concat(Array.from({ length: times }, () => data));
  const chunk = (id, body) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, "ascii");
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body]);
  };
  const header = Buffer.alloc(12);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(4 + 8 + fmt.length + 8 + pcm.length, 4);
  header.write("WAVE", 8, "ascii");
  fs.writeFileSync(out, Buffer.concat([header, chunk("fmt ", fmt), chunk("data", pcm)]));
  return out;
}

/**
 * A daemon home of its own (`prefix` names its temporary folder) with the test models
 * added, and what a test file does with it.
 */
export function harness(prefix) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const socket = path.join(home, "run/murmur.sock");
  const env = {
    ...process.env,
    MURMUR_SOCKET: socket,
    MURMUR_BIN: binary,
    MURMUR_CONFIG_DIR: path.join(home, "config"),
    HF_HOME: path.join(home, "hf"),
    HF_HUB_CACHE: path.join(home, "hf/hub"),
    HF_HUB_OFFLINE: "1",
    MURMUR_DEFAULT_MODEL: "smollm2",
    PATH: `${path.join(import.meta.dirname, "node_modules/.bin")}:${process.env.PATH}`,
  };

  /** One call to the daemon: its HTTP status and JSON answer. `body` is sent as JSON,
   * or as it is when `contentType` is given. */
  function request(method, route, body, contentType) {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : contentType ? body : JSON.stringify(body);
      const req = http.request(
        { socketPath: socket, path: route, method, headers: { "Content-Type": contentType ?? "application/json" } },
        (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => {
            let parsed;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = text;
            }
            resolve({ status: res.statusCode, body: parsed });
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** One JSON call to the daemon, as the extension would make it. */
  async function call(method, route, body) {
    return (await request(method, route, body)).body;
  }

  /** The daemon's status, polled until `ok(status)` (or `ms` passed); returns the last one. */
  async function statusUntil(ok, ms) {
    const started = Date.now();
    let status = await call("GET", "/v1/status");
    while (!ok(status) && Date.now() - started < ms) {
      await new Promise((r) => setTimeout(r, 100));
      status = await call("GET", "/v1/status");
    }
    return status;
  }

  /** Start the daemon on this home's socket when it does not answer (a file's first test
   * may call it before any command started it). */
  async function ensureDaemon() {
    const up = () =>
      request("GET", "/v1/status").then(
        () => true,
        () => false,
      );
    if (await up()) return;
    fs.mkdirSync(path.dirname(socket), { recursive: true, mode: 0o700 });
    const log = fs.openSync(path.join(home, "serve.log"), "a");
    spawn(binary, ["serve", "--socket", socket], { env, detached: true, stdio: ["ignore", "ignore", log] }).unref();
    fs.closeSync(log);
    const started = Date.now();
    while (!(await up())) {
      assert.ok(Date.now() - started < 30_000, "murmur serve did not start (see serve.log)");
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function openCommand(title) {
    const session = await launchTerminal({
      // By path: the PTY looks the command up on this process's PATH, not on `env`'s.
      command: path.join(import.meta.dirname, "node_modules/.bin/termcast"),
      args: ["dev", extension],
      cols: 140,
      rows: 60,
      cwd: extension,
      env,
      waitForDataTimeout: 60_000,
    });
    await session.waitForText("Search commands", { timeout: 60_000 });
    await session.type(title);
    await session.waitForText(title, { timeout: 10_000 });
    await session.press("enter");
    return session;
  }

  /** Register the fixtures' SmolLM2 (`smollm2`) and Whisper base (`whisper-test`). */
  function addModels() {
    execFileSync(binary, ["models", "add", path.join(fixtures, "smollm2"), "--id", "smollm2"], { env });
    execFileSync(
      binary,
      ["models", "add", path.join(fixtures, "whisper-base-ct2"), "--id", "whisper-test", "--audio"],
      { env },
    );
  }

  /**
   * Skip test `t` when the daemon has no `method route`: it answers HTTP 404 `not_found`
   * (a daemon older than the extension; the branch adding the route is not merged). Any
   * other answer (405 for a GET on a POST route, 200, 400, ...) runs the test, so a route
   * that exists but fails still fails the test. Returns whether to go on.
   */
  async function requireRoute(t, method, route) {
    const { status, body } = await request(method, route);
    if (status === 404 && body?.error?.kind === "not_found") {
      t.skip(`murmur serve has no ${method} ${route} (404 not_found): runs once the daemon routes are merged`);
      return false;
    }
    return true;
  }

  /** Stop the daemon and remove the home. */
  async function cleanUp() {
    try {
      await call("POST", "/v1/shutdown", {});
    } catch {
      // not running
    }
    fs.rmSync(home, { recursive: true, force: true });
  }

  return {
    home,
    socket,
    env,
    request,
    call,
    statusUntil,
    ensureDaemon,
    requireRoute,
    openCommand,
    addModels,
    cleanUp,
  };
}
