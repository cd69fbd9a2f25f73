#include "dsrlb_dpdk.h"

_Static_assert(sizeof(((struct rte_mbuf *)0)->data_off) == 2, "data_off is 16 bits");
_Static_assert(sizeof(((struct rte_mbuf *)0)->data_len) == 2, "data_len is 16 bits");
_Static_assert(sizeof(((struct rte_mbuf *)0)->pkt_len) == 4, "pkt_len is 32 bits");
_Static_assert(sizeof(((struct rte_mbuf *)0)->buf_len) == 2, "buf_len is 16 bits");
_Static_assert(sizeof(((struct rte_mbuf *)0)->ol_flags) == 8, "ol_flags is 64 bits");
_Static_assert(sizeof(((struct rte_mbuf *)0)->tx_offload) == 8, "tx_offload is 64 bits");
_Static_assert(RTE_MBUF_L2_LEN_OFS == 0 && RTE_MBUF_L3_LEN_OFS == 7, "tx_offload: l2_len in bits 0-6, l3_len in bits 7-15");

struct dsrlb_burst *dsrlb_burst_new(int socket)
{
	return rte_zmalloc_socket("dsrlb_burst", sizeof(struct dsrlb_burst), RTE_CACHE_LINE_SIZE, socket);
}

void dsrlb_burst_free(struct dsrlb_burst *b)
{
	rte_free(b);
}

/* dsrlb_flush sends what is staged for every port, frees what a device
 * refused and frees the packets queued for freeing. */
void dsrlb_flush(struct dsrlb_burst *b)
{
	for (uint16_t i = 0; i < b->nb_ports; i++) {
		struct dsrlb_port_tx *t = &b->tx[i];
		if (t->n == 0)
			continue;
		uint16_t ready = t->n;
		if (t->prepare)
			/* What the device needs for its offloads (pseudo-header
			 * sums, ...); a packet it cannot take ends the batch and
			 * it and those after it are refused. */
			ready = rte_eth_tx_prepare(b->ports[i], b->txq, t->pkts, t->n);
		uint16_t sent = rte_eth_tx_burst(b->ports[i], b->txq, t->pkts, ready);
		if (unlikely(sent < t->n)) {
			rte_pktmbuf_free_bulk(&t->pkts[sent], t->n - sent);
			t->refused += t->n - sent;
		}
		t->sent += sent;
		t->n = 0;
	}
	if (b->nb_free) {
		rte_pktmbuf_free_bulk(b->free, b->nb_free);
		b->nb_free = 0;
	}
}

/* dsrlb_poll flushes the previous burst's output and receives the next
 * burst: it polls the ports in turn, starting after the last one polled,
 * until one has packets or each was polled once, so an idle port costs no
 * extra cgo call. It returns the number received. */
uint16_t dsrlb_poll(struct dsrlb_burst *b)
{
	dsrlb_flush(b);
	uint16_t n = 0;
	for (uint16_t k = 0; k < b->nb_ports && n == 0; k++) {
		uint16_t pi = b->next_port;
		b->next_port = (uint16_t)(pi + 1 == b->nb_ports ? 0 : pi + 1);
		b->rx_port_index = pi;
		n = rte_eth_rx_burst(b->ports[pi], b->rxq, b->rx, b->burst_size);
	}
	for (uint16_t i = 0; i < n; i++)
		rte_prefetch0(rte_pktmbuf_mtod(b->rx[i], void *));
	b->nb_rx = n;
	return n;
}

/* rte_errno is thread-local: read it in the same C call as the failing
 * function so the Go side never sees another thread's value. */
int dsrlb_eal_init(int argc, char **argv)
{
	int rc = rte_eal_init(argc, argv);
	return rc < 0 ? -rte_errno : rc;
}

struct rte_mempool *dsrlb_pool_create(const char *name, unsigned n, unsigned cache, uint16_t data_room, int socket,
				       int *err)
{
	struct rte_mempool *mp = rte_pktmbuf_pool_create(name, n, cache, 0, data_room, socket);
	*err = mp == NULL ? rte_errno : 0;
	return mp;
}

