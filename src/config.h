/* config.h: every setting, read once from the environment before threads start. */
#ifndef IMGFCGI_CONFIG_H
#define IMGFCGI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "imagetype.h"

#define IMGFCGI_VERSION "0.1.0"

/* A decoded hex string from IMGPROXY_KEY / IMGPROXY_SALT. */
struct bytes {
    unsigned char *data;
    size_t len;
};

/* Autoquality methods (IMGPROXY_AUTOQUALITY_METHOD, the `aq` option's first argument). */
enum aq_method { AQ_NONE = 0, AQ_SIZE, AQ_DSSIM, AQ_ML };

/* A list of strings from a comma-separated variable. */
struct strlist {
    char **items;
    size_t len;
};

/*
 * The effective configuration. Filled by config_load(), read-only afterwards:
 * any thread may read it without locking. Tests may write fields directly
 * before the code under test runs.
 */
struct config {
    /* FastCGI process */
    int workers;           /* IMGPROXY_WORKERS: processing slots; 0 in the env = 2 x CPUs, or
                              1 when one_request_host */
    int connections;       /* IMGFCGI_CONNECTIONS: connection threads, >= workers; 0 in the
                              env = workers + 32, or workers when one_request_host */
    bool one_request_host; /* IMGPROXY_WORKERS unset and PHP_FCGI_CHILDREN=1 (lighttpd bin-path) */
    char *listen;          /* IMGFCGI_LISTEN: unix path or host:port when fd 0 is no socket */
    int listen_backlog;    /* IMGFCGI_LISTEN_BACKLOG */
    int listen_mode;       /* IMGFCGI_LISTEN_MODE: octal permissions of a unix socket */
    int vips_concurrency;  /* IMGFCGI_VIPS_CONCURRENCY: libvips threads per request */
    bool cpu_homes;        /* IMGFCGI_CPU_HOMES */
    int timeout;           /* IMGPROXY_TIMEOUT, seconds */
    int requests_queue_size;   /* IMGPROXY_REQUESTS_QUEUE_SIZE: waiting requests; 0 = none */
    int graceful_stop_timeout; /* IMGPROXY_GRACEFUL_STOP_TIMEOUT, seconds; 0 = 2 x timeout */
    char *log_level;           /* IMGFCGI_LOG_LEVEL: debug, info, warn, error */

    /* URL and signature */
    char *path_prefix;  /* IMGPROXY_PATH_PREFIX, normalised to "/x" or "" */
    struct bytes *keys; /* IMGPROXY_KEY */
    size_t nkeys;
    struct bytes *salts; /* IMGPROXY_SALT */
    size_t nsalts;
    int signature_size;                /* IMGPROXY_SIGNATURE_SIZE, 1..32 */
    struct strlist trusted_signatures; /* IMGPROXY_TRUSTED_SIGNATURES */
    char *arguments_separator;         /* IMGPROXY_ARGUMENTS_SEPARATOR, one character */
    char *health_check_path;           /* IMGPROXY_HEALTH_CHECK_PATH */
    bool development_errors_mode;      /* IMGPROXY_DEVELOPMENT_ERRORS_MODE */

    /* Sources */
    int download_timeout; /* IMGPROXY_DOWNLOAD_TIMEOUT, seconds */
    int max_redirects;    /* IMGPROXY_MAX_REDIRECTS */
    char *user_agent;     /* IMGPROXY_USER_AGENT */
    char *local_root;     /* IMGPROXY_LOCAL_FILESYSTEM_ROOT, realpath'd; "" = local:// off */
    char *source_url_query_separator;       /* IMGPROXY_SOURCE_URL_QUERY_SEPARATOR */
    bool ignore_ssl_verification;           /* IMGPROXY_IGNORE_SSL_VERIFICATION */
    bool allow_loopback_source_addresses;   /* IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES */
    bool allow_link_local_source_addresses; /* IMGPROXY_ALLOW_LINK_LOCAL_SOURCE_ADDRESSES */
    bool allow_private_source_addresses;    /* IMGPROXY_ALLOW_PRIVATE_SOURCE_ADDRESSES */
    struct strlist allowed_sources;         /* IMGPROXY_ALLOWED_SOURCES: URL prefix patterns */
    long long max_src_resolution;           /* IMGPROXY_MAX_SRC_RESOLUTION, megapixels -> pixels */
    long long max_src_file_size;            /* IMGPROXY_MAX_SRC_FILE_SIZE, bytes; 0 = no limit */
    int max_svg_check_bytes;                /* IMGPROXY_MAX_SVG_CHECK_BYTES */
    long long max_svg_file_size; /* IMGFCGI_MAX_SVG_FILE_SIZE, bytes; 0 = no SVG-only cap */
    bool sanitize_svg;           /* IMGPROXY_SANITIZE_SVG */
    bool always_rasterize_svg;   /* IMGPROXY_ALWAYS_RASTERIZE_SVG */

