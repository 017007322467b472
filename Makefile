# The two commands: `make up` brings everything up, `make test` runs the whole suite.
.PHONY: up down test bench
up:
	scripts/up
down:
	scripts/down
test:
	scripts/test
