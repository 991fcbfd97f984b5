#!/usr/bin/env bash
# Starts the throwaway Redis servers the tests talk to, on free ports, and writes their addresses as
# environment variables to $DIR/env. Tests cannot start processes themselves (os/exec does not exist under
# Yaegi), so this script does it for both `go test` and `yaegi test`. It is the one way the repository's
# scripts start a Redis for tests and benchmarks; the e2e harness (e2e/harness_test.go), a compiled Go
# program that stops and restarts its Redis under traffic, runs redis-server itself.
#
#   scripts/test-servers.sh start DIR         # start everything, write DIR/env
#   scripts/test-servers.sh start-plain DIR   # only the plain server (SESSIONJWT_TEST_REDIS): benchmarks
#   scripts/test-servers.sh stop DIR          # stop everything started in DIR
#
# Servers: plain TCP; password plus an ACL user; TLS with a CA made here; a unix socket; a
# "restartable" one that a test may SHUTDOWN and bring back by creating the file $..._RESTART_TRIGGER;
# a Sentinel set (a master, a replica, three sentinels: start-sentinel) and a Cluster (three masters, three
# replicas: start-cluster). `start` starts all of them; the e2e harness starts the last two alone.
#
#   scripts/test-servers.sh start-sentinel DIR   # only the Sentinel set, DIR/env as for start
#   scripts/test-servers.sh start-cluster DIR    # only the Cluster
#   scripts/test-servers.sh restart-node DIR NAME  # start the server DIR/NAME again as it was started
#                                                  # (after the e2e tests killed it; it comes back empty)
set -euo pipefail
cmd="${1:?start or stop}"
dir="$(mkdir -p "${2:?directory}" && cd "$2" && pwd)"

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

redis() { # name, extra args...
  local name="$1"; shift
  mkdir -p "$dir/$name"
  printf '%q ' "$@" > "$dir/$name/args" # for restart-node
  redis-server --bind 127.0.0.1 --save "" --appendonly no --dir "$dir/$name" --daemonize yes \
    --pidfile "$dir/$name/redis.pid" --logfile "$dir/$name/redis.log" "$@"
}

wait_ping() { # redis-cli args...
  for _ in $(seq 100); do
    if redis-cli "$@" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.05
  done
  echo "test-servers: redis did not answer: redis-cli $*" >&2
  return 1
}

