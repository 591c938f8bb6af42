/* array_len: the number of elements of an array, from its own declaration,
 * so a loop over it cannot drift from it. Arrays only, never a pointer. */
#ifndef SSE_ARRAY_LEN_H
#define SSE_ARRAY_LEN_H

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
