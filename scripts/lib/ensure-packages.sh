# Installs the Debian packages the build and tests need, if any are missing. Sourced by scripts/test and scripts/serve.
copslink_ensure_packages() {
  local needed=(libprotobuf-c-dev protobuf-c-compiler protobuf-compiler pkg-config libsqlite3-dev libssl-dev "$@")
  local missing=()
  for package in "${needed[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
