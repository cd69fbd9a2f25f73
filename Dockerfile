# dsrlb: multi-stage build on Debian bookworm with Debian's DPDK 22.11.
#
#   docker build -t dsrlb .
#   docker run --rm --privileged --network host \
#     -v /dev/hugepages:/dev/hugepages -v /etc/dsrlb:/etc/dsrlb:ro dsrlb
#
# --privileged and --network host give DPDK the NICs (or, with net_af_packet,
# the host's interfaces); the hugepage mount is not needed with --no-huge.
#
# The build stage builds through the Makefile (make binaries, then make
# deb-package), so the programs are built exactly as make build and make
# deb build them; the runtime stage installs that Debian package, whose
# Depends bring the DPDK libraries the data plane was linked with.

FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends make pkg-config libdpdk-dev clang libbpf-dev dpkg-dev binutils \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context has no .git (.dockerignore), so the package's version
# is given here: docker build --build-arg DSRLB_VERSION=1.2.3 .
ARG DSRLB_VERSION=0~docker
RUN make binaries deb-package BIN=/out DEB_OUT=/out DEB_VERSION=$DSRLB_VERSION \
 && mv /out/dsrlb_*.deb /out/dsrlb.deb

FROM debian:bookworm-slim
# librte-meta-net: every DPDK network driver, so the image runs on any NIC
# DPDK supports (they are loaded as plugins from
# /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0).
COPY --from=build /out/dsrlb.deb /tmp/dsrlb.deb
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/dsrlb.deb librte-meta-net iproute2 \
 && rm -rf /var/lib/apt/lists/* /tmp/dsrlb.deb
ENTRYPOINT ["/usr/sbin/dsrlb-dataplane"]
CMD ["-c", "/etc/dsrlb/dsrlb.toml"]
