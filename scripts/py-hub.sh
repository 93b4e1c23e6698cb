#!/usr/bin/env bash
# A small Python with huggingface_hub, for the test that checks Python and Murmur share
# one Hugging Face cache (tests/hub.rs, run with --include-ignored by scripts/test.sh).
# Prints its python path. Seconds when cached; about 20 s from nothing.
source "$(dirname "$0")/lib.sh"
python_venv "$MURMUR_CACHE/venv-hub" "" huggingface_hub==2.4.0
echo "$MURMUR_CACHE/venv-hub/bin/python"
