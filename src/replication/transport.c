/*-------------------------------------------------------------------------
 *
 * transport.c
 *	  TCP transport between phantom raft workers, driven by one
 *	  WaitEventSet per wait (latch, postmaster death, the listen socket and
 *	  every peer socket).  All sockets are non-blocking; nothing here ever
 *	  blocks except in WaitEventSetWait (and getaddrinfo on a host name).
 *
 *	  Framing: every frame is a 4-byte little-endian length (of kind +
 *	  payload), a kind byte and the payload.  Kinds: HELLO (magic, version,
 *	  node id, 32-byte random nonce, node name), AUTH (HMAC-SHA256 proof),
 *	  RAFT (one message in the core's wire codec, ph_raft_msg_encode).
 *
 *	  Authentication: both ends send HELLO as soon as the connection is up;
 *	  on the peer's HELLO each sends AUTH = HMAC(cluster_secret, "phantom-
 *	  raft-v1" | role | client nonce | server nonce | client id | server id),
 *	  role 'C' from the connecting side and 'S' from the accepting side (so
 *	  a proof cannot be reflected back).  A connection carries RAFT frames
 *	  only after the peer's AUTH checked out; a wrong proof, a malformed
 *	  frame or a RAFT message whose sender is not the authenticated peer
 *	  closes the connection with a WARNING naming the peer address.  Both
 *	  ends also derive a session key (same HMAC with role 'K'); every RAFT
 *	  frame carries HMAC(session key, sender role | frame number | message),
 *	  so a frame injected, replayed, dropped or reordered in an established
 *	  connection is detected and the connection closed.  Frames are not
 *	  encrypted.
 *
 *	  Routing: a message to node X leaves on any authenticated connection
 *	  with X (our outbound one first, else one X opened to us), so a brand
 *	  new node that knows no addresses yet answers its leader over the
 *	  leader's connection.  Without one, the message is dropped (Raft
 *	  retransmits) and, if X's address is known, a connection is started,
 *	  at most one attempt per address every PH_TR_RETRY_MS (longer after a
 *	  failed authentication).
 *
 *	  Lost links: when the last authenticated connection with a node closes
 *	  (peer closed it, reset, or we dropped it), the node's id is queued
 *	  for ph_tr_take_lost; the worker uses it as a hint that the leader may
 *	  be gone (ph_raft_leader_suspect).
 *
 *	  Owned by the raft worker process only; no shared state, no locks.
 *
 * src/replication/transport.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "common/hmac.h"
#include "common/sha2.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "phantom/replication/replication.h"

#define PH_TR_MAGIC			0x50485254	/* "PHRT" */
#define PH_TR_VERSION		1
#define PH_TR_NONCE_LEN		32
#define PH_TR_MAX_FRAME		(64 * 1024 * 1024)
#define PH_TR_MAX_OUT		(64 * 1024 * 1024)
#define PH_TR_MAX_CONNS		64
#define PH_TR_RETRY_MS		300
#define PH_TR_AUTH_RETRY_MS	5000
#define PH_TR_HANDSHAKE_MS	5000

#define FRAME_HELLO	1
#define FRAME_AUTH	2
#define FRAME_RAFT	3

typedef struct PhConn
{
	bool		used;
	pgsocket	fd;
	bool		outbound;
	bool		connecting;
	char		peer_addr[PH_REPL_ADDR_LEN];	/* for messages */
	uint64		target_id;		/* outbound: node we dialled */
	uint8		my_nonce[PH_TR_NONCE_LEN];
	uint8		peer_nonce[PH_TR_NONCE_LEN];
	bool		hello_recv;
	bool		authed;
	uint64		peer_id;
	char		peer_name[PH_REPL_NAME_LEN];
	StringInfoData in;
	StringInfoData out;
	int			out_off;
	TimestampTz created;
	uint64		gen;			/* distinguishes reuses of the slot */
	uint8		session_key[PG_SHA256_DIGEST_LENGTH];
	uint64		send_seq;		/* RAFT frames sent / received: bound */
	uint64		recv_seq;		/* into each frame's MAC */
} PhConn;

typedef struct PhPeerAddr
{
	uint64		id;
	char		addr[PH_REPL_ADDR_LEN];
	TimestampTz next_try;
	TimestampTz last_contact;
} PhPeerAddr;

