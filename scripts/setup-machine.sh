#!/usr/bin/env bash
# Installs the system packages the build, the tests, the demo and the benchmark
# need on a fresh Debian machine (root): gcc and strip for the build, iproute2
# for test namespaces, iptables and nftables for masquerade, ping for the
# two-node demo, strace (the flannel tests count the processes a chain
# starts), Debian's Go reference plugins (/usr/lib/cni) for the interop
# tests and the benchmark, and for the runtime suites and the startup bench
# (test/integration/runtime-*.test.ts, scripts/bench/runtime-startup.mjs):
# containerd 1.6 with runc, podman 4.3 (with conmon), and busybox-static, whose
# binary becomes the test image (built offline, no registry needed); Go and
# libcni's sources for the cni tool interop test; etcd (server and etcdctl)
# and Go for the real flanneld that the demo and the flanneld-* tests run
# (built once from ../shared/tools/flanneld into /var/cache/cni-ts, see
# scripts/lib/flanneld.mjs; FLANNELD=<path> uses another).
# libcni's sources for the cni tool interop test. The CRI suite and bench
# (test/integration/cri.test.ts, scripts/bench/cri-lifecycle.mjs) need nothing
# more: the same containerd (its CRI plugin), runc and busybox (test and pause
# images), tc from iproute2, and the gRPC client from npm ci.
# Packages already present are left alone.
set -euo pipefail
need=()
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v strip >/dev/null || need+=(binutils)
command -v ip >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
command -v iptables >/dev/null || need+=(iptables)
command -v nft >/dev/null || need+=(nftables)
command -v ping >/dev/null || need+=(iputils-ping)
command -v strace >/dev/null || need+=(strace)
[ -x /usr/lib/cni/host-local ] || need+=(containernetworking-plugins)
command -v containerd >/dev/null && command -v ctr >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
command -v podman >/dev/null || need+=(podman)
command -v conmon >/dev/null || need+=(conmon)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v nsenter >/dev/null && command -v findmnt >/dev/null || need+=(util-linux)
command -v tar >/dev/null || need+=(tar)
# the firewall plugin's firewalld backend is tested over a private bus of its own dbus-daemon
command -v dbus-daemon >/dev/null || need+=(dbus-daemon)
# the cni tool interop test builds a libcni (Go runtime side) client, offline, from Debian's sources
command -v go >/dev/null || need+=(golang-go)
[ -d /usr/share/gocode/src/github.com/containernetworking/cni/libcni ] || need+=(golang-github-appc-cni-dev)
# the real flanneld and its etcd (demo, test/integration/flanneld-*.test.ts)
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts etcd.service on install (where systemd runs); the demo and tests run their own in a namespace
  if [[ " ${need[*]} " == *" etcd-server "* ]] && [ -d /run/systemd/system ]; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi
fi
echo "setup: system packages ready"
# flanneld v0.20.2 from ../shared/tools/flanneld, built once into the cache (a line saying why not otherwise)
if [ -z "${FLANNELD:-}" ] && command -v node >/dev/null; then node "$(dirname "$0")/lib/flanneld.mjs"; fi
