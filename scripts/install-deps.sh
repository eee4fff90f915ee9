#!/usr/bin/env bash
# Installs the system packages the tests need on Debian 12, if any is missing:
# lavapipe (Vulkan on the CPU), Xvfb for the viewer's window tests, and the X client
# libraries winit opens at run time, curl and nginx for the replicas-behind-nginx test. Building
# needs no -dev package. Then the official `openai` Python client, which the `granite serve`
# test drives.
set -euo pipefail
pkgs=(mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri xvfb xauth
      libx11-6 libx11-xcb1 libxcursor1 libxi6 libxrandr2 libxkbcommon0 libxkbcommon-x11-0
      python3 python3-pip curl nginx-light)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if [ ${#missing[@]} -ne 0 ]; then
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! python3 -c "import openai" 2>/dev/null; then
  echo "installing: openai (pip)"
  # Debian's Python refuses user installs without --break-system-packages (PEP 668); a
  # virtual environment or pyenv Python takes the plain one.
  python3 -m pip install --quiet openai 2>/dev/null ||
    python3 -m pip install --quiet --user --break-system-packages openai
fi