static MemoryContext tr_cxt = NULL;
static pgsocket listen_fd = PGINVALID_SOCKET;
static uint64 tr_my_id;
static char tr_my_name[PH_REPL_NAME_LEN];
static char *tr_secret;
static PhConn conns[PH_TR_MAX_CONNS];
static PhPeerAddr peers[PH_REPL_MAX_MEMBERS];
static int	listen_marker;
static uint64 conn_gen = 0;
static uint64 lost_ids[PH_REPL_MAX_MEMBERS];	/* see ph_tr_take_lost */
static int	n_lost = 0;

static void conn_close(PhConn *c, int elevel, const char *why);

static void
put_u32(uint8 *p, uint32 v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32
get_u32(const uint8 *p)
{
	return (uint32) p[0] | ((uint32) p[1] << 8) | ((uint32) p[2] << 16) |
		((uint32) p[3] << 24);
}

static void
put_u64(uint8 *p, uint64 v)
{
	put_u32(p, (uint32) v);
	put_u32(p + 4, (uint32) (v >> 32));
}

static uint64
get_u64(const uint8 *p)
{
	return (uint64) get_u32(p) | ((uint64) get_u32(p + 4) << 32);
}

/* peer_slot finds (or, with create, makes) the address entry of a node. */
static PhPeerAddr *
peer_slot(uint64 id, bool create)
{
	int			i;

	for (i = 0; i < PH_REPL_MAX_MEMBERS; i++)
		if (peers[i].id == id)
			return &peers[i];
	if (!create)
		return NULL;
	for (i = 0; i < PH_REPL_MAX_MEMBERS; i++)
		if (peers[i].id == 0)
		{
			memset(&peers[i], 0, sizeof(PhPeerAddr));
			peers[i].id = id;
			return &peers[i];
		}
	return NULL;
}

/*
 * ph_tr_init opens the listen socket and remembers who we are.  A listen
 * address that cannot be bound is an ERROR: the worker exits and the
 * postmaster restarts it later.
 */
void
ph_tr_init(const char *listen_addr, uint64 my_id, const char *my_name,
		   const char *secret)
{
	char		host[PH_REPL_ADDR_LEN];
	char		portstr[16];
	int			port;
	struct addrinfo hints,
			   *res = NULL;
	int			rc;
	int			one = 1;

	tr_cxt = AllocSetContextCreate(TopMemoryContext, "phantom raft transport",
								   ALLOCSET_DEFAULT_SIZES);
	tr_my_id = my_id;
	strlcpy(tr_my_name, my_name, sizeof(tr_my_name));
	tr_secret = MemoryContextStrdup(tr_cxt, secret);

	if (!ph_repl_parse_address(listen_addr, host, sizeof(host), &port))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid phantom.raft_listen \"%s\"", listen_addr)));
	snprintf(portstr, sizeof(portstr), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0 || res == NULL)
		ereport(ERROR,
				(errmsg("could not resolve phantom.raft_listen host \"%s\": %s",
						host, gai_strerror(rc))));
	listen_fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (listen_fd == PGINVALID_SOCKET)
		ereport(ERROR, (errmsg("could not create raft listen socket: %m")));
	(void) setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd, res->ai_addr, res->ai_addrlen) < 0)
	{
		int			save = errno;

		close(listen_fd);
		listen_fd = PGINVALID_SOCKET;
		freeaddrinfo(res);
		errno = save;
		ereport(ERROR,
				(errmsg("could not bind raft listen address \"%s\": %m",
						listen_addr),
				 errhint("Is another server using this port?  Check phantom.raft_listen.")));
	}
	freeaddrinfo(res);
	if (listen(listen_fd, 16) < 0 || !pg_set_noblock(listen_fd))
		ereport(ERROR, (errmsg("could not listen on raft address \"%s\": %m",
							   listen_addr)));
	ereport(LOG, (errmsg("phantom raft worker listening on %s", listen_addr)));
}

/* ph_tr_set_address records (or with an empty addr forgets) a node's address. */
void
ph_tr_set_address(uint64 id, const char *addr)
{
	PhPeerAddr *p;

	if (id == tr_my_id)
		return;
	p = peer_slot(id, addr[0] != '\0');
	if (p == NULL)
		return;
	if (strcmp(p->addr, addr) != 0)
	{
		strlcpy(p->addr, addr, sizeof(p->addr));
		p->next_try = 0;
	}
}

