/* The data path's system calls, made directly.
 *
 * A worker is forked from the master, which runs threads (the admin API's), so
 * glibc goes on treating the worker as multi-threaded and wraps every read,
 * writev and splice, which are thread cancellation points, in calls that enable
 * and disable asynchronous cancellation: about 2 % of a worker's time for small
 * requests (perf). Workers never cancel threads, so the data path calls the
 * kernel through syscall(2), which has no such bookkeeping. Results and errno
 * are those of the usual wrappers. */
#ifndef SL_SYS_IO_H
#define SL_SYS_IO_H

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer checks the buffers of read and writev in its wrappers of
 * them; sanitizer builds keep those checks. */
static inline ssize_t sl_sys_read(int fd, void *buf, size_t n) { return read(fd, buf, n); }
static inline ssize_t sl_sys_writev(int fd, const struct iovec *iov, int n) { return writev(fd, iov, n); }
#else
static inline ssize_t sl_sys_read(int fd, void *buf, size_t n) { return syscall(SYS_read, fd, buf, n); }
static inline ssize_t sl_sys_writev(int fd, const struct iovec *iov, int n)
{
    return syscall(SYS_writev, fd, iov, n);
}
#endif

static inline ssize_t sl_sys_splice(int in, int out, size_t n, unsigned int flags)
{
    return syscall(SYS_splice, in, (loff_t *)NULL, out, (loff_t *)NULL, n, flags);
}

#endif
