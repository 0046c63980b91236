// The real servers for benches/lvs_checkers.py: one listening TCP socket on
// 0.0.0.0:PORT (every 127.x.y.z reaches it) that accepts and closes at once,
// so that a TCP_CHECK connect succeeds. C rather than Python so that the
// listener keeps up with 10,000 connections a second on a 2-core machine and
// takes little of the CPU the checker is measured with. Static, so that the
// same program runs in the QEMU guest.
//
// usage: tcp_sink PORT COUNTFILE
// Writes the number of connections accepted so far to COUNTFILE about every
// 200 ms (the benchmark reads it at the start and end of its window).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: tcp_sink PORT COUNTFILE\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 65535) < 0) {
        perror("tcp_sink: listen");
        return 1;
    }
    // accept() returns at least every 100 ms so the count file stays fresh.
    struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    unsigned long long n = 0;
    double last = 0;
    for (;;) {
        int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0) {
            // A plain close (FIN), not a reset: a reset that arrived before
            // the checker looked at its socket would fail the check.
            close(c);
            n++;
        } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            perror("tcp_sink: accept");
            usleep(1000);
        }
        double t = now();
        if (t - last >= 0.2) {
            last = t;
            FILE *f = fopen(tmp, "w");
            if (f) {
                fprintf(f, "%llu %.6f\n", n, t);
                fclose(f);
                rename(tmp, argv[2]);
            }
        }
    }
}
