/* netguard.c: address classes for the source-address guard, and IMGPROXY_ALLOWED_SOURCES. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netguard.h"
#include "banned.h"

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool in_v4(uint32_t a, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);

    return (a & mask) == net;
}

unsigned netguard_classify_v4(const unsigned char b[4])
{
    uint32_t a = be32(b);

    if (in_v4(a, 0x00000000u, 8))
        return NETGUARD_UNSPECIFIED; /* "this network": 0.0.0.0 reaches the local host */
    if (in_v4(a, 0x7f000000u, 8))
        return NETGUARD_LOOPBACK;
    if (in_v4(a, 0xa9fe0000u, 16))
        return NETGUARD_LINK_LOCAL; /* 169.254/16: cloud metadata lives here */
    if (in_v4(a, 0x0a000000u, 8) || in_v4(a, 0xac100000u, 12) || in_v4(a, 0xc0a80000u, 16) ||
        in_v4(a, 0x64400000u, 10))
        return NETGUARD_PRIVATE; /* RFC 1918 and CGNAT 100.64/10 (RFC 6598) */
    if (in_v4(a, 0xe0000000u, 4) || a == 0xffffffffu)
        return NETGUARD_MULTICAST; /* and the limited broadcast address */
    return NETGUARD_PUBLIC;
}

static bool zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

unsigned netguard_classify_v6(const unsigned char a[16])
{
    unsigned cls = NETGUARD_PUBLIC;
    unsigned char v4[4];

    if (zero(a, 16))
        return NETGUARD_UNSPECIFIED;
    if (zero(a, 15) && a[15] == 1)
        return NETGUARD_LOOPBACK;
    /* ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated): the IPv4 address only. */
    if (zero(a, 10) && a[10] == 0xff && a[11] == 0xff)
        return netguard_classify_v4(a + 12);
    if (zero(a, 12))
        return netguard_classify_v4(a + 12);
    /* ::ffff:0:a.b.c.d (SIIT, RFC 2765). */
    if (zero(a, 8) && a[8] == 0xff && a[9] == 0xff && a[10] == 0 && a[11] == 0)
        return netguard_classify_v4(a + 12);

    if (a[0] == 0xff)
        return NETGUARD_MULTICAST;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        cls |= NETGUARD_LINK_LOCAL; /* fe80::/10 */
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
        cls |= NETGUARD_PRIVATE; /* fec0::/10, deprecated site-local */
    if ((a[0] & 0xfe) == 0xfc)
        cls |= NETGUARD_PRIVATE; /* fc00::/7, unique local */

    /* 6to4 (RFC 3056): 2002:AABB:CCDD::/48 routes to a.b.c.d. */
    if (a[0] == 0x20 && a[1] == 0x02)
        cls |= netguard_classify_v4(a + 2);
    /* NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): the last 32 bits. */
    if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && zero(a + 4, 8))
        cls |= netguard_classify_v4(a + 12);
    /*
     * NAT64 local-use 64:ff9b:1::/48 (RFC 8215): private by definition. The
     * IPv4 address sits in the last 32 bits under a /96 prefix (bits 48..95
     * zero), else in bits 48..63 + 72..87 as RFC 6052 lays it out for a /48.
     */
    if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0 && a[5] == 1) {
        cls |= NETGUARD_PRIVATE;
        if (zero(a + 6, 6)) {
            cls |= netguard_classify_v4(a + 12);
        } else {
            v4[0] = a[6];
            v4[1] = a[7];
            v4[2] = a[9];
            v4[3] = a[10];
            cls |= netguard_classify_v4(v4);
        }
    }
    /* Teredo 2001:0::/32 (RFC 4380): the client's IPv4 address is the last 32 bits, inverted. */
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) {
        for (int i = 0; i < 4; i++)
            v4[i] = (unsigned char)~a[12 + i];
        cls |= netguard_classify_v4(v4);
    }
    /* ISATAP (RFC 5214): interface identifier 0000:5efe or 0200:5efe, then the IPv4 address. */
    if ((a[8] & 0xfd) == 0 && a[9] == 0 && a[10] == 0x5e && a[11] == 0xfe)
        cls |= netguard_classify_v4(a + 12);
    return cls;
}

