#
# 036_repl_tables.pl: replication of phantom tables through the raft log.
#
# Three nodes.  On the leader: CREATE TABLE / CREATE INDEX / ALTER TABLE
# (replicated as statements), INSERT, multi-row INSERT, COPY, UPDATE,
# DELETE, ON CONFLICT, a rolled-back savepoint, an aborted transaction,
# many column types, a REPLICA IDENTITY FULL table; every node ends with
# the same rows (md5 of the ordered rows) and the same phantom.applied
# ledger.  A follower refuses writes at the first write (PH010, the
# leader in the hint); UPDATE of a table without replica identity and
# PREPARE TRANSACTION are refused.  A stopped follower catches up from the
# log.  Then a bank-transfer workload runs while the leader is killed -9
# three times: the sum of the balances never changes on any node and
# every acknowledged transfer is on every node.  Prints the failover time
# (kill -> first acknowledged transfer on the new leader).
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IPC::Run;
use PhantomTest;
use RaftTest;

my @names = qw(r1 r2 r3);
my %n = map { $_ => raft_node($_, 'tables-secret') } @names;
my @all = @n{@names};

# a user-defined type travels as text: create it everywhere first
$_->safe_psql('postgres', q{CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')}) for @all;

$n{r1}->safe_psql('postgres', 'SELECT phantom.cluster_create()');
for my $name (qw(r2 r3))
{
	my $ci = $n{$name}->connstr('postgres') =~ s/'/''/gr;
	$n{r1}->safe_psql('postgres',
		"SELECT phantom.node_add('$name', '$ci', '$raft_addr{$name}')");
}

# leader(): the node that currently leads, or undef
sub leader
{
	for my $name (@names)
	{
		next unless $n{$name}->{_pid};
		my $s = q1($n{$name}, 'SELECT role FROM phantom.raft_status()', 5);
		return $name if $s eq 'leader';
	}
	return undef;
}

my $content = q{
SELECT string_agg(md5(x), '') FROM (
  SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM acc t) AS x
  UNION ALL SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY a, b)) FROM fullt t)
  UNION ALL SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM typed t)
  UNION ALL SELECT (SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY id)), 'none') FROM transfers t)
  UNION ALL SELECT (SELECT md5(string_agg(index || ':' || term, ',' ORDER BY index)) FROM phantom.applied)
) s};

# converged(timeout): every running node has the leader's content
sub converged
{
	my ($timeout, $what) = @_;
	my @up = grep { $n{$_}->{_pid} } @names;
	my $last;
	my $t = poll(
		$timeout,
		sub {
			my @h = map { q1($n{$_}, $content, 10) } @up;
			$last = join(' / ', map { substr($_, 0, 12) } @h);
			return 0 if grep { $_ eq '' } @h;
			return !grep { $_ ne $h[0] } @h;
		});
	ok(defined $t, "$what: all nodes have the same rows and ledger")
	  or diag("hashes: $last\n" . join("\n", map {
		  "$_: " . q1($n{$_}, q{SELECT (SELECT row(s.*)::text FROM phantom.raft_status() s) || ' ledger max ' || (SELECT max(index) FROM phantom.applied)}, 5)
		  . "\n  apply worker: " . q1($n{$_}, q{SELECT coalesce(string_agg(format('pid %s xid %s state %s wait %s/%s since %s: %s', pid, backend_xid, state, wait_event_type, wait_event, xact_start, left(query, 60)), '; '), 'not running') FROM pg_stat_activity WHERE backend_type = 'phantom apply worker'}, 5)
		  . "\n  locks waited for: " . q1($n{$_}, q{SELECT coalesce(string_agg(format('%s %s %s %s by pid %s', locktype, mode, transactionid, relation::regclass, pid), '; '), 'none') FROM pg_locks WHERE NOT granted}, 5)
		  . "\n  other transactions: " . q1($n{$_}, q{SELECT coalesce(string_agg(format('pid %s %s xid %s %s', pid, backend_type, backend_xid, left(query, 40)), '; '), 'none') FROM pg_stat_activity WHERE backend_xid IS NOT NULL OR backend_xmin IS NOT NULL}, 5)
	  } @up));
	return $t;
}

