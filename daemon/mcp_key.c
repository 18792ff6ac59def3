/* The MCP session key file: see mcp_key.h. Made with O_EXCL, so two masters
 * starting on one state dir (the lock refuses the second anyway) cannot
 * write different keys. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "daemon/mcp_key.h"

static bool read_key(const char *path, uint8_t key[32], char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    uint8_t buf[33];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n != 32) {
        snprintf(why, whylen, "%s must hold exactly 32 bytes (remove it to make a new key; open MCP sessions end)",
                 path);
        return false;
    }
    memcpy(key, buf, 32);
    return true;
}

bool sl_mcp_key_load(const char *state_dir, uint8_t key[32], char *why, size_t whylen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", state_dir, SL_MCP_KEY_FILE);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size == 0)
        unlink(path); /* made by a start that died before writing it: no session can depend on it */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? read_key(path, key, why, whylen)
                               : (snprintf(why, whylen, "cannot create %s: %s", path, strerror(errno)), false);
    uint8_t fresh[32];
    bool ok = RAND_bytes(fresh, sizeof(fresh)) == 1 && write(fd, fresh, sizeof(fresh)) == (ssize_t)sizeof(fresh) &&
              fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        snprintf(why, whylen, "cannot write %s", path);
        return false;
    }
    memcpy(key, fresh, 32);
    return true;
}
