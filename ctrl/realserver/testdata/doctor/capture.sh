#!/bin/bash
# Records what the doctor reads, from a real set-up in a throw-away network
# namespace, into this directory (doctor_test.go replays it through a fake
# host). Run as root from ctrl/realserver/testdata/doctor:
#   ./capture.sh PATH/TO/dsrlbctl PATH/TO/dsrlb-decap.o
# The set-up: veth rs0 with 192.0.2.21, 192.0.2.22, 2001:db8:1::21; gre with
# eBPF decap and -clamp-mss (VIPs 198.51.100.10, 2001:db8:100::10), the gue
# entry of 192.0.2.21 on port 7777, dscp (198.51.100.10=10,
# 198.51.100.11=11), l2dsr -style redirect (198.51.100.20,
# 2001:db8:100::20), and listeners of every kind ss can show.
set -euo pipefail
ctl=$(realpath "$1"); obj=$(realpath "$2")
ns=dsrlbdoc-capture-$$; peer=$ns-lb
ip netns add "$ns"; ip netns add "$peer"
trap 'ip netns del "$ns"; ip netns del "$peer"' EXIT
ip link add lb0 netns "$peer" type veth peer name rs0 netns "$ns"
ip -n "$ns" addr add 192.0.2.21/24 dev rs0
ip -n "$ns" addr add 192.0.2.22/24 dev rs0
ip -n "$ns" -6 addr add 2001:db8:1::21/64 dev rs0 nodad
ip -n "$ns" link set rs0 up; ip -n "$ns" link set lo up; ip -n "$peer" link set lb0 up
ip -n "$ns" route add default via 192.0.2.1
export ctl obj
ip netns exec "$ns" bash -euo pipefail -c '
mount -t bpf bpf /sys/fs/bpf
$ctl realserver -apply -method gue -vip 198.51.100.10 -iface rs0 -self 192.0.2.21 -gue-port 7777 -decap ebpf -bpf-object $obj >/dev/null 2>&1
$ctl realserver -apply -method gre -vip 198.51.100.10 -vip 2001:db8:100::10 -iface rs0 -self 192.0.2.21 -self 2001:db8:1::21 \
	-decap ebpf -bpf-object $obj -clamp-mss >/dev/null 2>&1
$ctl realserver -apply -method dscp -dscp 198.51.100.10=10 -dscp 198.51.100.11=11 -iface rs0 -self 192.0.2.21 >/dev/null 2>&1
$ctl realserver -apply -method l2dsr -style redirect -vip 198.51.100.20 -vip 2001:db8:100::20 -iface rs0 >/dev/null 2>&1
nft -j list ruleset > nft_dsrlb.json

nft -f - <<NFT
table ip foreign {
	set vips { type ipv4_addr; flags interval; elements = { 198.51.100.0/28, 198.51.100.40-198.51.100.50 } }
	chain pre { type nat hook prerouting priority dstnat; policy accept;
		ip dscp 10 dnat to 198.51.100.10
		tcp dport 8080 ip daddr { 198.51.100.10, 198.51.100.30 } dnat to 192.0.2.99:80
	}
	chain raw { type filter hook prerouting priority raw; policy accept;
		ip daddr @vips notrack
		iifname "rs*" ip daddr != 192.0.2.0/24 counter notrack
	}
	chain out { type filter hook output priority raw; policy accept;
		tcp sport 8443 notrack
	}
}
NFT
nft -j list table ip foreign > nft_conflicts.json
nft -f - <<NFT
table inet dscpmap {
	chain pre { type filter hook prerouting priority raw; policy accept;
		iifname "rs0" ip daddr set ip dscp map { 10 : 198.51.100.10, 11 : 198.51.100.11 } ip dscp set 0 notrack
	}
	chain out { type filter hook output priority raw; policy accept;
		ip saddr 198.51.100.0/24 notrack
	}
	chain late { type filter hook prerouting priority 0; policy accept;
		ip dscp 12 ip daddr set 198.51.100.12 notrack
	}
}
NFT
nft -j list table inet dscpmap > nft_dscp_map.json

tc -j filter show dev rs0 ingress > tc_filter.json
prog=$(tc -j filter show dev rs0 ingress | grep -o "\"prog\":{\"id\":[0-9]*" | grep -o "[0-9]*$")
bpftool -j prog show id $prog > bpftool_prog.json
bpftool -j map show > bpftool_maps.json
map=$(bpftool -j map show pinned /sys/fs/bpf/tc/globals/dsrlb_rs_self | grep -o "^{\"id\":[0-9]*" | grep -o "[0-9]*$")
bpftool -j map dump id $map > bpftool_dump.json
bpftool -j map show pinned /sys/fs/bpf/tc/globals/dsrlb_rs_self > bpftool_pinned.json
ip -j -d addr show > ip_addr.json
ip -j -4 route show default > ip_route_default.json
echo "$prog $map" > ids.txt

python3 - <<PY &
import socket, sys, time
socks = []
def listen(fam, addr, port, v6only=None, udp=False, dev=None):
    s = socket.socket(fam, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    if dev:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
    s.bind((addr, port))
    if not udp:
        s.listen()
    socks.append(s)
A4, A6 = socket.AF_INET, socket.AF_INET6
listen(A6, "::", 80, v6only=0)                      # *:80, takes IPv4 too
listen(A6, "::", 81, v6only=1)                      # [::]:81, IPv6 only
listen(A4, "192.0.2.21", 82)                        # own address only
listen(A4, "0.0.0.0", 83, dev="rs0")                # 0.0.0.0%rs0
listen(A4, "0.0.0.0", 86, dev="lo")                 # 0.0.0.0%lo
listen(A4, "198.51.100.10", 84)                     # the VIPs
listen(A6, "2001:db8:100::10", 84, v6only=1)
listen(A6, "::ffff:192.0.2.21", 85, v6only=0)       # own address, v4-mapped
listen(A4, "192.0.2.22", 87)                        # the second own address
listen(A4, "0.0.0.0", 53, udp=True)                 # UDP wildcard
listen(A4, "198.51.100.10", 54, udp=True)           # UDP on the VIP
open("listening", "w").close()
time.sleep(30)
PY
for i in $(seq 100); do [ -e listening ] && break; sleep 0.1; done
rm -f listening
ss -Hlnte > ss_tcp.txt 2>/dev/null
ss -Hlnue > ss_udp.txt 2>/dev/null
kill %1
'
