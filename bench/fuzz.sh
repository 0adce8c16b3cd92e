#!/bin/sh
# Fuzzes for longer than CI does (issue 12) and prints the numbers for README:
#   bench/fuzz.sh [seconds]   (default 600)
# 1. libFuzzer (clang -fsanitize=fuzzer,address,undefined) on the emitted host engine: every input
#    a model.rtr, run through the engine's main() in RAM and streamed (test/fuzz/engine-harness.c);
#    seeds: stories260K from ../shared/models converted as f32, q8 and q4.
# 2. The TS readers (model.rtr, llama2.c, GGUF, tokenizer.bin, trace) under seeded mutations
#    (test/fuzz/readers.test.ts), as many mutations per reader as fit a fifth of the time.
# Needs clang with libclang-rt (apt-get install clang libclang-rt-14-dev) and the fixtures.
set -eu
SECONDS_TOTAL=${1:-600}
REPO=$(cd "$(dirname "$0")/.." && pwd)
MODELS=${RETRO_MODELS:-$REPO/../shared/models}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/retro-fuzz-XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

cd "$REPO"
npm run --silent build
mkdir -p "$WORK/corpus"
for q in f32 q8 q4; do
  node bin/retro.js build --target host --model "$MODELS/stories260K.bin" --tokenizer "$MODELS/tok512.bin" --quant "$q" --no-compile --out "$WORK/$q" > /dev/null
  cp "$WORK/$q/model.rtr" "$WORK/corpus/$q.rtr"
done
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -DRT_ENGINE="\"$WORK/q8/retro.c\"" \
  -o "$WORK/fuzz-engine" test/fuzz/engine-harness.c -lm -lpthread

ENGINE_SECONDS=$((SECONDS_TOTAL * 4 / 5))
status=0
(cd "$WORK" && ./fuzz-engine -max_total_time="$ENGINE_SECONDS" -detect_leaks=0 -rss_limit_mb=2048 -timeout=20 \
  -artifact_prefix="$WORK/" -print_final_stats=1 corpus > engine.log 2>&1) || status=$?
runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$WORK/engine.log")
secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$WORK/engine.log")
files=$(ls "$WORK/corpus" | wc -l)
bytes=$(du -sk "$WORK/corpus" | cut -f1)
crashes=$(ls "$WORK" | grep -c -E '^(crash|leak|timeout|oom|slow-unit)-' || true)
reports=$(grep -c -E 'ERROR: AddressSanitizer|runtime error:|deadly signal' "$WORK/engine.log" || true)
echo "engine (libFuzzer, ASan+UBSan): ${runs:-0} executions in ${secs:-?} s, corpus $files files (${bytes} KB), findings $crashes, sanitizer reports $reports, exit $status"
[ "$status" -eq 0 ] || tail -40 "$WORK/engine.log"

READER_MUTATIONS=${RETRO_FUZZ_MUTATIONS:-$((SECONDS_TOTAL * 5))}
start=$(date +%s)
if RETRO_FUZZ_MUTATIONS=$READER_MUTATIONS npx vitest run test/fuzz/readers.test.ts > "$WORK/readers.log" 2>&1; then rstatus=0; else rstatus=$?; fi
echo "TS readers: $(grep -c "^  { name:" test/fuzz/readers.test.ts) readers x $READER_MUTATIONS mutations in $(( $(date +%s) - start )) s, internal errors or other exceptions: $([ "$rstatus" -eq 0 ] && echo 0 || echo 'see below')"
[ "$rstatus" -eq 0 ] || grep -E '#[0-9]+:|failures' "$WORK/readers.log" | head -20
[ "$status" -eq 0 ] && [ "$rstatus" -eq 0 ]
