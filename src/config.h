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
    int workers;           /* IMGPROXY_WORKERS: request threads; 0 in the env = 2 x CPUs */
    char *listen;          /* IMGFCGI_LISTEN: unix path or host:port when fd 0 is no socket */
    int listen_backlog;    /* IMGFCGI_LISTEN_BACKLOG */
    int listen_mode;       /* IMGFCGI_LISTEN_MODE: octal permissions of a unix socket */
    int vips_concurrency;  /* IMGFCGI_VIPS_CONCURRENCY: libvips threads per request */
    int timeout;           /* IMGPROXY_TIMEOUT, seconds */
    int graceful_stop_timeout; /* IMGPROXY_GRACEFUL_STOP_TIMEOUT, seconds; 0 = 2 x timeout */
    char *log_level;       /* IMGFCGI_LOG_LEVEL: debug, info, warn, error */

    /* URL and signature */
    char *path_prefix;     /* IMGPROXY_PATH_PREFIX, normalised to "/x" or "" */
    struct bytes *keys;    /* IMGPROXY_KEY */
    size_t nkeys;
    struct bytes *salts;   /* IMGPROXY_SALT */
    size_t nsalts;
    int signature_size;    /* IMGPROXY_SIGNATURE_SIZE, 1..32 */
    struct strlist trusted_signatures; /* IMGPROXY_TRUSTED_SIGNATURES */
    char *arguments_separator;         /* IMGPROXY_ARGUMENTS_SEPARATOR, one character */
    char *health_check_path;           /* IMGPROXY_HEALTH_CHECK_PATH */
    bool development_errors_mode;      /* IMGPROXY_DEVELOPMENT_ERRORS_MODE */

    /* Sources */
    int download_timeout;  /* IMGPROXY_DOWNLOAD_TIMEOUT, seconds */
    int max_redirects;     /* IMGPROXY_MAX_REDIRECTS */
    char *user_agent;      /* IMGPROXY_USER_AGENT */
    char *local_root;      /* IMGPROXY_LOCAL_FILESYSTEM_ROOT, realpath'd; "" = local:// off */
    char *source_url_query_separator; /* IMGPROXY_SOURCE_URL_QUERY_SEPARATOR */
    bool ignore_ssl_verification;     /* IMGPROXY_IGNORE_SSL_VERIFICATION */
    long long max_src_resolution;     /* IMGPROXY_MAX_SRC_RESOLUTION, megapixels -> pixels */
    long long max_src_file_size;      /* IMGPROXY_MAX_SRC_FILE_SIZE, bytes; 0 = no limit */
    int max_svg_check_bytes;          /* IMGPROXY_MAX_SVG_CHECK_BYTES */

    /* Output */
    int quality;                       /* IMGPROXY_QUALITY */
    int format_quality[IMGTYPE_COUNT]; /* IMGPROXY_FORMAT_QUALITY; 0 = use quality */
    enum imgtype preferred_formats[IMGTYPE_COUNT]; /* IMGPROXY_PREFERRED_FORMATS */
    size_t npreferred_formats;
    bool auto_webp, enforce_webp;      /* IMGPROXY_AUTO_WEBP, IMGPROXY_ENFORCE_WEBP */
    bool auto_avif, enforce_avif;      /* IMGPROXY_AUTO_AVIF, IMGPROXY_ENFORCE_AVIF */
    bool jpeg_progressive;             /* IMGPROXY_JPEG_PROGRESSIVE */
    bool png_interlaced;               /* IMGPROXY_PNG_INTERLACED */
    int webp_effort;                   /* IMGPROXY_WEBP_EFFORT */
    int avif_speed;                    /* IMGPROXY_AVIF_SPEED */
    bool strip_metadata;               /* IMGPROXY_STRIP_METADATA */
    bool strip_color_profile;          /* IMGPROXY_STRIP_COLOR_PROFILE */
    bool auto_rotate;                  /* IMGPROXY_AUTO_ROTATE */
    bool disable_shrink_on_load;       /* IMGPROXY_DISABLE_SHRINK_ON_LOAD */
    int ttl;                           /* IMGPROXY_TTL, seconds */

    /* Memory and telemetry */
    long long download_buffer_size;    /* IMGPROXY_DOWNLOAD_BUFFER_SIZE, bytes; 0 = calibrated */
    int buffer_pool_calibration_threshold; /* IMGPROXY_BUFFER_POOL_CALIBRATION_THRESHOLD */
    int free_memory_interval;          /* IMGPROXY_FREE_MEMORY_INTERVAL, seconds */
    bool memory_release;               /* IMGFCGI_MEMORY_RELEASE: call the allocator's release */
    bool log_mem_stats;                /* IMGPROXY_LOG_MEM_STATS */
    char *metrics_path;                /* IMGFCGI_METRICS_PATH; "" = no metrics endpoint */
    /* Not ours, only logged: the allocator's own variables as found at start (or NULL). */
    char *malloc_arena_max;            /* MALLOC_ARENA_MAX */
    char *malloc_conf;                 /* MALLOC_CONF */
};

/* The process-wide configuration. */
extern struct config cfg;

/*
 * Fills c from the environment: defaults first, then every variable that is
 * set. Returns 0, or -1 with a message naming the variable in err (errlen
 * bytes). On failure c holds partial values; call config_release() anyway.
 */
int config_load(struct config *c, char *err, size_t errlen) __attribute__((warn_unused_result));

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
