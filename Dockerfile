# dsrlb: multi-stage build on Debian bookworm with Debian's DPDK 22.11.
#
#   docker build -t dsrlb .
#   docker run --rm --privileged --network host \
#     -v /dev/hugepages:/dev/hugepages -v /etc/dsrlb:/etc/dsrlb:ro dsrlb
#
# --privileged and --network host give DPDK the NICs (or, with net_af_packet,
# the host's interfaces); the hugepage mount is not needed with --no-huge.

FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libdpdk-dev pkg-config clang libbpf-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -o /out/ ./cmd/... \
 && clang -O2 -g -Wall -target bpf -I/usr/include/$(gcc -dumpmachine) \
      -c ctrl/realserver/bpf/decap.c -o /out/dsrlb-decap.o

FROM debian:bookworm-slim
# The "dpdk" package brings the runtime libraries and the poll-mode drivers
# (loaded as plugins from /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0).
RUN apt-get update \
 && apt-get install -y --no-install-recommends dpdk iproute2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/dsrlb-dataplane"]
CMD ["-c", "/etc/dsrlb/dsrlb.toml"]