my $L = $n{r1};

# --- DDL on the leader ---
$L->safe_psql('postgres', q{
CREATE TABLE acc (id int PRIMARY KEY, bal bigint NOT NULL, note text);
CREATE INDEX acc_bal ON acc (bal);
CREATE TABLE fullt (a int, b text);
ALTER TABLE fullt REPLICA IDENTITY FULL;
CREATE TABLE nokey (a int, b text);
CREATE TABLE transfers (id int PRIMARY KEY, src int, dst int, amount int);
CREATE TABLE ser (id bigserial PRIMARY KEY, v text);
CREATE TABLE ident (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
CREATE TABLE typed (id int PRIMARY KEY, ts timestamptz, d date, n numeric, f float8,
  arr text[], j jsonb, by bytea, m mood, iv interval, u uuid, big text);
});
ok( defined poll(10, sub { q1($n{r3}, q{SELECT count(*) FROM pg_class WHERE relname IN ('acc', 'fullt', 'nokey', 'transfers', 'typed', 'acc_bal')}) eq '6' }),
	'CREATE TABLE / CREATE INDEX reached a follower');
is(q1($n{r2}, q{SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'acc'}),
	'phantom', 'the replicated table uses the phantom access method');
$L->safe_psql('postgres', q{INSERT INTO ser (v) SELECT 'x' FROM generate_series(1, 5); INSERT INTO ident (v) VALUES ('a'), ('b')});
is(q1($n{r2}, q{SELECT relreplident FROM pg_class WHERE relname = 'fullt'}), 'f',
	'ALTER TABLE ... REPLICA IDENTITY FULL replicated');

# --- row changes ---
$L->safe_psql('postgres', q{
INSERT INTO acc VALUES (1, 100, 'one');
INSERT INTO acc SELECT g, 1000, 'acc ' || g FROM generate_series(2, 200) g;
UPDATE acc SET bal = bal + 5, note = NULL WHERE id <= 10;
DELETE FROM acc WHERE id BETWEEN 150 AND 160;
UPDATE acc SET id = id + 1000 WHERE id = 199;
INSERT INTO acc VALUES (2, 0, 'x') ON CONFLICT (id) DO UPDATE SET note = 'upserted';
INSERT INTO acc VALUES (3, 0, 'x') ON CONFLICT DO NOTHING;
INSERT INTO acc VALUES (500, 5, 'new') ON CONFLICT (id) DO UPDATE SET note = 'never';
INSERT INTO fullt VALUES (1, 'a'), (1, 'a'), (2, NULL), (3, 'c');
UPDATE fullt SET b = 'b' WHERE a = 2;
DELETE FROM fullt WHERE a = 3;
INSERT INTO typed VALUES
  (1, '2024-02-29 12:34:56.789+05:30', '2000-01-01', 12345678901234567890.0123, 0.1,
   '{a,"b c",NULL}', '{"k": [1, 2, {"x": null}]}', '\x00ff10', 'happy', '1 day 02:03:04',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', repeat('long text ', 5000)),
  (2, NULL, NULL, NULL, 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
BEGIN;
INSERT INTO acc VALUES (600, 1, 'kept');
SAVEPOINT s1;
INSERT INTO acc VALUES (601, 1, 'rolled back');
SAVEPOINT s2;
UPDATE acc SET bal = -1 WHERE id = 1;
ROLLBACK TO s1;
INSERT INTO acc VALUES (602, 1, 'kept too');
SAVEPOINT s3;
INSERT INTO acc VALUES (603, 1, 'kept, released');
RELEASE s3;
COMMIT;
BEGIN;
INSERT INTO acc VALUES (700, 1, 'aborted');
ROLLBACK;
});
my $copyfile = "$PostgreSQL::Test::Utils::tmp_check/acc.copy";
open(my $fh, '>', $copyfile) or die;
print $fh join('', map { "$_\t7\tcopied $_\n" } 2001 .. 2500);
close $fh;
$L->safe_psql('postgres', "COPY acc FROM '$copyfile'");
$L->safe_psql('postgres', 'UPDATE typed SET f = f * 3, arr = arr || ARRAY[\'d\'] WHERE id = 1');

converged(15, 'after INSERT/UPDATE/DELETE/COPY/ON CONFLICT/savepoints');
is(q1($n{r3}, 'SELECT count(*) FROM acc WHERE id IN (601, 700)'), '0',
	'rolled-back savepoint and aborted transaction not replicated');
is(q1($n{r3}, q{SELECT note FROM acc WHERE id = 2}), 'upserted', 'ON CONFLICT DO UPDATE replicated');
is(q1($n{r2}, q{SELECT count(*) FROM acc WHERE note LIKE 'copied%'}), '500', 'COPY replicated');
is(q1($n{r2}, q{SELECT ts = '2024-02-29 12:34:56.789+05:30' AND f = 0.1::float8 * 3 AND m = 'happy' AND length(big) = 50000 FROM typed WHERE id = 1}),
	't', 'values of many types arrive exactly (binary and text formats, TOAST)');
is(q1($n{r2}, q{SELECT count(*) FROM phantom.applied}), q1($L, q{SELECT count(*) FROM phantom.applied}),
	'same number of ledger rows');

# --- refusals ---
my ($rc, $out, $err) = $n{r2}->psql('postgres', q{INSERT INTO acc VALUES (9999, 1, 'follower')});
like($err, qr/cannot write phantom tables on a follower.*HINT:.*node "r1"/s,
	'follower refuses INSERT, the hint names the leader');
($rc, $out, $err) = $n{r3}->psql('postgres', q{BEGIN; SELECT 1; DELETE FROM acc WHERE id = 1; SELECT 'not reached'; COMMIT});
like($err, qr/on a follower/, 'follower refuses DELETE at the first write');
unlike($out, qr/not reached/, 'follower refusal comes at the write, not at commit');
($rc, $out, $err) = $n{r3}->psql('postgres',
	q{DO $$ BEGIN BEGIN INSERT INTO acc VALUES (9998, 1, 'x'); EXCEPTION WHEN others THEN NULL; END; INSERT INTO acc VALUES (9997, 1, 'y'); END $$});
like($err, qr/on a follower/, 'follower refuses again after a refusal caught by an exception block');
is(q1($n{r3}, 'SELECT count(*) FROM acc WHERE id IN (9997, 9998)'), '0', 'nothing written on the follower');
is(q1($n{r3}, q{SELECT last_value FROM ser_id_seq}) . ' ' . q1($n{r3}, q{SELECT last_value FROM ident_id_seq}),
	'5 2', 'sequences of serial and identity columns follow the leader');
($rc, $out, $err) = $n{r3}->psql('postgres', q{TRUNCATE acc});
like($err, qr/not the leader|on a follower/, 'follower refuses TRUNCATE');
($rc, $out, $err) = $n{r3}->psql('postgres', q{CREATE TABLE on_follower (a int)});
like($err, qr/on a follower/, 'follower refuses CREATE TABLE of a phantom table');
($rc, $out, $err) = $n{r2}->psql('postgres', q{CREATE TABLE heapy (a int) USING heap; INSERT INTO heapy VALUES (1); SELECT count(*) FROM heapy});
is($out, '1', 'heap tables stay local and writable on a follower');
$L->safe_psql('postgres', q{INSERT INTO nokey VALUES (1, 'a')});
($rc, $out, $err) = $L->psql('postgres', q{UPDATE nokey SET b = 'b'});
like($err, qr/cannot update table "nokey" in a phantom cluster because it has no replica identity/,
	'UPDATE of a table without replica identity refused');
($rc, $out, $err) = $L->psql('postgres', q{DELETE FROM nokey});
like($err, qr/no replica identity/, 'DELETE of a table without replica identity refused');
($rc, $out, $err) = $L->psql('postgres', q{BEGIN; INSERT INTO acc VALUES (800, 1, 'p'); PREPARE TRANSACTION 'p1'});
like($err, qr/cannot prepare a transaction that changed phantom tables/, 'PREPARE TRANSACTION refused');
is(q1($L, 'SELECT count(*) FROM acc WHERE id = 800'), '0', 'the refused prepared transaction left nothing');

($rc, $out, $err) = $L->psql('postgres', q{CREATE TABLE ctas AS SELECT 1 AS a});
like($err, qr/CREATE TABLE AS \/ SELECT INTO a phantom table is not supported in a phantom cluster/,
	'CREATE TABLE AS of a phantom table refused');
($rc, $out, $err) = $L->psql('postgres', q{CREATE INDEX CONCURRENTLY acc_note ON acc (note)});
like($err, qr/CONCURRENTLY is not supported/, 'CREATE INDEX CONCURRENTLY refused');
$L->safe_psql('postgres', 'CREATE DATABASE other');
$L->safe_psql('other', 'CREATE EXTENSION phantom');
($rc, $out, $err) = $L->psql('other', q{CREATE TABLE t_other (a int)});
like($err, qr/cannot write phantom tables in database "other" while this server is in a phantom cluster/,
	'phantom tables of another database than phantom.database refused');

# --- a stopped follower catches up from the log ---
$n{r3}->stop('fast');
$L->safe_psql('postgres', q{UPDATE acc SET bal = bal + 1 WHERE id <= 50; INSERT INTO acc VALUES (900, 9, 'while r3 down'); TRUNCATE nokey; DROP TABLE nokey});
$n{r3}->start;
converged(20, 'a restarted follower caught up');
is(q1($n{r3}, q{SELECT count(*) FROM pg_class WHERE relname = 'nokey'}), '0', 'DROP TABLE replicated');

# --- a commit whose outcome is unknown (40003) ---
$n{r2}->stop('fast');
$n{r3}->stop('fast');
($rc, $out, $err) = $L->psql('postgres',
	q{SET phantom.commit_timeout = 500; INSERT INTO acc VALUES (950, 1, 'outcome unknown')});
# check-quorum steps the leader down 0.3-0.6 s after it lost its majority
# (election timeout 300 ms): then the write is refused before proposing
like($err, qr/not committed within 500 ms|cannot write phantom tables on a follower/,
	'leader without majority: commit fails with outcome unknown (or not leader once check-quorum stepped down)');
diag('leader without majority: ' . ($err =~ /not committed/ ? '40003 (outcome unknown)' : 'stepped down first (PH010)'));
is(q1($L, 'SELECT count(*) FROM acc WHERE id = 950'), '0', 'not committed locally');
$n{r2}->start;
$n{r3}->start;
converged(20, 'after the unknown outcome was resolved');
diag('the entry of the unknown commit was ' .
	  (q1($n{r2}, 'SELECT count(*) FROM acc WHERE id = 950') eq '1' ? 'committed and applied everywhere' : 'lost everywhere'));
my $ln;
ok(defined poll(10, sub { $ln = leader(); defined $ln }), 'a leader again');

# --- bank transfers under kill -9 of the leader ---
# the leader may have changed while r2 and r3 were down
$L = $n{$ln};
$L->safe_psql('postgres', q{UPDATE acc SET bal = 1000 WHERE id <= 20});
my $total = q1($L, 'SELECT sum(bal) FROM acc WHERE id <= 20');
my $dir = $PostgreSQL::Test::Utils::tmp_check;
my $ack = "$dir/acked";
my $stop = "$dir/stop";
my @conn = map { $n{$_}->connstr('postgres') } @names;
open($fh, '>', "$dir/bank.sh") or die;
print $fh <<"EOS";
#!/bin/bash
# one transfer at a time; tries every node until one acknowledges it
conns=(@{[ join(' ', map { "'$_'" } @conn) ]})
i=0
while [ ! -e '$stop' ]; do
  i=\$((i + 1))
  a=\$((RANDOM % 20 + 1)); b=\$((RANDOM % 20 + 1)); m=\$((RANDOM % 50 + 1))
  sql="BEGIN; UPDATE acc SET bal = bal - \$m WHERE id = \$a; UPDATE acc SET bal = bal + \$m WHERE id = \$b; INSERT INTO transfers VALUES (\$i, \$a, \$b, \$m); COMMIT;"
  for k in 0 1 2; do
    c=\${conns[\$k]}
    if psql -X -q -v ON_ERROR_STOP=1 -d "\$c" -c "\$sql" >/dev/null 2>&1; then
      echo "\$i \$(date +%s.%N) \$k" >> '$ack'
      break
    fi
  done
done
EOS
close $fh;
my $bank = IPC::Run::start([ 'bash', "$dir/bank.sh" ], '>', "$dir/bank.out", '2>&1');

my @failover;
for my $round (1 .. 3)
{
	usleep(1_500_000);
	my $lname = leader();
	ok(defined $lname, "round $round: a leader");
	next unless defined $lname;
	my $kill_at = time();
	my $killed = (grep { $names[$_] eq $lname } 0 .. 2)[0];
	kill9_server($n{$lname});
	# first acknowledgement after the kill, by another node
	my $first;
	my $t = poll(
		15,
		sub {
			open(my $a, '<', $ack) or return 0;
			while (my $l = <$a>)
			{
				my (undef, $ts, $k) = split ' ', $l;
				if ($ts > $kill_at && $k != $killed)
				{
					$first = $ts;
					last;
				}
			}
			close $a;
			return defined $first;
		});
	ok(defined $t, "round $round: transfers go on after kill -9 of $lname");
	$t = $first - $kill_at if defined $first;
	push @failover, $t if defined $t;
	# an orphan of the killed server may hold its shared memory a moment
	ok(defined poll(20, sub { $n{$lname}->start(fail_ok => 1) }), "round $round: $lname restarted");
}
usleep(1_000_000);
open($fh, '>', $stop) or die;
close $fh;
$bank->finish;
diag(sprintf('failover (kill -9 of the leader -> first acknowledged transfer): %s s',
	join(', ', map { sprintf('%.2f', $_) } @failover)));

converged(45, 'after the bank workload');
my $new;
poll(10, sub { $new = leader(); defined $new });
$n{$new}->safe_psql('postgres', q{INSERT INTO ser (v) VALUES ('after failover'); INSERT INTO ident (v) VALUES ('after failover')});
is(q1($n{$new}, q{SELECT count(*) = 6 AND min(id) = 1 AND max(id) > 5 FROM ser}) . ' ' .
	  q1($n{$new}, q{SELECT count(*) = 3 AND max(id) > 2 FROM ident}),
	't t', "serial and identity go on without duplicates after failover (leader $new)");
open($fh, '<', $ack) or die;
my @acked = map { (split ' ')[0] } <$fh>;
close $fh;
ok(@acked > 20, scalar(@acked) . ' transfers acknowledged');
for my $name (@names)
{
	is(q1($n{$name}, 'SELECT sum(bal) FROM acc WHERE id <= 20'), $total,
		"$name: sum of balances unchanged");
	my %have = map { $_ => 1 } split /\n/, q1($n{$name}, 'SELECT id FROM transfers');
	my @lost = grep { !$have{$_} } @acked;
	is(scalar(@lost), 0, "$name: every acknowledged transfer is there")
	  or diag("lost: @lost[0 .. ($#lost < 9 ? $#lost : 9)]");
}
for my $name (@names)
{
	my $log = slurp_file($n{$name}->logfile);
	unlike($log, qr/is missing on this node|PANIC|server process .* was terminated by signal 11/,
		"$name: no divergence warning, no crash");
}

$_->stop('immediate') for @all;
done_testing();
