// Dictate Audio File and Manage Vocabulary, the real extension under termcast against the
// real `murmur serve` (Whisper base from the fixtures; the cleanup off, so the text is the
// transcript with the vocabulary applied). Each test needs daemon routes
// (`/v1/dictate`, `/v1/limits`, `/v1/vocabulary`): a daemon without one (HTTP 404
// `not_found`) skips the test with that message; any other answer runs it.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { fixtures, harness, repeatWav, search, setCommandPreferences, setPreferences, squeeze } from "./harness.mjs";

const { home, request, call, statusUntil, ensureDaemon, requireRoute, openCommand, addModels, cleanUp } =
  harness("murmur-e2e-dictate-");

const jfk = path.join(fixtures, "audio/jfk.wav");

before(async () => {
  addModels();
  setPreferences({ temperature: "0", speechModel: "whisper-test" });
  // No cleanup: no text model to load, and the text is the transcript with the
  // vocabulary applied (deterministic).
  setCommandPreferences("dictate-audio", { cleanUp: false, trimSilence: true, useVocabulary: true, appName: "" });
  await ensureDaemon();
});

after(async () => {
  setCommandPreferences("dictate-audio", {});
  await cleanUp();
});

/** Open Dictate Audio File and submit `file` through the form's file picker. */
async function dictateFile(file) {
  const session = await openCommand("Dictate Audio File");
  await session.waitForText("Audio File", { timeout: 30_000 });
  await session.type(file);
  await session.waitForText(path.basename(file), { timeout: 10_000 });
  await session.press("enter");
  await new Promise((r) => setTimeout(r, 500));
  await session.press(["ctrl", "enter"]);
  return session;
}

/** The vocabulary emptied, through the daemon. */
async function clearVocabulary() {
  const v = await call("GET", "/v1/vocabulary");
  for (const entry of [...v.terms, ...v.replacements.map((r) => r.spoken)]) {
    await request("DELETE", `/v1/vocabulary?entry=${encodeURIComponent(entry)}`);
  }
}

test("Dictate: JFK with a replacement from the vocabulary, the edit listed, the timings, and Undo This Edit", async (t) => {
  if (!(await requireRoute(t, "GET", "/v1/dictate")) || !(await requireRoute(t, "GET", "/v1/vocabulary"))) return;
  await clearVocabulary();
  const added = await request("POST", "/v1/vocabulary", { spoken: "fellow americans", written: "FELLOW-AMERICANS" });
  assert.equal(added.status, 200, JSON.stringify(added.body));
  const session = await dictateFile(jfk);
  try {
    // Done: the metadata's timings are there.
    await session.waitForText("Total Time", { timeout: 180_000 });
    const screen = await session.text({ waitFor: (s) => s.includes("Edits ("), timeout: 10_000 });
    assert.match(screen, /Result:\s+Complete/, screen);
    assert.match(screen, /Speech Model:\s+whisper-test/, screen);
    assert.match(screen, /Text Model:\s+None \(no clean-up\)/, screen);
    assert.match(screen, /Transcribe Time:\s+\d/, screen);
    const shown = squeeze(screen);
    assert.ok(shown.includes("askwhatyoucandoforyourcountry"), screen);
    // The replacement is in the text, and listed among the edits (~~before~~ → after).
    assert.ok(shown.includes("FELLOW-AMERICANS"), screen);
    assert.match(screen, /Edits \(\d+\)/, screen);
    assert.match(screen, /↵ Paste Text/, screen);

    await session.press(["ctrl", "k"]);
    await session.waitForText("Review Edits", { timeout: 10_000 });
    assert.match(await session.text(), /Copy Transcript/);
    await search(session, "Review Edits", "Copy Transcript");
    await session.press("enter");
    const list = await session.text({ waitFor: (s) => /Edits · \d+ of \d+ kept/.test(s), timeout: 10_000 });
    const [, kept, all] = /Edits · (\d+) of (\d+) kept/.exec(list);
    assert.equal(kept, all, list);
    await search(session, "FELLOW", "Search edits");
    await session.waitForText("↵ undo this edit", { timeout: 10_000 });
    await session.press("enter");
    const undone = await session.text({ waitFor: (s) => s.includes("(undone)"), timeout: 10_000 });
    assert.match(undone, new RegExp(`Edits · ${Number(all) - 1} of ${all} kept`), undone);
    assert.match(undone, /↵ redo this edit/, undone);
    // The detail shows the text with the transcript's words back.
    assert.match(squeeze(undone), /myfellowAmericans/i, undone);
  } finally {
    session.close();
    await clearVocabulary();
  }
});

