/*
 * bench/streams.c: the two ends of bench/streams' slow streams, built by
 * the script (cc -O2 bench/streams.c), one epoll loop each.
 *
 *   streams mock PORT INTERVAL_MS EVENTS
 *       a slow OpenAI-shaped SSE provider: answers every request (any
 *       path, the body read and ignored) with a chunked text/event-stream,
 *       one chat.completion.chunk event at once and then one every
 *       INTERVAL_MS, EVENTS in all, then a usage chunk and [DONE]
 *
 *   streams client PORT N FILE_WITH_REQUEST SECONDS RATE
 *       opens N connections (at most 200 connecting at a time, RATE a
 *       second at most), sends the
 *       request held in FILE (a whole HTTP request, headers and body) on
 *       each, reads the answers, and every second prints
 *         t=S open=O started=A events=E closed=C bad=B
 *       (open: connected and not closed; started: answered 200 with its
 *       first event; events: "\n\n"-terminated events read, all streams;
 *       closed: ended by the server; bad: a status other than 200 or a
 *       connect error), for SECONDS seconds, then exits.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


static uint64_t
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}


/* the mock ******************************************************************/

typedef struct conn_s  conn_t;

struct conn_s {
    int        fd;
    int        state;       /* 0 reading the request, 1 streaming, 2 dead */
    int        sent;        /* events sent */
    size_t     hdr;         /* bytes of the header seen so far (state 0) */
    char       tail[4];     /* the header's last bytes, for \r\n\r\n */
    uint64_t   due;
    conn_t    *next;        /* in the due queue */
};


static conn_t  *q_head, *q_tail;


static void
enqueue(conn_t *c)
{
    c->next = NULL;
    if (q_tail) {
        q_tail->next = c;
    } else {
        q_head = c;
    }
    q_tail = c;
}


static const char  chunk_fmt[] =
    "data: {\"id\":\"chatcmpl-slow\",\"object\":\"chat.completion.chunk\","
    "\"created\":1733500000,\"model\":\"gpt-4o-mini\",\"choices\":[{"
    "\"index\":0,\"delta\":{\"content\":\"tok%06d \"},"
    "\"finish_reason\":null}]}\n\n";

static const char  last_events[] =
    "data: {\"id\":\"chatcmpl-slow\",\"object\":\"chat.completion.chunk\","
    "\"created\":1733500000,\"model\":\"gpt-4o-mini\",\"choices\":[{"
    "\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"id\":\"chatcmpl-slow\",\"object\":\"chat.completion.chunk\","
    "\"created\":1733500000,\"model\":\"gpt-4o-mini\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":%d,"
    "\"total_tokens\":%d}}\n\n"
    "data: [DONE]\n\n";


static int
send_event(conn_t *c, int events)
{
    char     body[1024], buf[1200];
    int      n, m;
    ssize_t  w;

    if (c->sent < events) {
        n = snprintf(body, sizeof(body), chunk_fmt, c->sent);
        m = snprintf(buf, sizeof(buf), "%s%x\r\n%s\r\n",
                     c->sent == 0
                     ? "HTTP/1.1 200 OK\r\n"
                       "Content-Type: text/event-stream\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n" : "",
                     n, body);
    } else {
        n = snprintf(body, sizeof(body), last_events, events, events + 20);
        m = snprintf(buf, sizeof(buf), "%x\r\n%s\r\n0\r\n\r\n", n, body);
    }

    w = write(c->fd, buf, m);
    if (w != m) {
        return -1;      /* a slow reader is no part of this benchmark */
    }

    c->sent++;
    return c->sent > events ? 1 : 0;
}


static int
mock(int port, int interval, int events)
{
    int                 lfd, ep, n, i, one, rc;
    char                buf[16384];
    conn_t             *c, *l;
    ssize_t             r;
    uint64_t            t;
    struct sockaddr_in  sa;
    struct epoll_event  ev, evs[256];

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || listen(lfd, 4096) != 0)
    {
        perror("mock: bind/listen");
        return 1;
    }
    nonblock(lfd);

    ep = epoll_create1(0);
    l = calloc(1, sizeof(conn_t));
    l->fd = lfd;
    ev.events = EPOLLIN;
    ev.data.ptr = l;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

    for ( ;; ) {
        n = epoll_wait(ep, evs, 256, 10);

        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;

            if (c == l) {
                for ( ;; ) {
                    int  fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0) {
                        break;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                               sizeof(one));
                    c = calloc(1, sizeof(conn_t));
                    if (c == NULL) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    ev.events = EPOLLIN;
                    ev.data.ptr = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }

            r = read(c->fd, buf, sizeof(buf));

            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (c->state == 1) {
                    c->state = 2;   /* freed when its turn comes */
                } else {
                    free(c);
                }
                continue;
            }

            if (r < 0 || c->state != 0) {
                continue;           /* a body, or a next request: ignored */
            }

            /* the end of the headers; the body (if any) is not waited for */
            for (ssize_t k = 0; k < r; k++) {
                memmove(c->tail, c->tail + 1, 3);
                c->tail[3] = buf[k];
                if (memcmp(c->tail, "\r\n\r\n", 4) == 0) {
                    c->state = 1;
                    break;
                }
            }

            if (c->state == 1) {
                if (send_event(c, events) != 0) {
                    c->state = 2;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                }
                c->due = now_ms() + interval;
                enqueue(c);
            }
        }

        t = now_ms();

        while (q_head && q_head->due <= t) {
            c = q_head;
            q_head = c->next;
            if (q_head == NULL) {
                q_tail = NULL;
            }

            if (c->state == 2) {
                free(c);
                continue;
            }

            rc = send_event(c, events);

            if (rc != 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c);
                continue;
            }

            c->due += interval;
            enqueue(c);
        }
    }

    return 0;
}


