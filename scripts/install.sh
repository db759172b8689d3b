#!/usr/bin/env bash
# Installs fmbench and everything it needs, then checks the imports. Run from anywhere:
#
#     bash scripts/install.sh && . scripts/activate
#
# Where it installs:
#   1. into the active virtual environment, if one is active ($VIRTUAL_ENV);
#   2. else into `python` if that command exists and pip may install into it (its site-packages are
#      writable and it is not "externally managed", PEP 668);
#   3. else into ./.venv, created with `python3 -m venv` (Debian and Ubuntu's system Python refuses
#      `pip install` under PEP 668, and often only `python3` exists). `. scripts/activate` then puts
#      .venv/bin, with `python` and `fmbench`, first on the PATH; where nothing was created it does nothing.
#
# torch is pinned to 2.13.0 (a CPU wheel; an unpinned torch pulls the CUDA build). sbibm 1.1.0 is
# installed last and without its dependencies: it pins sbi<0.22 and pulls elfi, pyabc, pyabcranger,
# diffeqtorch (Julia) and deneb, none of which its tasks need here; what they do need is in
# pyproject.toml. Installing it last, with --no-deps, is also why pip prints no "dependency conflicts"
# about those pins: pip checks conflicts only for what it resolves. Should pip print them anyway (an
# older environment where sbibm was installed first), they are harmless: fmbench never imports those
# packages, and the tests check that sbibm's tasks work.
set -euo pipefail
cd "$(dirname "$0")/.."

may_install_into() {  # may pip install into the Python command $1?
    command -v "$1" >/dev/null 2>&1 && "$1" - <<'EOF'
import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
in_venv = sys.prefix != sys.base_prefix
writable = os.access(sysconfig.get_path("purelib"), os.W_OK)
sys.exit(0 if sys.version_info >= (3, 11) and writable and (in_venv or not os.path.exists(marker)) else 1)
EOF
}

if [[ -n "${VIRTUAL_ENV:-}" ]]; then
    py="$VIRTUAL_ENV/bin/python"
elif may_install_into python; then
    py=python
else
    base=$(command -v python3 || command -v python || true)
    if [[ -z "$base" ]]; then
        echo "install.sh: no python3 found; install Python 3.11 or newer first" >&2
        exit 1
    fi
    if [[ ! -x .venv/bin/python ]]; then
        echo "install.sh: $base may not be installed into (PEP 668) or there is no 'python'; creating .venv"
        "$base" -m venv .venv || {
            echo "install.sh: could not create .venv; on Debian or Ubuntu: sudo apt install python3-venv" >&2
            exit 1
        }
    fi
    py=.venv/bin/python
fi

pip=("$py" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e ".[test]"
"${pip[@]}" --no-deps "sbibm==1.1.0"
"$py" -c "import fmbench, sbibm, sbi, torch; print('fmbench', fmbench.__version__, '| torch', torch.__version__, '| sbi', sbi.__version__)"
if [[ "$py" == .venv/bin/python ]]; then
    echo "installed into .venv: run '. scripts/activate' (or .venv/bin/fmbench, .venv/bin/python) to use it"
fi
