/*
 * refuse: answers "503 Service Unavailable" on a connection that no request
 * thread can take, from the accept thread, without ever blocking it: the
 * answer is written by hand as FastCGI records (nginx relays it to the
 * client with its Retry-After), in one non-blocking send, and the
 * connection closed.
 */
#ifndef SSE_REFUSE_H
#define SSE_REFUSE_H

/* Writes the 503 with reason as its one-line body, then closes fd. */
void refuse_connection(int fd, const char *reason);

#endif
