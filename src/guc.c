/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every phantom.* configuration parameter, defined in one place and kept
 *	  sorted by name.  The prefix is reserved so that a misspelt phantom.*
 *	  setting is reported instead of silently ignored.
 *
 * src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "phantom/phantom.h"
#include "phantom/replication/replication.h"

int			phantom_compaction_min_pages = 8;
double		phantom_compaction_run_rewrite_ratio = 0.5;
int			phantom_debug_rewrite_panic_after = 0;
int			phantom_debug_pause_after_raft_commit = 0;
int			phantom_compaction_naptime = 10;
bool		phantom_compaction_enabled = true;
int			phantom_compression_level = 1;
bool		phantom_compression_columnar = true;
int			phantom_insert_lanes = 4;
char	   *phantom_cluster_secret = NULL;
char	   *phantom_database = NULL;
int			phantom_node_add_timeout = 60000;
char	   *phantom_node_name = NULL;
int			phantom_raft_compact_entries = 10000;
bool		phantom_raft_debug_fail_writes = false;
int			phantom_debug_table_snapshot_delay = 0;
int			phantom_raft_election_timeout = 300;
int			phantom_raft_heartbeat_interval = 50;
char	   *phantom_raft_listen = NULL;

/* check_node_name: empty (not a raft node) or a valid node name. */
static bool
check_node_name(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' || ph_repl_valid_name(*newval))
		return true;
	GUC_check_errdetail("A node name has 1 to %d letters, digits, '_', '-' or '.'.",
						PH_REPL_NAME_LEN - 1);
	return false;
}

/* check_raft_listen: empty or 'host:port'. */
static bool
check_raft_listen(char **newval, void **extra, GucSource source)
{
	char		host[PH_REPL_ADDR_LEN];
	int			port;

	if (*newval == NULL || (*newval)[0] == '\0' ||
		ph_repl_parse_address(*newval, host, sizeof(host), &port))
		return true;
	GUC_check_errdetail("The raft listen address is 'host:port' with a port in 1..65535.");
	return false;
}

/*
 * phantom_guc_init defines the parameters; called once from _PG_init.
 */
void
phantom_guc_init(void)
{
	DefineCustomStringVariable("phantom.cluster_secret",
							   "Shared secret with which the raft workers of a cluster authenticate each other.",
							   "Every node of a cluster needs the same value; the raft worker does not start without one.",
							   &phantom_cluster_secret,
							   "",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("phantom.compaction",
							 "Enables the background compaction of phantom tables.",
							 "When off, hot pages move into compressed runs only through phantom.compact().",
							 &phantom_compaction_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.compaction_min_pages",
							"Number of settled hot pages a table needs before background compaction takes it.",
							NULL,
							&phantom_compaction_min_pages,
							8, 1, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomRealVariable("phantom.compaction_run_rewrite_ratio",
							 "Live fraction below which compaction rewrites a run page.",
							 "A run page whose live frames (those the block map still references) take less than this fraction of its frame bytes, or of the page, is rewritten: its live frames move into fresh run pages and the page is freed. 0 disables rewriting.",
							 &phantom_compaction_run_rewrite_ratio,
							 0.5, 0.0, 1.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.compaction_naptime",
							"Time the compaction worker sleeps between rounds.",
							NULL,
							&phantom_compaction_naptime,
							10, 1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.cold_cache_size",
							"Memory each backend keeps for decompressed images of cold blocks.",
							"Point lookups and index scans of cold rows reuse them instead of decompressing again; 0 disables the cache.",
							&phantom_cold_cache_size,
							32768, 0, 16 * 1024 * 1024,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.compression_level",
							"zstd compression level of cold runs.",
							"Higher levels give smaller tables and slower compaction.",
							&phantom_compression_level,
							1, 1, 19,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("phantom.compression_columnar",
							 "Lets compaction store cold pages as columnar frames.",
							 "A page is transposed into byte columns before zstd when that compresses better; off stores every page plain (faster to decode, larger).",
							 &phantom_compression_columnar,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.commit_timeout",
							"How long a commit waits for a majority of the phantom cluster.",
							"After it the commit fails with SQLSTATE 40003 (outcome unknown).",
							&phantom_commit_timeout,
							10000, 100, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("phantom.database",
							   "Database of this server that replicated phantom tables live in.",
							   NULL,
							   &phantom_database,
							   "postgres",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.insert_lanes",
							"Number of hot pages of a table that concurrent inserters spread over.",
							"More lanes let more backends insert without waiting on one page lock.",
							&phantom_insert_lanes,
							4, 1, 64,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.node_add_timeout",
							"Time phantom.node_add() waits for a new node to catch up before giving up.",
							NULL,
							&phantom_node_add_timeout,
							60000, 100, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("phantom.node_name",
							   "Name of this node in its phantom raft cluster.",
							   "Empty (the default) together with phantom.raft_listen: this server is no raft node.",
							   &phantom_node_name,
							   "",
							   PGC_POSTMASTER,
							   0,
							   check_node_name, NULL, NULL);

	DefineCustomIntVariable("phantom.raft_compact_entries",
							"Number of applied raft log entries after which the raft worker takes a snapshot and compacts its log.",
							"0 disables compaction.",
							&phantom_raft_compact_entries,
							10000, 0, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.debug_rewrite_panic_after",
							"Testing only: a run-page rewrite raises PANIC after this many map switches (0: never).",
							"A fault point for crash tests: it stops a rewrite between its WAL-logged steps.",
							&phantom_debug_rewrite_panic_after,
							0, 0, INT_MAX,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.debug_pause_after_raft_commit",
							"Testing only: a committing transaction sleeps this long between the raft commit of its entry and its local commit.",
							"A fault point for crash tests: a kill -9 in the pause leaves an entry committed in raft whose transaction never committed here.",
							&phantom_debug_pause_after_raft_commit,
							0, 0, 60000,
							PGC_SUSET,
							GUC_NOT_IN_SAMPLE | GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("phantom.raft_debug_fail_writes",
							 "Testing only: makes every write and fsync of the raft log fail with ENOSPC.",
							 NULL,
							 &phantom_raft_debug_fail_writes,
							 false,
							 PGC_SIGHUP,
							 GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.debug_table_snapshot_delay",
							"Testing only: a table snapshot waits this long before its local commit.",
							"A fault point for crash tests of the catch-up by table snapshot.",
							&phantom_debug_table_snapshot_delay,
							0, 0, 600000,
							PGC_SIGHUP,
							GUC_UNIT_MS | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.raft_election_timeout",
							"Time without a leader after which a follower starts an election.",
							"The actual timeout is random between this value and twice it.",
							&phantom_raft_election_timeout,
							300, 50, 60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("phantom.raft_heartbeat_interval",
							"Interval of the raft leader's heartbeats.",
							"The raft worker's clock ticks five times per interval.",
							&phantom_raft_heartbeat_interval,
							50, 10, 10000,
							PGC_POSTMASTER,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("phantom.raft_listen",
							   "Address ('host:port') on which the raft worker listens for its peers.",
							   NULL,
							   &phantom_raft_listen,
							   "",
							   PGC_POSTMASTER,
							   0,
							   check_raft_listen, NULL, NULL);

	MarkGUCPrefixReserved("phantom");
}
