/* config.c: the one table of settings, parsed from the environment once at start-up. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "parse.h"
#include "banned.h"

struct config cfg;

enum conf_type {
    T_INT,        /* int in [min, max] */
    T_BOOL,       /* Go strconv.ParseBool spellings */
    T_STR,        /* char *, may be empty */
    T_MEGAPIXELS, /* float megapixels -> long long pixels */
    T_LLONG,      /* long long in [min, max] */
    T_HEXLIST,    /* comma list of hex strings -> struct bytes[] */
    T_STRLIST,    /* comma list -> struct strlist */
    T_FORMATQ,    /* "webp=79,avif=63" -> int[IMGTYPE_COUNT] */
    T_FORMATS,    /* "jpeg,png,gif" -> enum imgtype[] */
    T_SEPARATOR,  /* exactly one character */
    T_URLPATH,    /* cut at ? or #, no trailing /, leading / added */
    T_LOGLEVEL,   /* debug|info|warn|error */
    T_OCTAL,      /* file mode */
    T_DIR,        /* existing directory, realpath'd; "" = off */
    T_DOUBLE,     /* double in (min/1000, max/1000] */
    T_TYPES,      /* "jpeg,png" -> bool[IMGTYPE_COUNT], any known type, may be empty */
    T_BYTES,      /* bytes with an optional k/M/G suffix (1024-based) -> long long in [min, max];
                     min -1: also "auto", stored as -1 */
};

struct conf_var {
    const char *name;
    enum conf_type type;
    size_t offset;
    size_t count_offset; /* T_HEXLIST: where the count goes; T_FORMATS too */
    const char *def;
    long long min, max;
    const char *doc;
};

#define OFF(f) offsetof(struct config, f)

