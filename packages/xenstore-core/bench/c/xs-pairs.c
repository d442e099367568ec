/*
 * The daemon benchmark's client: CLIENTS connections to a XenStore Unix socket, each doing
 * PAIRS sequential XS_WRITE + XS_READ round trips on its own key (/bench/c<i>), one request in
 * flight per connection as libxenstore's xs_talkv() has. One process multiplexes all
 * connections with poll(), so the client costs a few µs of CPU per request and the daemon under
 * test, not the client, is what limits the rate on a small machine.
 *
 *   xs-pairs SOCKET CLIENTS PAIRS ROUNDS
 *
 * Connects once, runs a warm-up round of min(PAIRS, 200) pairs and prints "ready", then runs
 * ROUNDS measured rounds and prints one line per round: "requests seconds". Exits 1 on an XS_ERROR reply, a short
 * read or a closed socket. Frames as xen/io/xs_wire.h (struct xsd_sockmsg: type, req_id,
 * tx_id, len, all u32 little-endian on x86).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { XS_READ = 2, XS_WRITE = 11, XS_ERROR = 16 };

struct msg { uint32_t type, req_id, tx_id, len; };

struct client {
	int fd;
	char write_req[128], read_req[128];
	size_t write_len, read_len;
	int expect_read;   /* the reply awaited is the READ's */
	long left;         /* pairs still to complete this round */
	char buf[8192];
	size_t have;
};

static size_t frame(char *out, uint32_t type, uint32_t req_id, const char *payload, size_t plen)
{
	struct msg h = { type, req_id, 0, (uint32_t)plen };
	memcpy(out, &h, sizeof h);
	memcpy(out + sizeof h, payload, plen);
	return sizeof h + plen;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) { perror("xs-pairs: write"); exit(1); }
		p += w;
		n -= (size_t)w;
	}
}

static int connect_to(const char *path)
{
	for (int attempt = 0; attempt < 400; attempt++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		strncpy(a.sun_path, path, sizeof a.sun_path - 1);
		if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
			return fd;
		close(fd);
		if (errno != EAGAIN && errno != ECONNREFUSED) break;
		usleep(5000); /* cxenstored's listen backlog is small */
	}
	perror("xs-pairs: connect");
	exit(1);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One round: every client completes `pairs` pairs. */
static void round_of(struct client *c, int n, long pairs, struct pollfd *pfd)
{
	int active = n;
	for (int i = 0; i < n; i++) {
		c[i].left = pairs;
		c[i].expect_read = 0;
		send_all(c[i].fd, c[i].write_req, c[i].write_len);
	}
	while (active > 0) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR) continue;
			perror("xs-pairs: poll");
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			struct client *k = &c[i];
			ssize_t r = read(k->fd, k->buf + k->have, sizeof k->buf - k->have);
			if (r <= 0) { fprintf(stderr, "xs-pairs: client %d: connection closed\n", i); exit(1); }
			k->have += (size_t)r;
			struct msg h;
			while (k->have >= sizeof h) {
				memcpy(&h, k->buf, sizeof h);
				size_t whole = sizeof h + h.len;
				if (k->have < whole)
					break;
				if (h.type == XS_ERROR) {
					fprintf(stderr, "xs-pairs: client %d: error reply %.*s\n", i, (int)h.len,
					        k->buf + sizeof h);
					exit(1);
				}
				memmove(k->buf, k->buf + whole, k->have - whole);
				k->have -= whole;
				if (!k->expect_read) {
					k->expect_read = 1;
					send_all(k->fd, k->read_req, k->read_len);
				} else {
					k->expect_read = 0;
					if (--k->left == 0) {
						pfd[i].events = 0;
						active--;
					} else
						send_all(k->fd, k->write_req, k->write_len);
				}
			}
		}
	}
	for (int i = 0; i < n; i++)
		pfd[i].events = POLLIN;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: xs-pairs SOCKET CLIENTS PAIRS ROUNDS\n");
		return 2;
	}
	int n = atoi(argv[2]);
	long pairs = atol(argv[3]);
	int rounds = atoi(argv[4]);
	if (n <= 0 || pairs <= 0 || rounds <= 0) {
		fprintf(stderr, "xs-pairs: CLIENTS, PAIRS and ROUNDS must be positive\n");
		return 2;
	}
	struct client *c = calloc((size_t)n, sizeof *c);
	struct pollfd *pfd = calloc((size_t)n, sizeof *pfd);
	for (int i = 0; i < n; i++) {
		char path[32], wr[64], value[32];
		int pl = snprintf(path, sizeof path, "/bench/c%d", i) + 1; /* with its NUL */
		int vl = snprintf(value, sizeof value, "value-%d", i);      /* a WRITE's value has none */
		memcpy(wr, path, (size_t)pl);
		memcpy(wr + pl, value, (size_t)vl);
		c[i].write_len = frame(c[i].write_req, XS_WRITE, 1, wr, (size_t)(pl + vl));
		c[i].read_len = frame(c[i].read_req, XS_READ, 2, path, (size_t)pl);
		c[i].fd = connect_to(argv[1]);
		pfd[i].fd = c[i].fd;
		pfd[i].events = POLLIN;
	}
	round_of(c, n, pairs < 200 ? pairs : 200, pfd);
	printf("ready\n");
	fflush(stdout);
	for (int r = 0; r < rounds; r++) {
		double t0 = now();
		round_of(c, n, pairs, pfd);
		printf("%ld %.6f\n", 2 * pairs * n, now() - t0);
		fflush(stdout);
	}
	return 0;
}
