# whet's build. On a fresh Debian/Ubuntu machine:
#   make demo    install what is missing, build, fine-tune a spam classifier through the HTTP API, leave the page up
#   make test    install what is missing, build, run every test
# Plain go commands work after: eval "$(make -s env)"
#
# LIBTORCH=<dir> builds against another libtorch 1.13 or 2.x (a CUDA one included) instead of the system's.

SHELL := /bin/bash
ROOT := $(abspath .)
GO ?= go
THREADS ?= $(shell nproc)

# System packages: libtorch and its headers, the OpenMP OpenBLAS (10x faster than Debian's reference BLAS), the
# PyTorch reference for tests and benchmarks, and Chromium for the browser tests (never a downloaded browser).
APT_PACKAGES := libtorch-dev libopenblas0-openmp python3-torch python3-numpy chromium fonts-noto-cjk git ca-certificates curl
# Node.js (tests' references, the demo's data) only where none is installed: a NodeSource node conflicts with Debian's npm.
NODE_PACKAGES := $(if $(shell command -v node),,nodejs npm)

# libtorch: the system's (Debian 12: 1.13.1, Debian 13: 2.6.0) or LIBTORCH=<dir> (a libtorch zip, or pip torch's
# site-packages/torch: `make LIBTORCH=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')`).
# The version is read from the headers; CUDA libraries are linked only when that libtorch has them.
comma := ,
TORCH_INC := $(if $(LIBTORCH),$(LIBTORCH)/include,/usr/include)
TORCH_VERSION := $(shell sed -n 's/^ *"\([0-9][^"]*\)".*/\1/p;s/^\#define TORCH_VERSION "\(.*\)"/\1/p' \
  $(TORCH_INC)/torch/csrc/api/include/torch/version.h 2>/dev/null | head -1)
TORCH_CUDA := $(if $(LIBTORCH),$(wildcard $(LIBTORCH)/lib/libtorch_cuda.so))
COMPAT_REV := $(shell sha256sum $(ROOT)/native/torch/compat.h 2>/dev/null | cut -c1-16)
TORCH_CXXFLAGS := -I$(TORCH_INC)/torch/csrc/api/include $(if $(LIBTORCH),-I$(TORCH_INC)) \
  -DWHET_TORCH_VERSION=$(TORCH_VERSION) -DCOMPAT_REV=$(COMPAT_REV)
TORCH_LDFLAGS := $(if $(LIBTORCH),-L$(LIBTORCH)/lib -Wl$(comma)-rpath$(comma)$(LIBTORCH)/lib) \
  $(if $(TORCH_CUDA),-Wl$(comma)--no-as-needed -ltorch_cuda -lc10_cuda -Wl$(comma)--as-needed)

export CGO_CXXFLAGS := $(TORCH_CXXFLAGS)
export CGO_LDFLAGS := $(TORCH_LDFLAGS)

WASM_MODULES := $(patsubst wasm/modules/%/,%,$(sort $(dir $(wildcard wasm/modules/*/main.go))))
WASM_EXAMPLES := $(patsubst wasm/examples/%/,%,$(sort $(dir $(wildcard wasm/examples/*/main.go))))
WASM_OUT := $(addprefix wasm/modules/bin/,$(addsuffix .wasm,$(WASM_MODULES))) \
            $(addprefix build/wasm/,$(addsuffix .wasm,$(WASM_EXAMPLES)))
WASM_SRC := $(shell find wasm -name '*.go' -not -path '*/testdata/*' 2>/dev/null) go.mod

.PHONY: all deps env build wasm test test-security test-long demo bench clean vet layer

all: build

