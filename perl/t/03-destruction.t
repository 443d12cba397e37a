#!/usr/bin/perl
# Jobs never ended, at the end of a program: global destruction records `canceled`, or
# `failed` when the program dies, with nothing on stderr. And the exit hook delivers what
# was still queued. Each case is a real perl process running the built module.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Spec;
use Test::More;
use WafermonTest qw(config_in read_events temp_dir json);

my @inc = map { "-I" . File::Spec->rel2abs($_) } grep { !ref } @INC;

# Run $body as a program with a client $wm on $dir; its exit status and stderr.
sub run_program {
    my ($dir, $body) = @_;
    open my $cfg, '>', "$dir/config.json" or die "$dir/config.json: $!";
    print $cfg json()->encode(config_in("$dir"));
    close $cfg;
    my $program = "$dir/program.pl";
    open my $fh, '>', $program or die "$program: $!";
    print $fh "use strict; use warnings; use Wafermon;\n",
        "my \$wm = Wafermon->new(config => '$dir/config.json');\n", $body;
    close $fh;
    my $status = system("$^X @inc $program 2>$dir/stderr") >> 8;
    open my $err, '<', "$dir/stderr" or die "$dir/stderr: $!";
    local $/;
    return ($status, scalar <$err>);
}

sub last_of {
    my ($dir) = @_;
    my %last;
    $last{ $_->{entity}{name} } = $_ for @{ read_events("$dir/data") };
    return \%last;
}

subtest 'a global job at exit is canceled, silently' => sub {
    my $dir = temp_dir();
    my ($status, $stderr) = run_program($dir, <<'EOF2');
our $job = $wm->job('global-job');
$job->metric(x => 1);
my $lexical = $wm->job('file-lexical');
exit 0;
EOF2
    is($status, 0, 'the program exits 0');
    is($stderr, '', 'nothing on stderr');
    my $last = last_of($dir);
    is($last->{'global-job'}{kind}, 'canceled', 'the global job: canceled');
    is($last->{'file-lexical'}{kind}, 'canceled', 'the file-scoped job: canceled');
    is($last->{'global-job'}{message}, 'dropped without finish', 'saying why');
};

subtest 'a program that dies records the job as failed' => sub {
    my $dir = temp_dir();
    my ($status, $stderr) = run_program($dir, <<'EOF2');
our $job = $wm->job('dying');
die "vacuum lost\n";
EOF2
    isnt($status, 0, 'the program fails');
    is($stderr, "vacuum lost\n", 'only its own error on stderr');
    my $last = last_of($dir);
    is($last->{dying}{kind}, 'failed', 'the job: failed');
    is($last->{dying}{message}, 'vacuum lost', 'with the error');
};

subtest 'the exit hook delivers what is still queued' => sub {
    my $dir = temp_dir();
    my ($status, $stderr) = run_program($dir, <<'EOF2');
$wm->run_job('quick', sub { $_[0]->metric(n => $_) for 1 .. 1000 });
EOF2
    is($status, 0, 'the program exits 0 without closing');
    is($stderr, '', 'nothing on stderr');
    my $metrics = grep { $_->{kind} eq 'metric' } @{ read_events("$dir/data") };
    is($metrics, 1000, 'every event was delivered');
};

done_testing;
