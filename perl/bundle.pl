#!/usr/bin/env perl
# Puts the Rust sources of libwafermon into a dist directory (make dist's PREOP):
#   bundle/core, bundle/ffi   the crates `wafermon` and `wafermon-ffi` as `cargo package`
#                             makes them (workspace keys resolved, path-only dev-dependencies
#                             dropped), unpacked;
#   bundle/Cargo.toml         a workspace of the two, patching crates.io's `wafermon` to
#                             bundle/core (ffi's packaged manifest asks for it by version);
#   bundle/Cargo.lock         the project's lock, so the build uses the versions it tests;
#   bundle/include/wafermon.h the C header Wafermon.xs compiles against.
# and lists them in the dist's MANIFEST. Makefile.PL builds them when it finds no libwafermon.
# The wafermon sources: WAFERMON_SOURCE_ROOT, else the directory above this dist.
use strict;
use warnings;

use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Find qw(find);
use File::Path qw(make_path remove_tree);
use File::Spec;
use File::Temp qw(tempdir);

my $dist = shift // die "usage: $0 DISTDIR\n";
my $root = $ENV{WAFERMON_SOURCE_ROOT} // File::Spec->rel2abs(dirname(__FILE__) . '/..');
for my $need (qw(Cargo.toml Cargo.lock core/Cargo.toml ffi/Cargo.toml c/include/wafermon.h)) {
    die "bundle.pl: $root/$need is missing; set WAFERMON_SOURCE_ROOT to the wafermon sources\n"
        unless -e "$root/$need";
}

my $cargo = $ENV{CARGO} || 'cargo';
my $packaged = tempdir(CLEANUP => 1);
my @package = ($cargo, 'package', '--quiet', '--no-verify', '--allow-dirty',
    '--manifest-path', "$root/Cargo.toml", '-p', 'wafermon', '-p', 'wafermon-ffi',
    '--target-dir', $packaged);
# Offline first (cargo's index cache is enough when the workspace has been built).
my $offline_ok = do {
    open my $stderr, '>&', \*STDERR or die "bundle.pl: $!\n";
    open STDERR, '>', File::Spec->devnull or die "bundle.pl: $!\n";
    my $ok = system(@package, '--offline') == 0;
    open STDERR, '>&', $stderr or die "bundle.pl: $!\n";
    $ok;
};
$offline_ok or system(@package) == 0 or die "bundle.pl: cargo package failed\n";

my $bundle = "$dist/bundle";
remove_tree($bundle);
make_path("$bundle/include");
my %dir_of = ('wafermon' => 'core', 'wafermon-ffi' => 'ffi');
for my $crate (sort keys %dir_of) {
    my ($file) = glob("$packaged/package/$crate-[0-9]*.crate");
    die "bundle.pl: cargo package made no $crate crate\n" unless $file;
    my ($unpacked) = $file =~ m{/([^/]+)\.crate\z};
    system('tar', '-xzf', $file, '-C', $bundle) == 0 or die "bundle.pl: cannot unpack $file\n";
    rename("$bundle/$unpacked", "$bundle/$dir_of{$crate}")
        or die "bundle.pl: cannot rename $unpacked: $!\n";
}
copy("$root/c/include/wafermon.h", "$bundle/include/wafermon.h") or die "bundle.pl: $!\n";
copy("$root/Cargo.lock", "$bundle/Cargo.lock") or die "bundle.pl: $!\n";

open my $toml, '>', "$bundle/Cargo.toml" or die "bundle.pl: $!\n";
print {$toml} <<'END';
# Written by the Perl dist's bundle.pl: the core and its C ABI, built by Makefile.PL as a
# staticlib (cargo build --release -p wafermon-ffi) when no libwafermon is installed.
[workspace]
resolver = "2"
members = ["core", "ffi"]

[patch.crates-io]
wafermon = { path = "core" }
END
close $toml or die "bundle.pl: $!\n";

my @files;
find({ no_chdir => 1, wanted => sub { push @files, File::Spec->abs2rel($_, $dist) if -f $_ } },
    $bundle);
open my $manifest, '>>', "$dist/MANIFEST" or die "bundle.pl: $!\n";
print {$manifest} "$_\n" for sort @files;
close $manifest or die "bundle.pl: $!\n";
print "bundle.pl: ", scalar(@files), " files of libwafermon's sources in $bundle\n";
