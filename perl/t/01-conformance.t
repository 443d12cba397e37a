#!/usr/bin/perl
# The shared conformance vectors (core/conformance, format in its README) through the Perl
# API: error_kinds.json, scenarios/*.json, config_cases.json, event_cases.json. The same
# files the Rust, C, Python and Java suites run. (legacy_cases.json: t/08-legacy.t.)
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Scalar::Util qw(blessed);
use Test::More;
use Wafermon;
use WafermonTest qw(config_in read_events conformance_dir json temp_dir);

my $root = conformance_dir() or plan skip_all => 'no core/conformance here (a dist tarball)';
my $JSON = json();

sub load {
    my ($name) = @_;
    open my $fh, '<:raw', "$root/$name" or die "cannot read $root/$name: $!";
    local $/;
    return $JSON->decode(scalar <$fh>);
}

# A failure must be a Wafermon::Error of the expected kind whose message names the path
# ("at <path>:"), or for the root starts with the kind in words.
sub check_error {
    my ($error, $expected, $default_kind, $label) = @_;
    my $want = $expected->{kind} // $default_kind;
    if (!(blessed $error && $error->isa('Wafermon::Error'))) {
        fail("$label: should fail with $want");
        diag(defined $error && length $error ? "got: $error" : 'it succeeded');
        return;
    }
    my $path = $expected->{path} // '';
    my $named = $path eq ''
        ? index($error->message, $want =~ s/_/ /gr) == 0
        : index($error->message, "at $path:") >= 0;
    ok($error->kind eq $want && $named, "$label: fails with $want naming '$path'")
        or diag('got ' . $error->kind . ': ' . $error->message);
    is($error->path // '', $path, "$label: the error's path") if $path ne '' || !defined $error->path;
}

subtest 'error_kinds.json is the table of Wafermon::Error' => sub {
    my $file = load('error_kinds.json');
    my %table = %Wafermon::Error::KIND_OF_STATUS;
    my %listed = map { ($_->{c_value} => $_->{name}) } @{ $file->{kinds} };
    my ($panic) = grep { $_->{c_status} eq 'WM_ERR_PANIC' } @{ $file->{c_only} };
    $listed{ $panic->{c_value} } = 'panic';
    is_deeply(\%table, \%listed, 'every core kind and WM_ERR_PANIC, with their C values');
    local $ENV{RUST_BACKTRACE} = 0;    # the panic is on purpose: no backtrace on stderr
    my $e = eval { Wafermon::_debug_panic(); 1 } ? undef : $@;
    is($e && $e->kind, 'panic', 'a panic inside the library is a Wafermon::Error of kind panic');
    like("$e", qr/panic in wm_debug_panic/i, 'saying where');
};

# ---- scenarios ------------------------------------------------------------------------

sub normalize {
    my ($event, $ids, $last_seq) = @_;
    my @problems;
    push @problems, 'id is not a UUIDv7'
        unless ($event->{id} // '') =~ /\A[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\z/;
    push @problems, "time $event->{time} is not YYYY-MM-DDTHH:MM:SS.ffffffZ"
        unless ($event->{time} // '') =~ /\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\z/;
    push @problems, 'seq does not increase strictly' unless ($event->{seq} // 0) > $$last_seq;
    $$last_seq = $event->{seq} // 0;
    @$event{qw(id time seq)} = ('<id>', '<time>', '<seq>');
    for my $field (qw(id parent)) {
        my $value = $event->{entity}{$field};
        $event->{entity}{$field} = "<job:$ids->{$value}>" if defined $value && exists $ids->{$value};
    }
    for my $name (qw(cpu_user_s cpu_system_s max_rss_bytes duration_s)) {
        next unless ref $event->{metrics} eq 'HASH' && exists $event->{metrics}{$name};
        my $value = $event->{metrics}{$name};
        push @problems, "$name is not a number >= 0" unless defined $value && !ref $value && $value >= 0;
        $event->{metrics}{$name} = '<number>';
    }
    return @problems;
}

sub run_step {
    my ($wm, $jobs, $ids, $step) = @_;
    my $op = $step->{op};
    my %spec = map { exists $step->{$_} ? ($_ => $step->{$_}) : () } qw(kind key id attrs);
    if ($op eq 'job_start' || $op eq 'subjob_start') {
        my $job = $op eq 'job_start'
            ? $wm->job($step->{name}, %spec, root => 1)
            : $jobs->{ $step->{parent} }->subjob($step->{name}, %spec);
        $jobs->{ $step->{as} } = $job;
        $ids->{ $job->id } = $step->{as};
        return;
    }
    if ($op eq 'emit') {
        my $event = $step->{event};
        return $wm->emit_json(ref $event ? $JSON->encode($event) : $event);
    }
    my $job = $jobs->{ $step->{job} } or die "no open job $step->{job}\n";
    return $job->progress($step->{percent}, $step->{message}) if $op eq 'progress';
    return $job->metric($step->{name} => $step->{value})      if $op eq 'metric';
    return $job->log($step->{level} => $step->{message})       if $op eq 'log';
    return delete($jobs->{ $step->{job} })->finish              if $op eq 'finish';
    return delete($jobs->{ $step->{job} })->fail($step->{message})   if $op eq 'fail';
    return delete($jobs->{ $step->{job} })->cancel($step->{message}) if $op eq 'cancel';
    if ($op eq 'drop') {
        delete $jobs->{ $step->{job} };    # the last reference: DESTROY releases it
        return;
    }
    die "unknown op $op\n";
}

opendir my $dh, "$root/scenarios" or die "$root/scenarios: $!";
my @scenarios = sort grep { /\.json\z/ } readdir $dh;
closedir $dh;
ok(@scenarios > 0, 'there are scenarios');

for my $file (@scenarios) {
    my $scenario = load("scenarios/$file");
    subtest "scenario $file: $scenario->{name}" => sub {
        my $dir = temp_dir();
        my $wm = Wafermon->new(config => config_in("$dir", $scenario->{config}));
        my (%jobs, %ids);
        my $i = 0;
        for my $step (@{ $scenario->{steps} }) {
            my $ok = eval { run_step($wm, \%jobs, \%ids, $step); 1 };
            my $error = $ok ? undef : $@;
            my $label = "step $i ($step->{op})";
            if ($step->{error}) {
                check_error($error, $step->{error}, '?', $label);
            } else {
                ok($ok, "$label succeeds") or diag("$error");
            }
            $i++;
        }
        ok(!%jobs, 'the vector ended every job it started') or diag(join ', ', keys %jobs);
        ok($wm->close(timeout => 10), 'close delivers everything');
        my $stats = $wm->stats;
        my $pending = $stats->{queued};
        $pending += $_->{queued} for @{ $stats->{backends} };
        is($pending, 0, 'nothing is left pending');
        my $events = read_events("$dir/data");
        my $last = 0;
        my @problems = map { normalize($_, \%ids, \$last) } @$events;
        is_deeply(\@problems, [], 'ids, times, seqs and resource metrics are well formed');
        is_deeply($events, $scenario->{expect}, 'the events written are the expected ones')
            or diag($JSON->pretty->encode($events));
    };
}

# ---- config_cases.json ----------------------------------------------------------------

my $config_cases = load('config_cases.json');
ok(@$config_cases > 10, 'there are config cases');
for my $case (@$config_cases) {
    # The case's JSON as it is (some are not objects), read as new() reads it.
    my $ok = eval { Wafermon->check_config(config_json => $JSON->encode($case->{config})) };
    if ($case->{ok}) {
        ok($ok, "config: $case->{name}: accepted") or diag("$@");
    } else {
        check_error($ok ? undef : $@, $case->{error}, 'invalid_config', "config: $case->{name}");
    }
}

# ---- event_cases.json -----------------------------------------------------------------

subtest 'event_cases.json' => sub {
    my $cases = load('event_cases.json');
    ok(@$cases > 10, 'there are event cases');
    my $dir = temp_dir();
    my $wm = Wafermon->new(config => config_in("$dir"));
    my ($accepted, %attrs_of) = (0);
    my $wide = JSON::PP->new->utf8->canonical->allow_bignum;
    for my $case (@$cases) {
        my $event = $case->{event};
        my $text = ref $event ? $JSON->encode($event) : $event;
        my $ok = eval { $wm->emit_json($text); 1 };
        if ($case->{ok}) {
            ok($ok, "event: $case->{name}: accepted") or diag("$@");
            $accepted++ if $ok;
            $attrs_of{ $wide->decode($text)->{entity}{id} } = $case->{attrs} if exists $case->{attrs};
        } else {
            check_error($ok ? undef : $@, $case->{error}, 'invalid_event', "event: $case->{name}");
        }
    }
    ok($wm->close(timeout => 10), 'close delivers everything');
    my $written = read_events("$dir/data", $wide);
    is(scalar @$written, $accepted, 'every accepted event is written, and no rejected one');
    # Attribute numbers digit for digit: both sides read with big numbers kept exact.
    for my $id (sort keys %attrs_of) {
        my ($event) = grep { $_->{entity}{id} eq $id } @$written;
        is($event && $wide->encode($event->{attrs}), $wide->encode($attrs_of{$id}), "attrs of $id are exact");
    }
};

done_testing;
