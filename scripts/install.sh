#!/usr/bin/env bash
# Installs fmbench and everything it needs into the current Python 3.11 environment.
#
# torch is pinned to 2.13.0 (a CPU wheel; an unpinned torch pulls the CUDA build). sbibm 1.1.0 is
# installed without its dependencies: it pins sbi<0.22 and pulls elfi, pyabc, pyabcranger, diffeqtorch
# (Julia) and deneb, none of which its tasks need here; what they do need is in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
python -m pip install --quiet --disable-pip-version-check --no-deps "sbibm==1.1.0"
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
python -c "import fmbench, sbibm, sbi, torch; print('fmbench', fmbench.__version__, '| torch', torch.__version__, '| sbi', sbi.__version__)"
