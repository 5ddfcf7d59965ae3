# Quick start: `make demo` and `make test` on a fresh machine; both set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test test-fast bench clean browser fonts lock

# Installs come from requirements.lock, so a fresh clone gets exactly what was tested. ctit is
# byte-compiled as an installed package is: an editable install never is where Python may not
# write bytecode (PYTHONDONTWRITEBYTECODE), and every command recompiled it.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m compileall -q src/ctit
	touch $(STAMP)

setup: $(STAMP)

# Re-resolve pyproject.toml's ranges into requirements.lock (then commit it).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet ".[report,cdisc,spark,test]"
	{ echo "# Exact versions a fresh clone installs (make setup). Refresh after changing pyproject.toml: make lock"; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^ctit'; } > requirements.lock
	rm -rf .lock-venv

# Debian's Chromium for the report's browser test; the browser cannot be downloaded otherwise.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser test will be skipped"; \
	  else echo "not root: chromium not installed, the browser test will be skipped"; fi; }

# A font with Chinese glyphs (Debian's WenQuanYi Micro Hei), so figures and DOCX show Chinese
# labels; the figures use it automatically when it is installed.
fonts:
	@fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null) \
	      || echo "fonts-wqy-microhei could not be installed: Chinese labels will show as boxes"; \
	  else echo "not root: no CJK font installed, Chinese labels will show as boxes"; fi; }

demo: setup fonts
	rm -rf out/demo out/demo-study
	$(BIN)/ctit example out/demo-study
	$(BIN)/ctit analyze out/demo-study --out out/demo

# Tests are sent to the two workers by file, so a module's slow fixtures (an analysis of the
# example) are built once, on one worker.
test: setup browser fonts
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-fast: setup fonts
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not spark and not browser"

bench: setup
	$(BIN)/python benchmarks/bench_analyze.py --extra="-f json"
	$(BIN)/python benchmarks/bench_analyze.py --extra="-f json" --cold
	$(BIN)/python benchmarks/bench_report.py

clean:
	rm -rf out .pytest_cache build dist src/*.egg-info
