/* Shared basics for every part of sluice: return codes and tiny helpers. */
#ifndef SL_SL_H
#define SL_SL_H

#include <stddef.h>

/* Return codes used across the code base. Functions that can fail return one of
 * these; the specific meaning of SL_ERR is in the function's contract comment. */
enum {
    SL_OK = 0,
    SL_ERR = -1,
    SL_AGAIN = -2,
    SL_NOTFOUND = -3,
    SL_CONFLICT = -4,
    SL_GONE = -5,
};

#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
