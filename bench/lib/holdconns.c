/*
 * holdconns.c - open many keep-alive HTTP connections and keep them open, idle (bench/sessions.sh).
 *
 * wrk cannot do this: it keeps every connection busy. holdconns opens COUNT connections from one source
 * address, at most RATE new ones per second, sends one request on each
 * ("GET PATH?id=TAG-N HTTP/1.1", keep-alive), reads the response, and then leaves the connection idle
 * until SIGTERM/SIGINT or HOLD seconds have passed. One process holds at most ~19,000 descriptors here
 * (the machine's hard RLIMIT_NOFILE is 20,000), and one source address gives ~28k ephemeral ports, so
 * sessions.sh runs several processes, each with its own source address.
 *
 * Every second it rewrites STATUS_FILE with one line:
 *   opened=N answered=N failed=N closed=N elapsed_ms=N open_ms=N
 * opened: connections established; answered: responses fully received (header + Content-Length body);
 * failed: connect or send errors; closed: connections the server closed afterwards (keep-alive timeout);
 * open_ms: time from the first connect to the last answer (0 until every connection is answered or
 * failed).
 *
 * Build: gcc -O2 -Wall -Wextra -o holdconns holdconns.c
 * Usage: holdconns -s SRC_IP -d DST_IP [-p PORT] -n COUNT [-r RATE] [-t HOLD_S] [-P PATH] [-T TAG] -o STATUS_FILE
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
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

enum { ST_CONNECTING = 1, ST_WAITING, ST_IDLE, ST_DONE };

struct conn {
    unsigned char state;
    unsigned int got;     /* bytes of the response received so far */
    int need;             /* header length + Content-Length once the header is complete, else -1 */
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
    fprintf(stderr, "usage: holdconns -s SRC_IP -d DST_IP [-p PORT] -n COUNT [-r RATE] [-t HOLD_S] [-P PATH] [-T TAG] -o STATUS_FILE\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *src = NULL, *dst = NULL, *path = "/", *tag = "h", *status = NULL;
    int port = 80, count = 0, rate = 2000, hold = 300, opt;
    while ((opt = getopt(argc, argv, "s:d:p:n:r:t:P:T:o:")) != -1) {
        switch (opt) {
        case 's': src = optarg; break;
        case 'd': dst = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': count = atoi(optarg); break;
        case 'r': rate = atoi(optarg); break;
        case 't': hold = atoi(optarg); break;
        case 'P': path = optarg; break;
        case 'T': tag = optarg; break;
        case 'o': status = optarg; break;
        default: usage();
        }
    }
    if (!src || !dst || !status || count < 1 || rate < 1 || hold < 1 || port < 1 || port > 65535)
        usage();

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)count + 16 > rl.rlim_cur) {
        fprintf(stderr, "holdconns: %d connections need more than the %llu descriptors allowed\n", count,
                (unsigned long long)rl.rlim_cur);
        return 2;
    }

    struct sockaddr_in sa = {.sin_family = AF_INET}, da = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, src, &sa.sin_addr) != 1 || inet_pton(AF_INET, dst, &da.sin_addr) != 1)
        usage();

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    int ep = epoll_create1(0);
    if (ep < 0) { perror("epoll_create1"); return 1; }
    /* Indexed by descriptor: descriptors are small and dense. */
    struct conn *conns = calloc(rl.rlim_cur, sizeof *conns);
    if (!conns) { perror("calloc"); return 1; }

    long long start = now_ms(), last_status = 0, open_ms = 0;
    int started = 0, opened = 0, answered = 0, failed = 0, closed = 0;
    char buf[65536], req[512];
    struct epoll_event events[1024];

    while (!stop && now_ms() - start < (long long)hold * 1000) {
        /* Open new connections up to the rate: RATE per second since the start. */
        long long allowed = (now_ms() - start) * rate / 1000 + 1;
        while (started < count && started < allowed) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) { failed++; started++; continue; }
            int one = 1;
            /* Pick the port at connect time by the whole 4-tuple, not at bind time. */
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
                (connect(fd, (struct sockaddr *)&da, sizeof da) < 0 && errno != EINPROGRESS)) {
                close(fd);
                failed++;
                started++;
                continue;
            }
            conns[fd] = (struct conn){.state = ST_CONNECTING, .got = 0, .need = -1};
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.fd = fd};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            started++;
        }

        int n = epoll_wait(ep, events, 1024, 20);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            struct conn *c = &conns[fd];
            if (c->state == ST_CONNECTING && (events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                int rl2 = err ? -1 : snprintf(req, sizeof req,
                    "GET %s?id=%s-%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: holdconns\r\n\r\n", path, tag, fd, dst);
                if (err || send(fd, req, (size_t)rl2, MSG_NOSIGNAL) != rl2) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                    close(fd);
                    c->state = 0;
                    failed++;
                    continue;
                }
                opened++;
                c->state = ST_WAITING;
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                continue;
            }
            if (!(events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                continue;
            ssize_t r;
            int eof = 0;
            while ((r = recv(fd, buf, sizeof buf - 1, 0)) > 0) {
                if (c->state == ST_WAITING && c->need < 0) {
                    /* The response header fits in the first read of a small page. */
                    buf[r] = 0;
                    char *end = strstr(buf, "\r\n\r\n");
                    char *cl = strcasestr(buf, "\r\nContent-Length:");
                    if (end) c->need = (int)(end + 4 - buf) + (cl && cl < end ? atoi(cl + 17) : 0);
                }
                c->got += (unsigned int)r;
            }
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) eof = 1;
            if (c->state == ST_WAITING && c->need >= 0 && c->got >= (unsigned int)c->need) {
                c->state = ST_IDLE;
                answered++;
                /* Idle from now on: only a close by the server matters. */
            }
            if (eof) {
                if (c->state == ST_IDLE) closed++;
                else failed++;
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
                c->state = 0;
            }
        }

        long long t = now_ms();
        if (open_ms == 0 && started == count && answered + failed >= count)
            open_ms = t - start;
        if (t - last_status >= 1000) {
            last_status = t;
            char tmp[4096];
            snprintf(tmp, sizeof tmp, "%s.tmp", status);
            FILE *f = fopen(tmp, "w");
            if (f) {
                fprintf(f, "opened=%d answered=%d failed=%d closed=%d elapsed_ms=%lld open_ms=%lld\n",
                        opened, answered, failed, closed, t - start, open_ms);
                fclose(f);
                rename(tmp, status);
            }
        }
    }
    return 0;
}
