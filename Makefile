# Two targets a newcomer needs: `make demo` (the main job) and `make test` (the test suite).
# Both create the virtual environment .venv from this repository's own files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench

$(BIN)/.installed-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(BIN)/.installed-test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(BIN)/.installed-run

demo: $(BIN)/.installed-run
	$(BIN)/gisaxs-live demo

# systemd-analyze (Debian package systemd) verifies the service unit; its test skips where it cannot be installed.
test: $(BIN)/.installed-test
	command -v systemd-analyze >/dev/null || (apt-get install -y -qq systemd >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq systemd >/dev/null 2>&1)) || echo "systemd-analyze unavailable: the unit test will skip"
	$(BIN)/python -m pytest -q

bench: $(BIN)/.installed-test
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# The BornAgain cross-simulator set (benchmarks/crosssim/README.md): 24 frames per class on a Pilatus 1M and a
# 2M, rebuilt into benchmarks/crosssim/data/ on one core (about 30 min), then scored through `gisaxs-live classify`
# (figures printed and written to benchmarks/results/crosssim.json).
.PHONY: crosssim
CROSSSIM_DIR ?= benchmarks/crosssim/data
crosssim: $(BIN)/.installed-test
	rm -rf $(CROSSSIM_DIR)
	$(BIN)/python benchmarks/crosssim/make_set.py --out $(CROSSSIM_DIR) --per-class 24 --seed 0 --workers 1
	$(BIN)/python benchmarks/crosssim/score.py --set $(CROSSSIM_DIR)
