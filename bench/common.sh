# Shared by the bench/ scripts (sourced; they define die()).

# pick_workdir NEED_KB PREFIX: makes WORK, a fresh directory on the first of
# /dev/shm, $TMPDIR, /tmp with NEED_KB free, and sets WORK_FS to its type.
pick_workdir() {
  local need_kb=$1 prefix=$2 base avail
  WORK=""
  for base in /dev/shm "${TMPDIR:-/tmp}"; do
    [ -d "$base" ] && [ -w "$base" ] || continue
    avail=$(df -Pk "$base" | awk 'NR==2 {print $4}')
    if [ "$avail" -ge "$need_kb" ]; then
      WORK=$(mktemp -d "$base/$prefix.XXXXXX")
      break
    fi
  done
  [ -n "$WORK" ] || die "no temp dir with $((need_kb / 1024)) MiB free (/dev/shm, \$TMPDIR, /tmp)"
  chmod 755 "$WORK"
  WORK_FS=$(df -PT "$WORK" | awk 'NR==2 {print $2}')
}
