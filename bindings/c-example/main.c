/*
 * Murmur from C: refine a sentence, transcribe and dictate a recording, transcribe it live
 * (pushed in 100 ms buffers as a microphone gives them), keep a vocabulary,
 * through murmur.h, freeing everything Murmur returns. scripts/test-bindings.sh builds it against the cbindgen
 * header and runs it natively and under valgrind (no definite leaks allowed).
 *
 *   murmur-c-example TEXT_MODEL_DIR SPEECH_MODEL_DIR AUDIO.wav [EXPECTED_TRANSCRIPT]
 *
 * With MURMUR_C_NO_MODELS=1 nothing loads a model: the engine's life, the model list,
 * events, cancel tokens, typed errors, limits, the vocabulary, a dictation refused for
 * its length, live sessions refused for their options or arguments and every free still
 * run. That is the valgrind run
 * (under valgrind, loading a model and refining on MLX's CPU backend takes many minutes);
 * the full run is checked for leaks by LeakSanitizer instead (scripts/test-bindings.sh).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "murmur.h"

static int failures = 0;

#define CHECK(cond, ...)                                  \
  do {                                                    \
    if (!(cond)) {                                        \
      fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                       \
      fputc('\n', stderr);                                \
      failures++;                                         \
    }                                                     \
  } while (0)

/* Streamed text, appended in order by the token callback. */
typedef struct {
  char text[8192];
  size_t len;
  int calls;
} Stream;

static void on_token(const char *text, void *user_data) {
  Stream *s = user_data;
  size_t n = strlen(text);
  if (s->len + n < sizeof s->text) {
    memcpy(s->text + s->len, text, n + 1);
    s->len += n;
  }
  s->calls++;
}

static void on_segment(const MurmurSegment *segment, void *user_data) {
  int *count = user_data;
  printf("  segment %u [%.2f-%.2f]%s\n", segment->id, segment->start, segment->end, segment->text);
  (*count)++;
}

static void on_event(const MurmurEvent *event, void *user_data) {
  int *count = user_data;
  (*count)++;
  (void)event;
}

/* Trim spaces at both ends, in place. */
static const char *trim(char *s) {
  while (*s == ' ' || *s == '\n') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n')) s[--n] = '\0';
  return s;
}

/* Refine with streamed tokens, then with a cancelled token. */
static void refine(MurmurEngine *engine) {
  MurmurRefineOptions ro = murmur_refine_options_default();
  ro.model = "fixture-smol";
  ro.mode = MurmurRefineFixGrammar;
  ro.temperature = 0.0f; /* greedy: the same text on every CPU */
  ro.max_tokens = 24;
  Stream stream = {0};
  MurmurRefineResult *result = NULL;
  char *err = NULL;
  MurmurStatus st = murmur_engine_refine(engine, "i has a apple and he have two", &ro, on_token,
                                         &stream, NULL, &result, &err);
  CHECK(st == MURMUR_OK, "refine: %d %s", st, err);
  if (st == MURMUR_OK) {
    printf("refined (%d tokens streamed in %d calls): %s\n", (int)result->generated_tokens,
           stream.calls, result->text);
    CHECK(stream.calls > 0 && strcmp(trim(stream.text), result->text) == 0,
          "streamed text %s differs from the result %s", stream.text, result->text);
    CHECK(result->generated_tokens > 0 && result->generated_tokens <= 24, "tokens %d",
          (int)result->generated_tokens);
    CHECK(strcmp(result->model, "fixture-smol") == 0, "refined by %s", result->model);
    murmur_refine_result_free(result);
  }
  murmur_string_free(err);
  err = NULL;

  /* A cancelled token stops generation at once. */
  MurmurCancelToken *cancel = murmur_cancel_token_new();
  murmur_cancel_token_cancel(cancel);
  result = NULL;
  st = murmur_engine_refine(engine, "hello there", &ro, NULL, NULL, cancel, &result, &err);
  CHECK(st == MURMUR_CANCELLED || (st == MURMUR_OK && result->stop_reason == MurmurStopCancelled),
        "cancelled refine: %d", st);
  if (st == MURMUR_OK) murmur_refine_result_free(result);
  murmur_string_free(err);
  murmur_cancel_token_free(cancel);
}

/* Chat: a JSON request, the answer streamed, the result as JSON (cut at the stop string). */
static void chat(MurmurEngine *engine) {
  const char *request =
      "{\"model\": \"fixture-smol\", \"temperature\": 0, \"max_tokens\": 24, \"stop\": [\"Paris\"],"
      " \"messages\": [{\"role\": \"user\", \"content\": \"What is the capital of France?\"}]}";
  Stream stream = {0};
  char *json = NULL, *err = NULL;
  MurmurStatus st = murmur_engine_chat(engine, request, on_token, &stream, NULL, &json, &err);
  CHECK(st == MURMUR_OK, "chat: %d %s", st, err);
  if (st == MURMUR_OK) {
    printf("chat (%d calls): %s\n", stream.calls, json);
    CHECK(stream.calls > 0 && strstr(json, "\"finish_reason\":\"stop\"") && !strstr(json, "Paris"),
          "chat result %s", json);
    murmur_string_free(json);
  }
  murmur_string_free(err);
  err = NULL;
  st = murmur_engine_chat(engine, "{\"messages\": []}", NULL, NULL, NULL, &json, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT && err, "empty chat: %d", st);
  murmur_string_free(err);
}

