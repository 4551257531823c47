#!/usr/bin/env bash
# Installs everything bert4keras_ext needs on a fresh Python 3.11 machine (idempotent; quick when done already).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements.txt
# bert4keras 0.11.5 pins keras<=2.3.1, which conflicts with TF 2.21: install it without its dependencies.
python -m pip install -q --no-deps bert4keras==0.11.5
python -m pip install -q --no-deps -e .
