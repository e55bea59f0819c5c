/*-------------------------------------------------------------------------
 *
 * test_raft_storage.c
 *	  TAP unit tests of the durable Raft log (src/raft/storage.c).
 *
 * Covers append/read/reopen, segment rollover, suffix truncation across
 * segments, prefix compaction, the double-buffered hard state, torn tails,
 * corruption detection, injected ENOSPC/EIO on every write path, and a
 * randomized crash test that throws away unsynced bytes and checks that
 * everything synced survives.  Also measures append throughput (reported as
 * TAP diagnostics, no thresholds).
 *
 * Every test works in its own directory /tmp/raftlog-<pid>-<n>, removed at
 * the end.  Payloads are derived from (index, term), so the model of a log
 * is just the term of each index.
 *
 * regress/unit/test_raft_storage.c
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "phantom/raft/storage.h"

/* ---------------------------------------------------------------------
 * TAP helpers
 * ---------------------------------------------------------------------
 */
static int	test_no = 0;
static int	failures = 0;

static void
ok(int cond, const char *fmt,...)
{
	va_list		ap;

	test_no++;
	printf("%sok %d - ", cond ? "" : "not ", test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		failures++;
	fflush(stdout);
}

static void
diag(const char *fmt,...)
{
	va_list		ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* ---------------------------------------------------------------------
 * Directories and files
 * ---------------------------------------------------------------------
 */
static int	dir_counter = 0;

static void
new_dir(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/raftlog-%d-%d", (int) getpid(), ++dir_counter);
}

static void
rm_dir(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	char		path[1024];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Sorted list of segment file names (at most max). */
static int
list_segs(const char *dir, char names[][32], int max)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	int			n = 0,
				i,
				j;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strlen(de->d_name) == 20 && strstr(de->d_name, ".seg") && n < max)
			snprintf(names[n++], 32, "%s", de->d_name);
	closedir(d);
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--)
		{
			char		t[32];

			strcpy(t, names[j]);
			strcpy(names[j], names[j - 1]);
			strcpy(names[j - 1], t);
		}
	return n;
}

static int
count_segs(const char *dir)
{
	static char names[4096][32];

	return list_segs(dir, names, 4096);
}

static long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long) st.st_size : -1;
}

static void
truncate_file(const char *path, long size)
{
	if (truncate(path, size) != 0)
		diag("truncate %s: %s", path, strerror(errno));
}

/* XOR one byte of a file. */
static void
flip_byte(const char *path, long off)
{
	int			fd = open(path, O_RDWR);
	unsigned char c;

	if (fd < 0 || pread(fd, &c, 1, off) != 1)
	{
		diag("flip_byte %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	c ^= 0x5a;
	if (pwrite(fd, &c, 1, off) != 1)
		diag("flip_byte %s: %s", path, strerror(errno));
	close(fd);
}

/* ---------------------------------------------------------------------
 * Deterministic payloads and checking
 * ---------------------------------------------------------------------
 */
static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static unsigned char payload_buf[64 * 1024];

/* Payload of (index, term): length up to maxlen, bytes from a hash. */
static uint32_t
make_payload(uint64_t index, uint64_t term, uint32_t maxlen,
			 unsigned char *out)
{
	uint64_t	h = mix(index * 1000003 + term);
	uint32_t	len = maxlen ? (uint32_t) (h % (maxlen + 1)) : 0;
	uint32_t	i;

	for (i = 0; i < len; i++)
		out[i] = (unsigned char) (mix(h + i) & 0xff);
	return len;
}

static PhRaftLogEntry batch[1024];
static unsigned char batch_data[1024][1100];

/* Append entries [from, from+n) with the given term (maxlen <= 1024). */
static int
append_range(PhRaftLog *log, uint64_t from, int n, uint64_t term,
			 uint32_t maxlen, PhRaftLogError *err)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		batch[i].index = from + i;
		batch[i].term = term;
		batch[i].type = (uint8_t) ((from + i) % 7);
		batch[i].len = make_payload(from + i, term, maxlen, batch_data[i]);
		batch[i].data = batch_data[i];
	}
	return ph_raft_log_append(log, batch, n, err);
}

typedef struct CheckState
{
	uint64_t	next;
	const uint64_t *terms;		/* model: term of each index (by index) */
	uint32_t	maxlen;
	int			bad;
} CheckState;

static bool
check_cb(const PhRaftLogEntry *e, void *arg)
{
	CheckState *cs = arg;
	uint32_t	len;

	if (e->index != cs->next || e->term != cs->terms[e->index] ||
		e->type != (uint8_t) (e->index % 7))
		cs->bad++;
	else
	{
		len = make_payload(e->index, e->term, cs->maxlen, payload_buf);
		if (len != e->len || (len && memcmp(payload_buf, e->data, len) != 0))
			cs->bad++;
	}
	cs->next++;
	return true;
}

/* Does the log hold exactly the model's entries in [lo, hi]? */
static int
log_matches(PhRaftLog *log, uint64_t lo, uint64_t hi, const uint64_t *terms,
			uint32_t maxlen)
{
	CheckState	cs = {lo, terms, maxlen, 0};
	PhRaftLogError err;
	int			count = 0;
	int			rc;

	if (hi < lo)
		return 1;
	rc = ph_raft_log_read(log, lo, hi + 1, (size_t) -1, check_cb, &cs, &count,
						  &err);
	if (rc != PH_RAFT_LOG_OK)
	{
		diag("read [%llu, %llu]: %s", (unsigned long long) lo,
			 (unsigned long long) hi, err.message);
		return 0;
	}
	if (cs.bad || count != (int) (hi - lo + 1))
		diag("read [%llu, %llu]: %d bad, %d delivered",
			 (unsigned long long) lo, (unsigned long long) hi, cs.bad, count);
	return cs.bad == 0 && count == (int) (hi - lo + 1);
}

/* Is the snapshot blob equal to the string want? */
static int
blob_is(PhRaftLog *log, const char *want)
{
	const void *d;
	uint32_t	len;

	ph_raft_log_snapshot_data(log, &d, &len);
	if (want == NULL)
		return len == 0;
	return len == strlen(want) && memcmp(d, want, len) == 0;
}

static int
count_snap_files(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	int			n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "snap", 4) == 0)
			n++;
	closedir(d);
	return n;
}

static PhRaftLog *
open_log(const char *dir, uint64_t segsize)
{
	PhRaftLogOptions o = {segsize};
	PhRaftLog  *log = NULL;
	PhRaftLogError err;

	if (ph_raft_log_open(dir, &o, &log, &err) != PH_RAFT_LOG_OK)
	{
		diag("open %s: %s", dir, err.message);
		return NULL;
	}
	return log;
}

static double
now_sec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

/* ---------------------------------------------------------------------
 * Fault injection: fail the Nth matching I/O with an errno
 * ---------------------------------------------------------------------
 */
typedef struct Fault
{
	int			op;				/* PhRaftLogIoOp, or -1 for any */
	int			countdown;		/* fail when this reaches 0 */
	int			err;
	size_t		partial;		/* bytes a failing write still writes */
	int			times;			/* how many consecutive I/Os fail */
	int			fired;
} Fault;

static int
fault_hook(PhRaftLogIoOp op, const char *path, size_t *len, void *arg)
{
	Fault	   *f = arg;

	if (f->times <= 0 || (f->op != -1 && f->op != (int) op))
		return 0;
	if (f->countdown > 0)
	{
		f->countdown--;
		return 0;
	}
	f->times--;
	f->fired++;
	if (op == PH_RAFT_IO_WRITE && f->partial < *len)
		*len = f->partial;
	return f->err;
}

static Fault fault;

