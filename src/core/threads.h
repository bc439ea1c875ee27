/* Helper threads (block I/O workers, the console writer) that take no signals. */
#ifndef ARMVMM_CORE_THREADS_H
#define ARMVMM_CORE_THREADS_H

#include <pthread.h>

/*
 * pthread_create with every signal blocked in the new thread: process-directed
 * signals (SIGINT, a stray SIGUSR1) go to the threads meant to take them.
 * Returns 0 or an errno value, like pthread_create.
 */
int thread_start_unsignalled(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
