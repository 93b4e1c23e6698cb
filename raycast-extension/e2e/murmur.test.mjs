// The real extension under termcast (the Raycast API in a terminal, on Bun), driven by
// tuistory: the extension starts the real `murmur serve` from $MURMUR_BIN on demand and
// talks to it over its Unix socket, with the real SmolLM2-135M model.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { DatabaseSync } from "node:sqlite";
import { launchTerminal } from "tuistory";

const extension = path.resolve(import.meta.dirname, "..");
const binary = process.env.MURMUR_BIN;
const fixtures = process.env.MURMUR_FIXTURES ?? "/var/cache/murmur/fixtures";
assert.ok(binary, "MURMUR_BIN: the murmur binary (scripts/test-raycast.sh sets it)");

const home = fs.mkdtempSync(path.join(os.tmpdir(), "murmur-e2e-"));
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

/** One JSON call to the daemon, as the extension would make it. */
function call(method, route, body) {
  return new Promise((resolve, reject) => {
    const payload = body ? JSON.stringify(body) : undefined;
    const req = http.request(
      { socketPath: socket, path: route, method, headers: { "Content-Type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve(JSON.parse(text)));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Preferences as a user would set them in termcast (its LocalStorage database). */
function setPreferences(values) {
  const dir = path.join(extension, ".termcast-bundle");
  fs.mkdirSync(dir, { recursive: true });
  const db = new DatabaseSync(path.join(dir, "data.db"));
  db.exec("CREATE TABLE IF NOT EXISTS localstorage (key TEXT PRIMARY KEY, value TEXT NOT NULL, type TEXT NOT NULL)");
  db.prepare("INSERT OR REPLACE INTO localstorage (key, value, type) VALUES (?, ?, ?)").run(
    "preferences.murmur",
    JSON.stringify(values),
    "string",
  );
  db.prepare("DELETE FROM localstorage WHERE key LIKE '%defaultModel%'").run();
  db.close();
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

/**
 * Type into a search field and wait until the list under it is filtered: `gone` (text the
 * filter removes) has left the screen. Pressing enter before that picks whatever was first.
 */
async function search(session, query, gone) {
  await session.type(query);
  await session.text({ waitFor: (screen) => !screen.includes(gone), timeout: 10_000 });
}

/** The screen without spaces and line breaks (termcast puts streamed chunks on lines of their own). */
const squeeze = (s) => s.replace(/\s+/g, "");

before(() => {
  execFileSync(binary, ["models", "add", path.join(fixtures, "smollm2"), "--id", "smollm2"], { env });
  // Greedy sampling, so the text on screen can be checked against the daemon's answer.
  setPreferences({ temperature: "0", inputSource: "selection", refineMode: "clean" });
});

after(async () => {
  try {
    await call("POST", "/v1/shutdown", {});
  } catch {
    // not running
  }
  fs.rmSync(home, { recursive: true, force: true });
});

test("Refine: enter a text, run it, read the refined text off the screen", async () => {
  const text = "so um i was thinking that we could like maybe meet on tuesday at the office";
  const session = await openCommand("Refine Selected Text");
  try {
    // No selection in a terminal: the command asks for the text.
    await session.waitForText("Text to refine", { timeout: 30_000 });
    await session.type(text);
    await session.press(["ctrl", "enter"]);
    // Done when the primary action (↵) turns from Stop to Paste and the stats appear.
    await session.waitForText("↵ Paste", { timeout: 180_000 });
    await session.waitForText("Tokens:", { timeout: 10_000 });
    const screen = await session.text();
    const expected = await call("POST", "/v1/refine", { text, mode: "clean", temperature: 0, stream: false });
    assert.ok(expected.text.length > 0, JSON.stringify(expected));
    const shown = squeeze(screen);
    // The beginning of the refined text (what fits on the screen) is there, word for word.
    const prefix = squeeze(expected.text).slice(0, 40);
    assert.ok(shown.includes(prefix), `expected ${JSON.stringify(prefix)} on screen:\n${screen}`);
    assert.ok(!screen.includes("Murmur failed"), screen);
    // The actions of the result: Paste, Copy, Refine Again.
    await session.press(["ctrl", "k"]);
    await session.waitForText("Refine Again as", { timeout: 10_000 });
    const actions = await session.text();
    assert.match(actions, /Copy/);
  } finally {
    session.close();
  }
});

test("Manage Models: list, load, set default, and an offline download's error toast", async () => {
  // The daemon may still hold the model from the test before: start from "on disk, not
  // loaded", so the list offers Load Now (with the model loaded, "Load Now" would filter the
  // action panel down to Unload).
  await call("POST", "/v1/unload", {}).catch(() => {});
  const session = await openCommand("Manage Models");
  try {
    await session.waitForText("Speech Models", { timeout: 60_000 });
    const list = await session.text();
    assert.match(list, /Text Models/);
    assert.match(list, /Recommended/, "the model for this machine is marked");
    assert.match(list, /Qwen3 1\.7B\s+qwen3-1\.7b\s+1\.0 GB RAM 2\.5 GB Not Downloaded/);
    assert.match(list, /smollm2\s+smollm2\s+98\.4 MB Downloaded/);

    await session.type("smollm2");
    await session.press(["ctrl", "k"]);
    await session.waitForText("Set as Default", { timeout: 10_000 });
    await search(session, "Load Now", "Refresh");
    await session.press("enter");
    await session.waitForText("Loaded", { timeout: 60_000 });
    assert.equal((await call("GET", "/v1/status")).loaded, "smollm2");

    await session.press(["ctrl", "k"]);
    await search(session, "Set as Default", "Refresh");
    await session.press("enter");
    await session.waitForText("is the default model", { timeout: 10_000 });

    // Offline: the download fails with a toast that says why.
    for (let i = 0; i < "smollm2".length; i++) await session.press("backspace");
    await search(session, "qwen3-0.6b", "98.4 MB");
    await session.waitForText("Qwen3 0.6B", { timeout: 10_000 });
    await session.press("enter");
    await session.waitForText("Offline", { timeout: 30_000 });
    assert.match(await session.text(), /HF_HUB_OFFLINE/);
  } finally {
    session.close();
  }
});