static void
arm_fault_n(int op, int nth, int err, size_t partial, int times)
{
	fault.times = times;
	fault.op = op;
	fault.countdown = nth;
	fault.err = err;
	fault.partial = partial;
	fault.fired = 0;
	ph_raft_log_set_fault_hook(fault_hook, &fault);
}

static void
arm_fault(int op, int nth, int err, size_t partial)
{
	arm_fault_n(op, nth, err, partial, 1);
}

static void
disarm_fault(void)
{
	ph_raft_log_set_fault_hook(NULL, NULL);
}

/* ---------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------
 */
static uint64_t model[200000];

static void
test_basic(void)
{
	char		dir[256];
	PhRaftLog  *log;
	PhRaftLogError err;
	PhRaftHardState hs;
	uint64_t	t,
				i;
	int			rc;

	new_dir(dir, sizeof(dir));
	log = open_log(dir, 0);
	ok(log != NULL, "open creates a fresh log");
	if (!log)
		return;
	ok(ph_raft_log_first_index(log) == 1 && ph_raft_log_last_index(log) == 0 &&
	   ph_raft_log_last_term(log) == 0, "fresh log is empty (first 1, last 0)");
	ph_raft_log_hard_state(log, &hs);
	ok(hs.term == 0 && hs.vote == 0 && hs.commit == 0, "fresh hard state is zero");

	for (i = 1; i <= 10; i++)
		model[i] = i <= 4 ? 1 : 2;
	rc = append_range(log, 1, 4, 1, 300, &err);
	rc |= append_range(log, 5, 6, 2, 300, &err);
	rc |= ph_raft_log_sync(log, &err);
	ok(rc == PH_RAFT_LOG_OK && ph_raft_log_last_index(log) == 10 &&
	   ph_raft_log_last_term(log) == 2 && ph_raft_log_synced_index(log) == 10,
	   "append two batches + sync: last index 10 term 2");
	ok(log_matches(log, 1, 10, model, 300), "read back 1..10");
	ok(ph_raft_log_term(log, 4, &t, &err) == PH_RAFT_LOG_OK && t == 1 &&
	   ph_raft_log_term(log, 0, &t, &err) == PH_RAFT_LOG_OK && t == 0,
	   "term(4) = 1, term(0) = 0");
	ok(ph_raft_log_term(log, 11, &t, &err) == PH_RAFT_LOG_EUNAVAILABLE,
	   "term beyond last is EUNAVAILABLE");
	rc = append_range(log, 12, 1, 2, 10, &err);
	ok(rc == PH_RAFT_LOG_EINVAL && ph_raft_log_last_index(log) == 10,
	   "non-contiguous append is EINVAL: %s", err.message);
	rc = append_range(log, 11, 1, 1, 10, &err);
	ok(rc == PH_RAFT_LOG_EINVAL, "append with a lower term is EINVAL");

	{
		/* max_bytes limits the read but always delivers one entry */
		CheckState	cs = {1, model, 300, 0};
		int			count = 0;

		rc = ph_raft_log_read(log, 1, 11, 1, check_cb, &cs, &count, &err);
		ok(rc == PH_RAFT_LOG_OK && count == 1 && cs.bad == 0,
		   "read with max_bytes=1 delivers exactly one entry");
	}
	hs.term = 2;
	hs.vote = 3;
	hs.commit = 7;
	ok(ph_raft_log_save_hard_state(log, &hs, &err) == PH_RAFT_LOG_OK,
	   "save hard state");
	{
		PhRaftLog  *second = NULL;

		rc = ph_raft_log_open(dir, NULL, &second, &err);
		ok(rc == PH_RAFT_LOG_EIO && second == NULL && strstr(err.message, "in use"),
		   "a second open of the same directory is refused: %s", err.message);
	}
	ph_raft_log_close(log);

	log = open_log(dir, 0);
	ok(log != NULL && ph_raft_log_last_index(log) == 10 &&
	   ph_raft_log_last_term(log) == 2 &&
	   ph_raft_log_recovery_note(log)[0] == '\0',
	   "reopen: last index 10, no recovery note");
	if (log)
	{
		ok(log_matches(log, 1, 10, model, 300), "reopen: read back 1..10");
		ph_raft_log_hard_state(log, &hs);
		ok(hs.term == 2 && hs.vote == 3 && hs.commit == 7,
		   "reopen: hard state (2, 3, 7)");
		ph_raft_log_close(log);
	}
	rm_dir(dir);

	/* missing parent directories are created */
	{
		char		nested[400],
					mid[300];

		snprintf(mid, sizeof(mid), "%s/phantom", dir);
		snprintf(nested, sizeof(nested), "%s/raft/", mid);
		log = open_log(nested, 0);
		ok(log != NULL && file_size(mid) >= 0,
		   "open creates missing parent directories");
		ph_raft_log_close(log);
		nested[strlen(nested) - 1] = '\0';
		rm_dir(nested);
		rm_dir(mid);
		rm_dir(dir);
	}
}

static void
test_rollover_truncate(void)
{
	char		dir[256];
	char		names[64][32];
	PhRaftLog  *log;
	PhRaftLogError err;
	uint64_t	i,
				t;
	int			rc = 0,
				nseg,
				nseg2;

	new_dir(dir, sizeof(dir));
	log = open_log(dir, 4096);
	if (!log)
	{
		ok(0, "open with 4 KB segments");
		return;
	}
	/* 600 entries of up to 400 bytes in batches of 1..40 */
	for (i = 1; i <= 600;)
	{
		int			n = 1 + (int) (mix(i) % 40);

		if (i + n > 601)
			n = 601 - i;
		for (int k = 0; k < n; k++)
			model[i + k] = 1 + (i + k) / 100;
		for (int k = 0; k < n; k++)
		{
			rc |= append_range(log, i + k, 1, model[i + k], 400, &err);
		}
		rc |= ph_raft_log_sync(log, &err);
		i += n;
	}
	nseg = count_segs(dir);
	ok(rc == PH_RAFT_LOG_OK && ph_raft_log_last_index(log) == 600,
	   "600 entries appended with 4 KB segments");
	ok(nseg > 20, "rollover created many segments (%d)", nseg);
	ok(log_matches(log, 1, 600, model, 400), "read back across segments");

	/* a single batch spanning several segments */
	for (i = 601; i <= 700; i++)
		model[i] = 7;
	rc = append_range(log, 601, 100, 7, 400, &err);
	rc |= ph_raft_log_sync(log, &err);
	ok(rc == PH_RAFT_LOG_OK && log_matches(log, 550, 700, model, 400),
	   "one 100-entry batch spans segments");

	/* an entry bigger than a segment gets a segment of its own */
	{
		static unsigned char big[10000];
		PhRaftLogEntry e = {701, 7, 701 % 7, sizeof(big), big};

		memset(big, 0xab, sizeof(big));
		rc = ph_raft_log_append(log, &e, 1, &err);
		rc |= ph_raft_log_sync(log, &err);
		ok(rc == PH_RAFT_LOG_OK && ph_raft_log_last_index(log) == 701,
		   "oversized entry (10000 bytes, 4 KB segments) appended");
		rc = ph_raft_log_truncate_suffix(log, 701, &err);
		ok(rc == PH_RAFT_LOG_OK && ph_raft_log_last_index(log) == 700,
		   "oversized entry truncated away");
	}

	/* truncate from the middle of an earlier segment */
	nseg = count_segs(dir);
	rc = ph_raft_log_truncate_suffix(log, 333, &err);
	nseg2 = count_segs(dir);
	ok(rc == PH_RAFT_LOG_OK && ph_raft_log_last_index(log) == 332 &&
	   ph_raft_log_last_term(log) == model[332],
	   "truncate suffix from 333: last index 332");
	ok(nseg2 < nseg, "truncation removed later segments (%d -> %d)", nseg, nseg2);
	ok(ph_raft_log_term(log, 333, &t, &err) == PH_RAFT_LOG_EUNAVAILABLE,
	   "term(333) now unavailable");
	for (i = 333; i <= 500; i++)
		model[i] = 9;
	rc = append_range(log, 333, 100, 9, 400, &err);
	rc |= append_range(log, 433, 68, 9, 400, &err);
	rc |= ph_raft_log_sync(log, &err);
	ok(rc == PH_RAFT_LOG_OK && log_matches(log, 1, 500, model, 400),
	   "append with a new term after truncation");
	ph_raft_log_close(log);

	log = open_log(dir, 4096);
	ok(log && ph_raft_log_last_index(log) == 500 &&
	   log_matches(log, 1, 500, model, 400) &&
	   ph_raft_log_recovery_note(log)[0] == '\0',
	   "reopen after truncation: 1..500 intact, no recovery note");
	if (!log)
		return;

	/* truncating everything */
	rc = ph_raft_log_truncate_suffix(log, 1, &err);
	ok(rc == PH_RAFT_LOG_OK && ph_raft_log_last_index(log) == 0 &&
	   count_segs(dir) == 0, "truncate from 1 empties the log");
	for (i = 1; i <= 50; i++)
		model[i] = 11;
	rc = append_range(log, 1, 50, 11, 400, &err);
	rc |= ph_raft_log_sync(log, &err);
	ph_raft_log_close(log);
	log = open_log(dir, 4096);
	ok(rc == PH_RAFT_LOG_OK && log && log_matches(log, 1, 50, model, 400) &&
	   ph_raft_log_last_index(log) == 50, "refill after full truncation survives reopen");
	nseg = list_segs(dir, names, 64);
	ok(nseg > 0 && strcmp(names[0], "0000000000000001.seg") == 0,
	   "segments are named by their first index (%s)", nseg ? names[0] : "-");
	ph_raft_log_close(log);
	rm_dir(dir);
}

