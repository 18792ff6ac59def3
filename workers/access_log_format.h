/* The access log's line format (--access-log-format): JSON with the default
 * or chosen fields, or a text template with $variables as nginx's log_format.
 * The master compiles it once at start (an unknown field is refused there);
 * workers inherit the compiled form and render each line straight into the
 * log buffer, without printf. */
#ifndef SL_ACCESS_LOG_FORMAT_H
#define SL_ACCESS_LOG_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

struct sl_conn;

/* Master, before forking: "json" (the default), "json:FIELD,FIELD...",
 * "combined", or a template with $NAME / ${NAME}. False with a message in err. */
bool sl_log_format_set(const char *spec, char *err, size_t errlen);

/* Whether the format logs the User-Agent / Referer (the only fields copied
 * from the request head just for the log). */
bool sl_log_format_wants_agent(void);
bool sl_log_format_wants_referer(void);

/* The line (with its '\n') for the request c into out; its length, or 0 when
 * it did not fit in room. */
size_t sl_log_format_render(const struct sl_conn *c, char *out, size_t room);

/* The client's address as the log names it: the one a trusted proxy gave
 * (PROXY protocol, X-Forwarded-For), else the peer's. */
void sl_log_client_text(const struct sl_conn *c, char *out, size_t cap);

/* The names of the fields and variables, for messages and docs: "time, gateway, ...". */
const char *sl_log_format_fields(void);

#endif
