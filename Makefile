# whet's build. On a fresh Debian/Ubuntu machine:
#   make demo    install what is missing, build, fine-tune a spam classifier through the HTTP API, leave the page up
#   make test    install what is missing, build, run every test
# Plain go commands work after: eval "$(make -s env)"
#
# LIBTORCH=<dir> builds against another libtorch (for example a CUDA build of libtorch 1.11, the release gotch
# v0.7.0 was generated for) instead of Debian's CPU libtorch 1.13.1; whet then trains on the GPU when one is visible.

SHELL := /bin/bash
ROOT := $(abspath .)
GO ?= go
THREADS ?= $(shell nproc)

# System packages: libtorch and its headers, the OpenMP OpenBLAS (10x faster than Debian's reference BLAS), the
# PyTorch reference for tests and benchmarks, and Chromium for the browser tests (never a downloaded browser).
APT_PACKAGES := libtorch-dev libopenblas0-openmp python3-torch python3-numpy chromium fonts-noto-cjk git ca-certificates curl
# Node.js (tests' references, the demo's data) only where none is installed: a NodeSource node conflicts with Debian's npm.
NODE_PACKAGES := $(if $(shell command -v node),,nodejs npm)

COMPAT_H := $(ROOT)/native/torch/compat.h
COMPAT_REV := $(shell sha256sum $(COMPAT_H) 2>/dev/null | cut -c1-16)
STUBS := $(ROOT)/build/cudastub
CUDA_LIBS := cuda cudart cublas cudnn caffe2_nvrtc nvrtc-builtins nvrtc nvToolsExt c10_cuda torch_cuda

ifdef LIBTORCH
TORCH_CXXFLAGS := -I$(LIBTORCH)/include -I$(LIBTORCH)/include/torch/csrc/api/include
TORCH_LDFLAGS := -L$(LIBTORCH)/lib -Wl,-rpath,$(LIBTORCH)/lib -L/usr/local/cuda/lib64 -Wl,-rpath,/usr/local/cuda/lib64
STUB_DEP :=
else
TORCH_CXXFLAGS := -I/usr/include/torch/csrc/api/include
TORCH_LDFLAGS := -L$(STUBS)
STUB_DEP := $(STUBS)/.done
endif

export CGO_CXXFLAGS := -include $(COMPAT_H) -DCOMPAT_REV=$(COMPAT_REV) $(TORCH_CXXFLAGS)
export CGO_CPPFLAGS := $(TORCH_CXXFLAGS)
export CGO_LDFLAGS := $(TORCH_LDFLAGS)

WASM_MODULES := $(patsubst wasm/modules/%/,%,$(sort $(dir $(wildcard wasm/modules/*/main.go))))
WASM_EXAMPLES := $(patsubst wasm/examples/%/,%,$(sort $(dir $(wildcard wasm/examples/*/main.go))))
WASM_OUT := $(addprefix wasm/modules/bin/,$(addsuffix .wasm,$(WASM_MODULES))) \
            $(addprefix build/wasm/,$(addsuffix .wasm,$(WASM_EXAMPLES)))
WASM_SRC := $(shell find wasm -name '*.go' -not -path '*/testdata/*' 2>/dev/null) go.mod

.PHONY: all deps env build wasm test test-security test-long demo bench clean vet

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

$(STUBS)/.done:
	@mkdir -p $(STUBS)
	@# gotch's libtch hard-codes CUDA libraries; empty archives satisfy the linker on a CPU-only machine.
	@cd $(STUBS) && for l in $(CUDA_LIBS); do rm -f lib$$l.a; ar rc lib$$l.a; done && touch .done

env: $(STUB_DEP)
	@echo 'export CGO_CXXFLAGS="$(CGO_CXXFLAGS)"'
	@echo 'export CGO_CPPFLAGS="$(CGO_CPPFLAGS)"'
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

build: deps $(STUB_DEP) wasm $(ORT_WEB)
	$(GO) build -o bin/whet ./cmd/whet

vet: build
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) build ./wasm/...

# The test command the README gives and CI runs. Tests that need ../shared or a GPU skip, saying why.
test: build
	$(GO) vet ./...
	WHET_BIN=$(ROOT)/bin/whet $(GO) test -count=1 -timeout 40m ./...

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
