# The two commands in the readme: `make demo` runs the plugin in a real Traefik, `make test` runs all tests.
# Both install what they need.

.PHONY: test demo fuzz bench

test:
	./scripts/test.sh

# Runs each fuzz target for FUZZTIME (the seed corpora already run in `make test`).
FUZZTIME ?= 30s
fuzz:
	go test -run '^$$' -fuzz '^FuzzUnsign$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzReadReply$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzPublicPaths$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzClaims$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzVerifyJWT$$' -fuzztime $(FUZZTIME) .

demo:
	./scripts/demo.sh

# Writes BENCHMARKS.md: wrk against bare Traefik, sessionjwt, ForwardAuth and two floor plugins, plus the Go benchmarks.
bench:
	./bench/run.sh
