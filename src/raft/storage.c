/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  The durable Raft log: segment files, hard-state metadata, recovery.
 *
 * The log module owns everything under the log directory (in production
 * $PGDATA/phantom/raft/).  This file holds the log proper (segments,
 * append, sync, truncation, compaction, recovery at open, reads);
 * storage_meta.c the "meta" slots and snapshot blobs; storage_io.c the
 * error helpers and the I/O wrappers with the fault hook.  Files:
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
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phantom/raft/storage.h"
#include "storage_int.h"

static pg_crc32c
rec_crc(const RecHeader *h, const void *payload)
{
	return ph_rlog_crc((const char *) h + sizeof(uint32),
					   sizeof(RecHeader) - sizeof(uint32), payload, h->len);
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
		return ph_rlog_io_error(err, errno, "open directory", log->dir);
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
				return ph_rlog_io_error(err, ENOMEM, "list directory", log->dir);
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
		return ph_rlog_io_error(err, e, "read directory", log->dir);
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

	ph_rlog_seg_path(log, first, path, sizeof(path));
	if ((e = ph_rlog_unlink(path)) != 0)
		return ph_rlog_io_error(err, e, "remove segment", path);
	if ((e = ph_rlog_dirsync(log)) != 0)
		return ph_rlog_io_error(err, e, "fsync directory", log->dir);
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
	ph_rlog_seg_path(log, s->first, path, sizeof(path));
	log->tailfd = open(path, O_RDWR | O_CLOEXEC);
	if (log->tailfd < 0)
		return ph_rlog_io_error(err, errno, "open segment", path);
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
		ph_rlog_seg_path(log, tail->first, path, sizeof(path));
		if (fstat(log->tailfd, &st) != 0)
			return ph_rlog_io_error(err, errno, "stat segment", path);
		if ((uint64) st.st_size != tail->size)
		{
			if ((e = ph_rlog_truncate(log->tailfd, path, tail->size)) != 0)
				return ph_rlog_io_error(err, e, "truncate segment", path);
			if ((e = ph_rlog_fsync(log->tailfd, path, false)) != 0)
				return ph_rlog_io_error(err, e, "fsync segment", path);
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

/* Cut a file to size and fsync it (used by recovery on a torn tail). */
static int
cut_file(const char *path, uint64 size, PhRaftLogError *err)
{
	int			fd = open(path, O_RDWR | O_CLOEXEC);
	int			e;

	if (fd < 0)
		return ph_rlog_io_error(err, errno, "open segment", path);
	if ((e = ph_rlog_truncate(fd, path, size)) != 0 ||
		(e = ph_rlog_fsync(fd, path, false)) != 0)
	{
		close(fd);
		return ph_rlog_io_error(err, e, "truncate segment", path);
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

	ph_rlog_seg_path(log, first, path, sizeof(path));
	if ((rc = ph_rlog_slurp(path, &buf, &size, err)) != PH_RAFT_LOG_OK)
		return rc;

	if (expect != 0 && first != expect)
	{
		free(buf);
		return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
							 "raft log has a gap: segment \"%s\" starts at index " UINT64_FORMAT " but index " UINT64_FORMAT " was expected",
							 path, first, expect);
	}

	/* Segment header. */
	if (size >= SEG_HDR)
		memcpy(&sh, buf, sizeof(sh));
	if (size < SEG_HDR || sh.magic != SEG_MAGIC ||
		sh.version != FORMAT_VERSION ||
		sh.crc != ph_rlog_crc(&sh, offsetof(SegHeader, crc), NULL, 0) ||
		sh.first_index != first)
	{
		if (is_last &&
			!find_valid_after(buf, size, SEG_HDR, first, &at, &h))
		{
			free(buf);
			ph_rlog_note(log, "removed segment \"%s\" with a torn header (" UINT64_FORMAT " bytes)",
						 path, size);
			return unlink_seg(log, first, err);
		}
		free(buf);
		return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
							 "raft log segment \"%s\" has an invalid header at offset 0",
							 path);
	}

	if ((s = segs_add(log, first)) == NULL)
	{
		free(buf);
		return ph_rlog_io_error(err, ENOMEM, "scan segment", path);
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
			return ph_rlog_io_error(err, ENOMEM, "scan segment", path);
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
				return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
									 "raft log segment \"%s\" is corrupt at offset " UINT64_FORMAT " (%s; expected index " UINT64_FORMAT ") and is not the last segment",
									 path, off, why, first + s->count);
			if (bad_crc)
				return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
									 "raft log segment \"%s\" is corrupt at offset " UINT64_FORMAT " (%s; expected index " UINT64_FORMAT "), but a valid record (index " UINT64_FORMAT ") follows at offset " UINT64_FORMAT,
									 path, off, why, first + s->count, next.index, at);
			return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
								 "raft log segment \"%s\" is corrupt at offset " UINT64_FORMAT " (%s: record index " UINT64_FORMAT " term " UINT64_FORMAT ", expected index " UINT64_FORMAT ")",
								 path, off, why, h.index, h.term, first + s->count);
		}
		free(buf);
		ph_rlog_note(log, "cut torn tail of \"%s\" at offset " UINT64_FORMAT " (" UINT64_FORMAT " bytes, after index " UINT64_FORMAT ")",
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
		ph_rlog_note(log, "removed empty segment \"%s\"", path);
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
			ph_rlog_note(log, "discarded log conflicting with snapshot at index " UINT64_FORMAT " term " UINT64_FORMAT,
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

		ph_rlog_seg_path(log, log->segs[0].first, path, sizeof(path));
		return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
							 "raft log has a gap: snapshot covers up to index " UINT64_FORMAT " but the first segment \"%s\" starts at index " UINT64_FORMAT,
							 log->snap_index, path, log->segs[0].first);
	}
	if (log->nsegs > 0 && log->segs[0].terms[0] < log->snap_term &&
		log->segs[0].first > log->snap_index)
		return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
							 "raft log entry " UINT64_FORMAT " has term " UINT64_FORMAT ", below the snapshot term " UINT64_FORMAT,
							 log->segs[0].first, log->segs[0].terms[0],
							 log->snap_term);
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

	ph_rlog_clear_error(err);
	*out = NULL;
	if (strlen(dir) + SEG_NAME_LEN + 2 >= MAXPGPATH)
		return ph_rlog_error(err, PH_RAFT_LOG_EINVAL, 0,
							 "raft log directory name is too long");
	if (opts != NULL && opts->segment_size != 0 &&
		opts->segment_size < PH_RAFT_LOG_MIN_SEGMENT_SIZE)
		return ph_rlog_error(err, PH_RAFT_LOG_EINVAL, 0,
							 "raft log segment size " UINT64_FORMAT " is below the minimum %d",
							 opts->segment_size, PH_RAFT_LOG_MIN_SEGMENT_SIZE);
	if ((rc = ph_rlog_make_dirs(dir, err)) != PH_RAFT_LOG_OK)
		return rc;

	log = calloc(1, sizeof(PhRaftLog));
	if (log == NULL)
		return ph_rlog_io_error(err, ENOMEM, "open raft log in", dir);
	strcpy(log->dir, dir);
	log->segsize = (opts && opts->segment_size) ? opts->segment_size :
		PH_RAFT_LOG_DEFAULT_SEGMENT_SIZE;
	log->tailfd = log->readfd = log->metafd = -1;
	log->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dirfd < 0)
	{
		rc = ph_rlog_io_error(err, errno, "open directory", dir);
		goto fail;
	}

	/*
	 * One owner per directory: a second opener (another process, or a bug
	 * opening it twice) would interleave writes.  The lock goes away with
	 * the descriptor, so a crashed owner never leaves it behind.
	 */
	if (flock(log->dirfd, LOCK_EX | LOCK_NB) != 0)
	{
		rc = ph_rlog_error(err, PH_RAFT_LOG_EIO, errno,
						   "raft log directory \"%s\" is in use by another process (%s)",
						   dir, strerror(errno));
		goto fail;
	}

	if ((rc = list_segments(log, &files, &nfiles, err)) != PH_RAFT_LOG_OK)
		goto fail;
	if ((rc = ph_rlog_meta_open(log, nfiles > 0, err)) != PH_RAFT_LOG_OK)
		goto fail;
	if ((rc = ph_rlog_snap_load(log, err)) != PH_RAFT_LOG_OK)
		goto fail;
	ph_rlog_snap_cleanup(log);
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

