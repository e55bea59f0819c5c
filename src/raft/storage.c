/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  The durable Raft log: segment files, hard-state metadata, recovery.
 *
 * This file owns everything under the log directory (in production
 * $PGDATA/phantom/raft/):
 *
 *	  meta					two 512-byte slots holding the hard state (term,
 *							vote, commit) and the snapshot marker (index,
 *							term), each with a sequence number and a CRC32C
 *	  XXXXXXXXXXXXXXXX.seg	a segment: a header naming its first index, then
 *							records; the name is that index in hex
 *	  snap-XXXXXXXXXXXXXXXX	the opaque blob of the snapshot at that index
 *							(header with index, term, length, CRC32C)
 *
 * Record layout (native byte order, 8-byte aligned):
 *	  crc32c(4) len(4) index(8) term(8) type(1) zero(7) payload(len) pad
 * The CRC covers the header after the crc field and the payload.
 *
 * Invariants (in memory and, after every successful durable operation, on
 * disk):
 *	- segments are ordered and contiguous: seg[i+1].first = seg[i].first +
 *	  seg[i].count; terms never decrease;
 *	- every segment in memory holds at least one entry above the snapshot
 *	  index, and seg[0].first <= snapshot index + 1;
 *	- only the last segment (the tail) may have unsynced bytes: before a
 *	  record is written into a new segment, the previous one is sealed with
 *	  fdatasync.  So after a crash only the last segment can have a torn
 *	  tail, and a bad record anywhere else is corruption;
 *	- synced_index is the last entry that a ph_raft_log_sync (or a durable
 *	  operation, or recovery) made durable.  When a write path fails, the
 *	  in-memory log is cut back to synced_index and the files are "repaired"
 *	  to match memory (extra segments unlinked, the tail truncated).  If even
 *	  that fails, needs_repair stays set and every later write path retries
 *	  the repair before doing anything.
 *
 * Locking: none.  A PhRaftLog belongs to one process (the raft worker) and
 * is not thread-safe.  The fault hook is process-global and for tests only.
 *
 * This file must not include postgres.h: it is compiled into the extension
 * and into standalone unit tests.  It uses only c.h (types, snprintf) and
 * PostgreSQL's CRC32C from libpgport, plus POSIX.
 *
 * src/raft/storage.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"
#include "port/pg_crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phantom/raft/storage.h"

#define SEG_MAGIC		0x4C524850	/* "PHRL" */
#define META_MAGIC		0x4D524850	/* "PHRM" */
#define FORMAT_VERSION	1
#define META_SLOT_SIZE	512
#define META_FILE		"meta"
#define META_TMP_FILE	"meta.tmp"
#define SEG_SUFFIX		".seg"
#define SNAP_MAGIC		0x53524850	/* "PHRS" */
#define SNAP_PREFIX		"snap-"
#define SNAP_TMP_FILE	"snap.tmp"
#define SEG_NAME_LEN	(16 + 4)

/* Header at the start of every segment file. */
typedef struct SegHeader
{
	uint32		magic;
	uint32		version;
	uint64		first_index;
	uint64		reserved;
	uint32		reserved2;
	uint32		crc;			/* over the bytes before it */
} SegHeader;

/* Header of every record; the payload follows, padded to 8 bytes. */
typedef struct RecHeader
{
	uint32		crc;			/* over the rest of the header + payload */
	uint32		len;
	uint64		index;
	uint64		term;
	uint8		type;
	uint8		zero[7];
} RecHeader;

/* One metadata slot; two of them live at offsets 0 and META_SLOT_SIZE. */
typedef struct MetaSlot
{
	uint32		magic;
	uint32		version;
	uint64		seq;
	uint64		term;
	uint64		vote;
	uint64		commit;
	uint64		snap_index;
	uint64		snap_term;
	uint32		reserved;
	uint32		crc;			/* over the bytes before it */
} MetaSlot;

/* Header of a snapshot blob file; the blob follows. */
typedef struct SnapHeader
{
	uint32		magic;
	uint32		version;
	uint64		index;
	uint64		term;
	uint32		len;
	uint32		crc;			/* over the bytes before it + the blob */
} SnapHeader;

StaticAssertDecl(sizeof(SnapHeader) == 32, "snapshot header layout");
StaticAssertDecl(sizeof(SegHeader) == 32, "segment header layout");
StaticAssertDecl(sizeof(RecHeader) == 32, "record header layout");
StaticAssertDecl(sizeof(MetaSlot) == 64, "meta slot layout");

#define REC_HDR ((uint64) sizeof(RecHeader))
#define SEG_HDR ((uint64) sizeof(SegHeader))
#define ALIGN8(x) (((uint64) (x) + 7) & ~((uint64) 7))
#define REC_SIZE(len) (REC_HDR + ALIGN8(len))

/* In-memory image of one segment. */
typedef struct Segment
{
	uint64		first;			/* index of its first record */
	uint64		count;			/* records in it */
	uint64		cap;			/* allocated length of terms/offs */
	uint64	   *terms;			/* term of each record */
	uint64	   *offs;			/* file offset of each record */
	uint64		size;			/* bytes: header + records */
} Segment;

struct PhRaftLog
{
	char		dir[MAXPGPATH];
	int			dirfd;
	int			metafd;
	uint64		segsize;

	Segment    *segs;
	int			nsegs;
	int			capsegs;
	int			tailfd;			/* fd of segs[nsegs - 1], or -1 */
	int			readfd;			/* cached fd for reading an older segment */
	uint64		readfirst;		/* first index of the segment of readfd */

	uint64		snap_index;
	uint64		snap_term;
	void	   *snap_data;		/* snapshot blob (malloc'd) or NULL */
	uint32		snap_len;
	PhRaftHardState hs;
	uint64		meta_seq;		/* sequence of the newest valid slot */

	uint64		synced_index;	/* durable up to here */
	bool		tail_dirty;		/* tail written since last sync */
	bool		dir_dirty;		/* segment created since last sync */
	bool		needs_repair;	/* files may differ from memory */

	char	   *wbuf;			/* batch being written */
	size_t		wcap;
	char	   *rbuf;			/* record being read */
	size_t		rcap;
	char		note[PH_RAFT_LOG_MSGLEN];
};

static int	slurp(const char *path, char **out, uint64 *size,
				  PhRaftLogError *err);

static PhRaftLogFaultHook fault_hook = NULL;
static void *fault_arg = NULL;

/* ---------------------------------------------------------------------
 * Errors and small helpers
 * ---------------------------------------------------------------------
 */

