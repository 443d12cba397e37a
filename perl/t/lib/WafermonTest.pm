package WafermonTest;

# What the tests share: the runner's config (as the C and Rust runners build it), reading
# back what the filesystem backend wrote, and where the shared conformance vectors are.

use strict;
use warnings;

use Exporter 'import';
use File::Find ();
use File::Spec ();
use File::Temp ();
use FindBin ();
use JSON::PP ();

our @EXPORT_OK = qw(config_in read_events conformance_dir json temp_dir with_deadline host_binary start_host);

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

sub json { $JSON }

sub temp_dir { File::Temp->newdir('wafermon-perl-XXXXXX', TMPDIR => 1) }

# core/conformance of the source tree, or WAFERMON_CONFORMANCE_DIR; undef in a dist tarball.
sub conformance_dir {
    my $dir = $ENV{WAFERMON_CONFORMANCE_DIR}
        // File::Spec->catdir($FindBin::Bin, File::Spec->updir, File::Spec->updir, 'core', 'conformance');
    return -d $dir ? $dir : undef;
}

# JSONL under $dir/data, spool under $dir/spool, a short flush interval, and $extra laid
# over it one level deep (core/tests/common/mod.rs does the same).
sub config_in {
    my ($dir, $extra) = @_;
    my $config = {
        app             => { name => 'test-app', version => '1.0', site_id => 'fab-t', instance_id => 'i-1' },
        direct_backends => [ { type => 'filesystem', path => "$dir/data" } ],
        spool           => { path => "$dir/spool" },
        batch           => { flush_interval => 0.05 },
    };
    for my $key (keys %{ $extra // {} }) {
        my $value = $extra->{$key};
        if (ref $value eq 'HASH' && ref $config->{$key} eq 'HASH') {
            $config->{$key}{$_} = $value->{$_} for keys %$value;
        } else {
            $config->{$key} = $value;
        }
    }
    return $config;
}

# Every event of every *.jsonl file under $dir, sorted by seq (decoded by $decoder, default
# JSON::PP).
sub read_events {
    my ($dir, $decoder) = @_;
    $decoder //= $JSON;
    my @events;
    return [] unless -d $dir;
    File::Find::find({ no_chdir => 1, wanted => sub {
        return unless /\.jsonl\z/;
        open my $fh, '<:raw', $_ or die "cannot read $_: $!";
        while (my $line = <$fh>) {
            next unless $line =~ /\S/;
            push @events, $decoder->decode($line);
        }
    } }, $dir);
    return [ sort { $a->{seq} <=> $b->{seq} } @events ];
}

# A host binary of the source tree (WAFERMON_SIDECAR_BIN / WAFERMON_GATEWAY_BIN, else
# target/debug or target/release); undef when there is none.
sub host_binary {
    my ($name) = @_;
    my $env = $ENV{ 'WAFERMON_' . uc($name) . '_BIN' };
    return $env if defined $env;
    my $target = $ENV{CARGO_TARGET_DIR}
        // File::Spec->catdir($FindBin::Bin, File::Spec->updir, File::Spec->updir, 'target');
    for my $profile (qw(debug release)) {
        my $path = File::Spec->catfile($target, $profile, "wafermon-$name");
        return $path if -x $path;
    }
    return undef;
}

# Start a host binary listening on a free port; it prints "... listening on HOST:PORT" first.
# Returns { url, pid, stop => sub }.
sub start_host {
    my ($dir, @command) = @_;
    my $pid = open(my $out, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', "$dir/host.stderr" or die "$dir/host.stderr: $!";
        exec @command or die "exec $command[0]: $!";
    }
    my $first = with_deadline(30, "$command[0] starts", sub { scalar <$out> }) // '';
    my ($address) = $first =~ /listening on (\S+)/
        or die "$command[0] did not start: $first", _slurp("$dir/host.stderr");
    my $host = { url => "http://$address", pid => $pid, out => $out };
    $host->{stop} = sub {
        return unless $host->{pid};
        kill 'TERM', $host->{pid};
        my $gone = eval { with_deadline(15, 'host stops', sub { waitpid($host->{pid}, 0) }) };
        if (!$gone) { kill 'KILL', $host->{pid}; waitpid($host->{pid}, 0) }
        $host->{pid} = 0;
    };
    return $host;
}

sub _slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

# Run $code with an alarm: a hang fails the test instead of stalling the suite.
sub with_deadline {
    my ($seconds, $what, $code) = @_;
    local $SIG{ALRM} = sub { die "deadline of ${seconds}s passed: $what\n" };
    alarm $seconds;
    my @result = eval { $code->() };
    my $error = $@;
    alarm 0;
    die $error if $error;
    return wantarray ? @result : $result[0];
}

1;
