# The thin layer over Meson: `make` builds; `make demo` and `make check` first
# install whatever Debian packages are missing (as root), then build and run.
BUILD ?= build
ASAN_BUILD ?= build-asan
PREFIX ?= /usr/local

# Build and test dependencies, all from Debian 12.
DEBIAN_PACKAGES = meson ninja-build pkg-config gcc clang libclang-rt-14-dev \
	fuse3 liburing-dev libnbd-dev libmount-dev libblkid-dev \
	libjson-c-dev libcmocka-dev util-linux fdisk e2fsprogs xfsprogs dosfstools mtools \
	fio nbdkit nbdfuse libnbd-bin qemu-utils qemu-system-common socat procps kmod \
	libgtk-4-dev xvfb man-db

.PHONY: all build deps demo check check-unit check-asan asan-build install fuzz fuzz-long bench clean

all: build

deps:
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make: installing missing packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug

asan-build: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

demo: deps build
	tests/demo.sh $(BUILD)

# The whole suite twice: the normal build, then the ASan+UBSan build (meson test,
# two tests at a time; docs/testing.md).  The last line: N passed, N failed, N skipped.
check: deps build asan-build
	tests/run-tests.sh $(BUILD) $(ASAN_BUILD)

check-unit: build
	tests/run-tests.sh --unit-only $(BUILD)

check-asan: deps asan-build
	tests/run-tests.sh $(ASAN_BUILD)

install: build
	meson install -C $(BUILD)

fuzz:
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false || true
	ninja -C build-fuzz
	@echo "run e.g.: build-fuzz/fuzz/fuzz-control fuzz/corpus/fuzz-control"

# Every harness for FUZZ_SECONDS each; what adds coverage joins fuzz/corpus
# (see docs/fuzzing.md).
FUZZ_SECONDS ?= 600
fuzz-long: fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/fuzz-long.sh build-fuzz

bench: deps build
	bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
