# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs deployc, builds the digits example into out/
#   make test   the same venv, then the whole test suite (what .ci/run runs)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
EXTRAS := passes,serve,image,sweep,triton,test
STAMP  := $(VENV)/.deployc-installed

.PHONY: venv demo test bench golden proto clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	# The edge toolchain pins xdsl, which caps typing-extensions below what kubernetes needs;
	# install it last, then lift the cap back (xdsl is used by no converter path of ours).
	$(PIP) install -q -c constraints.txt -e ".[edge]"
	$(PIP) install -q -c constraints.txt "typing-extensions==4.16.0" "pydantic==2.14.4"
	touch $@

demo: venv
	$(VENV)/bin/deployc build examples/digits-cnn/deploy.yaml -o out
	$(VENV)/bin/deployc build examples/text-encoder/deploy.yaml -o out/text-encoder

test: venv
	$(PY) -m pytest

bench: venv
	$(PY) bench/compile_bench.py

# Rewrite the golden output trees after an intended change; review the diff before committing.
golden: venv
	DEPLOYC_REFRESH_GOLDEN=1 $(PY) -m pytest tests/test_golden.py

# The runtime's gRPC stubs from proto/grpc_predict_v2.proto (committed; a test checks they are current).
proto: venv
	$(PY) proto/generate.py

clean:
	rm -rf out .pytest_cache
