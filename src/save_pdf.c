/*
 * save_pdf.c: a PDF result through cairo's PDF surface. The page shows one
 * image whose pixels cairo never sees: the JPEG file is attached to the
 * source surface as mime data, and cairo's PDF backend writes those bytes
 * as the image's DCTDecode stream, taking width, height and colour space
 * from the JPEG's own header.
 */
#include <stdbool.h>
#include <stdint.h>

#include <cairo.h>
#include <cairo-pdf.h>

#include "save_pdf.h"
#include "banned.h"

struct pdf_sink {
    save_pdf_write_fn write;
    void *ctx;
    bool failed;
};

static cairo_status_t on_pdf_write(void *closure, const unsigned char *data, unsigned int length)
{
    struct pdf_sink *s = closure;

    if (!s->failed && s->write(s->ctx, data, length) < 0)
        s->failed = true;
    return s->failed ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

int save_pdf_jpeg(const unsigned char *jpeg, size_t len, int w, int h, save_pdf_write_fn write,
                  void *ctx, const char **why)
{
    struct pdf_sink sink = {write, ctx, false};
    cairo_surface_t *pdf = NULL, *img = NULL;
    cairo_t *cr = NULL;
    cairo_status_t st;

    *why = NULL;
    if (jpeg == NULL || len == 0 || len > UINT32_MAX || w < 1 || h < 1) {
        *why = "no JPEG to put in the PDF";
        return -1;
    }
    /* Points are 1/72 inch: a pixel a point. */
    pdf = cairo_pdf_surface_create_for_stream(on_pdf_write, &sink, w, h);
    /*
     * The JPEG's carrier is a 1 x 1 surface, stretched over the page: PDF
     * draws every image into the unit square of its transformation, and
     * the attached file supplies the w x h pixels, so no w x h pixel
     * buffer is ever allocated. RGB24 is opaque: nothing is analysed for
     * transparency.
     */
    img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    st = cairo_surface_set_mime_data(img, CAIRO_MIME_TYPE_JPEG, jpeg, len, NULL, NULL);
    if (st == CAIRO_STATUS_SUCCESS) {
        cr = cairo_create(pdf);
        cairo_scale(cr, w, h);
        cairo_set_source_surface(cr, img, 0, 0);
        cairo_paint(cr);
        cairo_show_page(cr);
        st = cairo_status(cr);
        cairo_destroy(cr);
    }
    /* Finishing writes the document; the JPEG is read until then. */
    cairo_surface_finish(pdf);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(pdf);
    cairo_surface_destroy(pdf);
    cairo_surface_destroy(img);
    if (sink.failed) {
        *why = "the PDF could not be written out";
        return -1;
    }
    if (st != CAIRO_STATUS_SUCCESS) {
        *why = cairo_status_to_string(st);
        return -1;
    }
    return 0;
}
