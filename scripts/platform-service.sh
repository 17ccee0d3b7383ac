#!/usr/bin/env bash
# platform-service.sh — install, start and stop the sim platform service
# (`secureai platform serve`, docs/threat-model.md): the only holder of the
# sim platform key and the only launcher of enclaves on this machine.
#
#   scripts/platform-service.sh start [CLI]   as root: system users, then a
#       systemd unit where systemd runs (secureai-platform.service), else a
#       plain background start (pid in /run/secureai/platform.pid). Prints
#       "started" or "running" (a service was already there).
#   scripts/platform-service.sh stop          stop what `start` started
#   scripts/platform-service.sh status        the running service's identity
#
# Environment: SECUREAI_PLATFORM_SOCKET (default /run/secureai/platform.sock),
# SAI_PLATFORM_DIR (default /var/lib/secureai/platform).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sock=${SECUREAI_PLATFORM_SOCKET:-/run/secureai/platform.sock}
pdir=${SAI_PLATFORM_DIR:-/var/lib/secureai/platform}
unit=/etc/systemd/system/secureai-platform.service
pidf=/run/secureai-platform.pid
mode=${1:-}
cli=${2:-$root/build/secureai}

die() { echo "platform-service: $*" >&2; exit 1; }
have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
alive() { "$cli" platform info --socket "$sock" >/dev/null 2>&1; }

case "$mode" in
  start)
    if alive; then echo running; exit 0; fi
    [ "$(id -u)" -eq 0 ] || die "starting the platform service needs root (it runs as its own user)"
    [ -x "$cli" ] || die "$cli not built"
    for u in secureai-platform secureai-enclave; do
      id "$u" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$u"
    done
    mkdir -p "$(dirname "$pdir")"
    if have_systemd; then
      cat > "$unit" <<UNIT
[Unit]
Description=SecureAI simulated TEE platform (holds the sim platform key, launches enclaves)

[Service]
ExecStart=$cli platform serve --dir $pdir --socket $sock
# Starts as root only to own the key directory and drop to secureai-platform,
# keeping CAP_SETUID/CAP_SETGID to start enclaves as secureai-enclave and
# CAP_KILL to stop them.
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
      systemctl daemon-reload
      systemctl start secureai-platform.service
    else
      mkdir -p "$(dirname "$sock")"
      nohup "$cli" platform serve --dir "$pdir" --socket "$sock" >/var/log/secureai-platform.log 2>&1 &
      echo $! > "$pidf"
    fi
    for _ in $(seq 100); do alive && { echo started; exit 0; }; sleep 0.1; done
    die "the service did not come up (see /var/log/secureai-platform.log or journalctl -u secureai-platform)"
    ;;
  stop)
    if have_systemd && [ -f "$unit" ]; then
      systemctl stop secureai-platform.service || true
    elif [ -f "$pidf" ]; then
      pid=$(cat "$pidf")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$pidf"
    fi
    ;;
  status)
    "$cli" platform info --socket "$sock"
    ;;
  -h|--help|"")
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; [ -n "$mode" ] ;;
  *) die "unknown command '$mode' (start|stop|status)" ;;
esac
