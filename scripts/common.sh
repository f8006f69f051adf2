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

# An options file of scripts/ (one option a line, # comments), into the array OPTIONS; read with
# builtins (grep and tr were 13 ms of each start).
read_options() {
  local line
  OPTIONS=()
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in '#'* | '') ;; *) OPTIONS+=("$line") ;; esac
  done <"$TCPINSPECT_ROOT/scripts/$1"
}

# The JVM options every tcpinspect process runs with (scripts/jvm.options), into the array JVM_OPTIONS.
read_jvm_options() {
  read_options jvm.options
  JVM_OPTIONS=("${OPTIONS[@]}")
}

# The JIT options for a command line, into the array JIT_OPTIONS: scripts/jit-json.options for JSON
# output (--format json), which keeps C2 for the event path, else scripts/jit-c1.options (C1 alone);
# each file says why.
read_jit_options() {
  local previous="" a file=jit-c1.options
  for a in "$@"; do
    case "${previous,,} ${a,,}" in
      "--format json" | *" --format=json") file=jit-json.options; break ;;
    esac
    previous=$a
  done
  read_options "$file"
  JIT_OPTIONS=("${OPTIONS[@]}")
}

# The start archive: the JDK's class-data sharing archive (a dynamic CDS archive) of the classes a
# watch loads and the method handles it spins until it is ready, recorded beside the jar by one
# 1-second watch on lo, the first time root starts a watch after a build. Every start then maps it
# instead of loading and linking those classes again: a watch is ready ~0.1-0.15 s sooner
# (BENCHMARKS.md, "The start archive"). An empty file marks a recording that failed, so that it is
# not tried at every start. The JVM checks that the jar and the JDK are the ones it was made with;
# the launcher maps it only while it is newer than both, and keeps the JVM quiet about it (an archive
# it cannot use would otherwise be a warning at every start). TCPINSPECT_START_ARCHIVE=0 neither
# records nor maps it.
TCPINSPECT_ARCHIVE="$TCPINSPECT_ROOT/target/tcpinspect.jsa"
START_ARCHIVE_QUIET=(-Xlog:cds*=off:stderr -Xlog:aot*=off:stderr)

# The JVM's own warnings and errors (its unified logging) on standard error, where the launcher's
# are: by default they go to standard output, into a table or JSON lines.
JVM_LOG_OPTIONS=(-Xlog:disable -Xlog:all=warning:stderr)

start_archive_current() {
  [ "${TCPINSPECT_START_ARCHIVE:-1}" != 0 ] && [ "$TCPINSPECT_ARCHIVE" -nt "$TCPINSPECT_JAR" ] \
    && [ "$TCPINSPECT_ARCHIVE" -nt "$1/lib/modules" ]
}

# The options that map the start archive when there is a current one, into the array
# START_ARCHIVE_OPTIONS (empty otherwise). $1: the JDK.
read_start_archive_options() {
  START_ARCHIVE_OPTIONS=()
  if start_archive_current "$1" && [ -s "$TCPINSPECT_ARCHIVE" ]; then
    START_ARCHIVE_OPTIONS=("-XX:SharedArchiveFile=$TCPINSPECT_ARCHIVE" "${START_ARCHIVE_QUIET[@]}")
  fi
}

# Records the start archive when root starts a watch and none is current. $1: the JDK, then the
# command line. A failed recording leaves the empty marker and one line that says so. The archive
# or marker is renamed into place, never written there: a running JVM may have the old one mapped.
ensure_start_archive() {
  local jdk=$1 a
  shift
  [ "${1:-}" = watch ] && [ "$EUID" -eq 0 ] && [ "${TCPINSPECT_START_ARCHIVE:-1}" != 0 ] || return 0
  for a in "$@"; do
    case $a in -h | --help | -V | --version) return 0 ;; esac # no watch follows: no wait for a recording
  done
  start_archive_current "$jdk" && return 0
  # One recording at a time: a watch started while another start records waits for that archive
  # instead of recording its own beside it (flock, from util-linux, where there is one). The lock
  # is the jar's, whose archive it is (no file of its own to leave behind), and goes with the
  # launcher's exit, or is let go before its exec.
  local lock=""
  if command -v flock >/dev/null 2>&1 && { exec {lock}<"$TCPINSPECT_JAR"; } 2>/dev/null; then
    if ! flock -n "$lock"; then
      say "waiting for the start archive another start is recording ..."
      flock "$lock"
    fi
    if start_archive_current "$jdk"; then
      exec {lock}>&-
      return 0
    fi
  fi
  record_start_archive "$jdk"
  [ -z "$lock" ] || exec {lock}>&- # before the launcher's exec: the watch must not hold it
}

# The recording itself, for ensure_start_archive. $1: the JDK.
record_start_archive() {
  local jdk=$1 tmp rc=0 stopped=""
  say "recording the classes a start loads, once per build (a 1-second watch on lo; TCPINSPECT_START_ARCHIVE=0 skips it) ..."
  tmp=$(mktemp "$TCPINSPECT_ARCHIVE.XXXXXX") || return 0
  # Ctrl-C stops the recording watch cleanly (its exit status is then 0), and the user's command
  # must not start after it; a signal to the launcher alone leaves no temporary file.
  trap 'stopped=130' INT
  trap 'stopped=143' TERM
  trap 'stopped=129' HUP
  read_jvm_options
  read_options jit-c1.options # the classes loaded are the same whichever compilers run
  local c1=("${OPTIONS[@]}")
  # --keep-root: the watch stays root, so that it can write the archive where root put the jar.
  # JSON output: a JSON watch loads what a table's does plus Jackson's and the event readers' classes;
  # with those archived a JSON start loads ~450 classes fewer (~0.06 s sooner), a table's the same.
  "$jdk/bin/java" "${JVM_OPTIONS[@]}" "${JVM_LOG_OPTIONS[@]}" "${START_ARCHIVE_QUIET[@]}" "${c1[@]}" \
    "-XX:ArchiveClassesAtExit=$tmp" \
    -jar "$TCPINSPECT_JAR" watch -i lo --duration 1 --keep-root --format json >/dev/null 2>&1 || rc=$?
  trap - INT TERM HUP
  if [ -n "$stopped" ]; then
    rm -f "$tmp"
    exit "$stopped"
  fi
  if [ "$rc" -ne 0 ] || [ ! -s "$tmp" ]; then
    : >"$tmp"
    say "could not record them (the watch on lo exited with $rc); starts go on without, until the next build"
  fi
  # Newer than the jar even where the jar's time is ahead of the clock, lest every start record again.
  [ "$tmp" -nt "$TCPINSPECT_JAR" ] || touch -r "$TCPINSPECT_JAR" -d '+1 second' "$tmp"
  chmod 644 "$tmp" # mapped by every user's start, --help's too
  mv -f "$tmp" "$TCPINSPECT_ARCHIVE"
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