/* ph_tr_peer_info reports whether node id is reachable and when it spoke. */
void
ph_tr_peer_info(uint64 id, bool *connected, TimestampTz *last_contact)
{
	PhPeerAddr *p = peer_slot(id, false);
	int			i;

	*connected = false;
	*last_contact = p ? p->last_contact : 0;
	for (i = 0; i < PH_TR_MAX_CONNS; i++)
		if (conns[i].used && conns[i].authed && conns[i].peer_id == id)
			*connected = true;
}

static PhConn *
conn_new(pgsocket fd, bool outbound, const char *peer_addr)
{
	int			i;
	PhConn	   *c = NULL;
	MemoryContext old;

	for (i = 0; i < PH_TR_MAX_CONNS; i++)
		if (!conns[i].used)
		{
			c = &conns[i];
			break;
		}
	if (c == NULL)
	{
		ereport(WARNING,
				(errmsg("phantom raft: too many connections, refusing %s",
						peer_addr)));
		closesocket(fd);
		return NULL;
	}
	memset(c, 0, sizeof(PhConn));
	c->used = true;
	c->fd = fd;
	c->outbound = outbound;
	strlcpy(c->peer_addr, peer_addr, sizeof(c->peer_addr));
	c->created = GetCurrentTimestamp();
	c->gen = ++conn_gen;
	if (!pg_strong_random(c->my_nonce, PH_TR_NONCE_LEN))
	{
		closesocket(fd);
		c->used = false;
		ereport(WARNING, (errmsg("phantom raft: could not generate a random nonce")));
		return NULL;
	}
	old = MemoryContextSwitchTo(tr_cxt);
	initStringInfo(&c->in);
	initStringInfo(&c->out);
	MemoryContextSwitchTo(old);
	return c;
}

/*
 * note_lost queues id for ph_tr_take_lost if no authenticated connection
 * with it is left.
 */
static void
note_lost(uint64 id)
{
	int			i;

	for (i = 0; i < PH_TR_MAX_CONNS; i++)
		if (conns[i].used && conns[i].authed && conns[i].peer_id == id)
			return;
	for (i = 0; i < n_lost; i++)
		if (lost_ids[i] == id)
			return;
	if (n_lost < lengthof(lost_ids))
		lost_ids[n_lost++] = id;
}

static void
conn_close(PhConn *c, int elevel, const char *why)
{
	bool		was_authed;

	if (!c->used)
		return;
	if (why)
		ereport(elevel,
				(errmsg("phantom raft: closing connection %s %s%s%s: %s",
						c->outbound ? "to" : "from", c->peer_addr,
						c->peer_name[0] ? " node " : "", c->peer_name, why)));
	closesocket(c->fd);
	pfree(c->in.data);
	pfree(c->out.data);
	c->used = false;
	was_authed = c->authed;
	c->authed = false;
	if (was_authed)
		note_lost(c->peer_id);
}

/*
 * ph_tr_take_lost copies (up to max) the ids of the nodes whose last
 * authenticated connection closed since the previous call, and forgets
 * them; returns how many.
 */
int
ph_tr_take_lost(uint64 *ids, int max)
{
	int			n = Min(n_lost, max);

	memcpy(ids, lost_ids, n * sizeof(uint64));
	n_lost = 0;
	return n;
}

/* conn_flush writes what it can of the output buffer; false if closed. */
static bool
conn_flush(PhConn *c)
{
	while (c->out_off < c->out.len)
	{
		ssize_t		n = send(c->fd, c->out.data + c->out_off,
							 c->out.len - c->out_off, MSG_NOSIGNAL);

		if (n < 0)
		{
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			conn_close(c, DEBUG1, strerror(errno));
			return false;
		}
		c->out_off += n;
	}
	if (c->out_off == c->out.len)
	{
		resetStringInfo(&c->out);
		c->out_off = 0;
	}
	else if (c->out_off > 1024 * 1024)
	{
		/* compact the buffer */
		memmove(c->out.data, c->out.data + c->out_off, c->out.len - c->out_off);
		c->out.len -= c->out_off;
		c->out_off = 0;
	}
	return true;
}