int dsrlb_dev_info(uint16_t port, struct dsrlb_dev_info *out)
{
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		return rc;
	memset(out, 0, sizeof(*out));
	if (info.driver_name != NULL)
		snprintf(out->driver, sizeof(out->driver), "%s", info.driver_name);
	out->max_rx_queues = info.max_rx_queues;
	out->max_tx_queues = info.max_tx_queues;
	out->min_mtu = info.min_mtu;
	out->max_mtu = info.max_mtu;
	out->rx_offload_capa = info.rx_offload_capa;
	out->tx_offload_capa = info.tx_offload_capa;
	out->flow_type_rss_offloads = info.flow_type_rss_offloads;
	out->rx_desc_max = info.rx_desc_lim.nb_max;
	out->tx_desc_max = info.tx_desc_lim.nb_max;
	out->rx_desc_min = info.rx_desc_lim.nb_min;
	out->tx_desc_min = info.tx_desc_lim.nb_min;
	out->socket_id = rte_eth_dev_socket_id(port);
	return 0;
}

int dsrlb_port_configure(uint16_t port, uint16_t nb_rxq, uint16_t nb_txq, uint64_t rss_hf,
			 uint64_t rx_offloads, uint64_t tx_offloads, uint32_t mtu)
{
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (rss_hf != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = NULL; /* the driver's default key */
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
	}
	conf.rxmode.mtu = mtu;
	conf.rxmode.offloads = rx_offloads;
	conf.txmode.offloads = tx_offloads;
	return rte_eth_dev_configure(port, nb_rxq, nb_txq, &conf);
}

int dsrlb_rx_queue_setup(uint16_t port, uint16_t q, uint16_t nb_desc, int socket, struct rte_mempool *mp,
			 uint64_t offloads)
{
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		return rc;
	struct rte_eth_rxconf rxconf = info.default_rxconf;
	rxconf.offloads = offloads;
	return rte_eth_rx_queue_setup(port, q, nb_desc, socket < 0 ? SOCKET_ID_ANY : (unsigned)socket, &rxconf, mp);
}

int dsrlb_tx_queue_setup(uint16_t port, uint16_t q, uint16_t nb_desc, int socket, uint64_t offloads)
{
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		return rc;
	struct rte_eth_txconf txconf = info.default_txconf;
	txconf.offloads = offloads;
	return rte_eth_tx_queue_setup(port, q, nb_desc, socket < 0 ? SOCKET_ID_ANY : (unsigned)socket, &txconf);
}

int dsrlb_macaddr(uint16_t port, uint8_t *out)
{
	struct rte_ether_addr a;
	int rc = rte_eth_macaddr_get(port, &a);
	if (rc != 0)
		return rc;
	memcpy(out, a.addr_bytes, RTE_ETHER_ADDR_LEN);
	return 0;
}

int dsrlb_set_macaddr(uint16_t port, const uint8_t *mac)
{
	struct rte_ether_addr a;
	memcpy(a.addr_bytes, mac, RTE_ETHER_ADDR_LEN);
	return rte_eth_dev_default_mac_addr_set(port, &a);
}

int dsrlb_link(uint16_t port, uint32_t *speed, int *up, int *full_duplex)
{
	struct rte_eth_link l;
	memset(&l, 0, sizeof(l));
	int rc = rte_eth_link_get_nowait(port, &l);
	if (rc != 0)
		return rc;
	*speed = l.link_speed;
	*up = l.link_status == RTE_ETH_LINK_UP;
	*full_duplex = l.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
	return 0;
}

int dsrlb_stats(uint16_t port, struct dsrlb_stats *out)
{
	struct rte_eth_stats s;
	int rc = rte_eth_stats_get(port, &s);
	if (rc != 0)
		return rc;
	out->ipackets = s.ipackets;
	out->opackets = s.opackets;
	out->ibytes = s.ibytes;
	out->obytes = s.obytes;
	out->imissed = s.imissed;
	out->ierrors = s.ierrors;
	out->oerrors = s.oerrors;
	out->rx_nombuf = s.rx_nombuf;
	return 0;
}

int dsrlb_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **out, unsigned n)
{
	return rte_pktmbuf_alloc_bulk(mp, out, n);
}

void dsrlb_free_bulk(struct rte_mbuf **m, unsigned n)
{
	rte_pktmbuf_free_bulk(m, n);
}
