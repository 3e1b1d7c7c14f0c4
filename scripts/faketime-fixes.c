/* Preloaded before Debian 12's libfaketime 0.9.10 by scripts/test-any-day.sh, which moves the
 * wall clock by an offset and leaves the monotonic clock alone (FAKETIME_DONT_FAKE_MONOTONIC=1).
 * Two of libfaketime's wrappers get that case wrong; with nothing to convert, these two send
 * it straight to the C library or the kernel and leave every other case to libfaketime.
 *
 * clock_nanosleep: an absolute sleep on CLOCK_MONOTONIC is shifted as if the monotonic clock
 *   were faked, to a negative time: EINVAL. Python 3.11's time.sleep() is such a sleep, so
 *   every time.sleep() raised "OSError: [Errno 22] Invalid argument" (libfaketime issue 426,
 *   fixed after 0.9.10).
 * pthread_cond_timedwait: each wait on a condition variable takes a global lock and a table
 *   look-up; Chromium waits so often that its start took ~20 s and each new page ~40 s of
 *   burnt CPU, instead of a fraction of a second. A condition variable on CLOCK_MONOTONIC
 *   (glibc marks it with bit 1 of __wrefs) needs no conversion, so it goes to glibc directly;
 *   one on CLOCK_REALTIME still goes through libfaketime, which converts the fake deadline.
 *
 * Built for the run: cc -shared -fPIC -o faketime-fixes.so faketime-fixes.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_nanosleep_fn)(clockid_t, int, const struct timespec *, struct timespec *);
typedef int (*cond_timedwait_fn)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);

#define COND_CLOCK_MONOTONIC 2u /* glibc's __PTHREAD_COND_CLOCK_MONOTONIC_MASK */

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *request,
                    struct timespec *remain)
{
    static clock_nanosleep_fn next;
    if (clock_id == CLOCK_MONOTONIC) {
        int saved = errno;
        int error = syscall(SYS_clock_nanosleep, clock_id, flags, request, remain) == 0 ? 0 : errno;
        errno = saved; /* clock_nanosleep returns its error and leaves errno alone */
        return error;
    }
    if (next == NULL) {
        next = (clock_nanosleep_fn)dlsym(RTLD_NEXT, "clock_nanosleep");
        if (next == NULL)
            return ENOSYS;
    }
    return next(clock_id, flags, request, remain);
}

int pthread_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *mutex,
                           const struct timespec *deadline)
{
    static cond_timedwait_fn glibc, next;
    if (cond->__data.__wrefs & COND_CLOCK_MONOTONIC) {
        if (glibc == NULL) {
            void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
            if (libc != NULL)
                glibc = (cond_timedwait_fn)dlvsym(libc, "pthread_cond_timedwait", "GLIBC_2.3.2");
            if (glibc == NULL)
                return ENOSYS;
        }
        return glibc(cond, mutex, deadline);
    }
    if (next == NULL) {
        next = (cond_timedwait_fn)dlsym(RTLD_NEXT, "pthread_cond_timedwait");
        if (next == NULL)
            return ENOSYS;
    }
    return next(cond, mutex, deadline);
}
