/* markup.c: Pango markup parsed by Pango itself, its size attributes bounded. */
#include <stdio.h>
#include <stdlib.h>

#include <pango/pango.h>

#include "markup.h"
#include "banned.h"

#define PT(v) ((double)(v) / PANGO_SCALE)

/* Whether one attribute stays within the bounds; why says which did not. */
static int check_attr(PangoAttribute *a, char *why, size_t whylen)
{
    PangoAttrInt *ai = pango_attribute_as_int(a);
    PangoAttrFloat *af = pango_attribute_as_float(a);
    PangoAttrSize *as = pango_attribute_as_size(a);
    PangoAttrFontDesc *fd = pango_attribute_as_font_desc(a);
    double v = 0, max = 0;
    const char *what = NULL;

    switch (a->klass->type) {
    case PANGO_ATTR_SIZE:
    case PANGO_ATTR_ABSOLUTE_SIZE:
    case PANGO_ATTR_BASELINE_SHIFT:
        v = as != NULL ? PT(as->size) : 0;
        max = MARKUP_MAX_SIZE_PT;
        what = a->klass->type == PANGO_ATTR_BASELINE_SHIFT ? "baseline shift" : "font size";
        break;
    case PANGO_ATTR_FONT_DESC:
        if (fd != NULL && (pango_font_description_get_set_fields(fd->desc) & PANGO_FONT_MASK_SIZE))
            v = PT(pango_font_description_get_size(fd->desc));
        max = MARKUP_MAX_SIZE_PT;
        what = "font size";
        break;
    case PANGO_ATTR_SCALE:
    case PANGO_ATTR_LINE_HEIGHT:
        v = af != NULL ? af->value : 0;
        max = MARKUP_MAX_SCALE;
        what = a->klass->type == PANGO_ATTR_SCALE ? "scale" : "line height";
        break;
    case PANGO_ATTR_LETTER_SPACING:
    case PANGO_ATTR_RISE:
    case PANGO_ATTR_ABSOLUTE_LINE_HEIGHT:
        v = ai != NULL ? PT(ai->value) : 0;
        max = a->klass->type == PANGO_ATTR_LETTER_SPACING ? MARKUP_MAX_SPACING_PT
                                                          : MARKUP_MAX_SIZE_PT;
        what = "spacing";
        break;
    default:
        return 0;
    }
    if (!(v >= -max && v <= max)) {
        snprintf(why, whylen, "%s %g is over %g", what, v, max);
        return -1;
    }
    return 0;
}

int markup_check(const char *s, size_t len, char *why, size_t whylen)
{
    PangoAttrList *attrs = NULL;
    GError *err = NULL;
    GSList *list, *l;
    int ret = 0;

    if (len > G_MAXINT) {
        snprintf(why, whylen, "too long");
        return -1;
    }
    if (!pango_parse_markup(s, (int)len, 0, &attrs, NULL, NULL, &err)) {
        snprintf(why, whylen, "%s", err != NULL ? err->message : "bad markup");
        if (err != NULL)
            g_error_free(err);
        return -1;
    }
    list = pango_attr_list_get_attributes(attrs);
    for (l = list; l != NULL; l = l->next) {
        if (ret == 0 && check_attr(l->data, why, whylen) < 0)
            ret = -1;
        pango_attribute_destroy(l->data);
    }
    g_slist_free(list);
    pango_attr_list_unref(attrs);
    return ret;
}
