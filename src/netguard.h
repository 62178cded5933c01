/* netguard.h: which addresses a source may be fetched from, and which source URLs are allowed. */
#ifndef IMGFCGI_NETGUARD_H
#define IMGFCGI_NETGUARD_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

/*
 * Address classes, as bits: an address can carry more than one (an IPv6
 * address in the NAT64 local-use prefix that embeds 10.0.0.1 is private
 * twice over; 6to4 around 127.0.0.1 is loopback). An address is allowed only
 * when every bit it carries is allowed.
 */
enum netguard_class {
    NETGUARD_PUBLIC = 0,           /* nothing special: always allowed */
    NETGUARD_LOOPBACK = 1 << 0,    /* 127/8, ::1 */
    NETGUARD_LINK_LOCAL = 1 << 1,  /* 169.254/16, fe80::/10 */
    NETGUARD_PRIVATE = 1 << 2,     /* 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, fec0::/10 */
    NETGUARD_UNSPECIFIED = 1 << 3, /* 0/8, :: : never allowed */
    NETGUARD_MULTICAST = 1 << 4,   /* 224/4, 255.255.255.255, ff00::/8: never allowed */
    NETGUARD_INVALID = 1 << 5,     /* not an IPv4/IPv6 address: never allowed */
};

/* What may be reached: IMGPROXY_ALLOW_{LOOPBACK,LINK_LOCAL,PRIVATE}_SOURCE_ADDRESSES. */
struct netguard_policy {
    bool allow_loopback;
    bool allow_link_local;
    bool allow_private;
};

/*
 * The classes of an IPv4 address given as its 4 bytes in network order.
 */
unsigned netguard_classify_v4(const unsigned char a[4]);

/*
 * The classes of an IPv6 address (16 bytes, network order). Forms that embed
 * an IPv4 address carry the classes of the embedded address as well as their
 * own: v4-mapped ::ffff:0:0/96, SIIT ::ffff:0:0:0/96, v4-compatible ::/96,
 * 6to4 2002::/16, NAT64 64:ff9b::/96 and 64:ff9b:1::/48 (local-use, private in
 * itself), Teredo 2001::/32 (the client address, stored inverted) and ISATAP
 * interface identifiers (::0:5efe:a.b.c.d and ::200:5efe:a.b.c.d).
 */
unsigned netguard_classify_v6(const unsigned char a[16]);

/* The classes of a socket address (AF_INET or AF_INET6; anything else is INVALID). */
unsigned netguard_classify_sockaddr(const struct sockaddr *sa, socklen_t len);

/* Whether an address of classes cls may be reached under policy p. */
bool netguard_allowed(unsigned cls, const struct netguard_policy *p);

/*
 * Writes a short name of the most telling class in cls ("loopback",
 * "link-local", "private", "unspecified", "multicast", "invalid", "public");
 * a static string.
 */
const char *netguard_class_name(unsigned cls);

/*
 * Writes the numeric form of sa ("10.0.0.1", "::ffff:169.254.169.254") into
 * out (outlen bytes, always NUL-terminated).
 */
void netguard_format(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen);

/*
 * IMGPROXY_ALLOWED_SOURCES: whether url (len bytes) starts with one of the n
 * patterns. A pattern is a literal prefix in which `*` stands for any run of
 * characters other than `/` (imgproxy compiles it to ^ + the quoted pattern
 * with `*` as [^/]*); spaces around a pattern are ignored and an empty
 * pattern matches nothing. n == 0 allows everything. Returns -1 on allocation
 * failure, else 1 (allowed) or 0.
 */
int netguard_source_allowed(const char *url, size_t len, char *const *patterns, size_t n)
    __attribute__((warn_unused_result));

#endif
