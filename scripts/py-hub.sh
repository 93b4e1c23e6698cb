#!/usr/bin/env bash
# A small Python with huggingface_hub, for the test that checks Python and Murmur share
# one Hugging Face cache (tests/hub.rs, run with --include-ignored by scripts/test.sh).
# Prints its python path. Seconds when cached; about 20 s from nothing.
source "$(dirname "$0")/lib.sh"
V="$MURMUR_CACHE/venv-hub"
REQS="huggingface_hub==2.4.0"
if [ "$(cat "$V/.stamp" 2>/dev/null)" != "$REQS" ]; then
  log "creating a Python venv with $REQS"
  rm -rf "$V"
  python3 -m venv "$V"
  retry 3 "$V/bin/pip" install -q $REQS >&2
  echo "$REQS" >"$V/.stamp"
fi
echo "$V/bin/python"
