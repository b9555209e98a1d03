# htdag developer tasks. `make help` lists them; each target's comment is
# after its "##".
#
# Targets that need a database get one from scripts/ensure-postgres.sh (it
# honours a reachable $DATABASE_URL, else finds or starts a local server).
# Its output is eval'd in the same shell line as the command, so the
# DATABASE_URL it exports reaches that command.

GO ?= go
BIN := bin/worker
WITH_DB = env=$$(scripts/ensure-postgres.sh) && eval "$$env" &&

.DEFAULT_GOAL := help
.PHONY: help build test migrate run demo bench soak fleet fmt vet lint clean stop-postgres

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build the worker binary into bin/worker
	$(GO) build -o $(BIN) ./cmd/worker

test: ## run all tests (with -race) against PostgreSQL, starting it if needed
	@scripts/ensure-pgbouncer.sh || echo "make test: without PgBouncer, its tests skip"
	@$(WITH_DB) $(GO) test -race -count=1 ./...

# The browser tests are kept out of `make test` (they need Chromium and take
# ~20 s): scripts/browser-deps.sh installs Chromium (apt-get, as root) and
# Mermaid (npm pack) where it can; without them the tests skip, saying so.
BROWSER_DEPS = deps=$$(scripts/browser-deps.sh) && eval "$$deps" &&

test-browser: ## browser tests of the run pages in headless Chromium (installs it when it can)
	@$(BROWSER_DEPS) $(WITH_DB) $(GO) test -tags browser -count=1 -run Browser -v ./flowhttp/

screenshots: ## write the README's run-page screenshots into docs/ (browser tests)
	@$(BROWSER_DEPS) $(WITH_DB) HTDAG_SCREENSHOT_DIR=$(CURDIR)/docs $(GO) test -tags browser -count=1 -run 'Browser(ShowsAFailedHierarchy|FanOut)' ./flowhttp/

migrate: build ## apply River's and htdag's migrations to $DATABASE_URL
	@$(WITH_DB) $(BIN) migrate

run: build ## work flow nodes in the foreground (Ctrl-C stops gracefully)
	@$(WITH_DB) exec $(BIN) --log-format console run

demo: ## migrate, start a worker, ingest this repository (worker ingest), query the result
	@scripts/demo.sh

soak: ## 3 minutes of kill -9 and PostgreSQL restarts under load, then the checks (docs/RELIABILITY.md)
	@$(WITH_DB) (HTDAG_LONG=1 $(GO) test -count=1 -run 'TestRunNodeLongerThanAMinute' ./cmd/worker & long=$$!; \
		$(GO) run ./internal/soak/cmd; soak=$$?; wait $$long; long=$$?; \
		[ $$soak -eq 0 ] && [ $$long -eq 0 ])

fleet: ## 50 workers through PgBouncer on a private PostgreSQL (max_connections 100): the figures of docs/SCALING.md
	@scripts/ensure-pgbouncer.sh
	@$(GO) run ./internal/fleettest/cmd $(FLEET_FLAGS)

bench: ## run the benchmark (worker bench)
	@$(WITH_DB) $(GO) run ./cmd/worker bench

fmt: ## format the Go code in place
	$(GO) fmt ./...

vet: ## go vet every package
	$(GO) vet ./...

lint: ## fail on unformatted files, then go vet
	@unformatted=$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...)); \
	if [ -n "$$unformatted" ]; then echo "not gofmt'ed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

clean: ## remove build output (bin/)
	rm -rf bin

stop-postgres: ## stop the private cluster ensure-postgres.sh may have started
	@scripts/stop-postgres.sh
