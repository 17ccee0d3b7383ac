# SecureAI — convenience wrapper around CMake/CTest. See README.md.
#
#   make          build into build/ (the program is build/secureai)
#   make demo     install what is missing, build, run the default pipeline
#   make check    install test deps, build, run every test
#   make asan     AddressSanitizer + UBSan build in build-asan/, tests run there
#   make fuzz     every libFuzzer target for a short bounded run (FUZZ_SECONDS)
#   make bench    benchmarks (slow; prints ratios against same-run baselines)

JOBS         ?= $(shell nproc 2>/dev/null || echo 2)
BUILD        ?= build
FUZZ_SECONDS ?= 30
CTEST_ARGS   ?=
CMAKE_ARGS   ?=

.PHONY: all build demo check test asan fuzz bench deps deps-check deps-bench clean

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh demo

deps-check:
	@scripts/install-deps.sh check

deps-bench:
	@scripts/install-deps.sh bench

demo: deps
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh

check: deps-check
	@$(MAKE) --no-print-directory build CMAKE_ARGS=-DSAI_REQUIRE_TESTS=ON
	@$(MAKE) --no-print-directory test

test:
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

asan: deps-check
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSAI_SANITIZE=ON -DSAI_BENCH=OFF \
	  -DSAI_REQUIRE_TESTS=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

fuzz: deps-check
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSAI_FUZZ=ON \
	  -DSAI_TESTS=OFF -DSAI_BENCH=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

bench: deps-bench
	@$(MAKE) --no-print-directory build
	@scripts/bench.sh $(BUILD)

clean:
	rm -rf build build-asan build-fuzz