static void
test_compaction(void)
{
	char		dir[256];
	PhRaftLog  *log;
	PhRaftLogError err;
	uint64_t	i,
				t,
				si,
				st;
	int			rc,
				nseg,
				nseg2;

	new_dir(dir, sizeof(dir));
	log = open_log(dir, 4096);
	if (!log)
	{
		ok(0, "open");
		return;
	}
	for (i = 1; i <= 400; i++)
		model[i] = 1 + i / 50;
	rc = 0;
	for (i = 1; i <= 400; i++)
		rc |= append_range(log, i, 1, model[i], 200, &err);
	rc |= ph_raft_log_sync(log, &err);
	nseg = count_segs(dir);
	ok(rc == PH_RAFT_LOG_OK && ph_raft_log_last_index(log) == 400,
	   "400 entries for compaction");

	rc = ph_raft_log_compact(log, 250, model[250], "conf-250", 8, &err);
	nseg2 = count_segs(dir);
	ph_raft_log_snapshot(log, &si, &st);
	ok(rc == PH_RAFT_LOG_OK && si == 250 && st == model[250] &&
	   ph_raft_log_first_index(log) == 251 && ph_raft_log_last_index(log) == 400,
	   "compact at 250: first 251, last 400");
	ok(nseg2 < nseg, "whole segments below 250 dropped (%d -> %d)", nseg, nseg2);
	ok(ph_raft_log_term(log, 250, &t, &err) == PH_RAFT_LOG_OK && t == model[250],
	   "term(snapshot index) answerable");
	ok(ph_raft_log_term(log, 249, &t, &err) == PH_RAFT_LOG_ECOMPACTED,
	   "term below snapshot is ECOMPACTED");
	{
		CheckState	cs = {249, model, 200, 0};

		ok(ph_raft_log_read(log, 249, 260, 1000, check_cb, &cs, NULL, &err) ==
		   PH_RAFT_LOG_ECOMPACTED, "read below snapshot is ECOMPACTED");
	}
	ok(ph_raft_log_truncate_suffix(log, 250, &err) == PH_RAFT_LOG_EINVAL,
	   "truncating compacted entries is EINVAL");
	ok(log_matches(log, 251, 400, model, 200), "entries after snapshot readable");
	ph_raft_log_close(log);

	log = open_log(dir, 4096);
	ph_raft_log_snapshot(log, &si, &st);
	ok(log && si == 250 && ph_raft_log_first_index(log) == 251 &&
	   ph_raft_log_last_index(log) == 400 && log_matches(log, 251, 400, model, 200),
	   "reopen after compaction: snapshot 250, entries 251..400");
	ok(log && blob_is(log, "conf-250") && count_snap_files(dir) == 1,
	   "reopen after compaction: snapshot blob kept");

	/* installing a snapshot discards the log even if it matches */
	rc = ph_raft_log_install_snapshot(log, 300, model[300], "i300", 4, &err);
	ph_raft_log_snapshot(log, &si, &st);
	ok(rc == PH_RAFT_LOG_OK && si == 300 && ph_raft_log_last_index(log) == 300 &&
	   count_segs(dir) == 0 && blob_is(log, "i300"),
	   "install_snapshot at a matching index discards the whole log");
	for (i = 301; i <= 400; i++)
		model[i] = 8;
	rc = append_range(log, 301, 100, 8, 200, &err) | ph_raft_log_sync(log, &err);
	ok(rc == 0 && log_matches(log, 301, 400, model, 200), "append after install_snapshot");

	/* a snapshot ahead of the log discards everything */
	rc = ph_raft_log_compact(log, 1000, 20, NULL, 0, &err);
	ok(rc == PH_RAFT_LOG_OK && count_segs(dir) == 0 &&
	   ph_raft_log_last_index(log) == 1000 && ph_raft_log_last_term(log) == 20,
	   "snapshot ahead of the log: empty log at 1000 term 20");
	ok(append_range(log, 1000, 1, 20, 10, &err) == PH_RAFT_LOG_EINVAL,
	   "append at the snapshot index is EINVAL");
	for (i = 1001; i <= 1100; i++)
		model[i] = 21;
	rc = append_range(log, 1001, 100, 21, 200, &err);
	rc |= ph_raft_log_sync(log, &err);
	ok(rc == PH_RAFT_LOG_OK, "append after installed snapshot");
	/* a conflicting snapshot (same index, other term) discards too */
	rc = ph_raft_log_compact(log, 1050, 30, "c1050", 5, &err);
	ok(rc == PH_RAFT_LOG_OK && ph_raft_log_last_index(log) == 1050 &&
	   count_segs(dir) == 0, "conflicting snapshot discards the log");
	for (i = 1051; i <= 1060; i++)
		model[i] = 30;
	rc = append_range(log, 1051, 10, 30, 200, &err);
	rc |= ph_raft_log_sync(log, &err);
	ph_raft_log_close(log);
	log = open_log(dir, 4096);
	ph_raft_log_snapshot(log, &si, &st);
	ok(rc == 0 && log && si == 1050 && st == 30 &&
	   ph_raft_log_last_index(log) == 1060 && log_matches(log, 1051, 1060, model, 200) &&
	   blob_is(log, "c1050") && count_snap_files(dir) == 1,
	   "reopen after installed snapshots (blob of the newest only)");

	/* the marker write fails after the blob was written: nothing changes */
	arm_fault(PH_RAFT_IO_WRITE, 2, ENOSPC, 0);
	rc = ph_raft_log_compact(log, 1052, 30, "c1052", 5, &err);
	disarm_fault();
	ph_raft_log_snapshot(log, &si, &st);
	ok(rc == PH_RAFT_LOG_EIO && si == 1050 && blob_is(log, "c1050") &&
	   ph_raft_log_first_index(log) == 1051,
	   "compaction whose marker write fails: old snapshot kept (%s)", err.message);
	ph_raft_log_close(log);
	log = open_log(dir, 4096);
	ph_raft_log_snapshot(log, &si, &st);
	ok(log && si == 1050 && blob_is(log, "c1050") && count_snap_files(dir) == 1 &&
	   log_matches(log, 1051, 1060, model, 200),
	   "reopen: old snapshot, stray blob file removed");

	/*
	 * Crash in the middle of a "discard all": the marker is durable but the
	 * old segments are still there.  Simulate by compacting in a copy where
	 * the unlink fails.
	 */
	arm_fault(PH_RAFT_IO_UNLINK, 1, EIO, 0);	/* #0 is the old blob */
	rc = ph_raft_log_compact(log, 1055, 99, "c1055", 5, &err);
	disarm_fault();
	ok(rc == PH_RAFT_LOG_EIO && ph_raft_log_last_index(log) == 1055 &&
	   count_segs(dir) > 0, "compaction with failing unlink reports: %s", err.message);
	ph_raft_log_close(log);
	log = open_log(dir, 4096);
	ok(log && ph_raft_log_last_index(log) == 1055 && count_segs(dir) == 0 &&
	   blob_is(log, "c1055") &&
	   strstr(ph_raft_log_recovery_note(log), "conflicting") != NULL,
	   "reopen finishes the interrupted discard: %s",
	   log ? ph_raft_log_recovery_note(log) : "-");
	ph_raft_log_close(log);

	/* a damaged or missing snapshot blob is a hard error */
	{
		char		sp[600];

		snprintf(sp, sizeof(sp), "%s/snap-%016llX", dir, 1055ULL);
		flip_byte(sp, 33);
		log = NULL;
		rc = ph_raft_log_open(dir, NULL, &log, &err);
		ok(rc == PH_RAFT_LOG_ECORRUPT && log == NULL && strstr(err.message, "snap-"),
		   "corrupt snapshot blob is ECORRUPT: %s", err.message);
		unlink(sp);
		rc = ph_raft_log_open(dir, NULL, &log, &err);
		ok(rc == PH_RAFT_LOG_ECORRUPT && strstr(err.message, "missing"),
		   "missing snapshot blob is ECORRUPT: %s", err.message);
	}
	rm_dir(dir);
}

