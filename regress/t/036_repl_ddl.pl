#
# 036_repl_ddl.pl: in phantom.database of a cluster the schema is the
# cluster's: DDL of the objects phantom tables use (schemas, enum /
# composite / domain types, sequences, functions, views) and of the
# objects of phantom tables (triggers, policies, rules, statistics,
# comments, privileges) is replicated with the row changes, in order.
# After a failover the new leader has them all: its triggers fire, its
# defaults draw from its sequences, its views answer.  Temporary objects,
# heap tables and other databases stay local; a follower refuses schema
# DDL with the leader's name; a statement the follower's diverged schema
# cannot take is a WARNING there, and later entries still apply.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use PhantomTest;
use RaftTest;

my @names = qw(d1 d2 d3);
my %n = map { $_ => raft_node($_, 'ddl-secret') } @names;
my @all = @n{@names};
# roles are cluster-wide objects of each server: created everywhere
$_->safe_psql('postgres', 'CREATE ROLE ddl_reader') for @all;
# a function that exists on d3 only, before the cluster: divergence
$n{d3}->safe_psql('postgres', 'CREATE FUNCTION only_here() RETURNS int LANGUAGE sql AS $$ SELECT 3 $$');

raft_cluster(\%n, 'd1', qw(d2 d3));

sub leader { return raft_leader(\%n) }

# what a node's schema looks like, as text
my $schema = q{
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
  SELECT 'type ' || t.typname || ' ' || t.typtype::text FROM pg_type t JOIN pg_namespace s ON s.oid = t.typnamespace
    WHERE s.nspname = 'app' AND (t.typtype IN ('e', 'd') OR t.typname = 'pair')
  UNION ALL SELECT 'enum ' || string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = 'app.mood'::regtype
  UNION ALL SELECT 'fn ' || p.oid::regprocedure::text || ' ' || md5(p.prosrc) FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace WHERE s.nspname = 'app'
  UNION ALL SELECT 'rel ' || c.oid::regclass::text || ' ' || c.relkind::text FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'app' AND c.relkind IN ('r', 'v', 'S', 'i')
  UNION ALL SELECT 'view ' || md5(pg_get_viewdef('app.big_notes'::regclass))
  UNION ALL SELECT 'trig ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'policy ' || polname FROM pg_policy
  UNION ALL SELECT 'stat ' || stxname FROM pg_statistic_ext
  UNION ALL SELECT 'comment ' || obj_description('app.notes'::regclass, 'pg_class')
  UNION ALL SELECT 'grant ' || has_table_privilege('ddl_reader', 'app.notes', 'SELECT')::text
  UNION ALL SELECT 'rls ' || relrowsecurity::text FROM pg_class WHERE oid = 'app.notes'::regclass
) s (x)};
my $content = q{SELECT coalesce(string_agg(row(t.*)::text, ';' ORDER BY id), 'none') FROM app.notes t};

