# Run by ./configure: check for cargo and rustc, then write src/Makevars from
# src/Makevars.in. A tarball made by build-tarball.sh vendors every crate: the build is
# offline then, on two jobs, as CRAN asks.

find_tool <- function(name) {
  found <- Sys.which(name)
  if (!nzchar(found)) {
    home <- file.path(Sys.getenv("HOME"), ".cargo", "bin", name)
    if (file.exists(home)) found <- home
  }
  if (!nzchar(found)) {
    stop("wafermon needs Rust's ", name, " (rustc >= 1.89) to build; install it from ",
         "https://rustup.rs or your system's packages (cargo, rustc)", call. = FALSE)
  }
  found
}

rustc <- find_tool("rustc")
find_tool("cargo")
version <- system2(rustc, "--version", stdout = TRUE)
message("Using ", version)
parts <- as.integer(strsplit(sub("^rustc ([0-9]+\\.[0-9]+).*", "\\1", version), ".", fixed = TRUE)[[1]])
if (length(parts) == 2 && !anyNA(parts) && (parts[1] < 1 || (parts[1] == 1 && parts[2] < 89))) {
  stop("wafermon needs rustc >= 1.89, found: ", version, call. = FALSE)
}

vendored <- file.exists("src/rust/vendor.tar.xz")
flags <- if (vendored) "--offline -j 2" else "-j 2"
lines <- readLines("src/Makevars.in")
lines <- gsub("@CARGO_FLAGS@", flags, lines, fixed = TRUE)
writeLines(lines, "src/Makevars")
message("Wrote src/Makevars (", if (vendored) "vendored crates, offline" else "crates from the network or cargo's cache", ")")