static void
test_hard_state(void)
{
	char		dir[256],
				meta[300];
	PhRaftLog  *log;
	PhRaftLogError err;
	PhRaftHardState hs;
	int			i,
				rc = 0;

	new_dir(dir, sizeof(dir));
	snprintf(meta, sizeof(meta), "%s/meta", dir);
	log = open_log(dir, 0);
	for (i = 1; i <= 5; i++)
	{
		hs.term = i;
		hs.vote = 100 + i;
		hs.commit = 10 * i;
		rc |= ph_raft_log_save_hard_state(log, &hs, &err);
	}
	ph_raft_log_close(log);
	log = open_log(dir, 0);
	ph_raft_log_hard_state(log, &hs);
	ok(rc == 0 && hs.term == 5 && hs.vote == 105 && hs.commit == 50,
	   "five saves, reopen gives the last");
	ph_raft_log_close(log);

	/* newest is seq 6 -> slot 0; corrupt it: the previous (term 4) wins */
	flip_byte(meta, 20);
	log = open_log(dir, 0);
	ph_raft_log_hard_state(log, &hs);
	ok(log && hs.term == 4 && hs.vote == 104 && hs.commit == 40,
	   "corrupted newest slot: previous hard state used");
	/* the next save overwrites the corrupted slot and wins */
	hs.term = 6;
	hs.vote = 0;
	hs.commit = 60;
	rc = ph_raft_log_save_hard_state(log, &hs, &err);
	ph_raft_log_close(log);
	log = open_log(dir, 0);
	ph_raft_log_hard_state(log, &hs);
	ok(rc == 0 && log && hs.term == 6 && hs.commit == 60,
	   "save after a corrupt slot is durable");
	ph_raft_log_close(log);

	/* torn write of the slot being written: garbage in half of it */
	{
		int			fd = open(meta, O_RDWR);
		char		junk[40];

		memset(junk, 0x77, sizeof(junk));
		/* seq 6 went to slot 0, so the next write goes to slot 1 */
		if (fd < 0 || pwrite(fd, junk, sizeof(junk), 512 + 8) != sizeof(junk))
			diag("torn write simulation failed");
		if (fd >= 0)
			close(fd);
	}
	log = open_log(dir, 0);
	ph_raft_log_hard_state(log, &hs);
	ok(log && hs.term == 6 && hs.commit == 60, "torn write of the other slot: newest kept");
	ph_raft_log_close(log);

	/* both slots corrupt: hard error naming the file */
	flip_byte(meta, 20);
	log = NULL;
	rc = ph_raft_log_open(dir, NULL, &log, &err);
	ok(rc == PH_RAFT_LOG_ECORRUPT && log == NULL && strstr(err.message, "meta"),
	   "both slots corrupt is ECORRUPT: %s", err.message);

	/* missing meta with segments present */
	rm_dir(dir);
	log = open_log(dir, 0);
	rc = append_range(log, 1, 3, 1, 10, &err) | ph_raft_log_sync(log, &err);
	ph_raft_log_close(log);
	unlink(meta);
	rc = ph_raft_log_open(dir, NULL, &log, &err);
	ok(rc == PH_RAFT_LOG_ECORRUPT && strstr(err.message, "missing"),
	   "missing metadata with segments is ECORRUPT: %s", err.message);
	rm_dir(dir);
}

/*
 * A change of the commit index alone is written without fsync, into the
 * slot that does not hold the fsynced state, so losing it (or tearing it)
 * falls back to the same term and vote.
 */
static void
test_hard_state_commit_only(void)
{
	char		dir[256],
				meta[300];
	PhRaftLog  *log;
	PhRaftLogError err;
	PhRaftHardState hs;
	int			i,
				fired,
				rc;

	new_dir(dir, sizeof(dir));
	snprintf(meta, sizeof(meta), "%s/meta", dir);
	log = open_log(dir, 0);
	hs.term = 7;
	hs.vote = 3;
	hs.commit = 10;
	rc = ph_raft_log_save_hard_state(log, &hs, &err);
	arm_fault(PH_RAFT_IO_FSYNC, 0, EIO, 0);
	for (i = 1; i <= 3; i++)
	{
		hs.commit = 10 + i;
		rc |= ph_raft_log_save_hard_state(log, &hs, &err);
	}
	fired = fault.fired;
	disarm_fault();
	ok(rc == 0 && fired == 0, "commit-only saves do not fsync");
	ph_raft_log_close(log);
	log = open_log(dir, 0);
	ph_raft_log_hard_state(log, &hs);
	ok(log && hs.term == 7 && hs.vote == 3 && hs.commit == 13,
	   "reopen finds the last commit-only save");
	ph_raft_log_close(log);
	/* the term save went to slot 0, the commit-only ones to slot 1 */
	flip_byte(meta, 512 + 20);
	log = open_log(dir, 0);
	ph_raft_log_hard_state(log, &hs);
	ok(log && hs.term == 7 && hs.vote == 3 && hs.commit == 10,
	   "a lost commit-only save falls back to the fsynced term and vote");
	arm_fault(PH_RAFT_IO_FSYNC, 0, EIO, 0);
	hs.term = 8;
	rc = ph_raft_log_save_hard_state(log, &hs, &err);
	disarm_fault();
	ok(rc == PH_RAFT_LOG_EIO, "a term change is fsynced");
	ph_raft_log_close(log);
	rm_dir(dir);
}