/* Fill *err (if given) and return code. */
static int
pg_attribute_printf(4, 5)
set_err(PhRaftLogError *err, int code, int sys_errno, const char *fmt,...)
{
	if (err != NULL)
	{
		va_list		ap;

		err->code = code;
		err->sys_errno = sys_errno;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

static void
clear_err(PhRaftLogError *err)
{
	if (err != NULL)
	{
		err->code = PH_RAFT_LOG_OK;
		err->sys_errno = 0;
		err->message[0] = '\0';
	}
}

/* Report a failed system call on path. */
static int
io_err(PhRaftLogError *err, int e, const char *what, const char *path)
{
	return set_err(err, PH_RAFT_LOG_EIO, e, "could not %s \"%s\": %s",
				   what, path, strerror(e));
}

const char *
ph_raft_log_code_name(int code)
{
	switch (code)
	{
		case PH_RAFT_LOG_OK:
			return "ok";
		case PH_RAFT_LOG_EIO:
			return "I/O error";
		case PH_RAFT_LOG_ECORRUPT:
			return "corrupt";
		case PH_RAFT_LOG_EINVAL:
			return "invalid request";
		case PH_RAFT_LOG_ECOMPACTED:
			return "compacted";
		case PH_RAFT_LOG_EUNAVAILABLE:
			return "unavailable";
	}
	return "unknown";
}

/* Append a sentence to the recovery note. */
static void
pg_attribute_printf(2, 3)
add_note(PhRaftLog *log, const char *fmt,...)
{
	size_t		used = strlen(log->note);
	va_list		ap;

	if (used > 0 && used + 2 < sizeof(log->note))
	{
		strcat(log->note, "; ");
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(log->note + used, sizeof(log->note) - used, fmt, ap);
	va_end(ap);
}

static void
seg_path(const PhRaftLog *log, uint64 first, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%016" INT64_MODIFIER "X" SEG_SUFFIX, log->dir, first);
}

static void
file_path(const PhRaftLog *log, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", log->dir, name);
}

/* Make sure *buf holds at least need bytes. */
static bool
ensure_buf(char **buf, size_t *cap, size_t need)
{
	if (*cap < need)
	{
		size_t		ncap = *cap ? *cap : 8192;
		char	   *nbuf;

		while (ncap < need)
			ncap *= 2;
		nbuf = realloc(*buf, ncap);
		if (nbuf == NULL)
			return false;
		*buf = nbuf;
		*cap = ncap;
	}
	return true;
}

static pg_crc32c
crc_of(const void *a, size_t alen, const void *b, size_t blen)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, a, alen);
	if (blen > 0)
		COMP_CRC32C(crc, b, blen);
	FIN_CRC32C(crc);
	return crc;
}

static pg_crc32c
rec_crc(const RecHeader *h, const void *payload)
{
	return crc_of((const char *) h + sizeof(uint32),
				  sizeof(RecHeader) - sizeof(uint32), payload, h->len);
}

/* ---------------------------------------------------------------------
 * I/O wrappers: each asks the fault hook first.
 * ---------------------------------------------------------------------
 */

void
ph_raft_log_set_fault_hook(PhRaftLogFaultHook hook, void *arg)
{
	fault_hook = hook;
	fault_arg = arg;
}

static int
fault(PhRaftLogIoOp op, const char *path, size_t *len)
{
	size_t		dummy = 0;

	if (fault_hook == NULL)
		return 0;
	return fault_hook(op, path, len ? len : &dummy, fault_arg);
}

/* pwrite all of buf at off; returns 0 or an errno. */
static int
io_pwrite(int fd, const char *path, const void *buf, size_t len, uint64 off)
{
	size_t		allowed = len;
	int			e = fault(PH_RAFT_IO_WRITE, path, &allowed);
	size_t		done = 0;

	if (e != 0 && allowed > len)
		allowed = len;
	if (e == 0)
		allowed = len;
	while (done < allowed)
	{
		ssize_t		r = pwrite(fd, (const char *) buf + done, allowed - done,
							   (off_t) (off + done));

		if (r < 0)
		{
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (r == 0)
			return ENOSPC;
		done += r;
	}
	return e;
}

/* fdatasync (data only) or fsync; returns 0 or an errno. */
static int
io_sync(int fd, const char *path, bool datasync)
{
	int			e = fault(PH_RAFT_IO_FSYNC, path, NULL);

	if (e != 0)
		return e;
	if ((datasync ? fdatasync(fd) : fsync(fd)) != 0)
		return errno;
	return 0;
}

static int
io_dirsync(PhRaftLog *log)
{
	int			e = fault(PH_RAFT_IO_DIRSYNC, log->dir, NULL);

	if (e != 0)
		return e;
	if (fsync(log->dirfd) != 0)
		return errno;
	return 0;
}

static int
io_truncate(int fd, const char *path, uint64 size)
{
	int			e = fault(PH_RAFT_IO_TRUNCATE, path, NULL);

	if (e != 0)
		return e;
	if (ftruncate(fd, (off_t) size) != 0)
		return errno;
	return 0;
}

static int
io_unlink(const char *path)
{
	int			e = fault(PH_RAFT_IO_UNLINK, path, NULL);

	if (e != 0)
		return e;
	if (unlink(path) != 0 && errno != ENOENT)
		return errno;
	return 0;
}

/* Create (or reset) a file for writing; returns fd or -errno. */
static int
io_create(const char *path)
{
	int			e = fault(PH_RAFT_IO_CREATE, path, NULL);
	int			fd;

	if (e != 0)
		return -e;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	return fd;
}

static int
io_rename(const char *from, const char *to)
{
	int			e = fault(PH_RAFT_IO_RENAME, to, NULL);

	if (e != 0)
		return e;
	if (rename(from, to) != 0)
		return errno;
	return 0;
}

/* Read exactly len bytes at off; returns 0, an errno, or -1 on EOF. */
static int
read_at(int fd, void *buf, size_t len, uint64 off)
{
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		r = pread(fd, (char *) buf + done, len - done,
							  (off_t) (off + done));

		if (r < 0)
		{
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (r == 0)
			return -1;
		done += r;
	}
	return 0;
}

/* ---------------------------------------------------------------------
 * In-memory segment bookkeeping
 * ---------------------------------------------------------------------
 */

static uint64
seg_last(const Segment *s)
{
	return s->first + s->count - 1;
}

static Segment *
tail_seg(PhRaftLog *log)
{
	return log->nsegs > 0 ? &log->segs[log->nsegs - 1] : NULL;
}

/* Add a record to segment s; false if out of memory. */
static bool
seg_push(Segment *s, uint64 term, uint64 off)
{
	if (s->count == s->cap)
	{
		uint64		ncap = s->cap ? s->cap * 2 : 256;
		uint64	   *nt = realloc(s->terms, ncap * sizeof(uint64));

		if (nt == NULL)
			return false;
		s->terms = nt;
		nt = realloc(s->offs, ncap * sizeof(uint64));
		if (nt == NULL)
			return false;
		s->offs = nt;
		s->cap = ncap;
	}
	s->terms[s->count] = term;
	s->offs[s->count] = off;
	s->count++;
	return true;
}

static void
seg_free(Segment *s)
{
	free(s->terms);
	free(s->offs);
	memset(s, 0, sizeof(*s));
}

/* Append an empty segment starting at first to the in-memory list. */
static Segment *
segs_add(PhRaftLog *log, uint64 first)
{
	Segment    *s;

	if (log->nsegs == log->capsegs)
	{
		int			ncap = log->capsegs ? log->capsegs * 2 : 16;
		Segment    *ns = realloc(log->segs, ncap * sizeof(Segment));

		if (ns == NULL)
			return NULL;
		log->segs = ns;
		log->capsegs = ncap;
	}
	s = &log->segs[log->nsegs++];
	memset(s, 0, sizeof(*s));
	s->first = first;
	s->size = SEG_HDR;
	return s;
}

static void
close_tail(PhRaftLog *log)
{
	if (log->tailfd >= 0)
		close(log->tailfd);
	log->tailfd = -1;
}

static void
close_read(PhRaftLog *log)
{
	if (log->readfd >= 0)
		close(log->readfd);
	log->readfd = -1;
}

/* Drop in-memory segments [from, nsegs). */
static void
segs_drop_from(PhRaftLog *log, int from)
{
	if (from >= log->nsegs)
		return;
	close_tail(log);
	close_read(log);
	while (log->nsegs > from)
		seg_free(&log->segs[--log->nsegs]);
}

/* Drop in-memory segments [0, k). */
static void
segs_drop_prefix(PhRaftLog *log, int k)
{
	int			i;

	if (k <= 0)
		return;
	close_read(log);
	if (k >= log->nsegs)
	{
		segs_drop_from(log, 0);
		return;
	}
	for (i = 0; i < k; i++)
		seg_free(&log->segs[i]);
	memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof(Segment));
	log->nsegs -= k;
}

/* Segment number holding index, or -1. */
static int
find_seg(const PhRaftLog *log, uint64 index)
{
	int			lo = 0,
				hi = log->nsegs - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		const Segment *s = &log->segs[mid];

		if (index < s->first)
			hi = mid - 1;
		else if (index > seg_last(s))
			lo = mid + 1;
		else
			return mid;
	}
	return -1;
}

/*
 * Cut the in-memory log so that its last entry is from - 1.  The files
 * are not touched: the caller repairs them.
 */
