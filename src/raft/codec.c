/*-------------------------------------------------------------------------
 *
 * codec.c
 *	  Wire encoding of Raft core messages (PhRaftMsg) for the transport.
 *
 * Format (all integers little-endian):
 *	 u8 version (1), u8 type, u8 flags (1 reject, 2 flag, 4 snapshot), u8 0
 *	 u64 from, to, term, index, log_term, commit, reject_hint, hint_term,
 *		 context
 *	 u32 n_entries, then per entry: u64 index, u64 term, u8 type, u32 len,
 *		 len bytes
 *	 if snapshot: u64 index, u64 term, u32 conf_len, conf bytes (see
 *		 ph_raft_conf_encode), u32 len, len bytes
 *
 * Decoding never trusts the input: every length is checked against the
 * bytes left, so a corrupt or hostile buffer yields an error, never an
 * overrun.  Authentication of peers is the transport's job.
 *
 * No state, no locking.
 *
 * src/raft/codec.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

#define CODEC_VERSION 1
#define HEADER_LEN (4 + 9 * 8 + 4)
#define ENTRY_HEADER_LEN (8 + 8 + 1 + 4)

#define F_REJECT	1
#define F_FLAG		2
#define F_SNAPSHOT	4

/* Cursor over an output buffer. */
typedef struct WBuf
{
	unsigned char *p;
} WBuf;

/* Cursor over an input buffer; ok turns false on any overrun. */
typedef struct RBuf
{
	const unsigned char *p;
	size_t		left;
	bool		ok;
} RBuf;

static void
w_u8(WBuf *w, uint8_t v)
{
	*w->p++ = v;
}

static void
w_u32(WBuf *w, uint32_t v)
{
	int			i;

	for (i = 0; i < 4; i++)
		*w->p++ = (unsigned char) (v >> (8 * i));
}

static void
w_u64(WBuf *w, uint64_t v)
{
	int			i;

	for (i = 0; i < 8; i++)
		*w->p++ = (unsigned char) (v >> (8 * i));
}

static void
w_bytes(WBuf *w, const void *b, uint32_t n)
{
	if (n > 0)
		memcpy(w->p, b, n);
	w->p += n;
}

static uint8_t
r_u8(RBuf *r)
{
	if (!r->ok || r->left < 1)
	{
		r->ok = false;
		return 0;
	}
	r->left--;
	return *r->p++;
}

static uint32_t
r_u32(RBuf *r)
{
	uint32_t	v = 0;
	int			i;

	if (!r->ok || r->left < 4)
	{
		r->ok = false;
		return 0;
	}
	for (i = 3; i >= 0; i--)
		v = (v << 8) | r->p[i];
	r->p += 4;
	r->left -= 4;
	return v;
}

static uint64_t
r_u64(RBuf *r)
{
	uint64_t	v = 0;
	int			i;

	if (!r->ok || r->left < 8)
	{
		r->ok = false;
		return 0;
	}
	for (i = 7; i >= 0; i--)
		v = (v << 8) | r->p[i];
	r->p += 8;
	r->left -= 8;
	return v;
}

/* Copy n bytes into a fresh allocation (NULL for n == 0). */
static void *
r_bytes(RBuf *r, uint32_t n)
{
	void	   *b;

	if (!r->ok || r->left < n)
	{
		r->ok = false;
		return NULL;
	}
	if (n == 0)
		return NULL;
	b = malloc(n);
	if (b == NULL)
	{
		r->ok = false;
		return NULL;
	}
	memcpy(b, r->p, n);
	r->p += n;
	r->left -= n;
	return b;
}

/* Bytes needed to encode m. */
size_t
ph_raft_msg_encoded_len(const PhRaftMsg *m)
{
	size_t		n = HEADER_LEN;
	uint32_t	i;

	for (i = 0; i < m->n_entries; i++)
		n += ENTRY_HEADER_LEN + m->entries[i].len;
	if (m->snapshot)
		n += 8 + 8 + 4 + ph_raft_conf_encoded_len(&m->snapshot->conf) +
			4 + m->snapshot->len;
	return n;
}

/* Encode m into buf, which holds ph_raft_msg_encoded_len(m) bytes. */
void
ph_raft_msg_encode(const PhRaftMsg *m, void *buf)
{
	WBuf		w;
	uint32_t	i;
	uint8_t		flags = 0;

	w.p = buf;
	if (m->reject)
		flags |= F_REJECT;
	if (m->flag)
		flags |= F_FLAG;
	if (m->snapshot)
		flags |= F_SNAPSHOT;
	w_u8(&w, CODEC_VERSION);
	w_u8(&w, (uint8_t) m->type);
	w_u8(&w, flags);
	w_u8(&w, 0);
	w_u64(&w, m->from);
	w_u64(&w, m->to);
	w_u64(&w, m->term);
	w_u64(&w, m->index);
	w_u64(&w, m->log_term);
	w_u64(&w, m->commit);
	w_u64(&w, m->reject_hint);
	w_u64(&w, m->hint_term);
	w_u64(&w, m->context);
	w_u32(&w, m->n_entries);
	for (i = 0; i < m->n_entries; i++)
	{
		const PhRaftEntry *e = &m->entries[i];

		w_u64(&w, e->index);
		w_u64(&w, e->term);
		w_u8(&w, e->type);
		w_u32(&w, e->len);
		w_bytes(&w, e->data, e->len);
	}
	if (m->snapshot)
	{
		const PhRaftSnapshot *s = m->snapshot;
		uint32_t	cl = ph_raft_conf_encoded_len(&s->conf);

		w_u64(&w, s->index);
		w_u64(&w, s->term);
		w_u32(&w, cl);
		ph_raft_conf_encode(&s->conf, w.p);
		w.p += cl;
		w_u32(&w, s->len);
		w_bytes(&w, s->data, s->len);
	}
}

