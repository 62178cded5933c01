/* colour.c: ICC import to sRGB with black-point compensation; which formats keep a profile. */
#include <stdbool.h>
#include <string.h>

#include <vips/vips.h>

#include "colour.h"
#include "log.h"
#include "banned.h"

static const struct {
    const char *name;
    VipsIntent intent;
} intents[] = {
    {"perceptual", VIPS_INTENT_PERCEPTUAL},
    {"relative", VIPS_INTENT_RELATIVE},
    {"saturation", VIPS_INTENT_SATURATION},
    {"absolute", VIPS_INTENT_ABSOLUTE},
};

/*
 * Relative colorimetric with black-point compensation: Photoshop's default
 * for conversions, and what LittleCMS (jpgicc -t1 -b) produces; CMYK
 * printer profiles map their paper-black to sRGB black instead of a lifted
 * grey. Written once at start-up, read-only after.
 */
static VipsIntent the_intent = VIPS_INTENT_RELATIVE;

int colour_intent_parse(const char *s, size_t len, VipsIntent *out)
{
    for (size_t i = 0; i < sizeof(intents) / sizeof(intents[0]); i++) {
        if (strlen(intents[i].name) == len && memcmp(intents[i].name, s, len) == 0) {
            *out = intents[i].intent;
            return 0;
        }
    }
    return -1;
}

int colour_global_init(const char *intent)
{
    if (intent == NULL || intent[0] == '\0') {
        the_intent = VIPS_INTENT_RELATIVE;
        return 0;
    }
    if (colour_intent_parse(intent, strlen(intent), &the_intent) != 0) {
        log_error("IMGFCGI_COLOR_INTENT=%s: must be perceptual, relative, saturation or absolute",
                  intent);
        return -1;
    }
    return 0;
}

VipsIntent colour_intent(void)
{
    return the_intent;
}

bool colour_format_keeps_profile(enum imgtype t)
{
    switch (t) {
    case IMGTYPE_JPEG:
    case IMGTYPE_JXL:
    case IMGTYPE_PNG:
    case IMGTYPE_WEBP:
    case IMGTYPE_AVIF:
    case IMGTYPE_HEIC:
    case IMGTYPE_TIFF:
        return true;
    default:
        return false;
    }
}

int colour_import_srgb(VipsImage *in, VipsImage **out)
{
    /* Used only when the image has no profile of its own. */
    const char *fallback =
        vips_image_get_interpretation(in) == VIPS_INTERPRETATION_CMYK ? "cmyk" : "srgb";

    *out = NULL;
    return vips_icc_transform(in, out, "srgb", "embedded", TRUE, "input_profile", fallback,
                              "intent", the_intent, "black_point_compensation", TRUE, "depth", 8,
                              NULL);
}
