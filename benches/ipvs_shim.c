// An LD_PRELOAD shim that lets keepalived's checker run on a host without
// IPVS, for benches/lvs_checkers.py: keepalived 2.2.7 refuses to start its
// checker when IPVS does not answer ("IPVS: Can't initialize ipvs"). Its
// libipvs falls back from generic netlink (no "IPVS" family here) to the
// IP_VS_SO_* socket options on a raw socket; this shim answers those
// options as an empty IPVS table would (GET_*: zeroed structures, SET_*:
// success) and passes every other call to the C library. The checks
// themselves (socket, connect, epoll, getsockopt SO_ERROR, close) are
// untouched: their system calls are what the benchmark counts, and an
// intercepted call is a function call, not a system call, so strace does
// not see the shim's answers.
//
// build: cc -O2 -shared -fPIC -o ipvs_shim.so ipvs_shim.c -ldl
// use:   LD_PRELOAD=./ipvs_shim.so keepalived -n -C ...
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/ip_vs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

// IP_VS_SO_SET_* and IP_VS_SO_GET_* share one range from IP_VS_BASE_CTL.
static int is_ipvs(int level, int optname) {
    return level == IPPROTO_IP && optname >= IP_VS_BASE_CTL && optname <= IP_VS_SO_GET_MAX;
}

int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen) {
    static int (*real)(int, int, int, void *, socklen_t *);
    if (is_ipvs(level, optname)) {
        if (optval && optlen)
            memset(optval, 0, *optlen);
        if (optname == IP_VS_SO_GET_INFO && optval && optlen && *optlen >= sizeof(struct ip_vs_getinfo)) {
            struct ip_vs_getinfo *info = optval;
            info->version = 0x010201; // 1.2.1, as a 6.x kernel reports
            info->size = 4096;
        }
        if (optname == IP_VS_SO_GET_VERSION && optval && optlen && *optlen > 0)
            strncpy(optval, "IP Virtual Server version 1.2.1 (size=4096)", *optlen - 1);
        return 0;
    }
    if (!real)
        real = dlsym(RTLD_NEXT, "getsockopt");
    return real(fd, level, optname, optval, optlen);
}

int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen) {
    static int (*real)(int, int, int, const void *, socklen_t);
    if (is_ipvs(level, optname))
        return 0;
    if (!real)
        real = dlsym(RTLD_NEXT, "setsockopt");
    return real(fd, level, optname, optval, optlen);
}