int
ph_raft_log_term(const PhRaftLog *log, uint64_t index, uint64_t *term,
				 PhRaftLogError *err)
{
	int			k;

	ph_rlog_clear_error(err);
	if (index == log->snap_index)
	{
		*term = log->snap_term;
		return PH_RAFT_LOG_OK;
	}
	if (index < log->snap_index)
		return ph_rlog_error(err, PH_RAFT_LOG_ECOMPACTED, 0,
							 "raft log index " UINT64_FORMAT " is compacted (snapshot at " UINT64_FORMAT ")",
							 index, log->snap_index);
	if (index > ph_raft_log_last_index(log))
		return ph_rlog_error(err, PH_RAFT_LOG_EUNAVAILABLE, 0,
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
	ph_rlog_seg_path(log, s->first, path, sizeof(path));
	if ((e = ph_rlog_pwrite(log->tailfd, path, log->wbuf, wlen, s->size)) != 0)
		return ph_rlog_io_error(err, e, "write to segment", path);
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
		ph_rlog_seg_path(log, tail_seg(log)->first, path, sizeof(path));
		if ((e = ph_rlog_fsync(log->tailfd, path, true)) != 0)
			return ph_rlog_io_error(err, e, "fsync segment", path);
		log->tail_dirty = false;
	}
	if (log->dir_dirty)
	{
		if ((e = ph_rlog_dirsync(log)) != 0)
			return ph_rlog_io_error(err, e, "fsync directory", log->dir);
		log->dir_dirty = false;
	}
	ph_rlog_seg_path(log, first, path, sizeof(path));
	if ((s = segs_add(log, first)) == NULL)
		return ph_rlog_io_error(err, ENOMEM, "create segment", path);
	s->size = 0;
	close_tail(log);
	if ((fd = ph_rlog_create(path)) < 0)
		return ph_rlog_io_error(err, -fd, "create segment", path);
	log->tailfd = fd;
	log->dir_dirty = true;
	sh = (SegHeader *) log->wbuf;
	memset(sh, 0, sizeof(*sh));
	sh->magic = SEG_MAGIC;
	sh->version = FORMAT_VERSION;
	sh->first_index = first;
	sh->crc = ph_rlog_crc(sh, offsetof(SegHeader, crc), NULL, 0);
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
			return ph_rlog_error(err, PH_RAFT_LOG_EINVAL, 0,
								 "raft log append of index " UINT64_FORMAT " but the next index is " UINT64_FORMAT,
								 e[i].index, next + i);
		if (e[i].term < term)
			return ph_rlog_error(err, PH_RAFT_LOG_EINVAL, 0,
								 "raft log append of index " UINT64_FORMAT " with term " UINT64_FORMAT " below the previous term " UINT64_FORMAT,
								 e[i].index, e[i].term, term);
		if (e[i].len > PH_RAFT_LOG_MAX_PAYLOAD ||
			(e[i].len > 0 && e[i].data == NULL))
			return ph_rlog_error(err, PH_RAFT_LOG_EINVAL, 0,
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

	ph_rlog_clear_error(err);
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
			if (!ph_rlog_ensure_buf(&log->wbuf, &log->wcap, SEG_HDR + rsize))
			{
				rc = ph_rlog_io_error(err, ENOMEM, "append to raft log in", log->dir);
				goto fail;
			}
			if ((rc = start_segment(log, e->index, err)) != PH_RAFT_LOG_OK)
				goto fail;
			s = tail_seg(log);
			wlen = SEG_HDR;		/* the header is part of the batch */
		}
		if (!ph_rlog_ensure_buf(&log->wbuf, &log->wcap, wlen + rsize) ||
			!seg_push(s, e->term, s->size + wlen))
		{
			rc = ph_rlog_io_error(err, ENOMEM, "append to raft log in", log->dir);
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

	ph_rlog_clear_error(err);
	if ((rc = ensure_repaired(log, err)) != PH_RAFT_LOG_OK)
		return rc;
	if (log->tail_dirty)
	{
		ph_rlog_seg_path(log, tail_seg(log)->first, path, sizeof(path));
		if ((e = ph_rlog_fsync(log->tailfd, path, true)) != 0)
		{
			rc = ph_rlog_io_error(err, e, "fsync segment", path);
			rollback(log);
			return rc;
		}
	}
	if (log->dir_dirty)
	{
		if ((e = ph_rlog_dirsync(log)) != 0)
		{
			rc = ph_rlog_io_error(err, e, "fsync directory", log->dir);
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

	ph_rlog_clear_error(err);
	if (from <= log->snap_index)
		return ph_rlog_error(err, PH_RAFT_LOG_EINVAL, 0,
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

	ph_rlog_clear_error(err);
	if (index <= log->snap_index)
		return ensure_repaired(log, err);
	if (len > PH_RAFT_LOG_MAX_PAYLOAD || (len > 0 && data == NULL))
		return ph_rlog_error(err, PH_RAFT_LOG_EINVAL, 0,
							 "invalid raft snapshot blob (%u bytes)", len);
	if ((rc = ph_raft_log_sync(log, err)) != PH_RAFT_LOG_OK)
		return rc;
	if (len > 0)
	{
		if ((copy = malloc(len)) == NULL)
			return ph_rlog_io_error(err, ENOMEM, "compact raft log in", log->dir);
		memcpy(copy, data, len);
	}
	keep = !discard_all && index <= ph_raft_log_last_index(log) &&
		ph_raft_log_term(log, index, &t, NULL) == PH_RAFT_LOG_OK && t == term;

	/* The blob, then the marker that makes it current. */
	if ((rc = ph_rlog_snap_write(log, index, term, data, len, err)) != PH_RAFT_LOG_OK ||
		(rc = ph_rlog_meta_write(log, &log->hs, index, term, true, err)) != PH_RAFT_LOG_OK)
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
	ph_rlog_snap_cleanup(log);

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
	ph_rlog_seg_path(log, log->segs[k].first, path, sizeof(path));
	log->readfd = open(path, O_RDONLY | O_CLOEXEC);
	if (log->readfd < 0)
	{
		ph_rlog_io_error(err, errno, "open segment", path);
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

	ph_rlog_clear_error(err);
	if (count)
		*count = 0;
	if (lo > hi)
		return ph_rlog_error(err, PH_RAFT_LOG_EINVAL, 0,
							 "invalid raft log range [" UINT64_FORMAT ", " UINT64_FORMAT ")", lo, hi);
	if (lo <= log->snap_index)
		return ph_rlog_error(err, PH_RAFT_LOG_ECOMPACTED, 0,
							 "raft log index " UINT64_FORMAT " is compacted (snapshot at " UINT64_FORMAT ")",
							 lo, log->snap_index);
	if (hi > ph_raft_log_last_index(log) + 1)
		return ph_rlog_error(err, PH_RAFT_LOG_EUNAVAILABLE, 0,
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
		ph_rlog_seg_path(log, s->first, path, sizeof(path));
		if (!ph_rlog_ensure_buf(&log->rbuf, &log->rcap, rlen))
			return ph_rlog_io_error(err, ENOMEM, "read segment", path);
		if ((e = ph_rlog_read_at(fd, log->rbuf, rlen, s->offs[i])) != 0)
			return ph_rlog_io_error(err, e > 0 ? e : EIO, "read segment", path);
		memcpy(&h, log->rbuf, sizeof(h));
		if (h.index != idx || h.term != s->terms[i] ||
			REC_SIZE(h.len) != rlen || h.crc != rec_crc(&h, log->rbuf + REC_HDR))
			return ph_rlog_error(err, PH_RAFT_LOG_ECORRUPT, 0,
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
