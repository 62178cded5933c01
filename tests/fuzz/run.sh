#!/bin/bash
# run.sh BINDIR SECONDS TARGET...: for each libFuzzer target, replays every
# input kept in tests/fuzz/regressions/TARGET, then fuzzes for SECONDS from
# tests/fuzz/corpus/TARGET (new inputs go to a scratch copy; the checked-in
# corpus is not changed). A target passes when neither step finds a crash,
# leak, sanitizer report or timeout. Prints one line per target with its
# executions, then "fuzz: N passed, M failed". Crash inputs are kept under
# $FUZZ_ARTIFACTS (default: a scratch directory, printed on failure).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bindir=$1
seconds=$2
shift 2

work=$(mktemp -d /tmp/imgfcgi-fuzz.XXXXXX)
artifacts=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Per-input limits: 25 s is far beyond any legitimate input of these sizes.
flags=(-timeout=25 -rss_limit_mb=2560 -close_fd_mask=2 -print_final_stats=1)

pass=0
fail=0
for t in "$@"; do
    bin=$bindir/fuzz_$t
    log=$work/$t.log
    extra=()
    [ -f "$here/$t.dict" ] && extra+=(-dict="$here/$t.dict")
    [ "$t" = options ] || [ "$t" = url ] || [ "$t" = request ] || [ "$t" = info ] &&
        [ -f "$here/options.dict" ] && extra=(-dict="$here/options.dict")
    [ "$t" = request ] && extra+=(-max_len=16384)
    ok=1
    regs=()
    if [ -d "$here/regressions/$t" ]; then
        while IFS= read -r -d '' f; do regs+=("$f"); done < <(find "$here/regressions/$t" \
            -type f ! -name '*.md' -print0 | sort -z)
    fi
    if [ ${#regs[@]} -gt 0 ]; then
        if ! "$bin" "${flags[@]}" "${regs[@]}" >"$log.regress" 2>&1; then
            ok=0
            echo "FAILED: fuzz_$t replaying tests/fuzz/regressions/$t:"
            grep -E 'ERROR|SUMMARY|Running:' "$log.regress" | tail -5
        fi
    fi
    mkdir -p "$work/corpus-$t"
    start=$SECONDS
    if ! "$bin" "${flags[@]}" "${extra[@]}" -max_total_time="$seconds" \
        -artifact_prefix="$artifacts/$t-" "$work/corpus-$t" "$here/corpus/$t" >"$log" 2>&1; then
        ok=0
        echo "FAILED: fuzz_$t (log $log, inputs in $artifacts):"
        grep -E '^==[0-9]+==ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -8
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "fuzz_$t: ${execs:-0} executions in $((SECONDS - start)) s, ${#regs[@]} regression" \
        "inputs replayed"
    if [ $ok -eq 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
[ $fail -eq 0 ] && rm -rf "$work"
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
