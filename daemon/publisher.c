#include "daemon/publisher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

void sl_control_snapshot_name(const sl_control *c, uint64_t generation, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%llu", c->snapshot_prefix, (unsigned long long)generation);
}

/* Snapshot objects of masters that are gone (kill -9) would stay in /dev/shm
 * until reboot; remove those whose pid is not alive. */
static void remove_stale_objects(void)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid;
        unsigned long long gen;
        if (sscanf(e->d_name, "sluice-%d-%llu", &pid, &gen) != 2)
            continue;
        if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM))
            continue;
        char name[300];
        snprintf(name, sizeof(name), "/%s", e->d_name);
        if (shm_unlink(name) == 0)
            sl_log_info("publisher", "removed stale snapshot %s", name);
    }
    closedir(d);
}

sl_control *sl_control_create(void)
{
    sl_control *c = mmap(NULL, sizeof(sl_control), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED) {
        sl_log_error("publisher", "cannot map the control block: %s", strerror(errno));
        abort();
    }
    memset(c, 0, sizeof(*c));
    c->magic = SL_CONTROL_MAGIC;
    c->master_pid = (int32_t)getpid();
    snprintf(c->snapshot_prefix, sizeof(c->snapshot_prefix), "/sluice-%d-", (int)getpid());
    sl_ticket_keys_rotate(c, false);
    remove_stale_objects();
    return c;
}

void sl_publisher_init(sl_publisher *p, sl_control *control, int owner_uid, int owner_gid)
{
    memset(p, 0, sizeof(*p));
    p->control = control;
    p->owner_uid = owner_uid;
    p->owner_gid = owner_gid;
}

int sl_publisher_publish(sl_publisher *p, const void *blob, size_t size)
{
    const sl_snap_header *h = blob;
    char name[96];
    sl_control_snapshot_name(p->control, h->generation, name, sizeof(name));
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) {
        sl_log_error("publisher", "cannot create %s: %s", name, strerror(errno));
        return -1;
    }
    if (p->owner_uid >= 0 && fchown(fd, (uid_t)p->owner_uid, (gid_t)p->owner_gid) != 0)
        sl_log_warn("publisher", "cannot give %s to uid %d: %s", name, p->owner_uid, strerror(errno));
    void *map = MAP_FAILED;
    if (ftruncate(fd, (off_t)size) == 0)
        map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        sl_log_error("publisher", "cannot size or map %s (%zu bytes): %s", name, size, strerror(errno));
        shm_unlink(name);
        return -1;
    }
    memcpy(map, blob, size);
    /* Read-only from here on, in the master too: a snapshot is immutable. */
    mprotect(map, size, PROT_READ);
    uint64_t previous = p->generation;
    void *old = p->current;
    size_t old_size = p->current_size;
    p->current = map;
    p->current_size = size;
    p->generation = h->generation;
    atomic_store_explicit(&p->control->generation, h->generation, memory_order_release);
    if (previous) {
        sl_control_snapshot_name(p->control, previous, name, sizeof(name));
        shm_unlink(name);
    }
    if (old)
        munmap(old, old_size);
    return 0;
}

sl_snapshot sl_publisher_current(const sl_publisher *p)
{
    sl_snapshot s = {p->current, p->current_size};
    return s;
}

void sl_publisher_close(sl_publisher *p)
{
    if (p->generation) {
        char name[96];
        sl_control_snapshot_name(p->control, p->generation, name, sizeof(name));
        shm_unlink(name);
    }
    if (p->current)
        munmap(p->current, p->current_size);
    p->current = NULL;
    p->generation = 0;
}
