#!/usr/bin/env bash
# build-deb.sh builds the Debian package dsrlb_VERSION_ARCH.deb with
# dpkg-deb from binaries already built by `make binaries`; `make deb`
# runs it. No debhelper: the package's files are packaging/root (as
# installed), packaging/DEBIAN (maintainer scripts, conffiles) and what
# this script adds (binaries, dashboards, alert rules, documentation,
# the control file).
#
#   packaging/build-deb.sh [-bin DIR] [-out DIR] [-version V] [-compress xz|gzip|zstd|none]
#
# Depends is computed from the build: dpkg-shlibdeps reads the libraries
# dsrlb-dataplane links (libc, librte-*), and the DPDK plugins every
# installation loads are added for the same DPDK ABI (the mempool driver,
# the vdev and PCI buses, the null and TAP ports).
#
# The version is -version, else the newest v* tag (without the v), else
# 0~COMMITS.gHASH, +dirty when the work tree has uncommitted changes.
set -euo pipefail

me=build-deb.sh
die() {
	echo "$me: $*" >&2
	exit 1
}

bin=bin
out=bin
version=
compress=xz
while [ $# -gt 0 ]; do
	case $1 in
	-bin) bin=$2; shift 2 ;;
	-out) out=$2; shift 2 ;;
	-version) version=$2; shift 2 ;;
	-compress) compress=$2; shift 2 ;;
	*) die "unknown argument $1 (usage: $me [-bin DIR] [-out DIR] [-version V] [-compress xz|gzip|zstd|none])" ;;
	esac
done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
for f in dsrlb-dataplane dsrlb-ctrl dsrlbctl dsrlb-decap.o; do
	[ -f "$bin/$f" ] || die "$bin/$f is missing: run make binaries (or make deb)"
done
for tool in go dpkg-deb dpkg-shlibdeps strip gzip; do
	command -v "$tool" >/dev/null || die "$tool is needed (Debian packages dpkg-dev and binutils)"
done

commit=
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
	commit=$(git -C "$repo" rev-parse --short=12 HEAD)
	epoch=$(git -C "$repo" log -1 --format=%ct HEAD)
	if [ -z "$version" ]; then
		if tag=$(git -C "$repo" describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null); then
			version=${tag#v}
			if [ "$(git -C "$repo" rev-list --count "$tag..HEAD")" != 0 ]; then
				version=$version+$(git -C "$repo" rev-list --count "$tag..HEAD").g$commit
			fi
		else
			version=0~$(git -C "$repo" rev-list --count HEAD).g$commit
		fi
		if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
			version=$version+dirty
		fi
	fi
else
	epoch=$(date +%s)
fi
epoch=${SOURCE_DATE_EPOCH:-$epoch}
[ -n "$version" ] || die "no version: outside a git work tree, give -version"
case $version in
[0-9]*) ;;
*) die "version $version must start with a digit" ;;
esac
case $version in
*[!A-Za-z0-9.+~-]*) die "version $version: only letters, digits and . + ~ - are allowed" ;;
esac
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/debian/dsrlb
mkdir -p "$pkg"

# The package's own files, with the modes they are installed with.
cp -r "$here/root/." "$pkg/"
find "$pkg" -type d -exec chmod 0755 {} +
find "$pkg" -type f -exec chmod 0644 {} +
chmod 0640 "$pkg/etc/dsrlb/dsrlb.toml" # may hold VRRP passwords
chmod 0755 "$pkg/usr/lib/dsrlb/dsrlb-hugepages"

# The programs, without debugging sections (as dh_strip does); the eBPF
# object keeps its BTF, which loading it needs.
install -d -m 0755 "$pkg/usr/sbin" "$pkg/usr/bin" "$pkg/usr/lib/dsrlb"
strip --strip-debug -o "$pkg/usr/sbin/dsrlb-dataplane" "$bin/dsrlb-dataplane"
strip --strip-debug -o "$pkg/usr/sbin/dsrlb-ctrl" "$bin/dsrlb-ctrl"
strip --strip-debug -o "$pkg/usr/bin/dsrlbctl" "$bin/dsrlbctl"
chmod 0755 "$pkg/usr/sbin/dsrlb-dataplane" "$pkg/usr/sbin/dsrlb-ctrl" "$pkg/usr/bin/dsrlbctl"
install -m 0644 "$bin/dsrlb-decap.o" "$pkg/usr/lib/dsrlb/dsrlb-decap.o"

# Monitoring: the Grafana dashboard with its provisioning examples, the
# Prometheus alert rules with their promtool unit tests.
share=$pkg/usr/share/dsrlb
install -D -m 0644 "$repo/perf/grafana/dsrlb.json" "$share/grafana/dsrlb.json"
install -D -m 0644 "$repo/perf/grafana/provisioning/dashboards/dsrlb.yml" "$share/grafana/provisioning/dashboards/dsrlb.yml"
install -D -m 0644 "$repo/perf/grafana/provisioning/datasources/dsrlb.yml" "$share/grafana/provisioning/datasources/dsrlb.yml"
install -D -m 0644 "$repo/perf/alerts/dsrlb.rules.yml" "$share/alerts/dsrlb.rules.yml"
install -D -m 0644 "$repo/perf/alerts/dsrlb.rules.test.yml" "$share/alerts/dsrlb.rules.test.yml"

