# Shared helpers of the packaging tests (sourced): skip visibly when a tool is missing, fail loudly.
# ctest maps exit code 77 to "skipped" (SKIP_RETURN_CODE in tests/packaging/CMakeLists.txt).

# need TOOL...: skip the test unless every TOOL is on PATH.
need() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "SKIP: $tool is not installed (tools/install-deps.sh installs it)"
      exit 77
    fi
  done
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# the_one GLOB: the single file matching GLOB, or fail (a stale second package would hide bugs).
the_one() {
  local matches=($1)
  [ ${#matches[@]} -eq 1 ] && [ -f "${matches[0]}" ] ||
    fail "expected exactly one file matching $1, found: ${matches[*]}"
  echo "${matches[0]}"
}