    /* Output */
    int quality;                                   /* IMGPROXY_QUALITY */
    int format_quality[IMGTYPE_COUNT];             /* IMGPROXY_FORMAT_QUALITY; 0 = use quality */
    enum imgtype preferred_formats[IMGTYPE_COUNT]; /* IMGPROXY_PREFERRED_FORMATS */
    size_t npreferred_formats;
    bool auto_webp, enforce_webp; /* IMGPROXY_AUTO_WEBP, IMGPROXY_ENFORCE_WEBP */
    bool auto_avif, enforce_avif; /* IMGPROXY_AUTO_AVIF, IMGPROXY_ENFORCE_AVIF */
    bool auto_jxl, enforce_jxl;   /* IMGPROXY_AUTO_JXL, IMGPROXY_ENFORCE_JXL */
    bool jpeg_progressive;        /* IMGPROXY_JPEG_PROGRESSIVE */
    bool png_interlaced;          /* IMGPROXY_PNG_INTERLACED */
    int png_compression;          /* IMGFCGI_PNG_COMPRESSION, zlib level 0..9 */
    char *png_filter_name;        /* IMGFCGI_PNG_FILTER */
    int png_filter;               /* its index in config_png_filters */
    bool png_quantize;            /* IMGPROXY_PNG_QUANTIZE */
    int png_quantization_colors;  /* IMGPROXY_PNG_QUANTIZATION_COLORS, 2..256 */
    int webp_effort;              /* IMGPROXY_WEBP_EFFORT */
    int avif_speed;               /* IMGPROXY_AVIF_SPEED */
    int jxl_effort;               /* IMGPROXY_JXL_EFFORT */
    bool strip_metadata;          /* IMGPROXY_STRIP_METADATA */
    bool strip_color_profile;     /* IMGPROXY_STRIP_COLOR_PROFILE */
    char *color_intent;           /* IMGFCGI_COLOR_INTENT, checked by colour_global_init */
    bool auto_rotate;             /* IMGPROXY_AUTO_ROTATE */
    bool disable_shrink_on_load;  /* IMGPROXY_DISABLE_SHRINK_ON_LOAD */
    bool return_attachment;       /* IMGPROXY_RETURN_ATTACHMENT */
    int ttl;                      /* IMGPROXY_TTL, seconds */
    /* Best format and autoquality (docs/best-format.md) */
    double best_format_complexity_threshold; /* IMGPROXY_BEST_FORMAT_COMPLEXITY_THRESHOLD */
    long long best_format_max_resolution;    /* IMGPROXY_BEST_FORMAT_MAX_RESOLUTION, px; 0 = off */
    bool best_format_by_default;             /* IMGPROXY_BEST_FORMAT_BY_DEFAULT */
    bool best_format_allow_skips;            /* IMGPROXY_BEST_FORMAT_ALLOW_SKIPS */
    char *autoquality_method_name;           /* IMGPROXY_AUTOQUALITY_METHOD, as written */
    enum aq_method autoquality_method;       /* ... and parsed by config_load() */
    double autoquality_target;               /* IMGPROXY_AUTOQUALITY_TARGET */
    int autoquality_min, autoquality_max;    /* IMGPROXY_AUTOQUALITY_MIN / _MAX */
    int autoquality_format_min[IMGTYPE_COUNT]; /* IMGPROXY_AUTOQUALITY_FORMAT_MIN; 0 = _MIN */
    int autoquality_format_max[IMGTYPE_COUNT]; /* IMGPROXY_AUTOQUALITY_FORMAT_MAX; 0 = _MAX */
    double autoquality_allowed_error;          /* IMGPROXY_AUTOQUALITY_ALLOWED_ERROR */
    long long autoquality_max_resolution; /* IMGPROXY_AUTOQUALITY_MAX_RESOLUTION, px; 0 = off */
    int max_encodes;                      /* IMGFCGI_MAX_ENCODES: encodes of one result */