# Documentation.
doc=$pkg/usr/share/doc/dsrlb
install -d -m 0755 "$doc/examples"
gzip -9n <"$repo/README.md" >"$doc/README.md.gz"
install -m 0644 "$repo/conf/testdata/example.toml" "$doc/examples/example.toml"
{
	printf 'dsrlb (%s) unstable; urgency=medium\n\n' "$version"
	if [ -n "$commit" ]; then
		printf '  * Built by make deb from commit %s of the dsrlb repository.\n\n' "$commit"
	else
		printf '  * Built by make deb outside a git work tree.\n\n'
	fi
	printf ' -- %s  %s\n' "${DEB_MAINTAINER:-dsrlb developers <dsrlb@example.org>}" "$(date -R -u -d "@$epoch")"
} | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc"/*.gz

# copyright: dsrlb's own terms, then the license texts of the Go standard
# library and of every Go module linked into the programs, read from the
# module cache.
{
	cat <<'EOF'
dsrlb

Copyright: the dsrlb authors. The dsrlb repository this package was built
from states no license.

The eBPF object /usr/lib/dsrlb/dsrlb-decap.o is GPL-2.0-only OR
BSD-2-Clause (its source says so). DPDK is linked dynamically, from
Debian's librte-* packages. The programs are statically linked with the Go
standard library and the Go modules below; their license texts follow.
EOF
	gomodcache=$(go env GOMODCACHE)
	printf '\n==== Go standard library %s: LICENSE\n\n' "$(go env GOVERSION)"
	cat "$(go env GOROOT)/LICENSE"
	go version -m "$bin/dsrlb-dataplane" "$bin/dsrlb-ctrl" "$bin/dsrlbctl" |
		awk '$1 == "dep" { print $2, $3 }' | sort -u |
		while read -r mod ver; do
			# The module cache escapes capitals as "!" + lower case.
			dir=$gomodcache/$(printf '%s' "$mod" | sed 's/[A-Z]/!\L&/g')@$ver
			found=0
			for lic in "$dir"/LICENSE* "$dir"/LICENCE* "$dir"/COPYING* "$dir"/NOTICE*; do
				[ -f "$lic" ] || continue
				found=1
				printf '\n==== Go module %s %s: %s\n\n' "$mod" "$ver" "$(basename "$lic")"
				cat "$lic"
			done
			[ $found = 1 ] || die "no license file of $mod $ver in $dir (go mod download)"
		done
} >"$doc/copyright"
chmod 0644 "$doc/copyright"

# Control files.
install -d -m 0755 "$pkg/DEBIAN"
install -m 0644 "$here/DEBIAN/conffiles" "$pkg/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$here/DEBIAN/$s" "$pkg/DEBIAN/$s"
done
# dpkg-shlibdeps wants a debian/control naming the package.
printf 'Source: dsrlb\n\nPackage: dsrlb\nArchitecture: any\n' >"$stage/debian/control"
shlibs=$(cd "$stage" && dpkg-shlibdeps -O -e debian/dsrlb/usr/sbin/dsrlb-dataplane \
	-e debian/dsrlb/usr/sbin/dsrlb-ctrl -e debian/dsrlb/usr/bin/dsrlbctl 2>/dev/null)
shlibs=${shlibs#shlibs:Depends=}
abi=$(printf '%s\n' "$shlibs" | sed -n 's/.*librte-eal\([0-9][0-9]*\).*/\1/p')
[ -n "$abi" ] || die "dsrlb-dataplane does not link librte_eal (dpkg-shlibdeps said: $shlibs)"
plugins=
for p in mempool-ring bus-vdev bus-pci net-null net-tap; do
	plugins="$plugins, librte-$p$abi"
done
installed_size=$(du -k -s --apparent-size --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<EOF
Package: dsrlb
Version: $version
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-dsrlb developers <dsrlb@example.org>}
Installed-Size: $installed_size
Depends: $shlibs$plugins
Recommends: dpdk, librte-net-af-packet$abi
Suggests: librte-meta-net, prometheus
Section: net
Priority: optional
Description: Direct Server Return layer-4 load balancer on DPDK
 dsrlb forwards the packets of virtual services (VIP, protocol, port) to
 real servers, which answer the clients directly: by MAC rewrite on one
 segment (l2dsr), by DSCP-marked destination rewrite (dscp) or through
 ipip, GRE or GUE tunnels. Maglev consistent hashing and other schedulers,
 connection tracking, health checks, VRRP and Prometheus metrics.
 .
 This package holds the DPDK data plane (dsrlb-dataplane), the control
 process (dsrlb-ctrl), the operator tool (dsrlbctl), systemd units for
 both daemons, the real servers' eBPF decapsulation program, a Grafana
 dashboard and Prometheus alert rules.
EOF
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/md5sums"

# Reproducible timestamps: the commit's time.
find "$pkg" -exec touch -h -d "@$epoch" {} +

mkdir -p "$out"
deb=$out/dsrlb_${version}_${arch}.deb
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Z"$compress" --build "$pkg" "$deb" >/dev/null
echo "$deb"
