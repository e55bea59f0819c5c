/*-------------------------------------------------------------------------
 *
 * log_mem.c
 *	  The Raft core's in-memory view of the log, the membership config
 *	  codec, and message copy helpers.
 *
 * The log holds the entries after the latest snapshot point, consecutive,
 * each owning its payload.  Invariants: ents[k].index == snap_index + 1 + k;
 * terms never decrease along the log; stable <= last index.  The log never
 * does I/O: durability is the host's job (see raft.h).
 *
 * No locking: owned by one PhRaft, used by one thread.
 *
 * src/raft/log_mem.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

/* Start an empty log after the snapshot point (snap_index, snap_term). */
void
ph_raft_mem_init(PhRaftMemLog *l, uint64_t snap_index, uint64_t snap_term)
{
	memset(l, 0, sizeof(*l));
	l->snap_index = snap_index;
	l->snap_term = snap_term;
	l->stable = snap_index;
}

/* Free every entry and the array. */
void
ph_raft_mem_free(PhRaftMemLog *l)
{
	size_t		k;

	for (k = 0; k < l->n; k++)
		free(l->ents[k].data);
	free(l->ents);
	l->ents = NULL;
	l->n = l->cap = 0;
}

uint64_t
ph_raft_mem_last_index(const PhRaftMemLog *l)
{
	return l->snap_index + l->n;
}

uint64_t
ph_raft_mem_last_term(const PhRaftMemLog *l)
{
	return l->n ? l->ents[l->n - 1].term : l->snap_term;
}

/*
 * Term of the entry at index: the snapshot's term at the snapshot point, 0
 * when the index is compacted away or beyond the end.
 */
uint64_t
ph_raft_mem_term(const PhRaftMemLog *l, uint64_t index)
{
	if (index == l->snap_index)
		return l->snap_term;
	if (index < l->snap_index || index > l->snap_index + l->n)
		return 0;
	return l->ents[index - l->snap_index - 1].term;
}

/* The entry at index, or NULL if it is not in memory. */
PhRaftEntry *
ph_raft_mem_entry(const PhRaftMemLog *l, uint64_t index)
{
	if (index <= l->snap_index || index > l->snap_index + l->n)
		return NULL;
	return &l->ents[index - l->snap_index - 1];
}

/* Append one entry at last_index + 1, copying the payload. */
bool
ph_raft_mem_append(PhRaftMemLog *l, uint64_t term, uint8_t type,
				   const void *data, uint32_t len)
{
	PhRaftEntry *e;

	if (l->n == l->cap)
	{
		size_t		ncap = l->cap ? l->cap * 2 : 64;
		PhRaftEntry *ne = realloc(l->ents, ncap * sizeof(PhRaftEntry));

		if (ne == NULL)
			return false;
		l->ents = ne;
		l->cap = ncap;
	}
	e = &l->ents[l->n];
	e->index = l->snap_index + l->n + 1;
	e->term = term;
	e->type = type;
	e->len = len;
	e->data = NULL;
	if (len > 0)
	{
		e->data = malloc(len);
		if (e->data == NULL)
			return false;
		memcpy(e->data, data, len);
	}
	l->n++;
	return true;
}

/* Drop every entry after index (a conflicting suffix). */
void
ph_raft_mem_truncate_after(PhRaftMemLog *l, uint64_t index)
{
	if (index < l->snap_index)
		index = l->snap_index;
	while (l->snap_index + l->n > index)
	{
		l->n--;
		free(l->ents[l->n].data);
		l->ents[l->n].data = NULL;
	}
	if (l->stable > index)
		l->stable = index;
}

/*
 * Drop the entries up to index (covered by a snapshot at index); index must
 * be within the log.
 */
void
ph_raft_mem_compact(PhRaftMemLog *l, uint64_t index)
{
	size_t		drop;
	size_t		k;
	uint64_t	term;

	if (index <= l->snap_index || index > l->snap_index + l->n)
		return;
	term = ph_raft_mem_term(l, index);
	drop = index - l->snap_index;
	for (k = 0; k < drop; k++)
		free(l->ents[k].data);
	memmove(l->ents, l->ents + drop, (l->n - drop) * sizeof(PhRaftEntry));
	l->n -= drop;
	l->snap_index = index;
	l->snap_term = term;
	if (l->stable < index)
		l->stable = index;
}

/* Replace the whole log by an empty one after a new snapshot point. */
void
ph_raft_mem_reset(PhRaftMemLog *l, uint64_t snap_index, uint64_t snap_term)
{
	ph_raft_mem_free(l);
	ph_raft_mem_init(l, snap_index, snap_term);
}

/*
 * The largest index j <= index whose term is <= term (never below the
 * snapshot point).  Used by both sides of the fast log backtracking: all
 * entries in (j, index] have terms above "term" and so cannot match an
 * entry of the other log whose term is "term" or less.
 */
uint64_t
ph_raft_mem_find_conflict_by_term(const PhRaftMemLog *l, uint64_t index,
								  uint64_t term)
{
	uint64_t	last = ph_raft_mem_last_index(l);

	if (index > last)
		index = last;
	while (index > l->snap_index && ph_raft_mem_term(l, index) > term)
		index--;
	return index;
}

/* Is a log ending at (last_term, last_index) at least as up to date? */
bool
ph_raft_mem_up_to_date(const PhRaftMemLog *l, uint64_t last_term,
					   uint64_t last_index)
{
	uint64_t	my_term = ph_raft_mem_last_term(l);

	return last_term > my_term ||
		(last_term == my_term && last_index >= ph_raft_mem_last_index(l));
}

