#!/usr/bin/env bash
# Set up everything from nothing: Debian packages (where apt is available), a venv, the package.
# Called by `make setup` (and so by `make test` / `make book`); safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

# Room first, before any work: the locked environment (torch with its CUDA libraries, TensorFlow,
# JAX) takes about 8 GiB, and a full disk leaves pip's "No space left on device" half-way through.
MIN_FREE_GIB="${FASHIONLIB_SETUP_MIN_FREE_GIB:-9}"
if [ ! -x "$VENV/bin/python" ]; then
    venv_parent="$(dirname "$VENV")"
    mkdir -p "$venv_parent"
    free_gib=$(( $(df -Pk "$venv_parent" | awk 'NR==2 {print $4}') / 1048576 ))
    if [ "$free_gib" -lt "$MIN_FREE_GIB" ]; then
        echo "[setup] error: only ${free_gib} GiB free on the disk of $venv_parent; the venv $VENV needs" \
             "about ${MIN_FREE_GIB} GiB. Free some space (old clones' .venv folders are the usual culprit)" \
             "or set VENV to a folder on a larger disk." >&2
        exit 1
    fi
fi

if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    pkgs="dataset-fashion-mnist g++"  # g++: torch.compile on the CPU (inductor) in tests/test_train_torch_speed.py
    [ "${FASHIONLIB_NO_BROWSER:-0}" = 1 ] || pkgs="$pkgs chromium chromium-driver"
    echo "[setup] apt-get install $pkgs"
    $SUDO apt-get update -qq || echo "[setup] apt-get update failed; continuing"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs \
        || echo "[setup] apt-get install failed; the data falls back to download, the browser test will skip"
else
    echo "[setup] no apt-get: Fashion-MNIST will be downloaded into the cache on first use"
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
# The locked environment: every package at the exact version that produced the committed records
# (torch==2.14.1, torchvision==0.29.1 among them), each file checked against its sha256 in the lock.
# Update the lock with `make lock`.
LOCK="${LOCK:-requirements-lock.txt}"
HASHES=""
grep -q -- "--hash=sha256:" "$LOCK" && HASHES="--require-hashes"
echo "[setup] installing the locked environment from $LOCK ($(grep -c '^[A-Za-z0-9]' "$LOCK") packages${HASHES:+, hashes checked})"
"$VENV/bin/python" -m pip install -q $HASHES -r "$LOCK"
# fashionlib itself, editable; its dependencies are already there at the locked versions.
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -m pip check
echo "[setup] done: $("$VENV/bin/python" --version), torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