# deps installs only what is missing, so a second run is quick and needs no network.
deps: build/.deps
build/.deps: Makefile package.json package-lock.json
	@missing=""; for p in $(APT_PACKAGES) $(NODE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi
	ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p build && touch $@

env:
	@test -n "$(TORCH_VERSION)" || { echo 'no libtorch headers at $(TORCH_INC) (make deps, or LIBTORCH=<dir>)' >&2; exit 1; }
	@echo 'export CGO_CXXFLAGS="$(CGO_CXXFLAGS)"'
	@echo 'export CGO_LDFLAGS="$(CGO_LDFLAGS)"'

wasm: $(WASM_OUT)
wasm/modules/bin/%.wasm: $(WASM_SRC)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -ldflags="-s -w" -o $@ ./wasm/modules/$*
build/wasm/%.wasm: $(WASM_SRC)
	@mkdir -p build/wasm
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -ldflags="-s -w" -o $@ ./wasm/examples/$*

# onnxruntime-web's runtime, embedded by package web for the demo's in-browser classification (web/ortweb/README.md).
ORT_WEB := $(addprefix web/ortweb/,ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm)
web/ortweb/%: build/.deps
	cp node_modules/onnxruntime-web/dist/$* $@

build: deps wasm $(ORT_WEB)
	$(GO) build -o bin/whet ./cmd/whet

# layer: whet's C++ layer as a shared library (build/layer/libwhet_torch.so, against LIBTORCH or the torch python3
# imports, else the system's) and a whet binary that loads it at run time (build/layer/whet; it finds the library
# next to itself or on LD_LIBRARY_PATH), with native/torch's tests built the same way (build/layer/torch.test: the
# CUDA paths' tests). Carry them to a machine with its own libtorch and build the library there with
# scripts/build-layer.sh: scripts/gpu-check.sh does exactly that.
layer:
	scripts/build-layer.sh build/layer/libwhet_torch.so
	CGO_LDFLAGS='-L$(ROOT)/build/layer -Wl,-rpath,$$ORIGIN' $(GO) build -tags whet_layer -o build/layer/whet ./cmd/whet
	CGO_LDFLAGS='-L$(ROOT)/build/layer -Wl,-rpath,$$ORIGIN' $(GO) test -c -tags whet_layer -o build/layer/torch.test ./native/torch

vet: build
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) build ./wasm/...

# The test command the README gives and CI runs. Tests that need ../shared or a GPU skip, saying why.
# Only native/ and cmd/ need libtorch: every other package is vetted and tested with CGO_ENABLED=0 (so it provably
# builds and works without it). The server's concurrent in-process parts (jobs, predict, store, cluster, modeldir) run
# again under the race detector (about 1.5 minutes more). Left out of the race run: host/api, host/server and
# host/sandbox, whose tests compile and run WebAssembly modules, which wazero does 5-10x slower under -race (host/api
# TestModules: 13 s, 102 s under -race; host/sandbox's hostile-module test passed 10 minutes), and drive real whet
# binaries.
NATIVE_PKGS := ./native/... ./cmd/...
PURE_PKGS = $(shell CGO_ENABLED=0 $(GO) list ./... | grep -v -e /native/ -e /cmd/)
RACE_PKGS = $(shell $(GO) list ./host/... | grep -v -e /host/api -e /host/server -e /host/sandbox)
test: build
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet ./...
	CGO_ENABLED=0 WHET_BIN=$(ROOT)/bin/whet $(GO) test -count=1 -timeout 40m $(PURE_PKGS)
	WHET_BIN=$(ROOT)/bin/whet $(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)
	WHET_BIN=$(ROOT)/bin/whet $(GO) test -count=1 -timeout 40m $(NATIVE_PKGS)

# The server under hostile clients (README "Security"): browser guards (CSRF, DNS rebinding), bodies before
# authentication (server RSS), slowloris under a lowered fd limit, concurrent dry runs, scopes, symlink imports,
# and the exact resume after a SIGKILL. Part of `make test` too.
test-security: build
	WHET_BIN=$(ROOT)/bin/whet $(GO) test -count=1 -run 'TestSecurity|TestResumeAfterServerKillIsExact' -v ./host/api ./host/server

# Long check: SST-2 and TREC convergence from a random-init tiny BERT (skips without ../shared/data).
test-long: build
	native/testdata/convergence.sh bin/whet

demo: build
	./scripts/demo.sh

bench: build
	./bench/run.sh

clean:
	rm -rf bin build