/* the client ****************************************************************/

typedef struct {
    int        fd;
    int        state;   /* 0 free, 1 connecting, 2 sent, 3 started, 4 done */
    char       last;    /* the previous byte, for "\n\n" */
    int        hdr;     /* the status line checked */
} cli_t;


static int
client(int port, int n, const char *file, int seconds, int rate)
{
    int                 ep, i, k, fd, err, connecting, nextc, opened;
    int                 open_, started, closed, bad;
    char               *req, buf[16384];
    long                events;
    FILE               *f;
    cli_t              *cs, *c;
    size_t              req_len;
    ssize_t             r;
    uint64_t            t0, tick;
    socklen_t           el;
    struct stat         st;
    struct sockaddr_in  sa;
    struct epoll_event  ev, evs[512];

    f = fopen(file, "r");
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        perror(file);
        return 1;
    }
    req_len = st.st_size;
    req = malloc(req_len);
    if (req == NULL || fread(req, 1, req_len, f) != req_len) {
        perror("read");
        return 1;
    }
    fclose(f);

    cs = calloc(n, sizeof(cli_t));
    if (cs == NULL) {
        return 1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    ep = epoll_create1(0);
    connecting = 0;
    nextc = 0;
    opened = 0;
    open_ = started = closed = bad = 0;
    events = 0;
    t0 = now_ms();
    tick = t0 + 1000;

    for ( ;; ) {
        while (nextc < n && connecting < 200
               && (uint64_t) nextc * 1000 < (now_ms() - t0 + 1) * rate)
        {
            c = &cs[nextc++];
            fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (fd < 0) {
                bad++;
                continue;
            }
            if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
                && errno != EINPROGRESS)
            {
                close(fd);
                bad++;
                continue;
            }
            c->fd = fd;
            c->state = 1;
            connecting++;
            ev.events = EPOLLOUT | EPOLLIN;
            ev.data.ptr = c;
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }

        k = epoll_wait(ep, evs, 512, 100);

        for (i = 0; i < k; i++) {
            c = evs[i].data.ptr;

            if (c->state == 1) {
                err = 0;
                el = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                connecting--;
                if (err != 0
                    || write(c->fd, req, req_len) != (ssize_t) req_len)
                {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    c->state = 4;
                    bad++;
                    continue;
                }
                c->state = 2;
                opened++;
                open_++;
                ev.events = EPOLLIN;
                ev.data.ptr = c;
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }

            r = read(c->fd, buf, sizeof(buf));

            if (r < 0 && errno == EAGAIN) {
                continue;
            }

            if (r <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (c->state == 2) {
                    bad++;
                }
                c->state = 4;
                open_--;
                closed++;
                continue;
            }

            if (!c->hdr) {
                c->hdr = 1;
                if (r < 12 || memcmp(buf + 9, "200", 3) != 0) {
                    c->state = 4;   /* counted as bad once */
                    bad++;
                    fprintf(stderr, "client: %.*s\n",
                            (int) (r > 200 ? 200 : r), buf);
                }
            }

            for (ssize_t j = 0; j < r; j++) {
                /* chunked: the chunk framing's CR LF never makes a "\n\n",
                 * and an event's own "\n\n" is never split by it */
                if (buf[j] == '\n' && c->last == '\n') {
                    events++;
                    if (c->state == 2) {
                        c->state = 3;
                        started++;
                    }
                }
                c->last = buf[j];
            }
        }

        if (now_ms() >= tick) {
            printf("t=%d open=%d started=%d events=%ld closed=%d bad=%d\n",
                   (int) ((tick - t0) / 1000), open_, started, events,
                   closed, bad);
            fflush(stdout);
            tick += 1000;
            if ((int) ((tick - t0) / 1000) > seconds) {
                return 0;
            }
        }
    }
}


int
main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "mock") == 0) {
        return mock(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    }

    if (argc == 7 && strcmp(argv[1], "client") == 0) {
        return client(atoi(argv[2]), atoi(argv[3]), argv[4], atoi(argv[5]),
                      atoi(argv[6]));
    }

    fprintf(stderr, "usage: streams mock PORT INTERVAL_MS EVENTS\n"
                    "       streams client PORT N REQUEST_FILE SECONDS RATE\n");
    return 2;
}