/* conn_frame queues one frame; false if the connection was closed. */
static bool
conn_frame(PhConn *c, uint8 kind, const void *payload, size_t len)
{
	uint8		hdr[5];

	if (c->out.len - c->out_off + len + 5 > PH_TR_MAX_OUT)
	{
		conn_close(c, WARNING, "peer does not keep up (output buffer full)");
		return false;
	}
	put_u32(hdr, (uint32) (len + 1));
	hdr[4] = kind;
	appendBinaryStringInfo(&c->out, (char *) hdr, 5);
	if (len > 0)
		appendBinaryStringInfo(&c->out, payload, len);
	return true;
}

static void
send_hello(PhConn *c)
{
	uint8		buf[4 + 2 + 8 + PH_TR_NONCE_LEN + 2 + PH_REPL_NAME_LEN];
	size_t		nl = strlen(tr_my_name);
	uint8	   *p = buf;

	put_u32(p, PH_TR_MAGIC);
	p += 4;
	p[0] = PH_TR_VERSION & 0xff;
	p[1] = PH_TR_VERSION >> 8;
	p += 2;
	put_u64(p, tr_my_id);
	p += 8;
	memcpy(p, c->my_nonce, PH_TR_NONCE_LEN);
	p += PH_TR_NONCE_LEN;
	p[0] = nl & 0xff;
	p[1] = nl >> 8;
	p += 2;
	memcpy(p, tr_my_name, nl);
	p += nl;
	if (conn_frame(c, FRAME_HELLO, buf, p - buf))
		(void) conn_flush(c);
}

/*
 * hmac2 computes HMAC-SHA256(key, a | b) into out; false on failure.
 */
static bool
hmac2(const uint8 *key, size_t keylen, const uint8 *a, size_t alen,
	  const uint8 *b, size_t blen, uint8 *out)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	bool		ok;

	if (ctx == NULL)
		return false;
	ok = pg_hmac_init(ctx, key, keylen) == 0 &&
		pg_hmac_update(ctx, a, alen) == 0 &&
		(blen == 0 || pg_hmac_update(ctx, b, blen) == 0) &&
		pg_hmac_final(ctx, out, PG_SHA256_DIGEST_LENGTH) == 0;
	pg_hmac_free(ctx);
	return ok;
}

/*
 * frame_mac computes the MAC of a RAFT frame: HMAC(session key, sender
 * role | sequence number | message bytes).  The sequence number makes a
 * replayed, dropped or reordered frame fail the check.
 */
static bool
frame_mac(const PhConn *c, char role, uint64 seq, const void *msg, size_t len,
		  uint8 *out)
{
	uint8		hdr[9];

	hdr[0] = (uint8) role;
	put_u64(hdr + 1, seq);
	return hmac2(c->session_key, sizeof(c->session_key), hdr, sizeof(hdr),
				 msg, len, out);
}

/*
 * compute_mac computes the proof that the side playing role ('C' connecting,
 * 'S' accepting) knows the cluster secret, bound to both nonces and ids.
 */
static bool
compute_mac(const PhConn *c, char role, uint8 *out)
{
	const uint8 *cn = c->outbound ? c->my_nonce : c->peer_nonce;
	const uint8 *sn = c->outbound ? c->peer_nonce : c->my_nonce;
	uint64		cid = c->outbound ? tr_my_id : c->peer_id;
	uint64		sid = c->outbound ? c->peer_id : tr_my_id;
	uint8		msg[16 + 1 + 2 * PH_TR_NONCE_LEN + 16];
	uint8	   *p = msg;

	memcpy(p, "phantom-raft-v1", 15);
	p += 15;
	*p++ = (uint8) role;
	memcpy(p, cn, PH_TR_NONCE_LEN);
	p += PH_TR_NONCE_LEN;
	memcpy(p, sn, PH_TR_NONCE_LEN);
	p += PH_TR_NONCE_LEN;
	put_u64(p, cid);
	p += 8;
	put_u64(p, sid);
	p += 8;

	return hmac2((const uint8 *) tr_secret, strlen(tr_secret), msg, p - msg,
				 NULL, 0, out);
}

