/*
 * Murmur from C: refine a sentence and transcribe a recording through murmur.h, freeing
 * everything Murmur returns. scripts/test-bindings.sh builds it against the cbindgen
 * header and runs it natively and under valgrind (no definite leaks allowed).
 *
 *   murmur-c-example TEXT_MODEL_DIR SPEECH_MODEL_DIR AUDIO.wav [EXPECTED_TRANSCRIPT]
 *
 * With MURMUR_C_NO_MODELS=1 nothing loads a model: the engine's life, the model list,
 * events, cancel tokens, typed errors and every free still run. That is the valgrind run
 * (under valgrind, loading a model and refining on MLX's CPU backend takes many minutes);
 * the full run is checked for leaks by LeakSanitizer instead (scripts/test-bindings.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
  errors(engine);
  if (models) transcribe(engine, corrupt, argv[3], argc > 4 ? argv[4] : NULL);

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
