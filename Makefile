# imgfcgi: one non-recursive Makefile.
#   make            build build/imgfcgi
#   make test       unit tests
#   make check      unit + integration tests (origin + imgfcgi behind nginx, a spawn-fcgi
#                   pool, lighttpd and Apache mod_fcgid; INTEGRATION_HOSTS picks some)
#   make asan       the same suites with an ASan + UBSan build in build-asan/
#   make tsan       the same suites with a ThreadSanitizer build in build-tsan/
#   make fuzz       the libFuzzer targets of tests/fuzz in build-fuzz/ (clang)
#   make fuzz-run   replays tests/fuzz/regressions, then fuzzes each target FUZZ_SECONDS
#   make bench      build/imgfcgi and the benchmark driver (tests/bench/throughput runs both)
#   make bench-budget  IMGFCGI_MEMORY_BUDGET under a mixed load (tests/bench/budget, minutes)
#   make format-check  clang-format finds nothing to change
#   make hdr-check  every header of src/ and fcgi/ compiles on its own
#   make layer-check  #include lines follow the layer order of docs/design.md
#   make lint       shellcheck on the shell scripts, pyflakes3 on the Python files
#   make install PREFIX=/usr/local

CC ?= cc
PREFIX ?= /usr/local
BUILD ?= build
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config

# Library headers are included as system headers so our warnings stay ours.
sysinc = $(patsubst -I%,-isystem %,$(1))
# pango: watermark_text markup is checked by Pango's own parser (src/markup.c).
# cairo-pdf: PDF results are written by cairo's PDF surface (src/save_pdf.c).
# libxml-2.0: keep_copyright filters the XMP packet as XML (src/metadata.c).
PKGS := vips glib-2.0 libcurl json-glib-1.0 libexif libiptcdata exempi-2.0 libxml-2.0 libcrypto pango \
	cairo-pdf
PKG_CFLAGS := $(call sysinc,$(shell $(PKG_CONFIG) --cflags $(PKGS) fcgi))
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS))
FCGI_LIBS := $(shell $(PKG_CONFIG) --libs fcgi 2>/dev/null || echo -lfcgi)
CMOCKA_CFLAGS := $(call sysinc,$(shell $(PKG_CONFIG) --cflags cmocka))
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka)

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wvla -Wpointer-arith -Wwrite-strings
# Hardening for the normal build: stack canaries, and glibc's checked variants of
# memcpy, snprintf and friends. Builds whose CFLAGS name a sanitizer (asan, tsan,
# fuzz) leave both out: the sanitizers intercept the plain libc functions, and the
# fortified __*_chk variants would bypass those interceptors. CFLAGS without an
# optimisation level leave _FORTIFY_SOURCE out: glibc warns that it needs one.
FORTIFY := $(if $(filter-out -O0,$(filter -O%,$(CFLAGS))),-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
HARDEN_CFLAGS ?= $(if $(findstring -fsanitize,$(CFLAGS)),,-fstack-protector-strong $(FORTIFY))
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARNINGS) $(HARDEN_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) \
	$(PKG_CFLAGS) -Isrc
ALL_CFLAGS = $(BASE_CFLAGS) -MMD -MP
ALL_LDFLAGS := $(LDFLAGS) $(EXTRA_LDFLAGS)
# src/cpugate.c defines vips_sink_disc for libvips' savers to call, and
# src/vipsop.c orc_program_compile and orc_program_free (one lock around
# liborc's code memory): the executables that serve (and test) requests
# export them.
EXPORT_LDFLAGS := -Wl,--export-dynamic-symbol=vips_sink_disc \
	-Wl,--export-dynamic-symbol=orc_program_compile -Wl,--export-dynamic-symbol=orc_program_free