static void
mem_truncate(PhRaftLog *log, uint64 from)
{
	while (log->nsegs > 0)
	{
		Segment    *s = tail_seg(log);

		if (from <= s->first)
			segs_drop_from(log, log->nsegs - 1);
		else
		{
			if (from <= seg_last(s))
			{
				s->size = s->offs[from - s->first];
				s->count = from - s->first;
			}
			break;
		}
	}
	if (log->synced_index >= from)
		log->synced_index = from - 1;
}

/* ---------------------------------------------------------------------
 * Directory listing and repair
 * ---------------------------------------------------------------------
 */

/* Parse a segment file name; true if name is one. */
static bool
parse_seg_name(const char *name, uint64 *first)
{
	char		check[SEG_NAME_LEN + 1];
	unsigned long long v;
	char	   *end;

	if (strlen(name) != SEG_NAME_LEN ||
		strcmp(name + 16, SEG_SUFFIX) != 0)
		return false;
	errno = 0;
	v = strtoull(name, &end, 16);
	if (errno != 0 || end != name + 16)
		return false;
	snprintf(check, sizeof(check), "%016llX" SEG_SUFFIX, v);
	if (strcmp(check, name) != 0)
		return false;
	*first = (uint64) v;
	return true;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* List segment first-indexes in dir, sorted; malloc'd array. */
static int
list_segments(PhRaftLog *log, uint64 **out, int *n, PhRaftLogError *err)
{
	DIR		   *d = opendir(log->dir);
	struct dirent *de;
	uint64	   *arr = NULL;
	int			cnt = 0,
				cap = 0;

	if (d == NULL)
		return io_err(err, errno, "open directory", log->dir);
	while ((errno = 0, de = readdir(d)) != NULL)
	{
		uint64		first;

		if (!parse_seg_name(de->d_name, &first))
			continue;
		if (cnt == cap)
		{
			uint64	   *na;

			cap = cap ? cap * 2 : 32;
			na = realloc(arr, cap * sizeof(uint64));
			if (na == NULL)
			{
				free(arr);
				closedir(d);
				return io_err(err, ENOMEM, "list directory", log->dir);
			}
			arr = na;
		}
		arr[cnt++] = first;
	}
	if (errno != 0)
	{
		int			e = errno;

		free(arr);
		closedir(d);
		return io_err(err, e, "read directory", log->dir);
	}
	closedir(d);
	if (cnt > 1)
		qsort(arr, cnt, sizeof(uint64), cmp_u64);
	*out = arr;
	*n = cnt;
	return PH_RAFT_LOG_OK;
}

/* Unlink one segment file and fsync the directory. */
static int
unlink_seg(PhRaftLog *log, uint64 first, PhRaftLogError *err)
{
	char		path[MAXPGPATH];
	int			e;

	seg_path(log, first, path, sizeof(path));
	if ((e = io_unlink(path)) != 0)
		return io_err(err, e, "remove segment", path);
	if ((e = io_dirsync(log)) != 0)
		return io_err(err, e, "fsync directory", log->dir);
	return PH_RAFT_LOG_OK;
}

/* Open the tail segment's file for writing if it is not open. */
static int
open_tail(PhRaftLog *log, PhRaftLogError *err)
{
	char		path[MAXPGPATH];
	Segment    *s = tail_seg(log);

	if (s == NULL || log->tailfd >= 0)
		return PH_RAFT_LOG_OK;
	seg_path(log, s->first, path, sizeof(path));
	log->tailfd = open(path, O_RDWR | O_CLOEXEC);
	if (log->tailfd < 0)
		return io_err(err, errno, "open segment", path);
	return PH_RAFT_LOG_OK;
}

/*
 * Make the files match the in-memory log: remove segment files memory does
 * not have (those above the tail from the highest down, those below the
 * first from the lowest up, with a directory fsync after each, so that a
 * crash in between always leaves a contiguous run of segments), then cut
 * the tail file to its in-memory size and fsync it.  Idempotent; clears
 * needs_repair on success.
 */
static int
repair(PhRaftLog *log, PhRaftLogError *err)
{
	uint64	   *files;
	int			nfiles,
				i,
				rc;
	Segment    *tail = tail_seg(log);
	uint64		lo = log->nsegs > 0 ? log->segs[0].first : 0;
	uint64		hi = tail ? tail->first : 0;

	log->needs_repair = true;
	if ((rc = list_segments(log, &files, &nfiles, err)) != PH_RAFT_LOG_OK)
		return rc;
	/* Above the tail (or everything if memory is empty): highest first. */
	for (i = nfiles - 1; i >= 0 && rc == PH_RAFT_LOG_OK; i--)
		if (tail == NULL || files[i] > hi)
			rc = unlink_seg(log, files[i], err);
	/* Below the first segment: lowest first. */
	for (i = 0; i < nfiles && rc == PH_RAFT_LOG_OK; i++)
		if (tail != NULL && files[i] < lo)
			rc = unlink_seg(log, files[i], err);
	free(files);
	if (rc != PH_RAFT_LOG_OK)
		return rc;

	if (tail != NULL)
	{
		char		path[MAXPGPATH];
		struct stat st;
		int			e;

		if ((rc = open_tail(log, err)) != PH_RAFT_LOG_OK)
			return rc;
		seg_path(log, tail->first, path, sizeof(path));
		if (fstat(log->tailfd, &st) != 0)
			return io_err(err, errno, "stat segment", path);
		if ((uint64) st.st_size != tail->size)
		{
			if ((e = io_truncate(log->tailfd, path, tail->size)) != 0)
				return io_err(err, e, "truncate segment", path);
			if ((e = io_sync(log->tailfd, path, false)) != 0)
				return io_err(err, e, "fsync segment", path);
		}
	}
	log->needs_repair = false;
	return PH_RAFT_LOG_OK;
}

/* Called at the start of every write path. */
static int
ensure_repaired(PhRaftLog *log, PhRaftLogError *err)
{
	int			rc;

	if (!log->needs_repair)
		return PH_RAFT_LOG_OK;
	rc = repair(log, err);
	if (rc != PH_RAFT_LOG_OK && err != NULL)
	{
		char		tmp[PH_RAFT_LOG_MSGLEN];

		snprintf(tmp, sizeof(tmp),
				 "raft log has not recovered from an earlier write failure: %s",
				 err->message);
		strcpy(err->message, tmp);
	}
	return rc;
}

/*
 * A write path failed: forget everything not yet synced and bring the files
 * back in line.  The original error in *err is kept; a failing repair only
 * leaves needs_repair set.
 */
static void
rollback(PhRaftLog *log)
{
	PhRaftLogError ignored;

	mem_truncate(log, log->synced_index + 1);
	log->tail_dirty = false;
	log->dir_dirty = false;
	(void) repair(log, &ignored);
}

/* ---------------------------------------------------------------------
 * Metadata file
 * ---------------------------------------------------------------------
 */

static void
meta_fill(const PhRaftLog *log, MetaSlot *m, uint64 seq,
		  const PhRaftHardState *hs, uint64 snap_index, uint64 snap_term)
{
	memset(m, 0, sizeof(*m));
	m->magic = META_MAGIC;
	m->version = FORMAT_VERSION;
	m->seq = seq;
	m->term = hs->term;
	m->vote = hs->vote;
	m->commit = hs->commit;
	m->snap_index = snap_index;
	m->snap_term = snap_term;
	m->crc = crc_of(m, offsetof(MetaSlot, crc), NULL, 0);
}

static bool
meta_valid(const MetaSlot *m)
{
	return m->magic == META_MAGIC && m->version == FORMAT_VERSION &&
		m->seq != 0 && m->crc == crc_of(m, offsetof(MetaSlot, crc), NULL, 0);
}

/*
 * Write the next metadata slot (the one not holding the newest state) and
 * fsync.  Memory is updated only on success, so a failure leaves the last
 * durable state in place and the next attempt rewrites the same slot.
 */
static int
meta_write(PhRaftLog *log, const PhRaftHardState *hs, uint64 snap_index,
		   uint64 snap_term, PhRaftLogError *err)
{
	char		slot[META_SLOT_SIZE];
	char		path[MAXPGPATH];
	uint64		seq = log->meta_seq + 1;
	int			e;

	memset(slot, 0, sizeof(slot));
	meta_fill(log, (MetaSlot *) slot, seq, hs, snap_index, snap_term);
	file_path(log, META_FILE, path, sizeof(path));
	if ((e = io_pwrite(log->metafd, path, slot, sizeof(slot),
					   (seq % 2) * META_SLOT_SIZE)) != 0)
		return io_err(err, e, "write metadata file", path);
	if ((e = io_sync(log->metafd, path, true)) != 0)
		return io_err(err, e, "fsync metadata file", path);
	log->meta_seq = seq;
	log->hs = *hs;
	log->snap_index = snap_index;
	log->snap_term = snap_term;
	return PH_RAFT_LOG_OK;
}

/*
 * Open the metadata file, creating it in a fresh directory (write a
 * temporary file, fsync, rename, fsync the directory).  have_segments says
 * whether segment files exist: then a missing file is corruption.
 */
static int
meta_open(PhRaftLog *log, bool have_segments, PhRaftLogError *err)
{
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	char		buf[2 * META_SLOT_SIZE];
	MetaSlot	a,
				b;
	int			e;

	file_path(log, META_FILE, path, sizeof(path));
	file_path(log, META_TMP_FILE, tmp, sizeof(tmp));
	(void) unlink(tmp);
	log->metafd = open(path, O_RDWR | O_CLOEXEC);
	if (log->metafd < 0 && errno != ENOENT)
		return io_err(err, errno, "open metadata file", path);
	if (log->metafd < 0)
	{
		PhRaftHardState zero = {0, 0, 0};
		int			fd;

		if (have_segments)
			return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
						   "raft metadata file \"%s\" is missing but segment files exist",
						   path);
		memset(buf, 0, sizeof(buf));
		/* seq 1 lives in slot 1; slot 0 stays invalid until seq 2. */
		meta_fill(log, (MetaSlot *) (buf + META_SLOT_SIZE), 1, &zero, 0, 0);
		if ((fd = io_create(tmp)) < 0)
			return io_err(err, -fd, "create metadata file", tmp);
		if ((e = io_pwrite(fd, tmp, buf, sizeof(buf), 0)) != 0 ||
			(e = io_sync(fd, tmp, false)) != 0)
		{
			close(fd);
			(void) unlink(tmp);
			return io_err(err, e, "write metadata file", tmp);
		}
		close(fd);
		if ((e = io_rename(tmp, path)) != 0)
		{
			(void) unlink(tmp);
			return io_err(err, e, "rename metadata file to", path);
		}
		if ((e = io_dirsync(log)) != 0)
			return io_err(err, e, "fsync directory", log->dir);
		log->metafd = open(path, O_RDWR | O_CLOEXEC);
		if (log->metafd < 0)
			return io_err(err, errno, "open metadata file", path);
	}

	memset(buf, 0, sizeof(buf));
	e = read_at(log->metafd, buf, sizeof(buf), 0);
	if (e > 0)
		return io_err(err, e, "read metadata file", path);
	/* A short file is tolerated: the missing part reads as zeroes. */
	memcpy(&a, buf, sizeof(a));
	memcpy(&b, buf + META_SLOT_SIZE, sizeof(b));
	if (!meta_valid(&a) && !meta_valid(&b))
		return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
					   "raft metadata file \"%s\" is corrupt: neither slot (offsets 0 and %d) has a valid checksum",
					   path, META_SLOT_SIZE);
	if (!meta_valid(&a) || (meta_valid(&b) && b.seq > a.seq))
		a = b;
	log->meta_seq = a.seq;
	log->hs.term = a.term;
	log->hs.vote = a.vote;
	log->hs.commit = a.commit;
	log->snap_index = a.snap_index;
	log->snap_term = a.snap_term;
	return PH_RAFT_LOG_OK;
}

