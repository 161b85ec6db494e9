#!/usr/bin/env bash
# Checks the release packaging without publishing anything:
#   1. `goreleaser check` on .goreleaser.yaml;
#   2. a snapshot release of .goreleaser.yaml with a stub main package, so the
#      archive names, formats and binaries are the ones GoReleaser really produces
#      (the plugin itself need not compile; nothing is uploaded);
#   3. krew.yaml rendered the way krew-release-bot renders it, with the sha256 of
#      those snapshot archives, then `validate-krew-manifest -skip-install`;
#   4. the rendered krew.yaml against the krew manifest GoReleaser generated from
#      the same archives: same archive names, sha256s and bin for every platform.
#      (validate-krew-manifest -skip-install checks structure only: a wrong bin or
#      archive name passes it, so step 4 is what catches those.)
#
# The validators are built from the tools modules hack/tools/goreleaser and
# hack/tools/krew into a cache outside the clone, once per pinned version:
#   ${KUBECTL_DELEGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-delegate}/bin/<tool>-<version>/
# Needs only Go, git, bash and coreutils. Exits non-zero on any failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${KUBECTL_DELEGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-delegate}

die() { echo "release-check: FAIL: $*" >&2; exit 1; }

# pinned <tools module dir> <module path>: the version go.mod pins.
pinned() {
	local a b c
	while read -r a b c _; do
		[[ $a == require ]] && { a=$b; b=$c; }
		[[ $a == "$2" ]] && { echo "$b"; return; }
	done <"$1/go.mod"
	die "$1/go.mod does not require $2"
}

# tool <name> <tools module dir> <module path> <package>: prints the binary's path,
# building it first only if that version is not in the cache yet.
tool() {
	local name=$1 moddir=$root/$2 mod=$3 pkg=$4 version dir
	version=$(pinned "$moddir" "$mod")
	dir=$cache/bin/$name-$version
	if [[ ! -x $dir/$name ]]; then
		echo "release-check: building $name $version into $dir" >&2
		mkdir -p "$dir"
		# Build beside the target and rename, so an interrupted build leaves no binary.
		(cd "$moddir" && GOWORK=off CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath \
			-o "$dir/.$name.tmp.$$" "$pkg") || die "building $name $version"
		mv "$dir/.$name.tmp.$$" "$dir/$name"
	fi
	echo "$dir/$name"
}

# 0. The release build leaves out kustomize's Go plugin loader (see BUILD_TAGS in the
# Makefile): the Makefile and .goreleaser.yaml name the same tags, and with them the plugin's
# dependencies hold no "plugin" package.
tags=$(sed -n 's/^BUILD_TAGS := *//p' "$root/Makefile")
[[ -n $tags ]] || die "the Makefile sets no BUILD_TAGS"
for t in $tags; do
	grep -qE "^ +- $t\$" "$root/.goreleaser.yaml" || die ".goreleaser.yaml builds without the Makefile's tag $t"
done
deps=$(cd "$root" && go list -deps -tags "${tags// /,}" ./cmd/kubectl-delegate) || die "go list -deps"
! grep -qx plugin <<<"$deps" || die "built with tags '$tags', the plugin still links Go's plugin package"
echo "release-check: PASS build tags '$tags' in the Makefile and .goreleaser.yaml; no Go plugin loader linked"

goreleaser=$(tool goreleaser hack/tools/goreleaser github.com/goreleaser/goreleaser/v2 github.com/goreleaser/goreleaser/v2)
validate=$(tool validate-krew-manifest hack/tools/krew sigs.k8s.io/krew sigs.k8s.io/krew/cmd/validate-krew-manifest)
gr_version=$(pinned "$root/hack/tools/goreleaser" github.com/goreleaser/goreleaser/v2)
krew_version=$(pinned "$root/hack/tools/krew" sigs.k8s.io/krew)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. goreleaser check: schema, unknown keys, deprecated options.
(cd "$root" && "$goreleaser" check --config .goreleaser.yaml) >"$work/check.log" 2>&1 ||
	{ cat "$work/check.log" >&2; die "goreleaser check"; }
echo "release-check: PASS goreleaser check ($gr_version): .goreleaser.yaml is valid"

# 2. Snapshot release in a scratch copy: the real .goreleaser.yaml, LICENSE and
# README.md, and a stub main package in place of the plugin. Outside git,
# GoReleaser's snapshot uses tag v0.0.0.
src=$work/src
mkdir -p "$src/cmd/kubectl-delegate"
# The archives list LICENSE and README.md: a missing one fails here as it would a release.
cp "$root/.goreleaser.yaml" "$root/LICENSE" "$root/README.md" "$src/" || die "copying the files the archives carry"
printf 'module github.com/kubectl-delegate/kubectl-delegate\n\ngo 1.26.0\n' >"$src/go.mod"
printf 'package main\n\nfunc main() {}\n' >"$src/cmd/kubectl-delegate/main.go"
(cd "$src" && GOWORK=off "$goreleaser" release --snapshot --clean --skip=publish,announce,validate,sign,sbom) \
	>"$work/snapshot.log" 2>&1 || { cat "$work/snapshot.log" >&2; die "goreleaser snapshot release"; }