/* Corrupt audio is a typed error; the recording gives the expected text, segment by segment. */
static void transcribe(MurmurEngine *engine, const char *corrupt, const char *audio,
                       const char *expected) {
  MurmurTranscribeOptions to = murmur_transcribe_options_default();
  to.model = "fixture-whisper";
  /* Otherwise the default options (language detection), as the golden was made with. */
  MurmurTranscript *t = NULL;
  char *err = NULL;
  FILE *f = fopen(corrupt, "wb");
  if (f) {
    fputs("RIFF$...WAVEfmt this is not audio at all", f);
    fclose(f);
  }
  MurmurStatus st = murmur_engine_transcribe_file(engine, corrupt, &to, NULL, NULL, NULL, &t, &err);
  CHECK(st == MURMUR_AUDIO && t == NULL, "corrupt audio: %d %s", st, err);
  printf("corrupt audio -> %d: %s\n", st, err);
  murmur_string_free(err);
  err = NULL;

  int segments = 0;
  st = murmur_engine_transcribe_file(engine, audio, &to, on_segment, &segments, NULL, &t, &err);
  CHECK(st == MURMUR_OK, "transcribe: %d %s", st, err);
  if (st == MURMUR_OK) {
    printf("transcript (%s, %.1f s, %zu segments): %s\n", t->language, t->duration,
           t->segment_count, t->text);
    CHECK(segments == (int)t->segment_count && segments > 0, "segments %d", segments);
    if (expected) CHECK(strcmp(t->text, expected) == 0, "transcript %s", t->text);
    CHECK(strcmp(t->model, "fixture-whisper") == 0, "transcribed by %s", t->model);
    murmur_transcript_free(t);
  }
  murmur_string_free(err);
}

/* What a dictation reports: its stages, the audio's length, segments, cleanup text. */
typedef struct {
  MurmurDictateStage stages[8];
  int stage_count;
  double seconds;
  int segments;
  Stream text;
} Dictation;

static void on_dictate(const MurmurDictateEvent *event, void *user_data) {
  Dictation *d = user_data;
  switch (event->kind) {
    case MurmurDictateEventStage:
      if (d->stage_count < 8) d->stages[d->stage_count++] = event->stage;
      break;
    case MurmurDictateEventDuration:
      d->seconds = event->seconds;
      break;
    case MurmurDictateEventSegment:
      d->segments++;
      break;
    case MurmurDictateEventText:
      on_token(event->text, &d->text);
      break;
  }
}

/* Dictation: the recording to clean text with its stages reported; the vocabulary's
 * replacement without the cleanup; silence to no text. */
