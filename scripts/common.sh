# Shared set-up for ./tcpinspect and ./run-tests: find a JDK, install what is missing (as root,
# with apt-get), build when the sources are newer than the jar. Sourced, not run.

TCPINSPECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TCPINSPECT_JAR="$TCPINSPECT_ROOT/target/tcpinspect.jar"

say() { echo "tcpinspect: $*" >&2; }

# Prints the path of a JDK >= 22 (FFM API) or fails with what to do.
find_jdk() {
  local candidates=() d v
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  candidates+=(/usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk-arm64)
  for d in /usr/lib/jvm/*; do candidates+=("$d"); done
  if command -v javac >/dev/null 2>&1; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")")
  fi
  for d in "${candidates[@]}"; do
    [ -x "$d/bin/java" ] && [ -x "$d/bin/javac" ] || continue
    # The JDK's release file names its version without starting a JVM (each start costs time: BENCHMARKS.md, startup).
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$d/release" 2>/dev/null)
    [ -n "$v" ] || v=$("$d/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if [ -n "$v" ] && [ "${v%%.*}" -ge 22 ] 2>/dev/null; then
      echo "$d"
      return 0
    fi
  done
  say "needs a JDK 22 or newer (for the Foreign Function & Memory API), and found none."
  say "Install one (Temurin 25, or 'apt-get install openjdk-25-jdk' where your release has it) and set JAVA_HOME."
  return 1
}

# Installs the Debian packages whose commands or files are missing, when root; else says what to run.
ensure_packages() {
  local missing=() pkg check
  while [ $# -gt 0 ]; do
    pkg=$1 check=$2; shift 2
    if [ "${check#/}" != "$check" ]; then
      [ -e "$check" ] || missing+=("$pkg")
    else
      command -v "$check" >/dev/null 2>&1 || missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "missing packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}"
    return 1
  fi
  say "installing ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null || {
    say "apt-get install ${missing[*]} failed"
    return 1
  }
}

# What building and running need. Pairs: package, then a command or a file that shows it is there.
RUNTIME_PACKAGES=(libbpf1 /usr/lib/x86_64-linux-gnu/libbpf.so.1 iproute2 ip)
BUILD_PACKAGES=(maven mvn clang clang llvm llvm-strip make make libbpf-dev /usr/include/bpf/libbpf.h
  linux-libc-dev /usr/include/linux/bpf.h gcc gcc bpftool bpftool)

# Builds target/tcpinspect.jar when it is missing or older than any source.
build_if_stale() {
  local stale
  if [ -f "$TCPINSPECT_JAR" ]; then
    stale=$(cd "$TCPINSPECT_ROOT" && find src bpf pom.xml -newer "$TCPINSPECT_JAR" -type f 2>/dev/null | head -1)
    [ -z "$stale" ] && return 0
  fi
  ensure_packages "${BUILD_PACKAGES[@]}" || return 1
  say "building (sources changed) ..."
  local log
  log=$(mktemp)
  if ! (cd "$TCPINSPECT_ROOT" && JAVA_HOME="$JDK" MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" \
    mvn -B -Dstyle.color=never -DskipTests package) >"$log" 2>&1; then
    grep -E "ERROR|error:" "$log" | head -40 >&2
    say "build failed (full log: $log)"
    return 1
  fi
  rm -f "$log"
}
