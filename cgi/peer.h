/* peer: has the other end of a FastCGI connection gone away? */
#ifndef SSE_PEER_H
#define SSE_PEER_H

/*
 * Returns 1 when nginx has closed (or reset) the connection, 0 otherwise,
 * without blocking. A browser that leaves makes nginx close the upstream
 * connection; the worker would otherwise notice only at its next write
 * (on TCP often only the second one), up to a heartbeat later.
 */
int peer_hung_up(int fd);

#endif