static void dictate(MurmurEngine *engine, const char *audio, const char *expected) {
  MurmurDictateOptions o = murmur_dictate_options_default();
  o.speech_model = "fixture-whisper";
  o.text_model = "fixture-smol";
  o.language = "en";
  o.refine_options.temperature = 0.0f; /* greedy */
  Dictation d = {0};
  MurmurDictateResult *r = NULL;
  char *err = NULL;
  MurmurStatus st = murmur_engine_dictate_file(engine, audio, &o, on_dictate, &d, NULL, &r, &err);
  CHECK(st == MURMUR_OK, "dictate: %d %s", st, err);
  if (st == MURMUR_OK) {
    printf("dictated (%.1f s of %.1f s speech; transcribe %.2f s, refine %.2f s, total %.2f s):\n"
           "  transcript: %s\n  text:       %s\n",
           r->speech_secs, r->audio_secs, r->timings.transcribe_secs, r->timings.refine_secs,
           r->timings.total_secs, r->transcript, r->text);
    CHECK(d.stage_count == 4 && d.stages[0] == MurmurDictateDecodingAudio &&
              d.stages[1] == MurmurDictateDetectingSpeech &&
              d.stages[2] == MurmurDictateTranscribing && d.stages[3] == MurmurDictateRefining,
          "stages: %d reported", d.stage_count);
    CHECK(d.seconds > 10.9 && d.seconds < 11.1, "duration %.2f", d.seconds);
    CHECK(d.segments > 0 && d.text.calls > 0, "segments %d, text pieces %d", d.segments,
          d.text.calls);
    if (expected) CHECK(strcmp(r->transcript, expected) == 0, "transcript %s", r->transcript);
    CHECK(strlen(r->text) > 0 && strcmp(r->language, "en") == 0, "text %s", r->text);
    CHECK(strcmp(r->speech_model, "fixture-whisper") == 0 && r->text_model &&
              strcmp(r->text_model, "fixture-smol") == 0,
          "models %s %s", r->speech_model, r->text_model);
    CHECK(r->timings.refine_secs > 0 &&
              r->timings.total_secs >= r->timings.transcribe_secs + r->timings.refine_secs,
          "timings");
    CHECK(strstr(r->json, "\"edits\":") && strstr(r->json, "\"warnings\":") &&
              strstr(r->json, "\"refine_stats\":{"),
          "json %s", r->json);
    murmur_dictate_result_free(r);
  }
  murmur_string_free(err);
  err = NULL;

  /* The vocabulary's replacement reaches the text; without the cleanup there is no text
   * model. */
  st = murmur_engine_add_vocabulary_replacement(engine, "fellow Americans", "fellow Earthlings",
                                                NULL, &err);
  CHECK(st == MURMUR_OK, "add replacement: %d %s", st, err);
  o.refine = false;
  r = NULL;
  st = murmur_engine_dictate_file(engine, audio, &o, NULL, NULL, NULL, &r, &err);
  CHECK(st == MURMUR_OK, "dictate without cleanup: %d %s", st, err);
  if (st == MURMUR_OK) {
    printf("  with the vocabulary, no cleanup: %s\n", r->text);
    CHECK(strstr(r->text, "fellow Earthlings") && r->text_model == NULL, "text %s", r->text);
    CHECK(r->timings.refine_secs == 0, "refine took %.2f s", r->timings.refine_secs);
    murmur_dictate_result_free(r);
  }
  st = murmur_engine_remove_vocabulary(engine, "fellow Earthlings", NULL, &err);
  CHECK(st == MURMUR_OK, "remove replacement: %d %s", st, err);
  murmur_string_free(err);
  err = NULL;

  /* Silence: no speech, no text, a warning; nothing transcribed. */
  static float silence[32000];
  r = NULL;
  st = murmur_engine_dictate_pcm(engine, silence, 32000, 16000, 1, &o, NULL, NULL, NULL, &r, &err);
  CHECK(st == MURMUR_OK, "dictate silence: %d %s", st, err);
  if (st == MURMUR_OK) {
    CHECK(r->text[0] == '\0' && r->transcript[0] == '\0', "silence gave %s", r->text);
    CHECK(strstr(r->json, "\"no_speech\"") != NULL, "json %s", r->json);
    murmur_dictate_result_free(r);
  }
  murmur_string_free(err);
}

