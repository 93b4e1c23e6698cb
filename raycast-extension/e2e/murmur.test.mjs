// The real extension under termcast (the Raycast API in a terminal, on Bun), driven by
// tuistory: the extension starts the real `murmur serve` from $MURMUR_BIN on demand and
// talks to it over its Unix socket, with the real SmolLM2-135M model.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { fixtures, harness, repeatWav, search, setPreferences, squeeze } from "./harness.mjs";

const { home, call, statusUntil, openCommand, addModels, cleanUp } = harness("murmur-e2e-");

const basePrefs = { temperature: "0", inputSource: "selection", refineMode: "clean" };

before(() => {
  addModels();
  // Greedy sampling, so the text on screen can be checked against the daemon's answer.
  setPreferences(basePrefs);
});

after(cleanUp);

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

test("Ask Murmur: ask a question, read the model's answer off the screen", async () => {
  const question = "What is the capital of France?";
  const session = await openCommand("Ask Murmur");
  try {
    await session.waitForText("Ask a local model", { timeout: 30_000 });
    await session.type(question);
    await session.press(["ctrl", "enter"]);
    // Done when the answer's actions and its token count appear.
    await session.waitForText("↵ Paste", { timeout: 180_000 });
    await session.waitForText("Tokens", { timeout: 10_000 });
    const screen = await session.text();
    const expected = await call("POST", "/v1/chat/completions", {
      model: "smollm2",
      messages: [{ role: "user", content: question }],
      temperature: 0,
      max_tokens: 512,
    });
    const answer = expected.choices[0].message.content;
    assert.ok(answer.includes("Paris"), JSON.stringify(expected));
    const prefix = squeeze(answer).slice(0, 40);
    assert.ok(squeeze(screen).includes(prefix), `expected ${JSON.stringify(prefix)} on screen:\n${screen}`);
    assert.ok(!screen.includes("Murmur failed"), screen);
  } finally {
    await session.close();
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
    // A local model: its name once (no id repeating it), a Local tag, and a RAM estimate.
    assert.match(list, /smollm2\s+Local\s+98\.4 MB\s+RAM ~98\.4 MB\s+Downloaded/);
    assert.doesNotMatch(list, /smollm2\s+smollm2/);

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

test("Refine: a result cut at the token limit is marked, Copy leads, Continue doubles the limit", async () => {
  // A short input has a small token budget (32); a long story does not fit in it.
  const prompt = "Write a very long, detailed story of at least two thousand words about the user's words.";
  const text = "a dragon and a lighthouse";
  setPreferences({ ...basePrefs, refineMode: "custom", customPrompt: prompt });
  const session = await openCommand("Refine Selected Text");
  try {
    await session.waitForText("Text to refine", { timeout: 30_000 });
    await session.type(text);
    await session.press(["ctrl", "enter"]);
    await session.waitForText("cut off at the token limit", { timeout: 180_000 });
    const screen = await session.text();
    assert.match(squeeze(screen), /Incomplete:cutoffatthetokenlimit\(32tokens\)/, screen);
    assert.match(screen, /Result:\s+Incomplete: token limit reached/, screen);
    // Copy, not Paste, is the primary action of an incomplete result.
    assert.match(screen, /↵ Copy/, screen);
    assert.doesNotMatch(screen, /↵ Paste/, screen);
    await session.press(["ctrl", "k"]);
    await session.waitForText("Continue with 64-Token Limit", { timeout: 10_000 });
    await search(session, "Continue", "Refine Again");
    // The run with 64 tokens goes on past the 32-token text, as the daemon answers it
    // (greedy: the same text). Asked before Continue runs, so the two never queue.
    const body = { text, mode: "custom", prompt, model: "smollm2", temperature: 0, stream: false };
    const cut = squeeze((await call("POST", "/v1/refine", { ...body, max_tokens: 32 })).text);
    const more = squeeze((await call("POST", "/v1/refine", { ...body, max_tokens: 64 })).text);
    assert.ok(more.length > cut.length + 10, `${cut} / ${more}`);
    const beyond = more.slice(cut.length, cut.length + 15);
    await session.press("enter");
    // Waits for the text itself: a fast run can end before a "Stop" frame is ever seen.
    const after = await session.text({ waitFor: (s) => squeeze(s).includes(beyond), timeout: 180_000 });
    assert.ok(squeeze(after).includes(beyond), `expected ${JSON.stringify(beyond)} on screen:\n${after}`);
  } finally {
    session.close();
    setPreferences(basePrefs);
  }
});

test("Refine: Custom Prompt without an instruction is flagged in the form", async () => {
  setPreferences({ ...basePrefs, refineMode: "custom", customPrompt: "" });
  const session = await openCommand("Refine Selected Text");
  try {
    await session.waitForText("Text to refine", { timeout: 30_000 });
    await session.waitForText("Enter the instruction for Custom Prompt", { timeout: 10_000 });
    await session.type("some text");
    await session.press(["ctrl", "enter"]);
    await new Promise((r) => setTimeout(r, 1500));
    const screen = await session.text();
    // Still the form: nothing was sent.
    assert.match(screen, /Enter the instruction for Custom Prompt/, screen);
    assert.doesNotMatch(screen, /Refining/, screen);
  } finally {
    session.close();
    setPreferences(basePrefs);
  }
});

test("Transcribe: the form asks for a file", async () => {
  const session = await openCommand("Transcribe Audio File");
  try {
    await session.waitForText("Audio File", { timeout: 30_000 });
    await session.press(["ctrl", "enter"]);
    await session.waitForText("Choose an audio file", { timeout: 10_000 });
  } finally {
    session.close();
  }
});

/** Open Transcribe Audio File and submit `file` through the form's file picker. */
async function transcribeFile(file) {
  const session = await openCommand("Transcribe Audio File");
  await session.waitForText("Audio File", { timeout: 30_000 });
  await session.type(file);
  await session.waitForText(path.basename(file), { timeout: 10_000 });
  await session.press("enter");
  await new Promise((r) => setTimeout(r, 500));
  await session.press(["ctrl", "enter"]);
  return session;
}

test("Transcribe: the Speech Model preference, progress against the duration, Stop cancels in the daemon", async () => {
  setPreferences({ ...basePrefs, speechModel: "whisper-test" });
  const long = repeatWav(path.join(fixtures, "audio/jfk.wav"), 12, path.join(home, "long-e2e.wav"));
  const session = await transcribeFile(long);
  try {
    // Progress: how far into the 2:12 of audio the segments got.
    await session.waitForText(/Transcribing… (?!00:00)\d\d:\d\d of 02:1\d \(\d+%\)/, { timeout: 180_000 });
    assert.equal((await call("GET", "/v1/status")).loaded_audio, "whisper-test");
    // Running, so Stop is the primary action (waiting for its label raced the redraws
    // that progress makes every half second).
    await session.press("enter");
    await session.waitForText("Stopped at", { timeout: 30_000 });
    // The daemon dropped the transcription: idle within about the step it was in (a window,
    // ~10 s in a debug build on a CPU), not after the ~100 s of audio left.
    const stoppedAt = Date.now();
    const idle = await statusUntil((s) => !s.in_use, 60_000);
    assert.equal(idle.in_use, false, JSON.stringify(idle));
    assert.ok(Date.now() - stoppedAt < 20_000, `idle ${Date.now() - stoppedAt} ms after Stop`);
    const screen = await session.text();
    assert.match(squeeze(screen), /Stoppedat\d\d:\d\dof02:1\d/, screen);
    assert.doesNotMatch(screen, /No speech found/, screen);
    assert.match(screen, /↵ Copy Text/, screen);
  } finally {
    session.close();
    setPreferences(basePrefs);
  }
});

test("Transcribe: a speech model that is not downloaded fails in the view, with Download and Manage Models", async () => {
  setPreferences({ ...basePrefs, speechModel: "whisper-large-v3-turbo" });
  const session = await transcribeFile(path.join(fixtures, "audio/jfk.wav"));
  try {
    await session.waitForText("Failed: Model not downloaded", { timeout: 60_000 });
    const screen = await session.text();
    assert.match(squeeze(screen), /Failed:Modelnotdownloaded/, screen);
    assert.doesNotMatch(screen, /No speech found/, screen);
    // The actions stay in the view after the toast is gone.
    await new Promise((r) => setTimeout(r, 4000));
    await session.press(["ctrl", "k"]);
    await session.waitForText("Download Model", { timeout: 10_000 });
    assert.match(await session.text(), /Manage Models/);
  } finally {
    session.close();
    setPreferences(basePrefs);
  }
});

test("Manage Models: Set as Default on a speech model, Download first for a missing one, Unload says so", async () => {
  await call("POST", "/v1/load", { model: "smollm2" });
  const session = await openCommand("Manage Models");
  try {
    await session.waitForText("Speech Models", { timeout: 60_000 });
    await search(session, "whisper-test", "Qwen3");
    await session.press(["ctrl", "k"]);
    await search(session, "Set as Default", "Refresh");
    await session.press("enter");
    await session.waitForText("Speech model, for Transcribe", { timeout: 10_000 });

    for (let i = 0; i < "whisper-test".length; i++) await session.press("backspace");
    await search(session, "qwen3-0.6b", "whisper-test");
    await session.press(["ctrl", "k"]);
    await session.waitForText("Download and Set as Default", { timeout: 10_000 });
    await session.press("escape");

    for (let i = 0; i < "qwen3-0.6b".length; i++) await session.press("backspace");
    await search(session, "smollm2", "qwen3-0.6b");
    await session.press(["ctrl", "k"]);
    await search(session, "Unload", "Refresh");
    await session.press("enter");
    await session.waitForText("Unloaded smollm2", { timeout: 10_000 });
    assert.equal((await call("GET", "/v1/status")).loaded, null);
  } finally {
    session.close();
  }
});
