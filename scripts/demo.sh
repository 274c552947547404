#!/usr/bin/env bash
# The pilotlight demo, all on this machine's loopback addresses:
#   - builds bin/pilotlight and bin/echo,
#   - starts `pilotlight serve` on a config folder (default examples/sockshop),
#   - for every Pod in the folder: an echo app on <local address>:<containerPort>
#     (unless it has no ports, like the client pod sleep) and an Envoy sidecar
#     bootstrapped by `pilotlight bootstrap`; a pod labelled
#     istio: ingressgateway gets a standalone gateway Envoy instead
#     (`pilotlight bootstrap --gateway`), listening on its pod IP at the
#     ports of the Gateways that select it; a pod labelled app: ratelimit
#     (annotated sidecar.istio.io/inject: "false") gets the real
#     envoyproxy/ratelimit service on <pod IP>:8081 instead, with a Redis
#     (Debian's redis-server) on <local address>:6379, configured by
#     pilotlight over xDS (`serve --ratelimit-xds-addr`; both installed and
#     built by scripts/ensure-ratelimit.sh),
#   - pilotlight answers the mesh's names over DNS (`serve --dns-addr`) and
#     every Envoy resolves with it, for STRICT_DNS clusters of EnvoyFilters,
#   - waits until all is ready, prints curl commands to try, and runs until
#     Ctrl-C. On exit it stops everything it started (and nothing else).
#
# Usage: scripts/demo.sh [--smoke] [CONFIG_DIR]
#   --smoke   send the sample requests once, print the answers, and stop
#             (a quick check that the demo works end to end)
#
# Environment: XDS_ADDR (127.0.0.1:15010), HTTP_ADDR (127.0.0.1:15014),
# RATELIMIT_XDS_ADDR (127.0.0.1:18001), DNS_ADDR (127.0.0.1:15053),
# DEMO_DIR (logs and bootstraps; default a new folder under /tmp),
# ENVOY_LOG_LEVEL (warn), READY_TIMEOUT seconds (60).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

SMOKE=0
if [[ "${1:-}" == "--smoke" ]]; then SMOKE=1; shift; fi
CONFIG_DIR="${1:-examples/sockshop}"
XDS_ADDR="${XDS_ADDR:-127.0.0.1:15010}"
HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:15014}"
RATELIMIT_XDS_ADDR="${RATELIMIT_XDS_ADDR:-127.0.0.1:18001}"
DNS_ADDR="${DNS_ADDR:-127.0.0.1:15053}"
ENVOY_LOG_LEVEL="${ENVOY_LOG_LEVEL:-warn}"
READY_TIMEOUT="${READY_TIMEOUT:-60}"
FIREFOX_UA='Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'

say() { printf '%s\n' "demo: $*" >&2; }
die() { say "$*"; exit 1; }

[[ -d "$CONFIG_DIR" ]] || die "no config folder $CONFIG_DIR"
CONFIG_DIR="$(cd "$CONFIG_DIR" && pwd)"
DEMO_DIR="${DEMO_DIR:-$(mktemp -d /tmp/pilotlight-demo.XXXXXX)}"
mkdir -p "$DEMO_DIR"

# ---------------------------------------------------------------------------
# Processes we started: pid and the start time the kernel gave it, so that
# cleanup never signals a recycled pid that is no longer ours. Each runs in
# its own session (setsid), hence its own process group, which cleanup stops
# as a whole.
PIDS=()
STARTS=()
NAMES=()
LOGS=()

proc_start_time() { # pid -> field 22 of /proc/pid/stat (start time in ticks)
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }" # drop "pid (comm) ", comm may hold spaces
  set -- $stat
  echo "${20}"
}

ours() { # index -> true if PIDS[i] is still the process we started
  local st
  st="$(proc_start_time "${PIDS[$1]}")" || return 1
  [[ "$st" == "${STARTS[$1]}" ]]
}

