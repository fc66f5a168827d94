/*
 * soak_client: the client half of scripts/soak.sh (built by it with `cc -O2`).
 *
 * Single thread, epoll, non-blocking sockets. Talks to a line-echo server on 127.0.0.1 only.
 *
 *   1. open   : opens --conns connections (at most --connect-concurrency connecting at once); each sends one
 *               line and must get exactly that line back before it counts as open.
 *   2. churn  : for --seconds, in cycles: close a random --churn-pct of the open connections (--rst-pct of those
 *               with an RST, the rest with a FIN), ping the same number of other open connections with one line,
 *               and open replacements (each verified with one line echo) until --conns are open again.
 *   3. close  : closes every connection (FIN) and exits.
 *
 * Errors counted: connect failures, wrong echo bytes (and bytes beyond the line), unexpected closes (EOF/RST on a
 * connection we did not close, during an echo or while it was idle), timeouts (an echo not complete within
 * --op-timeout seconds), and local socket errors. Idle connections are watched too: any byte or close on one is an
 * error.
 *
 * Output on stdout, one line each, flushed: "PHASE open|churn|closing|done", "PROGRESS ..." every second, and at the
 * end one "RESULT key=value ..." line. An alarm() backstop kills the process if it runs far past its budget.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { S_FREE = 0, S_CONNECTING, S_ECHO, S_IDLE };
enum { E_CONNECT = 0, E_MISMATCH, E_CLOSED, E_TIMEOUT, E_LOCAL, E_COUNT };
static const char *err_names[E_COUNT] = { "connect_failures", "echo_mismatch", "unexpected_close", "timeouts",
                                          "local_errors" };

#define LINE_MAX_BYTES 96

typedef struct {
    int fd;
    uint8_t state;
    uint8_t is_new;     /* 1: this echo verifies a new connection; 0: a ping on an open one */
    uint16_t len;       /* line length */
    uint16_t sent;      /* bytes of the line written */
    uint16_t got;       /* bytes of the echo received and matched */
    double start;       /* when the connect / ping started */
    char line[LINE_MAX_BYTES];
} conn_t;

static int opt_port, opt_conns = 10000, opt_cc = 128, opt_src = 8;
static double opt_seconds = 60, opt_op_timeout = 10, opt_churn_pct = 5, opt_rst_pct = 10, opt_open_timeout = 120;
static unsigned opt_seed = 1;

static conn_t *conns;
static int epfd;
static int n_open;          /* connections verified and idle, or pinging */
static int n_connecting;    /* connecting or doing their first echo */
static int n_busy_ping;
static uint64_t errs[E_COUNT];
static uint64_t seq, opened_total, closed_fin, closed_rst, pings_ok, cycles;
static double *lat;         /* latencies (ms) of successful connect+echo of new connections */
static size_t lat_n, lat_cap;
static int draining;        /* 1 during the close phase: do not replace */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static void lat_add(double ms) {
    if (lat_n == lat_cap) {
        lat_cap = lat_cap ? lat_cap * 2 : 65536;
        lat = realloc(lat, lat_cap * sizeof *lat);
        if (!lat) { perror("realloc"); exit(3); }
    }
    lat[lat_n++] = ms;
}

static void err(int kind, int idx, const char *what) {
    errs[kind]++;
    /* the first few of each kind are printed, so a failure can be told apart */
    if (errs[kind] <= 5)
        printf("ERROR %s conn=%d state=%d: %s\n", err_names[kind], idx, conns[idx].state, what);
}