/*
 * Decode a message.  On success *out owns its entries and snapshot: free
 * them with ph_raft_msg_decoded_free().
 * Returns PH_RAFT_OK, PH_RAFT_ERR_INVALID (malformed) or NOMEM.
 */
int
ph_raft_msg_decode(const void *buf, size_t len, PhRaftMsg *out)
{
	RBuf		r;
	uint8_t		version;
	uint8_t		type;
	uint8_t		flags;
	uint32_t	n;
	uint32_t	i;

	memset(out, 0, sizeof(*out));
	r.p = buf;
	r.left = len;
	r.ok = true;
	version = r_u8(&r);
	type = r_u8(&r);
	flags = r_u8(&r);
	(void) r_u8(&r);
	if (!r.ok || version != CODEC_VERSION || type < PH_RAFT_MSG_APP ||
		type > PH_RAFT_MSG_TYPE_MAX || (flags & ~(F_REJECT | F_FLAG | F_SNAPSHOT)))
		return PH_RAFT_ERR_INVALID;
	out->type = (PhRaftMsgType) type;
	out->reject = (flags & F_REJECT) != 0;
	out->flag = (flags & F_FLAG) != 0;
	out->from = r_u64(&r);
	out->to = r_u64(&r);
	out->term = r_u64(&r);
	out->index = r_u64(&r);
	out->log_term = r_u64(&r);
	out->commit = r_u64(&r);
	out->reject_hint = r_u64(&r);
	out->hint_term = r_u64(&r);
	out->context = r_u64(&r);
	n = r_u32(&r);
	if (!r.ok || n > r.left / ENTRY_HEADER_LEN)
		return PH_RAFT_ERR_INVALID;
	if (n > 0)
	{
		out->entries = calloc(n, sizeof(PhRaftEntry));
		if (out->entries == NULL)
			return PH_RAFT_ERR_NOMEM;
	}
	for (i = 0; i < n && r.ok; i++)
	{
		PhRaftEntry *e = &out->entries[i];

		e->index = r_u64(&r);
		e->term = r_u64(&r);
		e->type = r_u8(&r);
		e->len = r_u32(&r);
		e->data = r_bytes(&r, e->len);
		if (r.ok)
			out->n_entries = i + 1;
	}
	if (r.ok && (flags & F_SNAPSHOT))
	{
		uint32_t	cl;

		out->snapshot = calloc(1, sizeof(PhRaftSnapshot));
		if (out->snapshot == NULL)
		{
			ph_raft_msg_free_contents(out);
			return PH_RAFT_ERR_NOMEM;
		}
		out->snapshot->index = r_u64(&r);
		out->snapshot->term = r_u64(&r);
		cl = r_u32(&r);
		if (r.ok && (cl > r.left ||
					 !ph_raft_conf_decode(r.p, cl, &out->snapshot->conf)))
			r.ok = false;
		if (r.ok)
		{
			r.p += cl;
			r.left -= cl;
		}
		out->snapshot->len = r_u32(&r);
		out->snapshot->data = r_bytes(&r, out->snapshot->len);
	}
	if (!r.ok || r.left != 0)
	{
		ph_raft_msg_free_contents(out);
		return PH_RAFT_ERR_INVALID;
	}
	return PH_RAFT_OK;
}

/* Free what ph_raft_msg_decode allocated (not the struct itself). */
void
ph_raft_msg_decoded_free(PhRaftMsg *m)
{
	ph_raft_msg_free_contents(m);
}

/*
 * Snapshot blob: what a host stores next to its snapshot marker (index,
 * term) so that ph_raft_new can rebuild the PhRaftSnapshot: u32 conf_len,
 * the encoded config, then the host's opaque data.
 */
uint32_t
ph_raft_snapshot_blob_len(const PhRaftSnapshot *s)
{
	return 4 + ph_raft_conf_encoded_len(&s->conf) + s->len;
}

void
ph_raft_snapshot_blob_encode(const PhRaftSnapshot *s, void *buf)
{
	WBuf		w;
	uint32_t	cl = ph_raft_conf_encoded_len(&s->conf);

	w.p = buf;
	w_u32(&w, cl);
	ph_raft_conf_encode(&s->conf, w.p);
	w.p += cl;
	w_bytes(&w, s->data, s->len);
}

/*
 * Rebuild a snapshot from its marker and blob.  out->data is a malloc'ed
 * copy (free it after ph_raft_new copied it).  PH_RAFT_ERR_INVALID on a
 * malformed blob.
 */
int
ph_raft_snapshot_blob_decode(uint64_t index, uint64_t term, const void *blob,
							 uint32_t len, PhRaftSnapshot *out)
{
	RBuf		r;
	uint32_t	cl;

	memset(out, 0, sizeof(*out));
	out->index = index;
	out->term = term;
	r.p = blob;
	r.left = len;
	r.ok = true;
	cl = r_u32(&r);
	if (!r.ok || cl > r.left || !ph_raft_conf_decode(r.p, cl, &out->conf))
		return PH_RAFT_ERR_INVALID;
	r.p += cl;
	r.left -= cl;
	out->len = (uint32_t) r.left;
	out->data = r_bytes(&r, out->len);
	if (!r.ok)
	{
		memset(out, 0, sizeof(*out));
		return PH_RAFT_ERR_NOMEM;
	}
	return PH_RAFT_OK;
}

