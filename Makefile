# The workbook's two commands (see README.md):
#   make lab    set up this machine (idempotent) and open JupyterLab at the first notebook
#   make test   set up this machine (idempotent) and run the whole test suite
SHELL := /bin/bash
VENV ?= .venv
LAB_PORT ?= 8888
LAB_FLAGS ?=
PYTEST_FLAGS ?=

.PHONY: lab test setup strip clean-resources image image-tar run-image test-image lock test-latest classroom

setup:
	@WORKBOOK_VENV=$(VENV) scripts/setup.sh

lab: setup
	@echo "Opening JupyterLab at notebooks/00-setup-check.ipynb (Ctrl-C to stop)."
	$(VENV)/bin/jupyter lab notebooks/00-setup-check.ipynb --ip=127.0.0.1 --port=$(LAB_PORT) \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_FLAGS)

test: setup
	@$(VENV)/bin/python scripts/provision.py --all
	$(VENV)/bin/python -m pytest $(PYTEST_FLAGS)

# The Python environment is locked (requirements.lock, README "The same environment next year"):
#   make lock          refresh the lock to the newest versions pyproject.toml allows (then make test)
#   make test-latest   the whole suite in a throw-away environment of those newest versions (not CI)
lock:
	@scripts/lock.sh

test-latest:
	rm -rf .venv-latest
	@$(MAKE) --no-print-directory test VENV=.venv-latest WORKBOOK_UNLOCKED=1
	rm -rf .venv-latest

# Remove outputs from notebooks before committing them.
strip:
	$(VENV)/bin/python scripts/nbstrip.py notebooks/*.ipynb

# Remove what kernels that died left behind (containers, domains, servers...).
clean-resources:
	$(VENV)/bin/python -c "import helpers"

# The portable image (README, "Any machine with Docker"): build it, archive it, run it.
image: setup
	@scripts/image.sh

image-tar: setup
	@scripts/image.sh tar

run-image:
	@scripts/run-image.sh

# The portable image's own tests (build, the notebooks of every part inside it, a browser from the
# host, a second start, nothing left on the host; the arm64 image under emulation; the classroom
# hub with three students): about 35 minutes, so not part of `make test`.
test-image: setup
	WORKBOOK_TEST_IMAGE=1 $(VENV)/bin/python -m pytest -m image $(PYTEST_FLAGS)

# A JupyterHub for a class on this machine, each student in a container of the portable image
# (README, "A classroom server"; docs/classroom.md).
classroom: setup
	@scripts/classroom.sh

# The editions for teaching (scripts/editions.py; everything goes to build/, never into notebooks/):
#   make student   build/student/notebooks: each solution replaced by its starter and a collapsed hint
#   make slides    build/slides/NN-*.slides.html: reveal.js (from npm, offline) of the notebooks executed
#                  here (build/executed, reused while a notebook is unchanged); ONLY=00,04 for some
.PHONY: student slides
student: setup
	$(VENV)/bin/python scripts/editions.py student

slides: setup
	$(VENV)/bin/python scripts/editions.py slides --only "$(ONLY)"