/* Closes a slot. how: 0 = FIN, 1 = RST. */
static void drop(int i, int how) {
    conn_t *c = &conns[i];
    if (c->state == S_FREE) return;
    if (how == 1) {
        struct linger lg = { 1, 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd); /* also removes it from the epoll set */
    if (c->state == S_CONNECTING || (c->state == S_ECHO && c->is_new)) n_connecting--;
    else { n_open--; if (c->state == S_ECHO) n_busy_ping--; }
    c->state = S_FREE;
    c->fd = -1;
}

static void make_line(conn_t *c, int i) {
    seq++;
    uint64_t r = rnd();
    int n = snprintf(c->line, LINE_MAX_BYTES, "soak %d %llu %016llx %s\n", i, (unsigned long long)seq,
                     (unsigned long long)r, c->is_new ? "hello" : "ping");
    c->len = (uint16_t)n;
    c->sent = 0;
    c->got = 0;
}

static void try_send(int i) {
    conn_t *c = &conns[i];
    while (c->sent < c->len) {
        ssize_t w = send(c->fd, c->line + c->sent, c->len - c->sent, MSG_NOSIGNAL);
        if (w > 0) { c->sent += (uint16_t)w; continue; }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u32 = (uint32_t)i };
            epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }
        err(E_CLOSED, i, strerror(errno));
        drop(i, 0);
        return;
    }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Starts a new connection in free slot i. Returns 0 on success (in progress). */
static int start_conn(int i) {
    conn_t *c = &conns[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { err(E_LOCAL, i, strerror(errno)); return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Source addresses are spread over 127.0.0.1..N (all loopback), so that TIME_WAIT from the churn never
     * exhausts the ephemeral ports of one (source, destination) pair. The port is picked at connect(). */
    struct sockaddr_in src = { .sin_family = AF_INET };
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(rnd() % (uint64_t)opt_src));
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
        err(E_LOCAL, i, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port) };
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    c->fd = fd;
    c->state = S_CONNECTING;
    c->is_new = 1;
    c->start = now();
    n_connecting++;
    int r = connect(fd, (struct sockaddr *)&dst, sizeof dst);
    if (r < 0 && errno != EINPROGRESS) {
        err(E_CONNECT, i, strerror(errno));
        drop(i, 1);
        return -1;
    }
    struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        err(E_LOCAL, i, strerror(errno));
        drop(i, 1);
        return -1;
    }
    opened_total++;
    return 0;
}

static void start_ping(int i) {
    conn_t *c = &conns[i];
    c->state = S_ECHO;
    c->is_new = 0;
    c->start = now();
    n_busy_ping++;
    make_line(c, i);
    try_send(i);
}

static void echo_done(int i) {
    conn_t *c = &conns[i];
    if (c->is_new) {
        lat_add((now() - c->start) * 1000.0);
        n_connecting--;
        n_open++;
    } else {
        pings_ok++;
        n_busy_ping--;
    }
    c->state = S_IDLE;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void on_event(int i, uint32_t evs) {
    conn_t *c = &conns[i];
    if (c->state == S_FREE) return;
    if (c->state == S_CONNECTING) {
        int e = 0;
        socklen_t l = sizeof e;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &l);
        if (e != 0 || (evs & (EPOLLERR | EPOLLHUP))) {
            err(E_CONNECT, i, e ? strerror(e) : "EPOLLERR/HUP");
            drop(i, 1);
            return;
        }
        if (!(evs & EPOLLOUT)) return;
        c->state = S_ECHO;
        make_line(c, i);
        try_send(i);
        return;
    }
    if (c->state == S_ECHO && (evs & EPOLLOUT) && c->sent < c->len) {
        try_send(i);
        if (c->state == S_FREE) return;
    }
    if (evs & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        char buf[256];
        for (;;) {
            ssize_t r = recv(c->fd, buf, sizeof buf, 0);
            if (r > 0) {
                if (c->state != S_ECHO) {
                    err(E_MISMATCH, i, "bytes arrived on an idle connection");
                    drop(i, 1);
                    return;
                }
                if ((size_t)r > (size_t)(c->sent - c->got) || memcmp(buf, c->line + c->got, (size_t)r) != 0) {
                    err(E_MISMATCH, i, "echo differs from the line sent");
                    drop(i, 1);
                    return;
                }
                c->got += (uint16_t)r;
                if (c->got == c->len) {
                    echo_done(i);
                    /* anything more now is an error; loop on to see it */
                }
                continue;
            }
            if (r == 0) {
                err(E_CLOSED, i, c->state == S_IDLE ? "EOF on an idle connection" : "EOF before the echo was complete");
                drop(i, 0);
                return;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR) continue;
            err(E_CLOSED, i, strerror(errno));
            drop(i, 1);
            return;
        }
    }
}