    /* The encoder settings jpeg_options, png_options, webp_options and avif_options override. */
    bool jpeg_no_subsample;        /* IMGPROXY_JPEG_NO_SUBSAMPLE */
    bool jpeg_trellis_quant;       /* IMGPROXY_JPEG_TRELLIS_QUANT */
    bool jpeg_overshoot_deringing; /* IMGPROXY_JPEG_OVERSHOOT_DERINGING */
    bool jpeg_optimize_scans;      /* IMGPROXY_JPEG_OPTIMIZE_SCANS */
    int jpeg_quant_table;          /* IMGPROXY_JPEG_QUANT_TABLE, 0..8 */
    char *webp_compression_name;   /* IMGPROXY_WEBP_COMPRESSION */
    int webp_compression;          /* its index in config_webp_compressions */
    bool webp_smart_subsample;     /* IMGPROXY_WEBP_SMART_SUBSAMPLE */
    char *webp_preset_name;        /* IMGPROXY_WEBP_PRESET */
    int webp_preset;               /* its index in config_webp_presets (a VipsForeignWebpPreset) */
    char *avif_subsample_name;     /* IMGPROXY_AVIF_SUBSAMPLE */
    int avif_subsample;            /* its index in config_avif_subsamples */
    char *unsharp_masking_mode_name; /* IMGPROXY_UNSHARP_MASKING_MODE */
    int unsharp_masking_mode;        /* its index in config_ush_modes (enum ush_mode) */
    double unsharp_masking_weight;   /* IMGPROXY_UNSHARP_MASKING_WEIGHT */
    double unsharp_masking_divider;  /* IMGPROXY_UNSHARP_MASKING_DIVIDER */
    char *color_profiles_dir;        /* IMGPROXY_COLOR_PROFILES_DIR */

    /* HTTP semantics: caching, validators, CORS, cookies, fallback image */
    bool cache_control_passthrough;      /* IMGPROXY_CACHE_CONTROL_PASSTHROUGH */
    bool use_etag;                       /* IMGPROXY_USE_ETAG */
    char *etag_buster;                   /* IMGPROXY_ETAG_BUSTER */
    bool use_last_modified;              /* IMGPROXY_USE_LAST_MODIFIED */
    bool set_canonical_header;           /* IMGPROXY_SET_CANONICAL_HEADER */
    bool enable_debug_headers;           /* IMGPROXY_ENABLE_DEBUG_HEADERS */
    char *allow_origin;                  /* IMGPROXY_ALLOW_ORIGIN; "" = no CORS headers */
    char *secret;                        /* IMGPROXY_SECRET; "" = no Authorization check */
    bool cookie_passthrough;             /* IMGPROXY_COOKIE_PASSTHROUGH */
    char *cookie_base_url;               /* IMGPROXY_COOKIE_BASE_URL */
    bool cookie_passthrough_all;         /* IMGPROXY_COOKIE_PASSTHROUGH_ALL */
    char *fallback_image_data;           /* IMGPROXY_FALLBACK_IMAGE_DATA, base64 */
    char *fallback_image_path;           /* IMGPROXY_FALLBACK_IMAGE_PATH */
    char *fallback_image_url;            /* IMGPROXY_FALLBACK_IMAGE_URL */
    int fallback_image_http_code;        /* IMGPROXY_FALLBACK_IMAGE_HTTP_CODE; 0 = the error's */
    int fallback_image_ttl;              /* IMGPROXY_FALLBACK_IMAGE_TTL; 0 = IMGPROXY_TTL */
    bool keep_copyright;                 /* IMGPROXY_KEEP_COPYRIGHT */
    bool enforce_thumbnail;              /* IMGPROXY_ENFORCE_THUMBNAIL */
    bool skip_processing[IMGTYPE_COUNT]; /* IMGPROXY_SKIP_PROCESSING_FORMATS */

    /* Object stores: abs:// and gs:// */
    bool use_abs;         /* IMGPROXY_USE_ABS */
    char *abs_name;       /* IMGPROXY_ABS_NAME: the storage account */
    char *abs_key;        /* IMGPROXY_ABS_KEY: base64 account key, checked by store_abs_init */
    char *abs_endpoint;   /* IMGPROXY_ABS_ENDPOINT; "" = https://NAME.blob.core.windows.net */
    bool use_gcs;         /* IMGPROXY_USE_GCS, or on because it is unset and a key is set */
    bool use_gcs_implied; /* use_gcs only because of that (deprecated in imgproxy) */
    char *gcs_key;        /* IMGPROXY_GCS_KEY: service-account key JSON, checked by store_gcs */
    char *gcs_endpoint;   /* IMGPROXY_GCS_ENDPOINT: JSON API base */

