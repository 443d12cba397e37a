#!/usr/bin/perl
# Round trips through the real host binaries: Perl -> sidecar -> gateway (its job view)
# and files; and the legacy conformance vectors (core/conformance/legacy_cases.json),
# which the C ABI does not convert, posted by Perl to the sidecar that does.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use HTTP::Tiny;
use Test::More;
use Time::HiRes ();
use Wafermon;
use WafermonTest qw(config_in read_events conformance_dir json temp_dir with_deadline host_binary start_host);

my $sidecar_bin = host_binary('sidecar');
my $gateway_bin = host_binary('gateway');
plan skip_all => 'no wafermon-sidecar and wafermon-gateway binaries (cargo build -p wafermon-sidecar -p wafermon-gateway)'
    unless $sidecar_bin && $gateway_bin;

my $JSON = json();
my $http = HTTP::Tiny->new(timeout => 30);
my $dir = temp_dir();
mkdir "$dir/$_" for qw(gateway sidecar);

my $gateway = start_host("$dir/gateway", $gateway_bin, '--listen', '127.0.0.1:0',
    '--database-url', "sqlite://$dir/gateway/gw.sqlite3");
# The app the legacy vectors' defaults name: what the sidecar fills in for old clients.
my $sidecar_config = {
    ingest   => { flush_interval => 0.05 },
    backends => [
        { type => 'filesystem', name => 'files', path => "$dir/out" },
        { type => 'managed_api', name => 'gateway', url => $gateway->{url}, timeout => 5, retries => 1 },
    ],
    spool => { path => "$dir/sidecar/spool", fsync => 'batch' },
    app   => { name => 'wafermon-sidecar', version => '0.1.0', site_id => 'fab-default', instance_id => 'sc-1' },
};
open my $fh, '>', "$dir/sidecar/config.json" or die $!;
print $fh $JSON->encode($sidecar_config);
close $fh;
my $sidecar = start_host("$dir/sidecar", $sidecar_bin, '--config', "$dir/sidecar/config.json",
    '--listen', '127.0.0.1:0');

# Poll until $ready returns true, failing at the deadline (hosts deliver asynchronously).
sub eventually {
    my ($seconds, $what, $ready) = @_;
    my $until = Time::HiRes::time() + $seconds;
    while (1) {
        my $value = $ready->();
        return $value if $value;
        die "not within ${seconds}s: $what\n" if Time::HiRes::time() > $until;
        Time::HiRes::sleep(0.1);
    }
}

sub get_json {
    my ($url) = @_;
    my $response = $http->get($url);
    die "GET $url: $response->{status} $response->{content}\n" unless $response->{success};
    return $JSON->decode($response->{content});
}

my $site = sprintf 'perl-%d-%d', $$, time;

subtest 'Perl -> sidecar -> gateway and files' => sub {
    my $wm = Wafermon->new(config => config_in("$dir/app",
        { mode => 'sidecar', sidecar => { url => $sidecar->{url} }, direct_backends => [],
          app => { site_id => $site, name => 'perl-litho' } }));
    my @lots;
    for my $n (1 .. 3) {
        $wm->run_job('expose-lot', key => "LOT$n", sub {
            my ($lot) = @_;
            push @lots, $lot->id;
            $lot->progress(50);
            eval { $wm->run_job('wafer', key => "W$n", sub { die "reticle misaligned\n" if $n == 3 }) };
            1;
        });
    }
    ok($wm->flush(timeout => 30), 'the sidecar acknowledged everything');
    $wm->close;

    my $jobs = with_deadline(90, 'gateway', sub { eventually(60, 'the gateway has the lots', sub {
        my $jobs = get_json("$gateway->{url}/v1/jobs?site=$site&kind=job")->{jobs};
        return @$jobs == 3 && !grep({ $_->{status} eq 'running' } @$jobs) ? $jobs : undef;
    }) });
    my %status = map { ($_->{id} => $_->{status}) } @$jobs;
    is_deeply([ @status{@lots} ], [qw(succeeded succeeded succeeded)], 'the gateway shows the lots succeeded');
    my $detail = get_json("$gateway->{url}/v1/jobs/$lots[-1]");
    is_deeply([ sort map { $_->{status} } @{ $detail->{subtree} } ], ['failed'], 'and the failed wafer under the last');
    is($detail->{job}{name}, 'expose-lot', 'by name');

    my $mine = with_deadline(90, 'files', sub { eventually(60, 'the files have the events', sub {
        my @mine = grep { $_->{site} eq $site } @{ read_events("$dir/out") };
        return @mine >= 15 ? \@mine : undef;
    }) });
    is(scalar @$mine, 15, 'every event reached the files once (3 lots x 5 events)');
    my %ids = map { ($_->{id} => 1) } @$mine;
    is(scalar keys %ids, 15, 'with unique ids');
};

subtest 'legacy_cases.json through the sidecar' => sub {
    my $root = conformance_dir() or plan skip_all => 'no core/conformance here';
    open my $in, '<:raw', "$root/legacy_cases.json" or die $!;
    my $cases = $JSON->decode(do { local $/; <$in> });
    ok(@$cases >= 12, 'there are legacy cases');
    my @accepted;
    for my $case (@$cases) {
        is_deeply($case->{defaults}, { site => 'fab-default', app => { name => 'wafermon-sidecar',
            version => '0.1.0', instance => 'sc-1' } }, "$case->{name}: defaults are the sidecar's app");
        my $response = $http->post("$sidecar->{url}/v1/ingest/events",
            { headers => { 'content-type' => 'application/json' }, content => $JSON->encode($case->{legacy}) });
        if ($case->{expect}) {
            is($response->{status}, 200, "$case->{name}: accepted") or diag($response->{content});
            push @accepted, $case;
        } else {
            my $answer = eval { $JSON->decode($response->{content}) } // {};
            is($response->{status}, 400, "$case->{name}: refused");
            is($answer->{rejected}[0]{path}, $case->{error}{path}, "$case->{name}: naming the legacy field")
                or diag($response->{content});
        }
    }
    my %expected_ids = map { ($_->{expect}{id} => 1) } @accepted;
    my $written = with_deadline(90, 'legacy files', sub { eventually(60, 'the legacy events are written', sub {
        my @legacy = grep { $expected_ids{ $_->{id} } } @{ read_events("$dir/out") };
        return @legacy >= @accepted ? \@legacy : undef;
    }) });
    is(scalar @$written, scalar @accepted, 'each accepted legacy event written once');
    my (%ids, %nth);
    for my $case (@accepted) {
        my @same = grep { $_->{id} eq $case->{expect}{id} } @$written;
        my $got = $same[ $nth{ $case->{expect}{id} }++ ];
        $got->{seq} = 0 if $got;    # the sidecar numbers events; the vector's seq is 0
        is_deeply($got, $case->{expect}, "$case->{name}: converted as expected")
            or diag($JSON->encode($got));
        $ids{ $case->{name} } = $got && $got->{id};
        is($got && $got->{id}, $ids{ $case->{same_id_as} }, "$case->{name}: the id of $case->{same_id_as}")
            if $case->{same_id_as};
    }
};

$sidecar->{stop}->();
$gateway->{stop}->();
done_testing;