/* Limits, the vocabulary and a dictation refused for its length: no model needed. */
static void limits_and_vocabulary(MurmurEngine *engine, const char *dir) {
  char *err = NULL;
  MurmurLimits limits = {0};
  MurmurStatus st = murmur_engine_limits(engine, &limits, &err);
  CHECK(st == MURMUR_OK && limits.ram_tier == MurmurRamTierSmall &&
            limits.max_recording_secs == 360 && limits.max_refine_tokens == 1536,
        "limits for 8 GB: %d %u %u", limits.ram_tier, limits.max_recording_secs,
        limits.max_refine_tokens);
  st = murmur_engine_limits(engine, NULL, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT, "NULL out_limits: %d", st);
  murmur_string_free(err);
  err = NULL;

  MurmurDictateOptions defaults = murmur_dictate_options_default();
  CHECK(defaults.refine && defaults.vad && defaults.vocabulary && !defaults.speech_model,
        "dictate defaults");

  char *json = NULL;
  st = murmur_engine_vocabulary_json(engine, &json, &err);
  CHECK(st == MURMUR_OK && json && strcmp(json, "{\"terms\":[],\"replacements\":[]}") == 0,
        "empty vocabulary: %s", json);
  murmur_string_free(json);
  MurmurAddOutcome outcome = MurmurAddUnchanged;
  st = murmur_engine_add_vocabulary_term(engine, "Dashwood", &outcome, &err);
  CHECK(st == MURMUR_OK && outcome == MurmurAddAdded, "add term: %d %d", st, outcome);
  st = murmur_engine_add_vocabulary_term(engine, "dashwood", &outcome, &err);
  CHECK(st == MURMUR_OK && outcome == MurmurAddUpdated, "respell term: %d %d", st, outcome);
  st = murmur_engine_add_vocabulary_replacement(engine, "murmur dot app", "Murmur.app", &outcome,
                                                &err);
  CHECK(st == MURMUR_OK && outcome == MurmurAddAdded, "add replacement: %d %d", st, outcome);
  st = murmur_engine_add_vocabulary_term(engine, NULL, NULL, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT, "NULL term: %d", st);
  murmur_string_free(err);
  err = NULL;
  st = murmur_engine_add_vocabulary_term(engine, "  ", NULL, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT && err, "blank term: %d", st);
  murmur_string_free(err);
  err = NULL;

  char csv[4200], bad[4200];
  snprintf(csv, sizeof csv, "%s/words.csv", dir);
  snprintf(bad, sizeof bad, "%s/bad.csv", dir);
  FILE *f = fopen(csv, "w");
  if (f) {
    fputs("# my words\nmacOS\n\"eff why eye\",FYI\nDashwood\n", f);
    fclose(f);
  }
  f = fopen(bad, "w");
  if (f) {
    fputs("Xcode\na,b,c\n", f);
    fclose(f);
  }
  MurmurImported imported = {0};
  st = murmur_engine_import_vocabulary(engine, csv, &imported, &err);
  CHECK(st == MURMUR_OK && imported.terms_added == 1 && imported.replacements_added == 1 &&
            imported.updated == 1 && imported.unchanged == 0,
        "import: %d %s", st, err);
  st = murmur_engine_import_vocabulary(engine, bad, &imported, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT && err && strstr(err, "line 2"), "bad CSV: %d %s", st, err);
  murmur_string_free(err);
  err = NULL;
  st = murmur_engine_vocabulary_json(engine, &json, &err);
  CHECK(st == MURMUR_OK &&
            strcmp(json,
                   "{\"terms\":[\"Dashwood\",\"macOS\"],\"replacements\":[{\"spoken\":"
                   "\"murmur dot app\",\"written\":\"Murmur.app\"},{\"spoken\":\"eff why "
                   "eye\",\"written\":\"FYI\"}]}") == 0,
        "vocabulary: %s", json);
  printf("vocabulary: %s\n", json);
  murmur_string_free(json);

  char *removed = NULL;
  st = murmur_engine_remove_vocabulary(engine, "MURMUR.APP", &removed, &err);
  CHECK(st == MURMUR_OK && removed && strstr(removed, "\"murmur dot app\""), "remove: %d %s", st,
        removed);
  murmur_string_free(removed);
  st = murmur_engine_remove_vocabulary(engine, "Murmur.app", NULL, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT && err, "remove again: %d", st);
  murmur_string_free(err);
  err = NULL;
  /* Empty again, so that the dictations below hear the recording alone. */
  const char *rest[] = {"Dashwood", "macOS", "FYI"};
  for (int i = 0; i < 3; i++) {
    st = murmur_engine_remove_vocabulary(engine, rest[i], NULL, &err);
    CHECK(st == MURMUR_OK, "remove %s: %d %s", rest[i], st, err);
  }

  /* Longer than the limit: refused before any model loads. */
  size_t n = (size_t)16000 * 362;
  float *too_long = calloc(n, sizeof *too_long);
  MurmurDictateResult *r = NULL;
  st = murmur_engine_dictate_pcm(engine, too_long, n, 16000, 1, NULL, NULL, NULL, NULL, &r, &err);
  CHECK(st == MURMUR_AUDIO_TOO_LONG && r == NULL && err && strstr(err, "360"),
        "too long: %d %s", st, err);
  printf("too long -> %d: %s\n", st, err);
  free(too_long);
  murmur_string_free(err);
  err = NULL;
  st = murmur_engine_dictate_file(engine, NULL, NULL, NULL, NULL, NULL, &r, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT && r == NULL, "NULL path: %d", st);
  murmur_string_free(err);
  err = NULL;
  st = murmur_engine_dictate_pcm(engine, NULL, 16, 16000, 1, NULL, NULL, NULL, NULL, &r, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT && r == NULL, "NULL samples: %d", st);
  murmur_string_free(err);
  murmur_dictate_result_free(NULL);
}

/* The 16-bit PCM of a WAV file (malloc'd; free it), its sample count (all channels),
 * rate and channel count; NULL when the file is not one. */
static int16_t *read_wav(const char *path, size_t *count, uint32_t *rate, uint16_t *channels) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char head[12], chunk[8], fmt[16];
  int16_t *samples = NULL;
  int have_fmt = 0;
  if (fread(head, 1, 12, f) != 12 || memcmp(head, "RIFF", 4) || memcmp(head + 8, "WAVE", 4)) {
    fclose(f);
    return NULL;
  }
  while (fread(chunk, 1, 8, f) == 8) {
    uint32_t size = chunk[4] | chunk[5] << 8 | chunk[6] << 16 | (uint32_t)chunk[7] << 24;
    if (!memcmp(chunk, "fmt ", 4) && size >= 16) {
      if (fread(fmt, 1, 16, f) != 16) break;
      uint16_t format = fmt[0] | fmt[1] << 8, bits = fmt[14] | fmt[15] << 8;
      *channels = fmt[2] | fmt[3] << 8;
      *rate = fmt[4] | fmt[5] << 8 | fmt[6] << 16 | (uint32_t)fmt[7] << 24;
      have_fmt = format == 1 && bits == 16;
      fseek(f, (long)(size - 16 + (size & 1)), SEEK_CUR);
    } else if (!memcmp(chunk, "data", 4) && have_fmt) {
      samples = malloc(size);
      *count = samples ? fread(samples, 2, size / 2, f) : 0; /* little-endian, as here */
      break;
    } else {
      fseek(f, (long)(size + (size & 1)), SEEK_CUR);
    }
  }
  fclose(f);
  return samples;
}

/* The letters and digits of `s`, lower-cased, into `out`: the words without punctuation,
 * spacing or case. */