start() {
  "$0" stop "$dir" 2>/dev/null || true
  rm -rf "${dir:?}"/*
  local plain auth tls restart
  plain=$(free_port); auth=$(free_port); tls=$(free_port); restart=$(free_port)

  redis plain --port "$plain"
  redis auth --port "$auth" --requirepass default-pass-\#1 \
    --user alice on ">alice-pass" "~*" "&*" "+@all"
  redis unix --port 0 --unixsocket "$dir/unix/redis.sock" --unixsocketperm 700

  mkdir -p "$dir/tls"
  (
    cd "$dir/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sessionjwt test CA" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile san.ext -out server.crt 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
      -keyout other-ca.key -out other-ca.crt 2>/dev/null
  )
  redis tls --port 0 --tls-port "$tls" --tls-cert-file "$dir/tls/server.crt" \
    --tls-key-file "$dir/tls/server.key" --tls-ca-cert-file "$dir/tls/ca.crt" --tls-auth-clients no

  # The restartable server runs in the foreground under a loop: after a SHUTDOWN it waits for the trigger.
  mkdir -p "$dir/restart"
  (
    while [ ! -e "$dir/restart/stop" ]; do
      redis-server --bind 127.0.0.1 --port "$restart" --save "" --appendonly no --dir "$dir/restart" \
        --logfile "$dir/restart/redis.log" --pidfile "$dir/restart/redis.pid" || true
      while [ ! -e "$dir/restart/trigger" ] && [ ! -e "$dir/restart/stop" ]; do sleep 0.05; done
      rm -f "$dir/restart/trigger"
    done
  ) </dev/null >/dev/null 2>&1 &
  echo $! > "$dir/restart/loop.pid"

  wait_ping -p "$plain"
  wait_ping -p "$auth" --user alice --pass alice-pass --no-auth-warning
  wait_ping -s "$dir/unix/redis.sock"
  wait_ping -p "$tls" --tls --cacert "$dir/tls/ca.crt"
  wait_ping -p "$restart"

  cat > "$dir/env" <<ENV
export SESSIONJWT_TEST_REDIS=127.0.0.1:$plain
export SESSIONJWT_TEST_REDIS_AUTH=127.0.0.1:$auth
export SESSIONJWT_TEST_REDIS_AUTH_PASSWORD='default-pass-#1'
export SESSIONJWT_TEST_REDIS_ACL_USER=alice
export SESSIONJWT_TEST_REDIS_ACL_PASSWORD=alice-pass
export SESSIONJWT_TEST_REDIS_TLS=localhost:$tls
export SESSIONJWT_TEST_REDIS_TLS_CA=$dir/tls/ca.crt
export SESSIONJWT_TEST_REDIS_TLS_OTHER_CA=$dir/tls/other-ca.crt
export SESSIONJWT_TEST_REDIS_UNIX=$dir/unix/redis.sock
export SESSIONJWT_TEST_REDIS_RESTART=127.0.0.1:$restart
export SESSIONJWT_TEST_REDIS_RESTART_TRIGGER=$dir/restart/trigger
ENV
  sentinel_set
  cluster
  echo "test-servers: started in $dir"
}

start_ha() { # start-sentinel or start-cluster: one of the two alone
  "$0" stop "$dir" 2>/dev/null || true
  rm -rf "${dir:?}"/*
  : > "$dir/env"
  "$1"
}

# A Sentinel set: master "sjmaster" with one replica, watched by three sentinels (quorum 2) that need
# master and replica passwords, as production sets do. Waits until every sentinel knows the replica and
# the other sentinels (redis-ha notes: a failover right after start may find no good replica).
sentinel_set() {
  local master replica s1 s2 s3 p
  master=$(free_port); replica=$(free_port); s1=$(free_port); s2=$(free_port); s3=$(free_port)
  # Diskless sync without its 5 s delay: a replica's first sync is immediate.
  redis sentinel-master --port "$master" --requirepass data-pass --masterauth data-pass \
    --repl-diskless-sync-delay 0
  redis sentinel-replica --port "$replica" --requirepass data-pass --masterauth data-pass \
    --repl-diskless-sync-delay 0 --replicaof 127.0.0.1 "$master"
  for p in "$s1" "$s2" "$s3"; do
    mkdir -p "$dir/sentinel-$p"
    # Each sentinel rewrites its own configuration file.
    cat > "$dir/sentinel-$p/sentinel.conf" <<CONF
port $p
bind 127.0.0.1
daemonize yes
pidfile $dir/sentinel-$p/redis.pid
logfile $dir/sentinel-$p/redis.log
dir $dir/sentinel-$p
requirepass sentinel-pass
sentinel monitor sjmaster 127.0.0.1 $master 2
sentinel auth-pass sjmaster data-pass
sentinel sentinel-pass sentinel-pass
sentinel down-after-milliseconds sjmaster 1000
sentinel failover-timeout sjmaster 5000
CONF
    redis-sentinel "$dir/sentinel-$p/sentinel.conf"
  done
  wait_ping -p "$master" -a data-pass --no-auth-warning
  wait_ping -p "$replica" -a data-pass --no-auth-warning
  for p in "$s1" "$s2" "$s3"; do
    for _ in $(seq 600); do
      if redis-cli -p "$p" -a sentinel-pass --no-auth-warning sentinel ckquorum sjmaster 2>/dev/null | grep -q '^OK' &&
        [ "$(redis-cli -p "$p" -a sentinel-pass --no-auth-warning sentinel master sjmaster |
          awk 'prev=="num-slaves"{print} {prev=$0}')" = 1 ] &&
        [ "$(redis-cli -p "$p" -a sentinel-pass --no-auth-warning sentinel master sjmaster |
          awk 'prev=="num-other-sentinels"{print} {prev=$0}')" = 2 ]; then continue 2; fi
      sleep 0.05
    done
    echo "test-servers: sentinel on $p did not see its set within 30 s:" >&2
    redis-cli -p "$p" -a sentinel-pass --no-auth-warning sentinel master sjmaster | paste -sd' ' >&2
    tail -n 20 "$dir/sentinel-$p/redis.log" >&2
    return 1
  done
  cat >> "$dir/env" <<ENV
export SESSIONJWT_TEST_SENTINELS=127.0.0.1:$s1,127.0.0.1:$s2,127.0.0.1:$s3
export SESSIONJWT_TEST_SENTINEL_MASTER=sjmaster
export SESSIONJWT_TEST_SENTINEL_PASSWORD=sentinel-pass
export SESSIONJWT_TEST_SENTINEL_DATA_PASSWORD=data-pass
export SESSIONJWT_TEST_SENTINEL_NODES=127.0.0.1:$master,127.0.0.1:$replica
ENV
}

# A Cluster of three masters and three replicas. The bus port is set explicitly: port+10000 overflows
# for high ports. Waits until every node reports cluster_state:ok.
cluster() {
  local ports=() p addrs=()
  for _ in 1 2 3 4 5 6; do ports+=("$(free_port)"); done
  for p in "${ports[@]}"; do
    redis "cluster-$p" --port "$p" --cluster-enabled yes --cluster-port "$(free_port)" \
      --cluster-config-file "$dir/cluster-$p/nodes.conf" --cluster-node-timeout 1000 \
      --repl-diskless-sync-delay 0
    addrs+=("127.0.0.1:$p")
  done
  for p in "${ports[@]}"; do wait_ping -p "$p"; done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$dir/cluster-create.log" 2>&1
  for p in "${ports[@]}"; do
    for _ in $(seq 200); do
      if redis-cli -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then continue 2; fi
      sleep 0.05
    done
    echo "test-servers: cluster node $p is not ok" >&2
    return 1
  done
  local IFS=,
  echo "export SESSIONJWT_TEST_CLUSTER=${addrs[*]}" >> "$dir/env"
}

start_plain() {
  "$0" stop "$dir" 2>/dev/null || true
  rm -rf "${dir:?}"/*
  local plain
  plain=$(free_port)
  redis plain --port "$plain"
  wait_ping -p "$plain"
  echo "export SESSIONJWT_TEST_REDIS=127.0.0.1:$plain" > "$dir/env"
}

stop() {
  touch "$dir/restart/stop" 2>/dev/null || true
  if [ -f "$dir/restart/loop.pid" ]; then
    kill "$(cat "$dir/restart/loop.pid")" 2>/dev/null || true
    rm -f "$dir/restart/loop.pid"
  fi
  for pidfile in "$dir"/*/redis.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  rm -f "$dir/env"
}

case "$cmd" in
  start) start ;;
  start-plain) start_plain ;;
  start-sentinel) start_ha sentinel_set ;;
  start-cluster) start_ha cluster ;;
  restart-node) eval redis "${3:?node name}" "$(cat "$dir/$3/args")" ;;
  stop) stop ;;
  *) echo "usage: $0 start|start-plain|start-sentinel|start-cluster|restart-node|stop DIR" >&2; exit 2 ;;
esac
