// The ceiling experiment's transparent proxy (run.sh): accept, connect, then one thread per direction
// moving bytes socket → pipe → socket with splice(2). Deliberately minimal: no TUN, no NAT, no JavaScript.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
/* One direction of a relayed connection; the second direction to finish closes both sockets. */
struct pair { int from, to; int *left; };
static void *pump(void *a) {
  struct pair *p = a; int pf[2]; pipe(pf); fcntl(pf[0], F_SETPIPE_SZ, 1<<20);
  for (;;) { ssize_t n = splice(p->from, 0, pf[1], 0, 1<<20, SPLICE_F_MOVE);
    if (n <= 0) break;
    while (n > 0) { ssize_t m = splice(pf[0], 0, p->to, 0, n, SPLICE_F_MOVE); if (m <= 0) goto out; n -= m; } }
out: shutdown(p->to, SHUT_WR); close(pf[0]); close(pf[1]);
  if (__atomic_sub_fetch(p->left, 1, __ATOMIC_SEQ_CST) == 0) { close(p->from); close(p->to); free(p->left); }
  free(p); return 0; }
int main(int c, char **v) { signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1; setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, 4);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(v[1])) }; bind(ls, (void*)&a, sizeof a); listen(ls, 128);
  struct sockaddr_in d = { .sin_family = AF_INET, .sin_port = htons(atoi(v[3])) }; inet_pton(AF_INET, v[2], &d.sin_addr);
  for (;;) { int s = accept(ls, 0, 0);
    if (s < 0) continue;
    int o = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(o, (void*)&d, sizeof d)) { close(s); close(o); continue; }
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, 4); setsockopt(o, IPPROTO_TCP, TCP_NODELAY, &one, 4);
    struct pair *p1 = malloc(sizeof *p1), *p2 = malloc(sizeof *p2); int *left = malloc(sizeof *left); *left = 2;
    p1->from = s; p1->to = o; p1->left = left; p2->from = o; p2->to = s; p2->left = left;
    pthread_attr_t at; pthread_attr_init(&at); pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t t; pthread_create(&t, &at, pump, p1); pthread_create(&t, &at, pump, p2); }
}