static const char *letters(const char *s, char *out, size_t cap) {
  size_t n = 0;
  for (; *s && n + 1 < cap; s++)
    if (isalnum((unsigned char)*s)) out[n++] = (char)tolower((unsigned char)*s);
  out[n] = '\0';
  return out;
}

/* The string value of `"key":"..."` in a JSON object (the first such key), unescaped
 * into `out` (\uXXXX beyond ASCII becomes '?'); 0 when it is not there. */
static int json_string(const char *json, const char *key, char *out, size_t cap) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  const char *p = strstr(json, pattern);
  if (!p) return 0;
  size_t n = 0;
  for (p += strlen(pattern); *p && *p != '"' && n + 1 < cap; p++) {
    if (*p == '\\' && p[1]) {
      p++;
      switch (*p) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
          unsigned v = 0;
          if (sscanf(p + 1, "%4x", &v) == 1) p += 4;
          out[n++] = v < 128 ? (char)v : '?';
          break;
        }
        default: out[n++] = *p; /* \" \\ \/ */
      }
    } else {
      out[n++] = *p;
    }
  }
  out[n] = '\0';
  return 1;
}

/* What a live session reported, from its callback (on Murmur's threads). */
typedef struct {
  pthread_mutex_t lock;
  Stream confirmed; /* every confirmed text, joined */
  int partials, refined, finals, after_final, events;
  char final_transcript[4096];
} Live;

static int starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void on_live(const char *event_json, void *user_data) {
  Live *l = user_data;
  char text[4096];
  pthread_mutex_lock(&l->lock);
  l->events++;
  if (l->finals) l->after_final++;
  if (starts(event_json, "{\"type\":\"confirmed\",")) {
    if (json_string(event_json, "text", text, sizeof text)) on_token(text, &l->confirmed);
  } else if (starts(event_json, "{\"type\":\"partial\",")) {
    l->partials++;
  } else if (starts(event_json, "{\"type\":\"refined\",")) {
    l->refined++;
  } else if (starts(event_json, "{\"type\":\"final\",")) {
    l->finals++;
    json_string(event_json, "transcript", l->final_transcript, sizeof l->final_transcript);
  }
  pthread_mutex_unlock(&l->lock);
}

static int live_events(Live *l) {
  pthread_mutex_lock(&l->lock);
  int n = l->events;
  pthread_mutex_unlock(&l->lock);
  return n;
}

static MurmurLiveOptions live_options(uint32_t rate, uint16_t channels) {
  MurmurLiveOptions o = murmur_live_options_default();
  o.dictate.speech_model = "fixture-whisper";
  o.dictate.text_model = "fixture-smol";
  o.dictate.language = "en";
  o.dictate.refine_options.temperature = 0.0f; /* greedy */
  o.sample_rate = rate;
  o.channels = channels;
  return o;
}

/* Live sessions refused for their options or arguments, and calls on no session: no
 * model loads. */
static void live_errors(MurmurEngine *engine) {
  MurmurLiveOptions d = murmur_live_options_default();
  CHECK(d.sample_rate == 16000 && d.channels == 1 && d.step_ms == 1000 && d.dictate.refine &&
            d.dictate.vad && d.dictate.vocabulary && !d.dictate.speech_model,
        "live defaults: %u %u %u", d.sample_rate, d.channels, d.step_ms);
  char *err = NULL;
  MurmurLiveSession *session = NULL;
  MurmurLiveOptions bad = live_options(0, 1);
  MurmurStatus st = murmur_engine_live_start(engine, &bad, on_live, NULL, &session, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT && session == NULL && err && strstr(err, "format"),
        "sample rate 0: %d %s", st, err);
  printf("live at 0 Hz -> %d: %s\n", st, err);
  murmur_string_free(err);
  err = NULL;
  bad = live_options(16000, 1);
  bad.step_ms = 50;
  st = murmur_engine_live_start(engine, &bad, NULL, NULL, &session, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT && session == NULL && err && strstr(err, "step_ms"),
        "step 50 ms: %d %s", st, err);
  murmur_string_free(err);
  err = NULL;
  bad = live_options(16000, 1);
  bad.dictate.speech_model = "no-such-model";
  st = murmur_engine_live_start(engine, &bad, NULL, NULL, &session, &err);
  CHECK(st == MURMUR_UNKNOWN_MODEL && session == NULL, "unknown speech model: %d %s", st, err);
  murmur_string_free(err);
  err = NULL;
  st = murmur_engine_live_start(NULL, NULL, NULL, NULL, &session, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT && session == NULL, "NULL engine: %d", st);
  murmur_string_free(err);
  err = NULL;
  st = murmur_engine_live_start(engine, NULL, NULL, NULL, NULL, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT, "NULL out_session: %d", st);
  murmur_string_free(err);
  err = NULL;

  float samples[16] = {0};
  st = murmur_live_push_f32(NULL, samples, 16, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT && err && strstr(err, "session"), "push to NULL: %d", st);
  murmur_string_free(err);
  err = NULL;
  MurmurDictateResult *r = NULL;
  st = murmur_live_finish(NULL, &r, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT && r == NULL, "finish NULL: %d", st);
  murmur_string_free(err);
  CHECK(murmur_live_audio_secs(NULL) == 0.0, "audio of NULL");
  murmur_live_cancel(NULL);
  murmur_live_free(NULL);
}