dist=$src/dist
[[ -f $dist/krew/delegate.yaml ]] || die "goreleaser did not generate dist/krew/delegate.yaml"
[[ $(<"$dist/metadata.json") =~ \"tag\":\ *\"([^\"]+)\" ]] || die "no tag in dist/metadata.json"
tag=${BASH_REMATCH[1]}
echo "release-check: PASS goreleaser snapshot ($gr_version): archives and krew manifest built for $tag"

# 3. Render krew.yaml as krew-release-bot does for tag $tag: drop the leading
# {{- /* ... */ -}} comment, replace each {{ .TagName }}, and turn each
#     {{addURIAndSha "URL" .TagName }}
# into `uri: URL` and `    sha256: <sha256 of the archive>`. The bot downloads the
# archive from the release; here it is the snapshot archive of the same name.
mkdir -p "$work/krew"
rendered=$work/krew/delegate.yaml # validate-krew-manifest wants <plugin name>.yaml
addsha='^( *)\{\{ *addURIAndSha +"([^"]+)" +\.TagName *\}\}$'
in_comment=0
while IFS= read -r line || [[ -n $line ]]; do
	if ((in_comment)) || [[ $line =~ ^\{\{-?\ */\* ]]; then
		in_comment=1
		[[ $line =~ \*/\ *-?\}\}$ ]] && in_comment=0
		continue
	fi
	while [[ $line =~ (\{\{\ *\.TagName\ *\}\}) ]]; do line=${line/"${BASH_REMATCH[1]}"/$tag}; done
	if [[ $line =~ $addsha ]]; then
		url=${BASH_REMATCH[2]}
		archive=$dist/${url##*/}
		[[ -f $archive ]] || die "krew.yaml names ${url##*/}, which GoReleaser did not produce (see archives in .goreleaser.yaml)"
		sha=$(sha256sum "$archive" | cut -d' ' -f1)
		printf '%suri: %s\n    sha256: %s\n' "${BASH_REMATCH[1]}" "$url" "$sha"
	elif [[ $line == *'{{'* ]]; then
		die "krew.yaml: template syntax this check cannot render: $line"
	else
		printf '%s\n' "$line"
	fi
done <"$root/krew.yaml" >"$rendered"
"$validate" -manifest "$rendered" -skip-install >"$work/validate.log" 2>&1 ||
	{ cat "$work/validate.log" >&2; die "validate-krew-manifest on krew.yaml rendered for $tag"; }
echo "release-check: PASS validate-krew-manifest (krew $krew_version): krew.yaml rendered for $tag is valid"

# 4. Same platforms, archive names, sha256s and bins as GoReleaser's own manifest.
# platforms <manifest>: one sorted line per spec.platforms item: os arch archive sha256 bin.
platforms() {
	local line indent=-1 item=0 os arch archive sha bin
	flush() { ((item)) && echo "$os $arch $archive $sha $bin"; item=1 os=- arch=- archive=- sha=- bin=-; }
	while IFS= read -r line || [[ -n $line ]]; do
		if [[ $line =~ ^(\ *)platforms: ]]; then indent=${#BASH_REMATCH[1]}; continue; fi
		((indent >= 0)) || continue
		[[ $line =~ ^(\ *)(-\ )?[^\ ] ]] || continue # blank line
		# The list ends at the next key indented no deeper than `platforms:`.
		((${#BASH_REMATCH[1]} > indent)) || [[ -n ${BASH_REMATCH[2]} ]] || break
		[[ -n ${BASH_REMATCH[2]} ]] && flush
		[[ $line =~ ^[\ -]*(os|arch|bin|sha256|uri):\ *[\"\']?([^\"\']*) ]] || continue
		case ${BASH_REMATCH[1]} in
		os) os=${BASH_REMATCH[2]} ;;
		arch) arch=${BASH_REMATCH[2]} ;;
		bin) bin=${BASH_REMATCH[2]} ;;
		sha256) sha=${BASH_REMATCH[2]} ;;
		uri) archive=${BASH_REMATCH[2]##*/} ;;
		esac
	done <"$1"
	flush
}
platforms "$rendered" | sort >"$work/krew.platforms"
platforms "$dist/krew/delegate.yaml" | sort >"$work/goreleaser.platforms"
[[ $(wc -l <"$work/goreleaser.platforms") -eq 6 ]] || die "GoReleaser's krew manifest does not have 6 platforms"
if [[ $(<"$work/goreleaser.platforms") != "$(<"$work/krew.platforms")" ]]; then
	echo "platforms that differ (os arch archive sha256 bin):" >&2
	comm -23 "$work/goreleaser.platforms" "$work/krew.platforms" | while read -r l; do echo "  GoReleaser: $l"; done >&2
	comm -13 "$work/goreleaser.platforms" "$work/krew.platforms" | while read -r l; do echo "  krew.yaml:  $l"; done >&2
	die "krew.yaml does not match the archives/binaries .goreleaser.yaml produces"
fi
echo "release-check: PASS krew.yaml matches GoReleaser's archives and binaries on all 6 platforms"
