# Thin front door over CMake (GNU make).  The real build is CMakeLists.txt;
# this file only names the build directories and the flags each use needs,
# so that `make demo` and `make check` work from a fresh clone.

CMAKE        ?= cmake
CTEST        ?= ctest
JOBS         ?= 2
PREFIX       ?= /usr/local
FUZZ_SECONDS ?= 60
# fuzz_decode (decoder and records) or fuzz_run (whole hostile guests)
FUZZER       ?= fuzz_decode
PEERS        ?=

DEPS = sh scripts/deps.sh

# Each top-level target is a sequence of steps; the parallelism is inside
# cmake --build and ctest.  Running two of them at once (make -j clean all)
# would race on the same directories.
.NOTPARALLEL:

.PHONY: all deps demo check bench diffcheck measure-undefined record-corpus fuzz-smoke install clean format

all: deps
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	$(CMAKE) --build build -j$(JOBS)

deps:
	$(DEPS)

# make reports a failing guest as an error (its own status 2), not the guest's
# exact exit code; run ./build/softvmm directly for that.
# The demo guest ends with cli; hlt: SUSPENDED/HALT, which softvmm reports
# with bhyverun's status 2.  That is the demo's success; anything else fails.
demo: all
	@./build/softvmm run --exits summary build/guests/demo.bin; rc=$$?; \
	if [ $$rc -ne 2 ]; then echo "make demo: softvmm exited $$rc, expected 2 (guest halted)" >&2; exit 1; fi

check: deps
	$(CMAKE) -S . -B build-check -DSOFTVMM_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	$(CMAKE) --build build-check -j$(JOBS)
	$(CTEST) --test-dir build-check --output-on-failure -j$(JOBS)
	@if command -v clang >/dev/null 2>&1; then \
		$(MAKE) fuzz-smoke FUZZ_SECONDS=10 FUZZER=fuzz_decode && \
		$(MAKE) fuzz-smoke FUZZ_SECONDS=10 FUZZER=fuzz_run; \
	else \
		echo "softvmm: clang not found; skipping the fuzz smoke" >&2; \
	fi

# Release build without tests: the benchmark should time the code users get.
# deps runs inside the recipe so that PEERS=1 can ask for the peer emulators.
bench:
	$(DEPS) $(if $(filter 1,$(PEERS)),--bench-peers)
	$(CMAKE) -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DSOFTVMM_TESTS=OFF
	$(CMAKE) --build build-release -j$(JOBS)
	bash bench/run-bench.sh build-release/softvmm $(if $(filter 1,$(PEERS)),--peers)

# The differential harness's long run: a Release build, then DIFF_CASES
# cases against the host CPU (strict: SDM-undefined flags compared too).
DIFF_CASES ?= 10000000
DIFF_ARGS  ?=
diffcheck: deps
	$(CMAKE) -S . -B build-diff-rel -DCMAKE_BUILD_TYPE=Release
	$(CMAKE) --build build-diff-rel -j$(JOBS) --target softvmm-diffcheck
	./build-diff-rel/diff/softvmm-diffcheck --cases $(DIFF_CASES) $(DIFF_ARGS)

# The host vendor's measured table of undefined results, committed as data
# (docs/undefined-behaviour.md): run it on each vendor's machine and commit
# tests/data/undefined/VENDOR.tsv; test_recorded_cases replays every table
# under its vendor's profile on any host.  record-corpus records the
# instruction corpus of tests/data/cases the same way.
HOST_VENDOR = $(shell grep -m1 -o -E 'GenuineIntel|AuthenticAMD' /proc/cpuinfo | \
	sed -e 's/GenuineIntel/intel/' -e 's/AuthenticAMD/amd/')
measure-undefined: deps
	@test -n "$(HOST_VENDOR)" || { echo "measure-undefined: the host is neither Intel nor AMD" >&2; exit 1; }
	$(CMAKE) -S . -B build-diff-rel -DCMAKE_BUILD_TYPE=Release
	$(CMAKE) --build build-diff-rel -j$(JOBS) --target softvmm-record
	mkdir -p tests/data/undefined
	./build-diff-rel/diff/softvmm-record --undefined-only --cases 16 --mem-cases 2 \
		--out tests/data/undefined/$(HOST_VENDOR).tsv

record-corpus: deps
	@test -n "$(HOST_VENDOR)" || { echo "record-corpus: the host is neither Intel nor AMD" >&2; exit 1; }
	$(CMAKE) -S . -B build-diff-rel -DCMAKE_BUILD_TYPE=Release
	$(CMAKE) --build build-diff-rel -j$(JOBS) --target softvmm-record
	mkdir -p tests/data/cases
	./build-diff-rel/diff/softvmm-record --cases 2 --mem-cases 1 \
		--out tests/data/cases/gp-$(HOST_VENDOR).tsv

# libFuzzer writes new inputs into its first corpus directory, so that is a
# fresh scratch copy: the committed corpus under fuzz/ is only read.  Crash
# files go to build-fuzz/artifacts/ instead of the current directory.
fuzz-smoke: deps
	CC=clang $(CMAKE) -S . -B build-fuzz -DSOFTVMM_FUZZ=ON -DSOFTVMM_TESTS=OFF \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo
	$(CMAKE) --build build-fuzz -j$(JOBS) --target $(FUZZER)
	rm -rf build-fuzz/corpus-work
	mkdir -p build-fuzz/corpus-work build-fuzz/artifacts
	cp -R fuzz/corpus/decode/. build-fuzz/corpus-work/
	./build-fuzz/fuzz/$(FUZZER) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-artifact_prefix=build-fuzz/artifacts/ build-fuzz/corpus-work fuzz/corpus/decode

install: all
	$(CMAKE) --install build --prefix $(PREFIX)

clean:
	rm -rf build build-check build-release build-fuzz build-diff-rel

FORMAT_DIRS = core decode paging devices trace runner tests fuzz bench include diff

# The fuzz corpus holds raw inputs, never sources, whatever their names.
format:
	find $(wildcard $(FORMAT_DIRS)) -path fuzz/corpus -prune -o -type f \
		\( -name '*.c' -o -name '*.h' \) -print0 | xargs -0 -r clang-format -i
