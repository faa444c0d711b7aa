#!/bin/sh
# Instructions per iteration of Go benchmarks, counted by valgrind's
# callgrind: deterministic, so a before/after does not depend on what else
# the machine runs.
#
#   hack/instructions.sh TEST_BINARY BENCHMARK...
#   e.g. go test -c -o /tmp/proxy.test ./pkg/proxy/ &&
#        hack/instructions.sh /tmp/proxy.test BenchmarkProxy/oidc-proxy-cache-hit
#
# Each benchmark (a b.Loop benchmark, matched exactly) runs 1000 and 5000
# iterations with the counters zeroed when its loop starts
# (testing.(*B).ResetTimer) and dumped when it stops (StopTimer); the
# difference of the two counts over 4000 is the cost of one iteration,
# without setup and warm-up. GOGC=off: garbage collection is not counted
# (compare allocations with -benchmem). GODEBUG=asyncpreemptoff=1: callgrind
# aborts on the signals of Go's asynchronous preemption.
set -eu
bin=$1
shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for bench in "$@"; do
	for n in 1000 5000; do
		GODEBUG=asyncpreemptoff=1 GOGC=off valgrind --tool=callgrind \
			--zero-before='testing.(*B).ResetTimer' --dump-before='testing.(*B).StopTimer' \
			--callgrind-out-file="$out/cg.$n" "$bin" -test.run XXX -test.bench "^$bench\$" \
			-test.benchtime "${n}x" -test.benchmem >"$out/log.$n" 2>&1 || { cat "$out/log.$n" >&2; exit 1; }
		grep -h '^Benchmark' "$out/log.$n" | sed "s/^/# /"
		# The first dump is the loop's (the benchmark calls StopTimer
		# first when its b.Loop ends).
		eval "ir$n=\$(sed -n 's/^totals: //p' \"\$out/cg.$n.1\")"
		rm -f "$out"/cg.*
	done
	echo "$bench $(((ir5000 - ir1000) / 4000)) instructions/op"
done