/* A session whose speech model is on disk but broken: it starts, its worker stops on
 * loading the model, pushes are then refused and finishing gives the load's error. Its
 * model fails at once, so this runs under valgrind too. */
static void live_broken(MurmurEngine *engine, const char *dir) {
  char folder[4200], file[4300];
  snprintf(folder, sizeof folder, "%s/broken-whisper", dir);
  mkdir(folder, 0700);
  const char *files[][2] = {{"model.bin", "not a CTranslate2 model"}, {"config.json", "{}"}};
  for (int i = 0; i < 2; i++) {
    snprintf(file, sizeof file, "%s/%s", folder, files[i][0]);
    FILE *f = fopen(file, "w");
    if (f) {
      fputs(files[i][1], f);
      fclose(f);
    }
  }
  char *err = NULL;
  MurmurStatus st = murmur_engine_add_model(engine, folder, "broken-whisper", NULL, &err);
  CHECK(st == MURMUR_OK, "add broken model: %d %s", st, err);
  MurmurLiveOptions o = murmur_live_options_default();
  o.dictate.speech_model = "broken-whisper";
  o.dictate.refine = false;
  Live l = {.lock = PTHREAD_MUTEX_INITIALIZER};
  MurmurLiveSession *session = NULL;
  st = murmur_engine_live_start(engine, &o, on_live, &l, &session, &err);
  CHECK(st == MURMUR_OK && session, "live start on a broken model: %d %s", st, err);
  if (st != MURMUR_OK) {
    murmur_string_free(err);
    return;
  }
  static float silence[1600];
  for (int i = 0; i < 500; i++) {
    st = murmur_live_push_f32(session, silence, 1600, &err);
    if (st != MURMUR_OK) break;
    usleep(10000);
  }
  CHECK(st == MURMUR_INVALID_ARGUMENT && err && strstr(err, "stopped"),
        "push after the worker failed: %d %s", st, err);
  printf("live push on a broken model -> %d: %s\n", st, err);
  murmur_string_free(err);
  err = NULL;
  MurmurDictateResult *r = NULL;
  st = murmur_live_finish(session, &r, &err);
  CHECK(st == MURMUR_CORRUPT_MODEL && r == NULL && err, "finish on a broken model: %d %s", st,
        err);
  CHECK(live_events(&l) == 0, "%d events from a broken session", live_events(&l));
  murmur_string_free(err);
  murmur_live_free(session);
}

/* jfk.wav live: pushed in 100 ms buffers (floats and 16-bit alternately, as two
 * microphones would give them), confirmed text adding up to the transcript as it comes,
 * the final result; then a cancelled session, and one freed mid-way whose callback is
 * never called after the free. */