static double last_timeout_scan;
static void check_timeouts(double t) {
    if (t - last_timeout_scan < 0.1) return; /* a scan of every slot, ten times a second at most */
    last_timeout_scan = t;
    for (int i = 0; i < opt_conns; i++) {
        conn_t *c = &conns[i];
        if ((c->state == S_CONNECTING || c->state == S_ECHO) && t - c->start > opt_op_timeout) {
            err(E_TIMEOUT, i, c->state == S_CONNECTING ? "connect timed out" : "echo timed out");
            drop(i, 1);
        }
    }
}

static uint64_t err_total(void) {
    uint64_t s = 0;
    for (int k = 0; k < E_COUNT; k++) s += errs[k];
    return s;
}

/* Fills free slots with new connections, keeping at most opt_cc connecting. */
static int next_free = 0;
static void refill(void) {
    if (draining) return;
    int scanned = 0;
    while (n_open + n_connecting < opt_conns && n_connecting < opt_cc && scanned < opt_conns) {
        int i = next_free;
        next_free = (next_free + 1) % opt_conns;
        scanned++;
        if (conns[i].state != S_FREE) continue;
        if (start_conn(i) < 0) return; /* try again on the next turn */
    }
}

static void poll_once(int timeout_ms) {
    struct epoll_event evs[512];
    int n = epoll_wait(epfd, evs, 512, timeout_ms);
    for (int k = 0; k < n; k++) on_event((int)evs[k].data.u32, evs[k].events);
}

static double last_progress, t0;
static const char *phase = "open";
static void progress(double t, int force) {
    if (!force && t - last_progress < 1.0) return;
    last_progress = t;
    printf("PROGRESS t=%.1f phase=%s open=%d connecting=%d cycles=%llu opened=%llu errors=%llu\n", t - t0, phase,
           n_open, n_connecting, (unsigned long long)cycles, (unsigned long long)opened_total,
           (unsigned long long)err_total());
}

