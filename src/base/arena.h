/*
 * arena.h - bump allocator whose lifetime is one request (or one test).
 *
 * Everything a decoder allocates for a request (arrays of topics, partitions,
 * ...) comes from the request's arena and is released in one call when the
 * response has been sent. The arena enforces a byte limit so an untrusted
 * count can never make it grow without bound: arena_alloc returns NULL once
 * bytes_max would be exceeded, and decoders turn that into a decode error.
 *
 * Not thread-safe: an arena belongs to the thread that handles its request.
 */
#ifndef GREGOR_BASE_ARENA_H
#define GREGOR_BASE_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;

typedef struct arena {
    arena_block *head;      /* newest block first */
    size_t bytes_used;      /* sum of block sizes handed out so far */
    size_t bytes_max;       /* refuse allocations past this */
} arena;

void arena_init(arena *a, size_t bytes_max);
/* Free every block; the arena may be reused afterwards. */
void arena_deinit(arena *a);
/* Zeroed memory, 16-byte aligned, owned by the arena. NULL when over limit. */
void *arena_alloc(arena *a, size_t n);
/* Copy of s (len bytes plus a NUL), owned by the arena. */
char *arena_strndup(arena *a, const char *s, size_t len);

#endif
