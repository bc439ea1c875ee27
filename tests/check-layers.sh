#!/bin/sh
# The folders under src/ are layers, each using only the layers below it:
#   core < irqchip < devices < board < snapshot < migration < app
# This fails (naming the file and the include) when a file includes a header of
# its own layer's superior, or of a folder that is not a layer at all.
#   check-layers.sh SRC-DIR
#   check-layers.sh --self-test   (the check itself: refuses an upward include, accepts a downward one)
set -u
if [ "${1:-}" = --self-test ]; then
	t=$(mktemp -d) || exit 1
	trap 'rm -rf "$t"' EXIT
	mkdir -p "$t/core" "$t/devices"
	printf '#include "core/log.h"\n' > "$t/devices/dev.c"
	printf '#include <stdio.h>\n' > "$t/core/log.h"
	"$0" "$t" > /dev/null || { echo "check-layers: self-test: a downward include was refused"; exit 1; }
	printf '#include "devices/dev.h"\n' > "$t/core/log.c"
	out=$("$0" "$t") && { echo "check-layers: self-test: core including devices was accepted"; exit 1; }
	case "$out" in
	*"core/log.c:1: core includes devices, a higher layer"*) ;;
	*) echo "check-layers: self-test: unexpected report: $out"; exit 1 ;;
	esac
	echo "check-layers: self-test ok"
	exit 0
fi
src=${1:?usage: check-layers.sh SRC-DIR}
layers="core irqchip devices board snapshot migration app"

rank() {
	r=0
	for l in $layers; do
		[ "$l" = "$1" ] && { echo $r; return; }
		r=$((r + 1))
	done
	echo -1
}

bad=0
checked=0
for f in $(find "$src" -name '*.[ch]' | sort); do
	rel=${f#"$src"/}
	from=${rel%%/*}
	fr=$(rank "$from")
	if [ "$fr" -lt 0 ]; then
		echo "check-layers: $rel is in '$from', which is not a layer ($layers)"
		bad=1
		continue
	fi
	for inc in $(sed -n 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\)/.*"|\1|p' "$f" | sort -u); do
		checked=$((checked + 1))
		ir=$(rank "$inc")
		if [ "$ir" -lt 0 ]; then
			echo "check-layers: $rel includes from '$inc/', which is not a layer"
			bad=1
		elif [ "$ir" -gt "$fr" ]; then
			line=$(grep -n "#[[:space:]]*include[[:space:]]*\"$inc/" "$f" | head -n1)
			echo "check-layers: $rel:${line%%:*}: $from includes $inc, a higher layer (order: $layers)"
			bad=1
		fi
	done
done
[ "$checked" -gt 0 ] || { echo "check-layers: no includes found under $src"; exit 1; }
[ $bad = 0 ] && echo "check-layers: $checked folder includes checked, every one goes down the layers ($layers)"
exit $bad