/* ---------------------------------------------------------------------
 * Snapshot blob files
 * ---------------------------------------------------------------------
 */

static void
snap_path(const PhRaftLog *log, uint64 index, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" SNAP_PREFIX "%016" INT64_MODIFIER "X", log->dir,
			 index);
}

static pg_crc32c
snap_crc(const SnapHeader *h, const void *data)
{
	return crc_of(h, offsetof(SnapHeader, crc), data, h->len);
}

/*
 * Durably write the blob of the snapshot at (index, term): a temporary
 * file, fsync, rename to snap-<index>, fsync the directory.  Written before
 * the metadata marker that makes it current, so a crash in between leaves
 * an unreferenced file that the next open removes.
 */
static int
snap_write(PhRaftLog *log, uint64 index, uint64 term, const void *data,
		   uint32 len, PhRaftLogError *err)
{
	char		tmp[MAXPGPATH];
	char		path[MAXPGPATH];
	SnapHeader	h;
	int			fd,
				e;

	file_path(log, SNAP_TMP_FILE, tmp, sizeof(tmp));
	snap_path(log, index, path, sizeof(path));
	memset(&h, 0, sizeof(h));
	h.magic = SNAP_MAGIC;
	h.version = FORMAT_VERSION;
	h.index = index;
	h.term = term;
	h.len = len;
	h.crc = snap_crc(&h, data);
	if ((fd = io_create(tmp)) < 0)
		return io_err(err, -fd, "create snapshot file", tmp);
	if ((e = io_pwrite(fd, tmp, &h, sizeof(h), 0)) != 0 ||
		(len > 0 && (e = io_pwrite(fd, tmp, data, len, sizeof(h))) != 0) ||
		(e = io_sync(fd, tmp, false)) != 0)
	{
		close(fd);
		(void) unlink(tmp);
		return io_err(err, e, "write snapshot file", tmp);
	}
	close(fd);
	if ((e = io_rename(tmp, path)) != 0)
	{
		(void) unlink(tmp);
		return io_err(err, e, "rename snapshot file to", path);
	}
	if ((e = io_dirsync(log)) != 0)
		return io_err(err, e, "fsync directory", log->dir);
	return PH_RAFT_LOG_OK;
}

/*
 * Remove snapshot blob files other than the current one, and a leftover
 * temporary file.  Best effort: a stale file is harmless and is retried at
 * the next compaction or open.
 */
static void
snap_cleanup(PhRaftLog *log)
{
	DIR		   *d = opendir(log->dir);
	struct dirent *de;
	char		keep[64];
	char		path[MAXPGPATH];
	bool		removed = false;

	if (d == NULL)
		return;
	snprintf(keep, sizeof(keep), SNAP_PREFIX "%016" INT64_MODIFIER "X",
			 log->snap_index);
	while ((de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, SNAP_TMP_FILE) != 0 &&
			(strncmp(de->d_name, SNAP_PREFIX, strlen(SNAP_PREFIX)) != 0 ||
			 (log->snap_index > 0 && strcmp(de->d_name, keep) == 0)))
			continue;
		file_path(log, de->d_name, path, sizeof(path));
		if (io_unlink(path) == 0)
			removed = true;
	}
	closedir(d);
	if (removed)
		(void) io_dirsync(log);
}

/* Load the blob of the current snapshot (open); missing or bad is corrupt. */
static int
snap_load(PhRaftLog *log, PhRaftLogError *err)
{
	char		path[MAXPGPATH];
	char	   *buf;
	uint64		size;
	SnapHeader	h;
	int			rc;

	if (log->snap_index == 0)
		return PH_RAFT_LOG_OK;
	snap_path(log, log->snap_index, path, sizeof(path));
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
					   "raft snapshot file \"%s\" is missing (the metadata names a snapshot at index " UINT64_FORMAT ")",
					   path, log->snap_index);
	if ((rc = slurp(path, &buf, &size, err)) != PH_RAFT_LOG_OK)
		return rc;
	if (size >= sizeof(h))
		memcpy(&h, buf, sizeof(h));
	if (size < sizeof(h) || h.magic != SNAP_MAGIC ||
		h.version != FORMAT_VERSION || h.len != size - sizeof(h) ||
		h.index != log->snap_index || h.term != log->snap_term ||
		h.crc != snap_crc(&h, buf + sizeof(h)))
	{
		free(buf);
		return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
					   "raft snapshot file \"%s\" is corrupt or does not match the snapshot marker (index " UINT64_FORMAT ", term " UINT64_FORMAT ")",
					   path, log->snap_index, log->snap_term);
	}
	memmove(buf, buf + sizeof(h), h.len);
	log->snap_data = buf;
	log->snap_len = h.len;
	return PH_RAFT_LOG_OK;
}

