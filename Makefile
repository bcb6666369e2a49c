# Two commands on a fresh machine with Python 3.11+: `make up` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test
RUNSTAMP := $(VENV)/.installed

.PHONY: up test check lint typecheck bench clean

# uv (from PyPI) installs the dependencies in seconds where pip takes minutes, and shows its progress.
$(BIN)/python:
	@echo "creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip uv

$(RUNSTAMP): pyproject.toml | $(BIN)/python
	@echo "installing edgeway and its dependencies into $(VENV)"
	$(BIN)/uv pip install --python $(BIN)/python -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "installing edgeway, its dependencies and the test tools into $(VENV)"
	$(BIN)/uv pip install --python $(BIN)/python -e '.[test]'
	touch $@ $(RUNSTAMP)

up: $(RUNSTAMP)
	$(BIN)/edgeway up $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint cloudfront_edge/distribution.yaml cloud_backend/template.yaml

typecheck: $(STAMP)
	$(BIN)/mypy edgeway edgeway_common edge_functions greengrass_components cloudfront_edge device_client cloud_backend

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/core_startup.py
	$(BIN)/python bench/ipc_pubsub.py
	$(BIN)/python bench/edge_functions.py
	$(BIN)/python bench/edge_proxy.py
	$(BIN)/python bench/chat_path.py
	$(BIN)/python bench/vision.py
	$(BIN)/python bench/sensor_handler.py
	$(BIN)/python bench/uplink.py
	$(BIN)/python bench/up.py
	$(BIN)/python bench/web.py

clean:
	rm -rf $(VENV) .edgeway .pytest_cache .mypy_cache .ruff_cache
