# Shared set-up for ./tcpinspect and ./run-tests: find a JDK, install what is missing (as root,
# with apt-get), build when the sources are newer than the jar. Sourced, not run.

TCPINSPECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TCPINSPECT_JAR="$TCPINSPECT_ROOT/target/tcpinspect.jar"

say() { echo "tcpinspect: $*" >&2; }

# Prints the path of a JDK >= 22 (FFM API) or fails with what to do. Candidates are tried in order
# and the next looked for only when needed, with shell builtins where it can: every process a
# launcher starts is a few ms of each start (BENCHMARKS.md, startup).
find_jdk() {
  local d
  for d in ${JAVA_HOME:+"$JAVA_HOME"} /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk-arm64 /usr/lib/jvm/*; do
    jdk_usable "$d" && { echo "$d"; return 0; }
  done
  if command -v javac >/dev/null 2>&1; then
    d=$(readlink -f "$(command -v javac)")
    d=${d%/bin/javac}
    jdk_usable "$d" && { echo "$d"; return 0; }
  fi
  say "needs a JDK 22 or newer (for the Foreign Function & Memory API), and found none."
  say "Install one (Temurin 25, or 'apt-get install openjdk-25-jdk' where your release has it) and set JAVA_HOME."
  return 1
}

# Whether DIR holds a JDK >= 22: its release file names its version without starting a JVM.
jdk_usable() {
  local line v=""
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 1
  if [ -r "$1/release" ]; then
    while IFS= read -r line; do
      case $line in JAVA_VERSION=*) v=${line#JAVA_VERSION=\"}; v=${v%%[!0-9]*}; break ;; esac
    done < "$1/release"
  fi
  [ -n "$v" ] || v=$("$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [ -n "$v" ] && [ "${v%%.*}" -ge 22 ] 2>/dev/null
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

# The JIT options for a command line. A table (the default output) does little once it is running,
# a few map reads a second, and C1's code alone serves it at the same CPU cost under load; without C2
# compiling beside it, a start on 2 CPUs is ~0.25 s sooner. JSON decodes and writes every event, where
# C2's code takes 25-60% less CPU per event: it keeps both compilers (BENCHMARKS.md, startup).
# The JVM options every tcpinspect process runs with (scripts/jvm.options, comments left out).
jvm_options() {
  grep -v '^#' "$TCPINSPECT_ROOT/scripts/jvm.options" | tr '\n' ' '
}

jit_options() {
  local previous="" a
  for a in "$@"; do
    case "${previous,,} ${a,,}" in
      "--format json" | *" --format=json") return 0 ;;
    esac
    previous=$a
  done
  echo "-XX:TieredStopAtLevel=1"
}

# What building and running need. Pairs: package, then a command or a file that shows it is there.
RUNTIME_PACKAGES=(libbpf1 /usr/lib/x86_64-linux-gnu/libbpf.so.1 iproute2 ip)
BUILD_PACKAGES=(maven mvn clang clang llvm llvm-strip make make libbpf-dev /usr/include/bpf/libbpf.h
  linux-libc-dev /usr/include/linux/bpf.h gcc gcc bpftool bpftool)

# Builds target/tcpinspect.jar when it is missing or older than any source.
build_if_stale() {
  local stale
  if [ -f "$TCPINSPECT_JAR" ]; then
    stale=$(cd "$TCPINSPECT_ROOT" && find src bpf pom.xml -newer "$TCPINSPECT_JAR" -type f -print -quit 2>/dev/null)
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
