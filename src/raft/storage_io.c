/*-------------------------------------------------------------------------
 *
 * storage_io.c
 *	  Durable Raft log: error reporting and the I/O layer.
 *
 * Owns the error/message helpers of the log, path building, CRC32C, and
 * every system call that modifies files under the log directory.  Each
 * such call first asks the process-wide fault hook
 * (ph_raft_log_set_fault_hook), which tests use to inject ENOSPC/EIO or
 * short writes at exact points.  Nothing here keeps state besides the
 * hook; the invariants live in storage.c.
 *
 * No postgres.h: compiled into the extension and the standalone tests.
 *
 * src/raft/storage_io.c
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
#include "storage_int.h"

static PhRaftLogFaultHook fault_hook = NULL;
static void *fault_arg = NULL;

/* Fill *err (if given) and return code. */
int
ph_rlog_error(PhRaftLogError *err, int code, int sys_errno, const char *fmt,...)
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

void
ph_rlog_clear_error(PhRaftLogError *err)
{
	if (err != NULL)
	{
		err->code = PH_RAFT_LOG_OK;
		err->sys_errno = 0;
		err->message[0] = '\0';
	}
}

/* Report a failed system call on path. */
int
ph_rlog_io_error(PhRaftLogError *err, int e, const char *what, const char *path)
{
	return ph_rlog_error(err, PH_RAFT_LOG_EIO, e, "could not %s \"%s\": %s",
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
void
ph_rlog_note(PhRaftLog *log, const char *fmt,...)
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

void
ph_rlog_seg_path(const PhRaftLog *log, uint64 first, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%016" INT64_MODIFIER "X" SEG_SUFFIX, log->dir, first);
}

void
ph_rlog_file_path(const PhRaftLog *log, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", log->dir, name);
}

/* Make sure *buf holds at least need bytes. */
bool
ph_rlog_ensure_buf(char **buf, size_t *cap, size_t need)
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

pg_crc32c
ph_rlog_crc(const void *a, size_t alen, const void *b, size_t blen)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, a, alen);
	if (blen > 0)
		COMP_CRC32C(crc, b, blen);
	FIN_CRC32C(crc);
	return crc;
}

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
int
ph_rlog_pwrite(int fd, const char *path, const void *buf, size_t len, uint64 off)
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
int
ph_rlog_fsync(int fd, const char *path, bool datasync)
{
	int			e = fault(PH_RAFT_IO_FSYNC, path, NULL);

	if (e != 0)
		return e;
	if ((datasync ? fdatasync(fd) : fsync(fd)) != 0)
		return errno;
	return 0;
}

int
ph_rlog_dirsync(PhRaftLog *log)
{
	int			e = fault(PH_RAFT_IO_DIRSYNC, log->dir, NULL);

	if (e != 0)
		return e;
	if (fsync(log->dirfd) != 0)
		return errno;
	return 0;
}

int
ph_rlog_truncate(int fd, const char *path, uint64 size)
{
	int			e = fault(PH_RAFT_IO_TRUNCATE, path, NULL);

	if (e != 0)
		return e;
	if (ftruncate(fd, (off_t) size) != 0)
		return errno;
	return 0;
}

int
ph_rlog_unlink(const char *path)
{
	int			e = fault(PH_RAFT_IO_UNLINK, path, NULL);

	if (e != 0)
		return e;
	if (unlink(path) != 0 && errno != ENOENT)
		return errno;
	return 0;
}

/* Create (or reset) a file for writing; returns fd or -errno. */
int
ph_rlog_create(const char *path)
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

int
ph_rlog_rename(const char *from, const char *to)
{
	int			e = fault(PH_RAFT_IO_RENAME, to, NULL);

	if (e != 0)
		return e;
	if (rename(from, to) != 0)
		return errno;
	return 0;
}

/* Read exactly len bytes at off; returns 0, an errno, or -1 on EOF. */
int
ph_rlog_read_at(int fd, void *buf, size_t len, uint64 off)
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

/* Read a whole file into a malloc'd buffer. */
int
ph_rlog_slurp(const char *path, char **out, uint64 *size, PhRaftLogError *err)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char	   *buf;
	int			e;

	if (fd < 0)
		return ph_rlog_io_error(err, errno, "open segment", path);
	if (fstat(fd, &st) != 0)
	{
		e = errno;
		close(fd);
		return ph_rlog_io_error(err, e, "stat segment", path);
	}
	buf = malloc(st.st_size > 0 ? st.st_size : 1);
	if (buf == NULL)
	{
		close(fd);
		return ph_rlog_io_error(err, ENOMEM, "read segment", path);
	}
	e = ph_rlog_read_at(fd, buf, st.st_size, 0);
	close(fd);
	if (e != 0)
	{
		free(buf);
		return ph_rlog_io_error(err, e > 0 ? e : EIO, "read segment", path);
	}
	*out = buf;
	*size = st.st_size;
	return PH_RAFT_LOG_OK;
}

/*
 * Create dir and any missing parents (mode 0700), fsyncing the parent of
 * each directory created so that the new entry is durable.
 */
int
ph_rlog_make_dirs(const char *dir, PhRaftLogError *err)
{
	char		path[MAXPGPATH];
	char	   *slash;
	size_t		len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return ph_rlog_error(err, PH_RAFT_LOG_EINVAL, 0,
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
				return ph_rlog_io_error(err, errno, "create directory", path);
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
				return ph_rlog_io_error(err, e, "fsync directory", parent);
			}
			close(fd);
		}
		else if (!S_ISDIR(st.st_mode))
			return ph_rlog_io_error(err, ENOTDIR, "create directory", path);
		if (!slash)
			break;
		*slash = '/';
	}
	return PH_RAFT_LOG_OK;
}