static void live(MurmurEngine *engine, const char *audio, const char *expected) {
  size_t count = 0;
  uint32_t rate = 0;
  uint16_t channels = 0;
  int16_t *pcm = read_wav(audio, &count, &rate, &channels);
  CHECK(pcm && count > 0 && rate > 0 && channels > 0, "read %s", audio);
  if (!pcm) return;
  float *pcm_f32 = malloc(count * sizeof *pcm_f32);
  for (size_t i = 0; i < count; i++) pcm_f32[i] = pcm[i] / 32768.0f;
  size_t chunk = (size_t)rate / 10 * channels;

  MurmurLiveOptions o = live_options(rate, channels);
  Live l = {.lock = PTHREAD_MUTEX_INITIALIZER};
  MurmurLiveSession *session = NULL;
  char *err = NULL;
  MurmurStatus st = murmur_engine_live_start(engine, &o, on_live, &l, &session, &err);
  CHECK(st == MURMUR_OK && session, "live start: %d %s", st, err);
  if (st == MURMUR_OK) {
    int pushes = 0, confirmed_while_pushing = 0;
    for (size_t at = 0; at < count; at += chunk, pushes++) {
      size_t n = count - at < chunk ? count - at : chunk;
      st = pushes % 2 ? murmur_live_push_i16(session, pcm + at, n, &err)
                      : murmur_live_push_f32(session, pcm_f32 + at, n, &err);
      if (st != MURMUR_OK) break;
      usleep(50000); /* twice as fast as the speaker */
      pthread_mutex_lock(&l.lock);
      if (l.confirmed.len > 0 && !confirmed_while_pushing) confirmed_while_pushing = pushes + 1;
      pthread_mutex_unlock(&l.lock);
    }
    CHECK(st == MURMUR_OK, "push: %d %s", st, err);
    double secs = murmur_live_audio_secs(session);
    CHECK(secs > 10.9 && secs < 11.1, "audio %.2f s", secs);
    MurmurDictateResult *r = NULL;
    st = murmur_live_finish(session, &r, &err);
    CHECK(st == MURMUR_OK, "live finish: %d %s", st, err);
    if (st == MURMUR_OK) {
      char a[4096], b[4096];
      printf("live (%d pushes, first words confirmed after push %d; %d partials, %d refined; "
             "finish %.2f s of total %.2f s):\n  transcript: %s\n  text:       %s\n",
             pushes, confirmed_while_pushing, l.partials, l.refined, r->timings.finish_secs,
             r->timings.total_secs, r->transcript, r->text);
      CHECK(strstr(r->transcript, "ask not what your country"), "transcript %s", r->transcript);
      if (expected)
        CHECK(strcmp(letters(r->transcript, a, sizeof a), letters(expected, b, sizeof b)) == 0,
              "live words %s differ from %s", r->transcript, expected);
      CHECK(strcmp(trim(l.confirmed.text), r->transcript) == 0,
            "confirmed texts %s do not add up to the transcript %s", l.confirmed.text,
            r->transcript);
      CHECK(l.finals == 1 && l.after_final == 0 && strcmp(l.final_transcript, r->transcript) == 0,
            "final events %d, %d after it: %s", l.finals, l.after_final, l.final_transcript);
      CHECK(strlen(r->text) > 0 && strcmp(r->speech_model, "fixture-whisper") == 0,
            "text %s by %s", r->text, r->speech_model);
      CHECK(r->timings.finish_secs > 0 && r->timings.finish_secs < r->timings.total_secs,
            "finish %.2f s of %.2f s", r->timings.finish_secs, r->timings.total_secs);
      CHECK(strstr(r->json, "\"finish_secs\":") != NULL, "json %s", r->json);
      murmur_dictate_result_free(r);
    }
    murmur_string_free(err);
    err = NULL;
    /* Finished: no more audio, no second result. */
    st = murmur_live_push_f32(session, pcm_f32, chunk, &err);
    CHECK(st == MURMUR_INVALID_ARGUMENT, "push after finish: %d", st);
    murmur_string_free(err);
    err = NULL;
    r = NULL;
    st = murmur_live_finish(session, &r, &err);
    CHECK(st == MURMUR_INVALID_ARGUMENT && r == NULL, "second finish: %d", st);
    murmur_string_free(err);
    err = NULL;
    murmur_live_free(session);
  }

  /* Cancelled: pushes and the finish are refused with MURMUR_CANCELLED. */
  session = NULL;
  st = murmur_engine_live_start(engine, &o, NULL, NULL, &session, &err);
  CHECK(st == MURMUR_OK, "live start: %d %s", st, err);
  if (st == MURMUR_OK) {
    for (size_t at = 0; at < 10 * chunk; at += chunk) murmur_live_push_i16(session, pcm + at, chunk, NULL);
    murmur_live_cancel(session);
    st = murmur_live_push_i16(session, pcm, chunk, &err);
    CHECK(st == MURMUR_CANCELLED, "push after cancel: %d", st);
    murmur_string_free(err);
    err = NULL;
    MurmurDictateResult *r = NULL;
    st = murmur_live_finish(session, &r, &err);
    CHECK(st == MURMUR_CANCELLED && r == NULL, "finish after cancel: %d", st);
    murmur_string_free(err);
    err = NULL;
    /* Arguments checked, never read: NULL or misaligned samples. */
    st = murmur_live_push_f32(session, NULL, 16, &err);
    CHECK(st == MURMUR_INVALID_ARGUMENT, "NULL samples: %d", st);
    murmur_string_free(err);
    err = NULL;
    st = murmur_live_push_i16(session, (const int16_t *)((const char *)pcm + 1), 16, &err);
    CHECK(st == MURMUR_INVALID_ARGUMENT && err && strstr(err, "aligned"), "misaligned: %d %s", st,
          err);
    murmur_string_free(err);
    err = NULL;
    murmur_live_free(session);
  }

  /* Freed while it decodes: cancelled, and its callback never runs afterwards. */
  Live freed = {.lock = PTHREAD_MUTEX_INITIALIZER};
  session = NULL;
  st = murmur_engine_live_start(engine, &o, on_live, &freed, &session, &err);
  CHECK(st == MURMUR_OK, "live start: %d %s", st, err);
  if (st == MURMUR_OK) {
    for (size_t at = 0; at + chunk <= count && at < 40 * chunk; at += chunk) {
      murmur_live_push_f32(session, pcm_f32 + at, chunk, NULL);
      usleep(50000);
    }
    murmur_live_free(session);
    int events = live_events(&freed);
    usleep(500000);
    CHECK(live_events(&freed) == events, "%d events after the free", live_events(&freed) - events);
  }
  murmur_string_free(err);
  free(pcm);
  free(pcm_f32);
}

