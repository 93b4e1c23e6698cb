// The official `openai` npm package against a real `murmur serve` (started by
// scripts/test-openai.sh, which sets OPENAI_BASE_URL and OPENAI_API_KEY to the daemon's
// TCP address and bearer token): chat, streaming chat, transcription in each format,
// translation, the models list and OpenAI's error classes. Real models (SmolLM2-135M as
// `smollm2`, Whisper base as `whisper-test`, the default speech model) and real speech.
//
//   node --test tests/openai/client.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import OpenAI from "openai";

const client = new OpenAI({ maxRetries: 0, timeout: 300_000 });
const JFK = path.join(process.env.MURMUR_FIXTURES, "audio", "jfk.wav");
const CHAT = "smollm2";
const QUESTION = [{ role: "user", content: "What is the capital of France?" }];

const words = (text) => text.toLowerCase().match(/[a-z']+/g) ?? [];
const saysJfk = (text) => words(text).join(" ").includes("ask not what your country can do for you");

test("chat: an answer with usage, and the same text streamed in pieces", async () => {
  const whole = await client.chat.completions.create({
    model: CHAT,
    messages: QUESTION,
    temperature: 0,
    max_tokens: 24,
  });
  assert.equal(whole.object, "chat.completion");
  const answer = whole.choices[0].message.content;
  assert.ok(words(answer).includes("paris"), answer);
  assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);

  const stream = await client.chat.completions.create({
    model: CHAT,
    messages: QUESTION,
    temperature: 0,
    max_tokens: 24,
    stream: true,
  });
  const deltas = [];
  let finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    for (const c of chunk.choices) {
      if (c.delta.content) deltas.push(c.delta.content);
      finish = c.finish_reason ?? finish;
    }
  }
  assert.ok(deltas.length > 1, "the answer arrives in pieces");
  assert.equal(deltas.join(""), answer);
  assert.equal(finish, whole.choices[0].finish_reason);
});

test("errors are OpenAI's classes, with the parameter named", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "no-such-model", messages: QUESTION }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found",
  );
  await assert.rejects(
    client.chat.completions.create({ model: CHAT, messages: QUESTION, logprobs: true }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "logprobs",
  );
  const wrongKey = new OpenAI({ apiKey: "not-the-token", maxRetries: 0 });
  await assert.rejects(wrongKey.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
});

test("models: the list and one model", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(CHAT) && ids.includes("whisper-test"), ids.join(", "));
  const one = await client.models.retrieve(CHAT);
  assert.deepEqual([one.id, one.object, one.owned_by], [CHAT, "model", "murmur"]);
});

test("transcription: json, srt and verbose_json with words; translation", async () => {
  const json = await client.audio.transcriptions.create({ model: "whisper-1", file: fs.createReadStream(JFK) });
  assert.ok(saysJfk(json.text), json.text);
  const srt = await client.audio.transcriptions.create({
    model: "whisper-1",
    file: fs.createReadStream(JFK),
    response_format: "srt",
  });
  assert.match(srt, /^1\n00:00:0\d,\d{3} --> 00:00:\d\d,\d{3}\n/);
  const verbose = await client.audio.transcriptions.create({
    model: "whisper-test",
    file: fs.createReadStream(JFK),
    response_format: "verbose_json",
    timestamp_granularities: ["word"],
  });
  assert.equal(verbose.language, "english");
  assert.deepEqual(words(verbose.words.map((w) => w.word).join(" ")), words(verbose.text));
  assert.equal(verbose.segments, undefined, "only words were asked for");
  const english = await client.audio.translations.create({ model: "whisper-1", file: fs.createReadStream(JFK) });
  assert.ok(saysJfk(english.text), english.text);
});
