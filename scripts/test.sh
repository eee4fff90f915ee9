#!/usr/bin/env bash
# The test command of the README: installs missing system packages, then runs every test on
# Mesa's lavapipe (Vulkan on the CPU) or whatever Vulkan adapter the machine has, and the
# kernel tests of the products, the experts and sampling once more on the GL backend (the
# portable path without f16 or subgroups, and the GPU tilings).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Linking ~40 test binaries needs a few GB; a full disk shows up as a linker "Bus error".
echo "disk free for target/: $(df -h . | awk 'NR == 2 {print $4}')" >&2
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ]; then
  export XDG_RUNTIME_DIR="$(mktemp -d)"
fi
chmod 700 "$XDG_RUNTIME_DIR"
# A GPU test must fail, not skip, when there is no Vulkan adapter.
export GRANITE_REQUIRE_BACKEND="${GRANITE_REQUIRE_BACKEND:-vulkan}"
cargo test --workspace --locked "$@"
# One test thread: wgpu's GL backend shares one context, and a long first shader compile on
# llvmpipe would make a parallel test time out waiting for it.
GRANITE_REQUIRE_BACKEND=gl cargo test --locked -p granite-engine --test kernels_basic \
  --test kernels_fused --test kernels_moe_router --test kernels_moe_experts \
  --test kernels_sampling -- --test-threads=1
