// wake_floor: how long this machine takes to wake a thread that sleeps in poll(2) on an eventfd, the way the
// relay's threads sleep (the intercept's capture thread, the capture node's shard threads). One thread writes the
// eventfd every INTERVAL_US and stamps CLOCK_MONOTONIC; the other, asleep in poll, stamps when it runs again.
// The difference is the wake-up latency no user-space code on the path can go below without busy polling.
// Usage: wake_floor [SAMPLES=2000] [INTERVAL_US=2000] [spin]   ("spin": the waiter busy-polls instead, for contrast)
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int efd;
static int samples = 2000;
static int spin;
static long long *latency;
static volatile long long sent_at;
static volatile int received;

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *waiter(void *unused) {
  (void)unused;
  for (int i = 0; i < samples; i++) {
    uint64_t value;
    if (spin) {
      while (read(efd, &value, sizeof value) != sizeof value) {
      }
    } else {
      struct pollfd p = {.fd = efd, .events = POLLIN};
      poll(&p, 1, 1000);
      if (read(efd, &value, sizeof value) != sizeof value) {
        continue; // a poll timeout: the writer is behind; the sample is retried
      }
    }
    latency[i] = now_ns() - sent_at;
    received = i + 1;
  }
  return NULL;
}

static int compare(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int interval_us = 2000;
  if (argc > 1) samples = atoi(argv[1]);
  if (argc > 2) interval_us = atoi(argv[2]);
  if (argc > 3) spin = strcmp(argv[3], "spin") == 0;
  if (samples < 100 || interval_us < 100) {
    fprintf(stderr, "usage: wake_floor [SAMPLES>=100] [INTERVAL_US>=100] [spin]\n");
    return 2;
  }
  latency = calloc((size_t)samples, sizeof *latency);
  efd = eventfd(0, EFD_NONBLOCK);
  pthread_t thread;
  pthread_create(&thread, NULL, waiter, NULL);
  for (int i = 0; i < samples; i++) {
    usleep((useconds_t)interval_us);
    while (received < i) usleep(100); // one wake-up per sample: never two writes before a read
    sent_at = now_ns();
    uint64_t one = 1;
    if (write(efd, &one, sizeof one) != sizeof one) return 1;
  }
  pthread_join(thread, NULL);
  qsort(latency, (size_t)samples, sizeof *latency, compare);
  printf("%s wake-up latency over %d samples, µs: p50 %.1f p90 %.1f p99 %.1f max %.1f\n", spin ? "busy-polling" : "poll(2)",
         samples, latency[samples / 2] / 1e3, latency[samples * 9 / 10] / 1e3, latency[samples * 99 / 100] / 1e3,
         latency[samples - 1] / 1e3);
  return 0;
}