/* Deep copy of an entry (payload duplicated). */
bool
ph_raft_entry_copy(PhRaftEntry *dst, const PhRaftEntry *src)
{
	*dst = *src;
	dst->data = NULL;
	if (src->len > 0)
	{
		dst->data = malloc(src->len);
		if (dst->data == NULL)
			return false;
		memcpy(dst->data, src->data, src->len);
	}
	return true;
}

/* Deep copy of a snapshot (data duplicated). */
bool
ph_raft_snapshot_copy(PhRaftSnapshot *dst, const PhRaftSnapshot *src)
{
	*dst = *src;
	dst->data = NULL;
	if (src->len > 0)
	{
		dst->data = malloc(src->len);
		if (dst->data == NULL)
			return false;
		memcpy(dst->data, src->data, src->len);
	}
	return true;
}

/* ---------------------------------------------------------------------
 * Membership config
 * ---------------------------------------------------------------------
 */

bool
ph_raft_conf_is_voter(const PhRaftConfig *c, uint64_t id)
{
	int			i;

	for (i = 0; i < c->n_voters; i++)
		if (c->voters[i] == id)
			return true;
	return false;
}

bool
ph_raft_conf_is_learner(const PhRaftConfig *c, uint64_t id)
{
	int			i;

	for (i = 0; i < c->n_learners; i++)
		if (c->learners[i] == id)
			return true;
	return false;
}

uint32_t
ph_raft_conf_encoded_len(const PhRaftConfig *c)
{
	return 8 + 8 * (uint32_t) (c->n_voters + c->n_learners);
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	int			i;

	for (i = 0; i < 4; i++)
		p[i] = (unsigned char) (v >> (8 * i));
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	int			i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char) (v >> (8 * i));
}

static uint32_t
get_u32(const unsigned char *p)
{
	uint32_t	v = 0;
	int			i;

	for (i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t
get_u64(const unsigned char *p)
{
	uint64_t	v = 0;
	int			i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/*
 * Encode a config as: u32 n_voters, u32 n_learners, then the voter ids and
 * the learner ids as u64, all little-endian.  buf must hold
 * ph_raft_conf_encoded_len() bytes.
 */
void
ph_raft_conf_encode(const PhRaftConfig *c, void *buf)
{
	unsigned char *p = buf;
	int			i;

	put_u32(p, (uint32_t) c->n_voters);
	put_u32(p + 4, (uint32_t) c->n_learners);
	p += 8;
	for (i = 0; i < c->n_voters; i++, p += 8)
		put_u64(p, c->voters[i]);
	for (i = 0; i < c->n_learners; i++, p += 8)
		put_u64(p, c->learners[i]);
}

/* Decode a config; false if the bytes are not a valid encoding. */
bool
ph_raft_conf_decode(const void *buf, uint32_t len, PhRaftConfig *c)
{
	const unsigned char *p = buf;
	uint32_t	nv;
	uint32_t	nl;
	uint32_t	i;

	memset(c, 0, sizeof(*c));
	if (len < 8)
		return false;
	nv = get_u32(p);
	nl = get_u32(p + 4);
	if (nv > PH_RAFT_MAX_NODES || nl > PH_RAFT_MAX_NODES ||
		nv + nl > PH_RAFT_MAX_NODES || len != 8 + 8 * (nv + nl))
		return false;
	p += 8;
	c->n_voters = (int) nv;
	c->n_learners = (int) nl;
	for (i = 0; i < nv; i++, p += 8)
		c->voters[i] = get_u64(p);
	for (i = 0; i < nl; i++, p += 8)
		c->learners[i] = get_u64(p);
	return true;
}

/* ---------------------------------------------------------------------
 * Messages
 * ---------------------------------------------------------------------
 */

/* Deep copy of a message; NULL when out of memory. */
PhRaftMsg *
ph_raft_msg_clone(const PhRaftMsg *m)
{
	PhRaftMsg  *c = malloc(sizeof(PhRaftMsg));
	uint32_t	i;

	if (c == NULL)
		return NULL;
	*c = *m;
	c->entries = NULL;
	c->snapshot = NULL;
	c->n_entries = 0;
	if (m->n_entries > 0)
	{
		c->entries = calloc(m->n_entries, sizeof(PhRaftEntry));
		if (c->entries == NULL)
			goto fail;
		for (i = 0; i < m->n_entries; i++)
		{
			if (!ph_raft_entry_copy(&c->entries[i], &m->entries[i]))
				goto fail;
			c->n_entries = i + 1;
		}
	}
	if (m->snapshot != NULL)
	{
		c->snapshot = malloc(sizeof(PhRaftSnapshot));
		if (c->snapshot == NULL ||
			!ph_raft_snapshot_copy(c->snapshot, m->snapshot))
		{
			free(c->snapshot);
			c->snapshot = NULL;
			goto fail;
		}
	}
	return c;
fail:
	ph_raft_msg_free(c);
	return NULL;
}

/* Free the entries and snapshot a message owns (not the struct itself). */
void
ph_raft_msg_free_contents(PhRaftMsg *m)
{
	uint32_t	i;

	for (i = 0; i < m->n_entries; i++)
		free(m->entries[i].data);
	free(m->entries);
	if (m->snapshot)
		free(m->snapshot->data);
	free(m->snapshot);
	m->entries = NULL;
	m->snapshot = NULL;
	m->n_entries = 0;
}

/* Free a message made by ph_raft_msg_clone. */
void
ph_raft_msg_free(PhRaftMsg *m)
{
	if (m == NULL)
		return;
	ph_raft_msg_free_contents(m);
	free(m);
}