/* Errors that need no model: codes and messages. */
static void errors(MurmurEngine *engine) {
  char *err = NULL;
  MurmurRefineOptions ro = murmur_refine_options_default();
  ro.model = "no-such-model";
  MurmurRefineResult *result = NULL;
  MurmurStatus st = murmur_engine_refine(engine, "hello", &ro, NULL, NULL, NULL, &result, &err);
  CHECK(st == MURMUR_UNKNOWN_MODEL && err && strstr(err, "no-such-model") && !result,
        "unknown model: %d %s", st, err);
  murmur_string_free(err);
  err = NULL;
  st = murmur_engine_load(engine, NULL, NULL, &err);
  CHECK(st == MURMUR_INVALID_ARGUMENT, "NULL model: %d", st);
  murmur_string_free(err);
  err = NULL;
  st = murmur_engine_load(engine, "qwen3-0.6b", NULL, &err);
  CHECK(st == MURMUR_NOT_DOWNLOADED && err, "not downloaded: %d", st);
  murmur_string_free(err);
  err = NULL;
  float silence[160] = {0};
  MurmurTranscribeOptions unknown = murmur_transcribe_options_default();
  unknown.model = "no-such-model";
  MurmurTranscript *none = NULL;
  st = murmur_engine_transcribe_pcm(engine, silence, 160, 16000, 1, &unknown, NULL, NULL, NULL,
                                    &none, &err);
  CHECK(st == MURMUR_UNKNOWN_MODEL && none == NULL, "unknown speech model: %d", st);
  murmur_string_free(err);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s TEXT_MODEL_DIR SPEECH_MODEL_DIR AUDIO.wav [EXPECTED]\n", argv[0]);
    return 2;
  }
  const char *no_models = getenv("MURMUR_C_NO_MODELS");
  int models = !(no_models && strcmp(no_models, "1") == 0);
  printf("murmur %s\n", murmur_version());

  /* A private cache and config folder, offline: nothing touches the user's setup. */
  char dir[] = "/tmp/murmur-c-XXXXXX";
  if (!mkdtemp(dir)) return 2;
  char cache[4096], config[4096], corrupt[4096];
  snprintf(cache, sizeof cache, "%s/hub", dir);
  snprintf(config, sizeof config, "%s/config", dir);
  snprintf(corrupt, sizeof corrupt, "%s/corrupt.wav", dir);

  MurmurEngineConfig cfg = murmur_engine_config_default();
  cfg.cache_dir = cache;
  cfg.config_dir = config;
  cfg.offline = 1;
  cfg.idle_unload_secs = 0; /* never */
  cfg.ram_bytes = 8ULL << 30;

  char *err = NULL;
  MurmurEngine *engine = NULL;
  MurmurStatus st = murmur_engine_new(&cfg, &engine, &err);
  if (st != MURMUR_OK) {
    fprintf(stderr, "murmur_engine_new: %d %s\n", st, err);
    murmur_string_free(err);
    return 1;
  }

  int events = 0;
  MurmurSubscription *sub = NULL;
  st = murmur_engine_subscribe(engine, on_event, &events, &sub, &err);
  CHECK(st == MURMUR_OK, "subscribe: %d", st);

  char *id = NULL;
  st = murmur_engine_add_model(engine, argv[1], "fixture-smol", &id, &err);
  CHECK(st == MURMUR_OK && id && strcmp(id, "fixture-smol") == 0, "add text model: %d %s", st, err);
  murmur_string_free(id);
  st = murmur_engine_add_model(engine, argv[2], "fixture-whisper", NULL, &err);
  CHECK(st == MURMUR_OK, "add speech model: %d %s", st, err);

  char *json = NULL;
  st = murmur_engine_models_json(engine, &json, &err);
  CHECK(st == MURMUR_OK && json && strstr(json, "\"fixture-smol\""), "models_json: %d", st);
  murmur_string_free(json);
  char *recommended = NULL;
  st = murmur_engine_recommended_model(engine, &recommended, &err);
  CHECK(st == MURMUR_OK && recommended && strcmp(recommended, "qwen3-1.7b") == 0,
        "recommended for 8 GB: %s", recommended);
  murmur_string_free(recommended);

  if (models) refine(engine);
  if (models) chat(engine);
  errors(engine);
  limits_and_vocabulary(engine, dir);
  if (models) transcribe(engine, corrupt, argv[3], argc > 4 ? argv[4] : NULL);
  if (models) dictate(engine, argv[3], argc > 4 ? argv[4] : NULL);
  live_errors(engine);
  live_broken(engine, dir);
  if (models) live(engine, argv[3], argc > 4 ? argv[4] : NULL);

  st = murmur_engine_status_json(engine, &json, &err);
  CHECK(st == MURMUR_OK && json, "status: %d", st);
  murmur_string_free(json);
  st = murmur_engine_unload(engine, &err);
  CHECK(st == MURMUR_OK, "unload: %d", st);
  murmur_subscription_free(sub);
  if (models) CHECK(events >= 2, "events %d (loading started/completed expected)", events);
  murmur_engine_free(engine);

  char rm[4200];
  snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
  if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("C example: all checks passed\n");
  return 0;
}
