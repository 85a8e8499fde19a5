# nutcracker-rs: every target is phony and one line of cargo or a script.
# `make test` runs the debug build: debug_assert! invariants stay on and the
# build is quick; `make release` and `make bench` use the optimized build.

PREFIX     ?= /usr/local
SYSCONFDIR ?= $(PREFIX)/etc
DESTDIR    ?=
T          ?=
FUZZ_SECS  ?= 60

.PHONY: build release test lint demo bench fuzz corpus man install clean ci

build:
	cargo build

release:
	cargo build --release

test:
	cargo test

lint:
	cargo fmt --check && cargo clippy --all-targets -- -D warnings && RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet && if cargo tree -e normal -i tokio >/dev/null 2>&1; then echo "tokio is in the dependency tree" >&2; exit 1; fi

demo:
	bash contrib/demo.sh

bench:
	bash contrib/bench/bench.sh

fuzz:
	bash fuzz/run.sh $(FUZZ_SECS) $(T)

corpus:
	cargo test --test fuzz_corpus

man:
	out=$$(groff -man -ww -z man/nutcracker.8 2>&1); if [ -n "$$out" ]; then echo "$$out" >&2; exit 1; fi

install: release
	install -D -m 0755 target/release/nutcracker $(DESTDIR)$(PREFIX)/sbin/nutcracker && install -D -m 0644 man/nutcracker.8 $(DESTDIR)$(PREFIX)/share/man/man8/nutcracker.8 && install -d $(DESTDIR)$(SYSCONFDIR)/nutcracker && install -m 0644 conf/*.yml $(DESTDIR)$(SYSCONFDIR)/nutcracker/

clean:
	cargo clean

ci: lint test man