static void
test_torn_and_corrupt(void)
{
	char		dir[256],
				path[512];
	char		names[64][32];
	PhRaftLog  *log;
	PhRaftLogError err;
	uint64_t	i;
	int			rc,
				n;
	long		sz;

	/* torn tail: cut the last segment in the middle of the last record */
	new_dir(dir, sizeof(dir));
	log = open_log(dir, 8192);
	for (i = 1; i <= 100; i++)
		model[i] = 3;
	rc = append_range(log, 1, 100, 3, 300, &err) | ph_raft_log_sync(log, &err);
	ph_raft_log_close(log);
	n = list_segs(dir, names, 64);
	snprintf(path, sizeof(path), "%s/%s", dir, names[n - 1]);
	sz = file_size(path);
	truncate_file(path, sz - 5);
	log = open_log(dir, 8192);
	ok(rc == 0 && log && ph_raft_log_last_index(log) == 99 &&
	   strstr(ph_raft_log_recovery_note(log), "torn"),
	   "torn tail cut: last index 99 (%s)", log ? ph_raft_log_recovery_note(log) : "-");
	ok(log && log_matches(log, 1, 99, model, 300), "entries before the torn tail intact");
	rc = append_range(log, 100, 1, 3, 300, &err) | ph_raft_log_sync(log, &err);
	ph_raft_log_close(log);
	log = open_log(dir, 8192);
	ok(rc == 0 && log && ph_raft_log_last_index(log) == 100 &&
	   ph_raft_log_recovery_note(log)[0] == '\0' && log_matches(log, 1, 100, model, 300),
	   "append after torn-tail recovery, clean reopen");
	ph_raft_log_close(log);

	/* torn header: last segment only partially created */
	n = list_segs(dir, names, 64);
	snprintf(path, sizeof(path), "%s/%s", dir, names[n - 1]);
	{
		char		p2[600];
		int			fd;

		/* a new segment after the last one, with half a header */
		snprintf(p2, sizeof(p2), "%s/%016llX.seg", dir, (unsigned long long) 101);
		fd = open(p2, O_CREAT | O_WRONLY, 0600);
		if (fd < 0 || write(fd, "PHR", 3) != 3)
			diag("could not create torn segment");
		if (fd >= 0)
			close(fd);
	}
	log = open_log(dir, 8192);
	ok(log && ph_raft_log_last_index(log) == 100 && count_segs(dir) == n &&
	   strstr(ph_raft_log_recovery_note(log), "torn header"),
	   "segment with a torn header removed (%s)", log ? ph_raft_log_recovery_note(log) : "-");
	ph_raft_log_close(log);

	/* corruption in the middle of the last segment */
	n = list_segs(dir, names, 64);
	snprintf(path, sizeof(path), "%s/%s", dir, names[n - 1]);
	sz = file_size(path);
	flip_byte(path, 32 + 20);	/* inside the first record's header */
	log = NULL;
	rc = ph_raft_log_open(dir, NULL, &log, &err);
	ok(rc == PH_RAFT_LOG_ECORRUPT && log == NULL &&
	   strstr(err.message, names[n - 1]) && strstr(err.message, "offset 32"),
	   "corrupt record followed by valid data: %s", err.message);
	ok(file_size(path) == sz, "corrupt segment left untouched");
	flip_byte(path, 32 + 20);

	/* corruption in a segment that is not the last */
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	sz = file_size(path);
	flip_byte(path, sz - 3);
	rc = ph_raft_log_open(dir, NULL, &log, &err);
	ok(rc == PH_RAFT_LOG_ECORRUPT && strstr(err.message, names[0]) &&
	   strstr(err.message, "not the last"),
	   "corrupt record in an older segment: %s", err.message);
	flip_byte(path, sz - 3);

	/* a gap: remove a middle segment */
	if (n >= 3)
	{
		char		tmp[600];

		snprintf(path, sizeof(path), "%s/%s", dir, names[1]);
		snprintf(tmp, sizeof(tmp), "%s.bak", path);
		rename(path, tmp);
		rc = ph_raft_log_open(dir, NULL, &log, &err);
		ok(rc == PH_RAFT_LOG_ECORRUPT && strstr(err.message, "gap"),
		   "missing middle segment is a gap: %s", err.message);
		rename(tmp, path);
	}
	else
		ok(0, "need 3 segments for the gap test (have %d)", n);
	log = open_log(dir, 8192);
	ok(log && log_matches(log, 1, 100, model, 300), "log intact after the corruption tests");

	/* corruption detected on read (bit rot after open) */
	snprintf(path, sizeof(path), "%s/%s", dir, names[0]);
	flip_byte(path, 32 + 40);
	{
		CheckState	cs = {1, model, 300, 0};

		rc = ph_raft_log_read(log, 1, 2, 1000, check_cb, &cs, NULL, &err);
		ok(rc == PH_RAFT_LOG_ECORRUPT && strstr(err.message, "offset 32"),
		   "checksum verified on read: %s", err.message);
	}
	ph_raft_log_close(log);
	rm_dir(dir);
}