    /* Processing options and presets */
    struct strlist allowed_processing_options; /* IMGPROXY_ALLOWED_PROCESSING_OPTIONS */
    bool allow_security_options;               /* IMGPROXY_ALLOW_SECURITY_OPTIONS */
    int max_animation_frames;                  /* IMGPROXY_MAX_ANIMATION_FRAMES */
    long long max_animation_frame_resolution;  /* IMGPROXY_MAX_ANIMATION_FRAME_RESOLUTION, px */
    int max_result_dimension;                  /* IMGPROXY_MAX_RESULT_DIMENSION; 0 = none */
    char *presets;                             /* IMGPROXY_PRESETS */
    char *presets_separator;                   /* IMGPROXY_PRESETS_SEPARATOR */
    char *presets_path;                        /* IMGPROXY_PRESETS_PATH */
    bool only_presets;                         /* IMGPROXY_ONLY_PRESETS */
    char *info_presets;                        /* IMGPROXY_INFO_PRESETS */
    char *info_presets_path;                   /* IMGPROXY_INFO_PRESETS_PATH */
    char *info_only_presets;                   /* IMGPROXY_INFO_ONLY_PRESETS; "" = only_presets */
    struct strlist allowed_info_options;       /* IMGPROXY_ALLOWED_INFO_OPTIONS */
    char *base_url;                            /* IMGPROXY_BASE_URL */
    char *url_replacements;                    /* IMGPROXY_URL_REPLACEMENTS */
    bool base64_url_includes_filename;         /* IMGPROXY_BASE64_URL_INCLUDES_FILENAME */
    bool enable_client_hints;                  /* IMGPROXY_ENABLE_CLIENT_HINTS */
    char *watermark_data;                      /* IMGPROXY_WATERMARK_DATA, base64 */
    char *watermark_path;                      /* IMGPROXY_WATERMARK_PATH */
    char *watermark_url;                       /* IMGPROXY_WATERMARK_URL */
    double watermark_opacity;                  /* IMGPROXY_WATERMARK_OPACITY */
    /* Pro sources and chains (docs/pro-sources.md) */
    struct bytes *source_url_encryption_key; /* IMGPROXY_SOURCE_URL_ENCRYPTION_KEY: 16/24/32 B */
    size_t nsource_url_encryption_key;       /* 0 = /enc/ URLs refused, else 1 */
    int max_chained_pipelines;               /* IMGPROXY_MAX_CHAINED_PIPELINES; 0 = no limit */
    int fallback_images_cache_size;          /* IMGPROXY_FALLBACK_IMAGES_CACHE_SIZE; 0 = off */
    long long fallback_images_cache_bytes;   /* IMGFCGI_FALLBACK_IMAGES_CACHE_BYTES */
    bool fallback_image_preprocess_url;      /* IMGPROXY_FALLBACK_IMAGE_PREPROCESS_URL */
    bool watermark_preprocess_url;           /* IMGPROXY_WATERMARK_PREPROCESS_URL */
    int watermarks_cache_size;               /* IMGPROXY_WATERMARKS_CACHE_SIZE; 0 = off */
    long long watermarks_cache_bytes;        /* IMGFCGI_WATERMARKS_CACHE_BYTES */
    char *watermark_font;                    /* IMGFCGI_WATERMARK_FONT, Pango font */
    int watermark_text_dpi;                  /* IMGFCGI_WATERMARK_TEXT_DPI */
    long long watermark_text_max_pixels;     /* IMGFCGI_WATERMARK_TEXT_MAX_PIXELS */
    bool enable_pdf;                         /* IMGFCGI_ENABLE_PDF */
    bool pdf_no_background;                  /* IMGPROXY_PDF_NO_BACKGROUND */
    int max_pages;                           /* IMGFCGI_MAX_PAGES */
    /* Memory and telemetry */
    long long download_buffer_size; /* IMGPROXY_DOWNLOAD_BUFFER_SIZE, bytes; 0 = calibrated */
    int buffer_pool_calibration_threshold; /* IMGPROXY_BUFFER_POOL_CALIBRATION_THRESHOLD */
    int free_memory_interval;              /* IMGPROXY_FREE_MEMORY_INTERVAL, seconds */
    bool memory_release;             /* IMGFCGI_MEMORY_RELEASE: call the allocator's release */
    bool log_mem_stats;              /* IMGPROXY_LOG_MEM_STATS */
    long long memory_budget;         /* IMGFCGI_MEMORY_BUDGET, bytes; 0 = no admission by memory;
                                        -1 = auto (memlimit_budget()) */
    int admission_wait_ms;           /* IMGFCGI_ADMISSION_WAIT_MS; 0 = until the deadline */
    bool buffer_result;              /* IMGFCGI_BUFFER_RESULT: encode whole, then send */
    long long malloc_trim_threshold; /* IMGFCGI_MALLOC_TRIM_THRESHOLD, bytes; 0 = glibc's own */
    char *metrics_path;              /* IMGFCGI_METRICS_PATH; "" = no metrics endpoint */
    bool playground;                 /* IMGFCGI_PLAYGROUND */
    char *playground_origin;         /* IMGFCGI_PLAYGROUND_ORIGIN; "" = local:// only */
    /* Object-store sources (docs/storage.md) */
    bool use_s3;                      /* IMGPROXY_USE_S3 */
    char *s3_region;                  /* IMGPROXY_S3_REGION; "" = AWS_REGION and the chain */
    char *s3_endpoint;                /* IMGPROXY_S3_ENDPOINT; "" = AWS */
    bool s3_endpoint_use_path_style;  /* IMGPROXY_S3_ENDPOINT_USE_PATH_STYLE */
    char *s3_assume_role_arn;         /* IMGPROXY_S3_ASSUME_ROLE_ARN (not supported: logged) */
    char *s3_assume_role_external_id; /* IMGPROXY_S3_ASSUME_ROLE_EXTERNAL_ID */
    bool s3_use_decryption_client;    /* IMGPROXY_S3_USE_DECRYPTION_CLIENT (true: start-up fails) */
    bool use_swift;                   /* IMGPROXY_USE_SWIFT */
    char *swift_username;             /* IMGPROXY_SWIFT_USERNAME */
    char *swift_api_key;              /* IMGPROXY_SWIFT_API_KEY */
    char *swift_auth_url;             /* IMGPROXY_SWIFT_AUTH_URL */
    char *swift_domain;               /* IMGPROXY_SWIFT_DOMAIN */
    char *swift_tenant;               /* IMGPROXY_SWIFT_TENANT */
    int swift_connect_timeout;        /* IMGPROXY_SWIFT_CONNECT_TIMEOUT_SECONDS; 0 = 10 */
    int swift_timeout;                /* IMGPROXY_SWIFT_TIMEOUT_SECONDS; 0 = 60 */
    int swift_auth_version;           /* IMGPROXY_SWIFT_AUTH_VERSION; 0 = from the auth URL */
    /*
     * Not ours: the AWS SDK's variables as found at start (NULL when unset),
     * read by store_s3.c: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
     * AWS_SESSION_TOKEN, AWS_REGION, AWS_DEFAULT_REGION, AWS_PROFILE,
     * AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, and HOME for ~/.aws.
     */
    const char *aws_access_key_id, *aws_secret_access_key, *aws_session_token;
    const char *aws_region, *aws_default_region, *aws_profile;
    const char *aws_shared_credentials_file, *aws_config_file, *home;
    /* Not ours, only logged: the allocator's own variables as found at start (or NULL). */
    char *malloc_arena_max;     /* MALLOC_ARENA_MAX */
    char *malloc_conf;          /* MALLOC_CONF */
    bool malloc_thresholds_env; /* MALLOC_{TRIM,MMAP}_THRESHOLD_ or GLIBC_TUNABLES set one */
};

