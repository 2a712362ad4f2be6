#!/usr/bin/env bash
# Builds the Debian package of danekit and prints the path of the .deb on its last line:
#  1. the `dist` binary (Cargo.toml: LTO, one codegen unit, stripped);
#  2. the manual pages and completion scripts, written by that binary into target/assets/, so
#     that they are those of the binary in the package;
#  3. the documents: the changelog, and contrib/ when the tree has it;
#  4. `cargo deb --no-build`, which packs them as [package.metadata.deb] in Cargo.toml says.
# Needs cargo-deb $CARGO_DEB_VERSION (see below). Honours CARGO_TARGET_DIR. The staging
# directory is target/assets/ of the source tree whatever CARGO_TARGET_DIR says, because
# cargo-deb reads assets relative to the package.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qx "cargo-deb $CARGO_DEB_VERSION"; then
    echo "error: cargo-deb $CARGO_DEB_VERSION is needed:" \
        "cargo install cargo-deb --version $CARGO_DEB_VERSION --locked" >&2
    exit 1
fi

target_dir="$(cargo metadata --locked --no-deps --format-version 1 | jq -r .target_directory)"
cargo build --locked --profile dist --bin danekit
bin="$target_dir/dist/danekit"

assets=target/assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions" "$assets/doc"
"$bin" manpages "$assets/man"
"$bin" completions bash > "$assets/completions/danekit.bash"
"$bin" completions zsh > "$assets/completions/_danekit"
"$bin" completions fish > "$assets/completions/danekit.fish"
# Debian's name for an upstream changelog, compressed without a timestamp.
gzip -9n < CHANGELOG.md > "$assets/doc/changelog.gz"
if [ -d contrib ]; then
    cp -R contrib "$assets/doc/contrib"
fi

mkdir -p "$target_dir/debian"
deb="$(cargo deb --profile dist --no-build --output "$target_dir/debian/")"
if [ ! -f "$deb" ]; then
    echo "error: cargo deb did not name the package it wrote (it said: $deb)" >&2
    exit 1
fi
echo "$deb"