/* Count of failures where durable state was intact after an injected fault. */
static void
test_faults(void)
{
	char		dir[256];
	PhRaftLog  *log;
	PhRaftLogError err;
	PhRaftHardState hs,
				hs2;
	uint64_t	i;
	int			rc,
				nth,
				all_ok = 1,
				cases = 0;
	static const struct
	{
		int			op;
		int			err;
		size_t		partial;
		const char *name;
	}			kinds[] = {
		{PH_RAFT_IO_WRITE, ENOSPC, 0, "write ENOSPC"},
		{PH_RAFT_IO_WRITE, ENOSPC, 100, "short write ENOSPC"},
		{PH_RAFT_IO_FSYNC, EIO, 0, "fsync EIO"},
		{PH_RAFT_IO_CREATE, ENOSPC, 0, "segment create ENOSPC"},
		{PH_RAFT_IO_DIRSYNC, EIO, 0, "directory fsync EIO"},
	};

	/*
	 * For each kind of fault and each N, run a batch that rolls over segments
	 * with the Nth such I/O failing; the log must keep exactly the synced
	 * entries, stay usable, and reopen to the same state.
	 */
	for (int k = 0; k < (int) (sizeof(kinds) / sizeof(kinds[0])); k++)
	{
		int			kind_ok = 1;

		for (nth = 0; nth < 6; nth++)
		{
			new_dir(dir, sizeof(dir));
			log = open_log(dir, 4096);
			for (i = 1; i <= 50; i++)
				model[i] = 1;
			rc = append_range(log, 1, 50, 1, 200, &err) | ph_raft_log_sync(log, &err);
			if (rc != 0)
				kind_ok = 0;
			for (i = 51; i <= 120; i++)
				model[i] = 2;
			arm_fault(kinds[k].op, nth, kinds[k].err, kinds[k].partial);
			rc = append_range(log, 51, 40, 2, 200, &err);
			if (rc == 0)
				rc = append_range(log, 91, 30, 2, 200, &err);
			if (rc == 0)
				rc = ph_raft_log_sync(log, &err);
			disarm_fault();
			if (!fault.fired)
			{
				/* fewer such I/Os than nth: must have succeeded */
				if (rc != 0 || ph_raft_log_last_index(log) != 120)
					kind_ok = 0;
				ph_raft_log_close(log);
				rm_dir(dir);
				continue;
			}
			cases++;
			if (rc != PH_RAFT_LOG_EIO || err.sys_errno != kinds[k].err ||
				ph_raft_log_last_index(log) != 50 ||
				ph_raft_log_synced_index(log) != 50 ||
				!log_matches(log, 1, 50, model, 200))
			{
				diag("%s #%d: rc %d errno %d last %llu: %s", kinds[k].name, nth,
					 rc, err.sys_errno,
					 (unsigned long long) ph_raft_log_last_index(log), err.message);
				kind_ok = 0;
			}
			/* retry succeeds */
			rc = append_range(log, 51, 70, 2, 200, &err) | ph_raft_log_sync(log, &err);
			if (rc != 0 || !log_matches(log, 1, 120, model, 200))
			{
				diag("%s #%d: retry failed: %s", kinds[k].name, nth, err.message);
				kind_ok = 0;
			}
			ph_raft_log_close(log);
			log = open_log(dir, 4096);
			if (!log || ph_raft_log_last_index(log) != 120 ||
				!log_matches(log, 1, 120, model, 200) ||
				ph_raft_log_recovery_note(log)[0] != '\0')
			{
				diag("%s #%d: reopen: %s", kinds[k].name, nth,
					 log ? ph_raft_log_recovery_note(log) : "failed");
				kind_ok = 0;
			}
			ph_raft_log_close(log);
			rm_dir(dir);
		}
		ok(kind_ok, "%s during append/sync: durable state intact, log usable",
		   kinds[k].name);
		all_ok &= kind_ok;
	}

	/* failure while the log is being rolled back: repair on next write */
	new_dir(dir, sizeof(dir));
	log = open_log(dir, 4096);
	for (i = 1; i <= 60; i++)
		model[i] = 1;
	rc = append_range(log, 1, 30, 1, 200, &err) | ph_raft_log_sync(log, &err);
	rc |= append_range(log, 31, 30, 1, 200, &err);
	/* sync's fsync fails, the rollback's ftruncate fails, then the repair
	 * attempted by the next append fails too */
	arm_fault_n(-1, 0, EIO, 0, 3);
	rc = ph_raft_log_sync(log, &err);
	ok(rc == PH_RAFT_LOG_EIO && ph_raft_log_last_index(log) == 30,
	   "sync fails and so does the rollback: %s", err.message);
	rc = append_range(log, 31, 1, 1, 200, &err);
	disarm_fault();
	ok(rc == PH_RAFT_LOG_EIO && ph_raft_log_last_index(log) == 30 &&
	   strstr(err.message, "not recovered"),
	   "write fails while repair is impossible: %s", err.message);
	rc = append_range(log, 31, 30, 1, 200, &err) | ph_raft_log_sync(log, &err);
	ph_raft_log_close(log);
	log = open_log(dir, 4096);
	ok(rc == 0 && log && ph_raft_log_last_index(log) == 60 &&
	   log_matches(log, 1, 60, model, 200), "after repair the log works and reopens");
	ph_raft_log_close(log);
	rm_dir(dir);

	/* ENOSPC during the metadata write */
	new_dir(dir, sizeof(dir));
	log = open_log(dir, 0);
	hs.term = 3;
	hs.vote = 1;
	hs.commit = 0;
	rc = ph_raft_log_save_hard_state(log, &hs, &err);
	hs2 = hs;
	hs2.term = 4;
	hs2.vote = 2;
	arm_fault(PH_RAFT_IO_WRITE, 0, ENOSPC, 30);
	rc = ph_raft_log_save_hard_state(log, &hs2, &err);
	disarm_fault();
	ph_raft_log_hard_state(log, &hs2);
	ok(rc == PH_RAFT_LOG_EIO && err.sys_errno == ENOSPC && hs2.term == 3 &&
	   hs2.vote == 1, "metadata write ENOSPC: in-memory hard state unchanged (%s)",
	   err.message);
	ph_raft_log_close(log);
	log = open_log(dir, 0);
	ph_raft_log_hard_state(log, &hs2);
	ok(log && hs2.term == 3 && hs2.vote == 1,
	   "metadata write ENOSPC: durable hard state intact after reopen");
	arm_fault(PH_RAFT_IO_FSYNC, 0, EIO, 0);
	hs2.term = 5;
	rc = ph_raft_log_save_hard_state(log, &hs2, &err);
	disarm_fault();
	ph_raft_log_hard_state(log, &hs);
	ok(rc == PH_RAFT_LOG_EIO && hs.term == 3, "metadata fsync EIO reported, memory unchanged");
	hs2.term = 6;
	rc = ph_raft_log_save_hard_state(log, &hs2, &err);
	ph_raft_log_close(log);
	log = open_log(dir, 0);
	ph_raft_log_hard_state(log, &hs);
	ok(rc == 0 && log && hs.term == 6, "metadata save after failures is durable");

	/* truncate and compact with failures */
	for (i = 1; i <= 200; i++)
		model[i] = 1;
	rc = append_range(log, 1, 200, 1, 200, &err) | ph_raft_log_sync(log, &err);
	arm_fault(PH_RAFT_IO_WRITE, 0, ENOSPC, 0);
	rc = ph_raft_log_compact(log, 100, 1, NULL, 0, &err);
	disarm_fault();
	ok(rc == PH_RAFT_LOG_EIO && ph_raft_log_first_index(log) == 1 &&
	   log_matches(log, 1, 200, model, 200),
	   "compaction whose marker write fails changes nothing");
	arm_fault(PH_RAFT_IO_TRUNCATE, 0, EIO, 0);
	rc = ph_raft_log_truncate_suffix(log, 150, &err);
	disarm_fault();
	ok(rc == PH_RAFT_LOG_EIO && ph_raft_log_last_index(log) == 149,
	   "truncate with failing ftruncate reports an error: %s", err.message);
	for (i = 150; i <= 160; i++)
		model[i] = 2;
	rc = append_range(log, 150, 11, 2, 200, &err) | ph_raft_log_sync(log, &err);
	ph_raft_log_close(log);
	log = open_log(dir, 0);
	ok(rc == 0 && log && ph_raft_log_last_index(log) == 160 &&
	   log_matches(log, 1, 160, model, 200), "log consistent after failed truncate + retry");
	ph_raft_log_close(log);
	rm_dir(dir);
	diag("fault injection: %d faulted runs", cases);
}

/* ---------------------------------------------------------------------
 * Randomized crash test
 * ---------------------------------------------------------------------
 */

/*
 * The crash simulator learns durability from the fault hook: at each fsync
 * of a segment, the file's current size is durable; at each directory fsync,
 * every existing segment file's name is durable.  A crash then cuts every
 * segment file at a random point at or beyond its durable size, and removes
 * files whose name was never made durable (half of the time).
 */
#define MAX_FILES 512
typedef struct Durable
{
	char		name[32];
	long		size;			/* durable size, -1 if never fsynced */
	int			named;			/* directory entry durable */
} Durable;

static Durable dur[MAX_FILES];
static int	ndur;
static char crash_dir[256];

static Durable *
dur_find(const char *name, int create)
{
	for (int i = 0; i < ndur; i++)
		if (strcmp(dur[i].name, name) == 0)
			return &dur[i];
	if (!create || ndur == MAX_FILES)
		return NULL;
	snprintf(dur[ndur].name, 32, "%s", name);
	dur[ndur].size = -1;
	dur[ndur].named = 0;
	return &dur[ndur++];
}

static unsigned long long rng_state;

static uint64_t
rnd(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return mix(rng_state);
}

static Fault crash_fault;

static int
crash_hook(PhRaftLogIoOp op, const char *path, size_t *len, void *arg)
{
	const char *base = strrchr(path, '/');

	if (crash_fault.op != -2)
	{
		int			e = fault_hook(op, path, len, &crash_fault);

		if (e != 0)
			return e;
	}
	base = base ? base + 1 : path;
	if (op == PH_RAFT_IO_FSYNC && strstr(base, ".seg"))
	{
		Durable    *d = dur_find(base, 1);

		if (d)
			d->size = file_size(path);
	}
	else if (op == PH_RAFT_IO_DIRSYNC)
	{
		char		names[MAX_FILES][32];
		int			n = list_segs(crash_dir, names, MAX_FILES);

		for (int i = 0; i < ndur; i++)
			dur[i].named = 0;
		for (int i = 0; i < n; i++)
		{
			Durable    *d = dur_find(names[i], 1);

			if (d)
				d->named = 1;
		}
	}
	return 0;
}