/* The process-wide configuration. */
extern struct config cfg;

/*
 * The names of the enumerated settings above, NULL-terminated, in the order
 * of their values (enum ush_mode, enum webp_compression, VipsForeignWebpPreset,
 * enum avif_subsample; the PNG row filters, all first, then libvips' single
 * filters in the order of their flags); the URL options use the same names.
 */
extern const char *const config_ush_modes[];
extern const char *const config_webp_compressions[];
extern const char *const config_webp_presets[];
extern const char *const config_avif_subsamples[];
extern const char *const config_png_filters[];

/* The index of s in the NULL-terminated names, or -1. */
int config_choice(const char *const *names, const char *s);

/*
 * Fills c from the environment: defaults first, then every variable that is
 * set. Returns 0, or -1 with a message naming the variable in err (errlen
 * bytes). On failure c holds partial values; call config_release() anyway.
 */
int config_load(struct config *c, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * The autoquality method called s (len bytes: "none", "size", "dssim",
 * "ml"); -1 when there is none of that name.
 */
int config_aq_method(const char *s, size_t len);

/* Frees everything config_load() allocated in c; c may be partially loaded. */
void config_release(struct config *c);

/* Logs every effective value at info level, secrets masked. */
void config_log(const struct config *c);

/*
 * Writes conf/env.example-style text (every variable, its default and a
 * one-line description) to the FILE*; used by `imgfcgi --print-env`.
 */
void config_print_env(void *file);

#endif
