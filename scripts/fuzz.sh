#!/usr/bin/env bash
# Run the cargo-fuzz targets (tests/fuzz) and grow their corpora.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [--minimize] [TARGET...]
#
# Each target runs N seconds (default 600) under libFuzzer with AddressSanitizer, with
# the limits that turn the failures we care about into crashes: an allocation over
# 2 GB (-malloc_limit_mb), a process over 4 GB (-rss_limit_mb), one input taking more
# than 10 s (-timeout). J targets run at once (default 1). New inputs go into
# tests/fuzz/corpus/<target>; --minimize then keeps only those that add coverage
# (cargo fuzz cmin), which is what gets committed and what `cargo test` replays
# (tests/fuzz_corpora.rs). A crash leaves its input in tests/fuzz/artifacts/<target>/
# and makes the script fail; the summary prints executions and coverage per target.
#
# Needs a nightly toolchain (rustup toolchain install nightly) and cargo-fuzz, which
# it installs from crates.io when missing. CI does not fuzz: it replays the corpora.
source "$(dirname "$0")/lib.sh"

SECONDS_EACH=600
JOBS=1
MINIMIZE=0
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --minimize) MINIMIZE=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done

rustup toolchain list | grep -q '^nightly' ||
  die "fuzzing needs a nightly toolchain: rustup toolchain install nightly"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
[ -f "$MURMUR_ROOT/.cargo/mlx-linux.toml" ] || [ "$(uname)" = Darwin ] ||
  bash "$MURMUR_ROOT/scripts/setup.sh"

FUZZ="$MURMUR_ROOT/tests/fuzz"
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(sed -n 's/^name = "\(.*\)"/\1/p' "$FUZZ/Cargo.toml" | grep -v '^murmur-fuzz$')
fi
# cargo-fuzz sets RUSTFLAGS, which replaces the rpath .cargo/ gives the MLX library.
MLX_LIB="$(sed -n 's/.*-rpath,\([^"]*\)".*/\1/p' "$MURMUR_ROOT/.cargo/mlx-linux.toml" 2>/dev/null | head -1)"
export LD_LIBRARY_PATH="${MLX_LIB:+$MLX_LIB:}${LD_LIBRARY_PATH:-}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"

cd "$MURMUR_ROOT"
log "building the fuzz targets"
cargo +nightly fuzz build --fuzz-dir "$FUZZ" -O
# Run the binaries themselves: `cargo fuzz run` would check the build again per target
# (and wait on cargo's lock while another runs).
TRIPLE="$(rustc +nightly -vV | sed -n 's/^host: //p')"
BIN="$(cargo +nightly metadata --manifest-path "$FUZZ/Cargo.toml" --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/$TRIPLE/release"

LOGS="$FUZZ/logs"
mkdir -p "$LOGS"
run_one() {
  local t="$1"
  mkdir -p "$FUZZ/corpus/$t"
  mkdir -p "$FUZZ/artifacts/$t"
  "$BIN/$t" "$FUZZ/corpus/$t" -artifact_prefix="$FUZZ/artifacts/$t/" \
    -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 -malloc_limit_mb=2048 \
    -print_final_stats=1 -close_fd_mask=3 >"$LOGS/$t.log" 2>&1
}
pids=()
failed=()
for t in "${TARGETS[@]}"; do
  log "fuzzing $t for ${SECONDS_EACH}s"
  run_one "$t" &
  pids+=("$!:$t")
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
done
for p in "${pids[@]}"; do
  wait "${p%%:*}" || failed+=("${p#*:}")
done

if [ "$MINIMIZE" = 1 ]; then
  for t in "${TARGETS[@]}"; do
    log "minimizing the $t corpus"
    # Seeds and crash regressions are kept by name; the fuzzer's finds are merged
    # down to those that add coverage.
    kept="$(mktemp -d)"
    "$BIN/$t" -merge=1 -timeout=10 -rss_limit_mb=4096 -malloc_limit_mb=2048 "$kept" \
      "$FUZZ/corpus/$t" >"$LOGS/$t.cmin.log" 2>&1 ||
      { tail -20 "$LOGS/$t.cmin.log" >&2; die "minimizing $t failed"; }
    find "$FUZZ/corpus/$t" -type f ! -name 'seed-*' ! -name 'crash-*' -delete
    cp -n "$kept"/* "$FUZZ/corpus/$t/" 2>/dev/null || true
    rm -rf "$kept"
  done
fi

printf '\n%-16s %12s %10s %8s %8s %s\n' target executions exec/s cov ft corpus
for t in "${TARGETS[@]}"; do
  l="$LOGS/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$l" | tail -1 || true)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$l" | tail -1 || true)
  last=$(grep -E '^#[0-9]+.* cov: ' "$l" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  printf '%-16s %12s %10s %8s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
    "$(find "$FUZZ/corpus/$t" -type f | wc -l)"
done
if [ ${#failed[@]} -gt 0 ]; then
  for t in "${failed[@]}"; do
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$LOGS/$t.log" | head -8 >&2 || true
  done
  die "crashes in: ${failed[*]} (inputs in tests/fuzz/artifacts/)"
fi
log "no crashes"