start_bg() { # name logfile cmd args...
  local name="$1" log="$2"
  shift 2
  # Not a process group leader here (no job control in a script), so setsid
  # calls setsid(2) itself without forking: $! is the program's own pid.
  setsid "$@" </dev/null >"$log" 2>&1 &
  local pid=$!
  local st=""
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    st="$(proc_start_time "$pid")" && break
    sleep 0.05
  done
  PIDS+=("$pid")
  STARTS+=("$st")
  NAMES+=("$name")
  LOGS+=("$log")
}

stop_all() {
  local i pid
  # Newest first: sidecars, then apps, then the control plane.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    ours "$i" || continue
    kill -TERM -- "-${PIDS[$i]}" 2>/dev/null || true
  done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid="${PIDS[$i]}"
    for _ in $(seq 50); do
      ours "$i" || break
      # A zombie child of ours keeps its start time until we reap it.
      [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && break
      sleep 0.1
    done
    if ours "$i" && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]; then
      say "${NAMES[$i]} (pid $pid) did not stop on SIGTERM; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((${#PIDS[@]} > 0)); then
    say "stopping ${#PIDS[@]} processes"
    stop_all
  fi
  say "logs and bootstraps are in $DEMO_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check_alive() { # fail with the log of any process that died
  local i
  for i in "${!PIDS[@]}"; do
    if ! ours "$i" || [[ "$(awk '{print $3}' "/proc/${PIDS[$i]}/stat" 2>/dev/null)" == Z ]]; then
      say "${NAMES[$i]} exited; end of ${LOGS[$i]}:"
      tail -n 30 "${LOGS[$i]}" >&2 || true
      return 1
    fi
  done
}

wait_for() { # description timeout-seconds command...
  local what="$1" timeout="$2"
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    check_alive || die "while waiting for $what"
    ((SECONDS < deadline)) || die "$what: not ready after ${timeout}s"
    sleep 0.2
  done
}

in_use() { # host port -> true if something accepts connections there
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# ---------------------------------------------------------------------------
# Build.
ENVOY="$(scripts/ensure-envoy.sh)"
say "envoy: $ENVOY"
mkdir -p bin
scripts/go-cold.sh demo build ./cmd/pilotlight ./test/echo
for pkg in cmd/pilotlight test/echo; do
  name="$(basename "$pkg")"
  say "building bin/$name"
  go build -o "bin/.$name.demo.$$" "./$pkg"
  mv -f "bin/.$name.demo.$$" "bin/$name" # rename: a running test may use the old one
done
PILOTLIGHT="$ROOT/bin/pilotlight"
ECHO="$ROOT/bin/echo"

# ---------------------------------------------------------------------------
# Read the pods and services of the folder (PyYAML; tab-separated, "-" for
# an empty field).
MESH="$(python3 - "$CONFIG_DIR" <<'PY'
import glob, os, sys
try:
    import yaml
except ImportError:
    sys.exit("demo: python3 has no PyYAML: python3 -m pip install pyyaml")

folder = sys.argv[1]
pods, gateways = [], []
files = sorted(glob.glob(os.path.join(folder, "**", "*.yaml"), recursive=True)
               + glob.glob(os.path.join(folder, "**", "*.yml"), recursive=True))
for path in files:
    try:
        docs = list(yaml.safe_load_all(open(path)))
    except yaml.YAMLError as e:
        print(f"demo: skipping {path}: not valid YAML ({str(e).splitlines()[0]})", file=sys.stderr)
        continue
    for d in docs:
        if not isinstance(d, dict):
            continue
        kind = d.get("kind")
        meta = d.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        name = meta.get("name") or "-"
        if kind == "Pod":
            labels = meta.get("labels") or {}
            ann = meta.get("annotations") or {}
            status = d.get("status") or {}
            if labels.get("app") == "ratelimit":
                # The rate-limit service itself, with no sidecar.
                print("\t".join(["RATELIMIT", ns, name, status.get("podIP") or "-",
                                 ann.get("sidecar.pilotlight.io/local-address") or "-"]))
                continue
            if ann.get("sidecar.istio.io/inject") == "false":
                continue
            ports = []
            for c in (d.get("spec") or {}).get("containers") or []:
                for p in c.get("ports") or []:
                    if p.get("containerPort"):
                        ports.append(str(p["containerPort"]))
            local = ann.get("sidecar.pilotlight.io/local-address") or "-"
            role = "gateway" if labels.get("istio") == "ingressgateway" else "sidecar"
            print("\t".join(["POD", ns, name, status.get("podIP") or "-", local,
                             labels.get("app") or name, labels.get("version") or "-",
                             ",".join(ports) or "-", role]))
            pods.append((ns, name, status.get("podIP"), labels))
        elif kind == "Service":
            ports = (d.get("spec") or {}).get("ports") or []
            # gRPC ports (the rate-limit service) do not answer curl.
            if ports and ports[0].get("port") and not str(ports[0].get("name", "")).startswith("grpc"):
                print("\t".join(["SVC", ns, name, str(ports[0]["port"])]))
        elif kind == "Gateway":
            gateways.append(d.get("spec") or {})

# The HTTP ports the gateway pods open: the servers of the Gateways whose
# selector matches their labels.
for ns, name, ip, labels in pods:
    if labels.get("istio") != "ingressgateway" or not ip:
        continue
    for spec in gateways:
        selector = spec.get("selector") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            continue
        for server in spec.get("servers") or []:
            port = server.get("port") or {}
            if str(port.get("protocol", "")).upper() == "HTTP" and port.get("number"):
                print("\t".join(["INGRESS", ns, name, ip, str(port["number"])]))
PY
)"

