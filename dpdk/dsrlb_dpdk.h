/*
 * C side of dsrlb's DPDK binding. Everything here is either set-up (called a
 * few times) or a whole-burst helper (called once per burst). Nothing in this
 * file is called per packet from Go.
 */
#ifndef DSRLB_DPDK_H
#define DSRLB_DPDK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_config.h>
#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>

#define DSRLB_MAX_BURST 256
#define DSRLB_MAX_PORTS 8
/* A port's TX staging area holds one burst of forwarded packets plus the
 * packets the main thread injected (ARP requests, gratuitous ARP). */
#define DSRLB_TX_SLOTS (2 * DSRLB_MAX_BURST)

/* Offsets of the mbuf fields Go reads and writes directly, so per-packet
 * access never crosses cgo. Checked against the struct at compile time. */
enum {
	DSRLB_MBUF_BUF_ADDR = offsetof(struct rte_mbuf, buf_addr),
	DSRLB_MBUF_DATA_OFF = offsetof(struct rte_mbuf, data_off),
	DSRLB_MBUF_NB_SEGS = offsetof(struct rte_mbuf, nb_segs),
	DSRLB_MBUF_PORT = offsetof(struct rte_mbuf, port),
	DSRLB_MBUF_OL_FLAGS = offsetof(struct rte_mbuf, ol_flags),
	DSRLB_MBUF_PKT_LEN = offsetof(struct rte_mbuf, pkt_len),
	DSRLB_MBUF_DATA_LEN = offsetof(struct rte_mbuf, data_len),
	DSRLB_MBUF_BUF_LEN = offsetof(struct rte_mbuf, buf_len),
	DSRLB_MBUF_TX_OFFLOAD = offsetof(struct rte_mbuf, tx_offload),
};

/*
 * Per-lcore burst context, allocated in DPDK memory on the lcore's socket.
 * Go fills tx[]/free[] while processing a burst; one call to
 * dsrlb_poll() flushes them and receives the next burst.
 */
struct dsrlb_port_tx {
	uint16_t n;
	uint16_t prepare; /* rte_eth_tx_prepare before sending: checksum offloads in use */
	uint16_t pad[2];
	uint64_t sent;    /* packets accepted by the device */
	uint64_t refused; /* packets the device refused (freed here) */
	struct rte_mbuf *pkts[DSRLB_TX_SLOTS];
};

struct dsrlb_burst {
	/* configuration, set once */
	uint16_t nb_ports;
	uint16_t burst_size;
	uint16_t rxq;
	uint16_t txq;
	uint16_t ports[DSRLB_MAX_PORTS];

	/* state */
	uint16_t next_port; /* round-robin over ports */

	/* RX result of the last poll */
	uint16_t rx_port_index; /* index into ports[] */
	uint16_t nb_rx;
	struct rte_mbuf *rx[DSRLB_MAX_BURST];

	/* mbufs to free (dropped or consumed) */
	uint16_t nb_free;
	struct rte_mbuf *free[DSRLB_MAX_BURST + DSRLB_TX_SLOTS];

	struct dsrlb_port_tx tx[DSRLB_MAX_PORTS];
} __rte_cache_aligned;

struct dsrlb_burst *dsrlb_burst_new(int socket);
void dsrlb_burst_free(struct dsrlb_burst *b);
uint16_t dsrlb_poll(struct dsrlb_burst *b);
void dsrlb_flush(struct dsrlb_burst *b);

/* set-up helpers */
int dsrlb_eal_init(int argc, char **argv);
struct rte_mempool *dsrlb_pool_create(const char *name, unsigned n, unsigned cache, uint16_t data_room, int socket,
				       int *err);

struct dsrlb_dev_info {
	char driver[64];
	uint16_t max_rx_queues;
	uint16_t max_tx_queues;
	uint16_t min_mtu;
	uint16_t max_mtu;
	uint64_t rx_offload_capa;
	uint64_t tx_offload_capa;
	uint64_t flow_type_rss_offloads;
	uint16_t rx_desc_max;
	uint16_t tx_desc_max;
	uint16_t rx_desc_min;
	uint16_t tx_desc_min;
	int socket_id;
};
int dsrlb_dev_info(uint16_t port, struct dsrlb_dev_info *out);
int dsrlb_port_configure(uint16_t port, uint16_t nb_rxq, uint16_t nb_txq, uint64_t rss_hf,
			 uint64_t rx_offloads, uint64_t tx_offloads, uint32_t mtu);
int dsrlb_rx_queue_setup(uint16_t port, uint16_t q, uint16_t nb_desc, int socket, struct rte_mempool *mp,
			 uint64_t offloads);
int dsrlb_tx_queue_setup(uint16_t port, uint16_t q, uint16_t nb_desc, int socket, uint64_t offloads);
int dsrlb_macaddr(uint16_t port, uint8_t *out);
int dsrlb_set_macaddr(uint16_t port, const uint8_t *mac);
int dsrlb_link(uint16_t port, uint32_t *speed, int *up, int *full_duplex);

struct dsrlb_stats {
	uint64_t ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf;
};
int dsrlb_stats(uint16_t port, struct dsrlb_stats *out);

/* Allocates n mbufs for the slow path (main thread). Returns 0 or -ENOBUFS. */
int dsrlb_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **out, unsigned n);
void dsrlb_free_bulk(struct rte_mbuf **m, unsigned n);

#endif
