/*
 * fuzz_info.c: libFuzzer target for src/info.c: info_presets_add() on fuzzed
 * definitions, then info_options_apply_url() on fuzzed segments (info
 * presets and their recursion guard, crop and expires through the
 * processing parser, the security options), then the needs_* predicates.
 *
 * Input: byte 0 holds flags (bit 0 ',' as the arguments separator, bit 1
 * IMGPROXY_ALLOW_SECURITY_OPTIONS); then, up to the first '\n', info preset
 * definitions split by ';' ("name=opt/opt"); the rest is info option
 * segments split by '/'.
 *
 * With bit 2 of byte 0 set, the rest is instead a Photoshop image resource
 * block (JPEG APP13 "Photoshop 3.0" + 8BIM resources) for
 * inforeport_photoshop(), the /info "photoshop" walker. With bit 3 set, the
 * rest is an XMP packet for metadata_filter_xmp(), keep_copyright's filter.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "fuzzutil.h"
#include "info.h"
#include "inforeport.h"
#include "metadata.h"

#define SEGMENTS_MAX 64

static const char *const env[] = {NULL};

FUZZ_INIT_CONFIG(env)

/* inforeport_photoshop() on an exact-size copy; what it returns has the documented shape. */
static void fuzz_photoshop(const uint8_t *data, size_t size)
{
    unsigned char *copy = (unsigned char *)fuzz_dup(data, size);
    JsonObject *o = inforeport_photoshop(copy, size);

    free(copy);
    if (o == NULL)
        return;
    if (json_object_get_size(o) != 1 || !json_object_has_member(o, "resolution") ||
        json_object_get_size(json_object_get_object_member(o, "resolution")) != 6)
        abort();
    json_object_unref(o);
}

/* metadata_filter_xmp(): what it returns is its length, and filtering it again changes nothing. */
static void fuzz_xmp(const uint8_t *data, size_t size)
{
    char *copy = fuzz_dup(data, size);
    size_t n = 0, n2 = 0;
    char *out = metadata_filter_xmp(copy, size, &n);
    char *again;

    free(copy);
    if (out == NULL)
        return;
    again = metadata_filter_xmp(out, n, &n2);
    if (strlen(out) != n || again == NULL || n2 != n || memcmp(again, out, n) != 0)
        abort();
    g_free(again);
    g_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct infoopts io;
    struct errinfo e;
    const uint8_t *p, *end = data + size;
    char sep;
    bool saved_allow = cfg.allow_security_options;
    int nseg = 0;

    if (size < 1)
        return 0;
    if ((data[0] & 4) != 0) {
        fuzz_photoshop(data + 1, size - 1);
        return 0;
    }
    if ((data[0] & 8) != 0) {
        fuzz_xmp(data + 1, size - 1);
        return 0;
    }
    p = fuzz_option_head(data, size, info_presets_add, &sep);

    info_options_init(&io);
    err_clear(&e);
    while (p < end && nseg < SEGMENTS_MAX) {
        const uint8_t *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = slash != NULL ? (size_t)(slash - p) : (size_t)(end - p);
        char *seg = fuzz_dup(p, n);
        int ret = info_options_apply_url(&io, seg, n, sep, &e);

        free(seg);
        if (ret < 0)
            break;
        nseg++;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    /* What the parser accepted is within the bounds the report relies on. */
    if (io.blurhash_x < 0 || io.blurhash_x > INFO_BLURHASH_MAX || io.blurhash_y < 0 ||
        io.blurhash_y > INFO_BLURHASH_MAX || io.palette < 0 || io.palette > 256 ||
        io.palette == 1 || io.page < 0 || strlen(io.hashsum_hex) >= INFO_HASHSUM_HEX_MAX)
        abort();
    (void)info_needs_body(&io);
    (void)info_needs_pixels(&io);
    info_presets_release();
    cfg.allow_security_options = saved_allow;
    return 0;
}