POD_LINES=()
SVC_LINES=()
INGRESS_LINES=()
RATELIMIT_LINES=()
while IFS=$'\t' read -r kind rest; do
  case "$kind" in
    POD) POD_LINES+=("$rest") ;;
    SVC) SVC_LINES+=("$rest") ;;
    INGRESS) INGRESS_LINES+=("$rest") ;;
    RATELIMIT) RATELIMIT_LINES+=("$rest") ;;
  esac
done <<<"$MESH"
((${#POD_LINES[@]} > 0)) || die "no pods found in $CONFIG_DIR"

# Fail early, with a clear message, on an address that is already taken
# (a demo that is still running, say).
for hp in "${XDS_ADDR%:*} ${XDS_ADDR##*:}" "${HTTP_ADDR%:*} ${HTTP_ADDR##*:}" "${RATELIMIT_XDS_ADDR%:*} ${RATELIMIT_XDS_ADDR##*:}"; do
  # shellcheck disable=SC2086
  in_use $hp && die "${hp/ /:} is already in use (another demo running?)"
done
for line in "${POD_LINES[@]}"; do
  IFS=$'\t' read -r ns name pod_ip local app version ports role <<<"$line"
  [[ "$pod_ip" != - && "$local" != - ]] || die "pod $ns/$name needs status.podIP and the sidecar.pilotlight.io/local-address annotation"
  [[ "$pod_ip" == 127.* && "$local" == 127.* ]] || die "pod $ns/$name: the demo only binds loopback (127.x.y.z) addresses"
  for p in 15000 15001; do
    in_use "$local" "$p" && die "$local:$p (pod $ns/$name) is already in use"
  done
done

RATELIMIT=""
if ((${#RATELIMIT_LINES[@]} > 0)); then
  # Builds the service once (about a minute cold) and installs redis-server.
  RATELIMIT="$(scripts/ensure-ratelimit.sh)"
  say "ratelimit: $RATELIMIT"
fi

# ---------------------------------------------------------------------------
# Start the control plane.
say "starting pilotlight serve --config-dir $CONFIG_DIR (xDS $XDS_ADDR, HTTP $HTTP_ADDR, rate-limit xDS $RATELIMIT_XDS_ADDR, DNS $DNS_ADDR)"
# The state folder holds the mesh CA and the key that signs proxy tokens;
# serve creates it, bootstrap mints each sidecar's token from it.
STATE_DIR="$DEMO_DIR/state"
start_bg pilotlight "$DEMO_DIR/pilotlight.log" \
  "$PILOTLIGHT" serve --config-dir "$CONFIG_DIR" --xds-addr "$XDS_ADDR" --http-addr "$HTTP_ADDR" \
  --ratelimit-xds-addr "$RATELIMIT_XDS_ADDR" --dns-addr "$DNS_ADDR" --state-dir "$STATE_DIR" --istio-metrics
wait_for "pilotlight /readyz" "$READY_TIMEOUT" curl -fsS --noproxy '*' "http://$HTTP_ADDR/readyz"

# The rate-limit services: Redis on the pod's local address, the service's
# gRPC on its pod IP (where the mesh's endpoints say it is), its limits
# from pilotlight.
for line in "${RATELIMIT_LINES[@]}"; do
  IFS=$'\t' read -r ns name pod_ip local <<<"$line"
  [[ "$pod_ip" == 127.* && "$local" == 127.* ]] || die "pod $ns/$name: the demo only binds loopback (127.x.y.z) addresses"
  start_bg "redis $ns/$name" "$DEMO_DIR/redis-$ns-$name.log" \
    redis-server --bind "$local" --port 6379 --save '' --appendonly no --protected-mode no --dir "$DEMO_DIR"
  wait_for "redis of $ns/$name on $local:6379" "$READY_TIMEOUT" bash -c "exec 3<>/dev/tcp/$local/6379"
  start_bg "ratelimit $ns/$name" "$DEMO_DIR/ratelimit-$ns-$name.log" env \
    HOST="$local" PORT=8080 GRPC_HOST="$pod_ip" GRPC_PORT=8081 DEBUG_HOST="$local" DEBUG_PORT=6070 \
    USE_STATSD=false DISABLE_STATS=true LOG_LEVEL=info \
    REDIS_SOCKET_TYPE=tcp REDIS_URL="$local:6379" \
    CONFIG_TYPE=GRPC_XDS_SOTW CONFIG_GRPC_XDS_SERVER_URL="$RATELIMIT_XDS_ADDR" CONFIG_GRPC_XDS_NODE_ID="$name" \
    FORCE_START_WITHOUT_INITIAL_CONFIG=true "$RATELIMIT"
  wait_for "rate-limit service $ns/$name (health $local:8080)" "$READY_TIMEOUT" curl -fsS --noproxy '*' "http://$local:8080/healthcheck"
done

# The apps.
for line in "${POD_LINES[@]}"; do
  IFS=$'\t' read -r ns name pod_ip local app version ports role <<<"$line"
  [[ "$ports" == - ]] && continue
  [[ "$version" == - ]] && version=""
  for port in ${ports//,/ }; do
    start_bg "echo $ns/$name:$port" "$DEMO_DIR/echo-$ns-$name-$port.log" \
      "$ECHO" --listen "$local:$port" --pod "$name" --version "$version" --service "$app"
  done
done
for line in "${POD_LINES[@]}"; do
  IFS=$'\t' read -r ns name pod_ip local app version ports role <<<"$line"
  [[ "$ports" == - ]] && continue
  for port in ${ports//,/ }; do
    wait_for "echo app of $ns/$name on $local:$port" "$READY_TIMEOUT" curl -fsS --noproxy '*' "http://$local:$port/"
  done
done

# The sidecars, and the gateways' standalone Envoys (--gateway: an Istio
# "router" proxy, configured by the Gateways that select the pod).
for line in "${POD_LINES[@]}"; do
  IFS=$'\t' read -r ns name pod_ip local app version ports role <<<"$line"
  boot="$DEMO_DIR/bootstrap-$ns-$name.yaml"
  gateway_flag=()
  [[ "$role" == gateway ]] && gateway_flag=(--gateway)
  "$PILOTLIGHT" bootstrap "${gateway_flag[@]}" --pod "$name" --namespace "$ns" --pod-ip "$pod_ip" \
    --local-address "$local" --xds-addr "$XDS_ADDR" --admin-port 15000 --dns-addr "$DNS_ADDR" --state-dir "$STATE_DIR" >"$boot"
  # As Istio's agent runs Envoy: after a listener change (a policy edit),
  # old connections close at their next request, not over 10 minutes.
  start_bg "envoy $ns/$name ($role)" "$DEMO_DIR/envoy-$ns-$name.log" \
    "$ENVOY" -c "$boot" --disable-hot-restart --log-level "$ENVOY_LOG_LEVEL" --drain-strategy immediate --drain-time-s 45
done
for line in "${POD_LINES[@]}"; do
  IFS=$'\t' read -r ns name pod_ip local app version ports role <<<"$line"
  wait_for "$role of $ns/$name (admin $local:15000)" "$READY_TIMEOUT" curl -fsS --noproxy '*' "http://$local:15000/ready"
done

# ---------------------------------------------------------------------------
# A client: the first sidecar pod without ports (sleep), else the first pod.
IFS=$'\t' read -r CLIENT_NS CLIENT_NAME _ CLIENT_LOCAL _ <<<"${POD_LINES[0]}"
for line in "${POD_LINES[@]}"; do
  IFS=$'\t' read -r ns name pod_ip local app version ports role <<<"$line"
  if [[ "$ports" == - && "$role" == sidecar ]]; then
    CLIENT_NS="$ns" CLIENT_NAME="$name" CLIENT_LOCAL="$local"
    break
  fi
done
PROXY="http://$CLIENT_LOCAL:15001"

# Every service answers through the client's sidecar.
URLS=()
for line in "${SVC_LINES[@]}"; do
  IFS=$'\t' read -r ns name port <<<"$line"
  url="http://$name.$ns/"
  [[ "$port" == 80 ]] || url="http://$name.$ns:$port/"
  URLS+=("$url")
  wait_for "$url through the sidecar of $CLIENT_NS/$CLIENT_NAME" "$READY_TIMEOUT" \
    curl -fsS -o /dev/null -x "$PROXY" "$url"
done

FIRST_URL="${URLS[0]:-http://front-end.$CLIENT_NS/}"
for u in "${URLS[@]}"; do
  [[ "$u" == http://front-end.* ]] && FIRST_URL="$u"
done

# The ingress: each gateway's HTTP ports, straight from outside the mesh
# (no proxy). Any answer will do here: what it routes is up to the rules.
INGRESS_URLS=()
for line in "${INGRESS_LINES[@]}"; do
  IFS=$'\t' read -r ns name pod_ip port <<<"$line"
  url="http://$pod_ip:$port/"
  INGRESS_URLS+=("$url")
  wait_for "$url (gateway $ns/$name)" "$READY_TIMEOUT" curl -sS -o /dev/null --noproxy '*' "$url"
done

cat <<EOF

pilotlight demo is running: ${#POD_LINES[@]} pods from $CONFIG_DIR, each with an Envoy (a sidecar, or a gateway).

Send requests as the pod $CLIENT_NS/$CLIENT_NAME does, through its sidecar's outbound proxy:
  curl -x $PROXY $FIRST_URL
  curl -x $PROXY -A '$FIREFOX_UA' $FIRST_URL
  for i in \$(seq 50); do curl -s -x $PROXY $FIRST_URL | grep -o '"version":"[^"]*"'; done | sort | uniq -c
$(for u in "${URLS[@]}"; do [[ "$u" == "$FIRST_URL" ]] || echo "  curl -x $PROXY $u"; done)

$(if ((${#INGRESS_URLS[@]} > 0)); then
  echo "From outside the mesh, through the ingress gateway (Gateway + VirtualServices bound to it):"
  for u in "${INGRESS_URLS[@]}"; do echo "  curl $u"; echo "  curl ${u}catalogue/socks"; done
  echo
fi)
$(if ((${#RATELIMIT_LINES[@]} > 0)) && ((${#INGRESS_URLS[@]} > 0)); then
  echo "Rate limits (60-ratelimit.yaml): a BASIC account gets 1 request a minute through the gateway, a PLUS account 2:"
  echo "  curl -i -H 'x-plan: BASIC' -H 'x-account: alice' ${INGRESS_URLS[0]}   # twice: 200, then 429"
  echo "  curl http://$HTTP_ADDR/debug/ratelimit   # the limits the rate-limit service took from pilotlight"
fi)

What the control plane sees and sent:
  open http://$HTTP_ADDR/ui/                # the mesh graph, proxies' sync state, problems, explain
  $PILOTLIGHT proxy-status --pilotlight-addr $HTTP_ADDR
  $PILOTLIGHT proxy-config route $CLIENT_NAME.$CLIENT_NS --pilotlight-addr $HTTP_ADDR
  $PILOTLIGHT explain $CLIENT_NAME.$CLIENT_NS --resource http_proxy --pilotlight-addr $HTTP_ADDR
  $PILOTLIGHT analyze --config-dir $CONFIG_DIR
  curl -s http://$HTTP_ADDR/metrics | grep istio_requests_total
  curl http://$CLIENT_LOCAL:15090/stats/prometheus   # the sidecar's own stats (Istio's port)
  curl http://$HTTP_ADDR/debug/proxies     # each sidecar: versions sent, ACKed, NACKed
  curl http://$HTTP_ADDR/debug/problems    # config it could not use, and why
  curl http://$HTTP_ADDR/metrics
What a sidecar holds (Envoy admin):
  curl http://$CLIENT_LOCAL:15000/config_dump
  curl http://$CLIENT_LOCAL:15000/clusters

Edit a file in $CONFIG_DIR (e.g. the weights of the VirtualService) and save:
the routing changes in place. Logs and bootstraps: $DEMO_DIR
EOF

if ((SMOKE)); then
  echo
  echo "--- smoke: plain request"
  curl -fsS -x "$PROXY" "$FIRST_URL"
  echo "--- smoke: Firefox user-agent"
  curl -fsS -x "$PROXY" -A "$FIREFOX_UA" "$FIRST_URL"
  echo "--- smoke: 50 requests by version"
  for _ in $(seq 50); do curl -fsS -x "$PROXY" "$FIRST_URL" | grep -o '"version":"[^"]*"'; done | sort | uniq -c
  for u in "${INGRESS_URLS[@]}"; do
    echo "--- smoke: through the ingress gateway: $u"
    curl -fsS --noproxy '*' "$u"
  done
  if ((${#RATELIMIT_LINES[@]} > 0)) && ((${#INGRESS_URLS[@]} > 0)); then
    account="smoke-$$-$RANDOM"
    wait_for "the rate-limit service's limits (/debug/ratelimit)" "$READY_TIMEOUT" \
      bash -c "curl -fsS --noproxy '*' http://$HTTP_ADDR/debug/ratelimit | grep -q '\"acked\"'"
    echo "--- smoke: rate limit, BASIC plan, account $account: two requests"
    for _ in 1 2; do
      curl -sS -o /dev/null -w '%{http_code}\n' --noproxy '*' -H 'x-plan: BASIC' -H "x-account: $account" "${INGRESS_URLS[0]}"
    done
  fi
  echo "--- smoke: /debug/problems"
  curl -fsS --noproxy '*' "http://$HTTP_ADDR/debug/problems"
  exit 0
fi

echo
echo "Press Ctrl-C to stop everything."
while check_alive; do
  sleep 1 &
  wait $! || true
done
die "a process of the demo exited; stopping the rest"
