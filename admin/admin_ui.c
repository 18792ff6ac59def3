/* The web dashboard's static files at /ui/ (web/ in the source tree): read from
 * the web directory on each request (they are few and small, and an operator
 * updating them needs no restart). The files hold no data: every figure the
 * page shows comes from the admin API, with the bearer token the page was
 * given, so they are served without one. */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin_internal.h"

#define MAX_UI_FILE (8u << 20)

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"}, {".png", "image/png"}, {".json", "application/json"},
    {".txt", "text/plain; charset=utf-8"}, {".ico", "image/x-icon"},
};

static const char *type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* A path below /ui/ that names a file of the web directory: letters, digits,
 * '-', '_', '.', '/', no "..", no hidden files. */
static bool safe(const char *rel)
{
    if (strstr(rel, "..") || strstr(rel, "//") || rel[0] == '/' || rel[0] == '.' || strstr(rel, "/."))
        return false;
    for (const char *p = rel; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.' || *p == '/'))
            return false;
    return true;
}

static enum MHD_Result send_file(sl_admin_req *r, const char *path, const char *type)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_UI_FILE) {
        if (fd >= 0)
            close(fd);
        return sl_admin_reply_error(r, 404, "NotFound", NULL, NULL, NULL, "no such file in the dashboard");
    }
    char *body = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (body && got < (size_t)st.st_size) {
        ssize_t n = read(fd, body + got, (size_t)st.st_size - got);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            break;
        got += n > 0 ? (size_t)n : 0;
    }
    close(fd);
    if (!body || got != (size_t)st.st_size) {
        free(body);
        return sl_admin_reply_error(r, 500, "InternalError", NULL, NULL, NULL, "cannot read the dashboard file");
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(got, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    /* Only our own files and our own API: no inline script, no other origin, no framing. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                            "frame-ancestors 'none'; form-action 'self'");
    enum MHD_Result res = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    r->status_code = 200;
    return res;
}

enum MHD_Result sl_admin_handle_ui(sl_admin_req *r)
{
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
        return sl_admin_reply_error(r, 405, "MethodNotAllowed", NULL, NULL, NULL, "the dashboard is read with GET");
    if (strcmp(r->url, "/ui") == 0) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "Location", "/ui/");
        enum MHD_Result res = MHD_queue_response(r->conn, 301, resp);
        MHD_destroy_response(resp);
        r->status_code = 301;
        return res;
    }
    const char *dir = r->admin->web_dir;
    if (!dir)
        return sl_admin_reply_error(r, 404, "NotFound", NULL, NULL, NULL,
                                    "the dashboard's files are not installed (--web-dir)");
    const char *rel = r->url + 4; /* after "/ui/" */
    if (!rel[0])
        rel = "index.html";
    const char *type = type_of(rel);
    char path[4096];
    if (!safe(rel) || !type || snprintf(path, sizeof(path), "%s/%s", dir, rel) >= (int)sizeof(path))
        return sl_admin_reply_error(r, 404, "NotFound", NULL, NULL, NULL, "no such file in the dashboard");
    return send_file(r, path, type);
}