/* ---------------------------------------------------------------------
 * Recovery
 * ---------------------------------------------------------------------
 */

/* Does a valid record header + payload start at buf[off] (size bytes)? */
static bool
valid_record_at(const char *buf, uint64 size, uint64 off, RecHeader *out)
{
	RecHeader	h;

	if (off + REC_HDR > size)
		return false;
	memcpy(&h, buf + off, sizeof(h));
	if (h.len > PH_RAFT_LOG_MAX_PAYLOAD || off + REC_SIZE(h.len) > size)
		return false;
	if (h.crc != rec_crc(&h, buf + off + REC_HDR))
		return false;
	if (out)
		*out = h;
	return true;
}

/*
 * Look for a valid record with index >= min_index at an 8-aligned offset in
 * [from, size): evidence that a bad record is not a torn tail.  The index
 * bound keeps record-like bytes inside a payload from counting.
 */
static bool
find_valid_after(const char *buf, uint64 size, uint64 from,
				 uint64 min_index, uint64 *at, RecHeader *h)
{
	uint64		off;

	for (off = ALIGN8(from); off + REC_HDR <= size; off += 8)
		if (valid_record_at(buf, size, off, h) && h->index >= min_index)
		{
			*at = off;
			return true;
		}
	return false;
}

/* Read a whole file into a malloc'd buffer. */
static int
slurp(const char *path, char **out, uint64 *size, PhRaftLogError *err)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char	   *buf;
	int			e;

	if (fd < 0)
		return io_err(err, errno, "open segment", path);
	if (fstat(fd, &st) != 0)
	{
		e = errno;
		close(fd);
		return io_err(err, e, "stat segment", path);
	}
	buf = malloc(st.st_size > 0 ? st.st_size : 1);
	if (buf == NULL)
	{
		close(fd);
		return io_err(err, ENOMEM, "read segment", path);
	}
	e = read_at(fd, buf, st.st_size, 0);
	close(fd);
	if (e != 0)
	{
		free(buf);
		return io_err(err, e > 0 ? e : EIO, "read segment", path);
	}
	*out = buf;
	*size = st.st_size;
	return PH_RAFT_LOG_OK;
}

/* Cut a file to size and fsync it (used by recovery on a torn tail). */
static int
cut_file(const char *path, uint64 size, PhRaftLogError *err)
{
	int			fd = open(path, O_RDWR | O_CLOEXEC);
	int			e;

	if (fd < 0)
		return io_err(err, errno, "open segment", path);
	if ((e = io_truncate(fd, path, size)) != 0 ||
		(e = io_sync(fd, path, false)) != 0)
	{
		close(fd);
		return io_err(err, e, "truncate segment", path);
	}
	close(fd);
	return PH_RAFT_LOG_OK;
}

/*
 * Scan one segment file into a new in-memory segment, validating every
 * record.  expect is the index the first record must have (0 if this is
 * the first segment: then the name decides); prev_term the term of the
 * previous record.  In the last segment, a bad record with nothing valid
 * after it is a torn tail and is cut off; a last segment with a torn
 * header or no records is removed.  Anything else is ECORRUPT.
 */
static int
scan_segment(PhRaftLog *log, uint64 first, bool is_last, uint64 expect,
			 uint64 *prev_term, PhRaftLogError *err)
{
	char		path[MAXPGPATH];
	char	   *buf = NULL;
	uint64		size = 0,
				off,
				at;
	SegHeader	sh;
	RecHeader	h;
	Segment    *s;
	int			rc;
	const char *why = NULL;

	seg_path(log, first, path, sizeof(path));
	if ((rc = slurp(path, &buf, &size, err)) != PH_RAFT_LOG_OK)
		return rc;

	if (expect != 0 && first != expect)
	{
		free(buf);
		return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
					   "raft log has a gap: segment \"%s\" starts at index " UINT64_FORMAT " but index " UINT64_FORMAT " was expected",
					   path, first, expect);
	}

	/* Segment header. */
	if (size >= SEG_HDR)
		memcpy(&sh, buf, sizeof(sh));
	if (size < SEG_HDR || sh.magic != SEG_MAGIC ||
		sh.version != FORMAT_VERSION ||
		sh.crc != crc_of(&sh, offsetof(SegHeader, crc), NULL, 0) ||
		sh.first_index != first)
	{
		if (is_last &&
			!find_valid_after(buf, size, SEG_HDR, first, &at, &h))
		{
			free(buf);
			add_note(log, "removed segment \"%s\" with a torn header (" UINT64_FORMAT " bytes)",
					 path, size);
			return unlink_seg(log, first, err);
		}
		free(buf);
		return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
					   "raft log segment \"%s\" has an invalid header at offset 0",
					   path);
	}

	if ((s = segs_add(log, first)) == NULL)
	{
		free(buf);
		return io_err(err, ENOMEM, "scan segment", path);
	}
	off = SEG_HDR;
	while (off < size)
	{
		if (!valid_record_at(buf, size, off, &h))
			why = "bad checksum or length";
		else if (h.index != first + s->count)
			why = "unexpected index";
		else if (h.term < *prev_term)
			why = "term goes backwards";
		if (why != NULL)
			break;
		if (!seg_push(s, h.term, off))
		{
			free(buf);
			return io_err(err, ENOMEM, "scan segment", path);
		}
		*prev_term = h.term;
		off += REC_SIZE(h.len);
	}
	s->size = off;

	if (why != NULL)
	{
		bool		bad_crc = strcmp(why, "bad checksum or length") == 0;
		RecHeader	next;
		bool		found = false;

		if (is_last && bad_crc)
			found = find_valid_after(buf, size, off + 8, first + s->count,
									 &at, &next);
		if (!is_last || !bad_crc || found)
		{
			free(buf);
			if (!is_last)
				return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
							   "raft log segment \"%s\" is corrupt at offset " UINT64_FORMAT " (%s; expected index " UINT64_FORMAT ") and is not the last segment",
							   path, off, why, first + s->count);
			if (bad_crc)
				return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
							   "raft log segment \"%s\" is corrupt at offset " UINT64_FORMAT " (%s; expected index " UINT64_FORMAT "), but a valid record (index " UINT64_FORMAT ") follows at offset " UINT64_FORMAT,
							   path, off, why, first + s->count, next.index, at);
			return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
						   "raft log segment \"%s\" is corrupt at offset " UINT64_FORMAT " (%s: record index " UINT64_FORMAT " term " UINT64_FORMAT ", expected index " UINT64_FORMAT ")",
						   path, off, why, h.index, h.term, first + s->count);
		}
		free(buf);
		add_note(log, "cut torn tail of \"%s\" at offset " UINT64_FORMAT " (" UINT64_FORMAT " bytes, after index " UINT64_FORMAT ")",
				 path, off, size - off, first + s->count - 1);
		if ((rc = cut_file(path, off, err)) != PH_RAFT_LOG_OK)
			return rc;
	}
	else
		free(buf);

	if (s->count == 0)
	{
		/* Only possible for the last segment (others would be a gap). */
		segs_drop_from(log, log->nsegs - 1);
		add_note(log, "removed empty segment \"%s\"", path);
		return unlink_seg(log, first, err);
	}
	return PH_RAFT_LOG_OK;
}

/*
 * Reconcile the scanned segments with the snapshot marker, finishing a
 * compaction a crash interrupted: if the log holds the snapshot index with
 * another term (an interrupted "discard all"), drop everything; otherwise
 * drop segments wholly at or below the snapshot index.  What remains must
 * start at or below snapshot index + 1.
 */