/* handle_frame processes one complete frame; false if the conn was closed. */
static bool
handle_frame(PhConn *c, uint8 kind, const uint8 *p, size_t len, PhTrRecvCb cb)
{
	switch (kind)
	{
		case FRAME_HELLO:
			{
				uint16		nl;
				uint8		mac[PG_SHA256_DIGEST_LENGTH];

				if (c->hello_recv || len < 4 + 2 + 8 + PH_TR_NONCE_LEN + 2 ||
					get_u32(p) != PH_TR_MAGIC)
				{
					conn_close(c, WARNING, "not a phantom raft peer (bad hello)");
					return false;
				}
				if ((p[4] | (p[5] << 8)) != PH_TR_VERSION)
				{
					conn_close(c, WARNING, "unsupported protocol version");
					return false;
				}
				c->peer_id = get_u64(p + 6);
				memcpy(c->peer_nonce, p + 14, PH_TR_NONCE_LEN);
				nl = p[14 + PH_TR_NONCE_LEN] | (p[15 + PH_TR_NONCE_LEN] << 8);
				if (nl >= PH_REPL_NAME_LEN || len != 16 + PH_TR_NONCE_LEN + nl)
				{
					conn_close(c, WARNING, "bad hello");
					return false;
				}
				memcpy(c->peer_name, p + 16 + PH_TR_NONCE_LEN, nl);
				c->peer_name[nl] = '\0';
				c->hello_recv = true;
				if (c->peer_id == tr_my_id || c->peer_id == PH_RAFT_NONE)
				{
					conn_close(c, WARNING, "peer claims our own node id");
					return false;
				}
				if (c->outbound && c->target_id != 0 && c->peer_id != c->target_id)
				{
					conn_close(c, WARNING, "peer is not the node this address belongs to");
					return false;
				}
				if (!compute_mac(c, 'K', c->session_key) ||
					!compute_mac(c, c->outbound ? 'C' : 'S', mac))
				{
					conn_close(c, WARNING, "could not compute HMAC");
					return false;
				}
				if (!conn_frame(c, FRAME_AUTH, mac, sizeof(mac)))
					return false;
				return conn_flush(c);
			}
		case FRAME_AUTH:
			{
				uint8		mac[PG_SHA256_DIGEST_LENGTH];
				uint8		diff = 0;
				int			i;

				if (!c->hello_recv || c->authed || len != sizeof(mac) ||
					!compute_mac(c, c->outbound ? 'S' : 'C', mac))
				{
					conn_close(c, WARNING, "protocol violation during authentication");
					return false;
				}
				for (i = 0; i < (int) sizeof(mac); i++)
					diff |= mac[i] ^ p[i];
				if (diff != 0)
				{
					PhPeerAddr *pa = peer_slot(c->outbound ? c->target_id : 0, false);

					if (pa && c->outbound)
						pa->next_try = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																   PH_TR_AUTH_RETRY_MS);
					ereport(WARNING,
							(errmsg("phantom raft: peer at %s (node \"%s\") failed authentication",
									c->peer_addr, c->peer_name),
							 errhint("All nodes of a cluster must have the same phantom.cluster_secret.")));
					conn_close(c, WARNING, NULL);
					return false;
				}
				c->authed = true;
				ereport(DEBUG1,
						(errmsg("phantom raft: authenticated node \"%s\" at %s",
								c->peer_name, c->peer_addr)));
				return true;
			}
		case FRAME_RAFT:
			{
				PhRaftMsg	m;
				PhPeerAddr *pa;

				uint8		mac[PG_SHA256_DIGEST_LENGTH];
				uint8		diff = 0;
				int			i;

				if (!c->authed)
				{
					conn_close(c, WARNING, "raft message before authentication");
					return false;
				}
				if (len < sizeof(mac) ||
					!frame_mac(c, c->outbound ? 'S' : 'C', c->recv_seq, p,
							   len - sizeof(mac), mac))
				{
					conn_close(c, WARNING, "malformed raft frame");
					return false;
				}
				for (i = 0; i < (int) sizeof(mac); i++)
					diff |= mac[i] ^ p[len - sizeof(mac) + i];
				if (diff != 0)
				{
					conn_close(c, WARNING, "message authentication failed (forged, replayed or damaged frame)");
					return false;
				}
				c->recv_seq++;
				len -= sizeof(mac);
				if (ph_raft_msg_decode(p, len, &m) != PH_RAFT_OK)
				{
					conn_close(c, WARNING, "malformed raft message");
					return false;
				}
				if (m.from != c->peer_id || m.to != tr_my_id)
				{
					ph_raft_msg_decoded_free(&m);
					conn_close(c, WARNING, "raft message with wrong sender or receiver");
					return false;
				}
				pa = peer_slot(c->peer_id, true);
				if (pa)
					pa->last_contact = GetCurrentTimestamp();
				cb(&m);
				ph_raft_msg_decoded_free(&m);
				return true;
			}
		default:
			conn_close(c, WARNING, "unknown frame kind");
			return false;
	}
}

