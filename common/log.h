/* Logging: one line per event on stderr, with time, level and subsystem.
 *   2026-11-29T03:17:29.123Z info  store: opened /var/lib/sluice/sluice.db
 * Each line is written with a single write(2), so lines from several threads or
 * processes never interleave. */
#ifndef SL_LOG_H
#define SL_LOG_H

typedef enum {
    SL_LOG_ERROR = 0,
    SL_LOG_WARN = 1,
    SL_LOG_INFO = 2,
    SL_LOG_DEBUG = 3,
} sl_log_level;

/* Sets the most verbose level that is written. */
void sl_log_set_level(sl_log_level level);
sl_log_level sl_log_get_level(void);

/* Parses "error", "warn", "info" or "debug". Returns 0 on success, -1 otherwise. */
int sl_log_parse_level(const char *name, sl_log_level *out);

void sl_log(sl_log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sl_log_error(sub, ...) sl_log(SL_LOG_ERROR, sub, __VA_ARGS__)
#define sl_log_warn(sub, ...) sl_log(SL_LOG_WARN, sub, __VA_ARGS__)
#define sl_log_info(sub, ...) sl_log(SL_LOG_INFO, sub, __VA_ARGS__)
#define sl_log_debug(sub, ...) sl_log(SL_LOG_DEBUG, sub, __VA_ARGS__)

#endif