SRC := $(sort $(wildcard src/*.c))
SRC_OBJ := $(SRC:%.c=$(BUILD)/%.o)
FCGI_SRC := $(sort $(wildcard fcgi/*.c))
FCGI_OBJ := $(FCGI_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libimgfcgi.a

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_HELPERS := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))
UNIT_HELPER_OBJ := $(UNIT_HELPERS:%.c=$(BUILD)/%.o)

.PHONY: all test unit integration env-check check fleet asan tsan fuzz fuzz-bin fuzz-run bench \
	bench-budget install clean format format-check hdr-check layer-check lint

all: $(BUILD)/imgfcgi

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -c -o $@ $<

# The playground's page is compiled in (.incbin in src/playground.c).
$(BUILD)/src/playground.o: $(wildcard web/*)

$(LIB): $(SRC_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/imgfcgi: $(FCGI_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(FCGI_OBJ) $(LIB) $(ALL_LDFLAGS) $(EXPORT_LDFLAGS) $(FCGI_LIBS) $(PKG_LIBS) \
		-lpthread -lm

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(UNIT_HELPER_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(UNIT_HELPER_OBJ) $(LIB) $(ALL_LDFLAGS) $(EXPORT_LDFLAGS) $(CMOCKA_LIBS) \
		$(PKG_LIBS) -lpthread -lm

# The in-process limit driver of tests/bench/throughput: the same library, no FastCGI.
BENCH_BIN := $(BUILD)/tests/bench/limit
$(BENCH_BIN): $(BUILD)/tests/bench/limit.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(PKG_LIBS) -lpthread -lm

bench: $(BUILD)/imgfcgi $(BENCH_BIN)

# Not part of check: minutes of load, the figures behind the memory budget's documentation.
bench-budget: $(BUILD)/imgfcgi
	IMGFCGI_BIN=$(CURDIR)/$(BUILD)/imgfcgi tests/bench/budget

# Unit tests: every executable runs even if an earlier one failed; the
# summary line counts executables.
# LSAN_OPTIONS matters under `make asan` only: tests/unit/lsan.supp lists leaks
# that are wholly inside third-party libraries.
unit test: $(UNIT_BIN)
	@pass=0; fail=0; for t in $(UNIT_BIN); do \
		if IMGFCGI_TEST_FIXTURES=$(CURDIR)/tests/fixtures \
			LSAN_OPTIONS=suppressions=$(CURDIR)/tests/unit/lsan.supp:print_suppressions=0 \
			$$t; then pass=$$((pass+1)); \
		else fail=$$((fail+1)); echo "FAILED: $$t"; fi; done; \
	echo "unit: $$pass passed, $$fail failed"; test $$fail -eq 0

# The same suite through every FastCGI host; each prints "integration-HOST: N passed, N failed".
INTEGRATION_HOSTS ?= nginx spawn-fcgi lighttpd apache
integration: $(BUILD)/imgfcgi
	@fail=0; for h in $(INTEGRATION_HOSTS); do \
		IMGFCGI_BIN=$(CURDIR)/$(BUILD)/imgfcgi tests/integration/run.sh $$h || fail=1; done; \
	test $$fail -eq 0

# conf/env.example must list exactly what the config table has.
# conf/env.example and docs/settings.md are both made from --print-env.
env-check: $(BUILD)/imgfcgi
	$(BUILD)/imgfcgi --print-env | diff -u conf/env.example - && \
	python3 scripts/settings-doc.py conf/env.example | diff -u docs/settings.md - && \
	echo "env-check: 1 passed, 0 failed"

check: unit env-check integration

# The fleet drills (tests/fleet/run.sh): three hosts behind conf/nginx-fleet.conf,
# killed, restarted, frozen and overloaded under load; prints "fleet: N passed, N failed".
fleet: $(BUILD)/imgfcgi
	IMGFCGI_BIN=$(CURDIR)/$(BUILD)/imgfcgi tests/fleet/run.sh

# ASan + UBSan: pooling is bypassed (IMGFCGI_ASAN) and every suite runs on
# the instrumented build. detect_leaks covers the unit tests and imgfcgi.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined -DIMGFCGI_ASAN
asan:
	$(MAKE) BUILD=build-asan CFLAGS="$(ASAN_FLAGS)" EXTRA_LDFLAGS="-fsanitize=address,undefined" \
		IMGFCGI_ASAN=1 check

# ThreadSanitizer: the same suites on a -fsanitize=thread build (pooling on).
# libvips, GLib and libcurl are not instrumented: TSan checks only accesses
# made by our code (ignore_noninstrumented_modules), src/tsan.h marks the
# hand-offs libvips makes to its threads, and tests/tsan.supp lists races
# inside those libraries only. A report exits 66 and fails its suite.
TSAN_FLAGS := -O1 -g -fsanitize=thread -fno-omit-frame-pointer -DIMGFCGI_TSAN
# Colons, not spaces: the integration suite passes it on in Apache's FcgidInitialEnv.
TSAN_RUN_OPTIONS := suppressions=$(CURDIR)/tests/tsan.supp:ignore_noninstrumented_modules=1
TSAN_RUN_OPTIONS := $(TSAN_RUN_OPTIONS):halt_on_error=1:exitcode=66:second_deadlock_stack=1
tsan:
	TSAN_OPTIONS="$(TSAN_RUN_OPTIONS)$(if $(TSAN_OPTIONS),:$(TSAN_OPTIONS))" \
		$(MAKE) BUILD=build-tsan CFLAGS="$(TSAN_FLAGS)" EXTRA_LDFLAGS="-fsanitize=thread" \
		IMGFCGI_TSAN=1 check

# libFuzzer targets (tests/fuzz/README.md): Debian's clang, ASan + UBSan, and
# -DIMGFCGI_FUZZ for the one test seam (fetch_hook in src/fetch.h).
FUZZ_TARGETS := url options signature request loaders info storage storage_cloud
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined -DIMGFCGI_ASAN -DIMGFCGI_FUZZ
FUZZ_BIN = $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/fuzz_%)
fuzz:
	$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) CFLAGS="$(FUZZ_FLAGS)" fuzz-bin
fuzz-bin: $(FUZZ_BIN)
$(FUZZ_BIN): $(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o \
		$(BUILD)/tests/fuzz/fuzzutil.o $(LIB)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) -lpthread -lm
# Prints "fuzz: N passed, M failed", one per target. CI fuzzes imgfcgi's own
# parsers; `loaders` (libjxl and libheif, not built for coverage) once showed
# a leak that did not replay, so it runs by hand: make fuzz-run FUZZ_RUN=loaders.
FUZZ_RUN ?= url options signature request info storage storage_cloud
fuzz-run: fuzz
	tests/fuzz/run.sh build-fuzz/tests/fuzz $(FUZZ_SECONDS) $(FUZZ_RUN)

install: $(BUILD)/imgfcgi
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/imgfcgi
	install -m 755 $(BUILD)/imgfcgi $(DESTDIR)$(PREFIX)/bin/imgfcgi
	install -m 755 spawn.sh $(DESTDIR)$(PREFIX)/share/imgfcgi/spawn.sh
	install -m 644 conf/*.conf conf/*.service conf/*.socket conf/env.example \
		$(DESTDIR)$(PREFIX)/share/imgfcgi/

FORMAT_FILES = $(wildcard src/*.[ch] fcgi/*.[ch] tests/unit/*.[ch] tests/bench/*.[ch] tests/fuzz/*.[ch])
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

# Every header compiles on its own: a translation unit that includes only it,
# with the normal flags. Headers are found by wildcard, so new ones are checked.
HDRS = $(sort $(wildcard src/*.h fcgi/*.h))
hdr-check:
	@fail=0; for h in $(HDRS); do \
		printf '#include "%s"\n' "$$h" | \
			$(CC) $(BASE_CFLAGS) -fsyntax-only -x c - || { fail=$$((fail+1)); echo "FAILED: $$h"; }; \
	done; \
	echo "hdr-check: $(words $(HDRS)) headers, $$fail failed"; test $$fail -eq 0

# The #include lines of src/ and fcgi/ against the layer list in docs/design.md.
layer-check:
	scripts/layers.py .

# Shell scripts are found by their #! line (and scripts/*.sh, which are sourced);
# Python files are every *.py under tests/ and scripts/; npm's node_modules are not ours.
SHELL_SCRIPTS = $(sort $(wildcard scripts/*.sh) $(patsubst ./%,%,$(shell find . \
	\( -name .git -o -name 'build*' -o -name node_modules \) -prune -o -type f -exec awk \
	'FNR == 1 && /^#!.*[/ ](ba|da)?sh$$/ {print FILENAME} {nextfile}' {} +)))
PY_FILES = $(sort $(shell find tests scripts -name node_modules -prune -o -name '*.py' -print))
lint:
	shellcheck -x $(SHELL_SCRIPTS)
	pyflakes3 $(PY_FILES)

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(SRC_OBJ:.o=.d) $(FCGI_OBJ:.o=.d) $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%.d) \
	$(BUILD)/tests/bench/limit.d $(wildcard $(BUILD)/tests/fuzz/*.d)