/* Throw away what the simulated crash loses. */
static void
simulate_crash(void)
{
	char		names[MAX_FILES][32];
	char		path[600];
	int			n = list_segs(crash_dir, names, MAX_FILES);

	for (int i = 0; i < n; i++)
	{
		Durable    *d = dur_find(names[i], 0);
		long		sz;
		long		keep;

		snprintf(path, sizeof(path), "%s/%.31s", crash_dir, names[i]);
		sz = file_size(path);
		if ((d == NULL || !d->named) && rnd() % 2 == 0)
		{
			unlink(path);
			continue;
		}
		keep = (d && d->size >= 0) ? d->size : 0;
		if (keep > sz)
			keep = sz;
		if (sz > keep)
			truncate_file(path, keep + (long) (rnd() % (sz - keep + 1)));
	}
	/* durability of the surviving files is what they now hold */
	ndur = 0;
	n = list_segs(crash_dir, names, MAX_FILES);
	for (int i = 0; i < n; i++)
	{
		Durable    *d = dur_find(names[i], 1);

		snprintf(path, sizeof(path), "%s/%.31s", crash_dir, names[i]);
		d->size = file_size(path);
		d->named = 1;
	}
}

static void
test_crash(int rounds, unsigned long long seed)
{
	PhRaftLog  *log;
	PhRaftLogError err;
	PhRaftHardState hs = {0, 0, 0},
				got;
	static uint64_t cur[20000];	/* model of the in-memory log */
	uint64_t	snap_i = 0,
				snap_t = 0,
				last = 0,
				synced = 0,
				term = 1;
	PhRaftHardState hs_alt[16];	/* failed saves since the last success */
	int			n_alt = 0;
	char		blob[64];
	uint64_t	maybe_last = 0;
	int			torn_seen = 0;
	int			destructive_failed = 0;

	/*
	 * A failed truncate or compact ends the round with a crash at once; these
	 * describe the outcomes it allows: last index >= lo_override, and the
	 * snapshot either unchanged or (alt_i, alt_t) with last >= alt_lo.
	 */
	bool		crash_now = false,
				have_lo = false,
				have_alt = false;
	uint64_t	lo_override = 0,
				alt_i = 0,
				alt_t = 0,
				alt_lo = 0;
	int			crashes = 0,
				failures_here = 0,
				faults_fired = 0,
				ops = 0;

	rng_state = seed;
	new_dir(crash_dir, sizeof(crash_dir));
	ndur = 0;
	crash_fault.op = -2;
	ph_raft_log_set_fault_hook(crash_hook, NULL);
	log = open_log(crash_dir, 4096);
	if (!log)
	{
		ok(0, "crash test open");
		return;
	}
	for (int r = 0; r < rounds && failures_here == 0; r++)
	{
		int			nops = 1 + (int) (rnd() % 30);

		crash_now = have_lo = have_alt = false;
		for (int o = 0; o < nops && failures_here == 0 && !crash_now; o++)
		{
			uint64_t	p = rnd() % 100;
			int			rc = 0;
			int			inject = rnd() % 10 == 0;

			ops++;
			if (inject)
			{
				crash_fault.op = -1;
				crash_fault.countdown = (int) (rnd() % 4);
				crash_fault.err = rnd() % 2 ? ENOSPC : EIO;
				crash_fault.partial = (size_t) (rnd() % 64);
				crash_fault.times = 1;
				crash_fault.fired = 0;
			}
			if (p < 50 && last < 19000)
			{
				int			n = 1 + (int) (rnd() % 20);

				if (rnd() % 5 == 0)
					term++;
				/* the model learns the entries first: a failed append may
				 * leave them on disk until the next write repairs */
				for (int k = 1; k <= n; k++)
					cur[last + k] = term;
				rc = append_range(log, last + 1, n, term, 300, &err);
				if (rc == 0)
					last += n;
				else if (last + n > maybe_last)
					maybe_last = last + n;
			}
			else if (p < 80)
			{
				rc = ph_raft_log_sync(log, &err);
				if (rc == 0)
					synced = last;
			}
			else if (p < 88 && last > snap_i + 1)
			{
				/* truncate a suffix (not below what a snapshot covers) */
				uint64_t	from = snap_i + 1 + rnd() % (last - snap_i);

				rc = ph_raft_log_truncate_suffix(log, from, &err);
				if (rc == 0)
					last = synced = from - 1;
				else
				{
					/* the truncation may or may not have happened */
					crash_now = have_lo = true;
					lo_override = from - 1 < synced ? from - 1 : synced;
					if (last > maybe_last)
						maybe_last = last;
				}
			}
			else if (p < 93 && synced > snap_i)
			{
				uint64_t	at = snap_i + 1 + rnd() % (synced - snap_i);

				if (rnd() % 8 == 0)
				{
					/* install a snapshot ahead of the log */
					at = last + 1 + rnd() % 10;
					term++;
					snprintf(blob, sizeof(blob), "snap %llu", (unsigned long long) at);
					rc = ph_raft_log_compact(log, at, term, blob, strlen(blob), &err);
					if (rc == 0)
					{
						snap_i = at;
						snap_t = term;
						last = synced = at;
					}
					else
					{
						crash_now = have_alt = true;
						alt_i = alt_lo = at;
						alt_t = term;
					}
				}
				else if (rnd() % 4 == 0)
				{
					/* install a snapshot matching the log: still discards */
					snprintf(blob, sizeof(blob), "snap %llu", (unsigned long long) at);
					rc = ph_raft_log_install_snapshot(log, at, cur[at], blob,
													  strlen(blob), &err);
					if (rc == 0)
					{
						snap_i = at;
						snap_t = cur[at];
						last = synced = at;
					}
					else
					{
						crash_now = have_alt = true;
						alt_i = alt_lo = at;
						alt_t = cur[at];
					}
				}
				else
				{
					snprintf(blob, sizeof(blob), "snap %llu", (unsigned long long) at);
					rc = ph_raft_log_compact(log, at, cur[at], blob, strlen(blob), &err);
					if (rc == 0)
					{
						snap_i = at;
						snap_t = cur[at];
						synced = last;
					}
					else
					{
						crash_now = have_alt = true;
						alt_i = at;
						alt_t = cur[at];
						alt_lo = last;	/* the marker implies a full sync */
					}
				}
			}
			else
			{
				got = hs;
				got.term = term;
				got.commit = synced;
				got.vote = rnd() % 5;
				rc = ph_raft_log_save_hard_state(log, &got, &err);
				if (rc == 0)
				{
					hs = got;
					n_alt = 0;
				}
				else if (n_alt < 16)
					hs_alt[n_alt++] = got;	/* may have reached disk */
			}
			if (inject && crash_fault.fired)
				faults_fired++;
			crash_fault.op = -2;
			if (rc != 0)
			{
				if (!inject || !crash_fault.fired)
				{
					diag("op failed without a fault: %s", err.message);
					failures_here++;
				}
				/* after a failed append/sync, memory is the synced state */
				if (p < 80 &&
					(ph_raft_log_last_index(log) != synced ||
					 ph_raft_log_synced_index(log) != synced))
				{
					diag("after failure: last %llu synced %llu, model synced %llu: %s",
						 (unsigned long long) ph_raft_log_last_index(log),
						 (unsigned long long) ph_raft_log_synced_index(log),
						 (unsigned long long) synced, err.message);
					failures_here++;
				}
				if (p < 80)
					last = synced;
			}
			else if (p < 93)
				maybe_last = last;	/* a successful write path repaired */
			if (!crash_now && last != ph_raft_log_last_index(log))
			{
				diag("model last %llu, log last %llu (op %d)",
					 (unsigned long long) last,
					 (unsigned long long) ph_raft_log_last_index(log), (int) p);
				failures_here++;
			}
		}

		/* crash: forget the process state, lose unsynced bytes, reopen */
		crashes++;
		if (crash_now)
			destructive_failed++;
		ph_raft_log_close(log);
		simulate_crash();
		log = open_log(crash_dir, 4096);
		if (!log)
		{
			diag("round %d: reopen failed", r);
			failures_here++;
			break;
		}
		{
			uint64_t	si,
						st,
						l = ph_raft_log_last_index(log);
			uint64_t	hi = maybe_last > last ? maybe_last : last;
			uint64_t	lo = have_lo ? lo_override : synced;
			bool		hs_ok;

			ph_raft_log_snapshot(log, &si, &st);
			ph_raft_log_hard_state(log, &got);
			if (have_alt && si == alt_i && st == alt_t)
			{
				/* the failed compaction's marker reached the disk */
				snap_i = alt_i;
				snap_t = alt_t;
				lo = alt_lo;
				if (hi < alt_i)
					hi = alt_i;
			}
			snprintf(blob, sizeof(blob), "snap %llu", (unsigned long long) si);
			if (!blob_is(log, si ? blob : NULL))
			{
				diag("round %d: snapshot blob wrong", r);
				failures_here++;
			}
			hs_ok = got.term == hs.term && got.vote == hs.vote &&
				got.commit == hs.commit;
			for (int k = 0; k < n_alt; k++)
				hs_ok |= got.term == hs_alt[k].term &&
					got.vote == hs_alt[k].vote &&
					got.commit == hs_alt[k].commit;
			if (si != snap_i || st != snap_t || l < lo || l > hi ||
				!hs_ok || !log_matches(log, si + 1, l, cur, 300))
			{
				diag("round %d: after crash snap %llu/%llu (want %llu/%llu) last %llu lower bound %llu model last %llu, hs term %llu (want %llu); note: %s",
					 r, (unsigned long long) si, (unsigned long long) st,
					 (unsigned long long) snap_i, (unsigned long long) snap_t,
					 (unsigned long long) l, (unsigned long long) lo,
					 (unsigned long long) hi, (unsigned long long) got.term,
					 (unsigned long long) hs.term, ph_raft_log_recovery_note(log));
				failures_here++;
			}
			if (strstr(ph_raft_log_recovery_note(log), "torn"))
				torn_seen++;
			hs = got;
			n_alt = 0;
			last = synced = maybe_last = l;
			if (last > snap_i && cur[last] > term)
				term = cur[last];
		}
	}
	ph_raft_log_close(log);
	ph_raft_log_set_fault_hook(NULL, NULL);
	ok(failures_here == 0,
	   "randomized crash test (seed %llu): %d rounds, %d ops, %d crashes (%d torn tails cut), %d injected faults (%d in truncate/compact)",
	   seed, rounds, ops, crashes, torn_seen, faults_fired, destructive_failed);
	rm_dir(crash_dir);
}

