# Thin wrapper around CMake/CTest. See README for details.
#   make build   RelWithDebInfo build in build/
#   make test    deps + build + every ctest test (unit and integration; root)
#   make demo    deps + build + scripts/demo.sh (root)
#   make asan    ASan/UBSan build in build-asan/ + every test (unit and integration)
#   make clang   clang build in build-clang/ + unit tests
#   make bench   build + bench/bench_http.sh (root; slhttpd vs kernel nginx)
#   make soak    build + bench/bench_kill.sh (root; 1,000 kills on shm and Redis)
JOBS ?= 2

.PHONY: all deps build test demo asan clang bench soak clean

all: build

deps:
	bash scripts/install-deps.sh

build:
	cmake -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j$(JOBS)

test: deps build
	ctest --test-dir build --output-on-failure

demo: deps build
	SL_BUILD=$(CURDIR)/build bash scripts/demo.sh

asan:
	cmake -B build-asan -DCMAKE_BUILD_TYPE=Asan
	cmake --build build-asan -j$(JOBS)
	ctest --test-dir build-asan --output-on-failure

clang:
	cmake -B build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang
	cmake --build build-clang -j$(JOBS)
	ctest --test-dir build-clang -L unit --output-on-failure

bench: build
	SL_BUILD=$(CURDIR)/build bash bench/bench_http.sh

soak: build
	SL_BUILD=$(CURDIR)/build bash bench/bench_kill.sh

clean:
	rm -rf build build-asan build-clang
