#include "admin/admin_path.h"

#include <stdio.h>
#include <string.h>

#include "common/sl.h"

#define MAX_SEGMENTS 10

/* Splits path on '/' into at most MAX_SEGMENTS non-empty segments, in buf. */
static int split(const char *url, char *buf, size_t buflen, char **seg)
{
    size_t n = strlen(url);
    if (n >= buflen)
        return -1;
    memcpy(buf, url, n + 1);
    int count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (count == MAX_SEGMENTS)
            return -1;
        seg[count++] = tok;
    }
    return count;
}

static int copy(char *dst, size_t dstlen, const char *src)
{
    size_t n = strlen(src);
    if (n >= dstlen)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

int sl_admin_path_parse(const char *url, sl_admin_path *p)
{
    memset(p, 0, sizeof(*p));
    char buf[1024];
    char *seg[MAX_SEGMENTS];
    int n = split(url, buf, sizeof(buf), seg);
    if (n < 0)
        return strncmp(url, "/api", 4) == 0 ? SL_NOTFOUND : SL_ERR;
    int i;
    if (n >= 1 && strcmp(seg[0], "api") == 0) {
        if (n < 3)
            return SL_ERR; /* /api, /api/v1: discovery */
        if (copy(p->version, sizeof(p->version), seg[1]) != 0)
            return SL_NOTFOUND;
        i = 2;
    } else if (n >= 1 && strcmp(seg[0], "apis") == 0) {
        if (n < 4)
            return SL_ERR; /* /apis, /apis/g, /apis/g/v: discovery */
        if (copy(p->group, sizeof(p->group), seg[1]) != 0 || copy(p->version, sizeof(p->version), seg[2]) != 0)
            return SL_NOTFOUND;
        i = 3;
    } else {
        return SL_ERR;
    }

    int rest = n - i;
    /* namespaces/{ns}/{plural}... unless it is the Namespace item itself
     * (/api/v1/namespaces/{name} or /api/v1/namespaces/{name}/status). */
    if (strcmp(seg[i], "namespaces") == 0 && rest >= 3 && !(rest == 3 && p->group[0] == '\0' &&
                                                             (strcmp(seg[i + 2], "status") == 0 ||
                                                              strcmp(seg[i + 2], "finalize") == 0))) {
        if (copy(p->ns, sizeof(p->ns), seg[i + 1]) != 0)
            return SL_NOTFOUND;
        i += 2;
        rest -= 2;
    }
    if (rest < 1 || rest > 3)
        return SL_NOTFOUND;
    if (copy(p->plural, sizeof(p->plural), seg[i]) != 0)
        return SL_NOTFOUND;
    if (rest >= 2 && copy(p->name, sizeof(p->name), seg[i + 1]) != 0)
        return SL_NOTFOUND;
    if (rest == 3 && copy(p->subresource, sizeof(p->subresource), seg[i + 2]) != 0)
        return SL_NOTFOUND;
    p->kind = sl_kind_by_resource(p->group, p->version, p->plural);
    if (!p->kind)
        return SL_NOTFOUND;
    if (p->ns[0] && !p->kind->namespaced)
        return SL_NOTFOUND;
    if (p->subresource[0] && strcmp(p->subresource, "status") != 0)
        return SL_NOTFOUND;
    return SL_OK;
}