/* ---------------------------------------------------------------------
 * kill -9 test: a child appends and syncs, reporting each synced index
 * through a pipe; the parent kills it at a random moment, reopens, and
 * checks that every reported index is there and intact.
 * ---------------------------------------------------------------------
 */
static void
test_kill9(int iterations)
{
	char		dir[256];
	int			all_ok = 1;
	uint64_t	total_synced = 0;

	new_dir(dir, sizeof(dir));
	for (int it = 0; it < iterations; it++)
	{
		int			fds[2];
		pid_t		pid;
		uint64_t	reported = 0,
					v;
		PhRaftLog  *log;

		if (pipe(fds) != 0)
		{
			all_ok = 0;
			break;
		}
		pid = fork();
		if (pid == 0)
		{
			PhRaftLogError err;
			PhRaftLog  *cl;

			close(fds[0]);
			cl = open_log(dir, 8192);
			if (cl == NULL)
				_exit(1);
			for (;;)
			{
				uint64_t	next = ph_raft_log_last_index(cl) + 1;
				int			n = 1 + (int) (mix(next) % 30);

				for (int k = 0; k < n; k++)
					model[next + k] = 1;
				if (append_range(cl, next, n, 1, 300, &err) != 0 ||
					ph_raft_log_sync(cl, &err) != 0)
					_exit(2);
				v = ph_raft_log_last_index(cl);
				if (write(fds[1], &v, sizeof(v)) != sizeof(v))
					_exit(3);
				if (v > 150000)
					_exit(0);
			}
		}
		close(fds[1]);
		usleep(5000 + (useconds_t) (mix(it + 77) % 30000));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		while (read(fds[0], &v, sizeof(v)) == sizeof(v))
			reported = v;
		close(fds[0]);
		log = open_log(dir, 8192);
		for (uint64_t i = 1; i <= reported + 1000; i++)
			model[i] = 1;
		if (log == NULL || ph_raft_log_last_index(log) < reported ||
			!log_matches(log, 1, ph_raft_log_last_index(log), model, 300))
		{
			diag("kill -9 #%d: reported synced %llu, log last %llu", it,
				 (unsigned long long) reported,
				 log ? (unsigned long long) ph_raft_log_last_index(log) : 0ULL);
			all_ok = 0;
		}
		total_synced = reported;
		ph_raft_log_close(log);
	}
	ok(all_ok, "kill -9 of an appending process (%d times, %llu entries synced): nothing synced lost",
	   iterations, (unsigned long long) total_synced);
	rm_dir(dir);
}

/* ---------------------------------------------------------------------
 * Throughput
 * ---------------------------------------------------------------------
 */
static bool
count_cb(const PhRaftLogEntry *e, void *arg)
{
	return true;
}

static void
bench(int per_sync, int total, uint32_t size)
{
	char		dir[256];
	PhRaftLog  *log;
	PhRaftLogError err;
	double		t0,
				dt;
	int			rc = 0,
				i;
	static PhRaftLogEntry es[100];
	static unsigned char data[256];

	memset(data, 0x42, sizeof(data));
	new_dir(dir, sizeof(dir));
	log = open_log(dir, 0);
	t0 = now_sec();
	for (i = 0; i < total; i += per_sync)
	{
		for (int k = 0; k < per_sync; k++)
		{
			es[k].index = i + k + 1;
			es[k].term = 1;
			es[k].type = 0;
			es[k].len = size;
			es[k].data = data;
		}
		rc |= ph_raft_log_append(log, es, per_sync, &err);
		rc |= ph_raft_log_sync(log, &err);
	}
	dt = now_sec() - t0;
	ok(rc == 0, "benchmark %d entries, %d per sync", total, per_sync);
	diag("throughput: %d records/sync, %u-byte payload: %.0f appends/s, %.0f syncs/s (%d appends in %.3f s)",
		 per_sync, size, total / dt, (total / per_sync) / dt, total, dt);
	if (per_sync > 1)
	{
		int			count = 0;

		t0 = now_sec();
		rc = ph_raft_log_read(log, 1, total + 1, (size_t) -1, count_cb, NULL,
							  &count, &err);
		dt = now_sec() - t0;
		ok(rc == 0 && count == total, "benchmark read back %d entries", count);
		diag("throughput: read %.0f entries/s (checksum verified)", count / dt);
	}
	ph_raft_log_close(log);
	rm_dir(dir);
}

int
main(int argc, char **argv)
{
	unsigned long long seed = (unsigned long long) time(NULL);
	const char *s = getenv("RAFTLOG_SEED");
	int			rounds = 60;

	if (s)
		seed = strtoull(s, NULL, 10);
	if (getenv("RAFTLOG_ROUNDS"))
		rounds = atoi(getenv("RAFTLOG_ROUNDS"));

	test_basic();
	test_rollover_truncate();
	test_compaction();
	test_hard_state();
	test_hard_state_commit_only();
	test_torn_and_corrupt();
	test_faults();
	test_crash(rounds, 1);
	test_crash(rounds, seed);
	test_kill9(5);
	bench(1, 300, 128);
	bench(100, 20000, 128);
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}