/* conn_read reads what is available and handles complete frames. */
static void
conn_read(PhConn *c, PhTrRecvCb cb)
{
	int			off;
	uint64		gen = c->gen;

	for (;;)
	{
		ssize_t		n;

		enlargeStringInfo(&c->in, 65536);
		n = recv(c->fd, c->in.data + c->in.len, 65536, 0);
		if (n == 0)
		{
			conn_close(c, DEBUG1, "connection closed by peer");
			return;
		}
		if (n < 0)
		{
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			conn_close(c, DEBUG1, strerror(errno));
			return;
		}
		c->in.len += n;
		if (n < 65536)
			break;
	}

	off = 0;
	while (c->in.len - off >= 5)
	{
		const uint8 *p = (const uint8 *) c->in.data + off;
		uint32		flen = get_u32(p);

		if (flen < 1 || flen > PH_TR_MAX_FRAME)
		{
			conn_close(c, WARNING, "bad frame length");
			return;
		}
		if ((uint32) (c->in.len - off - 4) < flen)
			break;
		if (!c->authed && p[4] == FRAME_RAFT)
		{
			conn_close(c, WARNING, "raft message before authentication");
			return;
		}
		if (!handle_frame(c, p[4], p + 5, flen - 1, cb) ||
			!c->used || c->gen != gen)
			return;				/* closed, possibly by a send from cb */
		off += 4 + flen;
	}
	if (off > 0)
	{
		memmove(c->in.data, c->in.data + off, c->in.len - off);
		c->in.len -= off;
	}
}

/* conn_connected finishes a non-blocking connect and says hello. */
static void
conn_connected(PhConn *c)
{
	int			err = 0;
	socklen_t	len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)
	{
		conn_close(c, DEBUG1, strerror(err ? err : errno));
		return;
	}
	c->connecting = false;
	send_hello(c);
}

/* start_connect dials node p (non-blocking). */
static void
start_connect(PhPeerAddr *p)
{
	char		host[PH_REPL_ADDR_LEN];
	char		portstr[16];
	int			port;
	struct addrinfo hints,
			   *res = NULL;
	pgsocket	fd;
	int			one = 1;
	PhConn	   *c;

	p->next_try = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PH_TR_RETRY_MS);
	if (!ph_repl_parse_address(p->addr, host, sizeof(host), &port))
		return;
	snprintf(portstr, sizeof(portstr), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, portstr, &hints, &res) != 0 || res == NULL)
		return;
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd == PGINVALID_SOCKET)
	{
		freeaddrinfo(res);
		return;
	}
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!pg_set_noblock(fd))
	{
		closesocket(fd);
		freeaddrinfo(res);
		return;
	}
	c = conn_new(fd, true, p->addr);
	if (c == NULL)
	{
		freeaddrinfo(res);
		return;
	}
	c->target_id = p->id;
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0)
	{
		if (errno == EINPROGRESS || errno == EINTR)
			c->connecting = true;
		else
			conn_close(c, DEBUG1, strerror(errno));
		freeaddrinfo(res);
		return;
	}
	freeaddrinfo(res);
	send_hello(c);
}

