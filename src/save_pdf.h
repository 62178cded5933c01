/* save_pdf.h: PDF results, a one-page PDF around a JPEG file, written by cairo. */
#ifndef IMGFCGI_SAVE_PDF_H
#define IMGFCGI_SAVE_PDF_H

#include <stddef.h>

/* Takes len bytes of the PDF (borrowed for the call); returns 0, or -1 to stop. */
typedef int (*save_pdf_write_fn)(void *ctx, const unsigned char *data, size_t len);

/*
 * Writes a one-page PDF holding the JPEG file jpeg (len bytes, borrowed; a
 * w x h image as libjpeg writes it, baseline or progressive) embedded byte
 * for byte (DCTDecode, read by cairo's PDF surface as attached mime data, so
 * it is neither decoded nor encoded again). The page is w x h points: the
 * image at 72 dpi. The PDF goes to write in pieces while cairo finishes the
 * document. Returns 0, or -1 with *why a static text (cairo's status, or a
 * failed write).
 */
int save_pdf_jpeg(const unsigned char *jpeg, size_t len, int w, int h, save_pdf_write_fn write,
                  void *ctx, const char **why) __attribute__((warn_unused_result));

#endif
