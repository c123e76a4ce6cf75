# scimplane build and test entry points. `make test` is what CI runs.
GO ?= go
BIN := bin
# FUZZTIME is a count of executions per fuzz target, not a duration: Go
# 1.26's fuzz coordinator can fail a duration-bounded run with a bare
# "context deadline exceeded" at the deadline (go.dev/issue/75804, fixed in
# Go 1.27) when the machine is busy. 60000 runs take 5 to 15 s here.
FUZZTIME ?= 60000x

.PHONY: build run test test-fast fuzz vet lint proto clean images

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/controlplane ./controlplane
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/worker ./worker

# run starts the control plane; with no DATABASE_URL it starts its own
# PostgreSQL from the machine's binaries under ./.scimplane.
run: build
	./$(BIN)/controlplane

# test runs everything: unit, store and plugin tests on a real PostgreSQL
# (TEST_DATABASE_URL, or one started from the machine's binaries), the
# bounded fuzz runs, and the end-to-end suite in tests/.
test: vet build images
	$(GO) test -count=1 -timeout 30m -cover ./...
	$(MAKE) fuzz

# images builds the control-plane and PostgreSQL images locally from Debian
# packages and bin/ (controlplane/deploy/images.sh); a second run reuses them.
images: build
	controlplane/deploy/images.sh

# test-fast skips the container suite and the fuzzers.
test-fast:
	$(GO) test -count=1 -short -cover ./...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzFilter$$' -fuzztime $(FUZZTIME) ./worker/internal/resource
	$(GO) test -run '^$$' -fuzz '^FuzzPatch$$' -fuzztime $(FUZZTIME) ./worker/internal/resource
	$(GO) test -run '^$$' -fuzz '^FuzzExchange$$' -fuzztime $(FUZZTIME) ./worker/internal/app

vet:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

# sqlc regenerates both stores' static queries (<store>/queries/*.sql ->
# <store>/dbsqlc, for controlplane/internal/store and worker/internal/store)
# from their migrations' schema; sqlc-diff fails when the committed code of
# either is stale (CI runs it). sqlc is built from the Go module proxy on
# first use.
SQLC := $(GO) run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1
SQLC_STORES := controlplane/internal/store worker/internal/store
.PHONY: sqlc sqlc-diff
sqlc:
	for d in $(SQLC_STORES); do (cd $$d && $(SQLC) generate) || exit 1; done
sqlc-diff:
	for d in $(SQLC_STORES); do (cd $$d && $(SQLC) diff) || exit 1; done

# lint runs staticcheck and deadcode (both built from the Go module proxy
# on first use). deadcode starts from every main and test; an Example
# function without an Output comment is compiled but never run, so it has
# no caller and is left out of its report.
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
DEADCODE := $(GO) run golang.org/x/tools/cmd/deadcode@v0.52.0
lint:
	$(STATICCHECK) ./...
	out=$$($(DEADCODE) -test ./...) || exit 1; \
		out=$$(printf '%s\n' "$$out" | grep -v -e ': unreachable func: Example' -e '^$$'); \
		if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

proto:
	cd plugins/scimworker && protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative -I . proto/v1/worker.proto

clean:
	rm -rf $(BIN)

# chart lints and renders the Helm chart (deploy/helm/scimplane) with its
# default and its scale values and runs the test of the rendered manifests'
# invariants. helm is built once from the Go module proxy into bin/.
HELM_VERSION := v3.22.0
HELM := $(BIN)/helm-$(HELM_VERSION)/helm
CHART := deploy/helm/scimplane

$(HELM):
	GOBIN=$(CURDIR)/$(BIN)/helm-$(HELM_VERSION) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

.PHONY: chart
chart: $(HELM)
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) -f $(CHART)/ci/scale-values.yaml
	$(HELM) template scimplane $(CHART) >/dev/null
	$(HELM) template scimplane $(CHART) -f $(CHART)/ci/scale-values.yaml >/dev/null
	HELM=$(CURDIR)/$(HELM) $(GO) test -count=1 ./deploy/helm/

# bench measures hosted scale end to end (issue 16's T1-T5) and prints one
# markdown table: for each scenario run it starts bin/controlplane on the
# embedded PostgreSQL in a temporary directory, creates tenants through the
# admin API, drives them with Entra's request sequence on 127.0.0.1, reads
# back and compares everything it wrote, and reads CPU, database connections
# and memory from /proc. BENCHFLAGS overrides e.g. -scenarios, -duration,
# -runs, -json out.json; SCIMPLANE_* variables in the environment pass to the
# control plane. See docs/benchmarks.md.
.PHONY: bench
bench: build
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/scimbench ./cmd/scimbench
	$(BIN)/scimbench -controlplane $(BIN)/controlplane -worker $(BIN)/worker $(BENCHFLAGS)

# openapi writes the admin API's OpenAPI 3.1 document, docs/openapi.json,
# from the route table (controlplane/internal/httpapi/routes.go) and the Go
# types it names; the control plane serves that file at
# /api/v1/openapi.json, and a test (./controlplane/apidoc) fails
# when it is stale.
.PHONY: openapi
openapi:
	$(GO) run ./cmd/openapi -o docs/openapi.json
