#
# 033_raft_transport.pl: strangers on the raft port.
#
# A client speaking the transport protocol from Perl (Digest::SHA for the
# HMACs) tries what an attacker or a confused program would: garbage, a
# raft message before authentication, a wrong secret, a frame with a bad
# MAC after a correct handshake, a replayed frame, a well-MACed but
# malformed message.  Each must close the connection with a WARNING that
# names the peer address, and the raft worker must go on (same pid, still
# leader).  A correct handshake is accepted (the server's proof checks out).
#
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin, "$FindBin::RealBin/..";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Digest::SHA qw(hmac_sha256);
use Time::HiRes qw(time usleep);
use PhantomTest;

my $secret = 'transport-secret';
my $rport = PostgreSQL::Test::Cluster::get_free_port();
my $node = phantom_node(
	't1', conf => qq{
phantom.node_name = 't1'
phantom.raft_listen = '127.0.0.1:$rport'
phantom.cluster_secret = '$secret'
phantom.compaction = off
});
$node->start;
create_phantom($node);
$node->safe_psql('postgres', 'SELECT phantom.cluster_create()');
# the worker connects to no database: its pid comes from its log line
sub worker_pids
{
	return (slurp_file($node->logfile) =~ /\[(\d+)\]\s+LOG:  phantom raft worker listening/g);
}
my @wpids = worker_pids();
my $wpid = $wpids[0] // 'none';
ok(@wpids == 1 && kill(0, $wpid), "raft worker runs (pid $wpid)");

sub frame { my ($kind, $payload) = @_; return pack('V', 1 + length $payload) . chr($kind) . $payload; }

sub connect_raft
{
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$rport", Timeout => 5)
	  or die "connect: $!";
	binmode $s;
	return $s;
}

# read_frame(sock): (kind, payload) or () on EOF/timeout.
sub read_frame
{
	my ($s) = @_;
	my $buf = '';
	my $sel = IO::Select->new($s);
	my $need = 5;
	my $deadline = time() + 5;
	while (time() < $deadline)
	{
		if (length($buf) >= 5)
		{
			my $len = unpack('V', substr($buf, 0, 4));
			return (ord(substr($buf, 4, 1)), substr($buf, 5, $len - 1))
			  if length($buf) >= 4 + $len;
		}
		last unless $sel->can_read(0.5);
		my $n = sysread($s, $buf, 65536, length $buf);
		last if !$n;
	}
	return ();
}

# closed(sock): the server closed the connection within 5 s.
sub closed
{
	my ($s) = @_;
	my $sel = IO::Select->new($s);
	my $deadline = time() + 5;
	while (time() < $deadline)
	{
		next unless $sel->can_read(0.5);
		my $n = sysread($s, my $junk, 65536);
		return 1 if !$n;
	}
	return 0;
}

# handshake(secret): returns (sock, session key, server hello fields, ok).
sub handshake
{
	my ($sec) = @_;
	my $s = connect_raft();
	my ($kind, $p) = read_frame($s);
	die "no hello" unless defined $kind && $kind == 1;
	my ($magic, $ver, $sid, $snonce) = unpack('V v Q< a32', $p);
	my $cid = 0x1234567;
	my $cnonce = join '', map { chr(int(rand(256))) } 1 .. 32;
	my $name = 'intruder';
	print $s frame(1, pack('V v Q< a32 v', 0x50485254, 1, $cid, $cnonce, length $name) . $name);
	my $ctx = 'phantom-raft-v1';
	my $tail = $cnonce . $snonce . pack('Q<', $cid) . pack('Q<', $sid);
	print $s frame(2, hmac_sha256($ctx . 'C' . $tail, $sec));
	my ($k2, $p2) = read_frame($s);
	my $server_ok = defined $k2 && $k2 == 2 && $p2 eq hmac_sha256($ctx . 'S' . $tail, $secret);
	return ($s, hmac_sha256($ctx . 'K' . $tail, $sec), $server_ok);
}

sub warned
{
	my ($re, $what) = @_;
	my $t0 = time();
	my $ok = 0;
	while (time() - $t0 < 10)
	{
		if (slurp_file($node->logfile) =~ $re) { $ok = 1; last; }
		usleep(100_000);
	}
	ok($ok, $what);
}

# garbage
my $s = connect_raft();
print $s "GET / HTTP/1.0\r\n\r\n";
ok(closed($s), 'garbage: connection closed');
warned(qr/WARNING:  phantom raft: closing connection from 127\.0\.0\.1:\d+: bad frame length/,
	'garbage: WARNING with the peer address');

# raft message before authentication
$s = connect_raft();
print $s frame(3, 'x' x 40);
ok(closed($s), 'raft frame before auth: closed');
warned(qr/raft message before authentication/, 'raft frame before auth: WARNING');

# wrong secret
my ($s2, $key2, $server_ok2) = handshake('wrong-secret');
ok($server_ok2, 'the server proves the real secret');
ok(closed($s2), 'wrong secret: closed');
warned(qr/peer at 127\.0\.0\.1:\d+ \(node "intruder"\) failed authentication/,
	'wrong secret: WARNING naming the peer');

# right secret, bad frame MAC
my ($s3, $key3) = handshake($secret);
print $s3 frame(3, ('y' x 40) . ('z' x 32));
ok(closed($s3), 'bad frame MAC: closed');
warned(qr/message authentication failed/, 'bad frame MAC: WARNING');

# right secret, a correctly MACed frame replayed with the old sequence number
my ($s4, $key4) = handshake($secret);
my $msg = 'garbage-message';
my $f = frame(3, $msg . hmac_sha256('C' . pack('Q<', 0) . $msg, $key4));
print $s4 $f;
ok(closed($s4), 'well-MACed garbage message: closed');
warned(qr/malformed raft message/, 'well-MACed garbage: rejected by the codec');
my ($s5, $key5) = handshake($secret);
print $s5 $f;    # MACed with another connection's key
ok(closed($s5), 'frame of another connection: closed');

# the worker went on
@wpids = worker_pids();
ok(@wpids == 1 && kill(0, $wpid), 'raft worker still the same process');
is($node->safe_psql('postgres', 'SELECT role FROM phantom.raft_status()'),
	'leader', 'still leader');
ok(slurp_file($node->logfile) !~ /terminated by signal|PANIC/, 'nothing crashed');

$node->stop;
done_testing();
