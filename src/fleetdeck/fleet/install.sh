#!/bin/sh
# Install the fleetdeck agent from the fleetdeck server at @SERVER@ and enrol this host.
#
#   curl -fsSL @SERVER@/install.sh | sh -s -- --token TOKEN [options]
#
# Options:
#   --token T             enrolment token from the server (required)
#   --ca-fingerprint F    pin the server's private CA (sha256:…, from `fleetdeck server --tls auto`)
#   --prefix DIR          where the agent's venv goes (default /opt/fleetdeck-agent as root,
#                         ~/.local/share/fleetdeck-agent otherwise); an existing venv is upgraded
#   --state-dir DIR       the agent's key and state (default /var/lib/fleetdeck-agent as root)
#   --name NAME           display name on the server (default: hostname)
#   --pip-args "ARGS"     extra arguments for pip (e.g. "--index-url https://mirror/simple")
#   --allow-commands      let the server signal processes here once an administrator also
#                         enables commands for this agent (commandsEnabled); off by default
#   --no-service          do not write and start a systemd unit
set -eu

SERVER="@SERVER@"
VERSION="@VERSION@"
TOKEN=""
CA=""
PREFIX=""
STATE=""
NAME=""
PIP_ARGS=""
COMMANDS=""
SERVICE=1

die() { echo "fleetdeck install: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --token) TOKEN="${2:-}"; shift 2 ;;
    --ca-fingerprint) CA="${2:-}"; shift 2 ;;
    --prefix) PREFIX="${2:-}"; shift 2 ;;
    --state-dir) STATE="${2:-}"; shift 2 ;;
    --name) NAME="${2:-}"; shift 2 ;;
    --pip-args) PIP_ARGS="${2:-}"; shift 2 ;;
    --allow-commands) COMMANDS=" --allow-commands"; shift ;;
    --no-service) SERVICE=0; shift ;;
    *) die "unknown option $1 (see the comment at the top of this script)" ;;
  esac
done
[ -n "$TOKEN" ] || die "--token is required: make one with POST /api/v1/agents/enrollment-tokens"

command -v python3 >/dev/null 2>&1 || die "python3 (3.11 or newer) is needed"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "python3 is $(python3 -V 2>&1); 3.11 or newer is needed"
command -v curl >/dev/null 2>&1 || die "curl is needed"

if [ "$(id -u)" = 0 ]; then
  : "${PREFIX:=/opt/fleetdeck-agent}"
else
  : "${PREFIX:=$HOME/.local/share/fleetdeck-agent}"
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

CURL="curl -fsSL"
if [ -n "$CA" ]; then
  # Fetch the CA unverified, then trust it only if its fingerprint is the one given.
  $CURL -k -o "$TMP/ca.pem" "$SERVER/ca.pem" || die "cannot fetch $SERVER/ca.pem"
  FOUND=$(python3 -c 'import hashlib, ssl, sys
print("sha256:" + hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())).hexdigest())' "$TMP/ca.pem")
  WANT=$(echo "$CA" | tr 'A-F' 'a-f' | sed 's/^sha256://; s/://g')
  [ "$FOUND" = "sha256:$WANT" ] || die "the server's CA is $FOUND, not $CA: wrong server, or someone in between"
  CURL="$CURL --cacert $TMP/ca.pem"
fi

WHEEL="$TMP/fleetdeck-$VERSION-py3-none-any.whl"
echo "downloading the agent from $SERVER"
$CURL -D "$TMP/headers" -o "$WHEEL" "$SERVER/download/fleetdeck-agent" || die "download failed"
EXPECTED=$(tr -d '\r' < "$TMP/headers" | awk -F': ' 'tolower($1) == "x-checksum-sha256" {print $2}')
GOT=$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$WHEEL")
[ -n "$EXPECTED" ] && [ "$EXPECTED" = "$GOT" ] || die "checksum mismatch: got $GOT, the server said ${EXPECTED:-nothing}"

if [ ! -x "$PREFIX/bin/python" ]; then
  echo "creating $PREFIX"
  python3 -m venv "$PREFIX" || die "cannot create a venv in $PREFIX (Debian: apt install python3-venv)"
fi
echo "installing fleetdeck $VERSION into $PREFIX"
# shellcheck disable=SC2086
"$PREFIX/bin/python" -m pip install --quiet --disable-pip-version-check $PIP_ARGS "$WHEEL" \
  || die "pip could not install the agent"

set -- agent enroll --server "$SERVER" --token "$TOKEN"
[ -n "$CA" ] && set -- "$@" --ca-fingerprint "$CA"
[ -n "$STATE" ] && set -- "$@" --state-dir "$STATE"
[ -n "$NAME" ] && set -- "$@" --name "$NAME"
"$PREFIX/bin/fleetdeck" "$@" || die "enrolment failed"

RUN="$PREFIX/bin/fleetdeck agent run${STATE:+ --state-dir $STATE}$COMMANDS"
if [ "$SERVICE" = 1 ] && [ "$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then
  cat > /etc/systemd/system/fleetdeck-agent.service <<UNIT
[Unit]
Description=fleetdeck agent
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=$RUN
Restart=on-failure
RestartSec=5
# 3: the server refused this agent (revoked, rejected or removed); restarting cannot help
RestartPreventExitStatus=3

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable --now fleetdeck-agent.service
  echo "fleetdeck-agent.service is running: journalctl -u fleetdeck-agent -f"
else
  echo "start the agent with: $RUN"
fi