static void on_alarm(int sig) {
    (void)sig;
    static const char m[] = "RESULT aborted=1 reason=alarm_backstop\n";
    if (write(1, m, sizeof m - 1)) {}
    _exit(4);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void) {
    fprintf(stderr,
            "usage: soak_client --port P [--conns N] [--seconds S] [--connect-concurrency C] [--churn-pct PCT]\n"
            "                   [--rst-pct PCT] [--op-timeout S] [--open-timeout S] [--sources N] [--seed N]\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--port")) opt_port = atoi(v);
        else if (!strcmp(a, "--conns")) opt_conns = atoi(v);
        else if (!strcmp(a, "--seconds")) opt_seconds = atof(v);
        else if (!strcmp(a, "--connect-concurrency")) opt_cc = atoi(v);
        else if (!strcmp(a, "--churn-pct")) opt_churn_pct = atof(v);
        else if (!strcmp(a, "--rst-pct")) opt_rst_pct = atof(v);
        else if (!strcmp(a, "--op-timeout")) opt_op_timeout = atof(v);
        else if (!strcmp(a, "--open-timeout")) opt_open_timeout = atof(v);
        else if (!strcmp(a, "--sources")) opt_src = atoi(v);
        else if (!strcmp(a, "--seed")) opt_seed = (unsigned)strtoul(v, NULL, 10);
        else usage();
    }
    if (opt_port < 1 || opt_port > 65535 || opt_conns < 1 || opt_conns > 100000 || opt_seconds < 0 ||
        opt_seconds > 3600 || opt_cc < 1 || opt_src < 1 || opt_src > 250 || opt_churn_pct <= 0 ||
        opt_churn_pct > 50 || opt_rst_pct < 0 || opt_rst_pct > 100 || opt_op_timeout <= 0)
        usage();

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)opt_conns + 64) {
        fprintf(stderr, "soak_client: RLIMIT_NOFILE %llu is below conns+64\n", (unsigned long long)rl.rlim_cur);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(opt_open_timeout + opt_seconds + 4 * opt_op_timeout + 60));
    rng_state = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)opt_seed * 0x100000001B3ULL) ^ (uint64_t)getpid();
    if (!rng_state) rng_state = 1;

    conns = calloc((size_t)opt_conns, sizeof *conns);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || epfd < 0) { perror("init"); return 3; }
    for (int i = 0; i < opt_conns; i++) conns[i].fd = -1;

    /* 1. open */
    t0 = last_progress = now();
    printf("PHASE open\n");
    double open_deadline = t0 + opt_open_timeout;
    while (n_open < opt_conns) {
        double t = now();
        if (t > open_deadline) {
            printf("ERROR open phase: only %d of %d connections open after %.0f s\n", n_open, opt_conns,
                   opt_open_timeout);
            errs[E_TIMEOUT]++;
            break;
        }
        refill();
        poll_once(20);
        check_timeouts(now());
        progress(now(), 0);
    }
    double t_open = now() - t0;
    int open_at_start = n_open;

    /* 2. churn */
    phase = "churn";
    printf("PHASE churn open=%d setup_s=%.2f\n", n_open, t_open);
    double c0 = now(), cend = c0 + opt_seconds;
    uint64_t churned = 0;
    int k = (int)(opt_conns * opt_churn_pct / 100.0);
    if (k < 1) k = 1;
    while (now() < cend) {
        /* one cycle: close k random open connections, ping k others, refill to opt_conns */
        int closed = 0, pinged = 0, tries = 0;
        while (closed < k && tries < 20 * opt_conns) {
            int i = (int)(rnd() % (uint64_t)opt_conns);
            tries++;
            if (conns[i].state != S_IDLE) continue;
            int how = (double)(rnd() % 10000) < opt_rst_pct * 100.0 ? 1 : 0;
            drop(i, how);
            if (how) closed_rst++; else closed_fin++;
            closed++;
        }
        tries = 0;
        while (pinged < k && tries < 20 * opt_conns) {
            int i = (int)(rnd() % (uint64_t)opt_conns);
            tries++;
            if (conns[i].state != S_IDLE) continue;
            start_ping(i);
            pinged++;
        }
        churned += (uint64_t)closed;
        /* the cycle ends when every replacement is open and every ping is back (or failed) */
        int before_errs = (int)err_total();
        while ((n_open + n_connecting < opt_conns || n_connecting > 0 || n_busy_ping > 0)) {
            double t = now();
            if (t > cend + 2 * opt_op_timeout) break; /* bounded even if the server stops answering */
            refill();
            poll_once(10);
            check_timeouts(now());
            progress(now(), 0);
            /* if connecting keeps failing, let the next cycle (or the end) take over rather than spin here */
            if ((int)err_total() - before_errs > 10 * k) break;
        }
        cycles++;
    }
    double churn_s = now() - c0;
    int open_at_end = n_open;

    /* 3. close */
    phase = "closing";
    progress(now(), 1);
    printf("PHASE closing open=%d\n", n_open);
    draining = 1;
    for (int i = 0; i < opt_conns; i++) drop(i, 0);
    printf("PHASE done\n");

    qsort(lat, lat_n, sizeof *lat, cmp_d);
    double p50 = lat_n ? lat[lat_n / 2] : 0, p99 = lat_n ? lat[(size_t)(lat_n * 0.99)] : 0,
           mx = lat_n ? lat[lat_n - 1] : 0;
    printf("RESULT conns=%d open_at_start=%d open_at_end=%d setup_s=%.2f churn_s=%.2f cycles=%llu "
           "cycles_per_s=%.2f churned=%llu churn_conns_per_s=%.0f closed_fin=%llu closed_rst=%llu pings_ok=%llu "
           "opened_total=%llu echo_ms_p50=%.2f echo_ms_p99=%.2f echo_ms_max=%.2f",
           opt_conns, open_at_start, open_at_end, t_open, churn_s, (unsigned long long)cycles,
           churn_s > 0 ? cycles / churn_s : 0, (unsigned long long)churned, churn_s > 0 ? churned / churn_s : 0,
           (unsigned long long)closed_fin, (unsigned long long)closed_rst, (unsigned long long)pings_ok,
           (unsigned long long)opened_total, p50, p99, mx);
    for (int e = 0; e < E_COUNT; e++) printf(" %s=%llu", err_names[e], (unsigned long long)errs[e]);
    printf(" errors=%llu\n", (unsigned long long)err_total());
    return err_total() ? 1 : 0;
}
