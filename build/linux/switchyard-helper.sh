#!/bin/bash
# Switchyard's root helper on Linux: the desktop app runs it through pkexec (one polkit password
# prompt per action). Every argument is checked before anything changes; nothing is read from the
# environment (pkexec clears it anyway). --dry-run prints the commands instead of running them.
#
#   switchyard-helper.sh install --user NAME --unit FILE --exe PATH --script PATH [--dry-run]
#       group `switchyard` (system) + NAME added to it; /usr/local/bin/switchyard launcher that runs
#       EXE as Node (ELECTRON_RUN_AS_NODE=1) with SCRIPT; the unit in /etc/systemd/system;
#       /etc/switchyard/switchyard.yaml when missing; systemctl enable --now. Idempotent.
#   switchyard-helper.sh start [--dry-run]            systemctl start switchyard.service
#   switchyard-helper.sh grant --user NAME [--dry-run] add NAME to the switchyard group
#
# Exit: 0 done, 2 bad arguments, 3 not root, other: the failing command's status.
set -euo pipefail
umask 022
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

GROUP=switchyard
UNIT_NAME=switchyard.service
UNIT_DEST=/etc/systemd/system/$UNIT_NAME
LAUNCHER=/usr/local/bin/switchyard
CONFIG_DIR=/etc/switchyard
CONFIG=$CONFIG_DIR/switchyard.yaml

die() { echo "switchyard-helper: $2" >&2; exit "$1"; }
DRY_RUN=0
run() {
  if [ "$DRY_RUN" = 1 ]; then printf 'would run:'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
# write FILE MODE: stdin to FILE atomically (a temporary file in the same folder, then rename).
write() {
  local file=$1 mode=$2
  if [ "$DRY_RUN" = 1 ]; then printf 'would write %s (mode %s):\n' "$file" "$mode"; sed 's/^/  | /'; return; fi
  local tmp
  tmp=$(mktemp "$file.XXXXXX")
  cat > "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$file"
}

op=${1:-}; [ $# -gt 0 ] && shift
user='' unit='' exe='' script=''
while [ $# -gt 0 ]; do
  case $1 in
    --user) user=${2:-}; shift 2 || die 2 '--user needs a value' ;;
    --unit) unit=${2:-}; shift 2 || die 2 '--unit needs a value' ;;
    --exe) exe=${2:-}; shift 2 || die 2 '--exe needs a value' ;;
    --script) script=${2:-}; shift 2 || die 2 '--script needs a value' ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) die 2 "unknown argument: $1" ;;
  esac
done

check_user() {
  [[ $user =~ ^[a-z_][a-z0-9_.-]{0,31}$ ]] || die 2 "not a valid user name: '$user'"
  [ "$DRY_RUN" = 1 ] || id -u -- "$user" >/dev/null 2>&1 || die 2 "no such user: $user"
}
check_file() { # check_file WHAT PATH
  [[ $2 == /* ]] || die 2 "$1 must be an absolute path: '$2'"
  [[ $2 != *$'\n'* ]] || die 2 "$1 must not contain a line break"
  [ -f "$2" ] || die 2 "$1 does not exist: $2"
}
# POSIX sh single quoting (the launcher runs under /bin/sh, which may be dash: no $'…').
sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
need_root() { [ "$DRY_RUN" = 1 ] || [ "$(id -u)" = 0 ] || die 3 'must run as root (through pkexec)'; }

grant() {
  if ! getent group "$GROUP" >/dev/null; then run groupadd --system "$GROUP"; fi
  run usermod -a -G "$GROUP" "$user"
}

case $op in
  install)
    check_user; check_file --unit "$unit"; check_file --exe "$exe"; check_file --script "$script"
    need_root
    grant
    write "$LAUNCHER" 0755 <<EOF
#!/bin/sh
# Switchyard's CLI and service, run by the desktop app's binary as Node. Written by switchyard-helper.sh.
ELECTRON_RUN_AS_NODE=1 exec $(sq "$exe") $(sq "$script") "\$@"
EOF
    run install -D -m 0644 "$unit" "$UNIT_DEST"
    run install -d -m 0755 "$CONFIG_DIR"
    if [ ! -e "$CONFIG" ]; then
      if [ "$DRY_RUN" = 1 ]; then echo "would write $CONFIG from: $LAUNCHER config example";
      elif example=$("$LAUNCHER" config example 2>/dev/null) && [ -n "$example" ]; then printf '%s\n' "$example" | write "$CONFIG" 0644;
      else printf '%s\n' '# Switchyard service configuration: see: switchyard config example' '{}' | write "$CONFIG" 0644; fi
    fi
    run systemctl daemon-reload
    run systemctl enable "$UNIT_NAME"
    run systemctl restart "$UNIT_NAME"
    ;;
  start)
    need_root
    run systemctl start "$UNIT_NAME"
    ;;
  grant)
    check_user
    need_root
    grant
    ;;
  *)
    die 2 "usage: switchyard-helper.sh install|start|grant [options] (see the file header)"
    ;;
esac