# converged(what): every running node has the leader's schema and rows
sub converged
{
	my ($what) = @_;
	my @up = grep { $n{$_}->{_pid} } @names;
	my $last;
	my $ok = poll(30, sub {
		my @s = map { q1($n{$_}, $schema, 5) } @up;
		my @c = map { q1($n{$_}, $content, 5) } @up;
		my @h = map { "$s[$_]\n$c[$_]" } 0 .. $#up;
		$last = join("\n----\n", map { "$up[$_]:\n$h[$_]" } 0 .. $#up);
		return 0 if grep { $_ eq '' } @s, @c;
		return !grep { $_ ne $h[0] } @h;
	});
	ok(defined $ok, "$what: same schema and rows on every node") or diag($last);
}

my $L = $n{d1};
$L->safe_psql('postgres', q{
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok');
ALTER TYPE app.mood ADD VALUE 'happy';
CREATE TYPE app.pair AS (a int, b text);
CREATE DOMAIN app.short_text AS text CHECK (length(VALUE) < 40);
CREATE SEQUENCE app.note_ids START 100;
CREATE FUNCTION app.shout(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT upper(t) $$;
CREATE FUNCTION app.stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.body := app.shout(NEW.body); NEW.stamped := true; RETURN NEW; END $$;
CREATE TABLE app.notes (id bigint PRIMARY KEY DEFAULT nextval('app.note_ids'),
  body app.short_text, m app.mood, p app.pair, stamped boolean DEFAULT false);
CREATE TRIGGER notes_stamp BEFORE INSERT ON app.notes FOR EACH ROW EXECUTE FUNCTION app.stamp();
CREATE VIEW app.big_notes AS SELECT id, body FROM app.notes WHERE id >= 100;
CREATE STATISTICS app.notes_st ON id, m FROM app.notes;
COMMENT ON TABLE app.notes IS 'replicated comment';
GRANT SELECT ON app.notes TO ddl_reader;
ALTER TABLE app.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_all ON app.notes USING (true);
INSERT INTO app.notes (body, m, p) VALUES ('first', 'happy', row(1, 'x'));
});
converged('schema objects');
is(q1($n{d2}, q{SELECT body || ' ' || stamped FROM app.notes WHERE id = 100}), 'FIRST true',
	'the trigger fired on the leader; the follower has its result');

# local things stay local
$L->safe_psql('postgres', q{
CREATE TABLE heap_local (a int) USING heap;
CREATE TEMP VIEW tv AS SELECT 1 AS a;
CREATE TEMP SEQUENCE ts;
});
$L->safe_psql('template1', 'CREATE FUNCTION other_db() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$');
usleep(500_000);
$L->safe_psql('postgres', q{INSERT INTO app.notes (body) VALUES ('barrier')});
converged('after local objects');
is(q1($n{d2}, q{SELECT count(*) FROM pg_class WHERE relname = 'heap_local'}), '0', 'a heap table stays on its node');
is(q1($n{d2}, q{SELECT count(*) FROM pg_proc WHERE proname = 'other_db'}, 5) . q1($n{d2}, q{SELECT 1}), '01',
	'another database is not replicated');
my ($rc, $out, $err) = $L->psql('postgres', q{GRANT SELECT ON app.notes, heap_local TO ddl_reader});
like($err, qr/cannot GRANT or REVOKE on phantom tables and other tables in one statement/, 'a GRANT mixing phantom and heap tables is refused');

# a follower refuses schema DDL, naming the leader
($rc, $out, $err) = $n{d2}->psql('postgres', q{CREATE TYPE app.other AS ENUM ('x')});
like($err, qr/on a follower.*\n.*\n.*node "d1"/s, 'a follower refuses CREATE TYPE with the leader in the hint');
($rc, $out, $err) = $n{d2}->psql('postgres', q{CREATE TEMP TABLE ok_here (a int) USING heap});
is($rc, 0, 'a follower may create temporary heap tables');

# divergence: d3 has only_here() already; the CREATE is a WARNING there,
# the entry's row change and later entries still apply
$L->safe_psql('postgres', q{
BEGIN;
CREATE FUNCTION only_here() RETURNS int LANGUAGE sql AS $$ SELECT 3 $$;
INSERT INTO app.notes (body) VALUES ('after divergence');
COMMIT;
});
converged('after a statement a follower cannot take');
like(slurp_file($n{d3}->logfile), qr/WARNING:  phantom apply: replicated statement of raft entry \d+ skipped: function "only_here" already exists/,
	'the follower warns about its diverged schema');

# failover: the new leader has the trigger, the sequence, the view
$n{d1}->stop('immediate');
my $new;
ok(defined poll(20, sub { $new = leader(); defined $new }), 'a new leader');
my $ins = poll(20, sub { q1($n{$new}, q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'phantom apply worker'}) eq '1' &&
	$n{$new}->psql('postgres', q{SELECT phantom.raft_status()}) == 0 &&
	q1($n{$new}, q{SELECT role FROM phantom.raft_status()}) eq 'leader' });
($rc, $out, $err) = (1, '', '');
poll(20, sub {
	($rc, $out, $err) = $n{$new}->psql('postgres', q{INSERT INTO app.notes (body, m) VALUES ('after failover', 'ok')});
	# a new leader may still be applying its predecessor's entries: retry that only
	return $rc == 0 || $err !~ /still applying|no leader|on a follower/;
});
is($err, '', "the new leader $new accepts the write (no duplicate key from the sequence)");
is(q1($n{$new}, q{SELECT body || ' ' || stamped || ' ' || (id > 100) FROM app.notes WHERE body ILIKE 'after failover'}),
	'AFTER FAILOVER true true', 'on the new leader the trigger fires and the default draws from the replicated sequence');
is(q1($n{$new}, q{SELECT count(*) FROM app.big_notes}), '4', 'the replicated view answers on the new leader');
$n{d1}->start;

# drops and renames replicate too
$n{$new}->safe_psql('postgres', q{
DROP TRIGGER notes_stamp ON app.notes;
DROP VIEW app.big_notes;
ALTER FUNCTION app.shout(text) RENAME TO yell;
COMMENT ON TABLE app.notes IS 'changed';
REVOKE SELECT ON app.notes FROM ddl_reader;
DROP POLICY notes_all ON app.notes;
ALTER TABLE app.notes DISABLE ROW LEVEL SECURITY;
CREATE VIEW app.big_notes AS SELECT id FROM app.notes;
INSERT INTO app.notes (body) VALUES ('no trigger');
});
converged('after drops and renames');
is(q1($n{d1}, q{SELECT stamped FROM app.notes WHERE body = 'no trigger'}), 'f', 'the dropped trigger is gone everywhere');
is(q1($n{d3}, q{SELECT count(*) FROM pg_proc WHERE proname = 'yell'}), '1', 'the rename reached every node');

$_->stop('immediate') for @all;
done_testing();