static int
apply_snapshot(PhRaftLog *log, PhRaftLogError *err)
{
	int			k = find_seg(log, log->snap_index);
	int			drop = 0;
	int			rc;

	if (log->snap_index == 0)
		return PH_RAFT_LOG_OK;
	if (k >= 0)
	{
		Segment    *s = &log->segs[k];

		if (s->terms[log->snap_index - s->first] != log->snap_term)
		{
			add_note(log, "discarded log conflicting with snapshot at index " UINT64_FORMAT " term " UINT64_FORMAT,
					 log->snap_index, log->snap_term);
			segs_drop_from(log, 0);
			return repair(log, err);
		}
	}
	while (drop < log->nsegs && seg_last(&log->segs[drop]) <= log->snap_index)
		drop++;
	if (drop > 0)
	{
		segs_drop_prefix(log, drop);
		if ((rc = repair(log, err)) != PH_RAFT_LOG_OK)
			return rc;
	}
	if (log->nsegs > 0 && log->segs[0].first > log->snap_index + 1)
	{
		char		path[MAXPGPATH];

		seg_path(log, log->segs[0].first, path, sizeof(path));
		return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
					   "raft log has a gap: snapshot covers up to index " UINT64_FORMAT " but the first segment \"%s\" starts at index " UINT64_FORMAT,
					   log->snap_index, path, log->segs[0].first);
	}
	if (log->nsegs > 0 && log->segs[0].terms[0] < log->snap_term &&
		log->segs[0].first > log->snap_index)
		return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
					   "raft log entry " UINT64_FORMAT " has term " UINT64_FORMAT ", below the snapshot term " UINT64_FORMAT,
					   log->segs[0].first, log->segs[0].terms[0],
					   log->snap_term);
	return PH_RAFT_LOG_OK;
}

/*
 * Create dir and any missing parents (mode 0700), fsyncing the parent of
 * each directory created so that the new entry is durable.
 */
static int
make_dirs(const char *dir, PhRaftLogError *err)
{
	char		path[MAXPGPATH];
	char	   *slash;
	size_t		len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return set_err(err, PH_RAFT_LOG_EINVAL, 0,
					   "invalid raft log directory name \"%s\"", dir);
	strcpy(path, dir);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	for (slash = strchr(path + 1, '/');; slash = strchr(slash + 1, '/'))
	{
		struct stat st;

		if (slash)
			*slash = '\0';
		if (stat(path, &st) != 0)
		{
			char		parent[MAXPGPATH];
			char	   *p;
			int			fd;

			if (errno != ENOENT || mkdir(path, 0700) != 0)
				return io_err(err, errno, "create directory", path);
			strcpy(parent, path);
			p = strrchr(parent, '/');
			if (p == parent)
				p[1] = '\0';
			else if (p != NULL)
				*p = '\0';
			else
				strcpy(parent, ".");
			fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0 || fsync(fd) != 0)
			{
				int			e = errno;

				if (fd >= 0)
					close(fd);
				return io_err(err, e, "fsync directory", parent);
			}
			close(fd);
		}
		else if (!S_ISDIR(st.st_mode))
			return io_err(err, ENOTDIR, "create directory", path);
		if (!slash)
			break;
		*slash = '/';
	}
	return PH_RAFT_LOG_OK;
}

int
ph_raft_log_open(const char *dir, const PhRaftLogOptions *opts,
				 PhRaftLog **out, PhRaftLogError *err)
{
	PhRaftLog  *log;
	uint64	   *files = NULL;
	int			nfiles = 0,
				i,
				rc;
	uint64		prev_term = 0;

	clear_err(err);
	*out = NULL;
	if (strlen(dir) + SEG_NAME_LEN + 2 >= MAXPGPATH)
		return set_err(err, PH_RAFT_LOG_EINVAL, 0,
					   "raft log directory name is too long");
	if (opts != NULL && opts->segment_size != 0 &&
		opts->segment_size < PH_RAFT_LOG_MIN_SEGMENT_SIZE)
		return set_err(err, PH_RAFT_LOG_EINVAL, 0,
					   "raft log segment size " UINT64_FORMAT " is below the minimum %d",
					   opts->segment_size, PH_RAFT_LOG_MIN_SEGMENT_SIZE);
	if ((rc = make_dirs(dir, err)) != PH_RAFT_LOG_OK)
		return rc;

	log = calloc(1, sizeof(PhRaftLog));
	if (log == NULL)
		return io_err(err, ENOMEM, "open raft log in", dir);
	strcpy(log->dir, dir);
	log->segsize = (opts && opts->segment_size) ? opts->segment_size :
		PH_RAFT_LOG_DEFAULT_SEGMENT_SIZE;
	log->tailfd = log->readfd = log->metafd = -1;
	log->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dirfd < 0)
	{
		rc = io_err(err, errno, "open directory", dir);
		goto fail;
	}

	if ((rc = list_segments(log, &files, &nfiles, err)) != PH_RAFT_LOG_OK)
		goto fail;
	if ((rc = meta_open(log, nfiles > 0, err)) != PH_RAFT_LOG_OK)
		goto fail;
	if ((rc = snap_load(log, err)) != PH_RAFT_LOG_OK)
		goto fail;
	snap_cleanup(log);
	for (i = 0; i < nfiles; i++)
	{
		uint64		expect = log->nsegs > 0 ?
			seg_last(tail_seg(log)) + 1 : 0;

		rc = scan_segment(log, files[i], i == nfiles - 1, expect,
						  &prev_term, err);
		if (rc != PH_RAFT_LOG_OK)
			goto fail;
	}
	free(files);
	files = NULL;
	if ((rc = apply_snapshot(log, err)) != PH_RAFT_LOG_OK)
		goto fail;
	if ((rc = open_tail(log, err)) != PH_RAFT_LOG_OK)
		goto fail;
	log->synced_index = ph_raft_log_last_index(log);
	*out = log;
	return PH_RAFT_LOG_OK;

fail:
	free(files);
	ph_raft_log_close(log);
	return rc;
}

void
ph_raft_log_close(PhRaftLog *log)
{
	if (log == NULL)
		return;
	segs_drop_from(log, 0);
	free(log->segs);
	if (log->metafd >= 0)
		close(log->metafd);
	if (log->dirfd >= 0)
		close(log->dirfd);
	free(log->wbuf);
	free(log->rbuf);
	free(log->snap_data);
	free(log);
}

const char *
ph_raft_log_recovery_note(const PhRaftLog *log)
{
	return log->note;
}

/* ---------------------------------------------------------------------
 * Accessors
 * ---------------------------------------------------------------------
 */

uint64_t
ph_raft_log_first_index(const PhRaftLog *log)
{
	return log->snap_index + 1;
}

uint64_t
ph_raft_log_last_index(const PhRaftLog *log)
{
	if (log->nsegs == 0)
		return log->snap_index;
	return seg_last(&log->segs[log->nsegs - 1]);
}

uint64_t
ph_raft_log_last_term(const PhRaftLog *log)
{
	const Segment *s;

	if (log->nsegs == 0)
		return log->snap_term;
	s = &log->segs[log->nsegs - 1];
	return s->terms[s->count - 1];
}

uint64_t
ph_raft_log_synced_index(const PhRaftLog *log)
{
	return log->synced_index;
}

void
ph_raft_log_snapshot(const PhRaftLog *log, uint64_t *index, uint64_t *term)
{
	*index = log->snap_index;
	*term = log->snap_term;
}

void
ph_raft_log_snapshot_data(const PhRaftLog *log, const void **data,
						  uint32_t *len)
{
	*data = log->snap_data;
	*len = log->snap_len;
}

void
ph_raft_log_hard_state(const PhRaftLog *log, PhRaftHardState *hs)
{
	*hs = log->hs;
}