unsigned netguard_classify_sockaddr(const struct sockaddr *sa, socklen_t len)
{
    if (sa == NULL)
        return NETGUARD_INVALID;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        return netguard_classify_v4((const unsigned char *)&in->sin_addr.s_addr);
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        return netguard_classify_v6(in6->sin6_addr.s6_addr);
    }
    return NETGUARD_INVALID;
}

bool netguard_allowed(unsigned cls, const struct netguard_policy *p)
{
    if (cls & (NETGUARD_UNSPECIFIED | NETGUARD_MULTICAST | NETGUARD_INVALID))
        return false;
    if ((cls & NETGUARD_LOOPBACK) && !p->allow_loopback)
        return false;
    if ((cls & NETGUARD_LINK_LOCAL) && !p->allow_link_local)
        return false;
    if ((cls & NETGUARD_PRIVATE) && !p->allow_private)
        return false;
    return true;
}

const char *netguard_class_name(unsigned cls)
{
    /* The first class that matches names the address, in this order. */
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {NETGUARD_INVALID, "invalid"},       {NETGUARD_UNSPECIFIED, "unspecified"},
        {NETGUARD_MULTICAST, "multicast"},   {NETGUARD_LOOPBACK, "loopback"},
        {NETGUARD_LINK_LOCAL, "link-local"}, {NETGUARD_PRIVATE, "private"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (cls & names[i].bit)
            return names[i].name;
    return "public";
}

void netguard_format(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
    const void *addr = NULL;

    if (outlen == 0)
        return;
    out[0] = '\0';
    if (sa != NULL && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in))
        addr = &((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa != NULL && sa->sa_family == AF_INET6 &&
             len >= (socklen_t)sizeof(struct sockaddr_in6))
        addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (addr == NULL || inet_ntop(sa->sa_family, addr, out, (socklen_t)outlen) == NULL)
        snprintf(out, outlen, "(address family %d)", sa != NULL ? sa->sa_family : -1);
}

/*
 * Whether pattern (plen bytes) matches a prefix of url. The set of url
 * positions reachable after each pattern character is kept in `cur`, so the
 * cost is plen x len whatever the stars do (no backtracking blow-up).
 */
static int prefix_match(const char *url, size_t len, const char *pat, size_t plen,
                        unsigned char *cur, unsigned char *next)
{
    bool any = true;

    memset(cur, 0, len + 1);
    cur[0] = 1;
    for (size_t i = 0; i < plen && any; i++) {
        memset(next, 0, len + 1);
        any = false;
        if (pat[i] == '*') {
            /* [^/]*: from each reachable position, on through every non-'/' byte. */
            for (size_t j = 0; j <= len; j++) {
                if (!cur[j])
                    continue;
                next[j] = 1;
                while (j < len && url[j] != '/') {
                    j++;
                    next[j] = 1;
                }
            }
            any = true;
        } else {
            for (size_t j = 0; j < len; j++) {
                if (cur[j] && url[j] == pat[i]) {
                    next[j + 1] = 1;
                    any = true;
                }
            }
        }
        memcpy(cur, next, len + 1);
    }
    return any ? 1 : 0;
}

int netguard_source_allowed(const char *url, size_t len, char *const *patterns, size_t n)
{
    unsigned char *cur, *next;
    int ret = 0;

    if (n == 0)
        return 1;
    cur = malloc(len + 1);
    next = malloc(len + 1);
    if (cur == NULL || next == NULL) {
        ret = -1;
        goto out;
    }
    for (size_t i = 0; i < n && ret == 0; i++) {
        const char *pat = patterns[i];
        size_t plen = strlen(pat);

        /* Spaces around a pattern are ignored; an empty one would allow every URL: skipped. */
        while (plen > 0 && (*pat == ' ' || *pat == '\t')) {
            pat++;
            plen--;
        }
        while (plen > 0 && (pat[plen - 1] == ' ' || pat[plen - 1] == '\t'))
            plen--;
        if (plen > 0)
            ret = prefix_match(url, len, pat, plen, cur, next);
    }
out:
    free(cur);
    free(next);
    return ret;
}
