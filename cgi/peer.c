#define _GNU_SOURCE /* POLLRDHUP: the peer's FIN, even with unread input queued */
#include "peer.h"

#include <poll.h>

int peer_hung_up(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLRDHUP };
    if (poll(&p, 1, 0) <= 0)
        return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}