int
ph_raft_log_term(const PhRaftLog *log, uint64_t index, uint64_t *term,
				 PhRaftLogError *err)
{
	int			k;

	clear_err(err);
	if (index == log->snap_index)
	{
		*term = log->snap_term;
		return PH_RAFT_LOG_OK;
	}
	if (index < log->snap_index)
		return set_err(err, PH_RAFT_LOG_ECOMPACTED, 0,
					   "raft log index " UINT64_FORMAT " is compacted (snapshot at " UINT64_FORMAT ")",
					   index, log->snap_index);
	if (index > ph_raft_log_last_index(log))
		return set_err(err, PH_RAFT_LOG_EUNAVAILABLE, 0,
					   "raft log index " UINT64_FORMAT " is beyond the last index " UINT64_FORMAT,
					   index, ph_raft_log_last_index(log));
	k = find_seg(log, index);
	*term = log->segs[k].terms[index - log->segs[k].first];
	return PH_RAFT_LOG_OK;
}

/* ---------------------------------------------------------------------
 * Write paths
 * ---------------------------------------------------------------------
 */

int
ph_raft_log_save_hard_state(PhRaftLog *log, const PhRaftHardState *hs,
							PhRaftLogError *err)
{
	clear_err(err);
	return meta_write(log, hs, log->snap_index, log->snap_term, err);
}

/*
 * Write the batch buffer (wlen bytes) at the end of the tail segment.  For
 * a segment created by this batch, size is 0 and the buffer starts with the
 * segment header.
 */
static int
flush_batch(PhRaftLog *log, size_t wlen, PhRaftLogError *err)
{
	Segment    *s = tail_seg(log);
	char		path[MAXPGPATH];
	int			e;

	if (wlen == 0)
		return PH_RAFT_LOG_OK;
	seg_path(log, s->first, path, sizeof(path));
	if ((e = io_pwrite(log->tailfd, path, log->wbuf, wlen, s->size)) != 0)
		return io_err(err, e, "write to segment", path);
	s->size += wlen;
	log->tail_dirty = true;
	return PH_RAFT_LOG_OK;
}

/*
 * Seal the tail (fdatasync it, and the directory if the tail is new) so
 * that only the last segment can ever have a torn tail, then create the
 * next segment, starting at first.  Its header is put at the start of the
 * batch buffer and written with its first records; its in-memory size is
 * 0 until then.
 */
static int
start_segment(PhRaftLog *log, uint64 first, PhRaftLogError *err)
{
	char		path[MAXPGPATH];
	SegHeader  *sh;
	Segment    *s;
	int			fd,
				e;

	if (log->nsegs > 0 && log->tail_dirty)
	{
		seg_path(log, tail_seg(log)->first, path, sizeof(path));
		if ((e = io_sync(log->tailfd, path, true)) != 0)
			return io_err(err, e, "fsync segment", path);
		log->tail_dirty = false;
	}
	if (log->dir_dirty)
	{
		if ((e = io_dirsync(log)) != 0)
			return io_err(err, e, "fsync directory", log->dir);
		log->dir_dirty = false;
	}
	seg_path(log, first, path, sizeof(path));
	if ((s = segs_add(log, first)) == NULL)
		return io_err(err, ENOMEM, "create segment", path);
	s->size = 0;
	close_tail(log);
	if ((fd = io_create(path)) < 0)
		return io_err(err, -fd, "create segment", path);
	log->tailfd = fd;
	log->dir_dirty = true;
	sh = (SegHeader *) log->wbuf;
	memset(sh, 0, sizeof(*sh));
	sh->magic = SEG_MAGIC;
	sh->version = FORMAT_VERSION;
	sh->first_index = first;
	sh->crc = crc_of(sh, offsetof(SegHeader, crc), NULL, 0);
	return PH_RAFT_LOG_OK;
}

/* Validate a batch against the log's tail. */
static int
check_batch(PhRaftLog *log, const PhRaftLogEntry *e, int n,
			PhRaftLogError *err)
{
	uint64		next = ph_raft_log_last_index(log) + 1;
	uint64		term = ph_raft_log_last_term(log);
	int			i;

	for (i = 0; i < n; i++)
	{
		if (e[i].index != next + i)
			return set_err(err, PH_RAFT_LOG_EINVAL, 0,
						   "raft log append of index " UINT64_FORMAT " but the next index is " UINT64_FORMAT,
						   e[i].index, next + i);
		if (e[i].term < term)
			return set_err(err, PH_RAFT_LOG_EINVAL, 0,
						   "raft log append of index " UINT64_FORMAT " with term " UINT64_FORMAT " below the previous term " UINT64_FORMAT,
						   e[i].index, e[i].term, term);
		if (e[i].len > PH_RAFT_LOG_MAX_PAYLOAD ||
			(e[i].len > 0 && e[i].data == NULL))
			return set_err(err, PH_RAFT_LOG_EINVAL, 0,
						   "raft log append of index " UINT64_FORMAT " with invalid payload (%u bytes)",
						   e[i].index, e[i].len);
		term = e[i].term;
	}
	return PH_RAFT_LOG_OK;
}

int
ph_raft_log_append(PhRaftLog *log, const PhRaftLogEntry *entries, int n,
				   PhRaftLogError *err)
{
	size_t		wlen = 0;
	int			i,
				rc;

	clear_err(err);
	if (n <= 0)
		return PH_RAFT_LOG_OK;
	if ((rc = ensure_repaired(log, err)) != PH_RAFT_LOG_OK)
		return rc;
	if ((rc = check_batch(log, entries, n, err)) != PH_RAFT_LOG_OK)
		return rc;
	if ((rc = open_tail(log, err)) != PH_RAFT_LOG_OK)
		return rc;

	for (i = 0; i < n; i++)
	{
		const PhRaftLogEntry *e = &entries[i];
		uint64		rsize = REC_SIZE(e->len);
		Segment    *s = tail_seg(log);
		RecHeader	h;
		char	   *p;

		/* Roll over when this record would overflow a non-empty segment. */
		if (s == NULL ||
			(s->count > 0 && s->size + wlen + rsize > log->segsize))
		{
			if ((rc = flush_batch(log, wlen, err)) != PH_RAFT_LOG_OK)
				goto fail;
			wlen = 0;
			if (!ensure_buf(&log->wbuf, &log->wcap, SEG_HDR + rsize))
			{
				rc = io_err(err, ENOMEM, "append to raft log in", log->dir);
				goto fail;
			}
			if ((rc = start_segment(log, e->index, err)) != PH_RAFT_LOG_OK)
				goto fail;
			s = tail_seg(log);
			wlen = SEG_HDR;		/* the header is part of the batch */
		}
		if (!ensure_buf(&log->wbuf, &log->wcap, wlen + rsize) ||
			!seg_push(s, e->term, s->size + wlen))
		{
			rc = io_err(err, ENOMEM, "append to raft log in", log->dir);
			goto fail;
		}
		memset(&h, 0, sizeof(h));
		h.len = e->len;
		h.index = e->index;
		h.term = e->term;
		h.type = e->type;
		h.crc = rec_crc(&h, e->data);
		p = log->wbuf + wlen;
		memcpy(p, &h, sizeof(h));
		if (e->len > 0)
			memcpy(p + REC_HDR, e->data, e->len);
		memset(p + REC_HDR + e->len, 0, rsize - REC_HDR - e->len);
		wlen += rsize;
	}
	if ((rc = flush_batch(log, wlen, err)) != PH_RAFT_LOG_OK)
		goto fail;
	return PH_RAFT_LOG_OK;

fail:
	rollback(log);
	return rc;
}

int
ph_raft_log_sync(PhRaftLog *log, PhRaftLogError *err)
{
	char		path[MAXPGPATH];
	int			e,
				rc;

	clear_err(err);
	if ((rc = ensure_repaired(log, err)) != PH_RAFT_LOG_OK)
		return rc;
	if (log->tail_dirty)
	{
		seg_path(log, tail_seg(log)->first, path, sizeof(path));
		if ((e = io_sync(log->tailfd, path, true)) != 0)
		{
			rc = io_err(err, e, "fsync segment", path);
			rollback(log);
			return rc;
		}
	}
	if (log->dir_dirty)
	{
		if ((e = io_dirsync(log)) != 0)
		{
			rc = io_err(err, e, "fsync directory", log->dir);
			rollback(log);
			return rc;
		}
	}
	log->tail_dirty = false;
	log->dir_dirty = false;
	log->synced_index = ph_raft_log_last_index(log);
	return PH_RAFT_LOG_OK;
}