static const struct conf_var vars[] = {
    /* FastCGI process */
    {"IMGPROXY_WORKERS", T_INT, OFF(workers), 0, "0", 0, 1024,
     "images processed at once; 0 = 2 x online CPUs, or 1 under PHP_FCGI_CHILDREN=1 (lighttpd)"},
    {"IMGFCGI_CONNECTIONS", T_INT, OFF(connections), 0, "0", 0, 4096,
     "FastCGI connection threads (idle kept nginx connections hold one each); 0 = workers + 32"},
    {"IMGFCGI_LISTEN", T_STR, OFF(listen), 0, "127.0.0.1:9000", 0, 0,
     "unix socket path or host:port to listen on when the host passes no socket on fd 0"},
    {"IMGFCGI_LISTEN_BACKLOG", T_INT, OFF(listen_backlog), 0, "1024", 1, 65535,
     "listen(2) backlog of a socket imgfcgi opens itself"},
    {"IMGFCGI_LISTEN_MODE", T_OCTAL, OFF(listen_mode), 0, "0660", 0, 0777,
     "permissions of a unix socket imgfcgi opens itself"},
    {"IMGFCGI_VIPS_CONCURRENCY", T_INT, OFF(vips_concurrency), 0, "1", 1, 64,
     "libvips threads per request; requests already run in parallel"},
    {"IMGFCGI_CPU_HOMES", T_BOOL, OFF(cpu_homes), 0, "false", 0, 0,
     "while every core has a request, each request's threads stay on its own core "
     "(with IMGFCGI_VIPS_CONCURRENCY=1)"},
    {"IMGPROXY_TIMEOUT", T_INT, OFF(timeout), 0, "10", 1, 3600,
     "request deadline, seconds from accept: queue wait, download, processing; then 503"},
    {"IMGPROXY_REQUESTS_QUEUE_SIZE", T_INT, OFF(requests_queue_size), 0, "0", 0, 1000000,
     "requests that may wait for a worker; one more gets 429 at once; 0 = no limit"},
    {"IMGPROXY_GRACEFUL_STOP_TIMEOUT", T_INT, OFF(graceful_stop_timeout), 0, "0", 0, 3600,
     "seconds in-flight requests get after SIGTERM; 0 = 2 x IMGPROXY_TIMEOUT"},
    {"IMGFCGI_LOG_LEVEL", T_LOGLEVEL, OFF(log_level), 0, "info", 0, 0,
     "debug, info, warn or error"},

    /* URL and signature */
    {"IMGPROXY_PATH_PREFIX", T_URLPATH, OFF(path_prefix), 0, "", 0, 0,
     "prefix removed from every request path, e.g. /img"},
    {"IMGPROXY_KEY", T_HEXLIST, OFF(keys), OFF(nkeys), "", 0, 0,
     "hex-encoded signature keys, comma-separated; unset = signatures not checked"},
    {"IMGPROXY_SALT", T_HEXLIST, OFF(salts), OFF(nsalts), "", 0, 0,
     "hex-encoded salts, one per key"},
    {"IMGPROXY_SIGNATURE_SIZE", T_INT, OFF(signature_size), 0, "32", 1, 32,
     "bytes of the HMAC kept in the signature"},
    {"IMGPROXY_TRUSTED_SIGNATURES", T_STRLIST, OFF(trusted_signatures), 0, "", 0, 0,
     "signatures accepted as they are, comma-separated"},
    {"IMGPROXY_ARGUMENTS_SEPARATOR", T_SEPARATOR, OFF(arguments_separator), 0, ":", 0, 0,
     "separator between an option's arguments"},
    {"IMGPROXY_HEALTH_CHECK_PATH", T_URLPATH, OFF(health_check_path), 0, "", 0, 0,
     "extra health-check path besides /health"},
    {"IMGPROXY_DEVELOPMENT_ERRORS_MODE", T_BOOL, OFF(development_errors_mode), 0, "false", 0, 0,
     "error bodies carry the detailed message"},

    /* Sources */
    {"IMGPROXY_DOWNLOAD_TIMEOUT", T_INT, OFF(download_timeout), 0, "5", 1, 3600,
     "seconds for a whole download: connect, headers and body"},
    {"IMGPROXY_MAX_REDIRECTS", T_INT, OFF(max_redirects), 0, "10", 0, 100,
     "redirects followed per download"},
    {"IMGPROXY_USER_AGENT", T_STR, OFF(user_agent), 0, "imgfcgi/%current_version", 0, 0,
     "User-Agent sent to origins; %current_version is replaced"},
    {"IMGPROXY_LOCAL_FILESYSTEM_ROOT", T_DIR, OFF(local_root), 0, "", 0, 0,
     "directory served as local:///; empty = local:// disabled"},
    {"IMGPROXY_SOURCE_URL_QUERY_SEPARATOR", T_STR, OFF(source_url_query_separator), 0, "?", 0, 0,
     "separator of a query in local:// and storage URLs (s3 version id); set but empty = none"},
    {"IMGPROXY_IGNORE_SSL_VERIFICATION", T_BOOL, OFF(ignore_ssl_verification), 0, "false", 0, 0,
     "do not verify origins' TLS certificates"},
    {"IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", T_BOOL, OFF(allow_loopback_source_addresses), 0,
     "false", 0, 0,
     "allow sources on loopback addresses (127/8, ::1 and IPv6 forms embedding them)"},
    {"IMGPROXY_ALLOW_LINK_LOCAL_SOURCE_ADDRESSES", T_BOOL, OFF(allow_link_local_source_addresses),
     0, "false", 0, 0,
     "allow sources on link-local addresses (169.254/16, fe80::/10): cloud metadata lives there"},
    {"IMGPROXY_ALLOW_PRIVATE_SOURCE_ADDRESSES", T_BOOL, OFF(allow_private_source_addresses), 0,
     "true", 0, 0,
     "allow sources on private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7)"},
    {"IMGPROXY_ALLOWED_SOURCES", T_STRLIST, OFF(allowed_sources), 0, "", 0, 0,
     "source URL prefixes allowed, comma-separated, * = any run of non-/ characters; empty = all"},
    {"IMGPROXY_MAX_SRC_RESOLUTION", T_MEGAPIXELS, OFF(max_src_resolution), 0, "50", 0, 0,
     "largest source, megapixels, checked from the header before decoding"},
    {"IMGPROXY_MAX_SRC_FILE_SIZE", T_LLONG, OFF(max_src_file_size), 0, "0", 0, LLONG_MAX,
     "largest source file, bytes; 0 = no limit"},
    {"IMGPROXY_SANITIZE_SVG", T_BOOL, OFF(sanitize_svg), 0, "true", 0, 0,
     "remove scripts, event handlers and external references from SVGs passed through"},
    {"IMGPROXY_ALWAYS_RASTERIZE_SVG", T_BOOL, OFF(always_rasterize_svg), 0, "false", 0, 0,
     "rasterise SVG sources even when no other format is asked for"},
    {"IMGPROXY_MAX_SVG_CHECK_BYTES", T_INT, OFF(max_svg_check_bytes), 0, "32768", 1, INT_MAX,
     "bytes scanned to recognise an SVG"},
    {"IMGFCGI_MAX_SVG_FILE_SIZE", T_LLONG, OFF(max_svg_file_size), 0, "10485760", 0, LLONG_MAX,
     "largest SVG source, bytes, refused while it downloads; 0 = only MAX_SRC_FILE_SIZE"},

    /* Object stores: abs:// (src/store_abs.c) and gs:// (src/store_gcs.c) */
    {"IMGPROXY_USE_ABS", T_BOOL, OFF(use_abs), 0, "false", 0, 0,
     "serve abs://container/blob sources from Azure Blob Storage"},
    {"IMGPROXY_ABS_NAME", T_STR, OFF(abs_name), 0, "", 0, 0,
     "Azure storage account name; required with IMGPROXY_USE_ABS"},
    {"IMGPROXY_ABS_KEY", T_STR, OFF(abs_key), 0, "", 0, 0,
     "Azure account key (base64) for Shared Key signing; required with IMGPROXY_USE_ABS"},
    {"IMGPROXY_ABS_ENDPOINT", T_STR, OFF(abs_endpoint), 0, "", 0, 0,
     "Blob service URL; empty = https://NAME.blob.core.windows.net"},
    {"IMGPROXY_USE_GCS", T_BOOL, OFF(use_gcs), 0, "false", 0, 0,
     "serve gs://bucket/object sources from Google Cloud Storage (unset with a key: on)"},
    {"IMGPROXY_GCS_KEY", T_STR, OFF(gcs_key), 0, "", 0, 0,
     "JSON text of a service-account key; required with IMGPROXY_USE_GCS"},
    {"IMGPROXY_GCS_ENDPOINT", T_STR, OFF(gcs_endpoint), 0,
     "https://storage.googleapis.com/storage/v1/", 0, 0,
     "GCS JSON API base URL; media reads use its scheme and host"},

    /* Output */
    {"IMGPROXY_QUALITY", T_INT, OFF(quality), 0, "80", 1, 100, "default output quality"},
    {"IMGPROXY_FORMAT_QUALITY", T_FORMATQ, OFF(format_quality), 0, "webp=79,avif=63,jxl=77", 1, 100,
     "per-format quality, format=q comma list"},
    {"IMGPROXY_PREFERRED_FORMATS", T_FORMATS, OFF(preferred_formats), OFF(npreferred_formats),
     "jpeg,png,gif", 0, 0, "output formats chosen when the URL names none"},
    {"IMGPROXY_AUTO_WEBP", T_BOOL, OFF(auto_webp), 0, "false", 0, 0,
     "WebP when the client's Accept has image/webp"},
    {"IMGPROXY_ENFORCE_WEBP", T_BOOL, OFF(enforce_webp), 0, "false", 0, 0,
     "WebP when accepted, even if the URL names a format"},
    {"IMGPROXY_AUTO_AVIF", T_BOOL, OFF(auto_avif), 0, "false", 0, 0,
     "AVIF when the client's Accept has image/avif"},
    {"IMGPROXY_ENFORCE_AVIF", T_BOOL, OFF(enforce_avif), 0, "false", 0, 0,
     "AVIF when accepted, even if the URL names a format"},
    {"IMGPROXY_AUTO_JXL", T_BOOL, OFF(auto_jxl), 0, "false", 0, 0,
     "JPEG XL when the client's Accept has image/jxl"},
    {"IMGPROXY_ENFORCE_JXL", T_BOOL, OFF(enforce_jxl), 0, "false", 0, 0,
     "JPEG XL when accepted, even if the URL names a format"},
    {"IMGPROXY_JPEG_PROGRESSIVE", T_BOOL, OFF(jpeg_progressive), 0, "false", 0, 0,
     "interlaced (progressive) JPEG output"},
    {"IMGPROXY_PNG_INTERLACED", T_BOOL, OFF(png_interlaced), 0, "false", 0, 0,
     "interlaced PNG output"},
    {"IMGFCGI_PNG_COMPRESSION", T_INT, OFF(png_compression), 0, "6", 0, 9,
     "zlib level of PNG output: lower is faster and larger"},
    {"IMGFCGI_PNG_FILTER", T_STR, OFF(png_filter_name), 0, "all", 0, 0,
     "PNG row filter: all (adaptive, imgproxy's), none, sub, up, avg or paeth"},
    {"IMGPROXY_PNG_QUANTIZE", T_BOOL, OFF(png_quantize), 0, "false", 0, 0,
     "palette PNG output (libimagequant)"},
    {"IMGPROXY_PNG_QUANTIZATION_COLORS", T_INT, OFF(png_quantization_colors), 0, "256", 2, 256,
     "colours of a quantised PNG"},
    {"IMGPROXY_WEBP_EFFORT", T_INT, OFF(webp_effort), 0, "4", 1, 6, "WebP encoder effort"},
    {"IMGPROXY_AVIF_SPEED", T_INT, OFF(avif_speed), 0, "8", 0, 9,
     "AVIF encoder speed; libvips effort = 9 - speed"},
    {"IMGPROXY_JXL_EFFORT", T_INT, OFF(jxl_effort), 0, "4", 1, 9, "JPEG XL encoder effort"},
    {"IMGPROXY_JPEG_NO_SUBSAMPLE", T_BOOL, OFF(jpeg_no_subsample), 0, "false", 0, 0,
     "JPEG without chroma subsampling (4:4:4)"},
    {"IMGPROXY_JPEG_TRELLIS_QUANT", T_BOOL, OFF(jpeg_trellis_quant), 0, "false", 0, 0,
     "JPEG trellis quantisation (needs libvips built with mozjpeg)"},
    {"IMGPROXY_JPEG_OVERSHOOT_DERINGING", T_BOOL, OFF(jpeg_overshoot_deringing), 0, "false", 0, 0,
     "JPEG overshoot deringing (needs libvips built with mozjpeg)"},
    {"IMGPROXY_JPEG_OPTIMIZE_SCANS", T_BOOL, OFF(jpeg_optimize_scans), 0, "false", 0, 0,
     "optimise progressive JPEG scans (progressive only; needs mozjpeg)"},
    {"IMGPROXY_JPEG_QUANT_TABLE", T_INT, OFF(jpeg_quant_table), 0, "0", 0, 8,
     "JPEG quantisation table 0..8 (needs mozjpeg)"},
    {"IMGPROXY_WEBP_COMPRESSION", T_STR, OFF(webp_compression_name), 0, "lossy", 0, 0,
     "WebP compression: lossy, near_lossless or lossless"},
    {"IMGPROXY_WEBP_SMART_SUBSAMPLE", T_BOOL, OFF(webp_smart_subsample), 0, "false", 0, 0,
     "WebP sharper chroma subsampling (slower)"},
    {"IMGPROXY_WEBP_PRESET", T_STR, OFF(webp_preset_name), 0, "default", 0, 0,
     "libwebp preset: default, picture, photo, drawing, icon, text"},
    {"IMGPROXY_AVIF_SUBSAMPLE", T_STR, OFF(avif_subsample_name), 0, "auto", 0, 0,
     "AVIF chroma subsampling: auto (below quality 90), on, off"},
    {"IMGPROXY_UNSHARP_MASKING_MODE", T_STR, OFF(unsharp_masking_mode_name), 0, "none", 0, 0,
     "unsharp masking: none, auto (downscaled results without sharpen) or always; none keeps "
     "open-source imgproxy's results"},
    {"IMGPROXY_UNSHARP_MASKING_WEIGHT", T_DOUBLE, OFF(unsharp_masking_weight), 0, "1", 0, 100000,
     "unsharp masking weight (> 0, larger is sharper)"},
    {"IMGPROXY_UNSHARP_MASKING_DIVIDER", T_DOUBLE, OFF(unsharp_masking_divider), 0, "24", 0, 100000,
     "unsharp masking divider (> 0, smaller is sharper)"},
    {"IMGPROXY_COLOR_PROFILES_DIR", T_STR, OFF(color_profiles_dir), 0, "/usr/share/color/icc", 0, 0,
     "directory of the ICC files color_profile may name"},
    {"IMGPROXY_STRIP_METADATA", T_BOOL, OFF(strip_metadata), 0, "true", 0, 0,
     "drop EXIF, XMP and IPTC from results"},
    {"IMGPROXY_STRIP_COLOR_PROFILE", T_BOOL, OFF(strip_color_profile), 0, "true", 0, 0,
     "convert to sRGB and drop the ICC profile"},
    {"IMGFCGI_COLOR_INTENT", T_STR, OFF(color_intent), 0, "relative", 0, 0,
     "ICC intent to sRGB, with black-point compensation: perceptual, relative, saturation, "
     "absolute"},
    {"IMGPROXY_AUTO_ROTATE", T_BOOL, OFF(auto_rotate), 0, "true", 0, 0,
     "rotate by the EXIF orientation"},
    {"IMGPROXY_DISABLE_SHRINK_ON_LOAD", T_BOOL, OFF(disable_shrink_on_load), 0, "false", 0, 0,
     "decode at full size even when the codec could shrink (slower)"},
    {"IMGPROXY_RETURN_ATTACHMENT", T_BOOL, OFF(return_attachment), 0, "false", 0, 0,
     "Content-Disposition: attachment instead of inline by default"},
    {"IMGPROXY_TTL", T_INT, OFF(ttl), 0, "31536000", 0, INT_MAX,
     "Cache-Control max-age of results, seconds"},
    /* Best format and autoquality (docs/best-format.md) */
    {"IMGPROXY_BEST_FORMAT_COMPLEXITY_THRESHOLD", T_DOUBLE, OFF(best_format_complexity_threshold),
     0, "5.5", -1, 255000,
     "format:best: below this complexity lossless formats are tried, above it lossy; 0 = try all"},
    {"IMGPROXY_BEST_FORMAT_MAX_RESOLUTION", T_MEGAPIXELS, OFF(best_format_max_resolution), 0, "0",
     -1, 0, "format:best: larger results get one format chosen by complexity, megapixels; 0 = off"},
    {"IMGPROXY_BEST_FORMAT_BY_DEFAULT", T_BOOL, OFF(best_format_by_default), 0, "false", 0, 0,
     "format:best whenever the URL names no format"},
    {"IMGPROXY_BEST_FORMAT_ALLOW_SKIPS", T_BOOL, OFF(best_format_allow_skips), 0, "false", 0, 0,
     "format:best still passes SVG and skip_processing sources through unprocessed"},
    {"IMGPROXY_AUTOQUALITY_METHOD", T_STR, OFF(autoquality_method_name), 0, "none", 0, 0,
     "autoquality method: none, size, dssim or ml (ml runs as dssim: no model is loaded)"},
    {"IMGPROXY_AUTOQUALITY_TARGET", T_DOUBLE, OFF(autoquality_target), 0, "0.02", 0,
     1000000000000000LL, "autoquality target: bytes for size, DSSIM for dssim and ml"},
    {"IMGPROXY_AUTOQUALITY_MIN", T_INT, OFF(autoquality_min), 0, "70", 1, 100,
     "lowest quality autoquality may choose"},
    {"IMGPROXY_AUTOQUALITY_FORMAT_MIN", T_FORMATQ, OFF(autoquality_format_min), 0, "avif=60", 1,
     100, "per-format lowest autoquality, format=q comma list"},
    {"IMGPROXY_AUTOQUALITY_MAX", T_INT, OFF(autoquality_max), 0, "80", 1, 100,
     "highest quality autoquality may choose"},
    {"IMGPROXY_AUTOQUALITY_FORMAT_MAX", T_FORMATQ, OFF(autoquality_format_max), 0, "avif=65", 1,
     100, "per-format highest autoquality, format=q comma list"},
    {"IMGPROXY_AUTOQUALITY_ALLOWED_ERROR", T_DOUBLE, OFF(autoquality_allowed_error), 0, "0.001", -1,
     1000, "dssim/ml: accepted distance of the result's DSSIM from the target"},
    {"IMGPROXY_AUTOQUALITY_MAX_RESOLUTION", T_MEGAPIXELS, OFF(autoquality_max_resolution), 0, "0",
     -1, 0, "results larger than this many megapixels skip autoquality; 0 = no limit"},
    {"IMGFCGI_MAX_ENCODES", T_INT, OFF(max_encodes), 0, "8", 1, 64,
     "encodes of one result that format:best and autoquality may make per request"},

    /* HTTP semantics */
    {"IMGPROXY_CACHE_CONTROL_PASSTHROUGH", T_BOOL, OFF(cache_control_passthrough), 0, "false", 0, 0,
     "copy the origin's Cache-Control (or use its Expires) instead of IMGPROXY_TTL"},
    {"IMGPROXY_USE_ETAG", T_BOOL, OFF(use_etag), 0, "false", 0, 0,
     "send ETag, answer If-None-Match with 304 and revalidate at the origin"},
    {"IMGPROXY_ETAG_BUSTER", T_STR, OFF(etag_buster), 0, "", 0, 0,
     "change it to invalidate every ETag issued before"},
    {"IMGPROXY_USE_LAST_MODIFIED", T_BOOL, OFF(use_last_modified), 0, "false", 0, 0,
     "send the origin's Last-Modified and forward If-Modified-Since"},
    {"IMGPROXY_SET_CANONICAL_HEADER", T_BOOL, OFF(set_canonical_header), 0, "false", 0, 0,
     "send Link: <source>; rel=\"canonical\" for http(s) sources"},
    {"IMGPROXY_ENABLE_DEBUG_HEADERS", T_BOOL, OFF(enable_debug_headers), 0, "false", 0, 0,
     "send X-Origin-Content-Length, X-Origin-Width/Height, X-Result-Width/Height"},
    {"IMGPROXY_ALLOW_ORIGIN", T_STR, OFF(allow_origin), 0, "", 0, 0,
     "Access-Control-Allow-Origin value; empty = no CORS headers"},
    {"IMGPROXY_SECRET", T_STR, OFF(secret), 0, "", 0, 0,
     "require Authorization: Bearer <secret> on image requests; empty = off"},
    {"IMGPROXY_COOKIE_PASSTHROUGH", T_BOOL, OFF(cookie_passthrough), 0, "false", 0, 0,
     "forward the client's cookies to origins on the cookie base host"},
    {"IMGPROXY_COOKIE_BASE_URL", T_STR, OFF(cookie_base_url), 0, "", 0, 0,
     "URL the client's cookies belong to; empty = the request's own host"},
    {"IMGPROXY_COOKIE_PASSTHROUGH_ALL", T_BOOL, OFF(cookie_passthrough_all), 0, "false", 0, 0,
     "forward the client's cookies to every origin"},
    {"IMGPROXY_FALLBACK_IMAGE_DATA", T_STR, OFF(fallback_image_data), 0, "", 0, 0,
     "base64 image sent when a download fails"},
    {"IMGPROXY_FALLBACK_IMAGE_PATH", T_STR, OFF(fallback_image_path), 0, "", 0, 0,
     "file sent when a download fails (if no _DATA)"},
    {"IMGPROXY_FALLBACK_IMAGE_URL", T_STR, OFF(fallback_image_url), 0, "", 0, 0,
     "URL fetched once at start and sent when a download fails (if no _DATA/_PATH)"},
    {"IMGPROXY_FALLBACK_IMAGE_HTTP_CODE", T_INT, OFF(fallback_image_http_code), 0, "200", 0, 599,
     "status sent with the fallback image; 0 = the download error's status"},
    {"IMGPROXY_FALLBACK_IMAGE_TTL", T_INT, OFF(fallback_image_ttl), 0, "0", 0, INT_MAX,
     "Cache-Control max-age with the fallback image, seconds; 0 = IMGPROXY_TTL"},
    {"IMGPROXY_KEEP_COPYRIGHT", T_BOOL, OFF(keep_copyright), 0, "true", 0, 0,
     "keep copyright and author metadata when stripping"},
    {"IMGPROXY_ENFORCE_THUMBNAIL", T_BOOL, OFF(enforce_thumbnail), 0, "false", 0, 0,
     "use the thumbnail embedded in HEIC/AVIF sources when there is one"},
    {"IMGPROXY_SKIP_PROCESSING_FORMATS", T_TYPES, OFF(skip_processing), 0, "", 0, 0,
     "source formats sent as they are when the result format is the same"},

    /* Processing options and presets */
    {"IMGPROXY_ALLOWED_PROCESSING_OPTIONS", T_STRLIST, OFF(allowed_processing_options), 0, "", 0, 0,
     "option names allowed in URLs, comma-separated; empty = all"},
    {"IMGPROXY_ALLOW_SECURITY_OPTIONS", T_BOOL, OFF(allow_security_options), 0, "false", 0, 0,
     "allow the max_src_resolution, max_src_file_size, ... options in URLs"},
    {"IMGPROXY_MAX_ANIMATION_FRAMES", T_INT, OFF(max_animation_frames), 0, "1", 1, 100000,
     "frames of an animation processed; 1 = first frame only"},
    {"IMGPROXY_MAX_ANIMATION_FRAME_RESOLUTION", T_MEGAPIXELS, OFF(max_animation_frame_resolution),
     0, "0", -1, 0, "largest animation frame, megapixels; 0 = frames x size vs MAX_SRC_RESOLUTION"},
    {"IMGPROXY_MAX_RESULT_DIMENSION", T_INT, OFF(max_result_dimension), 0, "0", 0, INT_MAX,
     "largest result side, pixels; larger results are scaled down; 0 = no limit"},
    {"IMGPROXY_PRESETS", T_STR, OFF(presets), 0, "", 0, 0,
     "presets: name=opt/opt entries split by IMGPROXY_PRESETS_SEPARATOR"},
    {"IMGPROXY_PRESETS_SEPARATOR", T_SEPARATOR, OFF(presets_separator), 0, ",", 0, 0,
     "separator between the entries of IMGPROXY_PRESETS"},
    {"IMGPROXY_PRESETS_PATH", T_STR, OFF(presets_path), 0, "", 0, 0,
     "file with one preset per line; # starts a comment"},
    {"IMGPROXY_ONLY_PRESETS", T_BOOL, OFF(only_presets), 0, "false", 0, 0,
     "URLs carry preset names (p1:p2) in place of options"},
    {"IMGPROXY_INFO_PRESETS", T_STR, OFF(info_presets), 0, "", 0, 0,
     "/info presets: name=opt/opt entries split by IMGPROXY_PRESETS_SEPARATOR"},
    {"IMGPROXY_INFO_PRESETS_PATH", T_STR, OFF(info_presets_path), 0, "", 0, 0,
     "file with one /info preset per line; # starts a comment"},
    {"IMGPROXY_INFO_ONLY_PRESETS", T_STR, OFF(info_only_presets), 0, "", 0, 0,
     "/info URLs carry info preset names in place of options; empty = IMGPROXY_ONLY_PRESETS"},
    {"IMGPROXY_ALLOWED_INFO_OPTIONS", T_STRLIST, OFF(allowed_info_options), 0, "", 0, 0,
     "info option names allowed in /info URLs, comma-separated; empty = all"},
    {"IMGPROXY_BASE_URL", T_STR, OFF(base_url), 0, "", 0, 0,
     "prefix added to source URLs that do not start with it"},
    {"IMGPROXY_URL_REPLACEMENTS", T_STR, OFF(url_replacements), 0, "", 0, 0,
     "pattern=replacement pairs split by ';' applied to source URL prefixes; * and ${N}"},
    {"IMGPROXY_BASE64_URL_INCLUDES_FILENAME", T_BOOL, OFF(base64_url_includes_filename), 0, "false",
     0, 0, "the last segment of a base64 source URL is a file name, ignored"},
    /* Pro sources and chains (docs/pro-sources.md) */
    {"IMGPROXY_SOURCE_URL_ENCRYPTION_KEY", T_HEXLIST, OFF(source_url_encryption_key),
     OFF(nsource_url_encryption_key), "", 0, 0,
     "hex AES key (16, 24 or 32 bytes) of /enc/ source URLs; empty = /enc/ refused"},
    {"IMGPROXY_MAX_CHAINED_PIPELINES", T_INT, OFF(max_chained_pipelines), 0, "0", 0, 32,
     "pipelines a URL may chain with - (the first counted, presets' not); 0 = up to 32"},
    {"IMGPROXY_FALLBACK_IMAGES_CACHE_SIZE", T_INT, OFF(fallback_images_cache_size), 0, "256", 0,
     100000, "fallback_image_url images kept in memory; 0 = fetched every time"},
    {"IMGFCGI_FALLBACK_IMAGES_CACHE_BYTES", T_BYTES, OFF(fallback_images_cache_bytes), 0, "64M", 0,
     1LL << 40, "bytes the fallback_image_url cache may hold"},
    {"IMGPROXY_FALLBACK_IMAGE_PREPROCESS_URL", T_BOOL, OFF(fallback_image_preprocess_url), 0,
     "false", 0, 0, "apply IMGPROXY_URL_REPLACEMENTS and IMGPROXY_BASE_URL to fallback_image_url"},
    {"IMGPROXY_WATERMARK_PREPROCESS_URL", T_BOOL, OFF(watermark_preprocess_url), 0, "false", 0, 0,
     "apply IMGPROXY_URL_REPLACEMENTS and IMGPROXY_BASE_URL to watermark_url"},
    {"IMGPROXY_WATERMARK_DATA", T_STR, OFF(watermark_data), 0, "", 0, 0,
     "watermark image, base64-encoded"},
    {"IMGPROXY_WATERMARK_PATH", T_STR, OFF(watermark_path), 0, "", 0, 0,
     "watermark image file, read at start-up"},
    {"IMGPROXY_WATERMARK_URL", T_STR, OFF(watermark_url), 0, "", 0, 0,
     "watermark image URL, downloaded at start-up"},
    {"IMGPROXY_WATERMARK_OPACITY", T_DOUBLE, OFF(watermark_opacity), 0, "1", 0, 1000,
     "opacity multiplied into every watermark's, (0, 1]"},
    {"IMGPROXY_WATERMARKS_CACHE_SIZE", T_INT, OFF(watermarks_cache_size), 0, "256", 0, 1000000,
     "watermark_url images kept in memory (least recently used go first); 0 = no cache"},
    {"IMGFCGI_WATERMARKS_CACHE_BYTES", T_LLONG, OFF(watermarks_cache_bytes), 0, "67108864", 0,
     LLONG_MAX, "bytes of watermark_url images kept in memory at most"},
    {"IMGFCGI_WATERMARK_FONT", T_STR, OFF(watermark_font), 0, "sans 16", 0, 0,
     "Pango font of watermark_text (family and size in points)"},
    {"IMGFCGI_WATERMARK_TEXT_DPI", T_INT, OFF(watermark_text_dpi), 0, "72", 1, 1200,
     "resolution watermark_text is rendered at, times the request's dpr"},
    {"IMGFCGI_WATERMARK_TEXT_MAX_PIXELS", T_LLONG, OFF(watermark_text_max_pixels), 0, "4000000", 1,
     LLONG_MAX, "largest rendered watermark_text, pixels; a larger one is refused (422)"},
    {"IMGFCGI_ENABLE_PDF", T_BOOL, OFF(enable_pdf), 0, "false", 0, 0,
     "read PDF sources with libvips' poppler loader (untrusted code); off: PDF is refused (422)"},
    {"IMGPROXY_PDF_NO_BACKGROUND", T_BOOL, OFF(pdf_no_background), 0, "false", 0, 0,
     "PDF pages keep their transparent background (formats with alpha); off: drawn over white"},
    {"IMGFCGI_MAX_PAGES", T_INT, OFF(max_pages), 0, "10", 1, 1000,
     "pages (PDF, TIFF) or frames one request may stack with `pages`; more is refused (422)"},
    {"IMGPROXY_ENABLE_CLIENT_HINTS", T_BOOL, OFF(enable_client_hints), 0, "false", 0, 0,
     "take dpr and width from the DPR/Width client-hint headers"},
    /* Memory and telemetry */
    {"IMGPROXY_DOWNLOAD_BUFFER_SIZE", T_LLONG, OFF(download_buffer_size), 0, "0", 0, INT_MAX,
     "smallest size of a new download buffer, bytes; 0 = what calibration finds"},
    {"IMGPROXY_BUFFER_POOL_CALIBRATION_THRESHOLD", T_INT, OFF(buffer_pool_calibration_threshold), 0,
     "1024", 64, INT_MAX, "returned download buffers between two calibrations of the pool's sizes"},
    {"IMGPROXY_FREE_MEMORY_INTERVAL", T_INT, OFF(free_memory_interval), 0, "10", 1, 86400,
     "seconds between trims of the buffer pool and releases of free memory to the OS"},
    {"IMGFCGI_MEMORY_RELEASE", T_BOOL, OFF(memory_release), 0, "true", 0, 0,
     "call malloc_trim / jemalloc purge / tcmalloc release every interval"},
    {"IMGPROXY_LOG_MEM_STATS", T_BOOL, OFF(log_mem_stats), 0, "false", 0, 0,
     "log RSS, libvips and pool memory every IMGPROXY_FREE_MEMORY_INTERVAL"},
    {"IMGFCGI_MEMORY_BUDGET", T_BYTES, OFF(memory_budget), 0, "auto", -1, LLONG_MAX / 2,
     "admit requests while their memory estimates in flight fit, e.g. 256M; auto = half the "
     "cgroup memory limit or of the machine's memory; 0 = off"},
    {"IMGFCGI_ADMISSION_WAIT_MS", T_INT, OFF(admission_wait_ms), 0, "0", 0, 3600000,
     "with a memory budget: the longest a request waits for memory before a 503 with "
     "Retry-After, so a front can try another host; 0 = until the request's deadline"},
    {"IMGFCGI_BUFFER_RESULT", T_BOOL, OFF(buffer_result), 0, "false", 0, 0,
     "encode the whole result before its headers leave, so a front can retry a host that "
     "dies or stalls mid-answer; false = stream PNG and large JPEG results as rows are done"},
    {"IMGFCGI_MALLOC_TRIM_THRESHOLD", T_BYTES, OFF(malloc_trim_threshold), 0, "64M", 0, 4LL << 30,
     "glibc malloc with MALLOC_ARENA_MAX set: free memory an arena keeps for the next "
     "request (M_TRIM_THRESHOLD; M_MMAP_THRESHOLD the same, at most 32M); 0 = glibc's "
     "dynamic thresholds"},
    {"IMGFCGI_METRICS_PATH", T_URLPATH, OFF(metrics_path), 0, "", 0, 0,
     "path of the Prometheus metrics, e.g. /metrics; empty = no metrics endpoint"},
    {"IMGFCGI_PLAYGROUND", T_BOOL, OFF(playground), 0, "false", 0, 0,
     "serve the playground and the live memory view at / and its signing endpoint"},
    {"IMGFCGI_PLAYGROUND_ORIGIN", T_STR, OFF(playground_origin), 0, "", 0, 0,
     "source URL prefix the playground may sign besides local://, e.g. https://img.example.com/"},
    /* Object-store sources (docs/storage.md) */
    {"IMGPROXY_USE_S3", T_BOOL, OFF(use_s3), 0, "false", 0, 0,
     "enable s3:// sources (credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws)"},
    {"IMGPROXY_S3_REGION", T_STR, OFF(s3_region), 0, "", 0, 0,
     "S3 region; empty = AWS_REGION, AWS_DEFAULT_REGION, ~/.aws/config, then us-west-1"},
    {"IMGPROXY_S3_ENDPOINT", T_STR, OFF(s3_endpoint), 0, "", 0, 0,
     "S3-compatible endpoint, e.g. http://127.0.0.1:9000 (http:// added when no scheme); "
     "empty = AWS"},
    {"IMGPROXY_S3_ENDPOINT_USE_PATH_STYLE", T_BOOL, OFF(s3_endpoint_use_path_style), 0, "true", 0,
     0, "with IMGPROXY_S3_ENDPOINT: ENDPOINT/bucket/key; false = bucket.HOST/key"},
    {"IMGPROXY_S3_ASSUME_ROLE_ARN", T_STR, OFF(s3_assume_role_arn), 0, "", 0, 0,
     "not supported: logged at start, the base credentials are used"},
    {"IMGPROXY_S3_ASSUME_ROLE_EXTERNAL_ID", T_STR, OFF(s3_assume_role_external_id), 0, "", 0, 0,
     "not supported (goes with IMGPROXY_S3_ASSUME_ROLE_ARN)"},
    {"IMGPROXY_S3_USE_DECRYPTION_CLIENT", T_BOOL, OFF(s3_use_decryption_client), 0, "false", 0, 0,
     "S3 client-side decryption: not supported, true stops start-up"},
    {"IMGPROXY_USE_SWIFT", T_BOOL, OFF(use_swift), 0, "false", 0, 0,
     "enable swift:// sources (OpenStack Swift)"},
    {"IMGPROXY_SWIFT_USERNAME", T_STR, OFF(swift_username), 0, "", 0, 0,
     "Swift user (v1 X-Auth-User, v2/v3 user name)"},
    {"IMGPROXY_SWIFT_API_KEY", T_STR, OFF(swift_api_key), 0, "", 0, 0, "Swift key or password"},
    {"IMGPROXY_SWIFT_AUTH_URL", T_STR, OFF(swift_auth_url), 0, "", 0, 0,
     "Swift auth URL, e.g. http://127.0.0.1:8080/auth/v1.0"},
    {"IMGPROXY_SWIFT_DOMAIN", T_STR, OFF(swift_domain), 0, "", 0, 0,
     "Keystone v3 user domain (and project domain with a tenant)"},
    {"IMGPROXY_SWIFT_TENANT", T_STR, OFF(swift_tenant), 0, "", 0, 0,
     "Keystone v2 tenant name / v3 project name"},
    {"IMGPROXY_SWIFT_CONNECT_TIMEOUT_SECONDS", T_INT, OFF(swift_connect_timeout), 0, "10", 0, 3600,
     "seconds to connect to Swift (auth and GET), within IMGPROXY_DOWNLOAD_TIMEOUT; 0 = 10"},
    {"IMGPROXY_SWIFT_TIMEOUT_SECONDS", T_INT, OFF(swift_timeout), 0, "60", 0, 3600,
     "accepted for imgproxy compatibility: IMGPROXY_DOWNLOAD_TIMEOUT bounds each Swift transfer"},
    {"IMGPROXY_SWIFT_AUTH_VERSION", T_INT, OFF(swift_auth_version), 0, "0", 0, 3,
     "Swift auth version 1, 2 or 3; 0 = from the auth URL (v3, v2, v1 in it)"},
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

static void *field(struct config *c, size_t off)
{
    return (char *)c + off;
}

static const void *cfield(const struct config *c, size_t off)
{
    return (const char *)c + off;
}

static int fail(char *err, size_t errlen, const struct conf_var *v, const char *value,
                const char *why)
{
    snprintf(err, errlen, "%s=\"%s\": %s", v->name, value, why);
    return -1;
}

/* strtoll that insists on a whole, in-range number. */
static int parse_ll(const char *s, long long *out)
{
    char *end;

    errno = 0;
    if (*s == '\0')
        return -1;
    *out = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    return 0;
}

/* "256M", "512k", "2G", "1000": bytes, suffixes 1024-based; -1 when malformed or too big. */
static int parse_bytes(const char *s, long long *out)
{
    char *end;
    long long n, mul = 1;

    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    n = strtoll(s, &end, 10);
    if (errno != 0)
        return -1;
    if (*end != '\0') {
        switch (*end) {
        case 'k':
        case 'K':
            mul = 1024LL;
            break;
        case 'm':
        case 'M':
            mul = 1024LL * 1024;
            break;
        case 'g':
        case 'G':
            mul = 1024LL * 1024 * 1024;
            break;
        default:
            return -1;
        }
        end++;
        if (*end == 'B' || *end == 'b')
            end++;
        if (*end != '\0')
            return -1;
    }
    if (n > LLONG_MAX / mul)
        return -1;
    *out = n * mul;
    return 0;
}

/* Splits s on commas into a strlist; empty s gives an empty list. */
static int split_list(const char *s, struct strlist *l)
{
    l->items = NULL;
    l->len = 0;
    if (*s == '\0')
        return 0;
    return parse_split(s, strlen(s), ',', false, &l->items, &l->len);
}

static void free_list(struct strlist *l)
{
    for (size_t i = 0; i < l->len; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->len = 0;
}

static void free_hexlist(struct bytes **list, size_t *n)
{
    for (size_t i = 0; *list && i < *n; i++)
        free((*list)[i].data);
    free(*list);
    *list = NULL;
    *n = 0;
}

/* Frees whatever a variable of this type owns in c. */
static void free_var(struct config *c, const struct conf_var *v)
{
    switch (v->type) {
    case T_STR:
    case T_SEPARATOR:
    case T_URLPATH:
    case T_LOGLEVEL:
    case T_DIR: {
        char **p = field(c, v->offset);

        free(*p);
        *p = NULL;
        break;
    }
    case T_HEXLIST:
        free_hexlist(field(c, v->offset), field(c, v->count_offset));
        break;
    case T_STRLIST:
        free_list(field(c, v->offset));
        break;
    default:
        break;
    }
}

static int set_string(char **dst, const char *s, size_t n)
{
    char *copy = strndup(s, n);

    if (copy == NULL)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

/*
 * One parser per setting type. Each stores the value of v into c, or
 * returns -1 with "NAME="value": why" in err; every variable's default goes
 * through the same parser, so a bad default fails the same way.
 */
typedef int (*var_parser)(struct config *c, const struct conf_var *v, const char *value, char *err,
                          size_t errlen);

/* Replaces the string field of v with the first n bytes of s. */
static int store_string(struct config *c, const struct conf_var *v, const char *value, size_t n,
                        char *err, size_t errlen)
{
    if (set_string(field(c, v->offset), value, n) < 0)
        return fail(err, errlen, v, value, "out of memory");
    return 0;
}

/* Replaces the string field of v with s, which it takes ownership of. */
static void take_string(struct config *c, const struct conf_var *v, char *s)
{
    char **dst = field(c, v->offset);

    free(*dst);
    *dst = s;
}

/*
 * Steps through a comma list: *item and *n get the next item; false once the
 * list is done. A trailing comma ends the list; *p is NULL after the last item.
 */
static bool next_item(const char **p, const char **item, size_t *n)
{
    const char *comma;

    if (*p == NULL || **p == '\0')
        return false;
    comma = strchr(*p, ',');
    *item = *p;
    *n = comma != NULL ? (size_t)(comma - *p) : strlen(*p);
    *p = comma != NULL ? comma + 1 : NULL;
    return true;
}

/* T_INT and T_LLONG: a whole number in [min, max]. */
static int var_integer(struct config *c, const struct conf_var *v, const char *value, char *err,
                       size_t errlen)
{
    long long ll;

    if (parse_ll(value, &ll) < 0)
        return fail(err, errlen, v, value, "not an integer");
    if (ll < v->min || ll > v->max) {
        char why[96];

        snprintf(why, sizeof(why), "must be between %lld and %lld", v->min, v->max);
        return fail(err, errlen, v, value, why);
    }
    if (v->type == T_INT)
        *(int *)field(c, v->offset) = (int)ll;
    else
        *(long long *)field(c, v->offset) = ll;
    return 0;
}

static int var_octal(struct config *c, const struct conf_var *v, const char *value, char *err,
                     size_t errlen)
{
    char *end;
    long m;

    errno = 0;
    m = strtol(value, &end, 8);
    if (*value == '\0' || *end != '\0' || errno != 0 || m < v->min || m > v->max)
        return fail(err, errlen, v, value, "not an octal file mode");
    *(int *)field(c, v->offset) = (int)m;
    return 0;
}

static int var_bool(struct config *c, const struct conf_var *v, const char *value, char *err,
                    size_t errlen)
{
    if (parse_go_bool(value, field(c, v->offset)) < 0)
        return fail(err, errlen, v, value, "not a boolean (true/false/1/0)");
    return 0;
}

static int var_string(struct config *c, const struct conf_var *v, const char *value, char *err,
                      size_t errlen)
{
    return store_string(c, v, value, strlen(value), err, errlen);
}

/* T_LOGLEVEL: one of a fixed list of names. */
static int var_loglevel(struct config *c, const struct conf_var *v, const char *value, char *err,
                        size_t errlen)
{
    static const char *levels[] = {"debug", "info", "warn", "error"};

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(value, levels[i]) == 0)
            return store_string(c, v, value, strlen(value), err, errlen);
    return fail(err, errlen, v, value, "must be debug, info, warn or error");
}

static int var_separator(struct config *c, const struct conf_var *v, const char *value, char *err,
                         size_t errlen)
{
    if (strlen(value) != 1 || value[0] == '/')
        return fail(err, errlen, v, value, "must be one character other than /");
    return store_string(c, v, value, 1, err, errlen);
}

/* T_URLPATH: cut at ? or #, trailing slashes dropped, a leading one added; "" stays "". */
static int var_urlpath(struct config *c, const struct conf_var *v, const char *value, char *err,
                       size_t errlen)
{
    size_t len = strcspn(value, "?#");
    size_t lead;
    char *out;

    while (len > 0 && value[len - 1] == '/')
        len--;
    out = malloc(len + 2);
    if (out == NULL)
        return fail(err, errlen, v, value, "out of memory");
    lead = len > 0 && value[0] != '/' ? 1 : 0;
    out[0] = '/';
    memcpy(out + lead, value, len);
    out[len + lead] = '\0';
    take_string(c, v, out);
    return 0;
}

/* T_DIR: an existing directory, stored realpath'd; "" turns the feature off. */
static int var_dir(struct config *c, const struct conf_var *v, const char *value, char *err,
                   size_t errlen)
{
    char *real;
    struct stat st;

    if (*value == '\0')
        return store_string(c, v, "", 0, err, errlen);
    real = realpath(value, NULL);
    if (real == NULL || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
        free(real);
        return fail(err, errlen, v, value, "not an existing directory");
    }
    take_string(c, v, real);
    return 0;
}

static int var_bytes(struct config *c, const struct conf_var *v, const char *value, char *err,
                     size_t errlen)
{
    long long ll;

    if (v->min < 0 && strcmp(value, "auto") == 0) {
        *(long long *)field(c, v->offset) = -1; /* sized at start by the user of the setting */
        return 0;
    }
    if (parse_bytes(value, &ll) < 0 || ll < (v->min < 0 ? 0 : v->min) || ll > v->max)
        return fail(err, errlen, v, value, "must be a size in bytes, e.g. 1048576, 512k, 256M, 2G");
    *(long long *)field(c, v->offset) = ll;
    return 0;
}

/* strtod that insists on a number with nothing after it (errno set is a failure). */
static int parse_double(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return *s == '\0' || *end != '\0' || errno != 0 ? -1 : 0;
}

/* T_MEGAPIXELS: megapixels > 0 (or 0 when min is -1: a limit 0 turns off), stored as pixels. */
static int var_megapixels(struct config *c, const struct conf_var *v, const char *value, char *err,
                          size_t errlen)
{
    double mp;

    if (parse_double(value, &mp) < 0 || !(mp > 0 || (v->min < 0 && mp == 0)) || mp > 1e7)
        return fail(err, errlen, v, value, "must be a number of megapixels > 0");
    *(long long *)field(c, v->offset) = (long long)(mp * 1000000.0);
    return 0;
}

/* T_DOUBLE: a number in (min/1000, max/1000]. */
static int var_double(struct config *c, const struct conf_var *v, const char *value, char *err,
                      size_t errlen)
{
    double d, lo = (double)v->min / 1000, hi = (double)v->max / 1000;

    if (parse_double(value, &d) < 0 || !(d > lo) || d > hi) {
        char why[96];

        snprintf(why, sizeof(why), "must be a number in (%g, %g]", lo, hi);
        return fail(err, errlen, v, value, why);
    }
    *(double *)field(c, v->offset) = d;
    return 0;
}

/* Decodes the hex string h (even, non-empty length) into b; the message on failure in *why. */
static int decode_hex(const char *h, struct bytes *b, const char **why)
{
    size_t hl = strlen(h);

    if (hl == 0 || hl % 2 != 0) {
        *why = "each item must be a non-empty hex string";
        return -1;
    }
    b->data = malloc(hl / 2);
    if (b->data == NULL) {
        *why = "out of memory";
        return -1;
    }
    b->len = hl / 2;
    for (size_t j = 0; j < hl; j += 2) {
        int hi = parse_hex_digit(h[j]), lo = parse_hex_digit(h[j + 1]);

        if (hi < 0 || lo < 0) {
            *why = "not a hex string";
            return -1;
        }
        b->data[j / 2] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* T_HEXLIST: comma list of hex strings; a key is never echoed in a message. */
static int var_hexlist(struct config *c, const struct conf_var *v, const char *value, char *err,
                       size_t errlen)
{
    struct bytes **list = field(c, v->offset);
    size_t *count = field(c, v->count_offset);
    struct strlist parts;
    const char *why = NULL;

    free_hexlist(list, count);
    if (split_list(value, &parts) < 0) {
        free_list(&parts);
        return fail(err, errlen, v, "...", "out of memory");
    }
    if (parts.len > 0) {
        *list = calloc(parts.len, sizeof(struct bytes));
        if (*list == NULL) {
            free_list(&parts);
            return fail(err, errlen, v, "...", "out of memory");
        }
    }
    for (size_t i = 0; i < parts.len && why == NULL; i++) {
        (*count)++;
        if (decode_hex(parts.items[i], &(*list)[i], &why) < 0)
            break;
    }
    free_list(&parts);
    return why != NULL ? fail(err, errlen, v, "***", why) : 0;
}

static int var_strlist(struct config *c, const struct conf_var *v, const char *value, char *err,
                       size_t errlen)
{
    struct strlist *l = field(c, v->offset);

    free_list(l);
    if (split_list(value, l) < 0)
        return fail(err, errlen, v, value, "out of memory");
    return 0;
}

/* T_FORMATQ: "webp=79,avif=63", each quality in [min, max]. */
static int var_formatq(struct config *c, const struct conf_var *v, const char *value, char *err,
                       size_t errlen)
{
    int *q = field(c, v->offset);
    const char *p = value, *item;
    size_t n;

    while (next_item(&p, &item, &n)) {
        const char *eq = memchr(item, '=', n);
        size_t ql;
        enum imgtype t;
        char num[16];
        long long qv;

        if (eq == NULL)
            return fail(err, errlen, v, value, "items must be format=quality");
        t = imagetype_from_name(item, (size_t)(eq - item));
        if (t == IMGTYPE_UNKNOWN)
            return fail(err, errlen, v, value, "unknown format");
        ql = (size_t)(item + n - eq - 1);
        if (ql >= sizeof(num))
            return fail(err, errlen, v, value, "bad quality");
        memcpy(num, eq + 1, ql);
        num[ql] = '\0';
        if (parse_ll(num, &qv) < 0 || qv < v->min || qv > v->max)
            return fail(err, errlen, v, value, "quality must be between 1 and 100");
        q[t] = (int)qv;
    }
    return 0;
}

/* T_TYPES: a set of known image types; empty is the empty set. */
static int var_types(struct config *c, const struct conf_var *v, const char *value, char *err,
                     size_t errlen)
{
    bool *on = field(c, v->offset);
    const char *p = value, *item;
    size_t n;

    memset(on, 0, sizeof(bool) * IMGTYPE_COUNT);
    while (next_item(&p, &item, &n)) {
        enum imgtype t = imagetype_from_name(item, n);

        if (t == IMGTYPE_UNKNOWN)
            return fail(err, errlen, v, value, "unknown format");
        on[t] = true;
    }
    return 0;
}

/* T_FORMATS: an ordered list of the types imgfcgi can write, at least one. */
static int var_formats(struct config *c, const struct conf_var *v, const char *value, char *err,
                       size_t errlen)
{
    enum imgtype *f = field(c, v->offset);
    size_t *count = field(c, v->count_offset);
    const char *p = value, *item;
    size_t n;

    *count = 0;
    while (next_item(&p, &item, &n)) {
        enum imgtype t = imagetype_from_name(item, n);

        if (t == IMGTYPE_UNKNOWN)
            return fail(err, errlen, v, value, "unknown format");
        /*
         * Formats imgfcgi cannot write are dropped, as imgproxy does; so is
         * PDF, a result only when a URL asks for it.
         */
        if (imagetype_saveable(t) && t != IMGTYPE_PDF && *count < IMGTYPE_COUNT)
            f[(*count)++] = t;
    }
    if (*count == 0)
        return fail(err, errlen, v, value, "no saveable format");
    return 0;
}

static const var_parser parsers[] = {
    [T_INT] = var_integer,           [T_BOOL] = var_bool,       [T_STR] = var_string,
    [T_MEGAPIXELS] = var_megapixels, [T_LLONG] = var_integer,   [T_HEXLIST] = var_hexlist,
    [T_STRLIST] = var_strlist,       [T_FORMATQ] = var_formatq, [T_FORMATS] = var_formats,
    [T_SEPARATOR] = var_separator,   [T_URLPATH] = var_urlpath, [T_LOGLEVEL] = var_loglevel,
    [T_OCTAL] = var_octal,           [T_DIR] = var_dir,         [T_DOUBLE] = var_double,
    [T_TYPES] = var_types,           [T_BYTES] = var_bytes,
};

static int parse_var(struct config *c, const struct conf_var *v, const char *value, char *err,
                     size_t errlen)
{
    if ((size_t)v->type >= sizeof(parsers) / sizeof(parsers[0]) || parsers[v->type] == NULL)
        return fail(err, errlen, v, value, "unknown type");
    return parsers[v->type](c, v, value, err, errlen);
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n > 0 ? (int)n : 1;
}

/* Every variable's default, then the value of each one set in the environment. */
static int load_table(struct config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < NVARS; i++) {
        if (parse_var(c, &vars[i], vars[i].def, err, errlen) < 0)
            return -1;
    }
    for (size_t i = 0; i < NVARS; i++) {
        const char *value = getenv(vars[i].name);

        /*
         * As imgproxy: an empty variable is the same as an unset one, except
         * the query separator, which imgproxy reads with LookupEnv: set empty
         * it turns the separator off.
         */
        if (value == NULL ||
            (*value == '\0' && strcmp(vars[i].name, "IMGPROXY_SOURCE_URL_QUERY_SEPARATOR") != 0))
            continue;
        if (parse_var(c, &vars[i], value, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* Workers and connection threads when left at 0, and their consistency. */
static int derive_threads(struct config *c, char *err, size_t errlen)
{
    if (c->workers == 0) {
        /*
         * lighttpd's bin-path spawning sets PHP_FCGI_CHILDREN=1 and, like
         * mod_fcgid, sends each process one request at a time: more threads
         * would only hold memory.
         */
        const char *children = getenv("PHP_FCGI_CHILDREN");
        c->one_request_host = children != NULL && strcmp(children, "1") == 0;
        c->workers = c->one_request_host ? 1 : 2 * online_cpus();
    }
    if (c->connections == 0)
        c->connections = c->one_request_host ? c->workers : c->workers + 32;
    if (c->connections < c->workers) {
        snprintf(err, errlen, "IMGFCGI_CONNECTIONS (%d) is below IMGPROXY_WORKERS (%d)",
                 c->connections, c->workers);
        return -1;
    }
    return 0;
}

/* The allocator's own variables: not settings of ours, read only to log them. */
static void read_allocator_env(struct config *c)
{
    const char *am = getenv("MALLOC_ARENA_MAX");
    const char *mc = getenv("MALLOC_CONF");
    const char *tun = getenv("GLIBC_TUNABLES");

    c->malloc_arena_max = am != NULL ? strdup(am) : NULL;
    c->malloc_conf = mc != NULL ? strdup(mc) : NULL;
    /* glibc reads these itself; a threshold set there wins over ours. */
    c->malloc_thresholds_env = getenv("MALLOC_TRIM_THRESHOLD_") != NULL ||
                               getenv("MALLOC_MMAP_THRESHOLD_") != NULL ||
                               (tun != NULL && (strstr(tun, "malloc.trim_threshold") != NULL ||
                                                strstr(tun, "malloc.mmap_threshold") != NULL));
}

/*
 * As imgproxy: IMGPROXY_USE_GCS left unset (or empty) with a key set turns
 * gs:// on; store_gcs.c logs that this is deprecated.
 */
static void gcs_enabled_by_key(struct config *c)
{
    const char *use = getenv("IMGPROXY_USE_GCS");

    if (!c->use_gcs && (use == NULL || *use == '\0') && c->gcs_key != NULL &&
        c->gcs_key[0] != '\0') {
        c->use_gcs = true;
        c->use_gcs_implied = true;
    }
}

/* The AWS SDK's variables, not settings of ours: read here, used by store_s3.c. */
static void read_aws_env(struct config *c)
{
    c->aws_access_key_id = getenv("AWS_ACCESS_KEY_ID");
    c->aws_secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
    c->aws_session_token = getenv("AWS_SESSION_TOKEN");
    c->aws_region = getenv("AWS_REGION");
    c->aws_default_region = getenv("AWS_DEFAULT_REGION");
    c->aws_profile = getenv("AWS_PROFILE");
    c->aws_shared_credentials_file = getenv("AWS_SHARED_CREDENTIALS_FILE");
    c->aws_config_file = getenv("AWS_CONFIG_FILE");
    c->home = getenv("HOME");
}

/* %current_version in the user agent becomes the version, as imgproxy does. */
static int expand_user_agent(struct config *c, char *err, size_t errlen)
{
    const char *tag = "%current_version";
    char *at = strstr(c->user_agent, tag);
    size_t n;
    char *ua;

    if (at == NULL)
        return 0;
    n = strlen(c->user_agent) - strlen(tag) + strlen(IMGFCGI_VERSION) + 1;
    ua = malloc(n);
    if (ua == NULL) {
        snprintf(err, errlen, "IMGPROXY_USER_AGENT: out of memory");
        return -1;
    }
    snprintf(ua, n, "%.*s%s%s", (int)(at - c->user_agent), c->user_agent, IMGFCGI_VERSION,
             at + strlen(tag));
    free(c->user_agent);
    c->user_agent = ua;
    return 0;
}

const char *const config_ush_modes[] = {"none", "auto", "always", NULL};
const char *const config_webp_compressions[] = {"lossy", "near_lossless", "lossless", NULL};
const char *const config_webp_presets[] = {"default", "picture", "photo", "drawing",
                                           "icon",    "text",    NULL};
const char *const config_avif_subsamples[] = {"auto", "on", "off", NULL};
const char *const config_png_filters[] = {"all", "none", "sub", "up", "avg", "paeth", NULL};

int config_choice(const char *const *names, const char *s)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* The enumerated settings: each name must be one of its choices. */
static int load_choices(struct config *c, char *err, size_t errlen)
{
    const struct {
        const char *var;
        const char *value;
        const char *const *names;
        int *out;
    } ch[] = {
        {"IMGPROXY_WEBP_COMPRESSION", c->webp_compression_name, config_webp_compressions,
         &c->webp_compression},
        {"IMGPROXY_WEBP_PRESET", c->webp_preset_name, config_webp_presets, &c->webp_preset},
        {"IMGPROXY_AVIF_SUBSAMPLE", c->avif_subsample_name, config_avif_subsamples,
         &c->avif_subsample},
        {"IMGPROXY_UNSHARP_MASKING_MODE", c->unsharp_masking_mode_name, config_ush_modes,
         &c->unsharp_masking_mode},
        {"IMGFCGI_PNG_FILTER", c->png_filter_name, config_png_filters, &c->png_filter},
    };

    for (size_t i = 0; i < sizeof(ch) / sizeof(ch[0]); i++) {
        *ch[i].out = config_choice(ch[i].names, ch[i].value ? ch[i].value : "");
        if (*ch[i].out < 0) {
            snprintf(err, errlen, "%s: invalid value \"%s\"", ch[i].var,
                     ch[i].value ? ch[i].value : "");
            return -1;
        }
    }
    return 0;
}

int config_aq_method(const char *s, size_t len)
{
    static const char *const names[] = {
        [AQ_NONE] = "none", [AQ_SIZE] = "size", [AQ_DSSIM] = "dssim", [AQ_ML] = "ml"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return (int)i;
    return -1;
}

/* The autoquality method by name, and quality bounds that leave a range. */
static int check_autoquality(struct config *c, char *err, size_t errlen)
{
    int m = config_aq_method(c->autoquality_method_name, strlen(c->autoquality_method_name));

    if (m < 0) {
        snprintf(err, errlen, "IMGPROXY_AUTOQUALITY_METHOD=\"%s\": must be none, size, dssim or ml",
                 c->autoquality_method_name);
        return -1;
    }
    c->autoquality_method = (enum aq_method)m;
    if (c->autoquality_min > c->autoquality_max) {
        snprintf(err, errlen,
                 "IMGPROXY_AUTOQUALITY_MIN (%d) is above IMGPROXY_AUTOQUALITY_MAX (%d)",
                 c->autoquality_min, c->autoquality_max);
        return -1;
    }
    return 0;
}

int config_load(struct config *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    if (load_table(c, err, errlen) < 0)
        return -1;
    if (c->nkeys != c->nsalts) {
        snprintf(err, errlen, "IMGPROXY_KEY and IMGPROXY_SALT: %zu keys but %zu salts", c->nkeys,
                 c->nsalts);
        return -1;
    }
    if (c->nsource_url_encryption_key > 1 ||
        (c->nsource_url_encryption_key == 1 && c->source_url_encryption_key[0].len != 16 &&
         c->source_url_encryption_key[0].len != 24 && c->source_url_encryption_key[0].len != 32)) {
        snprintf(
            err, errlen,
            "IMGPROXY_SOURCE_URL_ENCRYPTION_KEY: one key of 16, 24 or 32 bytes (hex) expected");
        return -1;
    }
    if (derive_threads(c, err, errlen) < 0)
        return -1;
    if (load_choices(c, err, errlen) < 0)
        return -1;
    if (check_autoquality(c, err, errlen) < 0)
        return -1;
    read_allocator_env(c);
    gcs_enabled_by_key(c);
    read_aws_env(c);
    if (c->graceful_stop_timeout == 0)
        c->graceful_stop_timeout = 2 * c->timeout;
    return expand_user_agent(c, err, errlen);
}

void config_release(struct config *c)
{
    for (size_t i = 0; i < NVARS; i++)
        free_var(c, &vars[i]);
    free(c->malloc_arena_max);
    free(c->malloc_conf);
    c->malloc_arena_max = NULL;
    c->malloc_conf = NULL;
}

static bool is_secret(const char *name)
{
    return strcmp(name, "IMGPROXY_KEY") == 0 || strcmp(name, "IMGPROXY_SALT") == 0 ||
           strcmp(name, "IMGPROXY_TRUSTED_SIGNATURES") == 0 ||
           strcmp(name, "IMGPROXY_SECRET") == 0 ||
           strcmp(name, "IMGPROXY_FALLBACK_IMAGE_DATA") == 0 ||
           strcmp(name, "IMGPROXY_SOURCE_URL_ENCRYPTION_KEY") == 0 ||
           strcmp(name, "IMGPROXY_SWIFT_API_KEY") == 0 || strcmp(name, "IMGPROXY_ABS_KEY") == 0 ||
           strcmp(name, "IMGPROXY_GCS_KEY") == 0;
}

/* Formats the effective value of v in c into out. */
static void format_value(const struct config *c, const struct conf_var *v, char *out, size_t n)
{
    switch (v->type) {
    case T_INT:
        snprintf(out, n, "%d", *(const int *)cfield(c, v->offset));
        break;
    case T_OCTAL:
        snprintf(out, n, "%04o", (unsigned)*(const int *)cfield(c, v->offset));
        break;
    case T_BYTES:
        if (v->min < 0 && *(const long long *)cfield(c, v->offset) < 0) {
            snprintf(out, n, "auto");
            break;
        }
        /* fall through */
    case T_LLONG:
    case T_MEGAPIXELS:
        snprintf(out, n, "%lld", *(const long long *)cfield(c, v->offset));
        break;
    case T_BOOL:
        snprintf(out, n, "%s", *(const bool *)cfield(c, v->offset) ? "true" : "false");
        break;
    case T_STR:
    case T_SEPARATOR:
    case T_URLPATH:
    case T_LOGLEVEL:
    case T_DIR: {
        const char *s = *(char *const *)cfield(c, v->offset);

        snprintf(out, n, "\"%s\"", s ? s : "");
        break;
    }
    case T_HEXLIST:
        snprintf(out, n, "%zu set", *(const size_t *)cfield(c, v->count_offset));
        break;
    case T_STRLIST:
        snprintf(out, n, "%zu set", ((const struct strlist *)cfield(c, v->offset))->len);
        break;
    case T_FORMATQ: {
        const int *q = cfield(c, v->offset);
        size_t used = 0;

        out[0] = '\0';
        for (int t = 1; t < IMGTYPE_COUNT && used < n; t++) {
            if (q[t] > 0)
                used += (size_t)snprintf(out + used, n - used, "%s%s=%d", used ? "," : "",
                                         imagetype_name((enum imgtype)t), q[t]);
        }
        break;
    }
    case T_DOUBLE:
        snprintf(out, n, "%g", *(const double *)cfield(c, v->offset));
        break;
    case T_TYPES: {
        const bool *on = cfield(c, v->offset);
        size_t used = 0;

        out[0] = '\0';
        for (int t = 1; t < IMGTYPE_COUNT && used < n; t++)
            if (on[t])
                used += (size_t)snprintf(out + used, n - used, "%s%s", used ? "," : "",
                                         imagetype_name((enum imgtype)t));
        break;
    }
    case T_FORMATS: {
        const enum imgtype *f = cfield(c, v->offset);
        size_t cnt = *(const size_t *)cfield(c, v->count_offset);
        size_t used = 0;

        out[0] = '\0';
        for (size_t i = 0; i < cnt && used < n; i++)
            used +=
                (size_t)snprintf(out + used, n - used, "%s%s", i ? "," : "", imagetype_name(f[i]));
        break;
    }
    }
}

void config_log(const struct config *c)
{
    char value[512];

    for (size_t i = 0; i < NVARS; i++) {
        if (is_secret(vars[i].name) && vars[i].type != T_HEXLIST && vars[i].type != T_STRLIST)
            snprintf(value, sizeof(value), "***");
        else
            format_value(c, &vars[i], value, sizeof(value));
        log_info("config %s=%s", vars[i].name, value);
    }
}

void config_print_env(void *file)
{
    FILE *f = file;

    fprintf(f, "# imgfcgi settings with their defaults (generated by `imgfcgi --print-env`).\n"
               "# IMGPROXY_* variables mean what they mean in imgproxy v3; IMGFCGI_* are\n"
               "# imgfcgi's own. An empty value is the same as an unset one.\n\n");
    for (size_t i = 0; i < NVARS; i++)
        fprintf(f, "# %s\n%s=%s\n\n", vars[i].doc, vars[i].name, vars[i].def);
}
