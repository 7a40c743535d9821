# Sourced by scripts/main.sh and scripts/test.sh: installs the Debian 12 packages named as
# arguments that are not installed yet (apt-get, as root or through sudo).
install_debian_packages() {
  local missing=() p sudo=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "== installing: ${missing[*]}" >&2
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# OpenBLAS 0.3.21 does not recognise the project's AVX-512 VMs (Sapphire Rapids, Zen 4) and runs
# its AVX2 kernels there, at half their speed: name the core. Only where the CPU has AVX-512: the
# SkylakeX kernels stop a CPU without it at their first instruction (SIGILL, seen on an AMD Zen 3).
# A caller's own OPENBLAS_CORETYPE stands.
openblas_coretype() {
  if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
}