/* accept_all accepts every pending inbound connection. */
static void
accept_all(void)
{
	for (;;)
	{
		struct sockaddr_storage ss;
		socklen_t	sl = sizeof(ss);
		pgsocket	fd = accept(listen_fd, (struct sockaddr *) &ss, &sl);
		char		host[NI_MAXHOST] = "?";
		char		serv[NI_MAXSERV] = "?";
		char		addr[PH_REPL_ADDR_LEN];
		int			one = 1;
		PhConn	   *c;

		if (fd == PGINVALID_SOCKET)
			return;
		(void) getnameinfo((struct sockaddr *) &ss, sl, host, sizeof(host),
						   serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(addr, sizeof(addr), "%s:%s", host, serv);
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (!pg_set_noblock(fd))
		{
			closesocket(fd);
			continue;
		}
		c = conn_new(fd, false, addr);
		if (c)
			send_hello(c);
	}
}

/*
 * ph_tr_send encodes m and queues it on a connection to m->to, or drops it
 * (starting a connection) when there is none yet.
 */
void
ph_tr_send(const PhRaftMsg *m)
{
	PhConn	   *best = NULL;
	bool		dialing = false;
	int			i;

	for (i = 0; i < PH_TR_MAX_CONNS; i++)
	{
		PhConn	   *c = &conns[i];

		if (!c->used)
			continue;
		if (c->outbound && c->target_id == m->to && !c->authed)
			dialing = true;
		if (c->authed && c->peer_id == m->to &&
			(best == NULL || (c->outbound && !best->outbound) ||
			 (c->outbound == best->outbound && c->created > best->created)))
			best = c;
	}
	if (best)
	{
		size_t		len = ph_raft_msg_encoded_len(m);
		uint8	   *buf = MemoryContextAlloc(tr_cxt, len + PG_SHA256_DIGEST_LENGTH);

		ph_raft_msg_encode(m, buf);
		if (!frame_mac(best, best->outbound ? 'C' : 'S', best->send_seq, buf, len,
					   buf + len))
		{
			pfree(buf);
			conn_close(best, WARNING, "could not compute HMAC");
			return;
		}
		best->send_seq++;
		if (conn_frame(best, FRAME_RAFT, buf, len + PG_SHA256_DIGEST_LENGTH))
			(void) conn_flush(best);
		pfree(buf);
		return;
	}
	if (!dialing)
	{
		PhPeerAddr *p = peer_slot(m->to, false);

		if (p && p->addr[0] && GetCurrentTimestamp() >= p->next_try)
			start_connect(p);
	}
}

/*
 * ph_tr_wait sleeps until the latch is set, a socket is ready or
 * timeout_ms passed, then does all the socket work that is ready, handing
 * every received raft message to cb.  Exits the process on postmaster
 * death.
 */
void
ph_tr_wait(long timeout_ms, PhTrRecvCb cb)
{
	WaitEventSet *set;
	WaitEvent	events[PH_TR_MAX_CONNS + 3];
	int			n,
				i;
	TimestampTz now = GetCurrentTimestamp();

	/* handshakes that take too long are dropped */
	for (i = 0; i < PH_TR_MAX_CONNS; i++)
		if (conns[i].used && !conns[i].authed &&
			TimestampDifferenceExceeds(conns[i].created, now, PH_TR_HANDSHAKE_MS))
			conn_close(&conns[i], conns[i].hello_recv ? WARNING : DEBUG1,
					   "authentication timed out");

	set = CreateWaitEventSet(CurrentMemoryContext, PH_TR_MAX_CONNS + 3);
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	if (listen_fd != PGINVALID_SOCKET)
		AddWaitEventToSet(set, WL_SOCKET_READABLE, listen_fd, NULL, &listen_marker);
	for (i = 0; i < PH_TR_MAX_CONNS; i++)
	{
		PhConn	   *c = &conns[i];
		uint32		ev;

		if (!c->used)
			continue;
		if (c->connecting)
			ev = WL_SOCKET_CONNECTED;
		else
			ev = WL_SOCKET_READABLE |
				(c->out.len > c->out_off ? WL_SOCKET_WRITEABLE : 0);
		AddWaitEventToSet(set, ev, c->fd, NULL, c);
	}
	n = WaitEventSetWait(set, timeout_ms, events, lengthof(events),
						 PG_WAIT_EXTENSION);
	FreeWaitEventSet(set);

	for (i = 0; i < n; i++)
	{
		WaitEvent  *e = &events[i];

		if (e->events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			continue;
		}
		if (e->user_data == &listen_marker)
		{
			accept_all();
			continue;
		}
		if (e->user_data != NULL)
		{
			PhConn	   *c = (PhConn *) e->user_data;

			if (!c->used || c->fd != e->fd)
				continue;
			if (c->connecting)
			{
				conn_connected(c);
				continue;
			}
			if ((e->events & WL_SOCKET_WRITEABLE) && !conn_flush(c))
				continue;
			if (e->events & WL_SOCKET_READABLE)
				conn_read(c, cb);
		}
	}
}
