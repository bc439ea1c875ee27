# The GICv2 test guests (tests/guests/{sgi,prio,active,level}.c), as a fragment for
# suite.sh (or any payload) to source after lib.sh:
#
#   gic_guest_tests IRQCHIP SUFFIX
#
# boots each guest with "--irqchip IRQCHIP" and reports one TAP result per boot, named
# <guest>-SUFFIX (sgi once per CPU count: sgi-4cpus-SUFFIX, sgi-8cpus-SUFFIX). A result
# fails on a non-zero exit status (a guest FAIL is SYSTEM_RESET: status 3), on a timeout
# (boot kills armvmm: status 137), on any missing success line, or if "FAIL" or "SKIP"
# (the guest found a GICv3) appears anywhere in the output.
# Needs lib.sh's boot/want/want_rc/want_none/verdict and $ARMVMM, $GUESTS.

# _gic_guest NAME TIMEOUT WANT-LINES(newline-separated) -- ARMVMM-ARGS...
_gic_guest() {
	_gg_name=$1 _gg_to=$2 _gg_want=$3
	shift 4
	boot "$_gg_name" "$_gg_to" -- "$@"
	want_rc 0
	_gg_ifs=$IFS
	IFS='
'
	for _gg_line in $_gg_want; do
		IFS=$_gg_ifs
		want "$_gg_line"
	done
	IFS=$_gg_ifs
	want_none "FAIL"
	want_none "SKIP"
	verdict "$_gg_name"
}

gic_guest_tests() {
	_gg_ic=$1 _gg_sfx=$2
	if [ -z "$_gg_ic" ] || [ -z "$_gg_sfx" ]; then
		echo "gic_guest_tests: usage: gic_guest_tests IRQCHIP SUFFIX" >&2
		return 2
	fi

	# A GICv2 has at most 8 CPU interfaces.
	for _gg_n in 4 8; do
		[ "$_gg_n" -le 8 ] || continue
		_gic_guest "sgi-${_gg_n}cpus-$_gg_sfx" 180 "sgi: cpus=$_gg_n
sgi: filter list ok
sgi: filter others ok
sgi: filter self ok
sgi: spendsgir/cpendsgir ok
sgi: all $_gg_n cpus exchanged " -- \
			run -k "$GUESTS/sgi.bin" -c "$_gg_n" --irqchip "$_gg_ic"
	done

	_gic_guest "prio-$_gg_sfx" 60 "prio: registers ok
prio: idle ok
prio: ack ok
prio: preempt ok
prio: same-priority ok
prio: order ok
prio: nested eoi ok
prio: bpr ok
prio: pmr ok
prio: all ok" -- run -k "$GUESTS/prio.bin" --irqchip "$_gg_ic"

	_gic_guest "active-$_gg_sfx" 60 "active: isactiver/icactiver ok
active: ack/eoi ok
active: active+pending ok
active: split eoi ok
active: icactiver deactivates ok
active: all ok" -- run -k "$GUESTS/active.bin" --irqchip "$_gg_ic"

	_gic_guest "level-$_gg_sfx" 60 "level: icfgr ok
level: reassert ok
level: masked ok
level: unmask ok
level: rearm ok
level: all ok" -- run -k "$GUESTS/level.bin" --irqchip "$_gg_ic"
}
