#!/bin/bash
# A manual experiment, not part of `npm run bench`: how close can ANY connection-terminating proxy get
# to plain kernel routing on this machine? It compares, in the same run:
#   kernel:   client ──veth── router (ip_forward) ──veth── server          (the bench's reference)
#   redirect: client [app ─▶ nft DNAT (output hook) ─▶ relay.c] ──veth── server
# relay.c is the cheapest transparent proxy we could write: C, no TUN at all (the kernel redirects
# the app's connection to a local listener), one thread per direction, splice(2) through a 1 MiB
# pipe — the kernel terminates the app's TCP and the relay opens a second TCP connection, as every
# proxy does (Switchyard included, which adds the TUN and user-space NAT on top).
# Needs root, gcc, iperf3, nft, node. Usage: sudo bash test/bench/ceiling/run.sh
# (CEILING_TCP="" skips the throughput runs; DEBUG_CEILING=1 traces). Measured 2026-11-25 on the
# project machine: 1 stream 0.77× / 0.82×, 4 streams 0.33× / 0.30×, connections/s 0.35× (5,238 vs
# 14,886/s; this relay accepts before it dials, so it skips the connect-before-accept wait).
set -euo pipefail
[ -n "${DEBUG_CEILING:-}" ] && set -x
DIR=$(cd "$(dirname "$0")" && pwd)
BIN=$(mktemp -d)/relay
gcc -O2 -pthread -o "$BIN" "$DIR/relay.c"
T=${SECONDS_PER_RUN:-4}
P=ceil$$
cleanup() {
  rm -rf "$(dirname "$BIN")"
  for n in kc kr ks rc rs; do
    for pid in $(ip netns pids $P$n 2>/dev/null); do kill $pid 2>/dev/null || true; done
    ip netns del $P$n 2>/dev/null || true
  done
}
trap cleanup EXIT
for n in kc kr ks rc rs; do ip netns add $P$n; ip -n $P$n link set lo up; done
# kernel routing
ip link add a0 netns ${P}kc type veth peer name b0 netns ${P}kr
ip link add a1 netns ${P}kr type veth peer name b1 netns ${P}ks
ip -n ${P}kc addr add 192.0.2.1/24 dev a0; ip -n ${P}kr addr add 192.0.2.2/24 dev b0
ip -n ${P}kr addr add 203.0.113.129/25 dev a1; ip -n ${P}ks addr add 203.0.113.130/25 dev b1
for x in "${P}kc a0" "${P}kr b0" "${P}kr a1" "${P}ks b1"; do set -- $x; ip -n $1 link set $2 up; done
ip netns exec ${P}kr sysctl -q -w net.ipv4.ip_forward=1
ip -n ${P}ks addr add 198.51.100.10/32 dev lo
ip -n ${P}kc route add default via 192.0.2.2; ip -n ${P}ks route add default via 203.0.113.129
ip -n ${P}kr route add 198.51.100.10/32 via 203.0.113.130
# redirect
ip link add a2 netns ${P}rc type veth peer name b2 netns ${P}rs
ip -n ${P}rc addr add 192.0.2.1/24 dev a2; ip -n ${P}rs addr add 192.0.2.2/24 dev b2
ip -n ${P}rc link set a2 up; ip -n ${P}rs link set b2 up
ip -n ${P}rs addr add 198.51.100.10/32 dev lo; ip -n ${P}rc route add default via 192.0.2.2
ip netns exec ${P}rc nft -f - <<NFT
table ip ceiling {
  chain out { type nat hook output priority -100; policy accept;
    ip daddr 198.51.100.10 tcp dport { 5201, 7008 } meta skuid != 65534 dnat to 192.0.2.1:tcp dport map { 5201 : 15201, 7008 : 17008 }
  }
}
NFT
for s in ks rs; do
  ip netns exec $P$s iperf3 -s -D
  ip netns exec $P$s node "$DIR/cps.cjs" serve 198.51.100.10 7008 </dev/null >/dev/null 2>&1 &
done
ip netns exec ${P}rc setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN" 15201 198.51.100.10 5201 </dev/null >/dev/null 2>&1 &
ip netns exec ${P}rc setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN" 17008 198.51.100.10 7008 </dev/null >/dev/null 2>&1 &
sleep 1
[ -n "${DEBUG_CEILING:-}" ] && { ip -n ${P}kc route; ip -n ${P}kc addr; }
gbit() { ip netns exec $1 iperf3 -J -c 198.51.100.10 -t $T $2 > /tmp/ceil.json || true; node -e 'const j=JSON.parse(require("fs").readFileSync("/tmp/ceil.json","utf8")); if (j.error) { console.error(j.error); process.exit(1) } console.log((j.end.sum_received.bits_per_second/1e9).toFixed(2))'; }
for args in ${CEILING_TCP-"-P1" "-P1 -R" "-P4" "-P4 -R"}; do
  k=$(gbit ${P}kc "$args"); r=$(gbit ${P}rc "$args")
  echo "TCP $args: kernel $k Gbit/s, redirect+relay $r Gbit/s, ratio $(node -e "console.log(($r/$k).toFixed(2))")"
done
k=$(ip netns exec ${P}kc node "$DIR/cps.cjs" run 198.51.100.10 7008 5 8); r=$(ip netns exec ${P}rc node "$DIR/cps.cjs" run 198.51.100.10 7008 5 8)
echo "connections/s (8 loops): kernel $k, redirect+relay $r"
