/* Requests in flight by numeric id (main thread only): JS answers a request by its id,
   and a stale id (answered twice, or after its session ended) never finds another one. */
#include "fuse_ll.h"

typedef struct slot {
  fuse_req_t req;
  session_t *session;
  uint32_t gen;
  uint32_t next_free;
} slot_t;

#define SLOT_BITS 22
#define SLOT_LIMIT (1u << SLOT_BITS)
#define NO_SLOT UINT32_MAX

static slot_t *slots;
static uint32_t slots_len, slots_cap, free_head = NO_SLOT;

double table_put(session_t *s, fuse_req_t req) {
  uint32_t index;
  if (free_head != NO_SLOT) {
    index = free_head;
    free_head = slots[index].next_free;
  } else {
    if (slots_len == slots_cap) {
      uint32_t cap = slots_cap ? slots_cap * 2 : 1024;
      if (cap > SLOT_LIMIT) return -1;
      slot_t *grown = realloc(slots, cap * sizeof(slot_t));
      if (grown == NULL) return -1;
      slots = grown;
      slots_cap = cap;
    }
    index = slots_len++;
    slots[index].gen = 0;
  }
  slots[index].req = req;
  slots[index].session = s;
  /* 31 bits of generation and 22 of slot keep the id an exact double (< 2^53). */
  slots[index].gen = (slots[index].gen + 1) & 0x7FFFFFFFu;
  s->inflight++;
  /* id = gen * 2^22 + index: a stale id (answered twice) never matches a reused slot. */
  return (double)slots[index].gen * (double)SLOT_LIMIT + (double)index;
}

/* The slot of a request in flight, or NULL. */
static slot_t *find(double id) {
  if (!(id >= 0)) return NULL;
  uint64_t n = (uint64_t)id;
  uint32_t index = (uint32_t)(n & (SLOT_LIMIT - 1));
  uint32_t gen = (uint32_t)(n >> SLOT_BITS);
  if (index >= slots_len || slots[index].req == NULL || slots[index].gen != gen) return NULL;
  return &slots[index];
}

/* Takes the request out of the table; NULL if the id is unknown or already answered. */
fuse_req_t table_take(double id) {
  slot_t *slot = find(id);
  if (slot == NULL) return NULL;
  fuse_req_t req = slot->req;
  session_t *s = slot->session;
  slot->req = NULL;
  slot->session = NULL;
  slot->next_free = free_head;
  free_head = (uint32_t)(slot - slots);
  if (--s->inflight == 0) answered_all(s);
  return req;
}

session_t *table_session(double id) {
  slot_t *slot = find(id);
  return slot ? slot->session : NULL;
}

/* The request, left in the table (getGroups asks while the handler still runs). */
fuse_req_t table_peek(double id) {
  slot_t *slot = find(id);
  return slot ? slot->req : NULL;
}
