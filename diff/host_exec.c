/*
 * The host executor: a forked child runs the cases natively (host_stub.c),
 * so that #DE, #UD and stray faults cannot hurt the caller.  Cases and
 * results travel in batches through a MAP_SHARED anonymous mapping made
 * before the fork; one byte each way on a socket pair starts a batch and
 * reports it done.  The child writes the index of the case it is on before running
 * it, so when it dies or hangs that case is marked DX_HARNESS, a new child
 * is started, and the batch goes on from the next case.
 */
#include "host.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 512
/* A batch is at most BATCH small instructions: seconds mean a hang. */
#define TIMEOUT_MS 10000

struct shared {
	volatile uint32_t n, next, cur;
	char err[160]; /* the child's setup error */
	struct dx_case cases[BATCH];
	struct dx_result results[BATCH];
};

struct dx_host {
	struct shared *sh;
	pid_t pid;
	int sock; /* our end of the socket pair */
};

/* MSG_NOSIGNAL: a dead child must not raise SIGPIPE in the caller. */
static int send_byte(int fd)
{
	uint8_t byte = 1;
	return send(fd, &byte, 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* The child's whole life: set up, then run batches until the socket closes.
 * It leaves through _exit, never returning into the caller's code. */
static void child_main(struct shared *sh, int fd)
{
	char err[160] = "";
	uint8_t byte;
	if (dx_child_setup(err, sizeof(err)) != 0) {
		memcpy(sh->err, err, sizeof(sh->err));
		_exit(70);
	}
	if (send_byte(fd) != 0)
		_exit(70);
	while (recv(fd, &byte, 1, 0) == 1) {
		for (uint32_t i = sh->next; i < sh->n; i++) {
			sh->cur = i;
			dx_child_run(&sh->cases[i], &sh->results[i]);
		}
		if (send_byte(fd) != 0)
			_exit(70);
	}
	_exit(0);
}

static void stop_child(struct dx_host *h)
{
	if (h->pid > 0) {
		close(h->sock);
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		h->pid = -1;
	}
}

/* Wait for the child's byte: 0, or -1 when it died or hung. */
static int wait_child(struct dx_host *h)
{
	struct pollfd p = {h->sock, POLLIN, 0};
	uint8_t byte;
	int r;
	do
		r = poll(&p, 1, TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 1 && recv(h->sock, &byte, 1, 0) == 1)
		return 0;
	return -1;
}

static int start_child(struct dx_host *h, char *err, size_t errlen)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(err, errlen, "host child: %s", strerror(errno));
		return -1;
	}
	h->sh->err[0] = 0;
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "host child: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(h->sh, sv[1]);
	}
	close(sv[1]);
	h->pid = pid;
	h->sock = sv[0];
	if (wait_child(h) != 0) {
		snprintf(err, errlen, "host child: %s",
		         h->sh->err[0] ? h->sh->err : "died during setup");
		stop_child(h);
		return -1;
	}
	return 0;
}

int dx_host_open(struct dx_host **hp, char *err, size_t errlen)
{
	struct dx_host *h = calloc(1, sizeof(*h));
	if (!h)
		return ENOMEM;
	h->pid = -1;
	h->sh = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
	             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (h->sh == MAP_FAILED) {
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		free(h);
		return ENOMEM;
	}
	if (start_child(h, err, errlen) != 0) {
		munmap(h->sh, sizeof(struct shared));
		free(h);
		return ECHILD;
	}
	*hp = h;
	return 0;
}

static void mark_harness(struct dx_result *r)
{
	memset(r, 0, sizeof(*r));
	r->fault = DX_HARNESS;
	r->vector = 0xff;
}

/* One batch of at most BATCH cases. */
static int run_batch(struct dx_host *h, const struct dx_case *c, struct dx_result *r, unsigned n,
                     char *err, size_t errlen)
{
	memcpy(h->sh->cases, c, n * sizeof(*c));
	h->sh->n = n;
	h->sh->next = 0;
	while (h->sh->next < n) {
		h->sh->cur = h->sh->next;
		if (h->pid > 0 && send_byte(h->sock) == 0 && wait_child(h) == 0)
			break;
		/* The child died or hung on case cur: that one is a harness
		 * failure; a fresh child carries on after it. */
		uint32_t bad = h->sh->cur;
		stop_child(h);
		mark_harness(&h->sh->results[bad]);
		if (start_child(h, err, errlen) != 0)
			return -1;
		h->sh->next = bad + 1;
	}
	memcpy(r, h->sh->results, n * sizeof(*r));
	return 0;
}

int dx_host_run(struct dx_host *h, const struct dx_case *c, struct dx_result *r, unsigned n,
                char *err, size_t errlen)
{
	for (unsigned done = 0; done < n;) {
		unsigned k = n - done < BATCH ? n - done : BATCH;
		if (run_batch(h, c + done, r + done, k, err, errlen) != 0)
			return -1;
		done += k;
	}
	return 0;
}

void dx_host_close(struct dx_host *h)
{
	if (!h)
		return;
	stop_child(h);
	munmap(h->sh, sizeof(struct shared));
	free(h);
}