int
ph_raft_log_truncate_suffix(PhRaftLog *log, uint64_t from,
							PhRaftLogError *err)
{
	int			rc;

	clear_err(err);
	if (from <= log->snap_index)
		return set_err(err, PH_RAFT_LOG_EINVAL, 0,
					   "cannot truncate raft log from index " UINT64_FORMAT ": entries up to " UINT64_FORMAT " are compacted",
					   from, log->snap_index);
	if (from > ph_raft_log_last_index(log))
		return ensure_repaired(log, err);
	if ((rc = ph_raft_log_sync(log, err)) != PH_RAFT_LOG_OK)
		return rc;
	mem_truncate(log, from);
	return repair(log, err);
}

/*
 * Common part of compact and install_snapshot: record the snapshot marker
 * and blob, then drop the covered prefix, or everything if discard_all or
 * if the log does not hold (index, term).
 */
static int
snapshot_common(PhRaftLog *log, uint64_t index, uint64_t term,
				const void *data, uint32_t len, bool discard_all,
				PhRaftLogError *err)
{
	bool		keep;
	uint64		t;
	int			drop = 0,
				rc;
	void	   *copy = NULL;

	clear_err(err);
	if (index <= log->snap_index)
		return ensure_repaired(log, err);
	if (len > PH_RAFT_LOG_MAX_PAYLOAD || (len > 0 && data == NULL))
		return set_err(err, PH_RAFT_LOG_EINVAL, 0,
					   "invalid raft snapshot blob (%u bytes)", len);
	if ((rc = ph_raft_log_sync(log, err)) != PH_RAFT_LOG_OK)
		return rc;
	if (len > 0)
	{
		if ((copy = malloc(len)) == NULL)
			return io_err(err, ENOMEM, "compact raft log in", log->dir);
		memcpy(copy, data, len);
	}
	keep = !discard_all && index <= ph_raft_log_last_index(log) &&
		ph_raft_log_term(log, index, &t, NULL) == PH_RAFT_LOG_OK && t == term;

	/* The blob, then the marker that makes it current. */
	if ((rc = snap_write(log, index, term, data, len, err)) != PH_RAFT_LOG_OK ||
		(rc = meta_write(log, &log->hs, index, term, err)) != PH_RAFT_LOG_OK)
	{
		/*
		 * Keep a blob file already written: if the marker did reach the disk
		 * despite the error, it is needed; if not, open removes it.
		 */
		free(copy);
		return rc;
	}
	free(log->snap_data);
	log->snap_data = copy;
	log->snap_len = len;
	snap_cleanup(log);

	if (keep)
	{
		while (drop < log->nsegs &&
			   seg_last(&log->segs[drop]) <= index)
			drop++;
		segs_drop_prefix(log, drop);
	}
	else
		segs_drop_from(log, 0);
	log->synced_index = ph_raft_log_last_index(log);
	if ((rc = repair(log, err)) != PH_RAFT_LOG_OK && err != NULL)
	{
		char		tmp[PH_RAFT_LOG_MSGLEN];

		snprintf(tmp, sizeof(tmp),
				 "snapshot at index " UINT64_FORMAT " recorded, but removing old segments failed: %s",
				 index, err->message);
		strcpy(err->message, tmp);
	}
	return rc;
}

int
ph_raft_log_compact(PhRaftLog *log, uint64_t index, uint64_t term,
					const void *data, uint32_t len, PhRaftLogError *err)
{
	return snapshot_common(log, index, term, data, len, false, err);
}

int
ph_raft_log_install_snapshot(PhRaftLog *log, uint64_t index, uint64_t term,
							 const void *data, uint32_t len,
							 PhRaftLogError *err)
{
	return snapshot_common(log, index, term, data, len, true, err);
}

/* ---------------------------------------------------------------------
 * Reading
 * ---------------------------------------------------------------------
 */

/* An fd to read segment k: the tail's, or the cached read fd. */
static int
read_fd(PhRaftLog *log, int k, PhRaftLogError *err)
{
	char		path[MAXPGPATH];

	if (k == log->nsegs - 1)
	{
		int			rc = open_tail(log, err);

		return rc == PH_RAFT_LOG_OK ? log->tailfd : -1;
	}
	if (log->readfd >= 0 && log->readfirst == log->segs[k].first)
		return log->readfd;
	close_read(log);
	seg_path(log, log->segs[k].first, path, sizeof(path));
	log->readfd = open(path, O_RDONLY | O_CLOEXEC);
	if (log->readfd < 0)
	{
		io_err(err, errno, "open segment", path);
		return -1;
	}
	log->readfirst = log->segs[k].first;
	return log->readfd;
}

int
ph_raft_log_read(PhRaftLog *log, uint64_t lo, uint64_t hi, size_t max_bytes,
				 PhRaftLogReadCb cb, void *arg, int *count,
				 PhRaftLogError *err)
{
	uint64		idx;
	size_t		bytes = 0;
	int			delivered = 0;
	int			k = -1;

	clear_err(err);
	if (count)
		*count = 0;
	if (lo > hi)
		return set_err(err, PH_RAFT_LOG_EINVAL, 0,
					   "invalid raft log range [" UINT64_FORMAT ", " UINT64_FORMAT ")", lo, hi);
	if (lo <= log->snap_index)
		return set_err(err, PH_RAFT_LOG_ECOMPACTED, 0,
					   "raft log index " UINT64_FORMAT " is compacted (snapshot at " UINT64_FORMAT ")",
					   lo, log->snap_index);
	if (hi > ph_raft_log_last_index(log) + 1)
		return set_err(err, PH_RAFT_LOG_EUNAVAILABLE, 0,
					   "raft log range [" UINT64_FORMAT ", " UINT64_FORMAT ") goes beyond the last index " UINT64_FORMAT,
					   lo, hi, ph_raft_log_last_index(log));

	for (idx = lo; idx < hi; idx++)
	{
		Segment    *s;
		uint64		i,
					end,
					rlen;
		int			fd,
					e;
		RecHeader	h;
		PhRaftLogEntry ent;
		char		path[MAXPGPATH];

		if (k < 0 || idx > seg_last(&log->segs[k]))
			k = find_seg(log, idx);
		s = &log->segs[k];
		i = idx - s->first;
		end = (i + 1 < s->count) ? s->offs[i + 1] : s->size;
		rlen = end - s->offs[i];
		if (delivered > 0 && bytes + (rlen - REC_HDR) > max_bytes)
			break;
		if ((fd = read_fd(log, k, err)) < 0)
			return err ? err->code : PH_RAFT_LOG_EIO;
		seg_path(log, s->first, path, sizeof(path));
		if (!ensure_buf(&log->rbuf, &log->rcap, rlen))
			return io_err(err, ENOMEM, "read segment", path);
		if ((e = read_at(fd, log->rbuf, rlen, s->offs[i])) != 0)
			return io_err(err, e > 0 ? e : EIO, "read segment", path);
		memcpy(&h, log->rbuf, sizeof(h));
		if (h.index != idx || h.term != s->terms[i] ||
			REC_SIZE(h.len) != rlen || h.crc != rec_crc(&h, log->rbuf + REC_HDR))
			return set_err(err, PH_RAFT_LOG_ECORRUPT, 0,
						   "raft log segment \"%s\" is corrupt at offset " UINT64_FORMAT " (record " UINT64_FORMAT " failed its checksum on read)",
						   path, s->offs[i], idx);
		ent.index = h.index;
		ent.term = h.term;
		ent.type = h.type;
		ent.len = h.len;
		ent.data = log->rbuf + REC_HDR;
		bytes += h.len;
		delivered++;
		if (!cb(&ent, arg))
			break;
	}
	if (count)
		*count = delivered;
	return PH_RAFT_LOG_OK;
}
