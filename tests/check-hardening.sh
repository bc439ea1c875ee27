#!/bin/sh
# check-hardening.sh READELF OBJDUMP BINARY [static|dynamic] [FUNCTION]
# What the hardened build promises (meson.build, issue 13), read back from the binary
# itself: a position-independent executable (ASLR), full RELRO (relocations read-only,
# bound at start), a non-executable stack, no interpreter for a static-pie, stack
# protector and FORTIFY checks compiled in, and return addresses signed (PAC, from
# -mbranch-protection). FUNCTION (default run_vm) is one of the binary's own functions with a
# local array: the stack protector must guard it. One line per failed promise; exit status 1
# if any failed.
set -u
readelf=$1 objdump=$2 bin=$3 link=${4:-static} func=${5:-run_vm}
fails=0
no() { echo "check-hardening: $bin: $*"; fails=$((fails + 1)); }

"$readelf" -h "$bin" | grep -q 'Type:[[:space:]]*DYN' || no "not position-independent (ELF type is not DYN): no ASLR"
phdrs=$("$readelf" -lW "$bin")
echo "$phdrs" | grep -q 'GNU_RELRO' || no "no GNU_RELRO segment"
"$readelf" -dW "$bin" | grep -qE 'BIND_NOW|Flags:.* NOW' || no "relocations not bound at start (no BIND_NOW): RELRO is partial"
echo "$phdrs" | grep 'GNU_STACK' | grep -q 'RWE' && no "executable stack"
if [ "$link" = static ]; then
	echo "$phdrs" | grep -q 'INTERP' && no "has an interpreter: not a static-pie"
fi
syms=$("$readelf" -sW "$bin")
echo "$syms" | grep -qE '__(memcpy|snprintf|vsnprintf|strcpy|read|memset)_chk' || no "no FORTIFY checks (no __*_chk function)"
dis=$("$objdump" -d --no-show-raw-insn "$bin")
echo "$dis" | awk -v f="<$func>:" '$2 == f { on = 1; next } on && /^$/ { exit } on && /<__stack_chk_fail>/ { found = 1 } END { exit !found }' ||
	no "no stack protector ($func does not check its canary)"
echo "$dis" | grep -qE 'paciasp|pacibsp' || no "return addresses not signed (no paciasp: -mbranch-protection missing)"
exit $((fails > 0))
