#
# 001_preload.pl: phantom refuses to load outside shared_preload_libraries
# with a clear error and a hint (CREATE EXTENSION, LOAD,
# session_preload_libraries), and the phantom tables of a server restarted
# without it give the same clear error, never a crash.
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;

my ($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION phantom');
isnt($ret, 0, 'CREATE EXTENSION without shared_preload_libraries fails');
like($err, qr/phantom must be loaded via shared_preload_libraries/,
	'the error names shared_preload_libraries');
like($err, qr/HINT:.*shared_preload_libraries/, 'with a hint');

($ret, $out, $err) = $node->psql('postgres', "LOAD 'phantom'");
isnt($ret, 0, 'LOAD fails');
like($err, qr/phantom must be loaded via shared_preload_libraries/,
	'LOAD gives the same error');

# session_preload_libraries: a login that loads phantom fails cleanly
$node->append_conf('postgresql.conf', "session_preload_libraries = 'phantom'");
$node->reload;
($ret, $out, $err) = $node->psql('postgres', 'SELECT 1');
isnt($ret, 0, 'session_preload_libraries login fails');
like($err, qr/phantom must be loaded via shared_preload_libraries/,
	'session_preload_libraries gives the same error');
$node->adjust_conf('postgresql.conf', 'session_preload_libraries', "''");
$node->reload;

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');
$node->stop;

# a server with phantom tables restarted without phantom preloaded: using
# the tables gives the same clear error, other tables keep working
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'phantom'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION phantom;
	CREATE TABLE ph (a int) USING phantom;
	INSERT INTO ph VALUES (1);
	CREATE TABLE h (a int) USING heap;
	INSERT INTO h VALUES (2);
});
$node->stop;
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->start;
($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM ph');
isnt($ret, 0, 'reading a phantom table without phantom preloaded fails');
like($err, qr/phantom must be loaded via shared_preload_libraries/,
	'with the clear error');
is($node->safe_psql('postgres', 'SELECT a FROM h'), '2', 'heap tables still work');
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "'phantom'");
$node->restart;
is($node->safe_psql('postgres', 'SELECT a FROM ph'), '1', 'with phantom preloaded again the table is back');

$node->stop;
done_testing();