test("Dictate: a recording longer than this machine's limit is refused at once, with Transcribe Instead", async (t) => {
  if (!(await requireRoute(t, "GET", "/v1/dictate")) || !(await requireRoute(t, "GET", "/v1/limits"))) return;
  const limits = await call("GET", "/v1/limits");
  assert.ok(limits.max_recording_secs > 0, JSON.stringify(limits));
  // JFK is 11 s: enough copies to pass the limit by half a minute.
  const long = repeatWav(jfk, Math.ceil((limits.max_recording_secs + 30) / 11), path.join(home, "too-long.wav"));
  const session = await dictateFile(long);
  try {
    const screen = await session.text({
      waitFor: (s) => squeeze(s).includes("Failed:Recordingtoolong"),
      timeout: 60_000,
    });
    assert.match(squeeze(screen), /Failed:Recordingtoolong/, screen);
    // Refused before any work: nothing is loaded or running.
    const status = await statusUntil((s) => !s.in_use, 5_000);
    assert.equal(status.in_use, false, JSON.stringify(status));
    await new Promise((r) => setTimeout(r, 4000));
    await session.press(["ctrl", "k"]);
    await session.waitForText("Transcribe Instead", { timeout: 10_000 });
    const actions = await session.text();
    assert.match(actions, /Choose Another File/, actions);
  } finally {
    session.close();
  }
});

test("Manage Vocabulary: add a term and a replacement, import a CSV file, a bad row's line, what Remove takes", async (t) => {
  if (!(await requireRoute(t, "GET", "/v1/vocabulary")) || !(await requireRoute(t, "GET", "/v1/vocabulary/import")))
    return;
  await clearVocabulary();
  const good = path.join(home, "words.csv");
  fs.writeFileSync(good, 'spoken,written\nmacOS\n"kube cuddle",kubectl\n');
  const bad = path.join(home, "bad.csv");
  fs.writeFileSync(bad, "Dashwood\none,two,three\n");
  const empty = await openCommand("Manage Vocabulary");
  try {
    await empty.waitForText("No vocabulary yet", { timeout: 60_000 });
  } finally {
    empty.close();
  }
  // From a row's actions: termcast shows an empty list's actions (List.EmptyView's) in a
  // panel it does not focus.
  assert.equal((await request("POST", "/v1/vocabulary", { term: "Murmur" })).status, 200);
  const session = await openCommand("Manage Vocabulary");
  try {
    await session.waitForText("Murmur", { timeout: 60_000 });

    await session.press(["ctrl", "k"]);
    await search(session, "Add Term", "Refresh");
    await session.press("enter");
    await session.waitForText("spell exactly", { timeout: 10_000 });
    await session.type("Dashwood");
    await session.press(["ctrl", "enter"]);
    await session.waitForText("Added “Dashwood”", { timeout: 10_000 });
    assert.deepEqual((await call("GET", "/v1/vocabulary")).terms, ["Murmur", "Dashwood"]);

    await session.press(["ctrl", "k"]);
    await search(session, "Add Replacement", "Refresh");
    await session.press("enter");
    await session.waitForText("When I Say", { timeout: 10_000 });
    await session.type("murmur dot app");
    await session.press("tab");
    await session.type("Murmur.app");
    await session.press(["ctrl", "enter"]);
    await session.waitForText("Added “murmur dot app” → Murmur.app", { timeout: 10_000 });
    await session.waitForText("→ Murmur.app", { timeout: 10_000 });
    assert.deepEqual((await call("GET", "/v1/vocabulary")).replacements, [
      { spoken: "murmur dot app", written: "Murmur.app" },
    ]);

    const importFile = async (file) => {
      await session.press(["ctrl", "k"]);
      await search(session, "Import CSV File", "Refresh");
      await session.press("enter");
      await session.waitForText("CSV File", { timeout: 10_000 });
      await session.type(file);
      await session.waitForText(path.basename(file), { timeout: 10_000 });
      await session.press("enter");
      await new Promise((r) => setTimeout(r, 500));
      await session.press(["ctrl", "enter"]);
    };
    await importFile(bad);
    // All or nothing: the error names the line, and nothing was imported.
    await session.waitForText("Invalid request", { timeout: 10_000 });
    assert.match(await session.text(), /line 2/);
    assert.equal((await call("GET", "/v1/vocabulary")).terms.length, 2);
    // Back to the list (the first Escape may go to the file picker's field).
    for (let i = 0; i < 3 && !(await session.text()).includes("Search your vocabulary"); i++) {
      await session.press("escape");
      await new Promise((r) => setTimeout(r, 700));
    }

    await importFile(good);
    await session.waitForText("Imported words.csv", { timeout: 10_000 });
    assert.match(await session.text(), /1 term and 1 replacement added/);
    const v = await call("GET", "/v1/vocabulary");
    assert.deepEqual(v.terms, ["Murmur", "Dashwood", "macOS"]);
    assert.deepEqual(v.replacements.at(-1), { spoken: "kube cuddle", written: "kubectl" });
    await session.waitForText("kube cuddle", { timeout: 10_000 });

    // Remove asks first, saying what goes (termcast's alert does not take Return, so the
    // removal itself is checked by the client's tests against the daemon).
    await search(session, "Dashwood", "kube cuddle");
    await session.press(["ctrl", "k"]);
    await search(session, "Remove", "Copy Term");
    await session.press("enter");
    await session.waitForText("Remove “Dashwood”?", { timeout: 10_000 });
    assert.match(await session.text(), /This removes the term “Dashwood”\./);
  } finally {
    session.close();
    await clearVocabulary();
  }
});
